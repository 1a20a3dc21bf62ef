"""Views, the contrastive losses by hand, HCSC's selection and hierarchy, CD's heads."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from coarse2fine.augment import (
    ViewMaker,
    continuation_mask,
    delete_one_word,
    gaussian_noise,
    mask_features,
)
from coarse2fine.batching import make_batch, prepare
from coarse2fine.encoders import MLPEncoder, TextEncoder
from coarse2fine.losses.contrastive import (
    angular_normalize,
    binary_entropy_bonus,
    info_nce,
    instance_keep_probability,
    nt_xent,
    proto_nce,
    prototype_keep_probability,
)
from coarse2fine.methods.ancor import Ancor, AncorCE
from coarse2fine.methods.hcsc import HCSC, HCSCCE, HCSCCEConfig, HCSCConfig, concentration

# -- views ----------------------------------------------------------------------------------------


def test_delete_one_word_removes_a_whole_word_and_keeps_the_ends():
    continuation = np.zeros(10, dtype=bool)
    continuation[7] = True  # token 7 continues the word before it ("##ing")
    ids = [1, 5, 6, 7, 8, 2]  # [CLS] w5 w6+##7 w8 [SEP]
    seen = set()
    rng = np.random.default_rng(0)
    for _ in range(50):
        out = delete_one_word(ids, continuation, rng)
        assert out[0] == 1 and out[-1] == 2
        seen.add(tuple(out))
    assert seen == {(1, 6, 7, 8, 2), (1, 5, 8, 2), (1, 5, 6, 7, 2)}
    assert delete_one_word([1, 5, 7, 2], continuation, rng) == [1, 5, 7, 2]  # a single word


def test_continuation_mask_marks_wordpiece_suffixes():
    encoder = TextEncoder.tiny_random()
    mask = continuation_mask(encoder.tokenizer)
    vocab = encoder.tokenizer.get_vocab()
    assert mask[vocab["##ing"]] and not mask[vocab["play"]]


def test_vector_views():
    x = torch.ones(1000, 4)
    masked = mask_features(x, 0.25, torch.Generator().manual_seed(0))
    assert set(masked.unique().tolist()) == {0.0, 1.0}
    assert 0.2 < (masked == 0).float().mean().item() < 0.3
    noisy = gaussian_noise(torch.zeros(20000, 2), torch.tensor([1.0, 3.0]))
    assert noisy.std(0).tolist() == pytest.approx([1.0, 3.0], rel=0.05)


def test_view_maker_refuses_a_view_of_the_other_input_kind(tiny_vectors):
    encoder = MLPEncoder.for_data(tiny_vectors.vectors)
    with pytest.raises(ValueError, match="view 'delete_word' does not apply to vectors"):
        ViewMaker(encoder, prepare(encoder, tiny_vectors).inputs, "delete_word")


def test_word_deletion_view_is_one_word_shorter(tiny_data):
    encoder = TextEncoder.tiny_random()
    prepared = prepare(encoder, tiny_data)
    batch = make_batch(encoder, prepared, np.arange(4), torch.device("cpu"))
    view = ViewMaker(encoder, prepared.inputs, "delete_word").view(batch)
    assert (view["attention_mask"].sum(1) < batch["inputs"]["attention_mask"].sum(1)).all()


# -- losses by hand -------------------------------------------------------------------------------


def test_nt_xent_by_hand():
    a = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    b = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    # row 0 of a: positive b0 (cos 1), negatives a1 (0) and b1 (0), tau 1
    want = -math.log(math.e / (math.e + 2.0))
    assert float(nt_xent(a, b, tau=1.0)) == pytest.approx(want)


def test_info_nce_dropped_negative_leaves_the_loss():
    q = torch.tensor([[1.0, 0.0]])
    k = torch.tensor([[1.0, 0.0]])
    negatives = torch.tensor([[0.0, 1.0], [1.0, 0.0]])  # the second one equals the positive
    full = float(info_nce(q, k, negatives, tau=1.0))
    assert full == pytest.approx(-math.log(math.e / (math.e + 1 + math.e)))
    keep = torch.tensor([[True, False]])
    dropped = float(info_nce(q, k, negatives, tau=1.0, keep=keep))
    assert dropped == pytest.approx(-math.log(math.e / (math.e + 1)))
    # and with only the first negative in the bank, the same value: the dropped one is gone
    assert dropped == pytest.approx(float(info_nce(q, k, negatives[:1], tau=1.0)))


def test_info_nce_with_a_bank_per_query_by_hand():
    q = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    k = q.clone()
    # query 0's bank: one orthogonal key and one unfilled slot; query 1's: its own opposite
    bank = torch.tensor([[[0.0, 1.0], [5.0, 5.0]], [[0.0, -1.0], [1.0, 0.0]]])
    valid = torch.tensor([[True, False], [True, True]])
    row0 = -math.log(math.e / (math.e + 1.0))
    row1 = -math.log(math.e / (math.e + math.exp(-1.0) + 1.0))
    got = float(info_nce(q, k, bank, tau=1.0, keep=valid))
    assert got == pytest.approx((row0 + row1) / 2)
    empty = torch.zeros(2, 2, dtype=torch.bool)  # no negative at all: nothing to learn
    assert float(info_nce(q, k, bank, tau=1.0, keep=empty)) == pytest.approx(0.0)


def test_angular_normalize_by_hand():
    weights = torch.tensor([[2.0, 0.0], [0.0, 3.0]])  # class 0 along x, class 1 along y
    z = torch.tensor([[1.0, 1.0], [1.0, 1.0]])
    out = angular_normalize(z, weights, torch.tensor([0, 1]))
    s = 1 / math.sqrt(2)
    # (s - 1, s) and (s, s - 1), each normalised
    a = torch.tensor([s - 1, s])
    b = torch.tensor([s, s - 1])
    assert torch.allclose(out, torch.stack([a / a.norm(), b / b.norm()]), atol=1e-6)
    # the frame magnifies the spread inside a class: two rows 60 degrees apart, at +-30 degrees
    # from w_0, end up 150 degrees apart
    c, sn = math.cos(math.pi / 6), math.sin(math.pi / 6)
    pair = angular_normalize(torch.tensor([[c, sn], [c, -sn]]), weights, torch.tensor([0, 0]))
    assert float(pair[0] @ pair[1]) == pytest.approx(math.cos(5 * math.pi / 6), abs=1e-6)


def test_ancor_contrasts_only_against_its_own_coarse_queue(tiny_data):
    torch.manual_seed(0)
    encoder = TextEncoder.tiny_random()
    method = Ancor(encoder, tiny_data.n_coarse, Ancor.Config.from_dict({"queue_size": 4}))
    prepared = prepare(encoder, tiny_data)
    method.on_fit_start(prepared, total_steps=2)
    coarse_ids = np.asarray(tiny_data.coarse_ids)
    rows = np.concatenate([np.flatnonzero(coarse_ids == c)[:3] for c in (0, 1)])
    batch = make_batch(encoder, prepared, rows, torch.device("cpu"))
    coarse = batch["coarse"]
    assert set(coarse.tolist()) == {0, 1}
    method.eval()  # no dropout: the same batch gives the same query twice
    first = method.training_step(batch)
    assert float(first["contrast"].detach()) == pytest.approx(0.0)  # empty queues at first
    method.after_step(0)
    assert method.queues.count.tolist()[:2] == [3, 3]
    second = method.training_step(batch)
    # by hand: each row against its key and the angularly normalised keys of ITS class's queue
    with torch.no_grad():
        (deep,) = encoder(batch["inputs"], [encoder.n_layers])
        weights = method.classifier.weight
        query = angular_normalize(method.projector(deep.float()), weights, coarse)
        key = angular_normalize(method._pending[0], weights, coarse)
        bank = method.queues.features[coarse][:, :3]
        bank = angular_normalize(
            bank.reshape(-1, bank.shape[-1]), weights, coarse.repeat_interleave(3)
        ).view(len(coarse), 3, -1)
        want = info_nce(query, key, bank, method.config.tau)
    # (a lookup that mixed in the other class's queue would change the value)
    assert float(second["contrast"].detach()) == pytest.approx(float(want), rel=1e-5)
    assert set(second) == {"loss", "classify", "contrast"}
    # the contrast does not train the classifier weights (they are detached, as in Ancor)
    method.zero_grad()
    second["contrast"].backward()
    assert method.classifier.weight.grad is None or not method.classifier.weight.grad.any()
    plus_ce = AncorCE(encoder, tiny_data.n_coarse)
    plus_ce.on_fit_start(prepared, total_steps=1)
    parts = plus_ce.training_step(batch)
    want = parts["classify"] + parts["contrast"] + parts["ce"]
    assert float(parts["loss"].detach()) == pytest.approx(float(want.detach()))


def test_proto_nce_uses_each_prototypes_concentration():
    q = torch.tensor([[1.0, 0.0]])
    protos = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    phi = torch.tensor([0.5, 2.0])
    want = -math.log(math.exp(2.0) / (math.exp(2.0) + math.exp(0.0)))
    assert float(proto_nce(q, protos, phi, torch.tensor([0]))) == pytest.approx(want)
    keep = torch.tensor([[False, False]])  # dropping every negative leaves only the positive
    assert float(proto_nce(q, protos, phi, torch.tensor([0]), keep)) == pytest.approx(0.0)


def test_selection_probabilities_on_a_two_level_example():
    """Four level-1 prototypes on the axes of the plane, two parents (x and y axis)."""
    protos = torch.tensor([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [-0.6, 0.8]])
    phi = torch.ones(4)
    negatives = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    assigned = torch.tensor([0])  # the query sits with prototype 0
    p = instance_keep_probability(negatives, protos, phi, assigned)
    sims = negatives @ F.normalize(protos, dim=1).t()
    want = 1.0 - torch.softmax(sims, dim=1)[:, 0]
    assert p.shape == (1, 2) and torch.allclose(p[0], want)
    assert p[0, 0] < p[0, 1]  # the negative that looks like the query's prototype is dropped more

    parents = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    parent_phi = torch.tensor([0.5, 0.5])
    parent_of = torch.tensor([0, 0, 1, 1])
    q = prototype_keep_probability(protos, parents, parent_phi, assigned, parent_of)
    member = torch.softmax(F.normalize(protos, dim=1) @ parents.t() / 0.5, dim=1)[:, 0]
    assert torch.allclose(q[0], 1.0 - member)
    assert q[0, 1] < q[0, 3]  # a sibling under the same parent is kept less often


def test_entropy_term_bounds():
    assert float(binary_entropy_bonus(torch.full((4, 3), 0.5))) == pytest.approx(-1.0)
    assert float(binary_entropy_bonus(torch.ones(4, 3))) == pytest.approx(0.0, abs=1e-4)


# -- HCSC -----------------------------------------------------------------------------------------


def test_concentration_formula():
    feats = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]], dtype=np.float32)
    centres = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    labels = np.array([0, 0, 1])
    phi = concentration(feats, labels, centres, tau=0.2)
    raw0 = math.sqrt(2.0) / (2 * math.log(12))  # one row at distance sqrt 2, one at 0
    assert phi.mean() == pytest.approx(0.2)
    assert np.isfinite(phi).all() and raw0 > 0


def test_hierarchy_levels_parents_and_dropped_clusters(tiny_vectors):
    encoder = MLPEncoder.for_data(tiny_vectors.vectors, 16, 3)
    method = HCSC(encoder, 2, HCSCConfig(levels="6,2", min_cluster=3), n_fine=6)
    levels = method.build_hierarchy(tiny_vectors.vectors, tiny_vectors.coarse_ids)
    assert len(levels) == 2
    fine, top = levels
    assert len(fine["centres"]) <= 6 and len(top["centres"]) == 2
    assert (torch.bincount(fine["rows"]) >= 3).all()  # no cluster under min_cluster rows
    # a row's top-level prototype is its fine prototype's parent
    assert torch.equal(top["rows"], fine["parent"][fine["rows"]])


def test_hcsc_ce_puts_the_coarse_classes_on_top(tiny_vectors):
    encoder = MLPEncoder.for_data(tiny_vectors.vectors, 16, 3)
    assert HCSCCE(encoder, 2, n_fine=6).config.ce_weight == 1.0
    method = HCSCCE(encoder, 2, HCSCCEConfig(min_cluster=1), n_fine=6)
    assert method.config.coarse_top
    levels = method.build_hierarchy(tiny_vectors.vectors, tiny_vectors.coarse_ids)
    assert [len(level["centres"]) for level in levels] == [12, 6, 2]  # 2 K_F, K_F, coarse
    top = levels[-1]
    assert torch.equal(top["rows"], torch.as_tensor(tiny_vectors.coarse_ids))


def test_hcsc_ce_coarse_level_in_the_losses(tiny_vectors):
    """One finest prototype: every queued key belongs to the query's own prototype, so HCSC's
    draw drops them all; the coarse level keeps those of the other coarse class regardless."""
    torch.manual_seed(0)
    encoder = MLPEncoder.for_data(tiny_vectors.vectors, 16, 3)
    config = HCSCCEConfig(queue_size=4, projection_dim=2, coarse_loss="keep_other")
    method = HCSCCE(encoder, 2, config, n_fine=2)
    d = 2
    method._levels = [
        {
            "centres": torch.tensor([[1.0, 0.0]]),
            "phi": torch.tensor([0.2]),
            "rows": torch.zeros(3, dtype=torch.long),
            "parent": torch.zeros(1, dtype=torch.long),
        },
        {"centres": torch.eye(d), "phi": torch.tensor([0.2, 0.2]), "rows": torch.tensor([0, 0, 1])},
    ]
    negatives = torch.tensor([[1.0, 0.2], [0.9, -0.1], [0.5, 0.5], [0.0, 1.0]])
    method.queue_coarse[:] = torch.tensor([0, 1, 1, 0])
    query = torch.tensor([[1.0, 0.1], [0.8, 0.3], [0.2, 1.0]])
    key = torch.tensor([[1.0, 0.0], [1.0, 0.1], [0.0, 1.0]])
    batch = {"index": torch.arange(3), "coarse": torch.tensor([0, 0, 1])}
    instance, proto = method._selective_losses(query, key, negatives, batch)
    other_class = torch.tensor([[False, True, True, False]] * 2 + [[True, False, False, True]])
    want = info_nce(query, key, negatives, method.config.tau, other_class)
    assert float(instance) == pytest.approx(float(want), rel=1e-6)
    assert float(proto) == pytest.approx(0.0, abs=1e-6)  # one prototype: nothing to contrast
    # the default leaves the coarse level out of the losses: every draw fails, nothing is kept
    method.config.coarse_loss = "none"
    instance, _ = method._selective_losses(query, key, negatives, batch)
    assert float(instance) == pytest.approx(0.0, abs=1e-6)
    # "contrast": the coarse level is a ProtoNCE level too (two levels averaged)
    method.config.coarse_loss = "contrast"
    _, proto = method._selective_losses(query, key, negatives, batch)
    coarse_only = proto_nce(query, torch.eye(d), torch.tensor([0.2, 0.2]), batch["coarse"])
    assert float(proto) == pytest.approx(float(coarse_only) / 2, rel=1e-5)


def test_bad_levels_are_refused():
    with pytest.raises(ValueError, match="levels must look like"):
        HCSCConfig(levels="many")
    with pytest.raises(ValueError, match="coarse_loss='contrast' needs the coarse level on top"):
        HCSCConfig(coarse_loss="contrast")
    with pytest.raises(ValueError, match="coarse_loss must be"):
        HCSCCEConfig(coarse_loss="sometimes")


def test_hcsc_switches_to_selective_losses_after_warm_up(tiny_vectors):
    from coarse2fine.train import TrainConfig, fit

    encoder = MLPEncoder.for_data(tiny_vectors.vectors, 16, 3)
    cfg = HCSCConfig(levels="4,2", min_cluster=1, warmup=0.5, queue_size=16)
    method = HCSC(encoder, 2, cfg, n_fine=6)
    history = fit(method, prepare(encoder, tiny_vectors), TrainConfig(epochs=2, batch_size=8))
    assert "proto" not in history[0]["curve"][0]  # the first steps: instance loss only
    assert "proto" in history[1]["curve"][-1] and np.isfinite(history[1]["proto"])

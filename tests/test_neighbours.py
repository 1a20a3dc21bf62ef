"""DNA and DOWN: their loss against hand-computed values, the neighbour search against brute
force, the filters and rank weights on hand-made cases, the random-token view, the warm-up."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from coarse2fine.augment import ordinary_tokens, replace_tokens
from coarse2fine.batching import make_batch, prepare
from coarse2fine.cluster.neighbours import (
    layout_neighbours,
    nearest_neighbours,
    reciprocal,
    same_top_dims,
)
from coarse2fine.data.synthetic import make_hierarchical_blobs
from coarse2fine.encoders import MLPEncoder, TextEncoder
from coarse2fine.losses.neighbours import down_base, neighbour_contrast, rank_weights
from coarse2fine.methods.neighbours import DNA, DOWN, DNAConfig, DOWNConfig
from coarse2fine.train import TrainConfig, fit


def test_neighbour_contrast_matches_a_hand_computation():
    q = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    bank = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    w = torch.tensor([[1.0, 0.5, 0.0], [0.0, 1.0, 0.0]])
    tau = 0.5
    # row 0: cosines 1, 0, -1 -> logits 2, 0, -2; row 1: 0, 1, 0 -> 0, 2, 0
    lse0 = math.log(math.exp(2) + 1 + math.exp(-2))
    lse1 = math.log(2 + math.exp(2))
    row0 = -(1.0 * (2 - lse0) + 0.5 * (0 - lse0)) / 1.5
    row1 = -(2 - lse1)
    got = neighbour_contrast(q, bank, w, tau)
    assert float(got) == pytest.approx((row0 + row1) / 2, rel=1e-6)
    with pytest.raises(ValueError, match="tau must be positive"):
        neighbour_contrast(q, bank, w, 0.0)
    with pytest.raises(ValueError, match="weights must be 2 x 3"):
        neighbour_contrast(q, bank, w[:, :2], tau)


def test_rank_weights_and_the_down_schedule():
    got = rank_weights(torch.arange(3), k=2, base=150.0)
    assert torch.allclose(got, torch.tensor([1.0, 150**-0.5, 1 / 150]))
    bases = (150.0, 10.0, 5.0, 2.0)
    per_epoch = [down_base(e / 20, bases) for e in range(20)]
    assert per_epoch == [150.0] * 5 + [10.0] * 5 + [5.0] * 5 + [2.0] * 5
    assert [down_base(e / 3, bases) for e in range(3)] == [150.0, 10.0, 5.0]
    assert down_base(1.0, bases) == 2.0


@pytest.mark.parametrize("same_coarse", [False, True])
def test_nearest_neighbours_agree_with_brute_force(same_coarse):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 5)).astype(np.float32)
    coarse = np.repeat([0, 1, 2], [25, 30, 5])
    index, valid = nearest_neighbours(
        x, 7, coarse if same_coarse else None, backend="torch", chunk=16
    )
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    sims = unit @ unit.T
    if same_coarse:
        sims[coarse[:, None] != coarse[None, :]] = -np.inf
    np.fill_diagonal(sims, np.inf)
    for i in range(len(x)):
        n_valid = int(valid[i].sum())
        assert index[i, 0] == i
        assert list(index[i, :n_valid]) == list(np.argsort(-sims[i], kind="stable")[:n_valid])
    if same_coarse:  # the 5-row class has 4 neighbours, its last slots are empty
        assert valid[coarse == 2].sum(1).tolist() == [5] * 5
        assert (coarse[index[valid]] == np.repeat(coarse, valid.sum(1))).all()
    else:
        assert valid.all()


def test_duplicate_rows_still_put_the_row_itself_first():
    x = np.ones((4, 3), dtype=np.float32)
    index, _ = nearest_neighbours(x, 3, backend="torch")
    assert index[:, 0].tolist() == [0, 1, 2, 3]


def test_layout_neighbours_stay_in_the_rows_clump_and_coarse_class():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 16)) * 5
    clumps = np.repeat(np.arange(3), 12)
    x = np.vstack(
        [centres[clumps] + rng.normal(scale=0.3, size=(36, 16)), rng.normal(size=(3, 16))]
    )
    coarse = np.repeat([0, 1], [36, 3])
    index, valid = layout_neighbours(x.astype(np.float32), 5, coarse, seed=0)
    assert index[:, 0].tolist() == list(range(39))
    big = np.arange(36)
    assert valid[big].all()
    assert (clumps[index[big]] == clumps[big, None]).all()  # every neighbour in the own clump
    # the 3-row class has two neighbours; its empty slots point at the row itself
    assert valid[36:].sum(1).tolist() == [3, 3, 3]
    assert (coarse[index[36:]] == 1).all()
    again, _ = layout_neighbours(x.astype(np.float32), 5, coarse, seed=0)
    assert (again == index).all()  # deterministic for a seed


def test_down_mining_in_the_layout_keeps_neighbours_inside_the_coarse_class(tiny_vectors):
    method, _, _ = _fitted(DOWN, DOWNConfig(k=4, warmup_epochs=0, mine_in="layout"), tiny_vectors)
    coarse = torch.as_tensor(tiny_vectors.coarse_ids)
    rows, cols = torch.nonzero(method.batch_weights(torch.arange(len(coarse))), as_tuple=True)
    assert (coarse[rows] == coarse[cols]).all()
    with pytest.raises(ValueError, match="mine_in must be one of 'features', 'layout', 'auto'"):
        DOWNConfig(mine_in="umap")


def test_auto_mines_in_the_layout_only_where_the_discovery_step_cuts_layouts(
    tiny_data, monkeypatch
):
    from coarse2fine import Discoverer

    method = DOWN(MLPEncoder(8, 16, 2), 2, DOWNConfig(mine_in="auto"), n_fine=6)
    assert method.mining_space() == "features"  # outside an estimator
    asked = []
    method.clusterer_for = lambda total: asked.append(total) or "umap-spectral"
    assert method.mining_space() == "layout" and asked == [6]
    method.clusterer_for = lambda total: "kmeans"
    assert method.mining_space() == "features"
    method.n_fine, method.counted_n_fine = None, 9  # K unknown: the count of the first mining
    method.clusterer_for = lambda total: asked.append(total) or "umap-spectral"
    assert method.mining_space() == "layout" and asked[-1] == 9
    # through the estimator: its clusterer decides, and the rule is gone after the fit
    seen = []
    original = DOWN.mining_space
    monkeypatch.setattr(DOWN, "mining_space", lambda self: seen.append(original(self)) or seen[-1])
    spaces = {}
    for clusterer in ("umap-spectral", "kmeans"):
        seen.clear()
        est = Discoverer(
            encoder="tiny-random", epochs=1, n_fine=6, clusterer=clusterer, progress=False
        )
        est.fit(tiny_data)
        spaces[clusterer] = set(seen)
        assert est.method_.clusterer_for is None
    assert spaces == {"umap-spectral": {"layout"}, "kmeans": {"features"}}


@pytest.mark.parametrize("refill", [True, False])
def test_without_refills_only_the_first_mining_encodes_the_rows(tiny_vectors, refill, monkeypatch):
    calls = []
    real = DOWN.over_rows

    def counted(self, *args, **kwargs):
        calls.append(1)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(DOWN, "over_rows", counted)
    config = DOWNConfig(k=4, warmup_epochs=0, bank_writer="student", refill_bank=refill)
    method, _, _ = _fitted(DOWN, config, tiny_vectors, epochs=3)
    assert len(calls) == (3 if refill else 1)
    assert method._mined == 3
    # the bank holds unit-length features either way (refilled, or as the batches wrote it)
    assert torch.allclose(method._bank.norm(dim=1), torch.ones(len(method._bank)), atol=1e-5)


def test_reciprocal_and_top_dims_filters_by_hand():
    index = np.array([[0, 1, 2], [1, 0, 3], [2, 3, 1], [3, 2, 0]])
    valid = np.ones_like(index, dtype=bool)
    mutual = reciprocal(index, valid)
    # 0-1 mutual; 0->2 but 2 does not list 0; 1->3 but 3 does not list 1; 2-3 mutual
    assert mutual.tolist() == [
        [True, True, False],
        [True, True, False],
        [True, True, False],
        [True, True, False],
    ]
    features = np.array([[5, 4, 0, 0], [4, 5, 0, 0], [0, 0, 5, 4], [5, 0, 4, 0]], float)
    same = same_top_dims(features, index, dims=2)
    # top-2 sets: {0,1}, {0,1}, {2,3}, {0,2}
    assert same[0].tolist() == [True, True, False] and same[3].tolist() == [True, False, False]


def test_random_token_replacement_keeps_the_ends_and_draws_ordinary_tokens():
    tokenizer = TextEncoder.tiny_random().tokenizer
    vocabulary = ordinary_tokens(tokenizer)
    assert not set(tokenizer.all_special_ids) & set(vocabulary.tolist())
    ids = tokenizer("book a flight to paris tomorrow")["input_ids"]
    rng = np.random.default_rng(0)
    assert replace_tokens(ids, 0.0, vocabulary, rng) == ids
    every = replace_tokens(ids, 1.0, vocabulary, rng)
    assert every[0] == ids[0] and every[-1] == ids[-1] and len(every) == len(ids)
    assert set(every[1:-1]) <= set(vocabulary.tolist())
    share = np.mean(
        [
            a != b
            for _ in range(200)
            for a, b in zip(
                replace_tokens(ids, 0.22, vocabulary, rng)[1:-1], ids[1:-1], strict=True
            )
        ]
    )
    assert 0.15 < share < 0.29


def _fitted(cls, config, data, epochs=1):
    encoder = MLPEncoder.for_data(data.vectors, 16, 3)
    method = cls(encoder, data.n_coarse, config, n_fine=data.n_fine, seed=0)
    prepared = prepare(encoder, data)
    history = fit(
        method, prepared, TrainConfig(epochs=epochs, batch_size=8, lr=1e-3), progress=False
    )
    return method, prepared, history


def test_dna_gives_filtered_slots_no_weight_and_never_the_last_row(tiny_vectors):
    method, prepared, _ = _fitted(
        DNA, DNAConfig(k=5, same_coarse=False, warmup_epochs=0), tiny_vectors
    )
    coarse = torch.as_tensor(tiny_vectors.coarse_ids)
    weights = method.batch_weights(torch.arange(len(coarse)))
    assert set(weights.unique().tolist()) <= {0.0, 1.0}
    assert (weights.diagonal() == 1).all()
    # positives share the row's coarse class, although the search ran over all rows
    rows, cols = torch.nonzero(weights, as_tuple=True)
    assert (coarse[rows] == coarse[cols]).all()
    # the public code's bug would make the last bank row a positive of nearly every row
    last = len(coarse) - 1
    listed = (method._neighbours == last) & (method._weights > 0)
    assert int(weights[:, last].sum()) == int(listed.sum())


def test_down_weights_fall_with_rank_and_its_search_may_cross_coarse_classes(tiny_vectors):
    method, _, _ = _fitted(DOWN, DOWNConfig(k=4, warmup_epochs=0), tiny_vectors)
    expected = rank_weights(torch.arange(5), 4, 150.0)  # one epoch: the first base
    assert torch.allclose(method._weights[0], expected)
    assert method.config.same_coarse is False


def test_the_warm_up_stops_when_the_heldout_coarse_accuracy_stops_rising():
    data = make_hierarchical_blobs((2, 2), rows_per_fine=30, dim=8, seed=1)
    config = DOWNConfig(k=4, warmup_epochs=5, warmup_patience=1)
    _, _, history = _fitted(DOWN, config, data)
    warm = [h for h in history if h.get("stage") == "warmup"]
    accuracy = [h["heldout_coarse_accuracy"] for h in warm]
    # patience 1: it stops at the first epoch that does not beat the best so far
    stops = [e for e in range(1, len(accuracy)) if accuracy[e] <= max(accuracy[:e])]
    assert len(warm) == (stops[0] + 1 if stops else 5) and stops == stops[-1:]
    assert [h["epoch"] for h in history[len(warm) :]] == [1]
    with pytest.raises(ValueError, match="holdout must be in"):
        DOWNConfig(warmup_holdout=1.0)


def test_k_follows_the_mean_fine_class_size_unless_given():
    encoder = MLPEncoder.for_data(np.zeros((10, 4), np.float32), 8, 2)
    assert DOWN(encoder, 10, n_fine=150).neighbour_count(18000) == 96  # 0.8 x 120 rows
    assert DOWN(encoder, 10).neighbour_count(18000) == 50
    assert DOWN(encoder, 10, DOWNConfig(k=7), n_fine=150).neighbour_count(18000) == 7
    assert DOWN(encoder, 10, DOWNConfig(k=70), n_fine=2).neighbour_count(30) == 29
    # the text recipe's share: half of CLINC's 15 test rows per intent, rounded to even
    half = DOWNConfig(k_share=0.5)
    assert DOWN(encoder, 10, half, n_fine=150).neighbour_count(2250) == 8  # round(7.5)
    assert DOWN(encoder, 10, half, n_fine=64).neighbour_count(1031) == 8  # round(8.05)
    assert DOWN(encoder, 10, half).neighbour_count(1031) == 50  # K neither given nor counted
    with pytest.raises(ValueError, match=r"k_share must be in \(0, 1\], got 0.0"):
        DOWNConfig(k_share=0.0)


def test_without_k_the_first_mining_counts_the_categories_and_sets_k_from_them():
    """K unknown: the first mining counts the categories inside each coarse class (3 + 2 blobs
    here) on the input, the MLP starting random, sets k = share x rows / count, and keeps the
    count for the later minings; with K or k given nothing is counted."""
    data = make_hierarchical_blobs((3, 2), rows_per_fine=30, dim=8, noise=0.2, seed=1)
    prepared = prepare(MLPEncoder.for_data(data.vectors, 8, 2), data)
    coarse = np.asarray(data.coarse_ids)

    def first_mining(config, n_fine=None):
        method = DOWN(MLPEncoder.for_data(data.vectors, 8, 2), 2, config, n_fine=n_fine)
        method.on_fit_start(prepared, 10)
        method.on_epoch_start(0, prepared)
        return method

    method = first_mining(DOWNConfig(k_share=0.5))
    assert method.count_categories(data.vectors, coarse) == 5
    assert method.counted_n_fine == 5 and method.neighbour_count(150) == 15  # 0.5 x 150 / 5
    assert method._neighbours.shape == (150, 16)  # the row itself, then its 15 neighbours
    method.on_epoch_start(1, prepared)
    assert method.counted_n_fine == 5  # counted once
    method.counted_n_fine = 13  # MMLU's count before training: 0.5 x 3131 / 13 = 120 -> 50
    assert method.neighbour_count(3131) == 50
    given = first_mining(DOWNConfig(k_share=0.5), n_fine=10)
    assert given.counted_n_fine is None and given._neighbours.shape == (150, 9)  # round(7.5)
    fixed = first_mining(DOWNConfig(k=4))
    assert fixed.counted_n_fine is None and fixed._neighbours.shape == (150, 5)
    # the user's options for the estimate hold for this count too: with categories of at
    # least 61 rows neither class (90 and 60 rows) can hold two. (At 31 rows the 90-row class,
    # three blobs, may hold 1 or 2, and its eigengaps at 1 and 2 are near-equal: which wins
    # turned with the host's floating point, so the test does not ask.)
    method.count_options = {"min_size": 61}
    assert method.count_categories(data.vectors, coarse) == 2


def test_the_discoverer_hands_its_estimate_options_to_the_methods_own_count():
    from coarse2fine import Discoverer

    data = make_hierarchical_blobs((3, 2), rows_per_fine=20, dim=8, noise=0.2, seed=1)
    est = Discoverer(
        "down",
        n_fine=None,
        k_estimator="silhouette",
        min_category_size=7,
        epochs=1,
        fallback=False,
        progress=False,
    ).fit(data)
    assert est.method_.count_options == {"criterion": "silhouette", "min_size": 7}
    # left at the default (the eigengap), the count that sets k is Louvain modularity's
    default = Discoverer("down", n_fine=None, epochs=1, fallback=False, progress=False).fit(data)
    assert default.method_.count_options == {"criterion": "modularity", "min_size": None}
    assert default.k_estimate_["criterion"] == "eigengap"  # the clustering's count: unchanged


def test_the_discoverer_reads_the_first_count_setting_when_it_fits(monkeypatch):
    """estimate_k.FIRST_COUNT is read at fit time, not bound at import, so a setting of the
    module (as bench/k_train_splits.py makes) reaches the method's count."""
    import coarse2fine.cluster.estimate_k as counting
    from coarse2fine import Discoverer

    monkeypatch.setattr(counting, "FIRST_COUNT", "stability")
    data = make_hierarchical_blobs((3, 2), rows_per_fine=20, dim=8, noise=0.2, seed=1)
    est = Discoverer("down", n_fine=None, epochs=1, fallback=False, progress=False).fit(data)
    assert est.method_.count_options == {"criterion": "stability", "min_size": None}


def test_a_student_bank_writer_stores_the_training_forward_and_keeps_no_momentum_copy(tiny_vectors):
    method, prepared, _ = _fitted(
        DOWN, DOWNConfig(k=4, warmup_epochs=0, bank_writer="student"), tiny_vectors
    )
    assert method._momentum == []  # no EMA copy, no second forward
    torch.manual_seed(0)
    method.train()
    batch = make_batch(method.encoder, prepared, np.arange(8), torch.device("cpu"))
    parts = method.training_step(batch)
    index, keys = method._pending
    assert torch.isfinite(parts["loss"]) and keys.shape == (8, method.encoder.dim)
    assert torch.allclose(keys.norm(dim=1), torch.ones(8), atol=1e-5)
    method.after_step(0)
    assert torch.equal(method._bank[index], keys)
    with pytest.raises(ValueError, match="bank_writer must be 'momentum' or 'student'"):
        DOWNConfig(bank_writer="ema")


def test_the_text_recipe_changes_four_options_that_the_user_and_the_papers_protocol_override(
    tiny_data, tiny_vectors, monkeypatch
):
    from coarse2fine import Discoverer
    from coarse2fine import protocol as protocol_module

    recipe = {"warmup_epochs": 0, "bank_writer": "student", "k_share": 0.5, "mine_in": "auto"}
    assert DOWN.recipe_options("text") == recipe
    published = {
        "warmup_epochs": 1,
        "bank_writer": "momentum",
        "k_share": 0.8,
        "mine_in": "features",
    }
    assert DOWN.published_options("text") == published
    assert DOWN.recipe_options("vectors") == {} and DNA.recipe_options("text") == {}

    def config(X, **params):
        est = Discoverer(encoder="tiny-random", epochs=1, n_fine=6, progress=False, **params)
        return est.fit(X).method_.config, est.history_

    recipe, history = config(tiny_data)
    assert (recipe.warmup_epochs, recipe.bank_writer, recipe.k_share) == (0, "student", 0.5)
    assert recipe.mine_in == "auto"
    assert not any(h.get("stage") == "warmup" for h in history)
    mixed, _ = config(tiny_data, method_params={"warmup_epochs": 1, "k": 3})
    assert (mixed.warmup_epochs, mixed.bank_writer, mixed.k) == (1, "student", 3)
    vectors = Discoverer(epochs=1, n_fine=6, progress=False).fit(tiny_vectors).method_.config
    assert (vectors.warmup_epochs, vectors.bank_writer, vectors.k_share) == (1, "momentum", 0.8)
    assert vectors.mine_in == "features"

    seen = []

    class Spy(Discoverer):  # records what the papers' protocol asks for, then stops
        def __init__(self, **params):
            seen.append(params["method_params"])
            raise RuntimeError("seen")

    monkeypatch.setattr(protocol_module, "Discoverer", Spy)
    for row_options in (None, {"same_coarse": True}, {"bank_writer": "student"}):
        with pytest.raises(RuntimeError, match="seen"):
            protocol_module.paper_protocol(
                (tiny_data, tiny_data), "down", 0, epochs=1, method_params=row_options
            )
    assert seen == [
        published,
        {**published, "same_coarse": True},
        {**published, "bank_writer": "student"},
    ]

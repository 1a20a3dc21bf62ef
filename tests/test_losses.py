"""The weighted self-contrastive loss against values computed by hand, term by term."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from coarse2fine.losses import weighted_self_contrastive_loss
from coarse2fine.losses.contrastive import (
    angular_normalize,
    binary_entropy_bonus,
    info_nce,
    instance_keep_probability,
    nt_xent,
    proto_nce,
    prototype_keep_probability,
)


def cos(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(F.cosine_similarity(a, b, dim=0))


def by_hand(deep, shallow, coarse, queue, valid, tau, a_diff, a_same, a_m, denominator):
    """Loop-by-loop restatement of HWSCL's loss (paper Eq. 3-5 / reference code form)."""
    total = 0.0
    b = len(deep)
    for i in range(b):
        q = deep[i]
        pos = cos(q, shallow[i]) / tau
        groups = {"shallow": 0.0, "deep": 0.0, "queue": 0.0}
        for j in range(b):
            if j == i:
                continue
            w = a_same if coarse[j] == coarse[i] else a_diff
            groups["shallow"] += w * math.exp(cos(q, shallow[j]) / tau)
            groups["deep"] += w * math.exp(cos(q, deep[j]) / tau)
        if queue is not None:
            for s in range(queue.shape[1]):
                if valid[i, s]:
                    groups["queue"] += a_m * math.exp(cos(q, queue[i, s]) / tau)
        if denominator == "joint":
            total += math.log(sum(groups.values())) - pos
        else:
            total += sum(math.log(v) for v in groups.values() if v > 0) - pos
    return total / b


@pytest.fixture
def tensors():
    g = torch.Generator().manual_seed(3)
    deep = torch.randn(4, 5, generator=g)
    shallow = torch.randn(4, 5, generator=g)
    coarse = torch.tensor([0, 0, 1, 1])
    queue = torch.randn(4, 3, 5, generator=g)
    valid = torch.tensor([[1, 1, 0], [1, 0, 0], [1, 1, 1], [0, 0, 0]], dtype=torch.bool)
    return deep, shallow, coarse, queue, valid


@pytest.mark.parametrize("denominator", ["joint", "separate"])
def test_matches_hand_computation(tensors, denominator):
    deep, shallow, coarse, queue, valid = tensors
    got = weighted_self_contrastive_loss(
        deep,
        shallow,
        coarse,
        queue,
        valid,
        tau=0.1,
        alpha_diff=1.4,
        alpha_same=1.0,
        alpha_m=0.7,
        denominator=denominator,
    )
    want = by_hand(deep, shallow, coarse, queue, valid, 0.1, 1.4, 1.0, 0.7, denominator)
    assert float(got) == pytest.approx(want, rel=1e-5)


def test_without_queue_matches_hand_computation(tensors):
    deep, shallow, coarse, _, _ = tensors
    got = weighted_self_contrastive_loss(deep, shallow, coarse, tau=0.5)
    want = by_hand(deep, shallow, coarse, None, None, 0.5, 1.4, 1.0, 1.0, "joint")
    assert float(got) == pytest.approx(want, rel=1e-5)


def test_two_orthogonal_rows_closed_form():
    # q0 = k0+ = e1, the other sample's shallow and deep features = e2 (cosine 0), other coarse:
    # loss_0 = -1/tau + log(a_diff * (e^0 + e^0)); the same holds for row 1 by symmetry.
    e1, e2 = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    deep = torch.stack([e1, e2])
    shallow = torch.stack([e1, e2])
    loss = weighted_self_contrastive_loss(deep, shallow, torch.tensor([0, 1]), tau=0.2)
    assert float(loss) == pytest.approx(-5.0 + math.log(1.4 * 2), rel=1e-6)


def test_heavier_weight_on_other_coarse_raises_the_loss(tensors):
    deep, shallow, coarse, queue, valid = tensors
    plain = weighted_self_contrastive_loss(deep, shallow, coarse, alpha_diff=1.0)
    weighted = weighted_self_contrastive_loss(deep, shallow, coarse, alpha_diff=2.0)
    assert float(weighted) > float(plain)


def test_masked_queue_slots_do_not_count(tensors):
    deep, shallow, coarse, queue, valid = tensors
    changed = queue.clone()
    changed[~valid] = 100.0  # garbage in masked slots must not move the loss
    a = weighted_self_contrastive_loss(deep, shallow, coarse, queue, valid)
    b = weighted_self_contrastive_loss(deep, shallow, coarse, changed, valid)
    assert float(a) == float(b)


def test_row_without_negatives_contributes_zero():
    x = torch.tensor([[1.0, 0.0]])
    assert float(weighted_self_contrastive_loss(x, x, torch.tensor([0]))) == 0.0


@pytest.mark.parametrize("denominator", ["joint", "separate"])
def test_rows_without_negatives_give_finite_gradients(denominator):
    # alpha_same = 0 and a batch of one coarse class: no row has a negative at all
    deep = torch.randn(3, 4, requires_grad=True)
    shallow = torch.randn(3, 4, requires_grad=True)
    loss = weighted_self_contrastive_loss(
        deep, shallow, torch.tensor([0, 0, 0]), alpha_same=0.0, denominator=denominator
    )
    loss.backward()
    assert float(loss.detach()) == 0.0
    assert torch.isfinite(deep.grad).all() and torch.isfinite(shallow.grad).all()


def test_autocast_does_not_lower_the_loss_precision(tensors):
    deep, shallow, coarse, queue, valid = tensors
    exact = weighted_self_contrastive_loss(deep, shallow, coarse, queue, valid)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        under_autocast = weighted_self_contrastive_loss(deep, shallow, coarse, queue, valid)
    assert under_autocast.dtype == torch.float32
    assert float(under_autocast) == pytest.approx(float(exact), rel=1e-6)


def test_gradient_flows_to_both_depths(tensors):
    deep, shallow, coarse, queue, valid = tensors
    deep, shallow = deep.clone().requires_grad_(), shallow.clone().requires_grad_()
    weighted_self_contrastive_loss(deep, shallow, coarse, queue, valid).backward()
    assert deep.grad.abs().sum() > 0 and shallow.grad.abs().sum() > 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tau": 0.0}, "temperature must be positive"),
        ({"alpha_same": -1.0}, "alpha_same must be >= 0"),
        ({"denominator": "both"}, "denominator must be"),
    ],
)
def test_bad_settings_raise(tensors, kwargs, message):
    deep, shallow, coarse, _, _ = tensors
    with pytest.raises(ValueError, match=message):
        weighted_self_contrastive_loss(deep, shallow, coarse, **kwargs)


def _guarded_losses():
    """Each loss of the contrastive module on inputs where bf16 rounding would show."""
    g = torch.Generator().manual_seed(3)
    a, b = torch.randn(8, 16, generator=g), torch.randn(8, 16, generator=g)
    bank = torch.randn(20, 16, generator=g)
    labels = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    protos, conc = torch.randn(3, 16, generator=g), torch.full((3,), 0.05)
    parents, parent_of = torch.randn(2, 16, generator=g), torch.tensor([0, 1, 1])
    return {
        "weighted_self_contrastive_loss": lambda: weighted_self_contrastive_loss(a, b, labels),
        "nt_xent": lambda: nt_xent(a, b, tau=0.05),
        "info_nce": lambda: info_nce(a, b, bank, tau=0.05),
        "angular_normalize": lambda: angular_normalize(a, protos, labels),
        "proto_nce": lambda: proto_nce(a, protos, conc, labels),
        "binary_entropy_bonus": lambda: binary_entropy_bonus(torch.sigmoid(a)),
        "instance_keep_probability": lambda: instance_keep_probability(bank, protos, conc, labels),
        "prototype_keep_probability": lambda: prototype_keep_probability(
            protos, parents, torch.full((2,), 0.05), labels, parent_of
        ),
        # FALCON: 3 coarse classes over 4 fine classes
        **_guarded_falcon_losses(a, bank, labels),
    }


def _guarded_falcon_losses(a, bank, coarse):
    from coarse2fine.losses import falcon

    relation = torch.tensor([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 0, 0]])
    weight = bank[:4]
    logits = falcon.cosine_logits(a, weight, 0.05)  # logits near 20: bf16 rounds them by 0.06
    probs = torch.softmax(logits, dim=1)
    neighbours = torch.softmax(torch.stack([logits.flip(0), logits]).transpose(0, 1), dim=2)
    return {
        "cosine_logits": lambda: falcon.cosine_logits(a, weight, 0.05),
        "coarse_nll": lambda: falcon.coarse_nll(logits, relation, coarse),
        "coarse_log_probs": lambda: falcon.coarse_log_probs(logits, relation),
        "neighbour_consistency": lambda: falcon.neighbour_consistency(probs, neighbours),
        "confident_targets": lambda: falcon.confident_targets(logits, relation, coarse, 0.5, 0.3),
        "soft_cross_entropy": lambda: falcon.soft_cross_entropy(logits, probs),
        "balance_regulariser": lambda: falcon.balance_regulariser(probs),
    }


@pytest.mark.parametrize("name", list(_guarded_losses()))
def test_every_loss_ignores_autocast(name):
    """Under bf16 autocast each loss returns float32 bit for bit equal to its value without
    autocast (a bf16 matmul of these inputs moves a logit at tau 0.05 by about 0.1)."""
    compute = _guarded_losses()[name]
    exact = compute()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        under_autocast = compute()
    assert under_autocast.dtype == torch.float32
    assert torch.equal(under_autocast, exact)


def test_the_autocast_test_covers_every_public_loss():
    import inspect

    from coarse2fine.losses import contrastive, falcon

    public = {
        name
        for module in (contrastive, falcon)
        for name, fn in inspect.getmembers(module, inspect.isfunction)
        if fn.__module__ == module.__name__ and not name.startswith("_")
    }
    # the one function that returns a number, not a tensor
    assert public - {"cosine_hardness"} == set(_guarded_losses())

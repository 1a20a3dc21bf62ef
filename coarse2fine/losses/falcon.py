"""FALCON's losses (Grcic et al., ICML 2024; docs/FALCON.md) as pure functions.

``relation`` is the K_F x K_C binary matrix M (fine class f lies under coarse class c when
M[f, c] = 1). Every loss runs in float32 with autocast off (``losses.precision.float32``),
whatever the dtype of its inputs.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from coarse2fine.losses.precision import float32


@float32
def cosine_logits(features: torch.Tensor, weight: torch.Tensor, tau: float) -> torch.Tensor:
    """The cosine classifier's logits cos(h, w_f) / tau (B x K_F)."""
    return F.normalize(features.float(), dim=1) @ F.normalize(weight.float(), dim=1).t() / tau


@float32
def coarse_nll(logits: torch.Tensor, relation: torch.Tensor, coarse: torch.Tensor) -> torch.Tensor:
    """L_coarse: -log p(c|x) with p(c|x) = sum_f M[f, c] p(f|x), by log-sum-exp over the fine
    logits under c minus log-sum-exp over all fine logits (stable for any logit scale)."""
    logits = logits.float()
    under = relation.t()[coarse].bool()  # (B, K_F): fine classes under each row's coarse class
    inside = torch.logsumexp(logits.masked_fill(~under, float("-inf")), dim=1)
    return (torch.logsumexp(logits, dim=1) - inside).mean()


@float32
def coarse_log_probs(logits: torch.Tensor, relation: torch.Tensor) -> torch.Tensor:
    """log p(c|x) for every coarse class (B x K_C)."""
    logits = logits.float()
    masked = logits.unsqueeze(2).masked_fill(~relation.bool().unsqueeze(0), float("-inf"))
    return torch.logsumexp(masked, dim=1) - torch.logsumexp(logits, dim=1, keepdim=True)


@float32
def neighbour_consistency(probs: torch.Tensor, neighbour_probs: torch.Tensor) -> torch.Tensor:
    """L_NN: -mean log <p(x), p_teacher(x_nb)> over rows and their sampled neighbours.

    probs: B x K_F; neighbour_probs: B x S x K_F (S neighbours per row)."""
    agreement = torch.einsum("bk,bsk->bs", probs.float(), neighbour_probs.float())
    return -torch.log(agreement.clamp_min(1e-8)).mean()


@float32
def confident_targets(
    teacher_logits: torch.Tensor,
    relation: torch.Tensor,
    coarse: torch.Tensor,
    temperature: float,
    hardness: float,
) -> torch.Tensor:
    """The targets q of L_conf: q proportional to M[:, c_x] * exp(s_teacher(x) / T), blended
    from soft (hardness 0) to one-hot at its argmax (hardness 1)."""
    under = relation.t()[coarse].bool()
    scaled = (teacher_logits.float() / temperature).masked_fill(~under, float("-inf"))
    soft = torch.softmax(scaled, dim=1)
    hard = F.one_hot(soft.argmax(1), soft.shape[1]).to(soft.dtype)
    return (1.0 - hardness) * soft + hardness * hard


@float32
def soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """CE(p(x), q) for target distributions q (rows sum to one)."""
    return -(targets * torch.log_softmax(logits.float(), dim=1)).sum(1).mean()


@float32
def balance_regulariser(probs: torch.Tensor) -> torch.Tensor:
    """L_reg: log K_F - H(mean over the batch of p), zero when the batch uses every class
    equally; keeps the classifier from collapsing onto a few classes."""
    mean = probs.float().mean(0)
    entropy = -(mean * torch.log(mean.clamp_min(1e-8))).sum()
    return math.log(probs.shape[1]) - entropy


def cosine_hardness(step: int, soft_steps: int) -> float:
    """Soft-to-hard schedule of the L_conf targets: 0 at step 0, 1 from ``soft_steps`` on,
    along half a cosine (the reference code's annealing)."""
    if soft_steps <= 0:
        return 1.0
    t = min(1.0, step / soft_steps)
    return 0.5 * (1.0 - math.cos(math.pi * t))

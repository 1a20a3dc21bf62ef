"""Losses of the neighbour-based methods DNA and DOWN (docs/NEIGHBOURS.md), pure functions.

A row is pulled toward the bank rows that are its (weighted) neighbours and pushed from every
other bank row: with s_ij = cos(z_i, b_j) / tau over ALL bank rows j,
    L = mean_i [ - sum_j w_ij log softmax_j(s_i)_j / sum_j w_ij ].
DNA's weights are 0/1 (its filtered neighbours); DOWN's fall with the rank r of the neighbour,
w = base^(-r/k), the base flattening over training.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from coarse2fine.losses.precision import float32


@float32
def neighbour_contrast(
    queries: torch.Tensor, bank: torch.Tensor, weights: torch.Tensor, tau: float = 0.07
) -> torch.Tensor:
    """The weighted supervised-contrastive loss over a bank (see module docstring).

    ``queries`` B x d and ``bank`` N x d (normalised here), ``weights`` B x N, non-negative,
    with a positive entry in every row."""
    if tau <= 0:
        raise ValueError(f"tau must be positive, got {tau}")
    if weights.shape != (queries.shape[0], bank.shape[0]):
        raise ValueError(f"weights must be {queries.shape[0]} x {bank.shape[0]}")
    logits = F.normalize(queries.float(), dim=1) @ F.normalize(bank.float(), dim=1).t() / tau
    log_p = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    weights = weights.float()
    return (-(weights * log_p).sum(1) / weights.sum(1).clamp_min(1e-12)).mean()


def rank_weights(ranks: torch.Tensor, k: int, base: float) -> torch.Tensor:
    """DOWN's order weights: base^(-rank / k) (rank 0 is the row itself, weight 1)."""
    if base < 1:
        raise ValueError(f"base must be >= 1, got {base}")
    return torch.pow(torch.as_tensor(float(base)), -ranks.float() / max(k, 1))


def down_base(progress: float, bases: tuple[float, ...]) -> float:
    """The base at a fraction ``progress`` (0..1) of training: the bases split training into
    equal parts (DOWN: 150, 10, 5, 2 over epochs 0-4, 5-9, 10-14, 15-19 of 20)."""
    part = min(int(progress * len(bases)), len(bases) - 1)
    return float(bases[max(part, 0)])

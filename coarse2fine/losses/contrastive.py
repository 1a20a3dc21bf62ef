"""Contrastive losses as pure functions of feature tensors (no module state)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def _check_temperature(tau: float) -> None:
    if not tau > 0:
        raise ValueError(f"temperature must be positive, got {tau}")


def weighted_self_contrastive_loss(
    deep: torch.Tensor,
    shallow: torch.Tensor,
    coarse: torch.Tensor,
    queue: torch.Tensor | None = None,
    queue_valid: torch.Tensor | None = None,
    *,
    tau: float = 0.1,
    alpha_diff: float = 1.4,
    alpha_same: float = 1.0,
    alpha_m: float = 1.0,
    denominator: str = "joint",
) -> torch.Tensor:
    """HWSCL's weighted self-contrastive loss (An et al., EMNLP 2022, Eq. 3-5).

    For each query q_i = deep[i] the positive key is the sample's OWN shallow feature
    shallow[i]; negatives are the other samples' shallow and deep features (weighted
    ``alpha_diff`` when their coarse label differs from i's, ``alpha_same`` when equal) and the
    momentum features ``queue[i]`` of i's own coarse class (weighted ``alpha_m``, padded slots
    masked by ``queue_valid``). Similarities are cosine / tau.

    ``denominator="joint"`` is the paper's form: one denominator summing all weighted negatives,
    loss_i = -s(q_i, k_i+) + log sum_groups alpha_l sum_k exp s(q_i, k). ``"separate"`` is the
    reference code's form: three separate log-sum-exp terms (shallow, deep, queue) subtracted.
    In both the positive is not in the denominator (as in the paper's equation and the code).
    Rows without any negative contribute 0. Returns the mean over the batch.

    Shapes: deep, shallow (B, d); coarse (B,); queue (B, S, d); queue_valid (B, S) bool.
    """
    _check_temperature(tau)
    if denominator not in ("joint", "separate"):
        raise ValueError(f"denominator must be 'joint' or 'separate', got {denominator!r}")
    for name, alpha in (
        ("alpha_diff", alpha_diff),
        ("alpha_same", alpha_same),
        ("alpha_m", alpha_m),
    ):
        if alpha < 0:
            raise ValueError(f"{name} must be >= 0, got {alpha}")
    # Similarities near 1 divided by a small tau need float32: under CPU/GPU autocast a matmul
    # would silently run in bf16 (about +-0.04 per logit at tau 0.1), so autocast is off here.
    with torch.autocast(deep.device.type, enabled=False):
        q = F.normalize(deep.float(), dim=-1)
        ks = F.normalize(shallow.float(), dim=-1)
        sim_shallow = q @ ks.T / tau  # (B, B)
        sim_deep = q @ q.T / tau
        positive = sim_shallow.diagonal()

        same = coarse.view(-1, 1) == coarse.view(1, -1)
        weight = torch.where(same, alpha_same, alpha_diff).to(q.dtype)
        weight.fill_diagonal_(0.0)  # a sample is never its own negative
        log_w = weight.log()  # -inf where the weight is 0 (self, or an alpha of 0)

        groups = [sim_shallow + log_w, sim_deep + log_w]
        if queue is not None and queue.shape[1] > 0 and alpha_m > 0:
            kq = F.normalize(queue.float(), dim=-1)
            sim_queue = torch.einsum("bd,bsd->bs", q, kq) / tau
            valid = (
                torch.ones_like(sim_queue, dtype=torch.bool) if queue_valid is None else queue_valid
            )
            groups.append(torch.where(valid, sim_queue + math.log(alpha_m), -torch.inf))
        if denominator == "joint":
            groups = [torch.cat(groups, dim=1)]

        loss = -positive
        has_negative = torch.zeros_like(positive, dtype=torch.bool)
        for logits in groups:
            present = torch.isfinite(logits).any(dim=1)
            # logsumexp over a row of only -inf has a NaN gradient: give such rows a dummy 0
            # logit and drop their term afterwards, so they add neither loss nor gradient.
            safe = torch.where(present.unsqueeze(1), logits, 0.0)
            loss = loss + torch.where(present, torch.logsumexp(safe, dim=1), 0.0)
            has_negative |= present
        loss = torch.where(has_negative, loss, 0.0)
        return loss.mean()

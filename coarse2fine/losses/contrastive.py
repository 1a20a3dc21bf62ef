"""Contrastive losses as pure functions of feature tensors (no module state).

Every function here runs in float32 with autocast off (``losses.precision.float32``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from coarse2fine.losses.precision import float32


def _check_temperature(tau: float) -> None:
    if not tau > 0:
        raise ValueError(f"temperature must be positive, got {tau}")


@float32
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
        valid = torch.ones_like(sim_queue, dtype=torch.bool) if queue_valid is None else queue_valid
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


@float32
def nt_xent(a: torch.Tensor, b: torch.Tensor, tau: float = 0.5) -> torch.Tensor:
    """NT-Xent (SimCLR): row i of ``a`` and row i of ``b`` are a positive pair; the other 2N - 2
    rows of both views are its negatives; averaged over both directions. Cosine similarity."""
    _check_temperature(tau)
    n = a.shape[0]
    z = F.normalize(torch.cat([a, b]).float(), dim=1)
    sim = z @ z.t() / tau
    sim = sim.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device)
    return F.cross_entropy(sim, target)


@float32
def info_nce(
    query: torch.Tensor,
    key: torch.Tensor,
    negatives: torch.Tensor,
    tau: float = 0.2,
    keep: torch.Tensor | None = None,
) -> torch.Tensor:
    """MoCo's InfoNCE: each query against its key (positive) and a bank of negatives: one bank
    shared by the batch (Q x d), or one per query (B x Q x d, e.g. the queue of its coarse class).

    ``keep`` (B x Q, bool) drops negatives per query (HCSC's instance selection, or unfilled queue
    slots): a dropped negative contributes nothing to the loss or its gradient; a query with no
    negative left scores 0. Inputs are L2-normalised here."""
    _check_temperature(tau)
    q = F.normalize(query.float(), dim=1)
    positive = (q * F.normalize(key.float(), dim=1)).sum(1, keepdim=True)
    bank = F.normalize(negatives.float(), dim=-1)
    negative = torch.einsum("bd,bqd->bq", q, bank) if bank.dim() == 3 else q @ bank.t()
    if keep is not None:
        negative = negative.masked_fill(~keep, float("-inf"))
    logits = torch.cat([positive, negative], dim=1) / tau
    return F.cross_entropy(logits, torch.zeros(len(q), dtype=torch.long, device=q.device))


@float32
def angular_normalize(
    embedding: torch.Tensor, class_weights: torch.Tensor, labels: torch.Tensor
) -> torch.Tensor:
    """ANCOR's angular normalisation: on the unit sphere, the direction from the row's own
    coarse-class weight vector to the row, normalize(normalize(z) - normalize(w_y)). Rows of one
    coarse class then differ by where they sit AROUND their class weight, which is what the
    contrast acts on, not by how close they are to it (which the coarse classifier decides)."""
    z = F.normalize(embedding.float(), dim=1)
    w = F.normalize(class_weights.float(), dim=1)[labels]
    return F.normalize(z - w, dim=1)


@float32
def proto_nce(
    query: torch.Tensor,
    prototypes: torch.Tensor,
    concentration: torch.Tensor,
    positive: torch.Tensor,
    keep: torch.Tensor | None = None,
) -> torch.Tensor:
    """ProtoNCE (PCL / HCSC): each query against its own prototype ``positive[i]`` and the
    other prototypes, each scaled by its concentration phi_c (the prototype's temperature).
    ``keep`` (B x K, bool) drops negative prototypes per query; the positive is always kept."""
    q = F.normalize(query.float(), dim=1)
    logits = q @ F.normalize(prototypes.float(), dim=1).t() / concentration.float().view(1, -1)
    if keep is not None:
        own = F.one_hot(positive, prototypes.shape[0]).bool()
        logits = logits.masked_fill(~(keep | own), float("-inf"))
    return F.cross_entropy(logits, positive)


@float32
def binary_entropy_bonus(probs: torch.Tensor) -> torch.Tensor:
    """Contrastive Disentangling's L_ent: minus the mean normalised binary entropy of each
    feature head's batch-mean activation. It lies in [-1, 0]: -1 when every head fires for half
    of the batch, 0 when every head is always on or always off (collapse)."""
    p = probs.float().mean(0).clamp(1e-6, 1 - 1e-6)
    entropy = -(p * torch.log(p) + (1 - p) * torch.log(1 - p)) / math.log(2.0)
    return -entropy.mean()


@float32
def instance_keep_probability(
    negatives: torch.Tensor,
    prototypes: torch.Tensor,
    concentration: torch.Tensor,
    assigned: torch.Tensor,
) -> torch.Tensor:
    """HCSC's instance selection (ICSC): the chance that each negative is kept for each query.

    A negative z_j is a false negative for query i to the degree that z_j belongs to the query's
    own prototype: p_keep[i, j] = 1 - softmax_k(z_j . c_k / phi_k)[assigned[i]]  (B x Q)."""
    z = F.normalize(negatives.float(), dim=1)
    c = F.normalize(prototypes.float(), dim=1)
    membership = torch.softmax(z @ c.t() / concentration.float().view(1, -1), dim=1)  # Q x K
    return 1.0 - membership[:, assigned].t()


@float32
def prototype_keep_probability(
    prototypes: torch.Tensor,
    parents: torch.Tensor,
    parent_concentration: torch.Tensor,
    assigned: torch.Tensor,
    parent_of: torch.Tensor,
) -> torch.Tensor:
    """HCSC's prototype selection (PCSC): the chance that each prototype of one level is kept as
    a negative for each query. A prototype c_j sharing the parent of the query's own prototype is
    likely a false negative: p_keep[i, j] = 1 - softmax_m(c_j . p_m / phi_m)[parent_of[assigned[i]]]
    over the level above (B x K)."""
    c = F.normalize(prototypes.float(), dim=1)
    p = F.normalize(parents.float(), dim=1)
    membership = torch.softmax(c @ p.t() / parent_concentration.float().view(1, -1), dim=1)
    return 1.0 - membership[:, parent_of[assigned]].t()

"""HCSC: hierarchical contrastive selective coding (Guo et al., CVPR 2022; docs/HCSC.md).

MoCo-style: a query view through the encoder and a projector, a key view through their momentum
copies (EMA 0.999), a queue of past keys as negatives (tau 0.2). Before every epoch the
hierarchical prototypes are rebuilt from a bank of every row's latest key: K-Means on the rows
gives the finest level (clusters under ``min_cluster`` rows dropped, their rows moved to the
nearest kept prototype), K-Means on those prototypes the next level, and so on; each prototype
knows its parent and its concentration phi_c = sum ||z - c|| / (n log(n + 10)), normalised as in
PCL (clipped to the 10-90th percentiles, scaled to mean tau). Per step and level:
- instance selection: a queued negative is kept with probability 1 - softmax_k(z_j . c_k /
  phi_k)[the query's own prototype] (Bernoulli), then InfoNCE;
- prototype selection: ProtoNCE against the level's prototypes, a negative prototype kept with
  probability 1 - softmax over the level above of (c_j . p / phi_p)[parent of the query's own
  prototype]; the top level keeps all;
levels averaged; total L_inst + L_proto, after a warm-up with the plain instance loss only.

``hcsc_ce`` (the fine-grained-from-coarse variant, our design): adds coarse cross-entropy on the
encoder's pooled feature, and makes the coarse classes the TOP level of the hierarchy (prototype:
the normalised mean key of the class's rows; parent of each prototype below: the coarse class
holding most of its rows): the tree the method outputs is coarse -> categories -> prototypes,
every prototype under one coarse class. How the coarse level acts on training is
``coarse_loss`` (docs/HCSC.md gives the single-seed probes of all three; with float32 losses they
lie within 1.4 ACC of each other on HWU64, so they do not rank the designs):
- "none" (default): the coarse cross-entropy is the coarse level's only loss; the selective
  losses run over the K-Means levels as in HCSC;
- "keep_other": a queued negative of another coarse class is always kept, the Bernoulli draw
  deciding only inside the query's own class;
- "contrast": the coarse level is also a ProtoNCE level and selects the prototypes below it by
  their coarse parent, which drops the query's sibling prototypes (the other fine categories of
  its own class, the ones to pull apart) as negatives; that is why "none" is the default.

Views: the query is the row itself (dropout noise), the key a second view ("delete_word" for
text, "mask+noise" for vectors; ``view`` to change). Prototype counts: ``levels`` "a,b,..."
finest first, or "auto": (2 K_F, K_F) with K_F known, else (200, 50).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from coarse2fine.augment import ViewMaker
from coarse2fine.cluster.kmeans import kmeans, l2_normalize
from coarse2fine.cluster.nested import majority_parents
from coarse2fine.losses.contrastive import (
    info_nce,
    instance_keep_probability,
    proto_nce,
    prototype_keep_probability,
)
from coarse2fine.methods.base import (
    CoarseCE,
    Method,
    MomentumContrastConfig,
    MomentumKeysMixin,
    projection_mlp,
)
from coarse2fine.methods.instance import CONTRASTIVE_DEFAULTS, default_view


@dataclass
class HCSCConfig(MomentumContrastConfig):
    levels: str = "auto"  # prototypes per level, finest first: "300,100", or "auto"
    min_cluster: int = 10  # finest-level clusters with fewer rows are dropped
    warmup: float = 0.1  # share of steps with the instance loss only (the paper: 20 of 200)
    coarse_top: bool = False  # hcsc_ce: the coarse classes are the top level
    coarse_loss: str = "none"  # with coarse_top: "none", "keep_other" or "contrast"

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 <= self.warmup <= 1.0:
            raise ValueError(f"warmup must be in [0, 1], got {self.warmup}")
        if self.levels != "auto":
            parse_levels(self.levels)
        if self.coarse_loss not in ("none", "keep_other", "contrast"):
            raise ValueError(
                f"coarse_loss must be 'none', 'keep_other' or 'contrast', got {self.coarse_loss!r}"
            )
        if self.coarse_loss != "none" and not self.coarse_top:
            raise ValueError(
                f"coarse_loss={self.coarse_loss!r} needs the coarse level on top: use hcsc_ce, "
                "or set coarse_top=true"
            )


def parse_levels(spec: str) -> list[int]:
    try:
        sizes = [int(part) for part in spec.split(",")]
    except ValueError:
        raise ValueError(f"levels must look like '300,100', got {spec!r}") from None
    if not sizes or any(s < 1 for s in sizes):
        raise ValueError(f"levels must be positive prototype counts, got {spec!r}")
    return sizes


def concentration(features: np.ndarray, labels: np.ndarray, centres: np.ndarray, tau: float):
    """phi_c = sum ||z - c|| / (n_c log(n_c + 10)) per prototype, clipped to its 10th-90th
    percentiles and scaled to mean tau (PCL's normalisation)."""
    k = len(centres)
    distance = np.linalg.norm(features - centres[labels], axis=1)
    total = np.bincount(labels, weights=distance, minlength=k)
    count = np.bincount(labels, minlength=k).astype(np.float64)
    phi = np.where(count > 1, total / (np.maximum(count, 1) * np.log(count + 10)), np.nan)
    phi = np.where(np.isnan(phi), np.nanmax(phi) if np.isfinite(phi).any() else 1.0, phi)
    phi = np.clip(phi, np.percentile(phi, 10), np.percentile(phi, 90))
    return (tau * phi / phi.mean()).astype(np.float32)


class HCSC(MomentumKeysMixin, CoarseCE, Method):
    defaults = CONTRASTIVE_DEFAULTS
    Config = HCSCConfig

    def __init__(self, encoder, n_coarse, config=None, n_fine=None, *, seed: int = 0):
        super().__init__(encoder, n_coarse, config, n_fine, seed=seed)
        cfg = self.config
        self.projector = projection_mlp(encoder.dim, cfg.projection_dim)
        self.add_coarse_head(cfg.dropout)
        self.register_buffer(
            "queue", torch.zeros(cfg.queue_size, cfg.projection_dim), persistent=False
        )
        self.register_buffer(  # each queued key's coarse class
            "queue_coarse", torch.full((cfg.queue_size,), -1, dtype=torch.long), persistent=False
        )
        self._filled = 0
        self._pointer = 0
        self._momentum: list[nn.Module] = []
        self._views: ViewMaker | None = None
        self._data = None
        self._bank: torch.Tensor | None = None
        self._levels: list[dict[str, torch.Tensor]] = []
        self._pending: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None
        self._step = 0
        self._warmup_steps = 0

    def level_sizes(self) -> list[int]:
        if self.config.levels != "auto":
            return parse_levels(self.config.levels)
        return [2 * self.n_fine, self.n_fine] if self.n_fine else [200, 50]

    # -- set-up -----------------------------------------------------------------------------
    def on_fit_start(self, data, total_steps: int) -> None:
        cfg = self.config
        self._data = data
        kind = cfg.view or default_view(self.encoder, "delete_word")
        self._views = ViewMaker(self.encoder, data.inputs, kind, seed=self.seed)
        self.start_momentum()
        device = self.queue.device
        keys = self.over_rows(data, self.keys, device)
        self._bank = F.normalize(torch.from_numpy(keys).to(device), dim=1)
        self._warmup_steps = round(cfg.warmup * total_steps)
        self._step = 0

    def keys(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Momentum features (the key encoder and projector) of the batch's rows."""
        return self.momentum_keys(batch["inputs"])

    def on_epoch_start(self, epoch: int, data) -> None:
        self._levels = self.build_hierarchy(self._bank.cpu().numpy(), data.coarse)

    def build_hierarchy(self, bank: np.ndarray, coarse: np.ndarray) -> list[dict]:
        """Prototypes per level (finest first): centres, phi, each row's prototype, parents."""
        cfg = self.config
        seed = self.seed % (2**31)
        feats = l2_normalize(bank)
        device = self.queue.device
        levels: list[dict] = []
        rows_of = None  # level-l prototype of every row
        points = feats
        for depth, size in enumerate(self.level_sizes()):
            size = max(1, min(size, len(points)))
            labels, centres = kmeans(points, size, seed=seed, n_init=1)
            centres = l2_normalize(centres)
            if depth == 0:  # drop tiny clusters; their rows go to the nearest kept prototype
                counts = np.bincount(labels, minlength=size)
                kept = np.flatnonzero(counts >= min(cfg.min_cluster, counts.max()))
                centres = centres[kept]
                labels = np.argmax(feats @ centres.T, axis=1)
                rows_of = labels
            else:
                levels[-1]["parent"] = labels  # each lower prototype's parent
                rows_of = labels[rows_of]
            phi = concentration(feats, rows_of, centres, cfg.tau)
            levels.append({"centres": centres, "phi": phi, "rows": rows_of})
            points = centres
        if cfg.coarse_top:
            top_rows = np.asarray(coarse)
            sums = np.zeros((self.n_coarse, feats.shape[1]), np.float32)
            np.add.at(sums, top_rows, feats)
            centres = l2_normalize(sums)
            levels[-1]["parent"] = majority_parents(
                levels[-1]["rows"], top_rows, len(levels[-1]["centres"])
            )
            phi = concentration(feats, top_rows, centres, cfg.tau)
            levels.append({"centres": centres, "phi": phi, "rows": top_rows})
        return [
            {k: torch.as_tensor(np.asarray(v)).to(device) for k, v in level.items()}
            for level in levels
        ]

    # -- training -------------------------------------------------------------------------------
    def training_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        cfg = self.config
        index = batch["index"]
        (deep,) = self.encoder(batch["inputs"], [self.encoder.n_layers])
        query = self.projector(deep.float())
        key = F.normalize(self.momentum_keys(self._views.view(batch)), dim=1)
        self._pending = (index, key, batch["coarse"])
        negatives = self.queue[: self._filled] if self._filled else key.new_zeros(1, key.shape[1])
        parts: dict[str, torch.Tensor] = {}
        if self._step < self._warmup_steps or not self._levels or not self._filled:
            instance = info_nce(query, key, negatives, cfg.tau)
            loss = instance
            parts["instance"] = instance
        else:
            instance, proto = self._selective_losses(query, key, negatives, batch)
            loss = instance + proto
            parts.update(instance=instance, proto=proto)
        if self.ce_weight > 0:
            ce = self.coarse_ce(deep, batch["coarse"])
            loss = loss + self.ce_weight * ce
            parts["ce"] = ce
        return {"loss": loss, **parts}

    def _selective_losses(self, query, key, negatives, batch):
        cfg = self.config
        index = batch["index"]
        levels = self._levels
        certain = None  # negatives known to be true ones: queued keys of another coarse class
        if cfg.coarse_top and cfg.coarse_loss != "contrast":
            levels = levels[:-1]  # the coarse level's loss is the cross-entropy
        if cfg.coarse_top and cfg.coarse_loss == "keep_other":
            queued = self.queue_coarse[: len(negatives)]
            certain = queued.view(1, -1) != batch["coarse"].view(-1, 1)
        instance_terms, proto_terms = [], []
        for depth, level in enumerate(levels):
            assigned = level["rows"][index]
            p_keep = instance_keep_probability(negatives, level["centres"], level["phi"], assigned)
            keep = torch.bernoulli(p_keep).bool()
            if certain is not None:
                keep |= certain
            instance_terms.append(info_nce(query, key, negatives, cfg.tau, keep))
            proto_keep = None
            if depth + 1 < len(levels):
                upper = levels[depth + 1]
                probability = prototype_keep_probability(
                    level["centres"], upper["centres"], upper["phi"], assigned, level["parent"]
                )
                proto_keep = torch.bernoulli(probability).bool()
            proto_terms.append(
                proto_nce(query, level["centres"], level["phi"], assigned, proto_keep)
            )
        return torch.stack(instance_terms).mean(), torch.stack(proto_terms).mean()

    @torch.no_grad()
    def after_step(self, step: int) -> None:
        self.update_momentum()
        if self._pending is not None:
            index, key, coarse = self._pending
            self._bank[index] = key.to(self._bank.dtype)
            n = len(key)
            slots = (self._pointer + torch.arange(n, device=key.device)) % len(self.queue)
            self.queue[slots] = key.to(self.queue.dtype)
            self.queue_coarse[slots] = coarse
            self._pointer = int((self._pointer + n) % len(self.queue))
            self._filled = min(len(self.queue), self._filled + n)
            self._pending = None
        self._step = step + 1

    # -- using ------------------------------------------------------------------------------------
    def finer_groups(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Each row's nearest finest-level prototype (a grouping finer than the categories)."""
        (deep,) = self.encoder(batch["inputs"], [self.encoder.n_layers])
        query = F.normalize(self.projector(deep.float()), dim=1)
        if not self._levels:
            return torch.zeros(len(query), 1, device=query.device)
        return (query @ self._levels[0]["centres"].t()).argmax(1, keepdim=True).float()


# HCSC + coarse cross-entropy, the coarse classes as the hierarchy's top level
HCSCCE = HCSC.plus_ce("HCSCCE", coarse_top=True)
HCSCCEConfig = HCSCCE.Config

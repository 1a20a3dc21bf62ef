"""Ancor: fine-grained angular contrastive learning with coarse labels (Bukchin et al., CVPR 2021),
a baseline of the HWSCL comparison (its Table 2; docs/BASELINES.md).

MoCo v2 with two additions that use the coarse labels:
- a linear coarse classifier on the projected embedding z, trained by cross-entropy, beside
- the contrast on ANGULARLY NORMALISED embeddings: each query and key is replaced by the
  direction from its coarse class's classifier weight w_y to it on the unit sphere,
  normalize(normalize(z) - normalize(w_y)) (``losses.contrastive.angular_normalize``). The
  classifier pulls a class's rows toward w_y; the contrast then only acts on how rows spread
  AROUND their class's weight, so the two losses no longer pull against each other;
- negatives come from a queue per coarse class (the momentum keys of the query's own class),
  since the fine distinctions to learn lie inside a class.

The query is the row itself (dropout noise), the key a second view through the momentum encoder
and projector ("delete_word" for text as in our HCSC, "mask+noise" for vectors). As in the
reference code, the classifier weights used for the normalisation are detached (the contrast
does not move them), and the queue stores keys as projected, normalised at lookup with the
current weights, so queued keys never carry a stale class direction. MoCo v2 defaults: tau 0.2,
EMA 0.999, a 128-d projector. The queue is 512 keys per coarse class (MoCo's 65536 shared queue
does not fit datasets of 10-20k rows; 512 x 10 CLINC domains is about a third of an epoch). A
class with fewer rows than that (HWU64's smallest domains have 157) will, from its second epoch
on, hold a query's own earlier key among its negatives; the default single epoch never does.

``ancor_ce`` ("+ CE" in the HWSCL paper's table) adds the coarse cross-entropy on the encoder's
pooled feature that every "+ CE" row uses (``CoarseHead``), beside Ancor's own classifier.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from coarse2fine.augment import ViewMaker
from coarse2fine.losses.contrastive import angular_normalize, info_nce
from coarse2fine.methods.base import (
    CoarseCE,
    CoarseQueues,
    Method,
    MomentumContrastConfig,
    MomentumKeysMixin,
    projection_mlp,
)
from coarse2fine.methods.instance import CONTRASTIVE_DEFAULTS, default_view


@dataclass
class AncorConfig(MomentumContrastConfig):
    queue_size: int = 512  # keys per coarse class


class Ancor(MomentumKeysMixin, CoarseCE, Method):
    defaults = CONTRASTIVE_DEFAULTS
    Config = AncorConfig

    def __init__(self, encoder, n_coarse, config=None, n_fine=None, *, seed: int = 0):
        super().__init__(encoder, n_coarse, config, n_fine, seed=seed)
        cfg = self.config
        self.projector = projection_mlp(encoder.dim, cfg.projection_dim)
        self.classifier = nn.Linear(cfg.projection_dim, n_coarse)  # on z, as in Ancor
        self.add_coarse_head(cfg.dropout)  # the "+ CE" head
        self.queues = CoarseQueues(n_coarse, cfg.queue_size, cfg.projection_dim)
        self._momentum: list[nn.Module] = []  # training state, kept out of state_dict
        self._views: ViewMaker | None = None
        self._pending: tuple[torch.Tensor, torch.Tensor] | None = None

    def on_fit_start(self, data, total_steps: int) -> None:
        kind = self.config.view or default_view(self.encoder, "delete_word")
        self._views = ViewMaker(self.encoder, data.inputs, kind, seed=self.seed)
        self.start_momentum()

    def training_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        cfg = self.config
        coarse = batch["coarse"]
        (deep,) = self.encoder(batch["inputs"], [self.encoder.n_layers])
        z = self.projector(deep.float())
        classify = F.cross_entropy(self.classifier(z), coarse)
        weights = self.classifier.weight.detach()
        query = angular_normalize(z, weights, coarse)
        with torch.no_grad():
            raw_key = self.momentum_keys(self._views.view(batch))
            self._pending = (raw_key, coarse)
            key = angular_normalize(raw_key, weights, coarse)
            queued, valid = self.queues.lookup(coarse)  # (B, Q, d): each row's own class
            b, q, d = queued.shape
            negatives = angular_normalize(
                queued.reshape(b * q, d), weights, coarse.repeat_interleave(q)
            ).view(b, q, d)
        contrast = info_nce(query, key, negatives, cfg.tau, valid)
        loss = classify + contrast
        parts = {"classify": classify, "contrast": contrast}
        if self.ce_weight > 0:
            ce = self.coarse_ce(deep, coarse)
            loss = loss + self.ce_weight * ce
            parts["ce"] = ce
        return {"loss": loss, **parts}

    @torch.no_grad()
    def after_step(self, step: int) -> None:
        self.update_momentum()
        if self._pending is not None:
            self.queues.push(*self._pending)
            self._pending = None

    def coarse_logits(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Coarse logits of the "+ CE" head on the pooled feature when it trains (as every
        "+ CE" row reports), else of Ancor's own classifier on the projected embedding."""
        if self.ce_weight > 0:
            return super().coarse_logits(batch)
        return self.classifier(self.projector(self.deep(batch).float()))


# Ancor + coarse cross-entropy on the pooled feature (the HWSCL table's "+ CE" row)
AncorCE = Ancor.plus_ce("AncorCE")
AncorCEConfig = AncorCE.Config

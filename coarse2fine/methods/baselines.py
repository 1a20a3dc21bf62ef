"""Baselines the HWSCL paper compares against (its Table 2), on the same encoder and protocol."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from coarse2fine.methods.base import CoarseCE, HeadFeatures, Method, MethodConfig, check_features


@dataclass
class UnsupervisedConfig(MethodConfig):
    """No options: the pre-trained encoder's features are clustered as they are."""


class Unsupervised(Method):
    """Pre-trained encoder + K-Means, no training: the floor every trained method must beat.

    With an encoder that starts random (the MLP for vectors) its features mean nothing, so the
    (standardised) input itself is clustered: K-Means on the raw vectors.
    """

    Config = UnsupervisedConfig
    trains = False

    def embed(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        layer = self.encoder.n_layers if getattr(self.encoder, "pretrained", True) else 0
        (features,) = self.encoder(batch["inputs"], [layer])
        return features


@dataclass
class CoarseSupervisedConfig(MethodConfig):
    dropout: float = 0.1
    features: str = "pooled"  # discovery features: "pooled" h^o or "head" tanh(W h^o + b)

    def __post_init__(self) -> None:
        check_features(self.features)


class CoarseSupervised(HeadFeatures, CoarseCE, Method):
    """Coarse cross-entropy at the output layer only (HWSCL Table 2, 'coarse supervised')."""

    Config = CoarseSupervisedConfig
    ce_is_loss = True

    def __init__(
        self,
        encoder: nn.Module,
        n_coarse: int,
        config: CoarseSupervisedConfig | None = None,
        n_fine: int | None = None,
        *,
        seed: int = 0,
    ):
        super().__init__(encoder, n_coarse, config, n_fine, seed=seed)
        self.add_coarse_head(self.config.dropout)

    def training_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        ce = self.coarse_ce(self.deep(batch), batch["coarse"])
        return {"loss": ce, "ce_deep": ce}

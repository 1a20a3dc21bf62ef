"""Baselines the HWSCL paper compares against (its Table 2), on the same encoder and protocol."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from coarse2fine.methods.base import (
    CoarseClassifierMixin,
    CoarseHead,
    Method,
    MethodConfig,
    check_features,
)


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


class CoarseSupervised(CoarseClassifierMixin, Method):
    """Coarse cross-entropy at the output layer only (HWSCL Table 2, 'coarse supervised')."""

    Config = CoarseSupervisedConfig

    def __init__(
        self,
        encoder: nn.Module,
        n_coarse: int,
        config: CoarseSupervisedConfig | None = None,
        n_fine: int | None = None,
    ):
        super().__init__(encoder, n_coarse, config, n_fine)
        self.head = CoarseHead(encoder.dim, n_coarse, self.config.dropout)

    def training_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        (deep,) = self.encoder(batch["inputs"], [self.encoder.n_layers])
        ce = F.cross_entropy(self.head(deep).float(), batch["coarse"])
        return {"loss": ce, "ce_deep": ce}

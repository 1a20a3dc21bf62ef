"""Contrastive Disentangling (CD, Jiang et al.): no class prior.

Two views of each row go through the encoder; an instance projector (-> 128) is trained with
NT-Xent between the views (tau 0.5); a feature predictor outputs H sigmoid "feature heads" per
row, and NT-Xent over the COLUMNS of that B x H matrix makes each head agree with itself across
the views and differ from the other heads (tau 1.0); an entropy term keeps every head in use.
Nothing needs the number of categories. Discovery clusters the encoder's pooled features; each
row's most active head is a finer grouping that the output tree shows under each category.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from coarse2fine.augment import ViewMaker
from coarse2fine.losses.contrastive import binary_entropy_bonus, nt_xent
from coarse2fine.methods.base import Method, MethodConfig, projection_mlp
from coarse2fine.methods.instance import CONTRASTIVE_DEFAULTS, default_view


@dataclass
class CDConfig(MethodConfig):
    view: str | None = None  # None: "delete_word" for text, "mask+noise" for vectors
    n_heads: int = 64  # H feature heads
    projection_dim: int = 128
    tau_instance: float = 0.5
    tau_feature: float = 1.0
    entropy_weight: float = 1.0

    def __post_init__(self) -> None:
        if self.n_heads < 2:
            raise ValueError(f"n_heads must be >= 2, got {self.n_heads}")
        for name in ("tau_instance", "tau_feature"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")


class ContrastiveDisentangling(Method):
    defaults = CONTRASTIVE_DEFAULTS
    Config = CDConfig

    def __init__(self, encoder, n_coarse, config=None, n_fine=None, *, seed: int = 0):
        super().__init__(encoder, n_coarse, config, n_fine, seed=seed)
        cfg = self.config
        self.projector = projection_mlp(encoder.dim, cfg.projection_dim)
        self.heads = projection_mlp(encoder.dim, cfg.n_heads)
        self._views: ViewMaker | None = None

    def on_fit_start(self, data, total_steps: int) -> None:
        kind = self.config.view or default_view(self.encoder, "delete_word")
        self._views = ViewMaker(self.encoder, data.inputs, kind, seed=self.seed)

    def training_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        cfg = self.config
        top = self.encoder.n_layers
        (first,) = self.encoder(batch["inputs"], [top])
        (second,) = self.encoder(self._views.view(batch), [top])
        instance = nt_xent(self.projector(first), self.projector(second), cfg.tau_instance)
        heads_1 = torch.sigmoid(self.heads(first).float())
        heads_2 = torch.sigmoid(self.heads(second).float())
        feature = nt_xent(heads_1.t(), heads_2.t(), cfg.tau_feature)  # columns: one per head
        entropy = 0.5 * (binary_entropy_bonus(heads_1) + binary_entropy_bonus(heads_2))
        loss = instance + feature + cfg.entropy_weight * entropy
        return {"loss": loss, "instance": instance, "feature": feature, "entropy": entropy}

    def finer_groups(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Each row's most active feature head (a grouping finer than the categories)."""
        (deep,) = self.encoder(batch["inputs"], [self.encoder.n_layers])
        return self.heads(deep).float().argmax(1, keepdim=True).float()

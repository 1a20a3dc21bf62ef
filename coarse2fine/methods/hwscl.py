"""HWSCL: hierarchical weighted self-contrastive learning (An et al., EMNLP 2022).

Coarse cross-entropy at a shallow layer L and at the output; the deep feature of each sample is
contrasted against its OWN shallow feature (no augmentation: one forward pass yields query and
key), with in-batch negatives weighted by whether they share the coarse label, and hard
negatives from a momentum (EMA) encoder kept in one FIFO queue per coarse class.

Choices against the reference code (each deliberate; measurements in docs/HWSCL_MINILM.md):
- pooling excludes padding (paper) where the code averages padding tokens too;
- one joint denominator (paper); ``denominator="separate"`` gives the code's three log terms;
- the momentum encoder is an EMA of the WHOLE encoder (paper), where the code updates only the
  top four layers; queues start empty and unfilled slots are masked, where the code starts them
  as zero vectors;
- the contrast runs on the pooled features h (paper), where the code contrasts tanh(W h)
  outputs; the coarse head (dense + tanh + classifier) is shared by both depths, as in the code.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from coarse2fine.losses import weighted_self_contrastive_loss
from coarse2fine.methods.base import (
    CoarseCE,
    CoarseQueues,
    HeadFeatures,
    Method,
    MethodConfig,
    check_features,
    ema_update,
    frozen_copy,
)


@dataclass
class HWSCLConfig(MethodConfig):
    """Paper defaults (Section 4.3): tau 0.1, alpha 1.4/1.0/1.0, gamma 0.001/0.008, m 0.9."""

    shallow_layer: int | None = None  # None: two thirds of the depth (8 of 12, 4 of 6)
    tau: float = 0.1
    alpha_diff: float = 1.4
    alpha_same: float = 1.0
    alpha_m: float = 1.0
    gamma1: float = 0.001  # weight of the shallow coarse CE
    gamma2: float = 0.008  # weight of the weighted self-contrastive loss
    queue_size: int = 128  # per coarse class; 0 disables the momentum encoder (ablation)
    momentum: float = 0.9
    dropout: float = 0.1
    denominator: str = "joint"
    features: str = "pooled"  # discovery features: "pooled" h^o (paper) or "head" (ref. code)

    def __post_init__(self) -> None:
        check_features(self.features)
        if self.tau <= 0:
            raise ValueError(f"tau must be positive, got {self.tau}")
        if not 0.0 <= self.momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {self.momentum}")
        if self.queue_size < 0:
            raise ValueError(f"queue_size must be >= 0, got {self.queue_size}")
        if self.denominator not in ("joint", "separate"):
            raise ValueError(f"denominator must be 'joint' or 'separate', got {self.denominator!r}")
        for name in ("alpha_diff", "alpha_same", "alpha_m", "gamma1", "gamma2", "dropout"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")


def default_shallow_layer(n_layers: int) -> int:
    return max(1, round(2 * n_layers / 3))


class HWSCL(HeadFeatures, CoarseCE, Method):
    Config = HWSCLConfig
    ce_is_loss = True

    def __init__(
        self,
        encoder: nn.Module,
        n_coarse: int,
        config: HWSCLConfig | None = None,
        n_fine: int | None = None,
        *,
        seed: int = 0,
    ):
        super().__init__(encoder, n_coarse, config, n_fine, seed=seed)
        cfg = self.config
        self.shallow_layer = (
            default_shallow_layer(encoder.n_layers)
            if cfg.shallow_layer is None
            else cfg.shallow_layer
        )
        if not 1 <= self.shallow_layer < encoder.n_layers:
            raise ValueError(
                f"shallow_layer must be in 1..{encoder.n_layers - 1}, got {self.shallow_layer}"
            )
        self.add_coarse_head(cfg.dropout)
        self.queues = CoarseQueues(n_coarse, cfg.queue_size, encoder.dim)
        # The momentum encoder is training state, not part of the saved model: keep it out of
        # state_dict by holding it in a plain list.
        self._momentum: list[nn.Module] = []
        self._pending: tuple[torch.Tensor, torch.Tensor] | None = None

    def on_fit_start(self, data, total_steps: int) -> None:
        if self.config.queue_size > 0:
            # eval mode: deterministic keys, no dropout noise in the queue
            self._momentum = [frozen_copy(self.encoder)]

    def training_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        cfg = self.config
        coarse = batch["coarse"]
        shallow, deep = self.encoder(batch["inputs"], [self.shallow_layer, self.encoder.n_layers])
        ce_deep = self.coarse_ce(deep, coarse)
        ce_shallow = self.coarse_ce(shallow, coarse)
        queue = valid = None
        if self._momentum:
            with torch.no_grad():
                (keys,) = self._momentum[0](batch["inputs"], [self.encoder.n_layers])
            queue, valid = self.queues.lookup(coarse)
            self._pending = (keys.float(), coarse)
        contrast = weighted_self_contrastive_loss(
            deep,
            shallow,
            coarse,
            queue,
            valid,
            tau=cfg.tau,
            alpha_diff=cfg.alpha_diff,
            alpha_same=cfg.alpha_same,
            alpha_m=cfg.alpha_m,
            denominator=cfg.denominator,
        )
        loss = ce_deep + cfg.gamma1 * ce_shallow + cfg.gamma2 * contrast
        return {"loss": loss, "ce_deep": ce_deep, "ce_shallow": ce_shallow, "contrast": contrast}

    @torch.no_grad()
    def after_step(self, step: int) -> None:
        if not self._momentum:
            return
        ema_update(self._momentum[0], self.encoder, self.config.momentum)
        if self._pending is not None:
            self.queues.push(*self._pending)
            self._pending = None

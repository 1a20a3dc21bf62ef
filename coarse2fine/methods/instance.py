"""Instance-contrastive baselines of the HWSCL comparison (its Table 2): SimCSE and Delete One
Word. Two views of each row (dropout noise, or one word deleted; for vectors, masking and
noise), NT-Xent over the batch, and optionally coarse cross-entropy ("+ CE")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from coarse2fine.augment import ViewMaker
from coarse2fine.encoders import input_kind
from coarse2fine.losses.contrastive import nt_xent
from coarse2fine.methods.base import CoarseCE, Method, MethodConfig

# Training defaults of the contrastive methods, not tuned on MiniLM yet: one epoch at FALCON's
# encoder lr (at the HWSCL default 2e-6 the encoder would stay where it started: the unsupervised
# row)
CONTRASTIVE_DEFAULTS = {"text": {"epochs": 1, "lr": 1e-5}, "vectors": {"epochs": 50, "lr": 1e-3}}


def default_view(encoder: nn.Module, text_view: str) -> str:
    """The method's own view for text, SimCLR's for images, masking and noise for vectors."""
    return {"text": text_view, "images": "simclr", "vectors": "mask+noise"}[input_kind(encoder)]


@dataclass
class InstanceContrastConfig(MethodConfig):
    view: str | None = None  # None: the method's text view, "mask+noise" for vectors
    tau: float = 0.05  # SimCSE's temperature
    ce_weight: float = 0.0  # > 0: add coarse cross-entropy ("+ CE" rows)
    dropout: float = 0.1

    def __post_init__(self) -> None:
        if self.tau <= 0:
            raise ValueError(f"tau must be positive, got {self.tau}")
        if self.ce_weight < 0:
            raise ValueError(f"ce_weight must be >= 0, got {self.ce_weight}")


class InstanceContrast(CoarseCE, Method):
    """NT-Xent between two views of every row of the batch (+ coarse CE when asked)."""

    defaults = CONTRASTIVE_DEFAULTS
    Config = InstanceContrastConfig
    text_view: ClassVar[str] = "dropout"

    def __init__(self, encoder, n_coarse, config=None, n_fine=None, *, seed: int = 0):
        super().__init__(encoder, n_coarse, config, n_fine, seed=seed)
        self.add_coarse_head(self.config.dropout)
        self._views: ViewMaker | None = None

    def on_fit_start(self, data, total_steps: int) -> None:
        kind = self.config.view or default_view(self.encoder, self.text_view)
        self._views = ViewMaker(self.encoder, data.inputs, kind, seed=self.seed)

    def training_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        top = self.encoder.n_layers
        (first,) = self.encoder(batch["inputs"], [top])
        (second,) = self.encoder(self._views.view(batch), [top])
        contrast = nt_xent(first, second, self.config.tau)
        parts = {"contrast": contrast}
        loss = contrast
        if self.ce_weight > 0:
            ce = self.coarse_ce(first, batch["coarse"])
            parts["ce"] = ce
            loss = loss + self.ce_weight * ce
        return {"loss": loss, **parts}


class SimCSE(InstanceContrast):
    """SimCSE (Gao et al., 2021): the same text twice, the dropout noise making the views."""

    text_view = "dropout"


class DeleteOneWord(InstanceContrast):
    """Delete One Word (Wu et al., 2020): the second view misses one word."""

    text_view = "delete_word"


# "+ CE" rows of the HWSCL table: the same methods with the coarse cross-entropy on by default
SimCSECE = SimCSE.plus_ce("SimCSECE")
DeleteOneWordCE = DeleteOneWord.plus_ce("DeleteOneWordCE")

"""Pure loss functions, one file per family."""

from __future__ import annotations

from coarse2fine.losses.contrastive import weighted_self_contrastive_loss

__all__ = ["weighted_self_contrastive_loss"]

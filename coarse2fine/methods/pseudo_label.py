"""Pseudo-label baselines of the HWSCL comparison (its Table 2): DeepCluster and DeepAligned.

Before every epoch all rows are embedded and clustered by K-Means into K = n_fine groups; the
epoch trains a classifier head (and the encoder) with cross-entropy on those cluster ids.
- DeepCluster (Caron et al., ECCV 2018): the head is re-initialised every epoch, since cluster
  ids carry no meaning from one clustering to the next.
- DeepAligned (Zhang et al., AAAI 2021): the head is kept; instead the new clusters are renamed
  to the previous epoch's by a Hungarian match of their centres (smallest total distance), so
  a cluster keeps its id and the head its meaning.
"+ CE" variants add the coarse cross-entropy on a separate coarse head.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment

from coarse2fine.cluster.kmeans import kmeans, l2_normalize
from coarse2fine.methods.base import CoarseCE, CoarseHead, Method, MethodConfig
from coarse2fine.methods.instance import CONTRASTIVE_DEFAULTS


@dataclass
class PseudoLabelConfig(MethodConfig):
    ce_weight: float = 0.0  # > 0: add coarse cross-entropy ("+ CE")
    n_init: int = 3  # K-Means restarts per epoch
    dropout: float = 0.1

    def __post_init__(self) -> None:
        if self.ce_weight < 0:
            raise ValueError(f"ce_weight must be >= 0, got {self.ce_weight}")
        if self.n_init < 1:
            raise ValueError(f"n_init must be >= 1, got {self.n_init}")


def align_to_previous(new_centres: np.ndarray, old_centres: np.ndarray) -> np.ndarray:
    """DeepAligned's renaming: ``mapping[new_id] = old_id`` minimising the summed distance
    between matched centres (Hungarian)."""
    cost = np.linalg.norm(new_centres[:, None, :] - old_centres[None, :, :], axis=2)
    rows, cols = linear_sum_assignment(cost)
    mapping = np.empty(len(new_centres), dtype=np.int64)
    mapping[rows] = cols
    return mapping


class PseudoLabel(CoarseCE, Method):
    """K-Means pseudo-labels each epoch, cross-entropy on them (see the module docstring)."""

    Config = PseudoLabelConfig
    defaults = CONTRASTIVE_DEFAULTS
    align = False
    needs_k = True  # K pseudo-labels and a K-way head

    def __init__(self, encoder, n_coarse, config=None, n_fine=None, *, seed: int = 0):
        super().__init__(encoder, n_coarse, config, n_fine, seed=seed)
        if n_fine is None:
            raise ValueError(f"{type(self).__name__} clusters into a known K: give n_fine")
        self.fine_head = CoarseHead(encoder.dim, n_fine, self.config.dropout)
        self.add_coarse_head(self.config.dropout)
        self._pseudo: torch.Tensor | None = None
        self._centres: np.ndarray | None = None

    def on_epoch_start(self, epoch: int, data) -> None:
        device = self.fine_head.classifier.weight.device
        features = l2_normalize(self.over_rows(data, self.embed, device))
        seed = (self.seed + epoch) % (2**31)
        k = min(self.n_fine, len(features))
        labels, centres = kmeans(features, k, seed=seed, n_init=self.config.n_init)
        if self.align and self._centres is not None:
            mapping = align_to_previous(centres, self._centres)
            labels, centres = mapping[labels], centres[np.argsort(mapping)]
        elif not self.align:  # DeepCluster: ids mean nothing across epochs, start afresh
            for layer in (self.fine_head.dense, self.fine_head.classifier):
                layer.reset_parameters()
        self._centres = centres
        self._pseudo = torch.as_tensor(labels, dtype=torch.long, device=device)

    def training_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        (deep,) = self.encoder(batch["inputs"], [self.encoder.n_layers])
        pseudo = F.cross_entropy(self.fine_head(deep).float(), self._pseudo[batch["index"]])
        parts = {"pseudo": pseudo}
        loss = pseudo
        if self.ce_weight > 0:
            ce = self.coarse_ce(deep, batch["coarse"])
            loss = loss + self.ce_weight * ce
            parts["ce"] = ce
        return {"loss": loss, **parts}


class DeepCluster(PseudoLabel):
    align = False


class DeepAligned(PseudoLabel):
    align = True


# "+ CE" rows of the HWSCL table: the coarse cross-entropy on by default
DeepClusterCE = DeepCluster.plus_ce("DeepClusterCE")
DeepAlignedCE = DeepAligned.plus_ce("DeepAlignedCE")

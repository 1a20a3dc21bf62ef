"""MLP encoder for plain feature vectors (expression profiles, image embeddings, ...).

It satisfies the same small interface as the text encoder (prepare / lengths / collate /
forward(inputs, layers) / save_architecture / from_architecture), so every method and the one
training loop work on vectors unchanged. The default shape, 4 layers of 64, is FALCON's
single-cell setting (docs/FALCON.md). Inputs are standardised with the training rows'
mean and standard deviation, held as buffers so they are saved with the weights.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from coarse2fine.data.dataset import InputError
from coarse2fine.distributed import shard_forward

MLP_SPEC = re.compile(r"^mlp(?::(\d+)x(\d+))?$")


def parse_mlp_spec(name: str) -> tuple[int, int] | None:
    """ "mlp" -> (64, 4); "mlp:128x3" -> (128, 3); anything else -> None (not an MLP name)."""
    match = MLP_SPEC.match(name)
    if match is None:
        if name == "mlp" or name.startswith("mlp:"):
            raise InputError(
                f"encoder {name!r}: an MLP is written 'mlp' or 'mlp:WIDTHxDEPTH' (e.g. mlp:128x3)"
            )
        return None
    if match.group(1) is None:
        return 64, 4
    width, depth = int(match.group(1)), int(match.group(2))
    if width < 1 or depth < 1:
        raise InputError(f"encoder {name!r}: width and depth must be >= 1 (e.g. mlp:64x4)")
    return width, depth


class MLPEncoder(nn.Module):
    """``depth`` blocks Linear -> LayerNorm -> ReLU of ``width`` units, the last without them.

    Layer 0 is the standardised input, layer ``n_layers`` the output of the last block; every
    layer from 1 on has ``width`` units, so HWSCL can contrast any two of them.
    """

    def __init__(self, in_dim: int, width: int = 64, depth: int = 4) -> None:
        super().__init__()
        self.pretrained = False  # random weights: neighbours are mined in the input space
        if in_dim < 1:
            raise InputError(f"vectors need at least one column, got {in_dim}")
        self.in_dim, self.width = int(in_dim), int(width)
        self.n_layers, self.dim = int(depth), int(width)
        self.register_buffer("mean", torch.zeros(in_dim))
        self.register_buffer("scale", torch.ones(in_dim))
        blocks = []
        for i in range(depth):
            layers: list[nn.Module] = [nn.Linear(in_dim if i == 0 else width, width)]
            if i < depth - 1:
                layers += [nn.LayerNorm(width), nn.ReLU()]
            blocks.append(nn.Sequential(*layers))
        self.blocks = nn.ModuleList(blocks)

    @classmethod
    def for_data(
        cls, vectors: np.ndarray, width: int = 64, depth: int = 4, seed: int = 0
    ) -> MLPEncoder:
        """A freshly initialised MLP whose input standardisation is fitted on ``vectors``."""
        vectors = np.asarray(vectors, dtype=np.float64)
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            encoder = cls(vectors.shape[1], width, depth)
        std = vectors.std(axis=0)
        encoder.mean.copy_(torch.from_numpy(vectors.mean(axis=0)).float())
        encoder.scale.copy_(torch.from_numpy(np.where(std > 0, std, 1.0)).float())
        return encoder

    # -- data side -----------------------------------------------------------------------------
    def prepare(self, vectors: np.ndarray) -> np.ndarray:
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self.in_dim:
            raise InputError(
                f"this model takes vectors of {self.in_dim} columns, got shape {vectors.shape}"
            )
        return vectors

    @staticmethod
    def lengths(prepared: np.ndarray) -> np.ndarray:
        return np.ones(len(prepared), dtype=np.int64)  # all rows cost the same

    def collate(self, prepared: np.ndarray, index: np.ndarray) -> dict[str, torch.Tensor]:
        return {"x": torch.from_numpy(prepared[np.asarray(index)])}

    # -- model side ----------------------------------------------------------------------------
    def forward(self, inputs: dict[str, torch.Tensor], layers: Sequence[int]) -> list[torch.Tensor]:
        """Features of ``layers`` for every row (split across ranks in distributed training:
        ``coarse2fine.distributed``)."""
        return shard_forward(self._forward, inputs, layers)

    def _forward(self, inputs: dict[str, torch.Tensor], layers: Sequence[int]) -> list:
        for layer in layers:
            if not 0 <= layer <= self.n_layers:
                raise ValueError(f"layer {layer} outside 0..{self.n_layers}")
        h = (inputs["x"] - self.mean) / self.scale
        states = [h]
        for block in self.blocks[: max(layers)]:
            h = block(h)
            states.append(h)
        return [states[layer] for layer in layers]

    # -- persistence ---------------------------------------------------------------------------
    def save_architecture(self, directory: Path) -> dict:
        """Everything but the weights fits in the spec (weights go in the method's safetensors)."""
        return {"kind": "mlp", "in_dim": self.in_dim, "width": self.width, "depth": self.n_layers}

    @classmethod
    def from_architecture(cls, directory: Path, spec: dict) -> MLPEncoder:
        return cls(int(spec["in_dim"]), int(spec["width"]), int(spec["depth"]))

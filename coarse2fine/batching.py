"""Rows as encoder inputs, batches of them, and per-row outputs of a module over all rows.

This module sits below ``methods/`` and ``train.py``: methods use it to encode the training rows
(FALCON's neighbours, HCSC's key bank, the pseudo-labels of DeepCluster), the loop uses it to
cut batches, and the estimator to collect features and logits. It imports no method and no loop.

Batches are length-bucketed for training (dynamic padding): rows are shuffled, cut into pools
of 50 batches, each pool sorted by length and cut into batches, and the batch order shuffled,
so short texts do not pay for long ones while batches stay random in content. Inference uses
length-sorted batches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

POOL_BATCHES = 50


@dataclass
class Prepared:
    """Rows turned into encoder inputs once (token ids), with lengths and coarse codes."""

    inputs: Any
    lengths: np.ndarray
    coarse: np.ndarray

    def __len__(self) -> int:
        return len(self.lengths)

    def subset(self, rows: np.ndarray) -> Prepared:
        """The chosen rows, in that order (token lists or a matrix)."""
        inputs = (
            [self.inputs[i] for i in rows] if isinstance(self.inputs, list) else self.inputs[rows]
        )
        return Prepared(inputs, self.lengths[rows], self.coarse[rows])


def proportional_sample(groups: np.ndarray, size: int, seed: int) -> np.ndarray:
    """``size`` row indices drawn without replacement, each group (coarse class) getting its
    share of ``size`` in proportion to its rows (largest remainders; at least one row per
    group when ``size`` allows), sorted."""
    groups = np.asarray(groups)
    names, counts = np.unique(groups, return_counts=True)
    size = int(min(max(size, 0), len(groups)))
    exact = counts * size / counts.sum()
    share = np.minimum(
        np.maximum(np.floor(exact).astype(np.int64), 1 if size >= len(names) else 0), counts
    )
    order = np.argsort(-(exact - np.floor(exact)), kind="stable")
    while share.sum() < size:  # hand out what rounding left, largest remainder first
        for g in order:
            if share.sum() == size:
                break
            if share[g] < counts[g]:
                share[g] += 1
    while share.sum() > size:  # the one-row floor overshot: take back from the largest shares
        share[np.argmax(share)] -= 1
    rng = np.random.default_rng(seed)
    picked = [
        rng.choice(np.flatnonzero(groups == name), size=int(n), replace=False)
        for name, n in zip(names, share, strict=True)
    ]
    return np.sort(np.concatenate(picked)).astype(np.int64)


def prepare(encoder, data) -> Prepared:
    """Tokenise (or convert) every row once; batches are padded later, per batch."""
    rows = {"text": data.texts, "images": data.images, "vectors": data.vectors}[data.kind]
    inputs = encoder.prepare(rows)
    return Prepared(inputs, encoder.lengths(inputs), data.coarse_ids)


def bucketed_batches(
    lengths: np.ndarray, batch_size: int, rng: np.random.Generator, drop_last: bool = False
) -> list[np.ndarray]:
    """Random batches of rows of similar length (see module docstring)."""
    order = rng.permutation(len(lengths))
    batches = []
    pool = batch_size * POOL_BATCHES
    for start in range(0, len(order), pool):
        chunk = order[start : start + pool]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    if drop_last:
        batches = [b for b in batches if len(b) == batch_size] or batches[:1]
    return [batches[i] for i in rng.permutation(len(batches))]


def sorted_batches(lengths: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Deterministic length-sorted batches for inference."""
    order = np.argsort(lengths, kind="stable")
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def make_batch(encoder, prepared: Prepared, index: np.ndarray, device: torch.device) -> dict:
    """The batch a method sees: padded encoder inputs, coarse codes and row indices."""
    inputs = {k: v.to(device) for k, v in encoder.collate(prepared.inputs, index).items()}
    return {
        "inputs": inputs,
        "coarse": torch.as_tensor(prepared.coarse[index], dtype=torch.long, device=device),
        "index": torch.as_tensor(index, dtype=torch.long, device=device),
    }


PRECISIONS = ("auto", "bf16", "fp32")


@lru_cache(maxsize=8)
def _native_bf16(device: torch.device) -> bool:
    """Whether ``device`` runs bfloat16 matmuls in hardware: CUDA with bf16, or a CPU for which
    oneDNN reports bf16 support (x86 from AVX512 on, AMX; Arm with bf16). On an AVX2-only CPU,
    as most laptops and many AMD servers, bf16 autocast is emulated: 56x slower than float32
    on a MiniLM-sized matmul (bench/precision.py; docs/DEFAULTS.md, "Precision")."""
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device.type != "cpu":
        return False
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a torch build without oneDNN
        return False


def native_bf16(device: str | torch.device) -> bool:
    return _native_bf16(torch.device(device))


def resolve_precision(precision: str, device: str | torch.device) -> str:
    """ "auto" -> "bf16" where the device has native bf16, else "fp32"; others unchanged."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "auto":
        return "bf16" if native_bf16(device) else "fp32"
    return precision


def autocast(precision: str, device: torch.device):
    if resolve_precision(precision, device) == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return nullcontext()


@contextmanager
def evaluating(module: nn.Module) -> Iterator[nn.Module]:
    """``module`` in eval mode for the block; every submodule's own mode is restored after."""
    modes = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        yield module
    finally:
        for m, training in modes:
            m.training = training


@torch.no_grad()
def map_rows(
    module: nn.Module,
    prepared: Prepared,
    step: Callable[[dict[str, torch.Tensor]], torch.Tensor | None],
    *,
    batch_size: int = 256,
    precision: str = "auto",
    device: str | torch.device = "cpu",
    progress: bool = True,
) -> np.ndarray | None:
    """``step(batch)`` for every row, as one float32 array in the rows' original order.

    ``module`` (whose ``encoder`` collates the inputs) runs in eval mode and gets its modes back
    afterwards. A step that returns None (a capability the method lacks, e.g. ``coarse_logits``
    without a trained head) makes the result None.
    """
    device = torch.device(device)
    module.to(device)
    out: np.ndarray | None = None
    batches = sorted_batches(prepared.lengths, batch_size)
    with evaluating(module):
        for index in tqdm(
            batches, desc="encoding", unit="batch", disable=not progress, leave=False
        ):
            batch = make_batch(module.encoder, prepared, index, device)
            with autocast(precision, device):
                result = step(batch)
            if result is None:
                return None
            values = result.float().cpu().numpy()
            if out is None:
                out = np.empty((len(prepared), values.shape[1]), dtype=np.float32)
            out[index] = values
    return out if out is not None else np.empty((0, 0), dtype=np.float32)


@dataclass(frozen=True)
class Inference:
    """How per-row outputs are computed (batch size, precision, device, progress bar); handed to
    the methods' ``discover`` so a method that classifies runs its model as the estimator would."""

    batch_size: int = 256
    precision: str = "auto"
    device: str = "cpu"
    progress: bool = False

    def map(
        self,
        module: nn.Module,
        prepared: Prepared,
        step: Callable[[dict[str, torch.Tensor]], torch.Tensor | None],
    ) -> np.ndarray | None:
        return map_rows(
            module,
            prepared,
            step,
            batch_size=self.batch_size,
            precision=self.precision,
            device=self.device,
            progress=self.progress,
        )


def embed(method: nn.Module, prepared: Prepared, **options: Any) -> np.ndarray:
    """Discovery features (``method.embed``) of every row; ``options`` as for ``map_rows``."""
    return map_rows(method, prepared, method.embed, **options)

"""Input data: the CoarseDataset container, file readers and the built-in benchmark datasets."""

from __future__ import annotations

from coarse2fine.data.builtin import BUILTIN_DATASETS, load_dataset
from coarse2fine.data.dataset import CoarseDataset, InputError
from coarse2fine.data.readers import iter_table, read_npy, read_table

__all__ = [
    "BUILTIN_DATASETS",
    "CoarseDataset",
    "InputError",
    "load_dataset",
    "read_npy",
    "iter_table",
    "read_table",
]

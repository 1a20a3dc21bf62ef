"""coarse2fine: discover fine-grained categories inside coarse-labelled data."""

from __future__ import annotations

from coarse2fine.data import CoarseDataset, InputError, load_dataset, read_table
from coarse2fine.discoverer import Discoverer
from coarse2fine.methods import METHODS
from coarse2fine.metrics import clustering_scores as evaluate

__version__ = "0.1.0"

__all__ = [
    "METHODS",
    "CoarseDataset",
    "Discoverer",
    "InputError",
    "evaluate",
    "load_dataset",
    "read_table",
]

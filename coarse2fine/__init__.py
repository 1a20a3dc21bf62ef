"""coarse2fine: discover fine-grained categories inside coarse-labelled data."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# The public names load on first use, so that importing a light submodule (coarse2fine.io,
# coarse2fine.data) does not import torch and the training code behind Discoverer.
_PUBLIC = {
    "CoarseDataset": ("coarse2fine.data", "CoarseDataset"),
    "InputError": ("coarse2fine.data", "InputError"),
    "load_dataset": ("coarse2fine.data", "load_dataset"),
    "read_table": ("coarse2fine.data", "read_table"),
    "Discoverer": ("coarse2fine.discoverer", "Discoverer"),
    "METHODS": ("coarse2fine.methods", "METHODS"),
    "evaluate": ("coarse2fine.metrics", "clustering_scores"),
}

__all__ = [
    "METHODS",
    "CoarseDataset",
    "Discoverer",
    "InputError",
    "evaluate",
    "load_dataset",
    "read_table",
]

if TYPE_CHECKING:
    from coarse2fine.data import CoarseDataset, InputError, load_dataset, read_table
    from coarse2fine.discoverer import Discoverer
    from coarse2fine.methods import METHODS
    from coarse2fine.metrics import clustering_scores as evaluate


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        try:  # a submodule (coarse2fine.metrics, ...), as attribute access found it before
            return importlib.import_module(f"coarse2fine.{name}")
        except ModuleNotFoundError as err:
            if err.name != f"coarse2fine.{name}":  # the submodule exists, a dependency is missing
                raise
            raise AttributeError(f"module 'coarse2fine' has no attribute {name!r}") from None
    module, attribute = _PUBLIC[name]
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_PUBLIC])

"""The method registry: name -> Method subclass. Adding a method = one file + one line here."""

from __future__ import annotations

from coarse2fine.methods.base import Method, MethodConfig
from coarse2fine.methods.baselines import CoarseSupervised, Unsupervised
from coarse2fine.methods.falcon import FALCON
from coarse2fine.methods.hwscl import HWSCL

METHODS: dict[str, type[Method]] = {
    "hwscl": HWSCL,
    "unsupervised": Unsupervised,
    "coarse_supervised": CoarseSupervised,
    "falcon": FALCON,
}

__all__ = ["METHODS", "Method", "MethodConfig"]

"""The method registry: name -> Method subclass. Adding a method = one file + one line here."""

from __future__ import annotations

from coarse2fine.methods.ancor import Ancor, AncorCE
from coarse2fine.methods.base import Method, MethodConfig
from coarse2fine.methods.baselines import CoarseSupervised, Unsupervised
from coarse2fine.methods.cd import ContrastiveDisentangling
from coarse2fine.methods.falcon import FALCON
from coarse2fine.methods.hcsc import HCSC, HCSCCE
from coarse2fine.methods.hwscl import HWSCL
from coarse2fine.methods.instance import DeleteOneWord, DeleteOneWordCE, SimCSE, SimCSECE
from coarse2fine.methods.neighbours import DNA, DOWN
from coarse2fine.methods.pseudo_label import (
    DeepAligned,
    DeepAlignedCE,
    DeepCluster,
    DeepClusterCE,
)

METHODS: dict[str, type[Method]] = {
    "hwscl": HWSCL,
    "unsupervised": Unsupervised,
    "coarse_supervised": CoarseSupervised,
    "falcon": FALCON,
    "hcsc": HCSC,
    "hcsc_ce": HCSCCE,
    "cd": ContrastiveDisentangling,
    "simcse": SimCSE,
    "delete_one_word": DeleteOneWord,
    "simcse_ce": SimCSECE,
    "delete_one_word_ce": DeleteOneWordCE,
    "deepcluster": DeepCluster,
    "deepcluster_ce": DeepClusterCE,
    "deepaligned": DeepAligned,
    "deepaligned_ce": DeepAlignedCE,
    "ancor": Ancor,
    "ancor_ce": AncorCE,
    "dna": DNA,
    "down": DOWN,
}

__all__ = ["METHODS", "Method", "MethodConfig"]

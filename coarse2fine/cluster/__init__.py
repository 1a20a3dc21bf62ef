"""Clustering of discovery features into fine categories."""

from __future__ import annotations

from coarse2fine.cluster.kmeans import (
    faiss_available,
    group_mask,
    kmeans,
    l2_normalize,
    nearest_centre,
)
from coarse2fine.cluster.nested import Clustering, allocate_by_size, discover, majority_parents

__all__ = [
    "Clustering",
    "allocate_by_size",
    "discover",
    "faiss_available",
    "group_mask",
    "kmeans",
    "l2_normalize",
    "majority_parents",
    "nearest_centre",
]

"""Estimating the number of fine categories per coarse class (HDBSCAN inside each class)."""

from __future__ import annotations

import numpy as np
import pytest

from coarse2fine.cluster.estimate_k import estimate_counts
from coarse2fine.data.synthetic import make_hierarchical_blobs


def test_counts_follow_the_dense_groups_in_each_coarse_class():
    data = make_hierarchical_blobs((4, 2, 1, 3), rows_per_fine=30, dim=8, seed=0)
    counts = estimate_counts(data.vectors, data.coarse_ids, min_size=10)
    assert counts.tolist() == [4, 2, 1, 3]


def test_a_class_too_small_for_two_groups_counts_one():
    data = make_hierarchical_blobs((3,), rows_per_fine=5, dim=8, seed=0)
    assert estimate_counts(data.vectors, data.coarse_ids, min_size=10).tolist() == [1]


def test_without_coarse_labels_all_rows_form_one_class():
    data = make_hierarchical_blobs((2, 2), rows_per_fine=30, dim=8, seed=1)
    assert estimate_counts(data.vectors, min_size=10).tolist() == [4]


def test_min_size_is_checked():
    with pytest.raises(ValueError, match="min_size must be >= 2"):
        estimate_counts(np.zeros((4, 2)), min_size=1)

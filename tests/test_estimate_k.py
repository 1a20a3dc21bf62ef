"""Estimating the number of fine categories per coarse class (HDBSCAN inside each class)."""

from __future__ import annotations

import numpy as np
import pytest

from coarse2fine.cluster.estimate_k import estimate_counts
from coarse2fine.data.synthetic import make_hierarchical_blobs


def test_counts_follow_the_dense_groups_in_each_coarse_class():
    data = make_hierarchical_blobs((4, 2, 1, 3), rows_per_fine=30, dim=8, seed=0)
    counts = estimate_counts(data.vectors, data.coarse_ids, min_size=10, split="density")
    assert counts.tolist() == [4, 2, 1, 3]
    # by default only the total is kept and shared by class size (here: rows = 30 per class)
    assert estimate_counts(data.vectors, data.coarse_ids, min_size=10).tolist() == [4, 2, 1, 3]


def test_size_split_shares_the_total_by_rows():
    """Class a: 3 groups in 60 rows; class b: 2 groups in 120 rows. Density counts 3 and 2; the
    size split keeps the total 5 and shares it by rows: 5 x 60/180 = 1.7 and 3.3 -> 2 and 3."""
    a = make_hierarchical_blobs((3,), rows_per_fine=20, dim=8, seed=0).vectors
    b = make_hierarchical_blobs((2,), rows_per_fine=60, dim=8, seed=1).vectors
    x, coarse = np.concatenate([a, b]), np.repeat([0, 1], [60, 120])
    assert estimate_counts(x, coarse, min_size=10, split="density").tolist() == [3, 2]
    assert estimate_counts(x, coarse, min_size=10).tolist() == [2, 3]


def test_a_class_too_small_for_two_groups_counts_one():
    data = make_hierarchical_blobs((3,), rows_per_fine=5, dim=8, seed=0)
    assert estimate_counts(data.vectors, data.coarse_ids, min_size=10).tolist() == [1]


def test_without_coarse_labels_all_rows_form_one_class():
    data = make_hierarchical_blobs((2, 2), rows_per_fine=30, dim=8, seed=1)
    assert estimate_counts(data.vectors, min_size=10).tolist() == [4]


def test_options_are_checked():
    with pytest.raises(ValueError, match="min_size must be >= 2"):
        estimate_counts(np.zeros((4, 2)), min_size=1)
    with pytest.raises(ValueError, match="split must be one of"):
        estimate_counts(np.zeros((4, 2)), split="even")

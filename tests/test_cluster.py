"""Discovery clustering: allocation of K over coarse classes, nesting, nearest centre."""

from __future__ import annotations

import numpy as np
import pytest

from coarse2fine.cluster import allocate_by_size, discover, group_mask, kmeans, nearest_centre
from coarse2fine.cluster.nested import partition
from coarse2fine.data import InputError


def test_allocation_proportional_to_size():
    assert allocate_by_size(np.array([100, 100]), 10).tolist() == [5, 5]
    # shares 9 * 61/82 = 6.70 and 9 * 21/82 = 2.30: floors 6 + 2, the last one goes to the
    # larger remainder (0.70)
    assert allocate_by_size(np.array([61, 21]), 9).tolist() == [7, 2]
    # sizes 180, 120, 240, 60, 120 hold 3, 2, 4, 1, 2 equal-sized fine classes: recovered
    assert allocate_by_size(np.array([180, 120, 240, 60, 120]), 12).tolist() == [3, 2, 4, 1, 2]


def test_allocation_minimum_of_one_is_taken_from_the_largest_share():
    # shares 0.1, 0.1, 3.8: both small groups get their one, the large one gives up one
    assert allocate_by_size(np.array([1, 1, 38]), 4).tolist() == [1, 1, 2]


def test_allocation_respects_small_groups():
    alloc = allocate_by_size(np.array([2, 50]), 10)
    assert alloc.sum() == 10 and alloc[0] <= 2 and alloc.min() >= 1


def test_allocation_needs_one_per_group():
    with pytest.raises(InputError, match="cannot cover 3 coarse classes"):
        allocate_by_size(np.array([5, 5, 5]), 2)


def blobs(seed=0):
    rng = np.random.default_rng(seed)
    centres = np.array([[0, 0], [10, 0], [0, 10], [10, 10]], dtype=np.float32)
    x = np.concatenate([c + rng.normal(0, 0.5, (20, 2)) for c in centres]).astype(np.float32)
    truth = np.repeat(np.arange(4), 20)
    coarse = np.repeat([0, 0, 1, 1], 20)
    return x, truth, coarse


def test_nested_discovery_recovers_blobs_inside_coarse_classes():
    x, truth, coarse = blobs()
    result = discover(x, 4, coarse=coarse, nested=True, seed=0)
    assert result.n_clusters == 4
    assert sorted(result.parents.tolist()) == [0, 0, 1, 1]
    # every cluster lies inside one coarse class and matches one blob exactly
    for k in range(4):
        members = result.labels == k
        assert len(set(coarse[members])) == 1 and len(set(truth[members])) == 1


def test_global_discovery_sets_majority_parents():
    x, truth, coarse = blobs()
    result = discover(x, 4, coarse=coarse, nested=False, seed=0)
    for k in range(4):
        assert result.parents[k] == coarse[result.labels == k][0]


def test_same_seed_same_assignment():
    x, _, coarse = blobs(1)
    a = discover(x, 4, coarse=coarse, seed=7).labels
    b = discover(x, 4, coarse=coarse, seed=7).labels
    assert np.array_equal(a, b)


def test_kmeans_rejects_bad_k():
    x, _, _ = blobs()
    with pytest.raises(InputError, match="between 1 and the 80 rows, got 0"):
        kmeans(x, 0)
    with pytest.raises(InputError, match="got 81"):
        kmeans(x, 81)


def test_nearest_centre():
    centres = np.array([[0.0, 0.0], [5.0, 5.0]], dtype=np.float32)
    x = np.array([[0.1, -0.2], [4.0, 6.0], [3.0, 3.0]], dtype=np.float32)
    assert nearest_centre(x, centres).tolist() == [0, 1, 1]


def test_nearest_centre_inside_groups():
    centres = np.array([[0.0, 0.0], [5.0, 5.0], [10.0, 10.0]], dtype=np.float32)
    centre_groups = np.array([0, 1, 1])
    x = np.array([[0.1, 0.0], [4.0, 6.0], [9.0, 9.0], [6.0, 6.0]], dtype=np.float32)
    # row 0 sits on centre 0 but is of group 1: the closest of group 1 is centre 1;
    # row 1 is of group 0, which has centre 0 only; rows of group -1 or of a group with
    # no centre (7) may join any, so they take the overall nearest
    row_groups = np.array([1, 0, -1, 7])
    assert group_mask(row_groups, centre_groups).tolist() == [
        [False, True, True],
        [True, False, False],
        [True, True, True],
        [True, True, True],
    ]
    got = nearest_centre(x, centres, row_groups=row_groups, centre_groups=centre_groups)
    assert got.tolist() == [1, 0, 2, 1]
    with pytest.raises(ValueError, match="both row_groups and centre_groups"):
        nearest_centre(x, centres, row_groups=row_groups)


def test_kmeans_auto_is_sklearn_below_the_faiss_threshold():
    """faiss seeds at random; below FAISS_MIN_ROWS "auto" must give sklearn's k-means++ result
    whether faiss is installed or not."""
    from coarse2fine.cluster.kmeans import FAISS_MIN_ROWS

    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(c, 0.1, size=(n, 4)) for c, n in ((0, 200), (3, 20), (6, 5))])
    assert len(x) < FAISS_MIN_ROWS
    auto, _ = kmeans(x.astype(np.float32), 3, seed=0, backend="auto")
    sk, _ = kmeans(x.astype(np.float32), 3, seed=0, backend="sklearn")
    assert (auto == sk).all()
    assert len(np.unique(auto[-5:])) == 1 and len(np.unique(auto[200:220])) == 1


def test_ward_clusters_rows_at_unit_length_and_keeps_groups_of_unequal_size():
    """ "ward" is Ward linkage on the rows scaled to unit length: rows pointing one way belong
    together whatever their norm (on the raw rows Ward would split the long ones off), and a
    group of 40 keeps its rows beside groups of 3 and 4."""
    from sklearn.cluster import AgglomerativeClustering

    from coarse2fine.metrics import cluster_acc

    rng = np.random.default_rng(0)
    angles = np.concatenate([rng.normal(0.0, 0.05, 40), rng.normal(1.2, 0.02, 3), [2.4] * 4])
    norms = np.where(np.arange(47) % 2 == 0, 1.0, 30.0)  # half the rows 30 times longer
    rows = (norms[:, None] * np.c_[np.cos(angles), np.sin(angles)]).astype(np.float32)
    truth = np.array([0] * 40 + [1] * 3 + [2] * 4)
    labels, centres = partition(rows, 3, "ward", seed=0, n_init=10)
    assert cluster_acc(truth, labels) == 100.0
    assert centres.shape == (3, 2) and np.allclose(np.linalg.norm(centres, axis=1), 1.0)
    raw = AgglomerativeClustering(3, linkage="ward").fit_predict(rows)
    assert cluster_acc(truth, raw) < 100.0  # what the scaling is for


def test_size_spread_is_std_over_mean_of_the_group_sizes():
    from coarse2fine.cluster.nested import size_spread

    assert size_spread(np.array([0, 0, 1, 1, 2, 2])) == 0.0
    assert size_spread(np.array([5, 5, 5, 9])) == 0.5  # sizes 3 and 1: std 1, mean 2
    assert size_spread(np.array([7, 7])) == 0.0  # one group


def test_the_layout_is_cut_by_ward_only_where_spectral_groups_come_out_unequal(monkeypatch):
    """Equal groups keep spectral clustering refined by K-Means; groups of 40, 3 and 4 spread
    beyond UNEQUAL_SPREAD whatever the cut finds, and get Ward linkage's partition."""
    from coarse2fine.cluster import nested

    rng = np.random.default_rng(1)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    equal = np.vstack([c + rng.normal(0, 0.5, (15, 2)) for c in centres])
    labels = nested.cut_layout(equal, 3, seed=0)
    spectral = nested.refine_by_kmeans(equal, nested.spectral_labels(equal, 3, 0))
    assert np.array_equal(labels, spectral)
    unequal = np.vstack(
        [c + rng.normal(0, 0.5, (n, 2)) for c, n in zip(centres, (40, 3, 4), strict=True)]
    )
    truth = np.repeat([0, 1, 2], (40, 3, 4))
    calls = []
    ward = nested.ward_labels
    monkeypatch.setattr(nested, "ward_labels", lambda p, k: calls.append(len(p)) or ward(p, k))
    assert nested.cut_layout(equal, 3, seed=0) is not None and calls == []
    labels = nested.cut_layout(unequal, 3, seed=0)
    assert calls == [47] and np.array_equal(labels, ward(unequal, 3))
    from coarse2fine.metrics import cluster_acc

    assert cluster_acc(truth, labels) == 100.0
    monkeypatch.setattr(nested, "UNEQUAL_SPREAD", np.inf)  # the switch off: spectral's groups
    off = nested.cut_layout(unequal, 3, seed=0)
    assert np.array_equal(
        off, nested.refine_by_kmeans(unequal, nested.spectral_labels(unequal, 3, 0))
    )


def test_ward_refuses_more_rows_than_its_distance_matrix_allows(monkeypatch):
    from coarse2fine.cluster import nested

    monkeypatch.setattr(nested, "WARD_MAX_ROWS", 50)
    rows = np.random.default_rng(0).normal(size=(51, 4)).astype(np.float32)
    with pytest.raises(InputError, match="51 rows need about 0 GB; it takes at most 50"):
        partition(rows, 3, "ward", seed=0, n_init=1)
    assert len(partition(rows[:50], 3, "ward", seed=0, n_init=1)[0]) == 50

"""Metrics against answers known in closed form."""

from __future__ import annotations

import numpy as np
import pytest

from coarse2fine.metrics import cluster_acc, clustering_scores, coarse_accuracy, contingency


def test_relabelled_perfect_clustering_scores_100():
    y = np.array([0, 0, 1, 1, 2, 2])
    scores = clustering_scores(y, np.array([5, 5, 3, 3, 9, 9]))
    assert scores == pytest.approx({"ACC": 100.0, "ARI": 100.0, "NMI": 100.0})


def test_acc_hand_example():
    # clusters {a,a,b}, {b,b,c}: best matching a->0, b->1 gives 2 + 2 = 4 of 6 right.
    y_true = ["a", "a", "b", "b", "b", "c"]
    y_pred = [0, 0, 0, 1, 1, 1]
    assert cluster_acc(y_true, y_pred) == pytest.approx(100 * 4 / 6)


def test_acc_rectangular_more_clusters_than_classes():
    # 3 clusters for 2 classes: the third cluster stays unmatched, its rows count as wrong.
    y_true = [0, 0, 0, 1, 1, 1]
    y_pred = [0, 0, 2, 1, 1, 1]
    assert cluster_acc(y_true, y_pred) == pytest.approx(100 * 5 / 6)
    assert contingency(y_true, y_pred).shape == (3, 2)


def test_acc_rectangular_fewer_clusters_than_classes():
    assert cluster_acc([0, 1, 2, 2], [0, 0, 0, 0]) == pytest.approx(50.0)


def test_ari_nmi_of_independent_split():
    # y_pred splits each class evenly: no information, ARI < 0 here and NMI = 0.
    scores = clustering_scores([0, 0, 1, 1], [0, 1, 0, 1])
    assert scores["NMI"] == pytest.approx(0.0, abs=1e-9)
    assert scores["ARI"] == pytest.approx(-50.0)


def test_coarse_accuracy_and_errors():
    assert coarse_accuracy(["x", "y", "y", "x"], ["x", "y", "x", "x"]) == pytest.approx(75.0)
    with pytest.raises(ValueError, match="2 true labels but 1 predictions"):
        cluster_acc([0, 1], [0])


def test_within_coarse_silhouette_against_hand_computed_values():
    """Class a: two pairs of identical directions, silhouette 1 each. Class c: cosine distances
    d12 = 0.4, d13 = 1, d23 = 0.2 with {1, 2} vs {3}: s1 = (1 - 0.4) / 1 = 0.6, s2 = (0.2 -
    0.4) / 0.4 = -0.5, s3 = 0 (alone), mean 0.1 / 3. Class b has one category: left out.
    Weighted by rows: (4 * 1 + 3 * 0.1 / 3) / 7."""
    from coarse2fine.metrics import within_coarse_silhouette

    features = [[1, 0], [1, 0], [0, 1], [0, 1], [1, 0], [0, 1], [1, 1], [1, 0], [0.6, 0.8], [0, 1]]
    labels = [0, 0, 1, 1, 2, 2, 2, 3, 3, 4]
    coarse = ["a"] * 4 + ["b"] * 3 + ["c"] * 3
    got = within_coarse_silhouette(features, labels, coarse)
    assert got == pytest.approx(100 * (4 + 0.1) / 7)
    assert np.isnan(within_coarse_silhouette(features[4:7], labels[4:7], coarse[4:7]))


def test_knn_agreement_against_hand_counted_votes():
    """k = 1. Class a: each row's nearest is its pair, same label: 4 of 4 agree (0 of 4 when
    the pairs are split). Class c: (1,0) and (0.8,0.6) are each other's nearest, both label 0;
    (0,1)'s nearest is (0.8,0.6), label 0, not its own 1: 2 of 3. Class b (2 rows) is left out."""
    from coarse2fine.metrics import knn_agreement

    a = [[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9]]
    features = a + [[1, 0], [0, 1]] + [[1, 0], [0.8, 0.6], [0, 2]]
    labels = [0, 0, 1, 1, 5, 6, 0, 0, 1]
    coarse = ["a"] * 4 + ["b"] * 2 + ["c"] * 3
    assert knn_agreement(features, labels, coarse, k=1) == pytest.approx(100 * 6 / 7)
    assert knn_agreement(a, [0, 1, 0, 1], ["a"] * 4, k=1) == 0.0
    assert np.isnan(knn_agreement(features[4:6], labels[4:6], coarse[4:6]))


def test_separable_categories_against_hand_counted_neighbours():
    """k = 1. Class a: categories 0 and 1 are pairs, each row's nearest its partner (kept); the
    lone row of 2 has no partner (not kept): 2. Class b: each row's nearest carries the other
    label: none kept, counted 1. Class c (2 rows): 1. Class d by angle: p 0, q 15, r 26, s 90,
    t 84 degrees; p -> q (own), q -> r (not): category 0 at exactly half, kept; r -> q (not),
    s <-> t (own): category 1 at 2 of 3, kept: 2."""
    from coarse2fine.metrics import separable_categories

    a = [[1, 0], [0.95, 0.05], [0, 1], [0.05, 0.95], [0.7, 0.7]]
    b = [[1, 0], [0.99, 0.1], [0, 1], [0.1, 0.99]]
    d = [[1, 0], [0.97, 0.26], [0.9, 0.44], [0, 1], [0.1, 1]]
    features = a + b + [[1, 0], [0, 1]] + d
    fine = [0, 0, 1, 1, 2] + [0, 1, 0, 1] + [0, 1] + [0, 0, 1, 1, 1]
    coarse = ["a"] * 5 + ["b"] * 4 + ["c"] * 2 + ["d"] * 5
    got = separable_categories(features, fine, coarse)
    assert got == {"a": 2, "b": 1, "c": 1, "d": 2}
    # the labels permuted inside class a: pairs split, no category is its own neighbourhood
    assert separable_categories(a, [0, 1, 0, 1, 2], ["a"] * 5) == {"a": 1}


def test_scores_by_coarse_against_hand_counted_matches():
    """Class a: 2 true, 3 found (one split), best match 1->x 2->y: 4 of 5. Class b: one row."""
    from coarse2fine.metrics import scores_by_coarse

    got = scores_by_coarse(["x", "x", "x", "y", "y", "z"], [1, 1, 3, 2, 2, 7], list("aaaaab"))
    assert got == {
        "a": {"rows": 5, "true": 2, "found": 3, "ACC": 80.0},
        "b": {"rows": 1, "true": 1, "found": 1, "ACC": 100.0},
    }
    with pytest.raises(ValueError, match="2 true labels, 2 predictions, 1 coarse labels"):
        scores_by_coarse([1, 2], [1, 2], [0])
    # with features: x rows about (1, 0), y rows about (0, 1), each row's nearest its own kind
    features = [[1, 0], [0.9, 0.1], [0.95, 0.05], [0, 1], [0.1, 0.9], [1, 1]]
    args = (["x", "x", "x", "y", "y", "z"], [1, 1, 3, 2, 2, 7], list("aaaaab"), features)
    got = scores_by_coarse(*args)
    assert (got["a"]["separable"], got["b"]["separable"]) == (2, 1)
    capped = scores_by_coarse(*args, separable_max_rows=4)  # class a's 5 rows are over it
    assert "separable" not in capped["a"] and capped["b"]["separable"] == 1

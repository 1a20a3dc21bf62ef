"""Estimating the number of fine categories per coarse class: each criterion's curve and choice."""

from __future__ import annotations

import numpy as np
import pytest

import coarse2fine.cluster.estimate_k as estimate_module
from coarse2fine.cluster.estimate_k import (
    CRITERIA,
    LAYOUT_AGREEMENT,
    LAYOUT_FLOOR,
    WEAK_GAP,
    ClassEstimate,
    best_gap,
    best_k,
    choose_by_scale,
    class_curve,
    communities,
    eigengaps,
    estimate_counts,
    estimate_k,
    k_max,
    layout_agrees,
    louvain_graph,
    modularity_votes,
    neighbour_graph,
    null_onset,
    ranked_neighbours,
    restrict,
    rivals,
    scale_of,
    shared_neighbours,
    stabilities,
)
from coarse2fine.cluster.kmeans import l2_normalize
from coarse2fine.cluster.layout import layout
from coarse2fine.data.synthetic import make_hierarchical_blobs
from coarse2fine.metrics import cluster_acc


def separated_groups(sizes, dim=8, seed=0):
    """Tight groups on orthogonal axes: a row's nearest neighbours are its own group's rows."""
    rng = np.random.default_rng(seed)
    rows = [np.eye(dim)[g] + 0.01 * rng.standard_normal((n, dim)) for g, n in enumerate(sizes)]
    return np.concatenate(rows).astype(np.float32)


def test_eigengap_curve_of_three_complete_groups_by_hand():
    """Three groups of 15 rows, each row's 15 neighbours (itself included) its own group: the
    graph is three complete graphs. The normalised Laplacian ignores self-loops, so per block
    W = J - I (J: 15 x 15 ones), degree 14 and L = I - (J - I)/14, with eigenvalues 0 (the
    constant vector) and 1 + 1/14 = 15/14 (the 14 vectors orthogonal to it). Sorted over the
    blocks: 0, 0, 0, 15/14, ...; the gaps lambda_{K+1} - lambda_K are 0 at K = 1, 2, 15/14 at
    K = 3 and 0 from K = 4 to k_max(45) = 22."""
    gaps = eigengaps(separated_groups((15, 15, 15)), k_max(45), neighbours=15)
    expected = np.zeros(22)
    expected[2] = 15 / 14
    np.testing.assert_allclose(gaps, expected, atol=1e-5)


@pytest.mark.parametrize(
    ("criterion", "neighbours"), [("eigengap", 10), ("hdbscan", 10), ("modularity", 15)]
)
def test_criteria_count_the_groups_in_each_coarse_class(criterion, neighbours):
    data = make_hierarchical_blobs((4, 2, 1, 3), rows_per_fine=30, dim=8, seed=0)
    counts = estimate_counts(
        data.vectors, data.coarse_ids, criterion=criterion, neighbours=neighbours
    ).tolist()
    if criterion == "eigengap":
        assert counts == [4, 2, 1, 3]
    else:  # HDBSCAN never returns one cluster, Louvain splits a lone blob: one group reads as 2+
        assert counts[:2] == [4, 2] and counts[2] > 1 and counts[3] == 3


def test_silhouette_cannot_say_one_group():
    """The silhouette is undefined for K = 1, so a class of one group still gets 2 or more."""
    data = make_hierarchical_blobs((3, 1), rows_per_fine=30, dim=8, seed=0)
    found = estimate_k(data.vectors, data.coarse_ids, criterion="silhouette", resamples=0)
    assert found.counts[0] == 3 and found.counts[1] >= 2
    assert np.isnan(found.classes[1].scores[0])


def test_the_disagreement_stability_counts_by_hand():
    """Stability's disagreement is 1 - clustering ACC / 100: the share of rows whose labels
    differ under the best matching of groups. A renaming of the groups disagrees on none;
    [0,0,1,1] against [0,1,0,1] on half under either matching; [0,0,0,1,1,2] against
    [1,1,1,0,2,2] matches 0->1, 1->0 or 2, 2->2: one row of six."""

    def disagreement(a, b):
        return 1.0 - cluster_acc(np.array(b), np.array(a)) / 100.0

    assert disagreement([0, 0, 1, 1], [1, 1, 0, 0]) == 0.0
    assert disagreement([0, 0, 1, 1], [0, 1, 0, 1]) == 0.5
    assert disagreement([0, 0, 0, 1, 1, 2], [1, 1, 1, 0, 2, 2]) == pytest.approx(1 / 6)


def test_stability_finds_the_groups_and_not_a_cut_through_one():
    """Three separate groups of 40 rows: K-Means on either half finds them, so K = 3 is
    perfectly stable (score 1) and the curve's best; a cut of the groups into more parts lands
    elsewhere on each half, so every K from 4 scores well under it. K = 1 has no score."""
    x = separated_groups((40, 40, 40))
    scores = stabilities(x, 10, seed=0)
    assert np.isnan(scores[0])
    assert scores[2] == pytest.approx(1.0)
    assert np.nanargmax(scores) == 2 and np.all(scores[3:] < 0.9)
    found = estimate_k(x, criterion="stability", resamples=0).classes[0]
    assert (found.k, found.criterion) == (3, "stability")


@pytest.mark.parametrize("weak_count", ["stability", "resolution"])
def test_weak_count_sets_what_counts_a_class_without_a_clear_gap(monkeypatch, weak_count):
    """WEAK_COUNT names the criterion a class under WEAK_GAP is counted by: set to another
    criterion the overlapping groups get that criterion's curve (modularity's by default:
    test_a_class_without_a_clear_eigengap_is_counted_by_modularity)."""
    monkeypatch.setattr(estimate_module, "WEAK_COUNT", weak_count)
    x = overlapping_groups()
    found = estimate_k(x, resamples=0).classes[0]
    ks, scores = class_curve(l2_normalize(x), weak_count, None, 0)
    assert found.criterion == weak_count and found.k == best_k(ks, scores)
    np.testing.assert_array_equal(found.scores, scores)


def test_small_groups_count_without_a_minimum_size():
    """Groups of 12 rows are categories for the eigengap (no minimum size); the old fixed rule
    (HDBSCAN, groups of at least 20) sees a single group."""
    x = separated_groups((12, 12, 12, 12, 12))
    assert estimate_counts(x, criterion="eigengap").tolist() == [5]
    assert estimate_counts(x, criterion="hdbscan-fixed").tolist() == [1]


def test_min_size_bounds_the_k_searched():
    """min_size m caps K at n // m: 5 groups of 12 rows with m = 15 leave K <= 4."""
    x = separated_groups((12, 12, 12, 12, 12))
    found = estimate_k(x, criterion="eigengap", min_size=15, resamples=0)
    assert found.classes[0].ks.tolist() == [1, 2, 3, 4] and found.counts[0] <= 4


def test_range_spans_the_subsample_estimates():
    """Clear groups: every 80 % subsample finds them too, so the range is the estimate itself;
    overlapping groups: the subsamples disagree and the range widens."""
    clear = estimate_k(separated_groups((20, 20, 20)), resamples=4).classes[0]
    assert (clear.k, clear.low, clear.high) == (3, 3, 3)
    vague = make_hierarchical_blobs((6,), rows_per_fine=15, dim=8, fine_spread=0.5, seed=0)
    found = estimate_k(vague.vectors, resamples=8).classes[0]
    assert (found.k, found.low, found.high) == (6, 1, 7)  # some subsamples see one blur
    # their median sits lower: 80 % of 90 blurred rows merge a group more often than all 90
    assert estimate_k(vague.vectors, resamples=8, pick="median").classes[0].k == 5


def test_the_estimate_is_the_full_data_pick_or_the_median_with_its_subsamples(monkeypatch):
    """A curve with two near-equal peaks, whose higher one flips with the rows (at 1 on all 50
    rows, at 5 on the 40-row subsamples): the full-data pick (the default) follows the flip, the
    median of the nine estimates the peak most of them see; the range spans both."""
    import coarse2fine.cluster.estimate_k as module

    def two_peaks(rows, criterion, min_size, seed, neighbours=10, graph="fuzzy", ranked=None):
        ks = np.arange(1, 9)
        scores = np.full(8, 0.01)
        scores[0], scores[4] = (0.045, 0.041) if len(rows) == 50 else (0.041, 0.045)
        return ks, scores

    monkeypatch.setattr(module, "class_curve", two_peaks)
    x = np.random.default_rng(0).standard_normal((50, 4)).astype(np.float32)
    whole = estimate_k(x, resamples=8).classes[0]  # the default pick
    median = estimate_k(x, resamples=8, pick="median").classes[0]
    assert module.PICK == "whole"
    assert (whole.k, whole.low, whole.high) == (1, 1, 5)
    assert (median.k, median.low, median.high) == (5, 1, 5)
    # without subsamples (estimate_counts: the count before training) the picks agree
    assert estimate_counts(x).tolist() == [1]
    with pytest.raises(ValueError, match="pick must be one of median, whole, finest"):
        estimate_k(x, pick="mode")


def test_the_finest_pick_takes_the_largest_k_near_the_best():
    """pick="finest": of peaks within FINEST_SHARE (0.8) of the highest, the largest K; a peak
    under that share does not count, and a curve with nothing scored gives 1."""
    ks = np.arange(1, 9)
    scores = np.array([0.045, 0.01, 0.02, 0.01, 0.041, 0.01, 0.037, np.nan])
    assert best_k(ks, scores) == 1
    assert best_k(ks, scores, 0.8) == 7  # 0.037 >= 0.8 x 0.045 = 0.036
    scores[6] = 0.035
    assert best_k(ks, scores, 0.8) == 5  # 0.035 < 0.036; 0.041 is the largest K above it
    assert best_k(ks, np.full(8, np.nan), 0.8) == 1


def test_rivals_are_the_other_peaks_nearly_as_high():
    """Peaks (no neighbour higher) at least 0.8 of the best, the highest first, the chosen K
    left out: 5 (0.041) and 7 (0.037, the curve's last scored K), not 3 (0.02, a peak but low)
    nor 6 (0.036 x 0.8 would pass, but its neighbour 7 is higher)."""
    ks = np.arange(1, 9)
    scores = np.array([0.045, 0.01, 0.02, 0.01, 0.041, 0.036, 0.037, np.nan])
    assert rivals(ks, scores, chosen=1) == [5, 7]
    assert rivals(ks, scores, chosen=5) == [1, 7]
    assert rivals(ks, np.full(8, np.nan), chosen=1) == []


def test_the_finest_pick_applies_to_every_curve(monkeypatch):
    """With pick="finest" the full data, the subsamples and the features' total all read the
    larger of the two near-equal peaks (5 at 0.041 against 1 at 0.045), and the range with it."""
    import coarse2fine.cluster.estimate_k as module

    def two_peaks(rows, criterion, min_size, seed, neighbours=10, graph="fuzzy", ranked=None):
        ks = np.arange(1, 9)
        scores = np.full(8, 0.01)
        scores[0], scores[4] = 0.045, 0.041
        return ks, scores

    monkeypatch.setattr(module, "class_curve", two_peaks)
    x = np.random.default_rng(0).standard_normal((50, 4)).astype(np.float32)
    finest = estimate_k(x, resamples=4, pick="finest")
    assert (finest.classes[0].k, finest.classes[0].low, finest.classes[0].high) == (5, 5, 5)
    assert finest.features_total == 5
    assert estimate_k(x, resamples=4).classes[0].k == 1


def test_size_split_shares_the_total_by_rows():
    """Class a: 3 groups in 60 rows; class b: 2 groups in 120 rows. Per-class counts 3 and 2; the
    size split keeps the total 5 and shares it by rows: 5 x 60/180 = 1.7 and 3.3 -> 2 and 3."""
    a = make_hierarchical_blobs((3,), rows_per_fine=20, dim=8, seed=0).vectors
    b = make_hierarchical_blobs((2,), rows_per_fine=60, dim=8, seed=1).vectors
    x, coarse = np.concatenate([a, b]), np.repeat([0, 1], [60, 120])
    assert estimate_counts(x, coarse).tolist() == [3, 2]
    assert estimate_counts(x, coarse, split="size").tolist() == [2, 3]


def test_a_class_of_one_row_counts_one():
    x = separated_groups((15, 15, 1))
    coarse = np.repeat([0, 1], [30, 1])
    assert estimate_counts(x, coarse).tolist() == [2, 1]


def test_options_are_checked():
    with pytest.raises(ValueError, match="min_size must be >= 2"):
        estimate_counts(np.zeros((4, 2)), min_size=1)
    with pytest.raises(ValueError, match="split must be one of"):
        estimate_counts(np.zeros((4, 2)), split="even")
    with pytest.raises(ValueError, match="criterion must be one of " + ", ".join(CRITERIA)):
        estimate_counts(np.zeros((4, 2)), criterion="gap")


def test_the_layout_count_is_kept_where_it_agrees_with_the_features():
    """``on_layout``: three groups of 20 rows are three clumps of the layout, which agrees with
    the features' count and is kept; a structureless Gaussian of 120 rows in 16 dimensions is
    one group for the features but breaks into many clumps of the layout (more than 1.5 x
    one, and more than the floor of 4), so the features' count stands."""
    groups = make_hierarchical_blobs((3,), rows_per_fine=20, dim=16, seed=0).vectors  # 60 rows
    rng = np.random.default_rng(0)
    blob = (rng.standard_normal((120, 16)) + 3 * np.eye(16)[0]).astype(np.float32)
    blob_layout = best_k(*class_curve(layout(blob, seed=0), "eigengap", None, 0, 15, "knn"))
    assert blob_layout > max(LAYOUT_AGREEMENT * 1, LAYOUT_FLOOR)
    x, coarse = np.concatenate([groups, blob]), np.repeat([0, 1], [60, 120])
    found = estimate_k(x, coarse, on_layout=True, resamples=2)
    assert [e.on_layout for e in found.classes] == [True, False]
    assert found.counts.tolist() == [3, 1]
    plain = estimate_k(x, coarse, resamples=2)
    assert not any(e.on_layout for e in plain.classes)
    np.testing.assert_array_equal(found.classes[1].scores, plain.classes[1].scores)
    # the layout's clumps are far apart: its 15-neighbour graph splits into the three groups
    assert found.classes[0].scores[2] > 0.5 > np.nanmax(np.delete(found.classes[0].scores, 2))


def test_whether_to_count_on_the_layout_may_depend_on_the_features_total():
    """``on_layout`` as a function: called once with the total of the features' own counts (3 +
    1, as ``Estimate.features_total`` keeps it), and its answer decides as a bool would."""
    groups = make_hierarchical_blobs((3,), rows_per_fine=20, dim=16, seed=0).vectors
    x = np.concatenate([groups, separated_groups((30,), dim=16)])
    coarse = np.repeat([0, 1], [60, 30])
    seen = []
    found = estimate_k(x, coarse, on_layout=lambda total: seen.append(total) or True, resamples=2)
    assert seen == [4] and found.features_total == 4
    fixed = estimate_k(x, coarse, on_layout=True, resamples=2)
    assert [e.on_layout for e in found.classes] == [e.on_layout for e in fixed.classes]
    assert all(e.on_layout for e in found.classes)  # both layouts agree with the features
    assert found.counts.tolist() == fixed.counts.tolist() == [3, 1]
    never = estimate_k(x, coarse, on_layout=lambda total: False, resamples=2)
    assert not any(e.on_layout for e in never.classes) and never.features_total == 4


@pytest.mark.parametrize("graph", ["fuzzy", "knn"])
def test_a_subsamples_neighbours_are_read_off_the_class_ranking(graph):
    """The neighbours of an 80 % subsample, read off the whole class's ranked lists, are those a
    search of the subsample finds, so its graph is the same; a list too shallow for the width
    gives None (the caller then searches the subsample)."""
    x = np.random.default_rng(1).standard_normal((60, 6)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    take = np.sort(np.random.default_rng(2).choice(60, 48, replace=False))
    ranked = ranked_neighbours(x, 26, graph)
    index, dist = restrict(ranked, take, 9)
    direct_index, direct_dist = ranked_neighbours(x[take], 9, graph)
    np.testing.assert_array_equal(index, direct_index)
    np.testing.assert_allclose(dist, direct_dist, atol=1e-6)
    read_off = neighbour_graph(x[take], 10, graph, (index, dist))
    searched = neighbour_graph(x[take], 10, graph)
    np.testing.assert_allclose(read_off.toarray(), searched.toarray(), atol=1e-6)
    assert restrict(ranked_neighbours(x, 9, graph), take, 9) is None  # 9 deep: rows lose some
    assert ranked_neighbours(x[:1], 9, graph)[0].shape == (1, 0)  # one row: no other
    if graph == "knn":  # the connectivity graph scikit-learn builds (the row itself included)
        from sklearn.neighbors import kneighbors_graph

        theirs = kneighbors_graph(x[take], n_neighbors=10, include_self=True)
        np.testing.assert_array_equal(searched.toarray(), (0.5 * (theirs + theirs.T)).toarray())


def test_shared_neighbours_by_hand():
    """Four rows with neighbour lists (each row first in its own): 0: {0, 1}, 1: {1, 0},
    2: {2, 1}, 3: {3, 2}. Shared: (0, 1) 2 of 2 -> Jaccard 2 / (4 - 2) = 1; (0, 2) {1} -> 1/3;
    (1, 2) {1} -> 1/3; (2, 3) {2} -> 1/3; (0, 3), (1, 3) share none -> 0; no diagonal."""
    share = shared_neighbours(np.array([[1], [0], [1], [2]])).toarray()
    expected = np.zeros((4, 4))
    expected[0, 1] = expected[1, 0] = 1.0
    for i, j in [(0, 2), (1, 2), (2, 3)]:
        expected[i, j] = expected[j, i] = 1 / 3
    np.testing.assert_allclose(share, expected)


def test_the_snn_graph_is_the_fuzzy_one_weighted_by_shared_neighbours():
    """Every edge of the "snn" graph is the fuzzy graph's times its rows' shared share; the
    count of well separated groups does not change."""
    x = separated_groups((20, 20, 6))
    fuzzy = neighbour_graph(x, 10, "fuzzy").toarray()
    index, _ = ranked_neighbours(x, 9, "fuzzy")
    np.testing.assert_allclose(
        neighbour_graph(x, 10, "snn").toarray(), fuzzy * shared_neighbours(index).toarray()
    )
    assert estimate_counts(x, criterion="eigengap", graph="snn").tolist() == [3]


def test_the_fuzzy_graph_weighs_a_small_groups_outside_edges_little():
    """Two groups of 30 rows and one of 4 on orthogonal axes: with 10 neighbours each row of
    the small group links 6 rows of another group, so the connectivity graph (every edge 1)
    ties it to them; UMAP's memberships give those far edges weights near 0, and the fuzzy
    graph's eigengap counts three groups where the plain graph's counts two."""
    x = separated_groups((30, 30, 4))
    assert estimate_counts(x, criterion="eigengap", graph="fuzzy").tolist() == [3]
    assert estimate_counts(x, criterion="eigengap", graph="knn").tolist() == [2]


@pytest.mark.parametrize(
    ("layout_k", "features_k", "kept"),
    [(4, 1, True), (5, 1, False), (4, 2, True), (5, 2, False), (15, 10, True), (16, 10, False)],
)
def test_layout_agreement_by_hand(layout_k, features_k, kept):
    """Kept while layout_k <= max(1.5 x features_k, 4): up to 4 for a class the features see as
    one or two; 15 but not 16 for ten (12 for 7: the requests example's calendar is refused)."""
    assert layout_agrees(layout_k, features_k) is kept


def overlapping_groups(seed=0):
    """Ten Gaussian groups of 50 rows in 5 dimensions, their centres 1.5 apart on average: they
    overlap, so the class's graph has no near-separate parts and its best eigengap is weak."""
    rng = np.random.default_rng(seed)
    centres = 1.5 * rng.standard_normal((10, 5))
    return np.concatenate([c + rng.standard_normal((50, 5)) for c in centres]).astype(np.float32)


def test_the_best_gap_by_hand():
    """The three complete groups' curve (test above) has its best gap 15/14 at K = 3; a class
    that can hold one category only has none (it is never weak)."""
    x = separated_groups((15, 15, 15))
    curve = np.arange(1, 23), eigengaps(x, k_max(45), neighbours=15)
    assert best_gap(x, None, curve) == pytest.approx(15 / 14)
    assert best_gap(x[:3], None) is None  # k_max(3) = 1


def test_a_class_without_a_clear_eigengap_is_counted_by_modularity():
    """The overlapping groups' best gap (0.026) is under WEAK_GAP and the eigengap alone reads
    them as one; counted by modularity, the class gets Louvain's own count (9 of the 10 groups),
    its range from modularity too, and no layout count. The switch is strict at the threshold;
    separate groups keep the eigengap."""
    x = overlapping_groups()
    alone = estimate_k(x, resamples=4, weak_gap=0).classes[0]
    assert (alone.criterion, alone.k) == ("eigengap", 1)
    assert alone.gap == pytest.approx(best_gap(l2_normalize(x), None)) and alone.gap < WEAK_GAP
    found = estimate_k(x, resamples=4, on_layout=True).classes[0]
    ks, votes = class_curve(l2_normalize(x), "modularity", None, 0)
    assert (found.criterion, found.k, found.on_layout) == ("modularity", best_k(ks, votes), False)
    assert found.k == 9 and found.low <= 9 <= found.high
    np.testing.assert_array_equal(found.scores, votes)
    assert estimate_k(x, resamples=0, weak_gap=alone.gap).classes[0].criterion == "eigengap"
    assert estimate_k(x, resamples=0, weak_gap=alone.gap * 1.001).classes[0].k == 9
    clear = estimate_k(separated_groups((20, 20, 20)), resamples=0).classes[0]
    assert (clear.criterion, clear.k) == ("eigengap", 3) and clear.gap >= WEAK_GAP


@pytest.mark.parametrize(
    "weak_count, other", [("modularity", "resolution"), ("resolution", "modularity")]
)
def test_a_class_without_a_clear_gap_is_read_twice(monkeypatch, weak_count, other):
    """The estimate shown to a user (with a range) also reads a class without a clear gap by the
    other of modularity and resolution, each at its own curve's best K; the counts that only set
    training's neighbours (no range) and a class with a clear gap have no second reading."""
    monkeypatch.setattr(estimate_module, "WEAK_COUNT", weak_count)
    x = overlapping_groups()
    found = estimate_k(x, resamples=2).classes[0]
    ks, scores = class_curve(l2_normalize(x), other, None, 0)
    assert found.criterion == weak_count and found.second == (other, best_k(ks, scores))
    assert estimate_k(x, resamples=0).classes[0].second is None
    assert estimate_k(separated_groups((20, 20, 20)), resamples=2).classes[0].second is None


def clear_class(k: int) -> ClassEstimate:
    """A class counted k with a clear gap (0.2), on a curve over K = 1..10."""
    return ClassEstimate(k, k, k, np.arange(1, 11), np.zeros(10), gap=0.2)


def test_the_scale_of_the_clear_classes_by_hand():
    """Two classes with a clear gap, 100 rows in 2 categories and 200 in 2: 50 and 100 rows a
    category, median 75 (pooled, 300 / 4, the same; the next test tells the two apart). A
    class of 300 rows read twice, 10 (30 rows each) and 4 (75): the second is nearer, and
    takes the class with its curve, rivals and criterion, the first becoming its second
    reading and the range stretching to 4; read 10 and 5 (60 rows each) against a scale of
    40, |log(30 / 40)| = 0.29 < |log(60 / 40)| = 0.41 and the first stays."""
    ks = np.arange(1, 11)
    curve = ks, np.where(ks == 4, 1.0, np.where(ks == 9, 0.9, 0.0))  # a rival at 9

    weak = ClassEstimate(10, 8, 11, ks, np.zeros(10), criterion="modularity", gap=0.03)
    weak.second = ("resolution", 4)
    classes, sizes = [clear_class(2), clear_class(2), weak], [100, 200, 300]
    assert scale_of(classes, sizes) == 75.0
    assert scale_of(classes[:2], sizes[:2]) is None  # no class read twice
    assert scale_of(classes[2:], sizes[2:]) is None  # none with a clear gap
    chosen = choose_by_scale(classes, sizes, [None, None, curve], 75.0)
    assert chosen[:2] == classes[:2]
    got = chosen[2]
    assert (got.k, got.low, got.high, got.criterion) == (4, 4, 11, "resolution")
    assert got.second == ("modularity", 10) and got.rivals == [9] and got.gap == 0.03
    np.testing.assert_array_equal(got.scores, curve[1])
    weak.second = ("resolution", 5)
    assert choose_by_scale(classes, sizes, [None, None, curve], 40.0)[2] is weak


def test_the_scale_is_the_clear_classes_median_and_one_over_count_does_not_move_it(monkeypatch):
    """Clear classes of 200 rows in 2 categories, 300 in 3 (100 rows a category each) and 400
    counted 8 (50 each, as a class counted twice over): their median is 100 rows a category,
    where pooled, 900 / 13 = 69.2. A class of 300 rows read twice, 5 by modularity (60 rows
    each) and 3 by resolution (100): by the median |log(100 / 100)| = 0 < |log(60 / 100)| =
    0.51 and resolution's 3 stands; by the pooled scale |log(60 / 69.2)| = 0.14 < |log(100 /
    69.2)| = 0.37 and modularity's 5 would."""
    import coarse2fine.cluster.estimate_k as module

    ks = np.arange(1, 11)
    curve = ks, np.where(ks == 3, 1.0, 0.0)

    weak = ClassEstimate(5, 4, 6, ks, np.zeros(10), criterion="modularity", gap=0.03)
    weak.second = ("resolution", 3)
    classes, sizes = [clear_class(2), clear_class(3), clear_class(8), weak], [200, 300, 400, 300]
    assert scale_of(classes, sizes) == 100.0
    chosen = choose_by_scale(classes, sizes, [None] * 3 + [curve], scale_of(classes, sizes))
    assert (chosen[3].k, chosen[3].criterion) == (3, "resolution")
    monkeypatch.setattr(module, "SCALE_BY", "pooled")
    assert scale_of(classes, sizes) == pytest.approx(900 / 13)
    assert choose_by_scale(classes, sizes, [None] * 3 + [curve], 900 / 13)[3] is weak
    monkeypatch.setattr(module, "SCALE_BY", "mean")
    with pytest.raises(ValueError, match="SCALE_BY must be one of median, pooled, got 'mean'"):
        scale_of(classes, sizes)


def few_large_groups(seed=0):
    """Three Gaussian groups of 200 rows in 5 dimensions, centres 1.5 apart on average: no
    clear gap, and Louvain at resolution 1 splits each group in several communities."""
    rng = np.random.default_rng(seed)
    centres = 1.5 * rng.standard_normal((3, 5))
    return np.concatenate([c + rng.standard_normal((200, 5)) for c in centres]).astype(np.float32)


@pytest.mark.parametrize(
    "clear_sizes, weak, expected",
    [
        # many small categories beside clear ones of 50 rows: modularity's 10 (of 10) stays
        # (the noise's resolution reads 2 there: 250 rows a category against modularity's 50)
        ((50, 50, 50), overlapping_groups, ("modularity", 10, ("resolution", 2))),
        # a few large ones beside clear ones of 200 rows: modularity splits the 3 groups into
        # 10, the noise's resolution reads 2 (200 rows a category against modularity's 60)
        ((200, 200), few_large_groups, ("resolution", 2, ("modularity", 10))),
    ],
)
def test_weak_choice_scale_takes_the_reading_nearer_the_clear_classes(clear_sizes, weak, expected):
    """A class without a clear gap beside classes with one: with weak_choice "first" its
    count is modularity's, with resolution's as its second reading; by default ("scale"), the
    reading whose rows a category come nearer the clear classes' (their rows over counts)."""
    rows = weak() + 10.0
    x = np.concatenate([separated_groups(clear_sizes, dim=5, seed=1), rows])
    coarse = np.repeat([0, 1], [sum(clear_sizes), len(rows)])
    first = estimate_k(x, coarse, resamples=2, weak_choice="first")
    assert first.scale == pytest.approx(sum(clear_sizes) / len(clear_sizes))
    assert not first.by_scale
    name, k, (other, other_k) = expected
    read = first.classes[1]
    assert {(read.criterion, read.k), read.second} == {(name, k), (other, other_k)}
    scaled = estimate_k(x, coarse, resamples=2)
    assert scaled.by_scale
    assert (scaled.classes[0].k, scaled.classes[0].criterion) == (len(clear_sizes), "eigengap")
    got = scaled.classes[1]
    assert (got.criterion, got.k, got.second) == expected
    with pytest.raises(ValueError, match="weak_choice must be one of first, scale"):
        estimate_k(x, coarse, weak_choice="size")


def ring(rows: int, seed: int = 0) -> np.ndarray:
    """Rows spread evenly round a circle: one continuous category with no parts."""
    rng = np.random.default_rng(seed)
    angle = rng.uniform(0, 2 * np.pi, rows)
    noise = 0.05 * rng.standard_normal(rows)
    return l2_normalize(np.stack([np.cos(angle), np.sin(angle), noise], 1).astype(np.float32))


def test_modularity_counts_a_large_class_on_samples(monkeypatch):
    """Louvain's communities on a ring grow with its rows (the ring has no parts: each count is
    the graph's scale, not a structure). Read on samples of MODULARITY_ROWS rows, a ring four
    times larger gets about the count of the smaller one."""
    top = k_max(1600)

    def count(rows: int, most: int) -> int:
        monkeypatch.setattr(estimate_module, "MODULARITY_ROWS", most)
        return best_k(np.arange(1, top + 1), modularity_votes(ring(rows), top, seed=0))

    assert count(1600, 0) >= count(400, 0) + 4  # every row: the count follows the rows
    assert abs(count(1600, 200) - count(400, 200)) <= 3


def test_each_modularity_run_draws_its_own_sample(monkeypatch):
    """A class over MODULARITY_ROWS rows: each of the five runs builds its graph on a different
    sample of exactly that many of the class's rows; a class within it (or with the setting 0),
    one graph of all its rows serves every run."""
    built = []
    real = estimate_module.neighbour_graph

    def spy(rows, *args, **kwargs):
        built.append(rows.copy())
        return real(rows, *args, **kwargs)

    monkeypatch.setattr(estimate_module, "neighbour_graph", spy)
    rows = ring(300)
    monkeypatch.setattr(estimate_module, "MODULARITY_ROWS", 120)
    modularity_votes(rows, 20, seed=0)
    assert [len(sample) for sample in built] == [120] * 5
    as_sets = [{r.tobytes() for r in sample} for sample in built]
    whole = {r.tobytes() for r in rows}
    assert all(sample <= whole for sample in as_sets)
    assert len({frozenset(sample) for sample in as_sets}) == 5
    for most in (300, 0):
        built.clear()
        monkeypatch.setattr(estimate_module, "MODULARITY_ROWS", most)
        modularity_votes(rows, 20, seed=0)
        assert len(built) == 1 and np.array_equal(built[0], rows)


def touching_blobs(seed: int = 0) -> np.ndarray:
    """Three groups of 200 rows in 5 dimensions whose neighbour graph joins them."""
    rng = np.random.default_rng(seed)
    centres = 2.0 * rng.normal(size=(3, 5))
    return np.concatenate([c + 0.5 * rng.normal(size=(200, 5)) for c in centres])


def test_resolution_counts_what_a_structureless_draw_would_not_split():
    """Louvain at resolution 1 splits a Gaussian blob of 600 rows into a dozen communities and
    three touching groups into about three each; at the onset the class's own Gaussian draw
    gives, the blob is one community and the three groups are three."""
    blob = np.random.default_rng(0).normal(size=(600, 5))
    for rows, true, split in ((blob, 1, 10), (touching_blobs(), 3, 6)):
        assert estimate_k(rows, criterion="modularity", resamples=0).classes[0].k >= split
        found = estimate_k(rows, criterion="resolution", resamples=0).classes[0]
        assert (found.criterion, found.k) == ("resolution", true)


def test_the_null_onset_is_the_last_resolution_a_structureless_draw_stays_whole(monkeypatch):
    """The draw of the class's size is one community at the onset and split at the next
    resolution; the draw itself has the class's mean and covariance (before unit length)."""
    rows = l2_normalize(touching_blobs().astype(np.float32))
    drawn = []
    real = estimate_module.louvain_graph

    def spy(draw, *args, **kwargs):
        drawn.append(draw)
        return real(draw, *args, **kwargs)

    monkeypatch.setattr(estimate_module, "louvain_graph", spy)
    onset = null_onset(rows, seed=0)
    (draw,) = drawn
    assert draw.shape == rows.shape
    graph = real(draw)
    step = list(estimate_module.RESOLUTIONS).index(onset)
    assert communities(graph, onset, 0) == 1
    assert communities(graph, float(estimate_module.RESOLUTIONS[step + 1]), 0) > 1
    rng = np.random.default_rng(0)  # the draw again, before unit length
    raw = rng.multivariate_normal(
        rows.mean(0), np.cov(rows, rowvar=False), len(rows), method="eigh"
    )
    np.testing.assert_allclose(draw, l2_normalize(raw.astype(np.float32)), atol=1e-6)


def ring_of_cliques(cliques: int, size: int):
    """``cliques`` complete groups of ``size`` nodes, each joined to the next by one edge, plus
    one node with no edges (scipy sparse, symmetric, no loops)."""
    import scipy.sparse as sp

    n = cliques * size + 1
    dense = np.zeros((n, n))
    for c in range(cliques):
        block = slice(c * size, (c + 1) * size)
        dense[block, block] = 1.0
        last, first_of_next = (c + 1) * size - 1, ((c + 1) % cliques) * size
        dense[last, first_of_next] = dense[first_of_next, last] = 1.0
    np.fill_diagonal(dense, 0.0)
    return sp.csr_matrix(dense)


def test_communities_counts_the_planted_groups_of_two_or_more_rows():
    """A ring of 5 cliques of 6 nodes (80 edges): modularity's best partition is the cliques
    (Q = 5 x (15/80 - (32/160)^2) = 0.74 by hand, against 0 for one community), found from
    every seed; the lone node is its own community and not counted. At resolution 0.1, with
    Q = sum(L_c / 80) - 0.1 x sum((d_c / 160)^2), pairs of neighbouring cliques and one alone
    score 77/80 - 0.1 x 0.36 = 0.9265 by hand, above one community (0.9), the cliques (0.9175)
    and three and two (0.923): 3 communities; near 0 one community scores best. A graph without
    edges has no community of 2+ rows (counted 1); seeds beyond numpy's 2**32 are taken."""
    graph = ring_of_cliques(5, 6)
    assert [communities(graph, 1.0, seed) for seed in range(5)] == [5] * 5
    assert [communities(graph, 0.1, seed) for seed in range(5)] == [3] * 5
    assert communities(graph, 0.001, 0) == 1
    assert communities(graph, 1.0, 2**32 + 5) == 5
    import scipy.sparse as sp

    assert communities(sp.csr_matrix((3, 3)), 1.0, 0) == 1


def test_louvain_graph_is_the_neighbour_graph_without_loops():
    rows = l2_normalize(touching_blobs().astype(np.float32))
    graph, full = louvain_graph(rows, 10), neighbour_graph(rows, 10).tocsr()
    assert graph.diagonal().sum() == 0 and full.diagonal().min() == 1.0
    np.testing.assert_array_equal((full - graph).toarray(), np.diag(full.diagonal()))

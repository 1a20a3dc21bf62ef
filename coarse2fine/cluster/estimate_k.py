"""How many fine categories hide in each coarse class, when nobody knows.

Every criterion scores each candidate K = 1..K_max inside one coarse class (higher = better) and
the estimate is the best-scoring K; the curve is kept so the report can plot it and an analyst
can pick another K. The criteria (all on unit-length features, chosen among by
``bench/estimate_k.py`` over the benchmark datasets; docs/ESTIMATE_K.md has the measurements):

- ``"eigengap"`` (the default): the gap lambda_{K+1} - lambda_K between consecutive eigenvalues
  of the normalised Laplacian of the class's 10-nearest-neighbour graph. K groups with few
  edges between them give K eigenvalues near 0 and then a jump. No minimum group size: a
  category that is its own neighbourhood counts, however few its rows. The graph (``graph``):
  ``"fuzzy"`` (the default), UMAP's fuzzy graph, each edge weighted by how near the neighbour
  is on the scale of the row's own neighbourhood (coarse2fine.cluster.layout.fuzzy_graph), so
  a small category's few edges to a larger one weigh little; ``"snn"``, the same edges each
  weighted again by the share of neighbours its two rows have in common (the Jaccard weight of
  shared-nearest-neighbour clustering), so an edge between two rows whose neighbourhoods
  differ weighs little; or ``"knn"``, every edge 1.
  Where a class's best gap on its fuzzy NEIGHBOURS graph is under WEAK_GAP (``weak_gap``),
  its rows hold no near-disconnected parts and the curve's peak says little (MMLU's subjects,
  which share their topic's neighbourhoods, gave near-equal peaks that flipped with the
  features); such a class is counted by WEAK_COUNT (``"modularity"`` on that graph) instead,
  with its range from the same criterion, and is not counted on a layout.
  ``ClassEstimate.criterion`` says which counted it. Where the estimate is shown to a user
  (with a range), such a class is also read by SECOND_READING (``"resolution"``, below;
  ``ClassEstimate.second``): modularity comes near the truth on a class of many small
  categories, resolution on one of a few large ones, and the graph alone does not tell the
  two kinds apart: the categories' rough size does. ``Estimate.scale`` gives the rows a
  category of the classes with a clear gap (the median over them, SCALE_BY), a hint of that
  size; with WEAK_CHOICE
  (``weak_choice``) ``"scale"`` (the default) the reading nearer it stands
  (``choose_by_scale``), with ``"first"`` WEAK_COUNT's always.
- ``"hdbscan"``: HDBSCAN run over a range of minimum group sizes (2 .. a third of the class);
  a count that persists over a wide range of sizes is a structure rather than an artefact of one
  size. Score of K: the share (in log size) of the range that yields K clusters.
- ``"silhouette"``: K-Means for each K, scored by the mean cosine silhouette (K >= 2).
- ``"modularity"``: Louvain communities of the nearest-neighbour graph at resolution 1 over
  several seeds (scikit-network's compiled Louvain); score of K: the share of seeds finding K
  communities of 2+ rows.
  A class of more than MODULARITY_ROWS rows is read on random samples of that many, each seed
  its own: on all the rows of a large class the communities multiply with the rows.
- ``"resolution"``: modularity's count at the resolution where structure ends and noise
  begins: Louvain at resolution 1 splits rows without any structure too (a Gaussian blob of
  600 rows into ten or more communities, tests/test_estimate_k.py), so its count follows the
  class's size as much as its categories. This criterion draws as many rows (at most
  MODULARITY_ROWS) from a Gaussian with the class's own mean and covariance, put on the unit
  sphere like the rows, finds the largest of RESOLUTIONS at which that draw's graph is still
  one community (``null_onset``), and counts the class's communities there, as
  ``"modularity"`` does at resolution 1: what the rows hold beyond what a structureless class
  of their size and spread would.
- ``"stability"``: clustering stability over random halves (Lange, Roth, Braun and Buhmann
  2004): each of STABILITY_RUNS runs splits the class in two halves, clusters each by K-Means
  with K groups, labels the second half by the first's centres, and counts the share of rows
  whose two labels disagree under the best matching of groups; that share over the share a
  random labelling with the same group sizes disagrees by is the instability. Score of K
  (K >= 2): one minus it. A partition the rows hold is found again from either half; a cut
  through rows without one lands elsewhere each time.
- ``"hdbscan-fixed"``: the earlier default, HDBSCAN with groups of at least ``min_size`` rows
  (20 unless given); a single K, no curve.

``min_size`` (the smallest group that counts as a category) bounds the K searched in a class of n
rows to n // min_size (at most MAX_PER_CLASS); by default 2, so the criterion alone decides.

The plausible range per class comes from the criterion's stability: the estimate is redone on
``resamples`` random 80 % subsamples of the class's rows (their graphs read off one ranking of
the class's neighbours, ``class_ranking`` and ``restrict``, rather than searched again), and the
range spans the estimates (with the full-data one). ``pick`` says which of them is the
estimate: ``"whole"`` (the default, PICK) the full-data one, ``"median"`` the median of it and
the subsamples', ``"finest"`` the full-data one where each curve's K is the largest scoring at
least FINEST_SHARE of its best (of two near-equal peaks, the finer partition). The median was
tried against the flips of near-equal peaks (MMLU's classes:
0.045 at one category and 0.041 at 15), and lost: a subsample of 80 % of the rows merges small
or blurred categories more often than all of them, so its counts run low on every text set
(docs/ESTIMATE_K.md).
Beside the estimate each class keeps its curve's other peaks at least FINEST_SHARE of the best
(``ClassEstimate.rivals``): counts the criterion supports nearly as well, for an analyst to try.

``on_layout=True`` (for the ``umap-spectral`` clusterer) also counts each class on its UMAP
layout, the positions that clusterer cuts (coarse2fine.cluster.layout), with the
15-nearest-neighbour graph it cuts them by, and keeps that count where it is at most
LAYOUT_AGREEMENT times the count on the features, or at most LAYOUT_FLOOR (a class the
features see as one may hold two or three categories: their graph cannot split it). The
layout pulls a small category into a clump of its own where the features' graph merges it
with a larger one; but it also breaks a large category, or structureless rows, into many
small clumps, so a count far above the features' is read as that (docs/ESTIMATE_K.md has
both measurements). The range then resamples the space whose count was kept.

``on_layout`` may instead be a function of the total the features' own counts give: the caller's
clusterer, and so whether a layout is cut at all, depends on that total, and the function lets
one call count the features once (``Estimate.features_total`` keeps it).

``split="size"`` keeps only the total and shares it over the coarse classes in proportion to
their rows (as nested discovery does with a given K); ``split="criterion"`` keeps the per-class
estimates.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from coarse2fine.cluster.kmeans import l2_normalize
from coarse2fine.cluster.layout import layout

DEFAULT_CRITERION = "eigengap"
CRITERIA = (
    "eigengap",
    "hdbscan",
    "silhouette",
    "modularity",
    "resolution",
    "stability",
    "hdbscan-fixed",
)
SPLITS = ("size", "criterion")
MAX_PER_CLASS = 60  # the most categories one coarse class is searched for
# rows in each row's graph neighbourhood: 10 was the best of 5 / 10 / 15 over the six benchmark
# datasets (bench/estimate_k.py; 5 splits categories, 15 merges the small ones)
NEIGHBOURS = 10
FIXED_MIN_SIZE = 20  # "hdbscan-fixed" without a min_size
MIN_SAMPLES = 3
RESAMPLES = 8
RESAMPLE_SHARE = 0.8
PICKS = ("median", "whole", "finest")
PICK = "whole"  # which estimate a class gets (module docstring; bench/estimate_k.py compares)
# pick="finest": the largest K scoring at least this share of the curve's best (bench/estimate_k.py
# compares it with the default; docs/ESTIMATE_K.md, "Near-equal peaks")
FINEST_SHARE = 0.8
GRAPHS = ("fuzzy", "knn", "snn")
COSINE_GRAPHS = ("fuzzy", "snn")  # the graphs of features (cosine neighbours, the row counted)
GRAPH = "fuzzy"  # the features' graph (module docstring; bench/estimate_k.py compares)
# on_layout: the layout's count is kept while at most LAYOUT_AGREEMENT x the features' one, or
# at most LAYOUT_FLOOR (bench/estimate_k.py: the floor lets classes the features see as one
# split; 4 rather than 3 since version 12 measured it: HWU64's 3-intent class that the layout
# splits in 4 keeps the layout's count, ACC with the estimate +1.9, DBpedia -0.5 within its
# spread, the other text sets unchanged; the cells are never counted on a layout. A slack of 2
# added to every class instead let the requests example's calendar, 80 rows per intent, break
# into 12 clumps for 3 intents)
LAYOUT_AGREEMENT = 1.5
LAYOUT_FLOOR = 4
# the eigengap reads a class as K near-disconnected parts; where the best gap of its features'
# fuzzy NEIGHBOURS graph is under WEAK_GAP the class has no such parts and the curve's peak is
# noise, so the class is counted by Louvain modularity on its NEIGHBOURS graph instead, which
# counts dense communities without sparse cuts between them (bench/estimate_k.py, versions
# 21-22, its gap table: the best gaps of MMLU's classes and DBpedia's Agent, where the eigengap
# was far off, were 0.022-0.036 on every seed; those of every other class of the six datasets
# 0.052 or more; MMLU's ACC with the estimate 51.14 -> 56.32, DBpedia's 50.20 -> 55.83, the
# others unchanged). Larger classes have smaller gaps: on the train splits (bench/k_train_splits.py)
# it fires on most classes, and takes CLINC's from 51.75 to 79.69 (432 -> 216 categories of 150)
# but HWU64's from 64.33 to 59.35 (93 -> 127 of 64; 3 seeds; with MODULARITY_ROWS: 86.56, 166
# and 61.24, 117); docs/ESTIMATE_K.md "Classes without a clear gap"
WEAK_GAP = 0.045
# the criterion a class without a clear gap is counted by: modularity; "stability" was measured
# against it (bench/estimate_k.py version 24, bench/k_train_splits.py; docs/ESTIMATE_K.md
# "Clustering stability")
WEAK_COUNT = "modularity"
# a class without a clear gap is read a second time, by SECOND_READING (by "modularity" where
# WEAK_COUNT is SECOND_READING: ``other_reading``), and both counts are shown: modularity's
# lands near the truth on a class of many small categories, resolution's on one of a few large
# ones, and the graph alone does not say which a class is (docs/ESTIMATE_K.md "Modularity at
# the noise's resolution": MMLU's classes, HWU64's train split); an analyst who knows the
# categories' rough size can choose
SECOND_READING = "resolution"
# which of a weak-gap class's two readings is its estimate: "scale" (the default since
# 2026-12-07), the one whose rows a category come nearer (in ratio) those of the same run's
# classes with a clear gap (``choose_by_scale``): a dataset's categories are often of a like
# size, and its clearly counted classes say what size that is; or "first", WEAK_COUNT's
# always (the default before). Measured (docs/ESTIMATE_K.md "Two readings"): HWU64's train
# split 117.3 -> 89.0 categories of 64, ACC 61.24 -> 70.43 (bench/k_train_splits.py, 3
# seeds); no count of the six test splits changed (bench/estimate_k.py; bench/peers.py's
# unknown-k-scale cells, git history at 6f2b920, equal unknown-k's in every count and ACC);
# CLINC's train split has no class with a clear gap, so nothing to choose by; nor did any count
# change on DBpedia's, MMLU's and Zeisel's train splits (seed 0)
WEAK_CHOICES = ("first", "scale")
WEAK_CHOICE = "scale"
# how ``scale_of`` reads the clear classes' rows a category: "median" (the default since
# 2026-12-07), the median over those classes of each one's rows over its count, so that one
# class counted far over or under does not move it; or "pooled", their rows summed over their
# counts summed (the default before), which a class of many counted categories dominates.
# Measured (docs/ESTIMATE_K.md "The scale as a median"): on HWU64's train split the clear
# classes counted over (seed 0: alarm, 3 intents, counted 4; audio, 3, counted 6; weather, 1,
# counted 4) pooled to ~97 rows a category against the intents' ~140, so weak classes took
# modularity's over-count; `discover` without K there 89.0 -> 68.3 categories of 64, ACC
# 70.43 -> 74.35 (K given 81.38; bench/k_train_splits.py, 3 seeds); no count of the six test
# splits or of DBpedia's and Zeisel's train splits moved
SCALES_BY = ("median", "pooled")
SCALE_BY = "median"
# the count before training, which only sets the neighbours DOWN / DNA pull when K is unknown:
# Louvain modularity where the user left the criterion at the default, since on untrained
# features it comes far closer than the eigengap (bench/estimate_k.py, the `before` rows: MMLU
# 40.7 against 13 of 57, DBpedia 41 against 16 of 59; docs/ESTIMATE_K.md "The first count")
FIRST_COUNT = "modularity"
# Louvain modularity counts a class of more than MODULARITY_ROWS rows on random samples of that
# many rows (each run its own; 0 or None: every row): on a nearest-neighbour graph the
# communities it finds grow with the rows, a large category's neighbourhoods breaking into
# several, so the count is read at the scale of the benchmarks it was chosen on
# (docs/ESTIMATE_K.md "Counting large classes": bench/k_train_splits.py, CLINC's train split
# 216 -> 166 categories of 150, ACC 79.69 -> 86.56, HWU64's 127 -> 117 of 64, 59.35 -> 61.24,
# 3 seeds; 800 chosen among 600, 800 and 1200 with bench/estimate_k.py's MMLU)
MODULARITY_ROWS = 800
STABILITY_RUNS = 5  # pairs of halves the "stability" criterion clusters per K
# the Louvain resolutions the "resolution" criterion searches for the onset of a structureless
# draw's splitting (ascending; the onset is the last one at which the draw stays whole)
RESOLUTIONS = np.geomspace(0.02, 2.0, 31)


@dataclass
class ClassEstimate:
    """One coarse class: the estimate, its plausible range, and the criterion's curve."""

    k: int
    low: int
    high: int
    ks: np.ndarray  # candidate K values
    scores: np.ndarray  # the criterion at each K (higher = better; nan = not computed)
    on_layout: bool = False  # counted on the class's UMAP layout rather than its features
    rivals: list[int] = field(default_factory=list)  # other peaks nearly as high (``rivals``)
    # the curve's: where the gap was weak WEAK_COUNT's, or the second reading's where the choice
    # by scale took it
    criterion: str = DEFAULT_CRITERION
    gap: float | None = None  # the features' best eigengap, tested against WEAK_GAP (best_gap)
    # a class without a clear gap: the other reading's criterion and count (``other_reading``)
    second: tuple[str, int] | None = None


@dataclass
class Estimate:
    counts: np.ndarray  # per coarse class, in np.unique(coarse) order, after the split
    classes: list[ClassEstimate]
    criterion: str
    features_total: int = 0  # the total of the counts on the features (before any layout's)
    # the clear classes' rows a category (as SCALE_BY reads it), where some class has none
    # (``scale_of``)
    scale: float | None = None
    # whether each class read twice took the reading nearer ``scale`` (weak_choice "scale",
    # where there is a scale) rather than its first
    by_scale: bool = False


def estimate_counts(
    features: np.ndarray,
    coarse: np.ndarray | None = None,
    *,
    criterion: str = "eigengap",
    split: str = "criterion",
    min_size: int | None = None,
    seed: int = 0,
    neighbours: int = NEIGHBOURS,
    graph: str = "fuzzy",
    on_layout: bool = False,
) -> np.ndarray:
    """Estimated number of fine categories per coarse class (in ``np.unique(coarse)`` order; one
    entry for all rows when ``coarse`` is None)."""
    return estimate_k(
        features,
        coarse,
        criterion=criterion,
        split=split,
        min_size=min_size,
        seed=seed,
        resamples=0,
        neighbours=neighbours,
        graph=graph,
        on_layout=on_layout,
    ).counts


def estimate_k(
    features: np.ndarray,
    coarse: np.ndarray | None = None,
    *,
    criterion: str = "eigengap",
    split: str = "criterion",
    min_size: int | None = None,
    seed: int = 0,
    resamples: int = RESAMPLES,
    neighbours: int = NEIGHBOURS,
    graph: str | None = None,
    on_layout: bool | Callable[[int], bool] = False,
    layout_agreement: float = LAYOUT_AGREEMENT,
    layout_floor: int = LAYOUT_FLOOR,
    pick: str | None = None,
    weak_gap: float | None = None,
    weak_choice: str | None = None,
) -> Estimate:
    """Per coarse class: the estimated K, a plausible range from ``resamples`` 80 % subsamples,
    and the criterion's curve over K; with ``on_layout`` (or where it says so of the features'
    total), the layout's count where it is at most ``layout_agreement`` times the features', or
    at most ``layout_floor``; ``pick`` (None: PICK) which estimate stands, ``graph`` (None:
    GRAPH) the features' neighbour graph; ``weak_gap`` (None: WEAK_GAP; 0: never) the best
    eigengap under which a class is counted by modularity instead, ``weak_choice`` (None:
    WEAK_CHOICE) which of its two readings stands (module docstring)."""
    from coarse2fine.cluster.nested import SPECTRAL_NEIGHBOURS, allocate_by_size, side_by_side

    pick = PICK if pick is None else pick
    graph = GRAPH if graph is None else graph
    weak_gap = WEAK_GAP if weak_gap is None else weak_gap
    weak_choice = WEAK_CHOICE if weak_choice is None else weak_choice
    if weak_choice not in WEAK_CHOICES:
        raise ValueError(
            f"weak_choice must be one of {', '.join(WEAK_CHOICES)}, got {weak_choice!r}"
        )
    if pick not in PICKS:
        raise ValueError(f"pick must be one of {', '.join(PICKS)}, got {pick!r}")
    if criterion not in CRITERIA:
        raise ValueError(f"criterion must be one of {', '.join(CRITERIA)}, got {criterion!r}")
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    if graph not in GRAPHS:
        raise ValueError(f"graph must be one of {', '.join(GRAPHS)}, got {graph!r}")
    if min_size is not None and min_size < 2:
        raise ValueError(f"min_size must be >= 2, got {min_size}")
    given = np.asarray(features)
    features = l2_normalize(np.asarray(features, dtype=np.float32))
    coarse = np.zeros(len(features), np.int64) if coarse is None else np.asarray(coarse)
    rng = np.random.default_rng(seed)
    masks = [coarse == c for c in np.unique(coarse)]
    groups = [features[mask] for mask in masks]
    deep = resamples > 0  # the rankings serve subsamples too
    # each class's criterion, ranked neighbours, curve and best gap: the eigengap's classes
    # without a clear gap are counted by modularity (their own graph's curve never drawn)
    counted_by, ranks, curves, gaps = [], [], [], []
    plain = neighbours == NEIGHBOURS and graph == "fuzzy"  # the graph the gap is tested on
    for rows in groups:
        by, gap, ranked, curve = criterion, None, None, None
        if criterion == "eigengap":
            if plain:  # the class's own curve is the one tested
                ranked = class_ranking(rows, criterion, min_size, neighbours, graph, deep)
                curve = class_curve(rows, criterion, min_size, seed, neighbours, graph, ranked)
            gap = best_gap(rows, min_size, curve)  # curve None: the tested graph's, drawn there
            if gap is not None and gap < weak_gap:
                by, ranked = WEAK_COUNT, None
                curve = class_curve(rows, by, min_size, seed, NEIGHBOURS)
        if curve is None:
            ranked = class_ranking(rows, criterion, min_size, neighbours, graph, deep)
            curve = class_curve(rows, criterion, min_size, seed, neighbours, graph, ranked)
        counted_by.append(by)
        ranks.append(ranked)
        curves.append(curve)
        gaps.append(gap)
    share = FINEST_SHARE if pick == "finest" else None
    features_total = sum(best_k(ks, scores, share) for ks, scores in curves)
    if callable(on_layout):
        on_layout = bool(on_layout(features_total))
    # each class's layout, of the rows as given: the very layout the clusterer then cuts (and
    # finds again, layout's recent layouts); none where only K = 1 is possible
    wanted = [
        on_layout and k_max(len(rows), min_size) > 1 and by == "eigengap"
        for rows, by in zip(groups, counted_by, strict=True)
    ]
    laid = iter(
        side_by_side(
            lambda rows: layout(rows, seed=seed),
            [given[mask] for mask, want in zip(masks, wanted, strict=True) if want],
        )
    )
    placed = [next(laid) if want else None for want in wanted]
    classes, second_curves = [], []
    for rows, positions, (ks, scores), ranked, by, gap in zip(
        groups, placed, curves, ranks, counted_by, gaps, strict=True
    ):
        space, space_neighbours, space_graph = rows, neighbours, graph
        if by != criterion:  # modularity on the class's NEIGHBOURS graph, as counted above
            space_neighbours = NEIGHBOURS
        k = best_k(ks, scores, share)
        kept_layout = False
        if positions is not None:
            layout_ranked = class_ranking(
                positions, criterion, min_size, SPECTRAL_NEIGHBOURS, "knn", deep
            )
            layout_ks, layout_scores = class_curve(
                positions, criterion, min_size, seed, SPECTRAL_NEIGHBOURS, "knn", layout_ranked
            )
            layout_k = best_k(layout_ks, layout_scores, share)
            if layout_agrees(layout_k, k, layout_agreement, layout_floor):
                ks, scores, k, kept_layout = layout_ks, layout_scores, layout_k, True
                space, space_neighbours, space_graph = positions, SPECTRAL_NEIGHBOURS, "knn"
                ranked = layout_ranked
        found = [k]
        for _ in range(resamples):
            take = rng.choice(len(space), max(2, int(RESAMPLE_SHARE * len(space))), replace=False)
            take = np.sort(take)
            width = graph_width(len(take), space_neighbours, space_graph)
            sub_ranked = None if ranked is None else restrict(ranked, take, width)
            sub_ks, sub_scores = class_curve(
                space[take], by, min_size, seed, space_neighbours, space_graph, sub_ranked
            )
            if np.isfinite(sub_scores).any():
                found.append(best_k(sub_ks, sub_scores, share))
        if pick == "median":  # the (lower) median: one of the estimates
            k = int(np.sort(found)[(len(found) - 1) // 2])
        near = rivals(ks, scores, k)
        second, second_curve = None, None
        if resamples > 0 and by != criterion:  # the estimate shown to a user: both readings
            other = other_reading(by)
            second_curve = class_curve(rows, other, min_size, seed, NEIGHBOURS)
            second = (other, best_k(*second_curve))
        second_curves.append(second_curve)
        classes.append(
            ClassEstimate(k, min(found), max(found), ks, scores, kept_layout, near, by, gap, second)
        )
    sizes = [len(rows) for rows in groups]
    scale = scale_of(classes, sizes)
    by_scale = weak_choice == "scale" and scale is not None
    if by_scale:
        classes = choose_by_scale(classes, sizes, second_curves, scale)
    counts = np.array([e.k for e in classes], dtype=np.int64)
    if split == "size":
        sizes = np.unique(coarse, return_counts=True)[1]  # rows per class, same order
        counts = allocate_by_size(sizes, int(counts.sum()))
    return Estimate(counts, classes, criterion, features_total, scale, by_scale)


def other_reading(by: str) -> str:
    """The second reading of a class without a clear gap that ``by`` counted: SECOND_READING,
    or modularity where ``by`` is SECOND_READING (read on the class's NEIGHBOURS graph like
    ``by``, without a range)."""
    return "modularity" if by == SECOND_READING else SECOND_READING


def scale_of(classes: list[ClassEstimate], sizes: list[int]) -> float | None:
    """Rows a category in the classes counted with a clear gap, where some other class was read
    twice: the median of each such class's rows over its count (SCALE_BY "median"), or their
    rows summed over their counts summed ("pooled"); None where no class was read twice, or
    none had a clear gap."""
    if SCALE_BY not in SCALES_BY:
        raise ValueError(f"SCALE_BY must be one of {', '.join(SCALES_BY)}, got {SCALE_BY!r}")
    clear = [
        (n, e.k)
        for e, n in zip(classes, sizes, strict=True)
        if e.gap is not None and e.second is None
    ]
    if not clear or all(e.second is None for e in classes):
        return None
    if SCALE_BY == "pooled":
        return sum(n for n, _ in clear) / sum(k for _, k in clear)
    return float(np.median([n / k for n, k in clear]))


def choose_by_scale(
    classes: list[ClassEstimate],
    sizes: list[int],
    curves: list[tuple[np.ndarray, np.ndarray] | None],
    scale: float,
) -> list[ClassEstimate]:
    """Each class read twice takes the reading whose rows a category (its rows over the count)
    is nearer ``scale`` in ratio (the first on a tie); where that is the second, the class gets
    its curve, rivals and criterion, the first becomes its second reading, and its range
    stretches to cover both counts (the subsamples were the first reading's)."""
    chosen = []
    for e, n, curve in zip(classes, sizes, curves, strict=True):
        if e.second is not None and curve is not None:
            name, k = e.second
            if abs(np.log(n / k / scale)) < abs(np.log(n / e.k / scale)):
                ks, scores = curve
                e = replace(
                    e,
                    k=k,
                    low=min(e.low, k),
                    high=max(e.high, k),
                    ks=ks,
                    scores=scores,
                    rivals=rivals(ks, scores, k),
                    criterion=name,
                    second=(e.criterion, e.k),
                )
        chosen.append(e)
    return chosen


def layout_agrees(
    layout_k: int, features_k: int, agreement: float = LAYOUT_AGREEMENT, floor: int = LAYOUT_FLOOR
) -> bool:
    """Whether the layout's count stands: at most ``agreement`` x the features' count, or at most
    ``floor``; above that it reads as a layout breaking categories into clumps (module
    docstring)."""
    return layout_k <= max(agreement * features_k, floor)


def best_gap(
    rows: np.ndarray, min_size: int | None, curve: tuple[np.ndarray, np.ndarray] | None = None
) -> float | None:
    """The best eigengap of a class's fuzzy NEIGHBOURS graph (``curve``: that graph's eigengap
    curve where already computed), the value ``estimate_k`` tests against ``weak_gap``; None for
    a class that can hold only one category (never weak)."""
    if k_max(len(rows), min_size) == 1:
        return None
    if curve is None:
        curve = class_curve(rows, "eigengap", min_size, 0, NEIGHBOURS, "fuzzy")
    scores = curve[1]
    return float(np.nanmax(scores)) if np.isfinite(scores).any() else 0.0


def best_k(ks: np.ndarray, scores: np.ndarray, share: float | None = None) -> int:
    """The best-scoring K (1 when no K was scored); with ``share``, the largest K scoring at
    least that share of the best."""
    if not np.isfinite(scores).any():
        return 1
    if share is None:
        return int(ks[np.nanargmax(scores)])
    return int(ks[np.flatnonzero(near_best(scores, share)).max()])


def near_best(scores: np.ndarray, share: float) -> np.ndarray:
    """Where the curve scores at least ``share`` of its best (nan: not scored, never near)."""
    s = np.nan_to_num(np.asarray(scores, dtype=float), nan=-np.inf)
    return s >= share * s.max()


def rivals(
    ks: np.ndarray, scores: np.ndarray, chosen: int, share: float = FINEST_SHARE
) -> list[int]:
    """The curve's other peaks (no neighbour scoring higher) at least ``share`` of its best, the
    highest first: counts the criterion supports nearly as well as ``chosen``, for an analyst
    to try (MMLU's classes hold such pairs, docs/ESTIMATE_K.md "Near-equal peaks")."""
    s = np.nan_to_num(np.asarray(scores, dtype=float), nan=-np.inf)
    if not np.isfinite(s).any():
        return []
    left = np.concatenate([[-np.inf], s[:-1]])
    right = np.concatenate([s[1:], [-np.inf]])
    peaks = np.flatnonzero((s >= left) & (s >= right) & near_best(s, share))
    peaks = peaks[np.argsort(-s[peaks], kind="stable")]
    return [int(ks[i]) for i in peaks if int(ks[i]) != chosen]


def k_max(n: int, min_size: int | None = None) -> int:
    """The largest K searched in a class of n rows: groups of at least ``min_size`` (default 2)
    rows, at most MAX_PER_CLASS."""
    return max(1, min(MAX_PER_CLASS, n // (min_size or 2)))


def class_curve(
    rows: np.ndarray,
    criterion: str,
    min_size: int | None,
    seed: int,
    neighbours: int = NEIGHBOURS,
    graph: str = "fuzzy",
    ranked: Ranked | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The candidate K values of one class and the criterion's score at each (``graph``, and
    the rows' ``ranked`` neighbours where already found: the eigengap's)."""
    top = k_max(len(rows), min_size)
    ks = np.arange(1, top + 1)
    if top == 1:
        return ks, np.zeros(1)
    if criterion == "eigengap":
        scores = eigengaps(rows, top, neighbours, graph, ranked)
    elif criterion == "hdbscan":
        scores = hdbscan_persistence(rows, top)
    elif criterion == "silhouette":
        scores = silhouettes(rows, top, seed)
    elif criterion == "modularity":
        scores = modularity_votes(rows, top, seed, neighbours)
    elif criterion == "resolution":
        onset = null_onset(rows, seed, neighbours)
        scores = modularity_votes(rows, top, seed, neighbours, resolution=onset)
    elif criterion == "stability":
        scores = stabilities(rows, top, seed)
    else:
        scores = np.full(top, np.nan)
        scores[min(hdbscan_count(rows, min_size or FIXED_MIN_SIZE), top) - 1] = 1.0
    return ks, scores


Ranked = tuple[np.ndarray, np.ndarray]  # each row's nearest other rows, nearest first; distances


def graph_width(n: int, neighbours: int, graph: str) -> int:
    """How many other rows each of ``n`` rows is joined to in ``neighbour_graph`` (the row
    itself is counted among the ``neighbours``)."""
    return max(0, min(neighbours, n if graph in COSINE_GRAPHS else n - 1) - 1)


def ranked_neighbours(rows: np.ndarray, depth: int, graph: str = "knn") -> Ranked:
    """Each row's ``depth`` nearest other rows, nearest first, and their distances: by cosine
    for the ``"fuzzy"`` and ``"snn"`` graphs (features), Euclidean for ``"knn"`` (also a
    layout's positions; on unit-length features the same order)."""
    from coarse2fine.cluster.layout import knn_by_cosine

    depth = min(depth, len(rows) - 1)
    if depth <= 0:  # one row, or a graph of each row alone
        return np.zeros((len(rows), 0), dtype=np.int64), np.zeros((len(rows), 0))
    if graph in COSINE_GRAPHS:
        return knn_by_cosine(rows, depth)
    from sklearn.neighbors import NearestNeighbors

    dist, index = NearestNeighbors(n_neighbors=depth).fit(rows).kneighbors()  # self excluded
    return index, dist


def class_ranking(
    rows: np.ndarray,
    criterion: str,
    min_size: int | None,
    neighbours: int,
    graph: str = "knn",
    deep: bool = True,
) -> Ranked | None:
    """The eigengap's ranked neighbours of a class's rows; ``deep``: deep enough to serve its
    subsamples too (``restrict``), twice the graph's width and 8 more, else the width alone. An
    80 % subsample keeps fewer than the width of a row's list with odds of about 1e-7
    (binomial: 9 of 26 at 0.8), and is then searched anew. None where no graph is read."""
    if criterion != "eigengap" or k_max(len(rows), min_size) == 1:
        return None
    width = graph_width(len(rows), neighbours, graph)
    return ranked_neighbours(rows, 2 * width + 8 if deep else width, graph)


def restrict(ranked: Ranked, take: np.ndarray, width: int) -> Ranked | None:
    """The ``width`` nearest of each row of ``take`` (sorted row numbers) among the rows of
    ``take``, in their own numbering, read off the class's ranked lists; None where a row's list
    holds fewer than ``width`` of them (the caller searches anew)."""
    index, dist = ranked
    position = np.full(len(index), -1, dtype=np.int64)
    position[take] = np.arange(len(take))
    local = position[index[take]]
    member = local >= 0
    if (member.sum(axis=1) < width).any():
        return None
    order = np.argsort(~member, axis=1, kind="stable")[:, :width]  # members, in rank order
    return np.take_along_axis(local, order, axis=1), np.take_along_axis(dist[take], order, axis=1)


def neighbour_graph(
    rows: np.ndarray,
    neighbours: int = NEIGHBOURS,
    graph: str = "knn",
    ranked: Ranked | None = None,
):
    """The rows' neighbour graph (scipy sparse): ``"knn"``, the symmetrised nearest-neighbour
    connectivity graph (the row itself among its neighbours), as the spectral clusterer builds
    it; ``"fuzzy"``, UMAP's fuzzy graph of the same neighbours (the row itself counted among
    them, as UMAP counts); ``"snn"``, that fuzzy graph's edges weighted again by
    ``shared_neighbours``. ``ranked``: the rows' nearest others where already found, at least
    as many as the graph joins."""
    import scipy.sparse as sp

    from coarse2fine.cluster.layout import fuzzy_graph

    n = len(rows)
    width = graph_width(n, neighbours, graph)
    index, dist = ranked_neighbours(rows, width, graph) if ranked is None else ranked
    index, dist = index[:, :width], dist[:, :width]
    if graph == "fuzzy":
        return fuzzy_graph(index, dist, width + 1)
    if graph == "snn":
        return fuzzy_graph(index, dist, width + 1).multiply(shared_neighbours(index)).tocsr()
    heads = np.repeat(np.arange(n), width)
    joined = sp.csr_matrix((np.ones(n * width), (heads, index.ravel())), shape=(n, n))
    knn = joined + sp.identity(n, format="csr")
    return 0.5 * (knn + knn.T)


def shared_neighbours(index: np.ndarray):
    """The Jaccard share of two rows' neighbour lists, each row counted in its own (``index``:
    each row's nearest others, all lists as long), for every pair of rows that share one: the
    weight shared-nearest-neighbour clustering gives an edge (scipy sparse, zero diagonal)."""
    import scipy.sparse as sp

    n, width = index.shape
    lists = np.column_stack([np.arange(n), index])
    member = sp.csr_matrix(
        (np.ones(lists.size), (np.repeat(np.arange(n), width + 1), lists.ravel())), shape=(n, n)
    )
    shared = (member @ member.T).tocoo()
    share = shared.data / (2 * (width + 1) - shared.data)
    off = shared.row != shared.col
    return sp.csr_matrix((share[off], (shared.row[off], shared.col[off])), shape=(n, n))


def eigengaps(
    rows: np.ndarray,
    top: int,
    neighbours: int = NEIGHBOURS,
    graph: str = "knn",
    ranked: Ranked | None = None,
) -> np.ndarray:
    """lambda_{K+1} - lambda_K for K = 1..top, lambda the normalised Laplacian's eigenvalues in
    ascending order."""
    import scipy.sparse as sp
    from scipy.sparse.csgraph import laplacian

    lap = laplacian(neighbour_graph(rows, neighbours, graph, ranked), normed=True)
    want = min(top + 1, len(rows))
    if len(rows) <= 1500:
        values = np.linalg.eigvalsh(lap.toarray())[:want]
    else:  # the largest of 2I - L are the smallest of L, a fast Lanczos problem
        from scipy.sparse.linalg import eigsh

        shifted = 2 * sp.identity(len(rows)) - lap
        values = np.sort(2 - eigsh(shifted, k=want, which="LA", return_eigenvectors=False))
    values = np.clip(values, 0.0, None)
    gaps = np.full(top, np.nan)
    gaps[: len(values) - 1] = np.diff(values)
    return gaps


def hdbscan_count(rows: np.ndarray, min_size: int) -> int:
    """Dense groups HDBSCAN finds with groups of at least ``min_size`` rows (noise ignored)."""
    from sklearn.cluster import HDBSCAN

    if len(rows) < 2 * min_size:  # too few rows for two groups of min_size
        return 1
    labels = HDBSCAN(
        min_cluster_size=min_size, min_samples=min(MIN_SAMPLES, len(rows) - 1), copy=True
    ).fit_predict(rows)
    return max(1, len(set(labels.tolist()) - {-1}))


def hdbscan_persistence(rows: np.ndarray, top: int) -> np.ndarray:
    """Share of a log-spaced range of minimum group sizes (2 .. a third of the rows) at which
    HDBSCAN finds K groups."""
    sizes = np.unique(np.geomspace(2, max(2, len(rows) // 3), 12).astype(int))
    scores = np.zeros(top)
    for size in sizes:
        scores[min(hdbscan_count(rows, int(size)), top) - 1] += 1.0 / len(sizes)
    return scores


def silhouettes(rows: np.ndarray, top: int, seed: int) -> np.ndarray:
    """Mean cosine silhouette of K-Means with K groups, K = 2..top (K = 1 has none)."""
    from sklearn.metrics import silhouette_score

    from coarse2fine.cluster.kmeans import kmeans

    scores = np.full(top, np.nan)
    for k in range(2, min(top, len(rows) - 1) + 1):
        labels, _ = kmeans(rows, k, seed=seed, n_init=3)
        if len(np.unique(labels)) > 1:
            scores[k - 1] = silhouette_score(rows, labels, metric="cosine")
    return scores


def modularity_votes(
    rows: np.ndarray,
    top: int,
    seed: int,
    neighbours: int = NEIGHBOURS,
    runs: int = 5,
    resolution: float = 1.0,
) -> np.ndarray:
    """Share of ``runs`` Louvain runs (at ``resolution``) finding K communities of 2+ rows (on
    the connectivity graph). In a class of more than MODULARITY_ROWS rows each run counts its own
    random sample of that many rows (its graph built on the sample), so the count is read at
    the scale it was measured at, and the votes spread over the draws."""
    most = MODULARITY_ROWS or len(rows)
    whole = louvain_graph(rows, neighbours) if len(rows) <= most else None  # serves every run
    rng = np.random.default_rng(seed)
    scores = np.zeros(top)
    for run in range(runs):
        graph = whole
        if graph is None:
            sample = rows[np.sort(rng.choice(len(rows), most, replace=False))]
            graph = louvain_graph(sample, neighbours)
        k = communities(graph, resolution, seed + run)
        scores[min(k, top) - 1] += 1.0 / runs
    return scores


def louvain_graph(rows: np.ndarray, neighbours: int = NEIGHBOURS):
    """The rows' connectivity graph (``neighbour_graph``, scipy sparse) without the loops
    joining each row to itself, as ``communities`` reads it."""
    import scipy.sparse as sp

    graph = neighbour_graph(rows, neighbours).tocsr()
    graph = graph - sp.diags(graph.diagonal())
    graph.eliminate_zeros()
    return graph


def communities(graph, resolution: float, seed: int) -> int:
    """How many communities of 2+ rows Louvain finds in ``graph`` (a symmetric scipy sparse
    adjacency) at ``resolution`` (at least 1): scikit-network's compiled Louvain on Newman's
    modularity, the nodes visited in an order shuffled once by ``seed``, a level's passes and
    the levels stopped where they gain at most 1e-7. networkx's pure-Python Louvain, the
    package's until 2026-12-07, took three quarters of the count's time on large classes
    (docs/SCALE.md); it differs in detail (a level's passes run until no node moves, 1e-7 only
    between levels, the order shuffled at every level, float64), so counts move as with
    another seed."""
    from sknetwork.clustering import Louvain

    if graph.nnz == 0:  # no edges: every row its own community, none of 2+ rows
        return 1
    louvain = Louvain(
        resolution=resolution,
        modularity="newman",
        tol_optimization=1e-7,
        tol_aggregation=1e-7,
        shuffle_nodes=True,
        random_state=seed % 2**32,  # numpy's RandomState takes seeds below 2**32
        sort_clusters=False,
        return_probs=False,
        return_aggregate=False,
    )
    sizes = np.bincount(louvain.fit_predict(graph))
    return max(1, int(np.sum(sizes >= 2)))


def null_onset(rows: np.ndarray, seed: int, neighbours: int = NEIGHBOURS) -> float:
    """The largest of RESOLUTIONS at which rows without structure stay one Louvain community:
    as many rows as the class's (at most MODULARITY_ROWS) drawn from a Gaussian with its mean and
    covariance, put on the unit sphere, read on the same neighbour graph. A bisection over
    RESOLUTIONS (the count grows with the resolution); the smallest where even it splits."""
    rng = np.random.default_rng(seed)
    size = min(len(rows), MODULARITY_ROWS or len(rows))
    mean, spread = rows.mean(axis=0), np.cov(rows, rowvar=False)
    draw = rng.multivariate_normal(mean, np.atleast_2d(spread), size, method="eigh")
    graph = louvain_graph(l2_normalize(draw.astype(np.float32)), neighbours)
    low, high = -1, len(RESOLUTIONS)  # whole at low (-1: none tried), split at high
    while high - low > 1:
        middle = (low + high) // 2
        if communities(graph, float(RESOLUTIONS[middle]), seed) > 1:
            high = middle
        else:
            low = middle
    return float(RESOLUTIONS[max(low, 0)])


def stabilities(rows: np.ndarray, top: int, seed: int, runs: int | None = None) -> np.ndarray:
    """One minus the instability of K-Means with K groups, K = 2..top (K = 1 has none), over
    ``runs`` (None: STABILITY_RUNS) random splits of the rows in two halves: the share of the
    second half's rows labelled otherwise by the first half's centres than by its own
    clustering (under the best matching of groups, as clustering ACC matches them), over the
    share for a random relabelling of the second half (Lange et al. 2004)."""
    from coarse2fine.cluster.kmeans import kmeans, nearest_centre
    from coarse2fine.metrics import cluster_acc

    def disagreement(a: np.ndarray, b: np.ndarray) -> float:
        return 1.0 - cluster_acc(b, a) / 100.0

    runs = STABILITY_RUNS if runs is None else runs
    rng = np.random.default_rng(seed)
    half = len(rows) // 2
    scores = np.full(top, np.nan)
    for k in range(2, min(top, half) + 1):
        found, chance = 0.0, 0.0
        for _ in range(runs):
            order = rng.permutation(len(rows))
            first, second = rows[order[:half]], rows[order[half : 2 * half]]
            _, centres = kmeans(first, k, seed=int(rng.integers(2**31)), n_init=1)
            own, _ = kmeans(second, k, seed=int(rng.integers(2**31)), n_init=1)
            found += disagreement(nearest_centre(second, centres), own)
            chance += disagreement(rng.permutation(own), own)
        if chance > 0:
            scores[k - 1] = 1.0 - found / chance
    return scores

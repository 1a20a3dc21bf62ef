"""Discovery: one clustering of all rows, or one inside each coarse class when labels are known.

The clusterer is K-Means ("kmeans"), spectral clustering of the rows' k-nearest-neighbour graph
("spectral"), the same on the rows' UMAP layout in 5 dimensions with K-Means then refining the
partition there, or Ward linkage cutting the layout where those groups come out unequal in size
("umap-spectral", coarse2fine.cluster.layout, ``cut_layout``), agglomerative clustering of the
rows at unit length with Ward linkage ("ward": bottom-up merges, no neighbour graph), or any
object with scikit-learn's ``fit_predict`` (cloned for every clustering, with ``n_clusters`` and
``random_state`` set when it has them). Whatever the clusterer, a category's centre is its
rows' mean feature.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from coarse2fine.cluster.kmeans import kmeans, l2_normalize
from coarse2fine.cluster.layout import layout
from coarse2fine.data.dataset import InputError

CLUSTERERS = ("kmeans", "spectral", "umap-spectral", "ward")
SPECTRAL_NEIGHBOURS = 15  # the neighbours of each row in the spectral graph (UMAP's default)
# umap-spectral cuts a class's layout by Ward linkage instead where the groups spectral
# clustering and K-Means found there spread in size beyond this (std / mean of their sizes)
UNEQUAL_SPREAD = 0.3
WARD_MAX_ROWS = 10_000  # exact Ward holds the rows' pairwise distances: 400 MB at 10,000


@dataclass
class Clustering:
    """Every row's category, each category's centre and coarse parent (index into classes)."""

    labels: np.ndarray  # (N,) category id per row
    centres: np.ndarray  # (K, d)
    parents: np.ndarray  # (K,) coarse class id of each category

    @property
    def n_clusters(self) -> int:
        return len(self.centres)


def allocate_by_size(sizes: np.ndarray, k: int) -> np.ndarray:
    """Split k clusters over groups in proportion to their sizes (largest remainder), with at
    least one per group and never more than a group's rows.

    Proportional shares assume fine categories of similar size, so a group with twice the rows
    holds about twice the categories (on HWU64 this misplaces 6 of 64 categories against 10 for
    "one each, the rest by size - 1"; on CLINC both are exact).
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    g = len(sizes)
    if k < g:
        raise InputError(
            f"{k} fine categories cannot cover {g} coarse classes: nested discovery needs at "
            f"least one per coarse class (raise --n-fine or use global clustering)"
        )
    if k > sizes.sum():
        raise InputError(f"{k} fine categories but only {sizes.sum()} rows")
    share = k * sizes / sizes.sum()
    alloc = np.clip(np.floor(share).astype(np.int64), 1, sizes)
    while alloc.sum() < k:  # hand out the rest by largest remainder, where rows allow
        room = np.where(alloc < sizes, share - alloc, -np.inf)
        alloc[int(np.argmax(room))] += 1
    while alloc.sum() > k:  # the minimum of one overshot: take back from the most over-served
        excess = np.where(alloc > 1, alloc - share, -np.inf)
        alloc[int(np.argmax(excess))] -= 1
    return alloc


def majority_parents(labels: np.ndarray, coarse: np.ndarray, k: int) -> np.ndarray:
    """The coarse class holding most of each cluster's rows."""
    table = np.zeros((k, int(coarse.max()) + 1), dtype=np.int64)
    np.add.at(table, (labels, coarse), 1)
    return table.argmax(1)


def discover(
    features: np.ndarray,
    k: int,
    *,
    coarse: np.ndarray | None = None,
    nested: bool = True,
    seed: int = 0,
    n_init: int = 10,
    backend: str = "auto",
    counts: np.ndarray | None = None,
    clusterer: Any = "kmeans",
) -> Clustering:
    """Cluster features into k categories.

    nested=True (needs ``coarse``): K-Means inside each coarse class, k split by class size,
    so no category straddles two coarse classes. nested=False: one global K-Means; each
    category's parent is then the majority coarse class of its rows (when coarse is given).
    ``counts`` (nested only) gives each coarse class's number of categories instead of the
    split by size (e.g. estimated ones); they must add up to k. ``clusterer``: see the module
    docstring; a centre is then its rows' mean feature, at unit length.
    """
    check_clusterer(clusterer)
    n = len(features)
    if not 1 <= k <= n:
        raise InputError(f"--n-fine must be between 1 and the number of rows ({n}), got {k}")
    if nested and coarse is None:
        raise ValueError("nested discovery needs coarse labels")
    if not nested:
        labels, centres = partition(features, k, clusterer, seed, n_init, backend)
        parents = (
            majority_parents(labels, coarse, k) if coarse is not None else np.zeros(k, np.int64)
        )
        return Clustering(labels, centres, parents)
    classes = np.unique(coarse)
    sizes = np.array([(coarse == c).sum() for c in classes])
    if counts is None:
        alloc = allocate_by_size(sizes, k)
    else:
        alloc = np.asarray(counts, dtype=np.int64)
        if alloc.shape != sizes.shape or alloc.sum() != k or (alloc < 1).any():
            raise ValueError(f"counts must give each of the {len(sizes)} classes >= 1, sum {k}")
        alloc = np.minimum(alloc, sizes)
    labels = np.empty(n, dtype=np.int64)
    centres, parents = [], []
    groups = [np.flatnonzero(coarse == c) for c in classes]

    def one(job: tuple[np.ndarray, int]) -> tuple[np.ndarray, np.ndarray]:
        return partition(features[job[0]], job[1], clusterer, seed, n_init, backend)

    jobs = list(zip(groups, (int(k_c) for k_c in alloc), strict=True))
    found = side_by_side(one, jobs) if clusterer == "umap-spectral" else [one(j) for j in jobs]
    for c, k_c, rows, (sub, sub_centres) in zip(classes, alloc, groups, found, strict=True):
        labels[rows] = sub + len(centres)
        centres.extend(sub_centres)
        parents.extend([c] * int(k_c))
    return Clustering(labels, np.asarray(centres, dtype=np.float32), np.asarray(parents, np.int64))


def side_by_side(work: Callable[[Any], Any], jobs: list) -> list:
    """``work`` on every job, on threads, results in the jobs' order. For the layouts, whose
    numpy loops hold one core each; each job has its own random stream, so the result does not
    depend on the order they finish."""
    if len(jobs) < 2:
        return [work(job) for job in jobs]
    from concurrent.futures import ThreadPoolExecutor

    # warning filters are process-wide: set here, so the threads' own save-and-restore of them
    # cannot leave the caller's filters changed
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Graph is not fully connected")
        with ThreadPoolExecutor(min(len(jobs), os.cpu_count() or 1)) as pool:
            return list(pool.map(work, jobs))


def check_clusterer(clusterer: Any) -> None:
    if isinstance(clusterer, str):
        if clusterer not in CLUSTERERS:
            raise InputError(
                f"clusterer must be one of {', '.join(CLUSTERERS)} or an object with "
                f"fit_predict, got {clusterer!r}"
            )
    elif not callable(getattr(clusterer, "fit_predict", None)):
        raise InputError(
            f"clusterer {type(clusterer).__name__} has no fit_predict(X): pass one of "
            f"{', '.join(CLUSTERERS)} or a scikit-learn style clusterer"
        )


def partition(
    features: np.ndarray, k: int, clusterer: Any, seed: int, n_init: int, backend: str = "auto"
) -> tuple[np.ndarray, np.ndarray]:
    """Labels (0..k-1) and centres of ``features`` split into k groups by ``clusterer``."""
    if clusterer == "kmeans":
        return kmeans(features, k, seed=seed, n_init=n_init, backend=backend)
    n = len(features)
    if k == 1 or k >= n:
        labels = np.zeros(n, np.int64) if k == 1 else np.arange(n, dtype=np.int64)
    elif clusterer == "spectral":
        labels = spectral_labels(features, k, seed)
    elif clusterer == "umap-spectral":
        labels = cut_layout(layout(features, seed=seed), k, seed)
    elif clusterer == "ward":
        if n > WARD_MAX_ROWS:
            gb = n * (n - 1) / 2 * 8 / 1e9
            raise InputError(
                f"clusterer 'ward' holds the pairwise distances of the rows it clusters at once: "
                f"{n:,} rows need about {gb:.0f} GB; it takes at most {WARD_MAX_ROWS:,} (per "
                f"coarse class when nested): use 'umap-spectral' or 'kmeans' for more"
            )
        labels = ward_labels(l2_normalize(np.ascontiguousarray(features, dtype=np.float32)), k)
    else:
        from sklearn.base import clone

        model = clone(clusterer)
        params = model.get_params() if hasattr(model, "get_params") else {}
        wanted = {"n_clusters": k, "random_state": seed}
        model.set_params(**{name: v for name, v in wanted.items() if name in params})
        labels = model.fit_predict(features)
    labels = np.unique(np.asarray(labels), return_inverse=True)[1].astype(np.int64)
    return labels, mean_centres(features, labels, k)


def spectral_labels(points: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Spectral clustering of the points' symmetrised 15-nearest-neighbour graph into k groups
    (scikit-learn's, with the deterministic cluster_qr assignment)."""
    from sklearn.cluster import SpectralClustering

    model = SpectralClustering(
        n_clusters=k,
        affinity="nearest_neighbors",
        n_neighbors=min(SPECTRAL_NEIGHBOURS, len(points) - 1),
        assign_labels="cluster_qr",
        random_state=seed,
    )
    with warnings.catch_warnings():  # fine categories far apart leave the graph in pieces
        warnings.filterwarnings("ignore", message="Graph is not fully connected")
        return model.fit_predict(points)


def cut_layout(positions: np.ndarray, k: int, seed: int) -> np.ndarray:
    """``umap-spectral``'s cut of one class's layout into k groups: spectral clustering refined
    by K-Means; where those groups spread in size beyond ``UNEQUAL_SPREAD`` (the class's
    categories are unequal, and the normalised cut prefers equal ones), Ward linkage on the
    same positions instead. On DBpedia's and MMLU's test splits, whose categories are unequal,
    the switch gained 0.9 and 1.7 ACC, on HWU64 0.2, on CLINC (equal sizes) nothing
    (``python bench/long_tail.py``; docs/DEFAULTS.md "Categories of a few rows, or of unequal
    size")."""
    labels = refine_by_kmeans(positions, spectral_labels(positions, k, seed))
    if size_spread(labels) > UNEQUAL_SPREAD and len(positions) <= WARD_MAX_ROWS:
        return ward_labels(positions, k)
    return labels


def size_spread(labels: np.ndarray) -> float:
    """Standard deviation over mean of the groups' sizes (0 when all are equal)."""
    sizes = np.bincount(np.unique(labels, return_inverse=True)[1])
    return float(sizes.std() / sizes.mean())


def ward_labels(points: np.ndarray, k: int) -> np.ndarray:
    """Agglomerative clustering of the points into k groups with Ward linkage (exact: it holds
    the points' pairwise distances, n^2 / 2 floats)."""
    from sklearn.cluster import AgglomerativeClustering

    return AgglomerativeClustering(k, linkage="ward").fit_predict(points)


def refine_by_kmeans(points: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Lloyd's K-Means started from the groups' means: spectral clustering finds the clumps,
    K-Means moves the borders between them. On the layout it keeps most of spectral's gain on
    categories of equal size and narrows its loss on MMLU's unequal ones (docs/DEFAULTS.md);
    it does not make the layout's clusterer good on categories of a few rows each
    (``python bench/long_tail.py``: Ward linkage leads there)."""
    from sklearn.cluster import KMeans

    groups = np.unique(labels, return_inverse=True)[1]
    starts = np.stack([points[groups == g].mean(axis=0) for g in range(groups.max() + 1)])
    return KMeans(len(starts), init=starts, n_init=1).fit_predict(points)


def mean_centres(features: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """Each group's mean feature at unit length (an empty group keeps a zero centre)."""
    sums = np.zeros((k, features.shape[1]), dtype=np.float64)
    np.add.at(sums, labels, features)
    return l2_normalize(sums.astype(np.float32))

"""UMAP's neighbour graph and low-dimensional layout, for the clustering step.

An implementation of the algorithm of McInnes, Healy & Melville (2018, "UMAP: Uniform Manifold
Approximation and Projection"), written here in numpy so that the clustering step needs no
compiler at run time: each row's k nearest neighbours by cosine become a fuzzy graph (each
row's distances scaled so that its neighbours' memberships sum to log2 k, then the fuzzy
union of both directions), and a layout in a few dimensions is fitted to that graph by
stochastic gradient descent: every edge pulls its two rows together at a rate set by its
weight, random rows push apart. With ``min_dist=0`` the rows of one dense region collapse
into a tight clump, which is what the clusterer that follows needs.

One difference from the reference implementation: every edge due in an epoch is applied from
the positions at the start of that epoch (as GPU implementations do), not one after another.

A layout is deterministic for its rows and seed, and ``discover`` asks for the same one up to
three times (the count of categories on each class's layout, once more on a wider graph after
neighbour training, then the clusterer's cut), so the most recent layouts are kept
(``RECENT_LAYOUTS``, up to ``RECENT_BYTES``), found again by a digest of the unit-length rows
and the settings, and handed back as copies; ``Discoverer.fit`` forgets them when it is done
(``forget_layouts``).
"""

from __future__ import annotations

import hashlib
import threading
import warnings
from collections import OrderedDict

import numpy as np
from scipy import sparse
from scipy.optimize import curve_fit

from coarse2fine.cluster.kmeans import l2_normalize

LAYOUT_DIMS = 5  # BERTopic's setting
LAYOUT_NEIGHBOURS = 15  # UMAP's default, counting the row itself
NEGATIVES = 5  # random rows pushed away for every edge pulled
SMOOTH_STEPS = 64  # bisection steps for each row's distance scale
RECENT_LAYOUTS = 64  # layouts kept for the next call with the same rows and settings, and
RECENT_BYTES = 256 * 2**20  # at most this much of them (the newest is always kept)

_recent: OrderedDict[bytes, np.ndarray] = OrderedDict()
_recent_lock = threading.Lock()  # classes are laid out side by side on threads


def forget_layouts() -> None:
    """Drop the recent layouts ``layout`` keeps, so that the next call fits anew (a benchmark
    timing what a fresh ``discover`` pays)."""
    with _recent_lock:
        _recent.clear()


def knn_by_cosine(features: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's k nearest other rows by cosine, nearest first, and their cosine distances."""
    return _knn_of_unit(l2_normalize(np.ascontiguousarray(features, dtype=np.float32)), k)


def _knn_of_unit(unit: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``knn_by_cosine`` of rows already at unit length (float32)."""
    from coarse2fine.cluster.neighbours import nearest_neighbours

    # torch whether or not faiss is installed: the same rows give the same layout everywhere
    index, _ = nearest_neighbours(unit, k, backend="torch")
    index = index[:, 1:]  # rank 0 is the row itself
    cosine = np.einsum("nd,nkd->nk", unit, unit[index])
    return index, np.maximum(1.0 - cosine, 0.0)


def membership_scales(dist: np.ndarray, n_neighbours: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's offset rho (its nearest neighbour's distance) and scale sigma such that
    sum_j exp(-max(d_ij - rho, 0) / sigma) = log2(n_neighbours), found by bisection; sigma is
    kept at least 1e-3 of the row's mean distance (UMAP's floor)."""
    target = np.log2(n_neighbours)
    positive = np.where(dist > 0, dist, np.inf).min(axis=1)
    rho = np.where(np.isfinite(positive), positive, 0.0)
    gap = np.maximum(dist - rho[:, None], 0.0)
    lo = np.zeros(len(dist))
    hi = np.full(len(dist), np.inf)
    mid = np.ones(len(dist))
    for _ in range(SMOOTH_STEPS):
        total = np.exp(-gap / mid[:, None]).sum(axis=1)
        above = total > target
        hi = np.where(above, mid, hi)
        lo = np.where(above, lo, mid)
        mid = np.where(np.isinf(hi), mid * 2.0, (lo + hi) / 2.0)
    floor = 1e-3 * np.where(rho > 0, dist.mean(axis=1), dist.mean())
    return rho, np.maximum(mid, floor)


def fuzzy_graph(index: np.ndarray, dist: np.ndarray, n_neighbours: int) -> sparse.csr_matrix:
    """The symmetric fuzzy neighbour graph: w = a + a^T - a * a^T of the directed memberships
    a_ij = exp(-max(d_ij - rho_i, 0) / sigma_i)."""
    rho, sigma = membership_scales(dist, n_neighbours)
    weights = np.exp(-np.maximum(dist - rho[:, None], 0.0) / sigma[:, None])
    n = len(index)
    rows = np.repeat(np.arange(n), index.shape[1])
    directed = sparse.csr_matrix((weights.ravel(), (rows, index.ravel())), shape=(n, n))
    product = directed.multiply(directed.T)
    graph = (directed + directed.T - product).tocsr()
    graph.eliminate_zeros()
    return graph


def curve_parameters(min_dist: float = 0.0, spread: float = 1.0) -> tuple[float, float]:
    """a, b of the layout's similarity 1 / (1 + a d^(2b)), fitted to 1 below min_dist and
    exp(-(d - min_dist) / spread) above it (UMAP's curve)."""
    x = np.linspace(0, spread * 3, 300)
    y = np.where(x < min_dist, 1.0, np.exp(-(x - min_dist) / spread))
    (a, b), _ = curve_fit(lambda d, a, b: 1.0 / (1.0 + a * d ** (2 * b)), x, y)
    return float(a), float(b)


def initial_layout(graph: sparse.csr_matrix, dims: int, rng: np.random.Generator) -> np.ndarray:
    """The graph's spectral embedding scaled to [0, 10] per dimension, or random positions where
    the graph is too small for one."""
    n = graph.shape[0]
    if n > dims + 1:
        from sklearn.manifold import spectral_embedding

        with warnings.catch_warnings():  # separate clumps leave the graph in pieces
            warnings.filterwarnings("ignore", message="Graph is not fully connected")
            start = spectral_embedding(
                graph, n_components=dims, drop_first=True, random_state=int(rng.integers(2**31))
            )
        start = start + rng.normal(scale=1e-4, size=start.shape)
    else:
        start = rng.uniform(-10, 10, size=(n, dims))
    low, high = start.min(axis=0), start.max(axis=0)
    return 10.0 * (start - low) / np.where(high > low, high - low, 1.0)


def layout(
    features: np.ndarray,
    *,
    dims: int = LAYOUT_DIMS,
    n_neighbours: int = LAYOUT_NEIGHBOURS,
    epochs: int | None = None,
    seed: int = 0,
) -> np.ndarray:
    """Positions (N x dims) of the rows in UMAP's layout of their cosine neighbour graph
    (min_dist 0). Deterministic for a seed; a recent layout of the same rows is handed back
    (module docstring)."""
    n = len(features)
    if n < 3:
        return np.zeros((n, dims))
    n_neighbours = min(n_neighbours, n)
    epochs = epochs or (500 if n <= 10_000 else 200)
    unit = l2_normalize(np.ascontiguousarray(features, dtype=np.float32))
    digest = hashlib.blake2b(unit.tobytes(), digest_size=32)
    digest.update(repr((unit.shape, dims, n_neighbours, epochs, seed)).encode())
    key = digest.digest()
    with _recent_lock:
        if key in _recent:
            _recent.move_to_end(key)
            return _recent[key].copy()
    positions = _fit_layout(unit, dims, n_neighbours, epochs, seed)
    with _recent_lock:
        _recent[key] = positions.copy()
        while len(_recent) > 1 and (
            len(_recent) > RECENT_LAYOUTS
            or sum(kept.nbytes for kept in _recent.values()) > RECENT_BYTES
        ):
            _recent.popitem(last=False)
    return positions


def _fit_layout(
    unit: np.ndarray, dims: int, n_neighbours: int, epochs: int, seed: int
) -> np.ndarray:
    """``layout``'s positions of the unit-length rows, fitted anew."""
    n = len(unit)
    rng = np.random.default_rng(seed)
    index, dist = _knn_of_unit(unit, n_neighbours - 1)
    graph = fuzzy_graph(index, dist, n_neighbours).tocoo()
    keep = graph.data >= graph.data.max() / epochs
    head, tail, weight = graph.row[keep], graph.col[keep], graph.data[keep]
    a, b = curve_parameters()
    positions = initial_layout(graph.tocsr(), dims, rng)
    every = weight.max() / weight  # an edge is applied once every `every` epochs
    due = every.copy()
    for epoch in range(epochs):
        now = due <= epoch + 1
        due[now] += every[now]
        i, j = head[now], tail[now]
        far = rng.integers(0, n, size=(len(i), NEGATIVES))
        positions += (1.0 - epoch / epochs) * forces(positions, i, j, far, a, b)
    return positions


def forces(
    positions: np.ndarray, i: np.ndarray, j: np.ndarray, far: np.ndarray, a: float, b: float
) -> np.ndarray:
    """One epoch's moves (N x dims) before the learning rate: each edge (i, j) pulls both ends
    together along the gradient of log(1 / (1 + a d^2b)), each row i is pushed from its sampled
    rows ``far[e]`` along that of log(1 - 1 / (1 + a d^2b)); every component clipped to +-4."""
    n, dims = positions.shape
    diff = positions[i] - positions[j]
    d2 = np.einsum("ed,ed->e", diff, diff)
    log_d2 = np.log(np.where(d2 > 0, d2, 1.0))
    pull = -2 * a * b * np.exp((b - 1) * log_d2) / (a * np.exp(b * log_d2) + 1)
    pulled = np.clip(np.where(d2 > 0, pull, 0.0)[:, None] * diff, -4, 4)
    diff = positions[i][:, None, :] - positions[far]
    d2 = np.einsum("esd,esd->es", diff, diff)
    push = 2 * b / ((1e-3 + d2) * (a * np.exp(b * np.log(np.maximum(d2, 1e-300))) + 1))
    pushed = np.where((d2 > 0)[..., None], np.clip(push[..., None] * diff, -4, 4), 0.0)
    rows = np.concatenate([i, j, i])
    moves = np.concatenate([pulled, -pulled, pushed.sum(axis=1)])
    cells = (rows[:, None] * dims + np.arange(dims)).ravel()
    return np.bincount(cells, weights=moves.ravel(), minlength=n * dims).reshape(n, dims)

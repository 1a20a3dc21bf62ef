"""K-Means on discovery features: scikit-learn by default, faiss for large inputs when installed.

scikit-learn seeds with k-means++; faiss.Kmeans seeds at random. On small inputs with clusters
of unequal size random seeding loses: FALCON's start on the 5-coarse, 12-fine blobs of
tests/test_falcon.py recovered the hierarchy with sklearn on 3 of 4 seeds and with faiss on 0
of 4 (bench/precision.py); on 10^6 synthetic 384-d rows (10 coarse classes of 10^5,
15 categories each) faiss took 4.5 s at ACC 92.3, scikit-learn 228 s at ACC 100
(bench/scale.py). scikit-learn stays well inside the time a run of that size takes anyway, so
"auto" takes faiss only from ``FAISS_MIN_ROWS`` rows in one clustering.
"""

from __future__ import annotations

import importlib.util

import numpy as np
from sklearn.cluster import KMeans

from coarse2fine.data.dataset import InputError


def l2_normalize(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length: K-Means then follows cosine geometry, as the losses do."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.maximum(norms, 1e-12)).astype(np.float32)


FAISS_MIN_ROWS = 1_000_000


def faiss_available() -> bool:
    return importlib.util.find_spec("faiss") is not None


def kmeans(
    x: np.ndarray, k: int, *, seed: int = 0, n_init: int = 10, backend: str = "auto"
) -> tuple[np.ndarray, np.ndarray]:
    """Cluster rows of ``x`` into ``k`` groups; returns (labels, centres).

    backend: "sklearn", "faiss", or "auto" (faiss when installed and ``x`` has at least
    ``FAISS_MIN_ROWS`` rows, else sklearn).
    """
    n = len(x)
    if not 1 <= k <= n:
        raise InputError(f"the number of clusters must be between 1 and the {n} rows, got {k}")
    if backend not in ("auto", "sklearn", "faiss"):
        raise ValueError(f"backend must be 'auto', 'sklearn' or 'faiss', got {backend!r}")
    large = n >= FAISS_MIN_ROWS
    use_faiss = backend == "faiss" or (backend == "auto" and large and faiss_available())
    if use_faiss:
        import faiss

        model = faiss.Kmeans(x.shape[1], k, niter=100, nredo=n_init, seed=seed, verbose=False)
        model.train(np.ascontiguousarray(x, dtype=np.float32))
        _, labels = model.index.search(np.ascontiguousarray(x, dtype=np.float32), 1)
        return labels.ravel().astype(np.int64), model.centroids.astype(np.float32)
    model = KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit(x)
    return model.labels_.astype(np.int64), model.cluster_centers_.astype(np.float32)


def group_mask(row_groups: np.ndarray, centre_groups: np.ndarray) -> np.ndarray:
    """(rows, centres) booleans: True where a row may join a centre, i.e. both are of the same
    group. A row whose group no centre has (or of group -1) may join any centre."""
    mask = np.asarray(row_groups)[:, None] == np.asarray(centre_groups)[None, :]
    mask[~mask.any(axis=1)] = True
    return mask


def nearest_centre(
    x: np.ndarray,
    centres: np.ndarray,
    *,
    row_groups: np.ndarray | None = None,
    centre_groups: np.ndarray | None = None,
) -> np.ndarray:
    """Index of the closest centre (Euclidean) for each row, in chunks to bound memory. With
    groups (e.g. coarse classes), a row joins the closest centre of its own group
    (``group_mask``)."""
    if (row_groups is None) != (centre_groups is None):
        raise ValueError("give both row_groups and centre_groups, or neither")
    out = np.empty(len(x), dtype=np.int64)
    c2 = (centres**2).sum(1)
    for s in range(0, len(x), 4096):
        chunk = x[s : s + 4096]
        distance = c2[None, :] - 2.0 * chunk @ centres.T
        if row_groups is not None:
            distance[~group_mask(row_groups[s : s + 4096], centre_groups)] = np.inf
        out[s : s + 4096] = np.argmin(distance, axis=1)
    return out

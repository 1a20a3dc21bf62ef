"""Exact nearest neighbours by cosine, for the neighbour-based methods (DNA, DOWN).

Every row gets its ``k + 1`` nearest rows with itself at rank 0, over all rows or only over the
rows of its own coarse class. Exact search: faiss ``IndexFlatIP`` when installed, else torch
matrix products in chunks of rows (memory ``chunk x N`` floats, never ``N x N``).

``layout_neighbours`` mines them instead in each coarse class's UMAP layout (the space the
``umap-spectral`` clusterer cuts): there a row's nearest rows share its fine category more
often than its nearest rows by cosine (docs/NEIGHBOURS.md, "Neighbours mined in the layout").
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch

from coarse2fine.cluster.kmeans import faiss_available, l2_normalize

CHUNK = 2048


def nearest_neighbours(
    features: np.ndarray,
    k: int,
    coarse: np.ndarray | None = None,
    *,
    backend: str = "auto",
    chunk: int = CHUNK,
) -> tuple[np.ndarray, np.ndarray]:
    """Indices (N x (k+1)) of every row's nearest rows by cosine, the row itself first, and a
    mask of the slots that hold a real neighbour (a coarse class with fewer than k + 1 rows,
    with ``coarse`` given, leaves its last slots empty; they point at the row itself)."""
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    if backend not in ("auto", "faiss", "torch"):
        raise ValueError(f"backend must be 'auto', 'faiss' or 'torch', got {backend!r}")
    features = l2_normalize(np.ascontiguousarray(features, dtype=np.float32))
    groups = _groups(len(features), coarse)
    use_faiss = backend == "faiss" or (backend == "auto" and faiss_available())

    def search(rows: np.ndarray) -> np.ndarray:
        width = min(k + 1, len(rows))
        sub = features[rows]
        return _search_faiss(sub, width) if use_faiss else _search_torch(sub, width, chunk)

    return _slots(len(features), k, groups, map(search, groups))


def layout_neighbours(
    features: np.ndarray, k: int, coarse: np.ndarray, *, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """As ``nearest_neighbours`` with ``coarse`` given, but ranked by Euclidean distance in each
    coarse class's UMAP layout of the features (``coarse2fine.cluster.layout.layout``, the
    classes laid out side by side on threads), not by cosine on the features."""
    from sklearn.neighbors import NearestNeighbors

    from coarse2fine.cluster.layout import layout
    from coarse2fine.cluster.nested import side_by_side

    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    features = l2_normalize(np.ascontiguousarray(features, dtype=np.float32))
    groups = _groups(len(features), coarse)
    positions = side_by_side(lambda rows: layout(features[rows], seed=seed), groups)
    found = (
        NearestNeighbors(n_neighbors=min(k + 1, len(points))).fit(points).kneighbors(points)[1]
        for points in positions
    )
    return _slots(len(features), k, groups, found)


def _groups(n: int, coarse: np.ndarray | None) -> list[np.ndarray]:
    """The rows searched together: all of them, or each coarse class's."""
    if coarse is None:
        return [np.arange(n)]
    return [np.flatnonzero(coarse == c) for c in np.unique(coarse)]


def _slots(
    n: int, k: int, groups: list[np.ndarray], found: Iterable[np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """The N x (k+1) indices and their mask from each group's search (the group's own row
    numbers, min(k + 1, group size) per row, nearest first), each row itself put first."""
    index = np.repeat(np.arange(n)[:, None], k + 1, axis=1)
    valid = np.zeros((n, k + 1), dtype=bool)
    for rows, local in zip(groups, found, strict=True):
        width = local.shape[1]
        index[rows, :width] = rows[_self_first(local)]
        valid[rows, :width] = True
    return index, valid


def _search_torch(features: np.ndarray, width: int, chunk: int) -> np.ndarray:
    bank = torch.from_numpy(features)
    out = np.empty((len(features), width), dtype=np.int64)
    for start in range(0, len(features), chunk):
        sims = bank[start : start + chunk] @ bank.t()
        rows = torch.arange(start, min(start + chunk, len(features)))
        sims[rows - start, rows] = float("inf")  # the row itself first, even among duplicates
        out[start : start + chunk] = sims.topk(width, dim=1).indices.numpy()
    return out


def _search_faiss(features: np.ndarray, width: int) -> np.ndarray:
    import faiss

    index = faiss.IndexFlatIP(features.shape[1])
    index.add(features)
    return index.search(features, width)[1].astype(np.int64)


def _self_first(found: np.ndarray) -> np.ndarray:
    """Put each row's own index at rank 0 (duplicate rows may tie with it in faiss)."""
    own = np.arange(len(found))
    out = found.copy()
    for i in np.flatnonzero(found[:, 0] != own):
        others = [j for j in found[i] if j != i][: found.shape[1] - 1]
        out[i] = [i, *others]
    return out


def reciprocal(index: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Which neighbour slots are mutual: j is among i's neighbours and i among j's."""
    n = len(index)
    rows = np.repeat(np.arange(n), index.shape[1])
    cols = index.ravel()
    ok = valid.ravel()
    pairs = np.unique(rows[ok] * n + cols[ok])
    mutual = np.isin(cols * n + rows, pairs, assume_unique=False)
    return (mutual & ok).reshape(index.shape)


def same_top_dims(features: np.ndarray, index: np.ndarray, dims: int = 5) -> np.ndarray:
    """Which neighbour slots hold a row whose ``dims`` largest feature dimensions are the same
    set as the row's own (DNA's filter at its first mining)."""
    top = np.sort(np.argsort(-features, axis=1, kind="stable")[:, :dims], axis=1)
    return (top[index] == top[:, None, :]).all(axis=2)

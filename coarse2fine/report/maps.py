"""2-D maps of the discovery features, computed once when ``discover`` runs (t-SNE on a sample).

Two maps: all rows (a seeded sample of at most ``max_rows``), and each coarse class on its own
(at most ``max_per_class`` rows each), so the report can show the coarse classes side by side and
the categories inside one class. Rows outside the samples have no coordinates (NaN).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

MAX_ROWS = 2000
MAX_PER_CLASS = 500


def _tsne(features: np.ndarray, seed: int) -> np.ndarray:
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    if len(features) < 5:  # t-SNE needs a few rows more than its perplexity
        return np.zeros((len(features), 2))
    if features.shape[1] < 2:  # one input column: the map is that value itself
        return np.column_stack([features[:, 0], np.zeros(len(features))])
    reduced = PCA(n_components=min(30, *features.shape), random_state=seed).fit_transform(features)
    perplexity = float(min(30, (len(features) - 1) / 3))
    return TSNE(perplexity=perplexity, init="pca", random_state=seed).fit_transform(reduced)


def feature_maps(
    features: np.ndarray,
    coarse: np.ndarray,
    *,
    seed: int = 0,
    max_rows: int = MAX_ROWS,
    max_per_class: int = MAX_PER_CLASS,
) -> pd.DataFrame:
    """Columns x, y (the map of all rows) and cx, cy (the map inside the row's coarse class)."""
    rng = np.random.default_rng(seed)
    n = len(features)
    out = np.full((n, 4), np.nan)
    sample = np.sort(rng.choice(n, size=min(n, max_rows), replace=False))
    out[sample, :2] = _tsne(features[sample], seed)
    for c in np.unique(coarse):
        rows = np.flatnonzero(coarse == c)
        rows = np.sort(rng.choice(rows, size=min(len(rows), max_per_class), replace=False))
        out[rows, 2:] = _tsne(features[rows], seed)
    return pd.DataFrame(out, columns=["x", "y", "cx", "cy"])

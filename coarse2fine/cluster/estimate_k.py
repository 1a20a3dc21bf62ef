"""How many fine categories hide in each coarse class, when nobody knows.

HDBSCAN (scikit-learn) runs inside each coarse class on unit-length features (Discoverer passes
the encoder's features before training, which do not depend on the training seed); the
number of dense groups it finds (noise rows ignored, at least one per class) is that class's
estimate. Density-based rather than a K-Means model-selection criterion because the criteria we
tried (silhouette per class over K = 2..40) kept rising with K on sentence features, where
near-paraphrases form tight micro-clusters, and chose about three times too many categories on
HWU64 (a development probe, not kept as a script).
``min_size`` is the smallest group worth calling a category (20 rows; docs/BENCHMARKS.md has the
estimates it gives on CLINC and HWU64).

Per class, the density counts are noisy, but their errors largely cancel in the total (the
estimate_k table of docs/BENCHMARKS.md shows both on CLINC and HWU64). ``split="size"`` (the
default) therefore keeps only the total and shares it over the coarse classes in proportion to
their rows, as nested discovery does with a given K; ``split="density"`` keeps the per-class
counts.
"""

from __future__ import annotations

import numpy as np

from coarse2fine.cluster.kmeans import l2_normalize

MIN_SIZE = 20
MIN_SAMPLES = 3


SPLITS = ("size", "density")


def estimate_counts(
    features: np.ndarray,
    coarse: np.ndarray | None = None,
    *,
    min_size: int = MIN_SIZE,
    min_samples: int = MIN_SAMPLES,
    split: str = "size",
) -> np.ndarray:
    """Estimated number of fine categories per coarse class (in ``np.unique(coarse)`` order; one
    entry for all rows when ``coarse`` is None)."""
    from sklearn.cluster import HDBSCAN

    from coarse2fine.cluster.nested import allocate_by_size

    if min_size < 2:
        raise ValueError(f"min_size must be >= 2, got {min_size}")
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    features = l2_normalize(np.asarray(features, dtype=np.float32))
    coarse = np.zeros(len(features), np.int64) if coarse is None else np.asarray(coarse)
    counts = []
    for c in np.unique(coarse):
        rows = features[coarse == c]
        if len(rows) < 2 * min_size:  # too few rows for two groups of min_size
            counts.append(1)
            continue
        labels = HDBSCAN(
            min_cluster_size=min_size,
            min_samples=min(min_samples, len(rows) - 1),
            copy=True,
        ).fit_predict(rows)
        counts.append(max(1, len(set(labels.tolist()) - {-1})))
    counts = np.asarray(counts, dtype=np.int64)
    if split == "size":
        sizes = np.unique(coarse, return_counts=True)[1]  # rows per class, same order
        counts = allocate_by_size(sizes, int(counts.sum()))
    return counts

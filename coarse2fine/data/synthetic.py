"""Synthetic hierarchical data with a known coarse -> fine relation, for tests and examples."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from coarse2fine.data.dataset import CoarseDataset


def make_hierarchical_blobs(
    fine_per_coarse: Sequence[int] = (3, 2, 4),
    rows_per_fine: int = 40,
    dim: int = 16,
    coarse_spread: float = 6.0,
    fine_spread: float = 3.0,
    noise: float = 0.5,
    seed: int = 0,
) -> CoarseDataset:
    """Gaussian blobs in two levels: coarse centres, fine centres around them, rows around those.

    Coarse class ``c{i}`` holds ``fine_per_coarse[i]`` fine classes named ``c{i}.f{j}``, each with
    ``rows_per_fine`` rows, so the true relation is known exactly.
    """
    rng = np.random.default_rng(seed)
    vectors, coarse, fine = [], [], []
    for i, n_fine in enumerate(fine_per_coarse):
        centre = rng.normal(0.0, coarse_spread, dim)
        for j in range(n_fine):
            sub = centre + rng.normal(0.0, fine_spread, dim)
            vectors.append(sub + rng.normal(0.0, noise, (rows_per_fine, dim)))
            coarse += [f"c{i}"] * rows_per_fine
            fine += [f"c{i}.f{j}"] * rows_per_fine
    order = rng.permutation(len(coarse))
    return CoarseDataset(
        coarse=np.asarray(coarse)[order],
        vectors=np.concatenate(vectors)[order],
        fine=np.asarray(fine)[order],
        name="synthetic",
    )

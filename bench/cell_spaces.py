"""Why training does not pay on the cell sets: how separable the fine types are in each space.

On Zeisel (560 cells, 47 types) and PBMC (700 cells, 10 populations) the default `discover`
falls back to the standardised input, 0.6 and 1.5 ACC below PCA + K-Means (docs/DEFAULTS.md).
This measures, in every representation a user could cluster, two things inside each coarse
class with K_c given:

- ACC of K-Means (what `discover` and the PCA peer do; unit-length spaces through the
  package's own nested K-Means, the PCA coordinates through scikit-learn's, as bench/peers.py);
- the 1-nearest-neighbour fine accuracy: how often a cell's nearest other cell of its coarse
  class has its fine type (leave-one-out, Euclidean in the space as given). It reads the fine
  labels, so no method could use it; it says how far apart the types lie in that space, an
  upper bound of sorts on what a clustering of it can find.

Representations: ``input`` (the genes standardised, unit length: `discover`'s starting space
on vectors), ``pca-20`` / ``pca-50`` / ``pca-100`` (standardised, then principal components,
as the peer: not normalised), ``pca-50-unit`` (the same at unit length), ``trained`` (the
default method, DOWN on the MLP, trained with the coarse labels and the fallback off), and
``trained-on-pca-50`` (the same MLP trained on the 50 components instead of the genes).

    python bench/cell_spaces.py
    python bench/cell_spaces.py --report-only

One cell per (dataset, seed) under bench/results/cell_spaces/.
"""

from __future__ import annotations

import numpy as np
from common import ROOT, mean_std, package_defaults, replace_section
from harness import Cell, main
from sources import VECTOR_DATASETS

RESULTS = ROOT / "bench" / "results" / "cell_spaces"
SPACES = ("input", "pca-20", "pca-50", "pca-100", "pca-50-unit", "trained", "trained-on-pca-50")
CELLS = [
    Cell(d, "spaces", seed, {"version": 1, "defaults": package_defaults()})
    for d in VECTOR_DATASETS
    for seed in (0, 1, 2)
]


def nearest_type_accuracy(features: np.ndarray, coarse: np.ndarray, fine: np.ndarray) -> float:
    """Share of rows whose nearest other row of the same coarse class has the same fine label."""
    hits = 0
    for c in np.unique(coarse):
        rows = np.flatnonzero(coarse == c)
        if len(rows) < 2:
            continue
        x = features[rows].astype(np.float64)
        squared = (x * x).sum(1)
        distance = squared[:, None] + squared[None, :] - 2.0 * x @ x.T
        np.fill_diagonal(distance, np.inf)
        hits += int((fine[rows][distance.argmin(1)] == fine[rows]).sum())
    return hits / len(coarse)


def trained_features(data, seed: int) -> np.ndarray:
    from sources import true_counts

    from coarse2fine import Discoverer

    est = Discoverer(n_fine=true_counts(data), seed=seed, fallback=False, progress=False)
    return est.fit(data).embedding_


def run_one(cell: Cell) -> dict:
    from sources import load, true_counts
    from systems import kmeans_in_classes, pca_coordinates

    from coarse2fine import Discoverer
    from coarse2fine.cluster import discover, l2_normalize
    from coarse2fine.data import CoarseDataset
    from coarse2fine.metrics import clustering_scores

    data, seed = load(cell.dataset), cell.seed
    coarse, fine = np.asarray(data.coarse).astype(str), np.asarray(data.fine).astype(str)
    counts = true_counts(data)
    given = {"n_fine": counts, "seed": seed, "progress": False}
    start = Discoverer("unsupervised", **given).fit(data).embedding_  # standardised, unit
    spaces = {"input": start}
    for p in (20, 50, 100):
        spaces[f"pca-{p}"] = pca_coordinates(data.vectors, p, seed)
    spaces["pca-50-unit"] = l2_normalize(spaces["pca-50"])
    spaces["trained"] = trained_features(data, seed)
    on_pca = CoarseDataset(
        coarse=data.coarse, vectors=spaces["pca-50"].astype(np.float32), fine=data.fine
    )
    spaces["trained-on-pca-50"] = trained_features(on_pca, seed)
    per_class = np.array([counts[str(c)] for c in data.coarse_classes])
    out: dict = {"dataset": cell.dataset, "seed": seed, "rows": len(data), "spaces": {}}
    for name, features in spaces.items():
        if name.startswith("pca-") and not name.endswith("unit"):  # as the peer clusters them
            labels = kmeans_in_classes(data, features, seed)
        else:
            labels = discover(
                features, int(per_class.sum()), coarse=np.asarray(data.coarse_ids),
                counts=per_class, seed=seed,
            ).labels  # fmt: skip
        out["spaces"][name] = {
            "ACC": clustering_scores(fine, labels)["ACC"],
            "nearest_type": 100 * nearest_type_accuracy(features, coarse, fine),
        }
    sizes = np.unique(fine, return_counts=True)[1]
    out["types"] = len(sizes)
    out["median_type_size"] = float(np.median(sizes))
    out["cells_in_types_under_10"] = 100 * float(sizes[sizes < 10].sum()) / len(fine)
    return out


def report(records: list[dict]) -> None:
    lines = [
        "## Cell sets: how separable the fine types are in each space",
        "",
        "Command: `python bench/cell_spaces.py`. Inside each coarse class, K_c given, mean ± std",
        "over the seeds run; `ACC`: K-Means (unit-length spaces through the package's nested",
        "K-Means, PCA coordinates through scikit-learn's, as bench/peers.py); `1-NN type`: how",
        "often a cell's nearest other cell of its coarse class has its fine type (reads the fine",
        "labels: a diagnostic of separability, not a method). Spaces: bench/cell_spaces.py's",
        "docstring. `input` is what `discover` clusters on these sets (its fallback), `pca-50`",
        "the peer.",
        "",
        "| dataset | types (median cells; % of cells in types under 10) | space | seeds | ACC |"
        " 1-NN type |",
        "|---|---|---|---|---|---|",
    ]
    for dataset in VECTOR_DATASETS:
        recs = [r for r in records if r["dataset"] == dataset]
        if not recs:
            continue
        first = recs[0]
        about = (
            f"{first['types']} ({first['median_type_size']:g}; "
            f"{first['cells_in_types_under_10']:.0f} %)"
        )
        for space in SPACES:
            acc = mean_std([r["spaces"][space]["ACC"] for r in recs])
            nn = mean_std([r["spaces"][space]["nearest_type"] for r in recs])
            lines.append(f"| {dataset} | {about} | {space} | {len(recs)} | {acc} | {nn} |")
    replace_section("cell_spaces", "\n".join(lines))


if __name__ == "__main__":
    main(__file__, __doc__, CELLS, run_one, report, RESULTS)

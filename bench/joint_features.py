"""Does clustering the trained and the untrained features TOGETHER beat either alone? And does
a spectral graph sized to the categories beat the fixed 15 neighbours?

Training moves MiniLM's features toward the coarse labels and the rows' neighbours; where it
pays (CLINC) the trained space wins, where it does not (MMLU, the cell sets) the starting one
does, and no label-free signal tells them apart reliably (docs/DEFAULTS.md, "The fallback
signal"). Joining the two spaces asks no signal: each row's feature becomes the concatenation of
its L2-normalised trained and untrained features (each half weighs the same in a cosine), so a
neighbour must be close in both to count fully.

Reads the features ``bench/peers.py`` saves with ``C2F_PEERS_FEATURES=DIR`` (the ``discover``
row's and the ``untrained`` row's, same rows and seed; the ``down`` row's for the cell sets,
whose default falls back) and clusters each representation inside every coarse class with K_c
given, by K-Means and by spectral clustering, as ``discover`` does. Nothing is trained here.

    C2F_PEERS_FEATURES=/tmp/feats python bench/peers.py
    C2F_PEERS_FEATURES=/tmp/feats python bench/main_job_clusterers.py   # clinc-train
    C2F_PEERS_FEATURES=/tmp/feats python bench/joint_features.py
    python bench/joint_features.py --report-only

One cell per (dataset, seed) under bench/results/joint_features/; a cell whose features are not
in the folder fails with what to run, the others still run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from common import ROOT, mean_std, on_saved_features, replace_section
from harness import Cell, main
from sources import TEXT_DATASETS, VECTOR_DATASETS

RESULTS = ROOT / "bench" / "results" / "joint_features"
TRAINED_ROW = {"zeisel": "down", "pbmc": "down"}  # the default falls back on cells
REPRESENTATIONS = ("trained", "untrained", "joint")
CLUSTERERS = ("kmeans", "spectral", "spectral-sized")
# clinc-train: the README's main job, 120 rows per category (bench/main_job_clusterers.py saves
# its features for seed 0 only)
DATASETS = (*TEXT_DATASETS, "clinc-train", *VECTOR_DATASETS)
CELLS = [
    Cell(d, "joint", seed, {"version": 1, "trained": TRAINED_ROW.get(d, "discover")})
    for d in DATASETS
    for seed in ((0,) if d == "clinc-train" else (0, 1, 2))
]


class SizedSpectral:
    """Spectral clustering whose neighbour graph grows with the categories: each row links to
    as many rows as a category holds on average (at least 15, the package's fixed count, at
    most 100), instead of 15 whatever the size."""

    def __init__(self, n_clusters: int = 2, random_state: int = 0) -> None:
        self.n_clusters, self.random_state = n_clusters, random_state

    def get_params(self, deep: bool = True) -> dict:
        return {"n_clusters": self.n_clusters, "random_state": self.random_state}

    def set_params(self, **params) -> SizedSpectral:
        for name, value in params.items():
            setattr(self, name, value)
        return self

    def fit_predict(self, x: np.ndarray) -> np.ndarray:
        import warnings

        from sklearn.cluster import SpectralClustering

        size = len(x) / max(self.n_clusters, 1)
        model = SpectralClustering(
            n_clusters=self.n_clusters,
            affinity="nearest_neighbors",
            n_neighbors=int(min(len(x) - 1, max(15, min(100, round(size))))),
            assign_labels="cluster_qr",
            random_state=self.random_state,
        )
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Graph is not fully connected")
            return model.fit_predict(x)


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def joint(trained: np.ndarray, untrained: np.ndarray) -> np.ndarray:
    """Each half L2-normalised, then the whole: both spaces weigh the same in a cosine."""
    return unit(np.hstack([unit(trained), unit(untrained)])).astype(np.float32)


def study(folder: Path, dataset: str, seed: int) -> dict | None:
    from sources import load, true_counts

    from coarse2fine.cluster import discover
    from coarse2fine.data import load_dataset
    from coarse2fine.metrics import clustering_scores

    row = TRAINED_ROW.get(dataset, "discover")
    files = {
        "trained": folder / f"{dataset}-{row}-seed{seed}.npz",
        "untrained": folder / f"{dataset}-untrained-seed{seed}.npz",
    }
    if not all(f.is_file() for f in files.values()):
        return None
    data = load_dataset("clinc", "train") if dataset == "clinc-train" else load(dataset)
    feats = {k: np.load(f)["features"].astype(np.float32) for k, f in files.items()}
    feats["joint"] = joint(feats["trained"], feats["untrained"])
    counts = true_counts(data)
    per_class = np.array([counts[str(c)] for c in data.coarse_classes])
    out: dict = {"dataset": dataset, "seed": seed, "trained_row": row, "ACC": {}}
    for name in REPRESENTATIONS:
        for clusterer in CLUSTERERS:
            if clusterer == "spectral-sized":
                if name == "joint":
                    continue
                clusterer = SizedSpectral()
            labels = discover(
                feats[name],
                int(per_class.sum()),
                coarse=np.asarray(data.coarse_ids),
                counts=per_class,
                seed=seed,
                clusterer=clusterer,
            ).labels
            acc = clustering_scores(data.fine, labels)["ACC"]
            label = clusterer if isinstance(clusterer, str) else "spectral-sized"
            out["ACC"][f"{name} ({label})"] = round(float(acc), 2)
            print(f"{dataset} seed {seed} {name} ({label}): ACC {acc:.2f}", flush=True)
    return out


def run_one(cell: Cell) -> dict:
    producer = "bench/main_job_clusterers.py" if cell.dataset == "clinc-train" else None
    return on_saved_features(
        cell, study, cell.dataset, cell.seed, producer=producer or "bench/peers.py"
    )


def report(results: list[dict]) -> None:
    columns = [
        f"{r} ({c})"
        for r in REPRESENTATIONS
        for c in CLUSTERERS
        if not (r == "joint" and c == "spectral-sized")
    ]
    lines = [
        "## Joint features: trained and untrained clustered together",
        "",
        "Command: `C2F_PEERS_FEATURES=DIR python bench/peers.py`, then `C2F_PEERS_FEATURES=DIR "
        "python bench/joint_features.py`. The same rows as the Peers table (K_c given, nested), "
        "each representation clustered by K-Means and by spectral clustering; `joint`: each "
        "row's L2-normalised trained and untrained features side by side. Trained features: "
        "the default `discover`'s (texts), DOWN's without the fallback (cells, seed 0). ACC "
        "x100, mean ± std over the seeds found.",
        "",
        "| dataset | seeds | " + " | ".join(columns) + " |",
        "|---|---|" + "---|" * len(columns),
    ]
    for dataset in dict.fromkeys(r["dataset"] for r in results):
        got = [r for r in results if r["dataset"] == dataset]
        cells = [mean_std([r["ACC"][c] for r in got]) for c in columns]
        lines.append(f"| {dataset} | {len(got)} | " + " | ".join(cells) + " |")
    replace_section("joint-features", "\n".join(lines))


if __name__ == "__main__":
    main(__file__, __doc__, CELLS, run_one, report, RESULTS)

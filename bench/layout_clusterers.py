"""Which clustering of a UMAP layout? The study behind ``clusterer="umap-spectral"``.

BERTopic clusters a 5-dimensional UMAP layout of the embeddings instead of the embeddings, and
on the text sets it beat the package's K-Means on the untrained features by 2-5 ACC (the Peers
table). This script asks what the layout is worth on the package's own features, and which
clusterer should follow it. Inside every coarse class, K_c given, each representation (the
default's trained features, the untrained encoder's) is clustered by:

- ``kmeans`` and ``spectral``: the package's clusterers on the features themselves;
- ``layout+kmeans``, ``layout+spectral``: K-Means / spectral clustering (15-NN graph) of the
  class's layout (coarse2fine.cluster.layout: 5 dimensions, 15 neighbours, min_dist 0);
- ``umap-spectral``: the package's clusterer, spectral clustering of the layout refined there by
  K-Means started from its groups' means;
- ``umap-learn+spectral``: the same with umap-learn's layout in place of the package's (same
  settings), to check the package's implementation against the reference one (needs the
  ``peers`` extra).

Reads the features ``bench/peers.py`` saves with ``C2F_PEERS_FEATURES=DIR`` (its ``discover``
and ``untrained`` rows); nothing is trained here.

    C2F_PEERS_FEATURES=/tmp/feats python bench/peers.py
    C2F_PEERS_FEATURES=/tmp/feats python bench/layout_clusterers.py
    python bench/layout_clusterers.py --report-only

One cell per (dataset, seed) under bench/results/layout_clusterers/.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np
from common import ROOT, mean_std, on_saved_features, replace_section
from harness import Cell, main
from sources import TEXT_DATASETS

RESULTS = ROOT / "bench" / "results" / "layout_clusterers"
REPRESENTATIONS = ("trained", "untrained")
CLUSTERERS = (
    "kmeans",
    "spectral",
    "layout+kmeans",
    "layout+spectral",
    "umap-spectral",
    "umap-learn+spectral",
)
CELLS = [
    Cell(d, "layout", seed, {"version": 1, "clusterers": list(CLUSTERERS)})
    for d in TEXT_DATASETS
    for seed in (0, 1, 2)
]


class LayoutClusterer:
    """A clusterer of one coarse class's rows through a layout: ``then`` is "kmeans",
    "spectral", "spectral+kmeans" or "ward" (agglomerative, Ward linkage: groups may differ in
    size); ``engine`` "package" or "umap-learn". Layouts are kept per rows and seed, so the
    variants of one cell share them."""

    layouts: dict[tuple, np.ndarray] = {}

    def __init__(self, then: str, engine: str = "package", n_clusters: int = 2, random_state=0):
        self.then, self.engine = then, engine
        self.n_clusters, self.random_state = n_clusters, random_state

    def get_params(self, deep: bool = True) -> dict:
        return {
            "then": self.then,
            "engine": self.engine,
            "n_clusters": self.n_clusters,
            "random_state": self.random_state,
        }

    def set_params(self, **params) -> LayoutClusterer:
        for name, value in params.items():
            setattr(self, name, value)
        return self

    def positions(self, x: np.ndarray) -> np.ndarray:
        key = (self.engine, self.random_state, hashlib.sha1(x.tobytes()).hexdigest())
        if key not in self.layouts:
            if self.engine == "umap-learn":
                import umap

                model = umap.UMAP(
                    n_neighbors=min(15, len(x) - 1),
                    n_components=5,
                    min_dist=0.0,
                    metric="cosine",
                    random_state=self.random_state,
                )
                self.layouts[key] = model.fit_transform(x)
            else:
                from coarse2fine.cluster.layout import layout

                self.layouts[key] = layout(x, seed=self.random_state)
        return self.layouts[key]

    def fit_predict(self, x: np.ndarray) -> np.ndarray:
        from sklearn.cluster import KMeans

        from coarse2fine.cluster.nested import refine_by_kmeans, spectral_labels, ward_labels

        points = self.positions(x)
        k = self.n_clusters
        if self.then == "kmeans":  # on the positions as they are (no unit length)
            return KMeans(k, n_init=10, random_state=self.random_state).fit_predict(points)
        if self.then == "ward":
            return ward_labels(points, k)
        labels = spectral_labels(points, k, self.random_state)
        return refine_by_kmeans(points, labels) if self.then == "spectral+kmeans" else labels


def clusterer(name: str):
    return {
        "layout+kmeans": LayoutClusterer("kmeans"),
        "layout+spectral": LayoutClusterer("spectral"),
        "umap-learn+spectral": LayoutClusterer("spectral+kmeans", "umap-learn"),
    }.get(name, name)


def centre_agreement(feats: np.ndarray, coarse: np.ndarray, found) -> float:
    """Share of rows (x100) whose nearest category centre by cosine, among their own coarse
    class's categories, is the category the clustering gave them: how far ``predict`` on the
    same rows (``within="given"``) agrees with the fit. K-Means in the feature space agrees by
    construction; a clustering made elsewhere (a graph, a layout) need not."""
    from coarse2fine.cluster.kmeans import l2_normalize

    sims = l2_normalize(feats) @ found.centres.T
    sims[found.parents[None, :] != coarse[:, None]] = -np.inf
    return round(float(np.mean(sims.argmax(1) == found.labels) * 100), 2)


def study(folder: Path, dataset: str, seed: int) -> dict | None:
    from sources import load, true_counts

    from coarse2fine.cluster import discover
    from coarse2fine.metrics import clustering_scores

    files = {
        "trained": folder / f"{dataset}-discover-seed{seed}.npz",
        "untrained": folder / f"{dataset}-untrained-seed{seed}.npz",
    }
    if not all(f.is_file() for f in files.values()):
        return None
    data = load(dataset)
    counts = true_counts(data)
    per_class = np.array([counts[str(c)] for c in data.coarse_classes])
    out: dict = {"dataset": dataset, "seed": seed, "ACC": {}, "seconds": {}, "centre_agreement": {}}
    for name in REPRESENTATIONS:
        feats = np.load(files[name])["features"].astype(np.float32)
        for label in CLUSTERERS:
            start = time.perf_counter()
            found = discover(
                feats,
                int(per_class.sum()),
                coarse=np.asarray(data.coarse_ids),
                counts=per_class,
                seed=seed,
                clusterer=clusterer(label),
            )
            acc = clustering_scores(data.fine, found.labels)["ACC"]
            out["ACC"][f"{name} ({label})"] = round(float(acc), 2)
            out["seconds"][f"{name} ({label})"] = round(time.perf_counter() - start, 2)
            out["centre_agreement"][f"{name} ({label})"] = centre_agreement(
                feats, np.asarray(data.coarse_ids), found
            )
            print(f"{dataset} seed {seed} {name} ({label}): ACC {acc:.2f}", flush=True)
    return out


def run_one(cell: Cell) -> dict:
    return on_saved_features(cell, study, cell.dataset, cell.seed)


def report(results: list[dict]) -> None:
    lines = [
        "## Layout clusterers: what to cluster after a UMAP layout",
        "",
        "Command: `C2F_PEERS_FEATURES=DIR python bench/peers.py`, then `C2F_PEERS_FEATURES=DIR "
        "python bench/layout_clusterers.py`. The Peers table's rows (K_c given, nested), the "
        "default's trained features and the untrained encoder's, each clustered inside every "
        "coarse class by the clusterers of bench/layout_clusterers.py's docstring "
        "(`umap-spectral` is the package's default for texts with small categories). ACC x100, "
        "mean ± std over seeds; `s`: seconds of the whole clustering with `umap-spectral` and "
        "with the same on umap-learn's layout (layouts included; on the trained features "
        "umap-learn's is the first layout of the cell's process, so numba's compilation is in "
        "it), mean over seeds; `agree`: the share of rows whose nearest category "
        "centre (in the features, inside their coarse class: what `predict` does) is the "
        "category the clustering gave them, for spectral and umap-spectral (K-Means: 100 by "
        "construction).",
        "",
    ]
    for name in REPRESENTATIONS:
        columns = [f"{name} ({c})" for c in CLUSTERERS]
        lines += [
            f"{name.capitalize()} features:",
            "",
            "| dataset | seeds | "
            + " | ".join(CLUSTERERS)
            + " | s (umap-spectral) | s (umap-learn+spectral) | agree (spectral) "
            "| agree (umap-spectral) |",
            "|---|---|" + "---|" * (len(CLUSTERERS) + 4),
        ]
        for dataset in dict.fromkeys(r["dataset"] for r in results):
            got = [r for r in results if r["dataset"] == dataset]
            cells = [mean_std([r["ACC"][c] for r in got]) for c in columns]
            took = [
                np.mean([r["seconds"][f"{name} ({c})"] for r in got])
                for c in ("umap-spectral", "umap-learn+spectral")
            ]
            agree = [
                np.mean([r["centre_agreement"][f"{name} ({c})"] for r in got])
                for c in ("spectral", "umap-spectral")
            ]
            lines.append(
                f"| {dataset} | {len(got)} | "
                + " | ".join(cells)
                + f" | {took[0]:.1f} | {took[1]:.1f} | {agree[0]:.1f} | {agree[1]:.1f} |"
            )
        lines.append("")
    replace_section("layout-clusterers", "\n".join(lines).rstrip())


if __name__ == "__main__":
    main(__file__, __doc__, CELLS, run_one, report, RESULTS)

"""Categories of unequal size: the default clusterer against Ward linkage on the same layout.

CLINC's and HWU64's test splits hold categories of nearly equal size, DBpedia's (2 to 123 rows
in one class) and MMLU's (20 to 342) do not, and users' data often do not. Each cell takes the
default ``discover``'s features (trained given K, cached by bench/estimate_k.py) and clusters
every coarse class with K_c given, on the rows as they are and on a long-tail subsample of
them: inside each coarse class the categories are put in a random order and the i-th of m keeps
a share 10^(-i / (m - 1)) of its rows (at least 3), so the largest holds about 10 times the
smallest. Clusterers: ``kmeans``, ``umap-spectral`` and ``ward`` (the package's; ``ward``:
agglomerative clustering of the features at unit length with Ward linkage; ``umap-spectral``
cuts a class's layout by Ward linkage where its spectral groups come out unequal,
``nested.cut_layout``), ``spectral only`` (``umap-spectral`` without that switch, as before
2026-12-06), and ``layout+ward`` (the same UMAP layout as ``umap-spectral``, cut by Ward
linkage; bench/layout_clusterers.py's ``LayoutClusterer``). ``default``: the one of them
``clusterer="auto"`` picks for the rows (by their rows per category:
``Discoverer._resolve_clusterer``). ACC x100, mean ± std over seeds; the subsample's rows are
drawn with the cell's seed.

Row ``train-split``: larger categories, on the train splits (CLINC's 120 rows per intent and
HWU64's 33-159 cut to the same long tail, about 12-160 rows per category; DBpedia's as it is,
8 to 494), with the default trained on the rows it clusters, K_c given (its features cached
under bench/cache/long_tail/).

    python bench/long_tail.py
    python bench/long_tail.py --row train-split
    python bench/long_tail.py --report-only

One cell per (dataset, row, seed) under bench/results/long_tail/.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from common import ROOT, mean_std, replace_section
from harness import Cell, main
from sources import TEXT_DATASETS

RESULTS = ROOT / "bench" / "results" / "long_tail"
RATIO = 10.0  # largest to smallest category inside a coarse class, in the long-tail subsample
MIN_ROWS = 3
SUBSETS = ("as is", "long tail", "train, as is", "train, long tail")
# train splits: CLINC's and HWU64's (120 and 33-159 rows per intent) cut to a long tail,
# DBpedia's as it is (8 to 494 rows per category); MMLU's left out (12,509 long rows)
TRAIN_SPLITS = {"clinc": "train, long tail", "hwu64": "train, long tail", "dbpedia": "train, as is"}
CACHE = ROOT / "bench" / "cache" / "long_tail"
CLUSTERERS = ("kmeans", "spectral only", "umap-spectral", "layout+ward", "ward")
CELLS = [
    Cell(d, "long-tail", seed, {"version": 3, "ratio": RATIO, "clusterers": list(CLUSTERERS)})
    for d in TEXT_DATASETS
    for seed in (0, 1, 2)
] + [
    # larger categories: the train splits, the default trained on the rows it clusters
    Cell(d, "train-split", seed, {"version": 1, "ratio": RATIO, "clusterers": list(CLUSTERERS)})
    for d in TRAIN_SPLITS
    for seed in (0, 1, 2)
]


def long_tail(fine: np.ndarray, coarse: np.ndarray, seed: int) -> np.ndarray:
    """Indices of a subsample whose categories fall off geometrically inside each class."""
    rng = np.random.default_rng(seed)
    keep: list[int] = []
    for c in np.unique(coarse):
        cats = np.unique(fine[coarse == c])
        rng.shuffle(cats)
        for i, f in enumerate(cats):
            rows = np.flatnonzero((coarse == c) & (fine == f))
            share = RATIO ** (-(i / max(len(cats) - 1, 1)))
            n = min(len(rows), max(MIN_ROWS, round(len(rows) * share)))
            keep.extend(rng.choice(rows, n, replace=False).tolist())
    return np.sort(np.asarray(keep))


def run_one(cell: Cell) -> dict[str, Any]:
    from estimate_k import features
    from layout_clusterers import LayoutClusterer
    from sources import load

    from coarse2fine import Discoverer
    from coarse2fine.cluster import discover
    from coarse2fine.metrics import cluster_acc

    if cell.row == "train-split":
        data, feats, subsets = train_split(cell.dataset, cell.seed)
    else:
        data = load(cell.dataset)
        feats = features(data, cell.dataset, cell.seed)["after"]
        subsets = {"as is": np.arange(len(data))}
        if cell.dataset != "mmlu":  # MMLU's subjects are unequal already (20 to 342 rows)
            subsets["long tail"] = long_tail(
                np.asarray(data.fine).astype(str), np.asarray(data.coarse_ids), cell.seed
            )
    fine, coarse = np.asarray(data.fine).astype(str), np.asarray(data.coarse_ids)
    record: dict[str, Any] = {"subsets": {}}
    for name, rows in subsets.items():
        sizes, counts = {}, []
        for c in np.unique(coarse[rows]):
            _, n = np.unique(fine[rows][coarse[rows] == c], return_counts=True)
            sizes[str(c)] = [int(n.min()), int(n.max())]
            counts.append(len(n))
        accs = {}
        # "spectral only": the package's layout cut by spectral clustering refined by K-Means,
        # as umap-spectral was before its Ward switch
        layouts = {"layout+ward": "ward", "spectral only": "spectral+kmeans"}
        for clusterer in CLUSTERERS:
            method = LayoutClusterer(layouts[clusterer]) if clusterer in layouts else clusterer
            found = discover(
                feats[rows],
                int(sum(counts)),
                coarse=coarse[rows],
                counts=np.asarray(counts),
                seed=cell.seed,
                clusterer=method,
            )
            accs[clusterer] = round(float(cluster_acc(fine[rows], found.labels)), 2)
        picked = Discoverer()._resolve_clusterer(data.subset(rows), len(rows) / sum(counts))
        record["subsets"][name] = {
            "rows": len(rows),
            "categories": int(sum(counts)),
            "sizes": sizes,
            "ACC": accs,
            "default": picked,
        }
        print(cell.dataset, cell.seed, name, accs, flush=True)
    return record


def train_split(name: str, seed: int) -> tuple[Any, np.ndarray, dict[str, np.ndarray]]:
    """The train split's rows this cell clusters (``TRAIN_SPLITS``), as a dataset of their own,
    and the default's features trained on them with K_c given (cached under bench/cache)."""
    from common import defaults_key
    from sources import true_counts

    from coarse2fine import Discoverer
    from coarse2fine.data import load_dataset

    full = load_dataset(name, "train", **({"on_bad_rows": "drop"} if name == "hwu64" else {}))
    rows = np.arange(len(full))
    if TRAIN_SPLITS[name] == "train, long tail":
        rows = long_tail(np.asarray(full.fine).astype(str), np.asarray(full.coarse_ids), seed)
    data = full.subset(rows)
    path = CACHE / f"{name}-train-seed{seed}-{defaults_key()}.npy"
    if path.is_file():
        feats = np.load(path)
    else:
        est = Discoverer(n_fine=true_counts(data), seed=seed, progress=False).fit(data)
        feats = est.embedding_.astype(np.float32)
        CACHE.mkdir(parents=True, exist_ok=True)
        np.save(path, feats)
    return data, feats, {TRAIN_SPLITS[name]: np.arange(len(data))}


def report(records: list[dict[str, Any]]) -> None:
    lines = [
        "## Long tail: categories of unequal size",
        "",
        "Command: `python bench/long_tail.py` (the module docstring says what it measures). The",
        "default's trained features, K_c given; `long tail`: inside each coarse class the largest",
        f"category keeps about {RATIO:.0f} times the rows of the smallest. ACC x100, mean ± std.",
        "",
        "Machine: " + ("; ".join(sorted({r["machine"] for r in records})) or "—"),
        "",
        "| dataset | rows | rows per category | seeds | "
        + " | ".join(CLUSTERERS)
        + " | default (auto) |",
        "|---|---|---|---|" + "---|" * (len(CLUSTERERS) + 1),
    ]
    for d in TEXT_DATASETS:
        recs = [r for r in records if r["dataset"] == d]  # both rows: their subsets differ
        for subset in SUBSETS:
            got = [r["subsets"][subset] for r in recs if subset in r["subsets"]]
            if not got:
                continue
            rows = round(float(np.mean([g["rows"] for g in got])))
            per = np.mean([g["rows"] / g["categories"] for g in got])
            cells = [mean_std([g["ACC"][c] for g in got]) for c in CLUSTERERS]
            picked = sorted({g["default"] for g in got})
            default = mean_std([g["ACC"][g["default"]] for g in got])
            lines.append(
                f"| {d} ({subset}) | {rows} | {per:.1f} | {len(got)} | "
                + " | ".join(cells)
                + f" | {default} ({', '.join(picked)}) |"
            )
    replace_section("long_tail", "\n".join(lines))


if __name__ == "__main__":
    main("bench/long_tail.py", __doc__, CELLS, run_one, report, RESULTS)

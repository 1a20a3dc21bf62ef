"""New rows: which categories `predict` should let a row join (`Discoverer.predict(within=...)`).

The user's inductive setting: `discover`'s default (HWSCL: 3 epochs, encoder lr 2e-6, heads lr
1e-3) is fitted on a built-in dataset's train split (coarse labels known; categories found inside
each coarse class, K = the true count), then the test split's rows are assigned as `coarse2fine
predict` would, to the nearest category centre among

- all categories (`within="all"`, no coarse label needed),
- the categories under the coarse class HWSCL's own head predicts (`"head"`, none needed),
- the categories under the row's true coarse label (`"given"`, when new rows come with one).

Scored against the test split's fine labels (x100). One JSON per (dataset, seed) under
bench/results/predict_within/; a rerun skips finished cells.

    python bench/predict_within.py
    python bench/predict_within.py --report-only
"""

from __future__ import annotations

import time

import numpy as np
from common import ROOT, mean_std, replace_section
from harness import Cell, main

RESULTS = ROOT / "bench" / "results" / "predict_within"
DATASETS = ["clinc", "hwu64"]
SEEDS = [0, 1, 2]
WITHIN = ["all", "head", "given"]
SETTINGS = {"version": 1, "method": "hwscl", "within": WITHIN}


CELLS = [Cell(d, "hwscl", s, SETTINGS) for s in SEEDS for d in DATASETS]


def run_one(cell: Cell) -> dict:
    from coarse2fine import Discoverer, load_dataset
    from coarse2fine.metrics import clustering_scores, coarse_accuracy

    dataset, seed = cell.dataset, cell.seed
    train, test = load_dataset(dataset, "train"), load_dataset(dataset, "test")
    start = time.perf_counter()
    est = Discoverer(SETTINGS["method"], n_fine=train.n_fine, seed=seed, progress=False)
    est.fit(train)
    fit_seconds = time.perf_counter() - start
    parents = np.array(est.cluster_parents_, dtype=object)
    scores, seconds = {}, {}
    for within in WITHIN:
        begun = time.perf_counter()
        ids = est.predict(test, within=within)
        seconds[within] = round(time.perf_counter() - begun, 1)
        scores[within] = {
            **clustering_scores(test.fine, ids),
            # how often the category's parent is the row's true coarse class
            "coarse_accuracy": coarse_accuracy(test.coarse, parents[ids]),
        }
    record = {
        "train_ACC": clustering_scores(train.fine, est.labels_)["ACC"],
        "scores": scores,
        "predict_seconds": seconds,
        "fit_seconds": round(fit_seconds, 1),
    }
    line = ", ".join(f"{w} {scores[w]['ACC']:.2f}" for w in WITHIN)
    print(f"{dataset} seed {seed}: test ACC {line}")
    return record


def report(records: list[dict]) -> None:
    command = "python bench/predict_within.py"
    machines = set()
    table = [
        "| dataset | within | seeds | ACC | ARI | NMI | coarse accuracy of the assignment "
        "| predict s (test split) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    fits = []
    for dataset in DATASETS:
        recs = [r for r in records if r["dataset"] == dataset]
        machines |= {r["machine"] for r in recs}
        fits += recs
        for within in WITHIN:
            got = [r["scores"][within] for r in recs]
            table.append(
                f"| {dataset} | {within} | {len(recs)} | {mean_std([g['ACC'] for g in got])} "
                f"| {mean_std([g['ARI'] for g in got])} | {mean_std([g['NMI'] for g in got])} "
                f"| {mean_std([g['coarse_accuracy'] for g in got])} "
                f"| {mean_std([r['predict_seconds'][within] for r in recs])} |"
            )
    fit_line = "; ".join(
        f"{d}: fit {mean_std([r['fit_seconds'] for r in fits if r['dataset'] == d])} s, "
        f"train-split ACC {mean_std([r['train_ACC'] for r in fits if r['dataset'] == d])}"
        for d in DATASETS
    )
    peak = max((r["peak_memory_mb"] for r in fits), default=0.0)
    body = [
        "## New rows: `predict` within all, the head's or the given coarse class",
        "",
        "`discover`'s default (HWSCL, 3 epochs, encoder lr 2e-6, heads lr 1e-3) fitted on the",
        "train split (categories found inside the known coarse classes, K = true count), then",
        "the test split assigned by `Discoverer.predict(within=...)`: the nearest category",
        "centre among all categories, among those under the coarse class HWSCL's head predicts,",
        "or among those under the row's true coarse label. Scored on the test split's fine",
        "labels; mean ± std over seeds " + ", ".join(map(str, SEEDS)) + "; x100.",
        "",
        f"Command: `{command}`  ",
        "Machine: " + ("; ".join(sorted(machines)) or "—") + "  ",
        f"{fit_line}; peak memory per cell {peak:.0f} MB",
        "",
        *table,
    ]
    replace_section("predict_within", "\n".join(body))


if __name__ == "__main__":
    main(__file__, __doc__, CELLS, run_one, report, RESULTS)

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

import argparse
import time
from pathlib import Path

import numpy as np
from common import (
    ROOT,
    load_record,
    mean_std,
    replace_section,
    run_cell,
    save_cell,
)

RESULTS = ROOT / "bench" / "results" / "predict_within"
DATASETS = ["clinc", "hwu64"]
SEEDS = [0, 1, 2]
WITHIN = ["all", "head", "given"]
SETTINGS = {"version": 1, "method": "hwscl", "within": WITHIN}


def cell_path(dataset: str, seed: int) -> Path:
    return RESULTS / dataset / f"hwscl-seed{seed}.json"


def run_one(dataset: str, seed: int, out: Path) -> None:
    from coarse2fine import Discoverer, load_dataset
    from coarse2fine.metrics import clustering_scores, coarse_accuracy

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
        "dataset": dataset,
        "seed": seed,
        "train_ACC": clustering_scores(train.fine, est.labels_)["ACC"],
        "scores": scores,
        "predict_seconds": seconds,
        "fit_seconds": round(fit_seconds, 1),
    }
    save_cell(out, record, SETTINGS, start)
    line = ", ".join(f"{w} {scores[w]['ACC']:.2f}" for w in WITHIN)
    print(f"{dataset} seed {seed}: test ACC {line}")


def report(command: str) -> None:
    machines = set()
    table = [
        "| dataset | within | seeds | ACC | ARI | NMI | coarse accuracy of the assignment "
        "| predict s (test split) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    fits = []
    for dataset in DATASETS:
        recs = [load_record(cell_path(dataset, s), SETTINGS) for s in SEEDS]
        recs = [r for r in recs if r is not None]
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--one", nargs=2, metavar=("DATASET", "SEED"))
    parser.add_argument("--out", type=Path)
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args()
    if args.one:
        dataset, seed = args.one
        run_one(dataset, int(seed), args.out)
        return
    if not args.report_only:
        for seed in SEEDS:
            for dataset in DATASETS:
                out = cell_path(dataset, seed)
                if load_record(out, SETTINGS) is None:
                    run_cell(Path(__file__), [dataset, str(seed)], out)
    report("python bench/predict_within.py")


if __name__ == "__main__":
    main()

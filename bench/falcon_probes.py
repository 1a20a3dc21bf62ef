"""FALCON probes behind docs/FALCON.md: how it starts, and how K splits over coarse classes.

1. Synthetic hierarchies (12 fine classes under 5 coarse classes, 16-d blobs), MLP encoder,
   50 epochs, seeds 0-3, for each start (`init`): "balanced" has equal fine classes, so row
   counts reveal the tree; "unbalanced" halves one coarse class's rows, so they do not.
2. CLINC and HWU64 train splits, untrained MiniLM features: how far from the true number of fine
   classes per coarse class (L1 over coarse classes) the proportional split lands, against the
   counts a global K-Means (K = true count) followed by the M-step gives.

    python bench/falcon_probes.py                 # one cell under bench/results/falcon_probes/
    python bench/falcon_probes.py --report-only
"""

from __future__ import annotations

import numpy as np
from common import ROOT, replace_section
from harness import measurement

from coarse2fine import Discoverer
from coarse2fine.cluster import allocate_by_size, kmeans
from coarse2fine.cluster.hierarchy import solve_relation
from coarse2fine.data import load_dataset
from coarse2fine.data.synthetic import make_hierarchical_blobs
from coarse2fine.metrics import cluster_acc, hierarchy_edit_distance, true_parents

RESULTS = ROOT / "bench" / "results" / "falcon_probes"
SEEDS = [0, 1, 2, 3]
INITS = ["kmeans", "kmeans_global", "random"]
SETTINGS = {"version": 1, "seeds": SEEDS, "inits": INITS, "lambda_m": 0.01}


def synthetic(kind: str):
    data = make_hierarchical_blobs((3, 2, 4, 1, 2), rows_per_fine=60, dim=16, seed=1)
    if kind == "unbalanced":
        keep = (data.coarse != "c2") | (np.arange(len(data)) % 2 == 0)
        data = data.subset(np.flatnonzero(keep))
    return data


def probe_starts() -> list[dict]:
    rows = []
    for kind in ("balanced", "unbalanced"):
        data = synthetic(kind)
        truth = true_parents(data.fine, data.coarse)
        for init in INITS:
            accs, dists = [], []
            for seed in SEEDS:
                est = Discoverer(
                    "falcon",
                    n_fine=12,
                    clustering="global",
                    seed=seed,
                    progress=False,
                    method_params={"init": init},
                ).fit(data)
                accs.append(float(cluster_acc(data.fine, est.labels_)))
                dists.append(int(hierarchy_edit_distance(est.cluster_parents_, truth)))
            rows.append({"data": kind, "init": init, "ACC": accs, "edit_distance": dists})
    return rows


def probe_splits() -> list[dict]:
    rows = []
    for name in ("clinc", "hwu64"):
        data = load_dataset(name, "train")
        est = Discoverer("unsupervised", n_fine=data.n_fine, progress=False)
        est.fit_representation(data)
        features = est.transform(data)
        coarse = data.coarse_ids
        true = np.array([len(set(data.fine[coarse == c])) for c in range(data.n_coarse)])
        split = allocate_by_size(np.bincount(coarse), data.n_fine)
        derived = []
        for seed in (0, 1):
            labels, _ = kmeans(features, data.n_fine, seed=seed, n_init=3)
            cost = np.eye(data.n_fine)[labels].T @ np.eye(data.n_coarse)[coarse] / len(coarse)
            counts = np.bincount(solve_relation(cost, 0.01), minlength=data.n_coarse)
            derived.append(int(np.abs(counts - true).sum()))
        rows.append({"dataset": name, "split": int(np.abs(split - true).sum()), "m_step": derived})
    return rows


def measure() -> dict:
    return {"starts": probe_starts(), "splits": probe_splits()}


def report(record: dict) -> None:
    def joined(values: list, fmt: str) -> str:
        return ", ".join(format(v, fmt) for v in values)

    starts = [
        "| data | init | ACC per seed | edit distance per seed |",
        "|---|---|---|---|",
        *(
            f"| {r['data']} | {r['init']} | {joined(r['ACC'], '.1f')} "
            f"| {joined(r['edit_distance'], 'd')} |"
            for r in record["starts"]
        ),
    ]
    splits = [
        "| dataset | proportional split | global K-Means + M-step, lambda_M 0.01 (seed 0, 1) |",
        "|---|---|---|",
        *(
            f"| {r['dataset']} | {r['split']} | {joined(r['m_step'], 'd')} |"
            for r in record["splits"]
        ),
    ]
    body = [
        "## FALCON probes: the start, and splitting K over coarse classes",
        "",
        "Command: `python bench/falcon_probes.py`  ",
        f"Machine: {record['machine']}  ",
        f"Wall time {record['wall_seconds']:.0f} s, peak memory {record['peak_memory_mb']:.0f} MB.",
        "",
        "Synthetic 2-level blobs (5 coarse classes with 3, 2, 4, 1, 2 fine classes, 60 rows each;",
        "'unbalanced' keeps half of the 4-class coarse class's rows), MLP 16-64x4, 50 epochs,",
        "global assignment by FALCON's classifier, seeds " + ", ".join(map(str, SEEDS)) + ":",
        "",
        *starts,
        "",
        "How many fine classes land under the wrong coarse class (L1 distance of the per-class",
        "counts to the truth) on the train splits, untrained MiniLM features:",
        "",
        *splits,
    ]
    replace_section("falcon_probes", "\n".join(body))


if __name__ == "__main__":
    measurement(__file__, __doc__, "probes", SETTINGS, measure, report, RESULTS)

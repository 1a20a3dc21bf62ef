"""How the cost grows with the rows: discover, nested clustering and streamed prediction.

Cells (one fresh process each, so peak memory is the stage's own):

- ``cluster-sklearn`` / ``cluster-faiss``: nested K-Means (``coarse2fine.cluster.discover``,
  n_init 10) with each backend over synthetic hierarchical features, N x 384 float32 at unit
  length, 10 coarse classes of 15 fine ones each; ACC against the fine class drawn (faiss
  cells only where faiss-cpu is installed);
- ``predict``: ``coarse2fine predict`` (the CLI, streaming 10,000 rows at a time) on CLINC's
  test utterances replicated to N rows, with a model that needs no training (the packaged
  MiniLM + nested K-Means fitted on CLINC's test split); its rows/s and the child's peak
  memory, which must stay flat as N grows;
- ``discover``: ``Discoverer().fit`` at its defaults without K (what ``coarse2fine discover``
  does without ``--n-fine``), seed 0, on real texts: the train and test splits of the four
  built-in text sets pooled (CLINC, HWU64, MMLU, DBpedia; 50,819 rows, 40 coarse
  classes named ``dataset/class``, 330 fine), all of them or a sample of N in proportion to
  each coarse class; under cProfile, split into phases as bench/where_time_goes.py does, with
  the categories counted and ACC against the fine labels.

    python bench/scale.py                        # every missing cell, then the table
    python bench/scale.py --dataset discover     # one stage
"""

from __future__ import annotations

import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from common import ROOT, machine, replace_section
from harness import Cell, main

RESULTS = ROOT / "bench" / "results" / "scale"
VERSION = 1
# discover 2: the count's Louvain by scikit-network since 2026-12-07 (networkx's before); its
# cells carry the package's defaults since, so a change of default marks them stale
VERSIONS = {"discover": 2}
SIZES = {
    "discover": (10_000, 25_000, None),  # None: every pooled row
    "cluster-sklearn": (10_000, 100_000, 1_000_000),
    "cluster-faiss": (100_000, 1_000_000),
    "predict": (10_000, 100_000, 1_000_000),
}
DIM, N_COARSE, FINE_PER_COARSE = 384, 10, 15


def cells() -> list[Cell]:
    from common import package_defaults

    from coarse2fine.cluster.kmeans import faiss_available

    def settings(stage: str, n: int | None) -> dict[str, Any]:
        own = {"version": VERSIONS.get(stage, VERSION), "rows": n}
        return {**own, "defaults": package_defaults()} if stage == "discover" else own

    return [
        Cell(stage, str(n or "all"), 0, settings(stage, n))
        for stage, sizes in SIZES.items()
        for n in sizes
        if stage != "cluster-faiss" or faiss_available()
    ]


def hierarchical_features(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """N x 384 unit-length features around 150 fine centres nested in 10 coarse ones; the fine
    class of each row (its coarse class is fine // 15)."""
    rng = np.random.default_rng(seed)
    coarse_centres = rng.normal(0, 1, (N_COARSE, DIM))
    fine_centres = coarse_centres.repeat(FINE_PER_COARSE, 0) + rng.normal(
        0, 0.6, (N_COARSE * FINE_PER_COARSE, DIM)
    )
    fine = rng.integers(0, len(fine_centres), n)
    x = np.empty((n, DIM), dtype=np.float32)
    for start in range(0, n, 100_000):  # in blocks: no float64 copy of the whole matrix
        block = fine[start : start + 100_000]
        x[start : start + len(block)] = fine_centres[block] + rng.normal(0, 0.5, (len(block), DIM))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x, fine


def run_cluster(n: int, backend: str) -> dict[str, Any]:
    from coarse2fine.cluster import discover
    from coarse2fine.metrics import cluster_acc

    x, fine = hierarchical_features(n, 0)
    coarse = fine // FINE_PER_COARSE
    counts = np.full(N_COARSE, FINE_PER_COARSE)
    start = time.perf_counter()
    found = discover(x, int(counts.sum()), coarse=coarse, counts=counts, seed=0, backend=backend)
    seconds = time.perf_counter() - start
    return {
        "seconds": round(seconds, 1),
        "rows_per_second": round(n / seconds),
        "backend": backend,
        "ACC": round(float(cluster_acc(fine, found.labels)), 2),
    }


def run_predict(n: int) -> dict[str, Any]:
    from coarse2fine import Discoverer
    from coarse2fine.data import load_dataset

    test = load_dataset("clinc", "test")
    work = Path(tempfile.mkdtemp(prefix="c2f-scale-"))
    model = Discoverer("unsupervised", n_fine=test.n_fine, progress=False).fit(test)
    model.save(work / "model")
    texts = [test.texts[i % len(test)] for i in range(n)]
    import pandas as pd

    pd.DataFrame({"text": texts}).to_csv(work / "rows.csv", index=False)
    exe = Path(sys.executable).with_name("coarse2fine")
    cmd = [str(exe), "predict", str(work / "model"), str(work / "rows.csv")]
    cmd += ["--out", str(work / "p.csv"), "--quiet"]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    seconds = time.perf_counter() - start
    child_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {
        "seconds": round(seconds, 1),
        "rows_per_second": round(n / seconds),
        "predict_peak_mb": round(child_mb),
    }


def pooled_texts(n: int | None, seed: int = 0):
    """The built-in text sets' train and test rows in one CoarseDataset (coarse and fine
    labels prefixed by the set's name), or a sample of ``n`` of them in proportion to each
    coarse class."""
    from sources import TEXT_DATASETS, load

    from coarse2fine.batching import proportional_sample
    from coarse2fine.data import CoarseDataset

    texts, coarse, fine = [], [], []
    for name in TEXT_DATASETS:
        for split in ("train", "test"):
            part = load(name, split)
            texts += list(part.texts)
            coarse += [f"{name}/{c}" for c in part.coarse]
            fine += [f"{name}/{f}" for f in part.fine]
    data = CoarseDataset(coarse=np.asarray(coarse), texts=texts, fine=np.asarray(fine))
    if n is None or n >= len(data):
        return data
    return data.subset(np.sort(proportional_sample(data.coarse_ids, n, seed)))


# phase -> (file suffix, function), as in bench/where_time_goes.py
DISCOVER_PHASES = {
    "training epochs": ("coarse2fine/train.py", "epoch"),
    "bank refill and mining": ("coarse2fine/methods/neighbours.py", "on_epoch_start"),
    "final encoding": ("coarse2fine/discoverer.py", "_embed"),
    "counting K": ("coarse2fine/discoverer.py", "_estimate"),
    "clustering": ("coarse2fine/discoverer.py", "_discover"),
}


def run_discover(n: int | None) -> dict[str, Any]:
    from where_time_goes import profiled_fit

    from coarse2fine import Discoverer
    from coarse2fine.metrics import cluster_acc

    data = pooled_texts(n)
    est = Discoverer(seed=0, progress=False)
    seconds, phases = profiled_fit(est, data, DISCOVER_PHASES)
    print(f"discover on {len(data):,} rows: {seconds:.0f} s, {phases}", flush=True)
    return {
        "rows": len(data),
        "seconds": round(seconds, 1),
        "rows_per_second": round(len(data) / seconds),
        "phases": phases,
        "K_true": int(data.n_fine),
        "K_found": int(len(np.unique(est.labels_))),
        "ACC": round(float(cluster_acc(data.fine_ids, est.labels_)), 2),
        "chosen": getattr(est, "representation_", {}).get("chosen", "trained"),
        "clusterer": str(est.clusterer_),
    }


def run_one(cell: Cell) -> dict[str, Any]:
    if cell.dataset == "discover":
        return run_discover(cell.settings["rows"])
    n = int(cell.settings["rows"])
    if cell.dataset == "predict":
        return run_predict(n)
    return run_cluster(n, cell.dataset.split("-", 1)[1])


def rows_of(record: dict[str, Any]) -> int:
    return int(record["rows"]) if "rows" in record else int(record["row"])


def report(records: list[dict[str, Any]]) -> None:
    lines = [
        "## Scale: discover, nested clustering and streamed prediction, 10^4 to 10^6 rows",
        "",
        "Command: `python bench/scale.py`. `discover`: `Discoverer().fit` at its defaults "
        "without K, seed 0, on the train and test rows of the four built-in text sets pooled "
        "(40 coarse classes, 330 fine; a proportional sample of N, or all 50,819), under "
        "cProfile (its seconds), with the cell's peak memory; `cluster-*`: nested K-Means "
        "(n_init 10) of synthetic N x 384 features (10 coarse classes x 15 fine) by "
        "scikit-learn or faiss, its wall time and the cell's peak memory (the features "
        "included); `predict`: `coarse2fine predict` on CLINC test utterances replicated to N "
        "rows (MiniLM, no training; streamed 10,000 rows at a time), its wall time including "
        "start-up and the predict process's peak memory.",
        "",
        "| stage | rows | seconds | rows/s | peak MB | notes |",
        "|---|---|---|---|---|---|",
    ]
    for r in sorted(records, key=lambda r: (r["dataset"], rows_of(r))):
        peak = r.get("predict_peak_mb", r["peak_memory_mb"])
        note = f"ACC {r['ACC']:.2f}" if "ACC" in r else ""
        if "K_found" in r:
            note += f", {r['K_found']} categories of {r['K_true']}"
        lines.append(
            f"| {r['dataset']} | {rows_of(r):,} | {r['seconds']} | {r['rows_per_second']:,} "
            f"| {peak:.0f} | {note} |"
        )
    found = sorted((r for r in records if r["dataset"] == "discover"), key=rows_of)
    if found:
        from where_time_goes import phase_shares

        names = [*DISCOVER_PHASES, "the rest"]
        lines += [
            "",
            "Where `discover`'s seconds go (cProfile's cumulative time of each phase; the "
            "share of the total in brackets; the count before training, which sets DOWN's "
            "neighbours, falls in the first bank refill):",
            "",
            "| rows | " + " | ".join(names) + " |",
            "|---|" + "---|" * len(names),
        ]
        for r in found:
            shares = phase_shares(r["phases"], r["seconds"], names)
            lines.append(f"| {rows_of(r):,} | " + " | ".join(shares) + " |")
    stages_on: dict[str, set[str]] = {}  # machine -> the stages measured on it
    for r in records:
        stages_on.setdefault(r.get("machine", machine()), set()).add(r["dataset"])
    if stages_on:
        on = [f"{m} ({', '.join(sorted(stages))})" for m, stages in sorted(stages_on.items())]
        lines += ["", f"Machine: {'; '.join(on)}."]
    replace_section("scale", "\n".join(lines))


if __name__ == "__main__":
    main(str(Path(__file__).resolve()), __doc__, cells(), run_one, report, RESULTS)

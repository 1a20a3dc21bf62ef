"""How the cost grows with the rows: nested clustering and streamed prediction, 10^4 to 10^6.

Cells (one fresh process each, so peak memory is the stage's own):

- ``cluster``: nested K-Means (``coarse2fine.cluster.discover``, the package's K-Means backend:
  scikit-learn, or faiss from 100,000 rows of a coarse class when installed) over synthetic
  hierarchical features, N x 384 float32 at unit length, 10 coarse classes of 15 fine ones
  each (drawn as ``make_hierarchical_blobs`` draws them);
- ``predict``: ``coarse2fine predict`` (the CLI, streaming 10,000 rows at a time) on CLINC's
  test utterances replicated to N rows, with a model that needs no training (the packaged
  MiniLM + nested K-Means fitted on CLINC's test split); its rows/s and the child's peak
  memory, which must stay flat as N grows.

    python bench/scale.py                        # every missing cell, then the table
    python bench/scale.py --dataset cluster      # one stage
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
SIZES = {"cluster": (10_000, 100_000, 1_000_000), "predict": (10_000, 100_000)}
DIM, N_COARSE, FINE_PER_COARSE = 384, 10, 15


def cells() -> list[Cell]:
    return [
        Cell(stage, str(n), 0, {"version": VERSION, "rows": n})
        for stage, sizes in SIZES.items()
        for n in sizes
    ]


def hierarchical_features(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """N x 384 unit-length features around 150 fine centres nested in 10 coarse ones."""
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
    return x, fine // FINE_PER_COARSE


def run_cluster(n: int) -> dict[str, Any]:
    from coarse2fine.cluster import discover
    from coarse2fine.cluster.kmeans import FAISS_MIN_ROWS, faiss_available

    x, coarse = hierarchical_features(n, 0)
    counts = np.full(N_COARSE, FINE_PER_COARSE)
    start = time.perf_counter()
    found = discover(x, int(counts.sum()), coarse=coarse, counts=counts, seed=0)
    seconds = time.perf_counter() - start
    per_class = n // N_COARSE
    backend = "faiss" if faiss_available() and per_class >= FAISS_MIN_ROWS else "scikit-learn"
    return {
        "seconds": round(seconds, 1),
        "rows_per_second": round(n / seconds),
        "backend": backend,
        "categories": int(len(np.unique(found.labels))),
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


def run_one(cell: Cell) -> dict[str, Any]:
    n = int(cell.settings["rows"])
    return run_cluster(n) if cell.dataset == "cluster" else run_predict(n)


def report(records: list[dict[str, Any]]) -> None:
    lines = [
        "## Scale: nested clustering and streamed prediction, 10^4 to 10^6 rows",
        "",
        "Command: `python bench/scale.py`. `cluster`: nested K-Means of synthetic N x 384 "
        "features (10 coarse classes x 15 fine), its wall time and the cell's peak memory "
        "(the features included); `predict`: `coarse2fine predict` on CLINC test utterances "
        "replicated to N rows (MiniLM, no training; streamed 10,000 rows at a time), its wall "
        "time including start-up and the predict process's peak memory.",
        "",
        "| stage | rows | seconds | rows/s | peak MB | notes |",
        "|---|---|---|---|---|---|",
    ]
    for r in sorted(records, key=lambda r: (r["dataset"], int(r["row"]))):
        peak = r.get("predict_peak_mb", r["peak_memory_mb"])
        note = r.get("backend", "")
        lines.append(
            f"| {r['dataset']} | {int(r['row']):,} | {r['seconds']} | {r['rows_per_second']:,} "
            f"| {peak:.0f} | {note} |"
        )
    if records:
        lines += ["", f"Machine: {records[0].get('machine', machine())}."]
    replace_section("scale", "\n".join(lines))


if __name__ == "__main__":
    main(str(Path(__file__).resolve()), __doc__, cells(), run_one, report, RESULTS)

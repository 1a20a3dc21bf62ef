"""Where DOWN should mine its neighbours when the categories are large: the layout or the features.

On the test splits of bench/peers.py (15-55 rows per category, clustered by ``umap-spectral``)
mining the neighbours in each coarse class's UMAP layout beat mining them by cosine on all
four text sets (docs/NEIGHBOURS.md). This script runs the two user-shaped jobs whose categories
are larger, through the CLI, with both settings and K given, on three seeds:

- ``clinc-train``: the README's main job, ``coarse2fine discover clinc`` (18,000 rows, 120 per
  category, 4,000 of them trained on; clustered by K-Means, since categories hold over 100
  rows);
- ``requests``: docs/examples/requests.csv with ``--n-fine 15`` (1,191 rows, 79 per category;
  clustered by ``umap-spectral``).

    python bench/mining_space.py
    python bench/mining_space.py --report-only

One cell per (job, setting, seed) under bench/results/mining_space/.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, mean_std, replace_section
from example_requests import BASE as REQUESTS
from harness import Cell, main

RESULTS = ROOT / "bench" / "results" / "mining_space"
JOBS = {
    "clinc-train": ["discover", "clinc"],
    "requests": [*REQUESTS, "--n-fine", "15"],
}
SPACES = ("features", "layout")
CELLS = [
    Cell(job, space, seed, {"version": 1, "command": JOBS[job], "mine_in": space})
    for job in JOBS
    for space in SPACES
    for seed in (0, 1, 2)
]


def run_one(cell: Cell) -> dict:
    exe = Path(sys.executable).with_name("coarse2fine")
    work = Path(tempfile.mkdtemp(prefix="c2f-mining-"))
    try:
        args = [*cell.settings["command"], "--seed", str(cell.seed)]
        args += ["-o", f"mine_in={cell.settings['mine_in']}", "--out", str(work / "run"), "--quiet"]
        start = time.perf_counter()
        done = subprocess.run([str(exe), *args], capture_output=True, text=True, cwd=ROOT)
        seconds = time.perf_counter() - start
        if done.returncode != 0:
            sys.exit(f"{' '.join(args)} failed:\n{done.stderr}")
        metrics = json.loads((work / "run" / "metrics.json").read_text())
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{cell.dataset} {cell.row} seed {cell.seed}: ACC {metrics['ACC']:.2f}", flush=True)
    return {"seconds": round(seconds, 1), "metrics": metrics}


def report(records: list[dict]) -> None:
    lines = [
        "## Mining space on larger categories: DOWN's neighbours by cosine or in the layout",
        "",
        "Command: `python bench/mining_space.py`. The CLI with K given and `-o mine_in=...`, "
        "seeds 0-2; ACC x100 against the fine labels (mean ± std, then per seed); seconds: "
        "the command's wall time.",
        "",
        "| job | mining | ACC | per seed | seconds |",
        "|---|---|---|---|---|",
    ]
    for job in JOBS:
        for space in SPACES:
            rows = sorted(
                (r for r in records if r["dataset"] == job and r["row"] == space),
                key=lambda r: r["seed"],
            )
            if not rows:
                continue
            accs = [r["metrics"]["ACC"] for r in rows]
            secs = sum(r["seconds"] for r in rows) / len(rows)
            seeds = " / ".join(f"{a:.2f}" for a in accs)
            lines.append(f"| {job} | {space} | {mean_std(accs)} | {seeds} | {secs:.0f} |")
    lines += ["", "Machine: " + "; ".join(sorted({r["machine"] for r in records})) + "."]
    replace_section("mining_space", "\n".join(lines))


if __name__ == "__main__":
    main(str(Path(__file__).resolve()), __doc__, CELLS, run_one, report, RESULTS)

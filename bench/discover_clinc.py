"""The newcomer's main job, timed: `coarse2fine discover clinc` with its defaults.

Runs the CLI in a child process and records its wall time and peak memory (the child's
ru_maxrss) in bench/results/discover/clinc.json, then writes the section in docs/BENCHMARKS.md.

    python bench/discover_clinc.py
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

from common import ROOT, machine, replace_section, write_json

RESULT = ROOT / "bench" / "results" / "discover" / "clinc.json"
COMMAND = ["coarse2fine", "discover", "clinc", "--out", "OUT", "--quiet"]


def main() -> None:
    exe = Path(sys.executable).with_name("coarse2fine")
    work = Path(tempfile.mkdtemp(prefix="c2f-discover-"))
    try:
        cmd = [str(exe), *COMMAND[1:]]
        cmd[cmd.index("OUT")] = str(work / "run")
        start = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - start
        if done.returncode != 0:
            sys.exit(f"discover failed ({done.returncode}):\n{done.stderr}")
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
        metrics = json.loads((work / "run" / "metrics.json").read_text())
        run = json.loads((work / "run" / "run.json").read_text())
    finally:
        shutil.rmtree(work, ignore_errors=True)
    record = {
        "command": " ".join(COMMAND).replace("OUT", "runs/clinc"),
        "wall_seconds": round(wall, 1),
        "peak_memory_mb": round(peak_mb, 1),
        "metrics": metrics,
        "params": run["params"],
        "summary": done.stdout.strip().replace(str(work / "run"), "runs/clinc"),
        "machine": machine(),
    }
    write_json(RESULT, record)
    body = [
        "## `coarse2fine discover clinc` (the README's main job)",
        "",
        f"Command: `python bench/discover_clinc.py` (runs `{record['command']}`)  ",
        f"Machine: {record['machine']}",
        "",
        f"Wall time {record['wall_seconds'] / 60:.1f} min, peak memory "
        f"{record['peak_memory_mb'] / 1024:.2f} GB (targets: under 20 min, under 4 GB). "
        "Scores are on the 18,000 training rows themselves (transductive: the rows' coarse labels "
        "are used, clustering is nested inside each coarse class):",
        "",
        "```",
        record["summary"],
        "```",
    ]
    replace_section("discover_clinc", "\n".join(body))
    print(f"{wall:.0f} s, {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()

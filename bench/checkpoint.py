"""What end-of-epoch checkpoints cost, and that a resumed run on real data ends where the
uninterrupted one does.

On HWU64's test split (1,031 rows, DOWN as published, K given, seed 0), each in its own
process: (a) no checkpoints; (b) checkpoints in a folder (the size of the file and the seconds
each save took); (c) the same run killed as its second neighbour epoch starts, then (d) resumed
from its checkpoint. Reports wall time and peak memory of each, and whether (d)'s assignments
equal (a)'s.

    python bench/checkpoint.py     # one cell under bench/results/checkpoint/, then its section
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import DOWN_PUBLISHED, ROOT, replace_section
from harness import measurement

RESULTS = ROOT / "bench" / "results" / "checkpoint"
SETTINGS = {"version": 1, "dataset": "hwu64", "split": "test", "seed": 0, "kill_at_epoch": 1}
KILL_AT_EPOCH = 1  # 0-based main-stage epoch at whose start run (c) dies


class Killed(BaseException):
    pass


def part(name: str, folder: str) -> dict:
    """One run in this process; returns its measurements."""
    sys.path.insert(0, str(ROOT / "bench"))
    from sources import load, true_counts

    from coarse2fine import Discoverer
    from coarse2fine.checkpoint import FILE, Checkpoints
    from coarse2fine.methods.neighbours import NeighbourContrast

    data = load("hwu64")
    saves: list[float] = []
    original_save = Checkpoints.save

    def timed_save(self, **state):
        start = time.perf_counter()
        original_save(self, **state)
        saves.append(time.perf_counter() - start)

    Checkpoints.save = timed_save
    if name == "killed":
        hook = NeighbourContrast.on_epoch_start

        def dying(self, epoch, prepared):
            if epoch == KILL_AT_EPOCH:
                raise Killed
            return hook(self, epoch, prepared)

        NeighbourContrast.on_epoch_start = dying
    est = Discoverer(
        n_fine=true_counts(data),
        seed=0,
        progress=False,
        checkpoint_dir=None if name == "plain" else folder,
        method_params=DOWN_PUBLISHED,  # the default when measured: a warm-up, a momentum copy
    )
    start = time.perf_counter()
    record: dict = {"part": name}
    try:
        est.fit(data)
        np.save(Path(folder) / f"labels-{name}.npy", est.labels_)
    except Killed:
        record["killed"] = True
    record["seconds"] = round(time.perf_counter() - start, 1)
    record["peak_gb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)
    record["saves"] = [round(s, 2) for s in saves]
    path = Path(folder) / FILE
    if path.is_file():
        record["checkpoint_mb"] = round(path.stat().st_size / 2**20, 1)
    return record


def measure() -> dict:
    records = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, folder in (
            ("plain", f"{tmp}/plain"),
            ("checkpoints", f"{tmp}/checkpoints"),
            ("killed", f"{tmp}/resume"),
            ("resumed", f"{tmp}/resume"),
        ):
            Path(folder).mkdir(exist_ok=True)
            out = subprocess.run(
                [sys.executable, __file__, "--part", name, folder],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            records[name] = json.loads(out.strip().splitlines()[-1])
            print(records[name], flush=True)
        plain = np.load(f"{tmp}/plain/labels-plain.npy")
        resumed = np.load(f"{tmp}/resume/labels-resumed.npy")
        same = bool(np.array_equal(plain, resumed))
    return {"records": records, "resumed_equals_plain": same}


def report(result: dict) -> None:
    r = result["records"]
    saves = r["checkpoints"]["saves"]
    lines = [
        "## Checkpoints: their cost, and a resumed run on real data",
        "",
        "Command: `python bench/checkpoint.py` (HWU64 test split, 1,031 rows, DOWN as published, "
        "the default until 2026-12-05: a warm-up epoch and a momentum copy of the encoder; K "
        "given, seed 0; each run in its own process).",
        "",
        "| run | wall s | peak GB | checkpoint |",
        "|---|---|---|---|",
        f"| no checkpoints | {r['plain']['seconds']} | {r['plain']['peak_gb']} | |",
        f"| checkpoints every epoch | {r['checkpoints']['seconds']} | "
        f"{r['checkpoints']['peak_gb']} | {len(saves)} saves of {min(saves):.2f}-"
        f"{max(saves):.2f} s, {r['checkpoints']['checkpoint_mb']} MB |",
        f"| killed as neighbour epoch {KILL_AT_EPOCH + 1} starts | {r['killed']['seconds']} | "
        f"{r['killed']['peak_gb']} | {r['killed']['checkpoint_mb']} MB left |",
        f"| resumed from it | {r['resumed']['seconds']} | {r['resumed']['peak_gb']} | |",
        "",
        f"The resumed run's assignments equal the uninterrupted run's: "
        f"{'yes' if result['resumed_equals_plain'] else 'NO'}.",
        "",
        f"Machine: {result['machine']}.",
    ]
    replace_section("checkpoint", "\n".join(lines))


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--part":  # one of the runs, in its own process
        print(json.dumps(part(sys.argv[2], sys.argv[3])))
    else:
        measurement(__file__, __doc__, "hwu64", SETTINGS, measure, report, RESULTS)

"""The user-shaped example of docs/EXAMPLES.md, run for real: a CSV with its own column names.

Runs the CLI on docs/examples/requests.csv twice, without --n-fine (the number of categories is
estimated) and with the true count, plus `coarse2fine report`; keeps what they print in one
cell under bench/results/example_requests/ and writes it into docs/EXAMPLES.md.

    python bench/example_requests.py
    python bench/example_requests.py --report-only
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, replace_section
from harness import measurement

DATA = "docs/examples/requests.csv"
EXAMPLES_MD = ROOT / "docs" / "EXAMPLES.md"
RESULTS = ROOT / "bench" / "results" / "example_requests"
BASE = [
    "discover",
    DATA,
    "--text-col",
    "request",
    "--coarse-col",
    "area",
    "--fine-col",
    "intent",
]
# version 2: rerun when the auto clusterer became umap-spectral (2026-12-05)
# version 3: rerun when the K estimate moved to UMAP's fuzzy graph and the layout (2026-12-05)
# version 4: rerun when the layout agreement gained a slack of 2 (2026-12-05)
# version 5: a floor of 3 instead of the slack (the slack split calendar into 12 for 3)
# version 6: the neighbour share 0.5
# version 7: without K, DOWN counts the categories on its first features to set its neighbours
# version 8: the layout floor 4; after DOWN's training the count's graph as wide as its k
# version 9: umap-spectral cuts a class's layout by Ward linkage where its groups are unequal
# version 10: DOWN mines its neighbours in each coarse class's layout
# (version 10 rerun 2026-12-06: DOWN counts the categories before training by Louvain modularity)
# version 11: a class whose features show no clear eigengap is counted by modularity
# version 12: the estimate as of 2026-12-07 (each class without a clear gap read twice and the
# reading nearer the clear classes' rows a category kept; modularity on samples of 800 rows;
# Louvain by scikit-network)
SETTINGS = {"version": 12, "commands": BASE, "n_fine": 15}


def run(exe: Path, args: list[str], work: Path) -> tuple[str, float]:
    start = time.perf_counter()
    done = subprocess.run([str(exe), *args], capture_output=True, text=True, cwd=ROOT, check=False)
    if done.returncode != 0:
        sys.exit(f"{' '.join(args)} failed:\n{done.stderr}")
    return done.stdout.strip().replace(str(work), "runs"), time.perf_counter() - start


def measure() -> dict:
    exe = Path(sys.executable).with_name("coarse2fine")
    work = Path(tempfile.mkdtemp(prefix="c2f-example-"))
    try:
        estimated, t1 = run(exe, [*BASE, "--out", str(work / "requests"), "--quiet"], work)
        given, t2 = run(
            exe, [*BASE, "--n-fine", "15", "--out", str(work / "requests-15"), "--quiet"], work
        )
        report, _ = run(exe, ["report", str(work / "requests-15")], work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {
        "estimated": estimated,
        "given": given,
        "report": report,
        "seconds": [round(t1, 1), round(t2, 1)],
    }


def write_example(record: dict) -> None:
    (t1, t2), estimated = record["seconds"], record["estimated"]
    given, report = record["given"], record["report"]
    body = [
        f"`{DATA}` has 1,191 rows with columns `request` (the text), `area` (the coarse label:",
        "alarm, calendar, email, play) and `intent` (15 fine labels, used only to score); it is",
        "cut from HWU64 (CC BY 4.0) by `docs/examples/make_requests.py`. Measured by",
        f"`python bench/example_requests.py` on {record['machine']}.",
        "",
        "Without `--n-fine` the number of categories is estimated inside each area:",
        "",
        "```",
        f"$ coarse2fine {' '.join(BASE[:1])} {DATA} --text-col request --coarse-col area \\",
        "      --fine-col intent --out runs/requests",
        estimated,
        "```",
        "",
        f"({t1:.0f} s.) With the true count given:",
        "",
        "```",
        f"$ coarse2fine discover {DATA} --text-col request --coarse-col area \\",
        "      --fine-col intent --n-fine 15 --out runs/requests-15",
        given,
        "$ coarse2fine report runs/requests-15",
        report,
        "```",
        "",
        f"({t2:.0f} s.) `runs/requests-15/assignments.csv` holds every row with its category;",
        "`coarse2fine predict runs/requests-15/model new.csv --text-col request --out out.csv`",
        "assigns new rows.",
    ]
    replace_section("requests_example", "\n".join(body), path=EXAMPLES_MD)


if __name__ == "__main__":
    measurement(__file__, __doc__, "requests", SETTINGS, measure, write_example, RESULTS)

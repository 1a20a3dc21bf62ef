"""The newcomer's main job, timed: `coarse2fine discover clinc` with its defaults, then its report.

Runs the CLI in a child process and records its wall time and peak memory (the child's
ru_maxrss) in one cell under bench/results/discover/; then times `coarse2fine report` on the result,
weighs the page, and (when headless Chromium is installed) times opening it and keeps a
screenshot in docs/images/. Writes its section in docs/BENCHMARKS.md and the worked example in
docs/EXAMPLES.md (the real printed summary).

    python bench/discover_clinc.py
    python bench/discover_clinc.py --report-only
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

from common import ROOT, replace_section
from harness import measurement

RESULTS = ROOT / "bench" / "results" / "discover"
EXAMPLES_MD = ROOT / "docs" / "EXAMPLES.md"
SCREENSHOT = ROOT / "docs" / "images" / "clinc_report.png"
COMMAND = ["coarse2fine", "discover", "clinc", "--out", "OUT", "--quiet"]
# 2: the fused AdamW kernel; 3: k_share 0.5; 4: DOWN's neighbours mined in the layout; 5: training
# on 32 tokens (CLINC's fitted length is shorter, so the same training; rerun for the record)
SETTINGS = {"version": 5, "command": COMMAND}


def measure() -> dict:
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
        report = time_report(exe, work / "run")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{wall:.0f} s, {peak_mb:.0f} MB")
    return {  # the CLI's own time and memory (the cell's are those of this process)
        "command": " ".join(COMMAND).replace("OUT", "runs/clinc"),
        "discover_seconds": round(wall, 1),
        "discover_peak_mb": round(peak_mb, 1),
        "metrics": metrics,
        "params": run["params"],
        "summary": done.stdout.strip().replace(str(work / "run"), "runs/clinc"),
        "report": report,
    }


def write_sections(record: dict) -> None:
    report = record["report"]
    body = [
        "## `coarse2fine discover clinc` (the README's main job)",
        "",
        f"Command: `python bench/discover_clinc.py` (runs `{record['command']}`)  ",
        f"Machine: {record['machine']}",
        "",
        f"Wall time {record['discover_seconds'] / 60:.1f} min, peak memory "
        f"{record['discover_peak_mb'] / 1024:.2f} GB (targets: under 20 min, under 4 GB). "
        "Scores are on the 18,000 training rows themselves (transductive: the rows' coarse labels "
        "are used, clustering is nested inside each coarse class):",
        "",
        "```",
        record["summary"],
        "```",
    ]
    body += [
        "",
        f"`coarse2fine report runs/clinc`: {report['seconds']:.1f} s, page "
        f"{report['megabytes']:.2f} MB"
        + (
            f"; headless Chromium opens it and takes a screenshot in "
            f"{report['chromium_seconds']:.1f} s"
            if report.get("chromium_seconds") is not None
            else "; Chromium was not installed, the page was not opened"
        )
        + " (targets: renders in under 5 s, weighs under 5 MB).",
    ]
    replace_section("discover_clinc", "\n".join(body))
    write_example(record)


def time_report(exe: Path, run: Path) -> dict:
    """Write the report, weigh it, open it in headless Chromium and keep a screenshot."""
    start = time.perf_counter()
    subprocess.run([str(exe), "report", str(run)], check=True, capture_output=True)
    result = {
        "seconds": round(time.perf_counter() - start, 2),
        "megabytes": round((run / "report.html").stat().st_size / 1e6, 2),
        "chromium_seconds": None,
    }
    browser = shutil.which("chromium")
    if browser:
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        subprocess.run(
            [
                browser,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                "--window-size=1280,2000",
                f"--screenshot={SCREENSHOT}",
                (run / "report.html").resolve().as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=300,
        )
        result["chromium_seconds"] = round(time.perf_counter() - start, 2)
    return result


def write_example(record: dict) -> None:
    """docs/EXAMPLES.md: the real summary of the run (two coarse classes shown in full)."""
    lines = record["summary"].splitlines()
    shown, tables = [], 0
    for line in lines[1:]:
        if line and not line.startswith(" ") and ": " in line and "rows," in line:
            tables += 1
        if tables > 2:
            break
        shown.append(line)
    tail = [
        line for line in lines if line.startswith(("against", "edit distance", "wrote", "read"))
    ]
    body = [
        "Command (from the README's first line): `coarse2fine discover clinc --out runs/clinc`.",
        f"Measured by `python bench/discover_clinc.py` on {record['machine']}: "
        f"{record['discover_seconds'] / 60:.1f} min, "
        f"{record['discover_peak_mb'] / 1024:.2f} GB peak.",
        "",
        "What it prints (the first two of its ten per-domain tables, then the end):",
        "",
        "```",
        lines[0],
        *shown,
        f"... ({tables - 2 if tables > 2 else 0} more coarse classes) ...",
        *tail,
        "```",
        "",
        "`coarse2fine report runs/clinc` then writes `runs/clinc/report.html`; its top:",
        "",
        f"![the CLINC report](images/{SCREENSHOT.name})",
    ]
    replace_section("clinc_example", "\n".join(body), path=EXAMPLES_MD)


if __name__ == "__main__":
    measurement(__file__, __doc__, "clinc", SETTINGS, measure, write_sections, RESULTS)

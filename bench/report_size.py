"""The report of an 18,000-row run: its size, and how long headless Chromium takes to open it.

The run: ``coarse2fine discover clinc --method unsupervised`` (CLINC's 18,000 training rows,
the untrained MiniLM, K given: the report's size and load time depend on the rows, not on the
training), then ``coarse2fine report``. Opening: ``chromium --headless --dump-dom`` on the
report (its script run, the search and map included) against the same on an empty page, median
of 5 each; the difference is what the report itself costs.

    python bench/report_size.py      # needs chromium; one cell under bench/results/report_size/
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, replace_section
from harness import measurement

RESULTS = ROOT / "bench" / "results" / "report_size"
SETTINGS = {"version": 1, "dataset": "clinc", "split": "train", "method": "unsupervised", "runs": 5}


def open_seconds(browser: str, url: str, runs: int = 5) -> float:
    flags = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", url]
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(flags, capture_output=True, check=True, timeout=120)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure() -> dict:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        sys.exit("needs chromium")
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "clinc"
        cli = [sys.executable, "-m", "coarse2fine"]
        subprocess.run(
            [*cli, "discover", "clinc", "--method", "unsupervised", "--out", str(run), "--quiet"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        start = time.perf_counter()
        subprocess.run([*cli, "report", str(run)], check=True, stdout=subprocess.DEVNULL)
        write_seconds = time.perf_counter() - start
        page = run / "report.html"
        blank = Path(tmp) / "blank.html"
        blank.write_text("<!doctype html><title>blank</title>")
        report = open_seconds(browser, page.as_uri() + "#q=card")
        empty = open_seconds(browser, blank.as_uri())
        rows = sum(1 for _ in (run / "assignments.csv").open()) - 1
        record = {
            "rows": rows,
            "report_mb": round(page.stat().st_size / 2**20, 2),
            "write_seconds": round(write_seconds, 1),
            "open_seconds": round(report, 2),
            "blank_seconds": round(empty, 2),
        }
    return record


def report(record: dict) -> None:
    lines = [
        "## The report of an 18,000-row run",
        "",
        "Command: `python bench/report_size.py` (`discover clinc --method unsupervised`, then "
        "`report`; opened by `chromium --headless --dump-dom` with a search in the URL, median "
        "of 5, against an empty page).",
        "",
        "| rows | report.html MB | report written in s | opened (script run) in s | empty page "
        "in s | the report's own cost s |",
        "|---|---|---|---|---|---|",
        f"| {record['rows']:,} | {record['report_mb']} | {record['write_seconds']} | "
        f"{record['open_seconds']} | {record['blank_seconds']} | "
        f"{record['open_seconds'] - record['blank_seconds']:.2f} |",
        "",
        f"Machine: {record['machine']}.",
    ]
    replace_section("report_size", "\n".join(lines))


if __name__ == "__main__":
    measurement(__file__, __doc__, "clinc", SETTINGS, measure, report, RESULTS)

"""The bench harness: a script declares its cells (dataset x row x seed, with the settings each
runs under) and a function that runs one; the harness does the rest.

- resumable: one JSON file per cell under the script's results folder; a finished cell whose
  recorded settings equal the wanted ones is reused, any other is run again;
- every missing cell runs in a fresh process (so its peak memory is its own) and is saved with
  its settings, the machine, its wall time and its peak memory (``common.save_cell``);
- after each cell, and at the end, the script's ``report(records)`` rewrites its table.

- a one-off measurement (a machine's matmul speed, a timed CLI run) is one cell:
  ``measurement(script, doc, name, settings, measure, report, results)``;
- studies that read another script's cells (``finished(cells, results)``) import the shared
  definitions (bench/protocol_rows.py, bench/sources.py, bench/systems.py), never a script.

    python bench/<script>.py                          # every missing cell, then the table
    python bench/<script>.py --dataset clinc --row down --seed 0   # only those cells
    python bench/<script>.py --report-only            # the table from the saved cells
    python bench/<script>.py --row down --rerun       # those cells again, even where finished
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common import load_record, save_cell


@dataclass(frozen=True)
class Cell:
    dataset: str
    row: str
    seed: int
    settings: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    def path(self, results: Path) -> Path:
        return results / self.dataset / f"{self.row}-seed{self.seed}.json"

    def to_json(self) -> str:
        return json.dumps(
            {"dataset": self.dataset, "row": self.row, "seed": self.seed, "settings": self.settings}
        )

    @classmethod
    def from_json(cls, text: str) -> Cell:
        values = json.loads(text)
        return cls(values["dataset"], values["row"], int(values["seed"]), values["settings"])


def main(
    script: str,
    doc: str,
    cells: Sequence[Cell],
    run_one: Callable[[Cell], dict[str, Any]],
    report: Callable[[list[dict[str, Any]]], None],
    results: Path,
) -> None:
    """The command line of a benchmark script (see the module docstring)."""
    parser = argparse.ArgumentParser(description=doc.strip().splitlines()[0])
    parser.add_argument("--one", help=argparse.SUPPRESS)  # a cell, as JSON (child process)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument(
        "--dataset", "--datasets", nargs="+", action="extend", help="only these datasets' cells"
    )
    parser.add_argument(
        "--row", "--rows", nargs="+", action="extend", help="only these rows' cells"
    )
    parser.add_argument(
        "--seed", "--seeds", type=int, nargs="+", action="extend", help="only these seeds' cells"
    )
    parser.add_argument("--report-only", action="store_true", help="only rewrite the table")
    parser.add_argument(
        "--rerun",
        action="store_true",
        help="run the chosen cells again even where finished (their records gain what the code "
        "records now; a failed run keeps the old file)",
    )
    args = parser.parse_args()
    if args.one:
        cell = Cell.from_json(args.one)
        start = time.perf_counter()
        record = {"dataset": cell.dataset, "row": cell.row, "seed": cell.seed, **run_one(cell)}
        save_cell(args.out, record, cell.settings, start)
        return
    for flag, wanted, known in (
        ("--dataset", args.dataset, {c.dataset for c in cells}),
        ("--row", args.row, {c.row for c in cells}),
        ("--seed", args.seed, {c.seed for c in cells}),
    ):
        unknown = sorted(set(wanted or ()) - known, key=str)
        if unknown:
            parser.error(
                f"{flag}: no cells for {', '.join(map(str, unknown))}; "
                f"this script has {', '.join(map(str, sorted(known, key=str)))}"
            )
    chosen = [
        c
        for c in cells
        if (not args.dataset or c.dataset in args.dataset)
        and (not args.row or c.row in args.row)
        and (args.seed is None or c.seed in args.seed)
    ]
    failed = []
    if not args.report_only:
        for cell in chosen:
            out = cell.path(results)
            if not args.rerun and load_record(out, cell.settings) is not None:
                continue
            out.parent.mkdir(parents=True, exist_ok=True)
            cmd = [sys.executable, script, "--one", cell.to_json(), "--out", str(out)]
            if subprocess.run(cmd).returncode != 0:  # its traceback is above; the rest still run
                failed.append(f"{cell.dataset} {cell.row} seed {cell.seed}")
                continue
            report(finished(cells, results))
    report(finished(cells, results))
    if failed:
        sys.exit(f"{len(failed)} cell(s) failed (no result written): {'; '.join(failed)}")


def finished(cells: Sequence[Cell], results: Path) -> list[dict[str, Any]]:
    """The saved records of the cells that are done under their current settings."""
    records = []
    for cell in cells:
        record = load_record(cell.path(results), cell.settings)
        if record is not None:  # the cell names the record (older files may say otherwise)
            records.append({**record, "dataset": cell.dataset, "row": cell.row, "seed": cell.seed})
    return records


def measurement(
    script: str,
    doc: str,
    name: str,
    settings: dict[str, Any],
    measure: Callable[[], dict[str, Any]],
    report: Callable[[dict[str, Any]], None],
    results: Path,
) -> None:
    """The command line of a script whose measurement is one cell: ``measure()`` runs in its own
    process and its record is saved like any cell's; ``report(record)`` writes the table."""
    cell = Cell(name, "run", 0, settings)

    def report_one(records: list[dict[str, Any]]) -> None:
        if records:
            report(records[0])

    main(script, doc, [cell], lambda _: measure(), report_one, results)

"""The bench harness: cells run once each in their own process, are reused while their settings
hold, are redone when the settings change, and the table is rewritten from them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"

SCRIPT = '''"""A tiny benchmark."""
import json, os, sys
from pathlib import Path
sys.path.insert(0, {bench!r})
from harness import Cell, main

HERE = Path(__file__).parent
SETTINGS = json.loads(os.environ.get("TINY_SETTINGS", '{{"version": 1}}'))
CELLS = [Cell(d, "row", s, SETTINGS) for s in (0, 1) for d in ("a",)]

def run_one(cell):
    with open(HERE / "runs.log", "a") as log:  # one line per cell that really ran
        log.write(f"{{cell.dataset}} {{cell.seed}}\\n")
    history = [{{"epoch": 1, "curve": [1, 2]}}]
    return {{"score": 10 * cell.seed + len(cell.dataset), "history": history}}

def report(records):
    rows = sorted((r["dataset"], r["seed"], r["score"]) for r in records)
    (HERE / "table.json").write_text(json.dumps(rows))

if __name__ == "__main__":
    main(__file__, __doc__, CELLS, run_one, report, HERE / "results")
'''


@pytest.fixture
def tiny(tmp_path):
    script = tmp_path / "tiny.py"
    script.write_text(SCRIPT.format(bench=str(BENCH)))

    def run(*args, settings=None):
        env = {"TINY_SETTINGS": json.dumps(settings)} if settings else {}
        return subprocess.run(
            [sys.executable, str(script), *args],
            capture_output=True,
            text=True,
            env={**__import__("os").environ, **env},
        )

    return tmp_path, run


def runs(folder: Path) -> list[str]:
    log = folder / "runs.log"
    return log.read_text().splitlines() if log.exists() else []


def test_cells_run_once_and_are_reused_until_their_settings_change(tiny):
    folder, run = tiny
    assert run("--seed", "0").returncode == 0
    assert runs(folder) == ["a 0"]  # only the chosen seed
    assert json.loads((folder / "table.json").read_text()) == [["a", 0, 1]]

    assert run().returncode == 0  # the finished cell is reused, the other one runs
    assert runs(folder) == ["a 0", "a 1"]
    assert json.loads((folder / "table.json").read_text()) == [["a", 0, 1], ["a", 1, 11]]
    saved = json.loads((folder / "results" / "a" / "row-seed1.json").read_text())
    assert saved["settings"] == {"version": 1} and saved["seed"] == 1
    assert saved["wall_seconds"] >= 0 and saved["peak_memory_mb"] > 0 and saved["machine"]
    assert saved["history"] == [{"epoch": 1}]  # per-step curves are not kept

    # --report-only runs nothing; only cells finished under the current settings count
    assert run("--report-only", settings={"version": 2}).returncode == 0
    assert len(runs(folder)) == 2
    assert json.loads((folder / "table.json").read_text()) == []
    assert run("--seed", "1", settings={"version": 2}).returncode == 0  # other settings: redone
    assert runs(folder) == ["a 0", "a 1", "a 1"]
    assert json.loads((folder / "table.json").read_text()) == [["a", 1, 11]]


def test_an_unknown_row_is_refused_with_the_rows_there_are(tiny):
    folder, run = tiny
    done = run("--row", "nope")
    assert done.returncode == 2
    assert "--row: no cells for nope; this script has row" in done.stderr
    assert runs(folder) == []


def test_the_benches_name_of_down_as_published_is_the_packages(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    import common

    from coarse2fine.methods import METHODS

    assert common.DOWN_PUBLISHED == METHODS["down"].published_options("text")


def test_an_option_added_later_voids_the_defaults_cells_but_not_a_row_pinned_to_its_old_value(
    monkeypatch,
):
    monkeypatch.syspath_prepend(str(BENCH))
    import common

    before = {"warmup_epochs": 0, "bank_writer": "student"}
    old_defaults = {"epochs": None, "recipe": {"text": {"lr": 1e-5, "options": before}}}
    new_defaults = {
        "epochs": None,
        "recipe": {"text": {"lr": 1e-5, "options": {**before, "k_share": 0.5}}},
    }
    published = {"warmup_epochs": 1, "bank_writer": "momentum"}
    old_row = {"params": {"method_params": published}, "defaults": old_defaults}
    pinned = {"params": {"method_params": {**published, "k_share": 0.8}}, "defaults": new_defaults}
    assert common.comparable(old_row) == common.comparable(pinned)
    # the default's row (no options of its own) and a row at another value are redone
    assert common.comparable({"params": {}, "defaults": old_defaults}) != common.comparable(
        {"params": {}, "defaults": new_defaults}
    )
    other = {"params": {"method_params": {**published, "k_share": 0.3}}, "defaults": new_defaults}
    assert common.comparable(old_row) != common.comparable(other)
    assert pinned["params"]["method_params"]["k_share"] == 0.8  # the caller's dict is untouched


def test_the_training_length_is_compared_as_it_took_effect(monkeypatch):
    """A new default train_length voids the cells of rows longer than it (and of a row pinned to
    another length), not those of short texts or vectors, which trained the same."""
    monkeypatch.syspath_prepend(str(BENCH))
    import common

    def cell(default, **params):
        return {"params": params, "defaults": {"train_length": default, "epochs": None}}

    # short texts (17 tokens): 64 and 32 both train on 17
    assert common.comparable(cell(64), 17) == common.comparable(cell(32), 17)
    # long texts (310 tokens): 64 and 32 differ; a row pinned to 64 keeps the old cell
    assert common.comparable(cell(64), 310) != common.comparable(cell(32), 310)
    assert common.comparable(cell(64), 310) == common.comparable(cell(32, train_length=64), 310)
    # a row that set 32 itself ran what the new default runs
    assert common.comparable(cell(64, train_length=32), 310) == common.comparable(cell(32), 310)
    # None: the fitted length itself
    assert common.comparable(cell(None), 310) == common.comparable(cell(512), 310)
    # vectors have no tokens
    assert common.comparable(cell(64), None) == common.comparable(cell(32), None)
    # records from before the fitted length was kept compare as they are
    assert common.comparable(cell(64)) != common.comparable(cell(32))


def test_the_peers_targets_give_a_time_ratio_only_within_one_machine(monkeypatch):
    """Seconds from two machines do not compare: the default's time over BERTopic's is given
    where both ran on one machine, and marked otherwise."""
    monkeypatch.syspath_prepend(str(BENCH))
    import peers

    def cell(acc, seconds, machine):
        return [{"seed": 0, "ACC": acc, "seconds": seconds, "machine": machine}]

    by = {
        ("clinc", "bertopic-kmeans"): cell(80.0, 10.0, "A"),
        ("clinc", "discover (umap-spectral)"): cell(90.0, 25.0, "A"),
        ("clinc", "untrained (kmeans)"): cell(70.0, 5.0, "A"),
    }
    row = [line for line in peers.targets(by, ["clinc"]).splitlines() if "| clinc |" in line]
    assert row == ["| clinc | 1 | 90.00 | 80.00 | 70.00 | +10.00 ✓ | +20.00 ✓ | +20.00 ✓ | 2.5 ✓ |"]
    by[("clinc", "discover (umap-spectral)")] = cell(90.0, 25.0, "B")
    row = [line for line in peers.targets(by, ["clinc"]).splitlines() if "| clinc |" in line]
    assert row[0].endswith("| — (two machines) |")

"""The HTML report: built from a real (tiny) discover run, opened in headless Chromium."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from typer.testing import CliRunner

from coarse2fine.cli import app

runner = CliRunner()
SECTIONS = ["summary", "metrics", "tree", "confusion", "maps", "training"]


@pytest.fixture
def run_dir(tiny_csv, tmp_path):
    out = tmp_path / "run"
    args = ["discover", str(tiny_csv), "--text-col", "utterance", "--coarse-col", "domain"]
    args += ["--fine-col", "intent", "--n-fine", "6", "--encoder", "tiny-random", "--quiet"]
    result = runner.invoke(app, [*args, "--batch-size", "8", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"coarse2fine report {out}" in result.output  # the summary points to the report
    return out


def test_report_has_every_section_and_stays_small(run_dir):
    result = runner.invoke(app, ["report", str(run_dir)])
    assert result.exit_code == 0, result.output
    page = (run_dir / "report.html").read_text(encoding="utf-8")
    for section in SECTIONS:
        assert f"<section id={section}>" in page
    assert page.count("data:image/png;base64,") == 3  # heatmap, maps, curves
    assert "bank: 24 rows, 3 categories" in page and "travel/3" in page
    assert len(page.encode()) < 5_000_000


def test_report_rejects_a_folder_that_is_not_a_run(tmp_path):
    result = runner.invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 2 and "is not a discover output folder" in result.output


def test_report_rejects_an_unknown_coarse_class(run_dir):
    result = runner.invoke(app, ["report", str(run_dir), "--coarse", "sports"])
    assert result.exit_code == 2 and "no coarse class 'sports'" in result.output


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.skip("needs headless Chromium (Debian package chromium; .ci/run installs it)")
    return found


def test_report_renders_in_headless_chromium(run_dir, tmp_path):
    browser = chromium()
    assert runner.invoke(app, ["report", str(run_dir), "--coarse", "travel"]).exit_code == 0
    url = (run_dir / "report.html").resolve().as_uri()
    flags = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    dom = subprocess.run(
        [*flags, "--dump-dom", url], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    for section in SECTIONS:  # the browser parsed the page into these elements
        assert f'<section id="{section}">' in dom
    assert "inside 'travel', by discovered category" not in dom  # that title is in the image
    assert dom.count("<img") == 3
    shot = tmp_path / "report.png"
    subprocess.run(
        [*flags, "--window-size=1200,2000", f"--screenshot={shot}", url],
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000


def test_an_estimated_k_gets_its_summary_range_and_criterion_plot(tiny_csv, tmp_path):
    """Without --n-fine the summary gives each class's estimate and plausible range, and the
    report plots the criterion against K (the sections above plus one figure)."""
    out = tmp_path / "run"
    args = ["discover", str(tiny_csv), "--text-col", "utterance", "--coarse-col", "domain"]
    args += ["--encoder", "tiny-random", "--quiet", "--batch-size", "8", "--epochs", "1"]
    result = runner.invoke(app, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "estimated per coarse class by eigengap on the trained features" in result.output
    assert "bank: 24 rows" in result.output and "(estimated; plausible " in result.output
    result = runner.invoke(app, ["report", str(out)])
    assert result.exit_code == 0, result.output
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "<section id=estimate>" in page and "Number of categories" in page
    assert page.count("data:image/png;base64,") == 3  # maps, curves, K curves (no fine labels)

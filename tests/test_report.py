"""The HTML report: built from a real (tiny) discover run, opened in headless Chromium."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from typer.testing import CliRunner

from coarse2fine.cli import app

runner = CliRunner()
SECTIONS = ["summary", "metrics", "tree", "confusion", "explore", "maps", "training"]


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
    # the scores per coarse class, from metrics.json, as a table of its own
    by_coarse = json.loads((run_dir / "metrics.json").read_text())["by_coarse"]
    bank = by_coarse["bank"]
    assert "<th>separable</th>" in page and "{'rows'" not in page
    assert f"<tr><th>bank</th><td>24</td><td>3</td><td>{bank['found']}" in page


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
    clusters = json.loads((out / "clusters.json").read_text(encoding="utf-8"))
    bank = clusters["estimate"]["classes"]["bank"]
    where = ", on the layout" if bank["on"] == "layout" else ""  # umap-spectral: counted there too
    assert "bank: 24 rows" in result.output
    also = f"; nearly as likely: {', '.join(map(str, bank['rivals']))}" if bank["rivals"] else ""
    assert f"(estimated{where}; plausible {bank['low']}-{bank['high']}{also})" in result.output
    # a peak nearly as high is drawn too (hollow), wherever it lies on the curve, and a second
    # reading (dotted) where the class had no clear gap
    bank["rivals"] = [len(bank["curve"])]
    bank["second"] = {"criterion": "resolution", "k": 1}
    (out / "clusters.json").write_text(json.dumps(clusters), encoding="utf-8")
    result = runner.invoke(app, ["report", str(out)])
    assert result.exit_code == 0, result.output
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "<section id=estimate>" in page and "Number of categories" in page
    assert "hollow: other peaks nearly as high" in page
    assert "read a second time (dotted line)" in page
    assert "choose by the size you expect" in page  # no choice by the clear classes' scale
    assert page.count("data:image/png;base64,") == 3  # maps, curves, K curves (no fine labels)
    clusters["estimate"]["by_scale"] = True  # where the estimate chose by that scale
    (out / "clusters.json").write_text(json.dumps(clusters), encoding="utf-8")
    assert runner.invoke(app, ["report", str(out)]).exit_code == 0
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "the estimate takes the reading whose rows a category come nearer" in page


def _dom(browser: str, url: str) -> str:
    flags = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", url]
    return subprocess.run(flags, capture_output=True, text=True, timeout=120, check=True).stdout


def _category_rows(dom: str, coarse: str) -> list[tuple[str, bool]]:
    """(category id, hidden?) of each category row under ``coarse``, in the page's order."""
    import re

    block = re.search(rf'data-coarse="{coarse}".*?</details>', dom, re.S).group(0)
    rows = re.findall(r'<tr class="cat[^"]*" data-cat="([^"]+)"([^>]*)>', block)
    return [(cat, "hidden" in rest) for cat, rest in rows]


def test_search_filter_sort_and_a_categorys_rows_in_headless_chromium(run_dir):
    """The page's script run by a real browser on a view given in the URL: search 'visa',
    only the travel class, sorted by name, travel's first category opened."""
    import json
    import re
    from urllib.parse import quote

    browser = chromium()
    assert runner.invoke(app, ["report", str(run_dir)]).exit_code == 0
    clusters = json.loads((run_dir / "clusters.json").read_text())
    travel = next(n for n in clusters["coarse"] if n["coarse"] == "travel")["categories"]
    chosen = travel[0]["category"]
    url = (run_dir / "report.html").resolve().as_uri()
    view = f"#q=visa&coarse=travel&sort=name&cat={quote(chosen, safe='')}"
    dom = _dom(browser, url + view)
    # the search counts the rows whose text holds "visa" (8 in the tiny data) and lists them
    assert re.search(r'id="match-count"[^>]*>8 rows match<', dom)
    assert dom.count("<mark>visa</mark>") == 8
    # the other coarse class is hidden; travel's categories are sorted by name
    assert re.search(r'<details[^>]*data-coarse="bank"[^>]*hidden', dom)
    names = {c["category"]: c["name"] for c in travel}
    shown = [cat for cat, _ in _category_rows(dom, "travel")]
    assert shown == sorted(shown, key=lambda c: names[c])
    # categories without a visa row are hidden, those with one are shown
    visa = {
        c["category"]
        for c in travel
        if any("visa" in str(e) for e in c["examples"]) or "visa" in c["name"]
    }
    for cat, hidden in _category_rows(dom, "travel"):
        if cat in visa:
            assert not hidden
    # the chosen category's rows are all listed
    title = re.search(r'id="rows-title"[^>]*>([^<]*)<', dom).group(1)
    assert title.startswith(chosen) and f"({travel[0]['size']} rows)" in title
    # with no search, nothing is hidden and no row is listed as a match
    plain = _dom(browser, url)
    assert re.search(r'id="match-count"[^>]*><', plain)
    assert all(not hidden for cat, hidden in _category_rows(plain, "bank"))


def test_a_class_label_names_the_reading_that_counted_it():
    """A class counted by the estimate's criterion gets no mark; one without a clear gap names
    the reading that stood, the noise's resolution in words rather than the criterion's key."""
    from coarse2fine.report.html import how_counted

    assert how_counted({"criterion": "eigengap", "on": "layout"}, "eigengap") == ", on the layout"
    assert how_counted({"criterion": "modularity"}, "eigengap", why=True) == (
        ", by modularity: no clear eigengap"
    )
    assert how_counted({"criterion": "resolution"}, "eigengap", why=True) == (
        ", at the noise's resolution: no clear eigengap"
    )

"""``coarse2fine report RUN_DIR``: one self-contained HTML page about a discovery run.

Sections (each an element with an id, which the tests look for): the run at a glance, the
scores (when fine labels were given), the coarse -> fine tree with names, sizes and example
rows, a confusion heatmap of categories against fine labels, the 2-D maps (all rows by coarse
class; one coarse class by discovered category) and the training curves. Plots are PNG images
embedded as base64, so the page is one file that opens anywhere.
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd

from coarse2fine.data.dataset import InputError
from coarse2fine.data.images import IMAGE_SUFFIXES
from coarse2fine.io import atomic_write_text

REPORT = "report.html"
EXAMPLES_SHOWN = 3
THUMBNAIL = 64  # pixels: the longer side of an image example's thumbnail


def _png(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img alt="" src="data:image/png;base64,{data}">'


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _read_run(run: Path) -> dict:
    needed = ["assignments.csv", "clusters.json", "run.json"]
    missing = [name for name in needed if not (run / name).is_file()]
    if missing:
        raise InputError(
            f"{run} is not a discover output folder (missing {', '.join(missing)}); "
            f"run coarse2fine discover ... --out {run} first"
        )
    # every cell as written: a coarse label "NA", "None" or "nan" is a label, not a missing value
    assignments = pd.read_csv(run / "assignments.csv", dtype=str, keep_default_na=False)
    lacking = [col for col in ("coarse", "category") if col not in assignments.columns]
    if lacking:
        raise InputError(
            f"{run / 'assignments.csv'} has no column {', '.join(map(repr, lacking))} "
            f"(columns: {', '.join(assignments.columns)}); it was not written by coarse2fine "
            f"discover: run discover again into {run}"
        )
    parts = {
        "assignments": assignments,
        "clusters": json.loads((run / "clusters.json").read_text(encoding="utf-8")),
        "run": json.loads((run / "run.json").read_text(encoding="utf-8")),
        "metrics": None,
        "map": None,
    }
    if (run / "metrics.json").is_file():
        parts["metrics"] = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
    if (run / "map.csv").is_file():
        parts["map"] = pd.read_csv(run / "map.csv")
    return parts


def _confusion(assignments: pd.DataFrame) -> str:
    """Categories (rows) against true fine labels (columns), columns ordered by the Hungarian
    match so that a good discovery shows a bright diagonal."""
    from scipy.optimize import linear_sum_assignment

    from coarse2fine.metrics import contingency

    table = contingency(assignments["fine"].astype(str), assignments["category"].astype(str))
    rows, cols = linear_sum_assignment(table, maximize=True)
    matched = cols[np.argsort(rows)]
    order = list(matched) + [c for c in range(table.shape[1]) if c not in set(matched)]
    table = table[:, order]
    plt = _pyplot()
    size = min(12.0, 3.0 + 0.05 * max(table.shape))
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(np.log1p(table), cmap="viridis", aspect="auto", interpolation="nearest")
    ax.set_xlabel("true fine label (matched order)")
    ax.set_ylabel("discovered category")
    ax.set_title("rows per (category, fine label), log scale")
    return _png(fig)


def _scatter(ax, xy: np.ndarray, groups: np.ndarray, names: list[str], max_legend: int = 20):
    plt = _pyplot()
    palette = "tab10" if len(names) <= 10 else "tab20"
    colours = plt.get_cmap(palette)
    for i, name in enumerate(names):
        mask = groups == name
        ax.scatter(xy[mask, 0], xy[mask, 1], s=4, color=colours(i % colours.N), label=name)
    if len(names) <= max_legend:
        ax.legend(markerscale=3, fontsize=7, loc="best", frameon=False)
    ax.set_xticks([])
    ax.set_yticks([])


def _maps(assignments: pd.DataFrame, points: pd.DataFrame, coarse: str, names: dict) -> str:
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 6))
    shown = points[["x", "y"]].notna().all(1).to_numpy()
    groups = assignments["coarse"].astype(str).to_numpy()
    _scatter(left, points[["x", "y"]].to_numpy()[shown], groups[shown], sorted(set(groups)))
    left.set_title(f"all rows ({shown.sum()} sampled), by coarse class")
    inside = (groups == coarse) & points[["cx", "cy"]].notna().all(1).to_numpy()
    cats = assignments["category"].astype(str).to_numpy()
    labelled = np.array([f"{c}: {names.get(c, '')}"[:40] for c in cats], dtype=object)
    _scatter(
        right,
        points[["cx", "cy"]].to_numpy()[inside],
        labelled[inside],
        sorted(set(labelled[inside])),
    )
    right.set_title(f"inside {coarse!r}, by discovered category")
    return _png(fig)


def _curves(history: list[dict]) -> str | None:
    points = [p for epoch in history for p in epoch.get("curve", [])]
    if not points:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4))
    steps = [p["step"] for p in points]
    for name in [k for k in points[0] if k != "step"]:
        marker = "o" if len(points) < 20 else None  # a short run: show its few points
        values = [p.get(name, np.nan) for p in points]
        ax.plot(steps, values, label=name, linewidth=1, marker=marker)
    ax.set_xlabel("optimiser step")
    ax.set_ylabel("loss (mean over the window)")
    ax.legend(fontsize=8, frameon=False)
    ax.set_title("training curves")
    return _png(fig)


MAX_K_PANELS = 30  # coarse classes drawn in the number-of-categories figure (the largest)


def counted_by(record: dict, criterion: str) -> str:
    """The criterion that counted one class of clusters.json's estimate: the estimate's own
    ``criterion``, or the one a class without a clear gap was counted by (recorded since
    estimate_k.WEAK_GAP; older files have none)."""
    return record.get("criterion", criterion)


def how_counted(record: dict, criterion: str, why: bool = False) -> str:
    """How a class's count was read, for its label: ", on the layout" where the layout's count
    stood, ", by modularity" or ", at the noise's resolution" (READINGS; ", by <criterion>" for
    another) where another criterion than the estimate's counted it (``why``: with the reason,
    no clear gap of the estimate's ``criterion``)."""
    where = ", on the layout" if record.get("on") == "layout" else ""
    by = counted_by(record, criterion)
    if by != criterion:
        where += f", {reading_name(by)}" + (f": no clear {criterion}" if why else "")
    return where


# how the readings of a class without a clear gap (estimate_k.WEAK_COUNT, other_reading) are
# named beside its estimate
READINGS = {"resolution": "at the noise's resolution", "modularity": "by modularity"}


def reading_name(criterion: str) -> str:
    """How a class's count by ``criterion`` is named beside it: READINGS, or "by <criterion>"."""
    return READINGS.get(criterion, f"by {criterion}")


def second_reading(record: dict, size: int | None = None) -> str:
    """A class's second reading for its label ("" where it has none: a clear gap, or
    clusters.json before it was recorded): "; at the noise's resolution: 3", and with the
    class's ``size`` the rows a category holds by each count, the sign an analyst can judge."""
    second = record.get("second")
    if not second:
        return ""
    text = f"; {reading_name(second['criterion'])}: {second['k']}"
    if size:
        text += f" (~{size // second['k']} rows a category, against ~{size // record['k']})"
    return text


def _k_curves(clusters: dict) -> str | None:
    """Per coarse class, the estimator's criterion against K: the chosen K marked (filled), the
    other peaks nearly as high (hollow), the plausible range shaded, so an analyst sees how clear
    the choice was and can pick another K."""
    estimate = clusters.get("estimate")
    if not estimate:
        return None
    sizes = {node["coarse"]: node["size"] for node in clusters["coarse"]}
    names = sorted(estimate["classes"], key=lambda c: -sizes.get(c, 0))[:MAX_K_PANELS]
    plt = _pyplot()
    cols = min(5, len(names))
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.4 * rows), squeeze=False)
    for ax in axes.flat[len(names) :]:
        ax.set_visible(False)
    criterion = estimate["criterion"]
    switched = sorted({counted_by(estimate["classes"][n], criterion) for n in names} - {criterion})
    for ax, name in zip(axes.flat, names, strict=False):
        got = estimate["classes"][name]
        ks = np.array([k for k, _ in got["curve"]], dtype=float)
        scores = np.array([np.nan if s is None else s for _, s in got["curve"]], dtype=float)
        ax.axvspan(got["low"] - 0.5, got["high"] + 0.5, color="#cde", linewidth=0)
        ax.plot(ks, scores, linewidth=1, color="#333")
        k = got["k"]
        if k <= len(scores) and np.isfinite(scores[k - 1]):
            ax.plot([k], [scores[k - 1]], "o", color="#c33")
        near = [r for r in got.get("rivals", []) if r <= len(scores)]  # peaks nearly as high
        if near:
            ax.plot(near, scores[np.array(near) - 1], "o", mfc="none", color="#c33")
        label = name.replace("$", r"\$")  # a label is text, not math markup
        where = how_counted(got, criterion)
        second = got.get("second")
        if second and second["k"] <= len(scores):  # the other reading of a class without a gap
            ax.axvline(second["k"], color="#c33", linestyle=":", linewidth=1)
        title = f"{label}: K={k} ({got['low']}-{got['high']}{where}{second_reading(got)})"
        ax.set_title(title, fontsize=8)
        ax.tick_params(labelsize=7)
    fig.supxlabel("K (categories in the coarse class)", fontsize=9)
    # another criterion's curves, named as in the titles
    marked = "".join(f"; {reading_name(by)} where marked" for by in switched)
    fig.supylabel(f"{criterion} score{marked}", fontsize=9)
    fig.tight_layout()
    return _png(fig)


def _example(example) -> str:
    """A row nearest a category's centre: its text (or row number), or for an image that is
    still where discover read it a thumbnail (with its path on hover)."""
    path = Path(str(example))
    if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file():
        from PIL import Image

        try:
            with Image.open(path) as image:
                image = image.convert("RGB")
                image.thumbnail((THUMBNAIL, THUMBNAIL))
                buffer = io.BytesIO()
                image.save(buffer, format="PNG")
        except OSError:  # moved or damaged since the run: show the path
            return html.escape(str(example))
        data = base64.b64encode(buffer.getvalue()).decode("ascii")
        return (
            f'<img class=thumb src="data:image/png;base64,{data}" title="{html.escape(str(path))}">'
        )
    return html.escape(str(example))


def _tree(clusters: dict) -> str:
    blocks = []
    for node in clusters["coarse"]:
        has_fine = any("majority_fine_label" in c for c in node["categories"])
        rows = []
        for cat in node["categories"]:
            examples = "<br>".join(_example(e) for e in cat["examples"][:EXAMPLES_SHOWN])
            extra = ""
            if "majority_fine_label" in cat:
                extra = (
                    f"<td>{html.escape(cat['majority_fine_label'])}</td>"
                    f"<td>{cat['purity']:.0f} %</td>"
                )
            elif has_fine:  # an empty category in a table with fine-label columns
                extra = "<td></td><td></td>"
            purity = cat.get("purity", "")
            rows.append(
                f'<tr class=cat data-cat="{html.escape(cat["category"])}" '
                f'data-size={cat["size"]} data-purity="{purity}">'
                f"<td>{html.escape(cat['category'])}</td>"
                f"<td><b>{html.escape(cat.get('name', ''))}</b></td>"
                f"<td class=n>{cat['size']}</td><td class=ex>{examples}</td>{extra}</tr>"
            )
        head = "<th>category</th><th>name</th><th>size</th><th>rows nearest the centre</th>"
        if has_fine:
            head += "<th>majority fine label</th><th>purity</th>"
        blocks.append(
            f'<details open class=coarse data-coarse="{html.escape(node["coarse"])}">'
            f"<summary>{html.escape(node['coarse'])}: {node['size']} rows, "
            f"{len(node['categories'])} categories</summary><table><thead><tr>{head}</tr>"
            "</thead><tbody>" + "".join(rows) + "</tbody></table></details>"
        )
    return "\n".join(blocks)


STYLE = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1200px;color:#222}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.4em 0 1em}td,th{border:1px solid #ddd;padding:.25em .5em;
vertical-align:top;font-size:.9em}th{background:#f4f4f4}td.n{text-align:right}
td.ex{color:#555;max-width:480px}summary{font-weight:600;cursor:pointer;margin:.3em 0}
img.thumb{margin:1px 3px;vertical-align:middle}
img{max-width:100%}.muted{color:#777}
#tools{position:sticky;top:0;background:#fff;padding:.5em 0;border-bottom:1px solid #eee;z-index:2}
#tools input{width:22em}tr.cat{cursor:pointer}tr.cat:hover{background:#f6f9ff}
tr.cat.chosen{background:#e8f0ff}#rows ol{columns:2;font-size:.9em}#matches li{font-size:.9em}
mark{background:#ffe58a}svg circle{stroke:none}svg circle:hover{stroke:#000;stroke-width:2}
"""

# The page's behaviour (search, coarse filter, sort, collapse, a category's rows, the map's
# points following the search), inlined so the page stays one offline file.
SCRIPT = (Path(__file__).parent / "report.js").read_text(encoding="utf-8")


PALETTE = (
    "#1f77b4 #ff7f0e #2ca02c #d62728 #9467bd #8c564b #e377c2 #7f7f7f #bcbd22 #17becf "
    "#aec7e8 #ffbb78 #98df8a #ff9896 #c5b0d5 #c49c94 #f7b6d2 #c7c7c7 #dbdb8d #9edae5"
).split()


def _page_data(assignments: pd.DataFrame, clusters: dict) -> tuple[dict, dict, list]:
    """What the page's script reads: every row (its text, or "row N" for vectors, with its
    category and coarse class as indices), the categories and the coarse classes."""
    coarse = [node["coarse"] for node in clusters["coarse"]]
    cats = [
        {"id": cat["category"], "name": cat.get("name", "")}
        for node in clusters["coarse"]
        for cat in node["categories"]
    ]
    cat_index = {c["id"]: i for i, c in enumerate(cats)}
    coarse_index = {c: i for i, c in enumerate(coarse)}
    texts = (
        assignments["text"].tolist()
        if "text" in assignments.columns
        else [f"row {r}" for r in assignments["row"]]
    )
    rows = [
        [t, cat_index[c], coarse_index[k]]
        for t, c, k in zip(texts, assignments["category"], assignments["coarse"], strict=True)
    ]
    return {"coarse": coarse, "cats": cats, "rows": rows}, cat_index, coarse


def _tools(coarse: list[str]) -> str:
    options = "".join(f'<option value="{html.escape(c)}">{html.escape(c)}</option>' for c in coarse)
    return (
        "<div id=tools><input id=search type=search placeholder='search rows, names, ids'> "
        f"<select id=coarse-filter><option value=''>all coarse classes</option>{options}"
        "</select> sort by <select id=sort><option value=size>size</option>"
        "<option value=name>name</option><option value=purity>purity</option></select> "
        "<button id=expand>expand all</button> <button id=collapse>collapse all</button> "
        "<span id=match-count class=muted></span></div><ol id=matches></ol>"
        "<div id=rows hidden><h3 id=rows-title></h3><ol id=rows-list></ol></div>"
        "<p class=muted>Click a category to list all its rows.</p>"
    )


def _svg_map(assignments: pd.DataFrame, points: pd.DataFrame, data: dict) -> str | None:
    """The sampled rows' 2-D map as SVG: one point per row, coloured by coarse class; hovering
    a point shows its text, category and name."""
    xy = points[["x", "y"]].to_numpy(dtype=float)
    shown = np.flatnonzero(np.isfinite(xy).all(1))
    if not len(shown):
        return None
    lo, hi = xy[shown].min(0), xy[shown].max(0)
    span = np.where(hi > lo, hi - lo, 1.0)
    width, height, pad = 900, 560, 10
    circles = []
    for i in shown:
        x = pad + (xy[i, 0] - lo[0]) / span[0] * (width - 2 * pad)
        y = pad + (xy[i, 1] - lo[1]) / span[1] * (height - 2 * pad)
        text, cat, coarse = data["rows"][i]
        label = f"{text} \u2014 {data['cats'][cat]['id']}: {data['cats'][cat]['name']}"
        colour = PALETTE[coarse % len(PALETTE)]
        circles.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}" data-row="{i}">'
            f"<title>{html.escape(label)}</title></circle>"
        )
    legend = " ".join(
        f'<span style="color:{PALETTE[i % len(PALETTE)]}">\u25cf</span> {html.escape(c)}'
        for i, c in enumerate(data["coarse"])
    )
    return (
        f"<p class=muted>{len(shown)} sampled rows; hover a point for its text and category. "
        f"{legend}</p><svg id=map-points viewBox='0 0 {width} {height}' width='100%'>"
        + "".join(circles)
        + "</svg>"
    )


def _per_class_scores(by_coarse: dict) -> str:
    """The per-coarse-class scores as a table: rows, true, found and separable categories, ACC;
    a class found with fewer categories than its features keep apart is marked."""
    if not by_coarse:
        return ""
    head = "".join(
        f"<th>{h}</th>" for h in ("coarse class", "rows", "true", "found", "separable", "ACC")
    )
    rows = []
    for c, row in by_coarse.items():
        separable = row.get("separable")
        short = separable is not None and row["found"] < separable
        mark = " <span class=muted>(fewer than the features keep apart)</span>" if short else ""
        found = f"{row['found']}{mark}"
        cells = [row["rows"], row["true"], found, "—" if separable is None else separable]
        rows.append(
            f"<tr><th>{html.escape(str(c))}</th>"
            + "".join(f"<td>{v}</td>" for v in [*cells, row["ACC"]])
            + "</tr>"
        )
    return (
        "<p>Per coarse class: its true categories, those found, how many of the true ones the "
        "clustered features keep apart (at least half of a category's rows have a row of their "
        "own category nearest), and ACC inside the class.</p>"
        f"<table><tr>{head}</tr>{''.join(rows)}</table>"
    )


def _section(ident: str, title: str, body: str) -> str:
    heading = f"<h2>{html.escape(title)}</h2>" if title else ""
    return f"<section id={ident}>{heading}{body}</section>"


def write_report(run: str | Path, coarse: str | None = None, out: str | Path | None = None) -> Path:
    """Write ``report.html`` (or ``out``) for the discover output folder ``run``."""
    import matplotlib

    # user text (labels, names) is drawn as it is: "$x$" must not be parsed as math markup
    with matplotlib.rc_context({"text.parse_math": False}):
        page = _page(Path(run), coarse)
    target = Path(run) / REPORT if out is None else Path(out)
    atomic_write_text(target, page)
    return target


def _page(run: Path, coarse: str | None) -> str:
    parts = _read_run(run)
    assignments, clusters = parts["assignments"], parts["clusters"]
    sizes = assignments["coarse"].astype(str).value_counts()
    if coarse is None:
        coarse = str(sizes.index[0])  # the largest coarse class
    elif coarse not in sizes.index:
        raise InputError(
            f"no coarse class {coarse!r} in {run}; choose one of {', '.join(sizes.index[:20])}"
        )
    names = {
        cat["category"]: cat.get("name", "")
        for node in clusters["coarse"]
        for cat in node["categories"]
    }
    params = parts["run"].get("params", {})
    method = html.escape(clusters["method"])
    sections = [
        f"<h1>coarse2fine: {clusters['n_fine']} categories in {len(clusters['coarse'])} coarse "
        "classes</h1>",
        _section(
            "summary",
            "",
            f"<p>{len(assignments)} rows; method <b>{method}</b>; "
            f"{parts['run'].get('seconds', 0):.0f} s. Settings: <span class=muted>"
            f"{html.escape(json.dumps(params))}</span></p>",
        ),
    ]
    if parts["metrics"]:
        scores = {k: v for k, v in parts["metrics"].items() if not isinstance(v, dict)}
        cells = "".join(
            f"<tr><th>{html.escape(k)}</th><td>{v}</td></tr>" for k, v in scores.items()
        )
        per_class = _per_class_scores(parts["metrics"].get("by_coarse") or {})
        sections.append(
            _section(
                "metrics", "Scores against the fine labels", f"<table>{cells}</table>{per_class}"
            )
        )
    data, _, coarse_names = _page_data(assignments, clusters)
    sections.append(_section("tree", "The discovered tree", _tools(coarse_names) + _tree(clusters)))
    k_curves = _k_curves(clusters)
    if k_curves:
        note = (
            "<p>How many categories each coarse class holds was estimated (red dot; hollow: other "
            "peaks nearly as high; shaded: the range over 80 % subsamples of its rows). A curve "
            "with no clear peak means the number is uncertain: rerun with <code>--n-fine</code> "
            "and a JSON object of counts per coarse class to choose it (the summary prints the "
            "estimated ones in that form). A class marked <em>by modularity</em> showed no "
            "clear eigengap (no near-separate groups of rows); it was counted by Louvain "
            "modularity instead, and its curve is the share of runs that found each K (in a "
            "large class, each run on its own random sample of its rows). Such a class is "
            "read a second time (dotted line), at the resolution where rows with no structure "
            "but the class's spread start to split: modularity's count comes near the truth "
            "where a class holds many small categories (tens of rows each), the second where "
            "it holds a few large ones (a hundred rows or more)"
            + (
                "; the estimate takes the reading whose rows a category come nearer those of "
                "the classes with a clear gap (the summary gives that size), so a class marked "
                "<em>at the noise's resolution</em> took that reading (its curve drawn) and "
                "its dotted line is modularity's count: choose otherwise if you expect another "
                "size.</p>"
                if (clusters.get("estimate") or {}).get("by_scale")
                else "; choose by the size you expect (the summary gives the rows a category "
                "of the classes with a clear gap, where some have one).</p>"
            )
        )
        sections.append(_section("estimate", "Number of categories", note + k_curves))
    if "fine" in assignments.columns:
        sections.append(
            _section("confusion", "Categories against fine labels", _confusion(assignments))
        )
    if parts["map"] is not None:
        svg = _svg_map(assignments, parts["map"], data)
        if svg:
            sections.append(_section("explore", "Explore the rows on the map", svg))
        body = _maps(assignments, parts["map"], coarse, names)
        sections.append(_section("maps", "Maps of the features", body))
    curves = _curves(parts["run"].get("history", []))
    if curves:
        sections.append(_section("training", "Training", curves))
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/")
    return (
        "<!doctype html><html><head><meta charset=utf-8><title>coarse2fine report</title>"
        f"<style>{STYLE}</style></head><body>{''.join(sections)}"
        f"<script type=application/json id=c2f-data>{payload}</script>"
        f"<script>{SCRIPT}</script></body></html>\n"
    )

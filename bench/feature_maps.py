"""2-D maps of learned features, HWSCL against SimCSE + CE (the HWSCL paper's Figure 5).

Each method trains on CLINC train (coarse labels only, seed 0, its paper-protocol row's
settings), embeds the test split, and t-SNE maps it twice: all rows coloured by coarse class, and
the rows of one coarse class coloured by fine class. The silhouette score of each colouring (in
the feature space, cosine) puts a number on what the maps show. One cell per method under
bench/results/feature_maps/ holds its scores and map coordinates (a rerun only redraws); the
figure is docs/images/feature_maps.png and the table goes into docs/BENCHMARKS.md.

    python bench/feature_maps.py
    python bench/feature_maps.py --report-only
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from common import ROOT, explicit_head_lr, replace_section
from harness import Cell, main
from protocol_rows import settings as protocol_settings

RESULTS = ROOT / "bench" / "results" / "feature_maps"
FIGURE = ROOT / "docs" / "images" / "feature_maps.png"
DATASET, SEED = "clinc", 0
CLASS = "banking"  # the coarse class whose fine classes the second map colours
METHODS = [("HWSCL", "hwscl-1ep-lr2e-6"), ("SimCSE + CE", "simcse_ce")]
CELLS = [Cell(DATASET, row, SEED, protocol_settings(row)) for _, row in METHODS]
MAP_COLUMNS = ("x", "y", "cx", "cy")  # all rows by coarse class; the CLASS rows by fine class


def run_one(cell: Cell) -> dict:
    from sklearn.metrics import silhouette_score

    from coarse2fine import Discoverer
    from coarse2fine.data import load_dataset
    from coarse2fine.report.maps import feature_maps

    wanted = cell.settings
    train = explicit_head_lr(wanted["train"])
    train_set, test = load_dataset(DATASET, "train"), load_dataset(DATASET, "test")
    est = Discoverer(
        method=wanted["method"],
        n_fine=test.n_fine,
        seed=SEED,
        epochs=train.pop("epochs"),
        method_params=wanted["method_params"],
        progress=False,
        **train,
    ).fit_representation(train_set)
    features = est.transform(test)
    coarse = np.asarray(test.coarse)
    maps = feature_maps(features, coarse, seed=SEED)
    inside = coarse == CLASS
    return {
        "silhouette_coarse": float(silhouette_score(features, coarse, metric="cosine")),
        "silhouette_fine_in_class": float(
            silhouette_score(features[inside], np.asarray(test.fine)[inside], metric="cosine")
        ),
        # per test row; None where a map leaves the row out (the second map: other classes)
        "maps": {
            c: [None if np.isnan(v) else round(float(v), 4) for v in maps[c]] for c in MAP_COLUMNS
        },
    }


def frame(record: dict) -> pd.DataFrame:
    from coarse2fine.data import load_dataset

    test = load_dataset(DATASET, "test")
    columns = {c: np.array(record["maps"][c], dtype=float) for c in MAP_COLUMNS}
    return pd.DataFrame(
        {"coarse": np.asarray(test.coarse), "fine": np.asarray(test.fine), **columns}
    )


def report(records: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = {r["row"]: r for r in records}
    if len(done) < len(METHODS):
        return  # the figure needs every method
    scores = {label: done[row] for label, row in METHODS}
    frames = {label: frame(done[row]) for label, row in METHODS}

    fig, axes = plt.subplots(2, 2, figsize=(10, 9), dpi=110)
    for col, (label, table) in enumerate(frames.items()):
        top, bottom = axes[0, col], axes[1, col]
        for i, (name, part) in enumerate(table.dropna(subset=["x"]).groupby("coarse")):
            top.scatter(part.x, part.y, s=3, color=plt.cm.tab10(i % 10), label=name)
        top.set_title(f"{label}: test rows by coarse class")
        inside = table[(table.coarse == CLASS)].dropna(subset=["cx"])
        for i, (name, part) in enumerate(inside.groupby("fine")):
            bottom.scatter(part.cx, part.cy, s=6, color=plt.cm.tab20(i % 20), label=name)
        bottom.set_title(f"{label}: '{CLASS}' rows by fine class")
        for ax in (top, bottom):
            ax.set_xticks([])
            ax.set_yticks([])
    axes[0, 1].legend(markerscale=4, fontsize=7, loc="center left", bbox_to_anchor=(1, 0.5))
    axes[1, 1].legend(markerscale=3, fontsize=7, loc="center left", bbox_to_anchor=(1, 0.5))
    fig.tight_layout()
    fig.savefig(FIGURE)
    plt.close(fig)

    lines = [
        "## Learned features in 2-D: HWSCL vs SimCSE + CE (HWSCL paper Figure 5)",
        "",
        f"Trained on {DATASET.upper()} train (coarse labels only, seed {SEED}) with each row's",
        "paper-protocol settings; the test split mapped by t-SNE (PCA to 30 first), all rows by",
        f"coarse class (top) and the '{CLASS}' rows by fine class (bottom). Silhouette scores are",
        "computed on the features themselves (cosine), not on the maps. Both cells shown were",
        "measured in one process before each cell got its own, so the second's peak memory",
        "may include the first's.",
        "",
        "Command: `python bench/feature_maps.py`  ",
        f"Machine: {next(iter(scores.values()))['machine']}",
        "",
        "![feature maps](images/feature_maps.png)",
        "",
        f"| method | row | silhouette by coarse | silhouette by fine inside '{CLASS}' "
        "| wall s | peak MB |",
        "|---|---|---|---|---|---|",
    ]
    for label, row in METHODS:
        s = scores[label]
        lines.append(
            f"| {label} | `{row}` | {s['silhouette_coarse']:.3f} "
            f"| {s['silhouette_fine_in_class']:.3f} | {s['wall_seconds']:.0f} "
            f"| {s['peak_memory_mb']:.0f} |"
        )
    replace_section("feature_maps", "\n".join(lines))


if __name__ == "__main__":
    main(__file__, __doc__, CELLS, run_one, report, RESULTS)

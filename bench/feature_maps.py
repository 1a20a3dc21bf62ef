"""2-D maps of learned features, HWSCL against SimCSE + CE (the HWSCL paper's Figure 5).

Each method trains on CLINC train (coarse labels only, seed 0, its paper-protocol row's
settings), embeds the test split, and t-SNE maps it twice: all rows coloured by coarse class, and
the rows of one coarse class coloured by fine class. The silhouette score of each colouring (in
the feature space, cosine) puts a number on what the maps show. Coordinates are kept per method
under bench/results/feature_maps/ (a rerun only redraws); the figure is
docs/images/feature_maps.png and the table goes into docs/BENCHMARKS.md.

    python bench/feature_maps.py
"""

from __future__ import annotations

import resource
import time

import numpy as np
import pandas as pd
from common import ROOT, explicit_head_lr, machine, replace_section
from paper_protocol import settings as protocol_settings

RESULTS = ROOT / "bench" / "results" / "feature_maps"
FIGURE = ROOT / "docs" / "images" / "feature_maps.png"
DATASET, SEED = "clinc", 0
CLASS = "banking"  # the coarse class whose fine classes the second map colours
METHODS = [("HWSCL", "hwscl-1ep-lr2e-6"), ("SimCSE + CE", "simcse_ce")]


def compute(label: str, row: str) -> pd.DataFrame:
    from sklearn.metrics import silhouette_score

    from coarse2fine import Discoverer
    from coarse2fine.data import load_dataset
    from coarse2fine.report.maps import feature_maps

    wanted = protocol_settings(row)
    train = explicit_head_lr(wanted["train"])
    train_set, test = load_dataset(DATASET, "train"), load_dataset(DATASET, "test")
    start = time.perf_counter()
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
    frame = pd.DataFrame(
        {"coarse": coarse, "fine": np.asarray(test.fine), **{c: maps[c] for c in maps.columns}}
    )
    frame.attrs["scores"] = {
        "silhouette_coarse": float(silhouette_score(features, coarse, metric="cosine")),
        "silhouette_fine_in_class": float(
            silhouette_score(features[inside], np.asarray(test.fine)[inside], metric="cosine")
        ),
        "seconds": time.perf_counter() - start,
    }
    return frame


def main() -> None:
    import json

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from coarse2fine.io import atomic_write_text

    RESULTS.mkdir(parents=True, exist_ok=True)
    frames, scores = {}, {}
    for label, row in METHODS:
        csv, meta = RESULTS / f"{row}.csv", RESULTS / f"{row}.json"
        wanted = {"settings": protocol_settings(row), "dataset": DATASET, "seed": SEED}
        cached = json.loads(meta.read_text()) if meta.is_file() and csv.is_file() else {}
        if any(cached.get(k) != v for k, v in wanted.items()):  # missing, or other settings
            frame = compute(label, row)
            atomic_write_text(csv, frame.to_csv(index=False))
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            # (the process's peak so far: it includes the methods computed before this one)
            record = {
                **wanted,
                **frame.attrs["scores"],
                "machine": machine(),
                "peak_memory_mb": peak,
            }
            atomic_write_text(meta, json.dumps(record))
        frames[label] = pd.read_csv(csv)
        scores[label] = json.loads(meta.read_text())

    fig, axes = plt.subplots(2, 2, figsize=(10, 9), dpi=110)
    for col, (label, frame) in enumerate(frames.items()):
        top, bottom = axes[0, col], axes[1, col]
        for i, (name, part) in enumerate(frame.dropna(subset=["x"]).groupby("coarse")):
            top.scatter(part.x, part.y, s=3, color=plt.cm.tab10(i % 10), label=name)
        top.set_title(f"{label}: test rows by coarse class")
        inside = frame[(frame.coarse == CLASS)].dropna(subset=["cx"])
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
        "computed on the features themselves (cosine), not on the maps.",
        "",
        "Command: `python bench/feature_maps.py`  ",
        f"Machine: {next(iter(scores.values()))['machine']}",
        "",
        "![feature maps](images/feature_maps.png)",
        "",
        f"| method | row | silhouette by coarse | silhouette by fine inside '{CLASS}' "
        "| wall s | process peak MB (cumulative) |",
        "|---|---|---|---|---|---|",
    ]
    for label, row in METHODS:
        s = scores[label]
        lines.append(
            f"| {label} | `{row}` | {s['silhouette_coarse']:.3f} "
            f"| {s['silhouette_fine_in_class']:.3f} | {s['seconds']:.0f} "
            f"| {s['peak_memory_mb']:.0f} |"
        )
    replace_section("feature_maps", "\n".join(lines))


if __name__ == "__main__":
    main()

"""How often a row's mined neighbours share its fine category: by cosine on the features, or in
each coarse class's UMAP layout (the study behind DOWN's ``mine_in="layout"``).

DOWN pulls each row toward its k nearest rows; a neighbour from another fine category is a
false positive. On the untrained encoder's features (what the first mining reads; no training
here), with k as the default trains (half the mean category size, ``k_share=0.5``), each row's
k neighbours are found:

- ``cosine, all rows``: by cosine over every row (DOWN's search as published, and the
  default's before 2026-12-06);
- ``cosine, own class``: by cosine inside the row's coarse class (``same_coarse=True``);
- ``layout``: by distance in the UMAP layout of the row's coarse class
  (``coarse2fine.cluster.neighbours.layout_neighbours``; three layout seeds).

Purity: the share (x100) of all neighbour slots, the row itself left out, that hold a row of
the same fine category.

    python bench/neighbour_purity.py
    python bench/neighbour_purity.py --report-only

One cell per text dataset under bench/results/neighbour_purity/.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from common import ROOT, mean_std, replace_section
from harness import Cell, main
from sources import TEXT_DATASETS, load, true_counts

RESULTS = ROOT / "bench" / "results" / "neighbour_purity"
LAYOUT_SEEDS = (0, 1, 2)
K_SHARE = 0.5  # the default's neighbour share (DOWN.defaults)
CELLS = [Cell(d, "purity", 0, {"version": 1, "k_share": K_SHARE}) for d in TEXT_DATASETS]


def purity(index: np.ndarray, valid: np.ndarray, fine: np.ndarray) -> float:
    """Share (x100) of the valid neighbour slots after the row itself (slot 0) whose row has
    the row's fine label."""
    slots = valid[:, 1:]
    same = fine[index[:, 1:]] == fine[:, None]
    return round(float(same[slots].mean() * 100), 2)


def run_one(cell: Cell) -> dict:
    from coarse2fine import Discoverer
    from coarse2fine.cluster.neighbours import layout_neighbours, nearest_neighbours
    from coarse2fine.methods.neighbours import share_of_category

    data = load(cell.dataset)
    untrained = Discoverer("unsupervised", n_fine=true_counts(data), progress=False)
    features = untrained.fit_representation(data).transform(data)
    coarse, fine = np.asarray(data.coarse).astype(str), np.asarray(data.fine).astype(str)
    k = share_of_category(K_SHARE, len(data), data.n_fine)
    scores = {
        "cosine, all rows": purity(*nearest_neighbours(features, k), fine),
        "cosine, own class": purity(*nearest_neighbours(features, k, coarse), fine),
        "layout": [
            purity(*layout_neighbours(features, k, coarse, seed=s), fine) for s in LAYOUT_SEEDS
        ],
    }
    print(f"{cell.dataset}: k {k}, {scores}", flush=True)
    return {"rows": len(data), "k_true": data.n_fine, "neighbours": k, "purity": scores}


def report(records: list[dict]) -> None:
    lines = [
        "## Neighbour purity: cosine on the features against the coarse class's layout",
        "",
        "Command: `python bench/neighbour_purity.py`. The untrained MiniLM's features of each "
        "test split; k = half the mean category size (the default's); x100, the share of "
        "neighbour slots (the row itself left out) holding a row of the row's fine category. "
        "`layout`: mean ± std over three layout seeds.",
        "",
        "| dataset | rows | k | cosine, all rows | cosine, own class | layout |",
        "|---|---|---|---|---|---|",
    ]
    for r in sorted(records, key=lambda r: TEXT_DATASETS.index(r["dataset"])):
        p = r["purity"]
        lines.append(
            f"| {r['dataset']} | {r['rows']} | {r['neighbours']} | {p['cosine, all rows']:.2f} | "
            f"{p['cosine, own class']:.2f} | {mean_std(p['layout'])} |"
        )
    machines = sorted({r["machine"] for r in records})
    lines += ["", "Machine: " + "; ".join(machines) + "."]
    replace_section("neighbour_purity", "\n".join(lines))


if __name__ == "__main__":
    main(str(Path(__file__).resolve()), __doc__, CELLS, run_one, report, RESULTS)

"""Real photographs with a coarse -> fine hierarchy: the Grocery Store images.

The train split of the Grocery Store Dataset (2,640 phone photographs of fruits, vegetables and
packaged products; 43 coarse classes, 81 fine; bench/datasets/prepare_grocery.py says where it
comes from and lays it out as ``ROOT/<coarse>/<fine>/``), read as ``coarse2fine discover ROOT``
reads a folder (64 pixels a side, the default). Each method at its defaults for images (the
small CNN ``cnn`` from random weights; nothing pre-trained exists here), with each coarse
class's true number of fine classes given, against K-Means on the pixels pooled to 8 x 8
(``unsupervised``: the untrained encoder's input space). ACC, ARI and NMI on every image, and
ACC on the images of the 12 coarse classes that hold more than one fine class (1,631 images, 50
fine classes), the only ones where there is anything to discover.

    python bench/datasets/prepare_grocery.py REPO/dataset   # once
    python bench/real_images.py
    python bench/real_images.py --report-only

One cell per (method, seed) under bench/results/real_images/.
"""

from __future__ import annotations

import time
from pathlib import Path

from common import ROOT, mean_std, replace_section
from harness import Cell, main
from sources import PREPARED

RESULTS = ROOT / "bench" / "results" / "real_images"
IMAGES = PREPARED / "grocery" / "train"
METHODS = ("unsupervised", "down", "falcon", "hcsc")
SEEDS = (0, 1, 2)
# FALCON and HCSC (16 and 9 minutes a fit here) on seed 0 only
SEEDS_OF = {"falcon": (0,), "hcsc": (0,)}
CELLS = [
    Cell("grocery", method, seed, {"version": 1, "method": method, "split": "train"})
    for seed in SEEDS
    for method in METHODS
    if seed in SEEDS_OF.get(method, SEEDS)
]


def run_one(cell: Cell) -> dict:
    import numpy as np
    from sources import true_counts

    from coarse2fine import Discoverer
    from coarse2fine.data.images import read_image_folder
    from coarse2fine.metrics import cluster_acc, clustering_scores

    if not IMAGES.is_dir():
        raise SystemExit(f"{IMAGES} is missing: run bench/datasets/prepare_grocery.py first")
    data = read_image_folder(IMAGES)
    coarse = np.asarray(data.coarse)
    fine = np.asarray(data.fine)
    counts = true_counts(data)
    start = time.perf_counter()
    est = Discoverer(cell.settings["method"], n_fine=counts, seed=cell.seed, progress=False)
    est.fit(data)
    seconds = time.perf_counter() - start
    several = np.isin(coarse, [c for c, k in counts.items() if k > 1])
    return {
        "rows": len(data),
        **clustering_scores(fine, est.labels_),
        "ACC_several": round(float(cluster_acc(fine[several], est.labels_[several])), 2),
        "rows_several": int(several.sum()),
        # which features the fallback kept (None: a method that trains nothing compares none)
        "chosen": getattr(est, "representation_", {}).get("chosen"),
        "fit_seconds": round(seconds, 1),
    }


def report(records: list[dict]) -> None:
    lines = [
        "## Real images: the Grocery Store photographs",
        "",
        "Command: `python bench/real_images.py` (after `python bench/datasets/prepare_grocery.py`;",
        "the train split, 2,640 photographs, 43 coarse classes, 81 fine; 64 pixels a side; each",
        "method at its defaults for images, the small CNN from random weights, each coarse class's",
        "true K given; `unsupervised` = K-Means on the pixels pooled to 8 x 8). ACC of the 12",
        "classes with several fine classes: on their 1,631 images (50 fine classes) only, the",
        "only place where anything is discovered (the other 31 classes hold one fine class each).",
        "",
        "`features kept`: which features the fallback clustered on each seed (the trained",
        "ones, or the untrained encoder's where training did not pay by its label-free test;",
        "`ACC, several fine`: ACC on the images of the classes with several fine classes).",
        "",
        "| method | seeds | ACC | ARI | NMI | ACC, several fine | features kept | fit s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for method in METHODS:
        got = [r for r in records if r["row"] == method]
        if not got:
            continue
        lines.append(
            f"| {method} | {len(got)} | {mean_std([r['ACC'] for r in got])} "
            f"| {mean_std([r['ARI'] for r in got])} | {mean_std([r['NMI'] for r in got])} "
            f"| {mean_std([r['ACC_several'] for r in got])} "
            f"| {' / '.join(r['chosen'] or '—' for r in got)} "
            f"| {mean_std([r['fit_seconds'] for r in got])} |"
        )
    machines = sorted({r["machine"] for r in records})
    lines += ["", f"Machine: {'; '.join(machines) or '—'}."]
    replace_section("real_images", "\n".join(lines))


if __name__ == "__main__":
    main(str(Path(__file__).resolve()), __doc__, CELLS, run_one, report, RESULTS)

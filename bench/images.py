"""Images: is decoding and augmenting the bottleneck of an epoch? And what does an image run cost?

On generated images (``make_shape_images``: 3 colours x 3 shapes, 64 images each, 576 rows, at
32 and 64 pixels), one epoch of HCSC (it trains on SimCLR views) with the small CNN, batch 64:
the time spent making batches (collating the decoded pixels and drawing each row's view) against
the time of the training steps themselves (forward, backward, optimiser); and decoding the same
images from PNG files on disk, per 1,000 images. The issue's target: data time under 20 % of
step time on the small CNN. And what each method finds on the generated images at 32 pixels
(180 rows, 9 shapes in 3 colours; the small CNN ``cnn:8`` from random weights, 20 epochs,
K = 9 given, global assignment): ACC, the edit distance of the found tree to the true one, and
the wall time, against K-Means on the pixels (the untrained encoder's input space).

    python bench/images.py
    python bench/images.py --report-only
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from common import ROOT, mean_std, replace_section
from harness import Cell, main

RESULTS = ROOT / "bench" / "results" / "images"
SIZES = (32, 64)
SETTINGS = {"version": 1, "method": "hcsc", "encoder": "cnn:16", "batch_size": 64, "rows": 576}
CELLS = [Cell("shapes", f"{size}px", 0, {**SETTINGS, "size": size}) for size in SIZES]
METHOD_SETTINGS = {"version": 1, "encoder": "cnn:8", "epochs": 20, "size": 32, "rows_per_fine": 20}
METHODS_RUN = ("unsupervised", "falcon", "down", "hcsc", "cd", "hwscl")
CELLS += [
    Cell("shapes-methods", method, seed, {**METHOD_SETTINGS, "method": method})
    for seed in (0, 1, 2)
    for method in METHODS_RUN
]


CELLS.append(Cell("shapes-features", "cnn:8", 0, {"version": 1, "size": 32, "rows_per_fine": 20}))


def run_one(cell: Cell) -> dict:
    if cell.dataset == "shapes-methods":
        return run_method(cell)
    if cell.dataset == "shapes-features":
        return fresh_features(cell)
    return data_and_step_time(cell)


def fresh_features(cell: Cell) -> dict:
    """How alike a freshly initialised CNN's pooled features are across the images: the mean
    cosine between every two images' output features (what FALCON's classifier starts from)."""
    import numpy as np
    import torch

    from coarse2fine.data.synthetic import make_shape_images
    from coarse2fine.encoders import ImageEncoder

    spec = cell.settings
    data = make_shape_images(rows_per_fine=spec["rows_per_fine"], size=spec["size"])
    encoder = ImageEncoder.from_spec(cell.row, spec["size"], seed=cell.seed).eval()
    with torch.no_grad():
        (deep,) = encoder(encoder.collate(data.images, np.arange(len(data))), [encoder.n_layers])
    unit = torch.nn.functional.normalize(deep, dim=1)
    return {"mean_cosine": round(float((unit @ unit.T).mean()), 3)}


def run_method(cell: Cell) -> dict:
    from coarse2fine import Discoverer
    from coarse2fine.data.synthetic import make_shape_images
    from coarse2fine.metrics import clustering_scores, hierarchy_edit_distance, true_parents

    spec = cell.settings
    data = make_shape_images(rows_per_fine=spec["rows_per_fine"], size=spec["size"])
    start = time.perf_counter()
    est = Discoverer(
        spec["method"],
        n_fine=9,
        encoder=spec["encoder"],
        epochs=spec["epochs"],
        clustering="global",
        fallback=False,
        seed=cell.seed,
        progress=False,
    ).fit(data)
    seconds = time.perf_counter() - start
    truth = true_parents(data.fine, data.coarse)
    return {
        **clustering_scores(data.fine, est.labels_),
        "edit_distance": int(hierarchy_edit_distance(est.cluster_parents_, truth)),
        "fit_seconds": round(seconds, 1),
    }


def data_and_step_time(cell: Cell) -> dict:
    import numpy as np
    import torch
    from PIL import Image

    from coarse2fine.batching import bucketed_batches, make_batch, prepare
    from coarse2fine.data.images import decode_images
    from coarse2fine.data.synthetic import make_shape_images
    from coarse2fine.encoders import ImageEncoder
    from coarse2fine.methods import METHODS
    from coarse2fine.train import TrainConfig, build_optimizer

    size = cell.settings["size"]
    data = make_shape_images(rows_per_fine=cell.settings["rows"] // 9, size=size)
    with tempfile.TemporaryDirectory() as tmp:  # decoding from disk, per 1,000 images
        paths = [Path(tmp) / f"{i}.png" for i in range(len(data))]
        for path, image in zip(paths, data.images, strict=True):
            Image.fromarray(image).save(path)
        start = time.perf_counter()
        decode_images(paths, size)
        decode_per_1000 = (time.perf_counter() - start) * 1000 / len(paths)
    torch.manual_seed(0)
    encoder = ImageEncoder("cnn", width=16, size=size)
    method = METHODS[cell.settings["method"]](encoder, data.n_coarse)
    prepared = prepare(encoder, data)
    method.on_fit_start(prepared, total_steps=10)
    optimizer = build_optimizer(method, TrainConfig(lr=1e-3))
    rng = np.random.default_rng(0)
    device = torch.device("cpu")
    epochs = []
    for _ in range(3):  # the first epoch warms up allocators; the median of three is kept
        data_s = step_s = 0.0
        for index in bucketed_batches(prepared.lengths, cell.settings["batch_size"], rng):
            start = time.perf_counter()
            batch = make_batch(encoder, prepared, index, device)
            method._views.view(batch)  # the view the step draws, timed on its own here
            data_s += time.perf_counter() - start
            start = time.perf_counter()
            loss = method.training_step(batch)["loss"]
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            step_s += time.perf_counter() - start
        epochs.append((data_s, step_s))
    data_s = statistics.median(e[0] for e in epochs)
    step_s = statistics.median(e[1] for e in epochs)
    return {
        "data_seconds": round(data_s, 3),
        "step_seconds": round(step_s, 3),
        "decode_seconds_per_1000": round(decode_per_1000, 2),
    }


def report(records: list[dict]) -> None:
    timing = [r for r in records if r["dataset"] == "shapes"]
    methods = [r for r in records if r["dataset"] == "shapes-methods"]
    fresh = [r for r in records if r["dataset"] == "shapes-features"]
    lines = [
        "## Images: data time against step time",
        "",
        "Command: `python bench/images.py` (generated colour -> shape images, 576 rows; one HCSC",
        "epoch with the small CNN `cnn:16`, batch 64, median of 3 epochs; data = collating the",
        "decoded pixels and drawing each row's SimCLR view, timed apart; the step draws its view",
        "again inside, so the step column also holds one view's time and the ratio is a bound",
        "from above; decoding = PNG files read and resized by Pillow).",
        "",
        "| image side | data s / epoch | step s / epoch | data / step | decode s per 1,000 PNGs |",
        "|---|---|---|---|---|",
    ]
    for r in timing:
        lines.append(
            f"| {r['row']} | {r['data_seconds']:.2f} | {r['step_seconds']:.2f} "
            f"| {100 * r['data_seconds'] / r['step_seconds']:.0f} % "
            f"| {r['decode_seconds_per_1000']:.2f} |"
        )
    lines += [
        "",
        "Each method on the generated images (32 pixels, 180 rows, 3 colours x 3 shapes; `cnn:8`",
        "from random weights, 20 epochs, K = 9, global assignment; `unsupervised` = K-Means on",
        "the pixels pooled to 8 x 8), seeds 0-2, x100; edit distance 0 = every colour got its",
        "three categories:",
        "",
        "| method | seeds | ACC | ARI | NMI | edit distance | fit s |",
        "|---|---|---|---|---|---|---|",
    ]
    for method in METHODS_RUN:
        got = [r for r in methods if r["row"] == method]
        lines.append(
            f"| {method} | {len(got)} | {mean_std([r['ACC'] for r in got])} "
            f"| {mean_std([r['ARI'] for r in got])} | {mean_std([r['NMI'] for r in got])} "
            f"| {mean_std([r['edit_distance'] for r in got])} "
            f"| {mean_std([r['fit_seconds'] for r in got])} |"
        )
    for r in fresh:
        lines += [
            "",
            f"A freshly initialised `{r['row']}` (seed {r['seed']}): mean cosine between the 180",
            f"images' pooled output features {r['mean_cosine']:.3f}.",
        ]
    machines = sorted({r["machine"] for r in records})
    lines += ["", f"Machine: {'; '.join(machines) or '—'}."]
    replace_section("images", "\n".join(lines))


if __name__ == "__main__":
    main(__file__, __doc__, CELLS, run_one, report, RESULTS)

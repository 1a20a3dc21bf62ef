"""Two choices measured on the machine at hand: bf16 autocast against float32, and faiss K-Means
against scikit-learn's on small unequal clusters.

- precision: one 1024 x 384 @ 384 x 1536 matmul with its backward pass (the size of a MiniLM
  feed-forward layer on a batch of 64 rows of 16 tokens), mean of 20 runs, in float32 and under
  bf16 autocast; and what ``precision="auto"`` resolves to here;
- K-Means seeding: three blobs of 200, 20 and 5 rows clustered into 3 by each backend (rows
  of the big blob split?), and FALCON's K-Means start on the 12-category hierarchy of
  tests/test_falcon.py over seeds 0-3 with each backend (tree edit distance, ACC).

    python bench/precision.py      # one cell under bench/results/precision/, then its section
"""

from __future__ import annotations

import importlib
import sys
import time
from unittest import mock

import numpy as np
import torch
from common import ROOT, replace_section
from harness import measurement

RESULTS = ROOT / "bench" / "results" / "precision"
SETTINGS = {"version": 1, "matmul": [1024, 384, 1536], "falcon_seeds": [0, 1, 2, 3]}


def matmul_ms(bf16: bool) -> float:
    x = torch.randn(64 * 16, 384)
    w = torch.randn(384, 1536, requires_grad=True)
    runs = []
    for _ in range(21):
        start = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            y = (x @ w).relu().sum()
        y.backward()
        runs.append(time.perf_counter() - start)
    return 1000 * float(np.mean(runs[1:]))  # the first run pays one-off set-up


def blobs(backend: str) -> list[int]:
    from coarse2fine.cluster import kmeans

    rng = np.random.default_rng(0)
    sizes = ((0, 200), (3, 20), (6, 5))
    x = np.concatenate([rng.normal(c, 0.1, size=(n, 4)) for c, n in sizes]).astype(np.float32)
    labels, _ = kmeans(x, 3, seed=0, backend=backend)
    return sorted(np.bincount(labels).tolist(), reverse=True)


def falcon_start(backend: str) -> list[dict]:
    sys.path.insert(0, str(ROOT / "tests"))
    from test_falcon import unbalanced_hierarchy

    km = importlib.import_module("coarse2fine.cluster.kmeans")  # the module, not the function
    from coarse2fine import Discoverer
    from coarse2fine.metrics import cluster_acc, hierarchy_edit_distance, true_parents

    data = unbalanced_hierarchy()
    out = []
    threshold = 0 if backend == "faiss" else 10**12  # "auto" then takes the wanted backend
    with mock.patch.object(km, "FAISS_MIN_ROWS", threshold):
        for seed in range(4):
            est = Discoverer(
                "falcon",
                n_fine=12,
                clustering="global",
                seed=seed,
                progress=False,
                method_params={"init": "kmeans_global"},
            ).fit(data)
            parents = true_parents(data.fine, data.coarse)
            out.append(
                {
                    "seed": seed,
                    "edit_distance": hierarchy_edit_distance(est.cluster_parents_, parents),
                    "ACC": round(float(cluster_acc(data.fine, est.labels_)), 2),
                }
            )
    return out


def measure() -> dict:
    from coarse2fine.batching import resolve_precision
    from coarse2fine.cluster.kmeans import faiss_available

    record = {
        "matmul_ms": {"fp32": round(matmul_ms(False), 1), "bf16": round(matmul_ms(True), 1)},
        "auto": resolve_precision("auto", "cpu"),
        "blobs": {"sklearn": blobs("sklearn")},
        "falcon": {"sklearn": falcon_start("sklearn")},
    }
    if faiss_available():
        record["blobs"]["faiss"] = blobs("faiss")
        record["falcon"]["faiss"] = falcon_start("faiss")
    return record


def report(record: dict) -> None:
    ms = record["matmul_ms"]
    lines = [
        "## Precision and K-Means seeding on this machine",
        "",
        "Command: `python bench/precision.py`.",
        "",
        f"- 1024 x 384 @ 384 x 1536 matmul + backward: {ms['fp32']} ms in float32, {ms['bf16']} "
        f'ms under bf16 autocast ({ms["bf16"] / ms["fp32"]:.0f}x); `precision="auto"` '
        f"resolves to {record['auto']} here.",
    ]
    for backend, sizes in record["blobs"].items():
        falcon = record["falcon"][backend]
        exact = sum(r["edit_distance"] == 0 for r in falcon)
        accs = ", ".join(f"{r['ACC']:.1f}" for r in falcon)
        lines.append(
            f"- K-Means by {backend}: blobs of 200 / 20 / 5 rows found as {sizes}; FALCON's start "
            f"on the 12-category hierarchy recovers the tree on {exact} of 4 seeds (ACC {accs})."
        )
    lines += ["", f"Machine: {record['machine']}."]
    replace_section("precision", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    measurement(__file__, __doc__, "cpu", SETTINGS, measure, report, RESULTS)

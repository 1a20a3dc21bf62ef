"""Which label-free signal says, on a user's data, that training did not pay?

Reads the features that ``bench/peers.py`` saves when ``C2F_PEERS_FEATURES`` is set (the
untrained encoder's and a trained method's, on the same rows, same seed), and, inside every
coarse class, compares candidate signals computed WITHOUT fine labels with the ACC gain of the
trained features over the untrained ones (computed with them). A signal is worth what its
decisions are worth: for each, the table gives how often it picks the better representation
(classes where the two differ by at least 1 ACC), and the dataset's ACC when every coarse class
keeps the representation it picks, against always-trained, always-untrained and the oracle.

Candidates (P_T, P_U: the categories found on the trained / untrained features T / U, with the
same clusterer and K_c):

- ``silhouette``: cosine silhouette of P_T in T vs of P_U in U (the fallback's first signal);
- ``cross-silhouette``: how much of its silhouette each partition keeps in the OTHER space,
  sil_U(P_T) / sil_U(P_U) vs sil_T(P_U) / sil_T(P_T);
- ``cross-knn``: how well the other space's 10 nearest neighbours predict each partition
  (leave-one-out kNN vote, ``metrics.knn_agreement``): knn_U(P_T) vs knn_T(P_U);
- ``knn-loss``: the same, less what each space gives its own partition: knn_U(P_T) -
  knn_U(P_U) vs knn_T(P_U) - knn_T(P_T).

    C2F_PEERS_FEATURES=/tmp/feats python bench/peers.py --seed 0 --row untrained --row discover \
        --row down
    C2F_PEERS_FEATURES=/tmp/feats python bench/fallback_signal.py
    python bench/fallback_signal.py --report-only

One cell per (dataset, clusterer) under bench/results/fallback_signal/.

The trained features are the ``discover`` row's on texts (where the default does not fall
back) and the ``down`` row's on vectors (the default's training with the fallback off).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from common import ROOT, replace_section
from harness import Cell, main
from sklearn.metrics import silhouette_score

from coarse2fine.data import load_dataset
from coarse2fine.metrics import cluster_acc, knn_agreement

RESULTS = ROOT / "bench" / "results" / "fallback_signal"
SIGNALS = ("silhouette", "cross-silhouette", "cross-knn", "knn-loss")
TRAINED_ROW = {"zeisel": "down", "pbmc": "down"}  # peers.py rows holding the trained features
MIN_GAP = 1.0  # ACC points: a class where both are closer than this is a tie, not a decision
DATASETS = ("clinc", "hwu64", "mmlu", "dbpedia", "zeisel", "pbmc")
CELLS = [
    Cell(
        dataset,
        clusterer,
        0,
        {"version": 1, "trained": TRAINED_ROW.get(dataset, "discover"), "clusterer": clusterer},
    )
    for dataset in DATASETS
    for clusterer in ("kmeans", "spectral")
]


def sil(x: np.ndarray, labels: np.ndarray) -> float:
    return float(silhouette_score(x, labels, metric="cosine")) if len(set(labels)) > 1 else 0.0


def class_signals(t, u, p_t, p_u) -> dict[str, tuple[float, float]]:
    """(score for trained, score for untrained) per signal; higher is better."""
    p_t, p_u = np.unique(p_t, return_inverse=True)[1], np.unique(p_u, return_inverse=True)[1]
    one = np.zeros(len(t), dtype=np.int64)  # the rows are one coarse class
    k_ut, k_tu = knn_agreement(u, p_t, one) / 100, knn_agreement(t, p_u, one) / 100
    s_tt, s_uu, s_ut, s_tu = sil(t, p_t), sil(u, p_u), sil(u, p_t), sil(t, p_u)
    eps = 1e-9
    return {
        "silhouette": (s_tt, s_uu),
        "cross-silhouette": (s_ut / max(s_uu, eps), s_tu / max(s_tt, eps)),
        "cross-knn": (k_ut, k_tu),
        "knn-loss": (
            k_ut - knn_agreement(u, p_u, one) / 100,
            k_tu - knn_agreement(t, p_t, one) / 100,
        ),
    }


def study(folder: Path, dataset: str, trained: str, seed: int, clusterer: str) -> dict | None:
    t_file = folder / f"{dataset}-{trained}-seed{seed}.npz"
    u_file = folder / f"{dataset}-untrained-seed{seed}.npz"
    if not (t_file.exists() and u_file.exists()):
        return None
    t_npz, u_npz = np.load(t_file, allow_pickle=False), np.load(u_file, allow_pickle=False)
    if dataset == "pbmc":
        import sys

        sys.path.insert(0, str(ROOT / "bench"))
        from sources import load_pbmc

        data = load_pbmc()
    else:
        extra = {"on_bad_rows": "drop"} if dataset == "hwu64" else {}
        data = load_dataset(dataset, "test", **extra)
    coarse, fine = np.asarray(data.coarse).astype(str), np.asarray(data.fine).astype(str)
    t, u = t_npz["features"], u_npz["features"]
    p_t, p_u = t_npz[f"labels_{clusterer}"], u_npz[f"labels_{clusterer}"]
    classes = []
    for c in np.unique(coarse):
        rows = np.flatnonzero(coarse == c)
        if len(rows) < 12:
            continue
        record = {
            "coarse": c,
            "rows": len(rows),
            "acc_trained": cluster_acc(fine[rows], p_t[rows]),
            "acc_untrained": cluster_acc(fine[rows], p_u[rows]),
            "signals": class_signals(t[rows], u[rows], p_t[rows], p_u[rows]),
        }
        classes.append(record)
    return {
        "dataset": dataset,
        "trained": trained,
        "seed": seed,
        "clusterer": clusterer,
        "classes": classes,
    }


def summarise(result: dict) -> dict:
    classes = result["classes"]
    rows = np.array([c["rows"] for c in classes], dtype=float)
    acc_t = np.array([c["acc_trained"] for c in classes])
    acc_u = np.array([c["acc_untrained"] for c in classes])
    gap = acc_t - acc_u
    out = {
        "always trained": float((rows * acc_t).sum() / rows.sum()),
        "always untrained": float((rows * acc_u).sum() / rows.sum()),
        "oracle": float((rows * np.maximum(acc_t, acc_u)).sum() / rows.sum()),
    }
    decisive = np.abs(gap) >= MIN_GAP
    for name in SIGNALS:
        pick_t = np.array([c["signals"][name][0] >= c["signals"][name][1] for c in classes])
        right = (pick_t == (gap > 0))[decisive]
        out[f"{name}: right"] = f"{int(right.sum())}/{int(decisive.sum())}"
        out[f"{name}: ACC"] = float((rows * np.where(pick_t, acc_t, acc_u)).sum() / rows.sum())
        # the same signal decided once for the whole dataset (row-weighted mean of each side)
        mean_t = float((rows * [c["signals"][name][0] for c in classes]).sum() / rows.sum())
        mean_u = float((rows * [c["signals"][name][1] for c in classes]).sum() / rows.sum())
        out[f"{name}: dataset picks"] = "trained" if mean_t >= mean_u else "untrained"
    return out


def run_one(cell: Cell) -> dict:
    folder = os.environ.get("C2F_PEERS_FEATURES")
    if not folder:
        raise SystemExit("set C2F_PEERS_FEATURES to the folder bench/peers.py saved features in")
    trained = cell.settings["trained"]
    got = study(Path(folder), cell.dataset, trained, cell.seed, cell.settings["clusterer"])
    if got is None:
        raise SystemExit(
            f"no {cell.dataset} features for rows untrained and {trained}, seed {cell.seed}, "
            f"in {folder}: run bench/peers.py with C2F_PEERS_FEATURES first"
        )
    return {**got, "summary": summarise(got)}


def report(results: list[dict]) -> None:
    lines = [
        "## Fallback signal: does a label-free score tell when training did not pay?",
        "",
        "Command: `C2F_PEERS_FEATURES=DIR python bench/peers.py --seed 0 --row untrained --row "
        "discover --row down`, then `C2F_PEERS_FEATURES=DIR python bench/fallback_signal.py`. "
        "Inside every coarse "
        f"class of {len(set(r['dataset'] for r in results))} datasets (test splits, K_c given), "
        "each signal picks the trained or the untrained features; `right`: its picks that were "
        f"the better one, among classes whose two ACCs differ by at least {MIN_GAP:.0f}; "
        "`ACC`: the dataset's ACC with every class keeping its pick; `whole`: the pick made "
        "once for the dataset. Signals: bench/fallback_signal.py's docstring.",
        "",
        "| dataset | trained | clusterer | always trained | always untrained | oracle | "
        + " | ".join(f"{s}: right / ACC / whole" for s in SIGNALS)
        + " |",
        "|---|---|---|---|---|---|" + "---|" * len(SIGNALS),
    ]
    for r in results:
        s = r["summary"]
        cells = [
            f"{s[f'{n}: right']} / {s[f'{n}: ACC']:.2f} / {s[f'{n}: dataset picks']}"
            for n in SIGNALS
        ]
        lines.append(
            f"| {r['dataset']} | {r['trained']} | {r['clusterer']} | {s['always trained']:.2f} | "
            f"{s['always untrained']:.2f} | {s['oracle']:.2f} | " + " | ".join(cells) + " |"
        )
    replace_section("fallback-signal", "\n".join(lines))


if __name__ == "__main__":
    main(__file__, __doc__, CELLS, run_one, report, RESULTS)

"""Peers: the default ``discover`` against what a user would run instead, on the same rows.

Transductive protocol (the analyst's): every system sees the same rows with their coarse labels
and the number of fine categories inside each coarse class (K_c), and assigns every row; the
scores (ACC / ARI / NMI x100) compare the assignments with the fine labels.

Text rows:
- ``untrained``: the packaged MiniLM, no training, K-Means with K_c inside each coarse class;
- ``bertopic-kmeans``: BERTopic fitted inside each coarse class on the same MiniLM embeddings,
  its default UMAP (15 neighbours, 5 dimensions, cosine) and K-Means with K_c as its clusterer;
- ``bertopic-hdbscan``: the same with BERTopic's default HDBSCAN (min_cluster_size 10), its
  outliers then reduced to their nearest topic by embedding (``reduce_outliers``); it finds
  its own number of topics (a coarse class of 10 rows or fewer, where HDBSCAN cannot run, is
  one topic);
- ``discover``: ``coarse2fine.Discoverer()`` at its defaults, given K_c;
- further rows name a method and its settings (the neighbour methods DNA and DOWN);
- ``unknown-k`` (texts and cells): ``discover`` NOT given K_c, as a user without ``--n-fine``
  runs it (it estimates the counts); ``unknown-k-50`` the same with DOWN's 50 neighbours, what
  it took without K before it counted the categories on its first features.

Vector rows (single cells): ``untrained`` (K-Means on the standardised genes inside each coarse
class), ``pca-kmeans`` (50 principal components, then the same), ``leiden`` (scanpy's
neighbours graph and ``leiden(restrict_to=coarse)`` at resolution 1: it finds its own number),
and ``discover``.

Each system's own time (``seconds``: embedding included for BERTopic and the untrained
encoder) is recorded beside the cell's process wall time; the table gives the ratio to
BERTopic-kmeans on the same dataset and seed.

    pip install -e ".[peers]"
    python bench/peers.py                   # every missing cell (3 seeds), then the table
    python bench/peers.py --dataset clinc --row discover
    python bench/peers.py --report-only

With ``C2F_PEERS_FEATURES=DIR`` set, each trained system's features and labels are also saved
in DIR (``dataset-row-seedN.npz``) for offline studies of label-free signals.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np
from common import DOWN_PUBLISHED, ROOT, machine, mean_std, package_defaults, replace_section
from harness import Cell, main
from sources import TEXT_DATASETS, VECTOR_DATASETS, load
from systems import SYSTEMS, per_coarse

RESULTS = ROOT / "bench" / "results" / "peers"
SEEDS = (0, 1, 2)
VERSION = 1
# Systems that cluster their own features report K-Means and spectral clustering of the same
# features (one training, two clusterings): rows "<row>" and "<row> (spectral)".
# Rows measured since the UMAP layout clusterer (2026-12-05) report it as well.
LAYOUT_CLUSTERERS = ("kmeans", "spectral", "umap-spectral")
# rows measured since umap-spectral cuts a class's layout by Ward linkage where its spectral
# groups come out unequal (2026-12-06, coarse2fine.cluster.nested.cut_layout) say so; the
# other rows with an umap-spectral column ran before
LAYOUT_CUT = {"layout_cut": "ward where unequal"}


def default_row(params: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """The text row of the default with the estimator's ``params`` set, clustered as the
    default's row is (measured since the Ward switch)."""
    return {
        "system": "discover",
        "params": params,
        "adamw": "fused",
        "clusterers": LAYOUT_CLUSTERERS,
        **extra,
        **LAYOUT_CUT,
    }


def default_with(options: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """The text row of the default with DOWN's ``options`` changed."""
    return default_row({"method_params": options}, **extra)


TEXT_ROWS: dict[str, dict[str, Any]] = {
    "untrained": {"system": "untrained", "clusterers": LAYOUT_CLUSTERERS, **LAYOUT_CUT},
    "bertopic-kmeans": {"system": "bertopic", "clusterer": "kmeans"},
    "bertopic-hdbscan": {"system": "bertopic", "clusterer": "hdbscan"},
    # the default: fused AdamW (bench/optimizer_step.py) and DOWN's text recipe (no warm-up,
    # the bank written by the training forward; the recipe is part of ``package_defaults``)
    "discover": default_row({}),
    # the default as it stood before its neighbour share fell to 0.5 (k_share 0.8), with DOWN's
    # neighbour search restricted to the row's coarse class (DNA's way; MMLU left out: 8 minutes
    # a cell)
    "discover-same-coarse": {
        "system": "discover",
        "params": {"method_params": {"same_coarse": True, "k_share": 0.8, "mine_in": "features"}},
        "adamw": "fused",
        "clusterers": LAYOUT_CLUSTERERS,
        "datasets": ("clinc", "hwu64", "dbpedia"),
    },
    # the neighbour share below the default's 0.5 (about 3 neighbours on these test splits,
    # where categories hold about 16 rows; MMLU left out)
    "k-share-0.2": {
        "system": "discover",
        "params": {"method_params": {"k_share": 0.2, "mine_in": "features"}},
        "adamw": "fused",
        "clusterers": LAYOUT_CLUSTERERS,
        "datasets": ("clinc", "hwu64", "dbpedia"),
    },
    # the default before its neighbours were mined in each coarse class's UMAP layout of the bank
    # (2026-12-06): by cosine on the bank, as the papers (docs/NEIGHBOURS.md "Neighbours mined
    # in the layout"); these cells ran as the row ``discover`` under the earlier recipe
    "mine-in-features": default_with({"mine_in": "features"}),
    # the default with the papers' neighbour share, 0.8: the layout's neighbours are purer, so
    # more of them might pay (they did not on HWU64; MMLU and DBpedia not run)
    "mine-in-layout-k-share-0.8": default_with(
        {"mine_in": "layout", "k_share": 0.8}, datasets=("clinc", "hwu64")
    ),
    # the default without the bank refills after the first epoch: the later minings read the
    # bank the training forward wrote (one pass over the rows less per epoch; docs/DEFAULTS.md
    # "MMLU: why training paid little")
    "no-refill": default_with({"refill_bank": False}),
    # other training lengths for long rows than the default's 32 tokens (64: the default before
    # 2026-12-06, whose cells these are; docs/DEFAULTS.md "The training length"): only the sets
    # whose rows run past them differ (CLINC's and HWU64's 95th percentiles are 17 and 15
    # tokens)
    **{
        f"train-length-{n}": default_row({"train_length": n}, datasets=("mmlu", "dbpedia"))
        for n in (64, 48, 16)
    },
    # K unknown (no --n-fine): DOWN counts the categories on its first features to set its
    # neighbours, and the trained features are counted again for the clustering; beside it the
    # same with the 50 neighbours DOWN took without K before (MMLU, 8 minutes a cell, measured
    # on seed 0: ``--dataset mmlu --seed 0``). ``count``: 3 since the count after training reads
    # a graph as wide as the neighbourhood training pulled (no wider than the k its own
    # 10-neighbour count implies), with the layout floor at 4 (the unknown-k-50 cells ran on
    # the count before: 10 neighbours, floor 3); 4 since the count lays out each class's rows as
    # the clusterer is given them (not re-normalised), so the clusterer cuts the very layout
    # that was counted (its cells rerun on 2026-12-06 when DOWN's count before training became
    # Louvain modularity's: docs/ESTIMATE_K.md, "The first count"); 5 since a class whose
    # features show no clear eigengap is counted by modularity (estimate_k.WEAK_GAP;
    # docs/ESTIMATE_K.md, "Classes without a clear gap"); MMLU's cells rerun on 2026-12-07
    # when modularity began reading a class of more than estimate_k.MODULARITY_ROWS rows on
    # samples of that many (no class of CLINC's, HWU64's or DBpedia's test split exceeds it,
    # so their cells stand: docs/ESTIMATE_K.md, "Counting large classes"); 6 since each class
    # read twice takes the reading nearer the clear classes' rows a category
    # (estimate_k.WEAK_CHOICE "scale"; docs/ESTIMATE_K.md "Two readings"; measured before the
    # switch as the row unknown-k-scale, which equalled count 5's cells in every count and ACC
    # on all six sets: its records are in git history at 6f2b920); rerun on 2026-12-07 when
    # that scale became the clear classes' median (estimate_k.SCALE_BY; docs/ESTIMATE_K.md "The
    # scale as a median") on every set but MMLU, none of whose classes has a clear gap on its
    # trained features on any seed measured (no scale, so nothing the median can move); 7
    # since Louvain is scikit-network's compiled one (networkx's before; docs/SCALE.md "Where
    # the count's time goes"), the unknown-k-50 cells rerun with it (their ``count`` 7)
    **{
        name: {
            "system": "discover",
            "params": {"n_fine": None, **params},
            "adamw": "fused",
            "clusterers": ("umap-spectral",),
            "datasets": ("clinc", "hwu64", "dbpedia", "mmlu"),
            **extra,
        }
        for name, params, extra in (
            ("unknown-k", {}, {"count": 7, **LAYOUT_CUT}),
            ("unknown-k-50", {"method_params": {"k": 50, "mine_in": "features"}}, {"count": 7}),
        )
    },
    # the earlier default: DOWN as published (coarse-CE warm-up epoch, momentum-written bank);
    # the rows below that ran before the text recipe changed name the same two options
    "down-published": {
        "system": "discover",
        "params": {"method_params": DOWN_PUBLISHED},
        "adamw": "fused",
    },
    # variants of the earlier default, one seed, measured before the fused AdamW kernel (their
    # seconds include torch's per-tensor AdamW): the other neighbour method, DOWN searching
    # neighbours inside the row's coarse class (training on 128 tokens or all of them, measured
    # at commit 1951a2d on MMLU and DBpedia, is in docs/DEFAULTS.md's prose)
    "dna": {
        "system": "discover",
        "params": {"method": "dna", "method_params": {"k_share": 0.8, "mine_in": "features"}},
        "seeds": (0,),
    },
    "down-same-coarse": {
        "system": "discover",
        "params": {"method_params": {**DOWN_PUBLISHED, "same_coarse": True}},
        "seeds": (0,),
    },
    # where DOWN's time goes (docs/DEFAULTS.md): without the coarse-CE warm-up epoch, with the
    # bank written by the training forward instead of a momentum encoder's second one (MMLU
    # left out: 5 minutes a cell); both at once is the default now
    **{
        name: {
            "system": "discover",
            "params": {"method_params": {**DOWN_PUBLISHED, **params}},
            "seeds": (0,),
            "datasets": ("clinc", "hwu64", "dbpedia"),
        }
        for name, params in (
            ("no-warmup", {"warmup_epochs": 0}),
            ("student-bank", {"bank_writer": "student"}),
        )
    },
    # the backward pass: train only MiniLM's top 3 or top 1 of its 6 layers (one seed)
    **{
        f"train-top-{n}": {
            "system": "discover",
            "params": {"train_layers": n, "method_params": DOWN_PUBLISHED},
            "seeds": (0,),
            "datasets": ("clinc", "hwu64", "dbpedia"),
        }
        for n in (3, 1)
    },
    # the training budget: twice the epochs, three times the encoder's rate (HWU64, one seed)
    **{
        name: {
            "system": "discover",
            "params": {**params, "method_params": DOWN_PUBLISHED},
            "seeds": (0,),
            "datasets": ("hwu64",),
        }
        for name, params in (
            ("epochs-6", {"epochs": 6}),
            ("lr-3e-5", {"lr": 3e-5}),
            ("epochs-6-lr-3e-5", {"epochs": 6, "lr": 3e-5}),
        )
    },
}
# The rows that follow the default; every other ``discover`` row on texts ran before the default
# training length fell from 64 to 32 tokens (2026-12-06) and is pinned to 64 (the same cells on
# short texts, where both read every token).
FOLLOW_THE_DEFAULT = ("discover", "unknown-k")
for _name, _row in TEXT_ROWS.items():
    if _row["system"] == "discover" and _name not in FOLLOW_THE_DEFAULT:
        _row["params"] = {"train_length": 64, **_row["params"]}

VECTOR_ROWS: dict[str, dict[str, Any]] = {
    "untrained": {"system": "untrained"},
    "pca-kmeans": {"system": "pca-kmeans", "components": 50},
    "leiden": {"system": "leiden", "resolution": 1.0},
    "discover": {"system": "discover", "params": {}, "adamw": "fused"},
    # K unknown, as the text rows of the same names (``count`` 4: the weak-gap switch; 5: the
    # choice by scale; 6: Louvain by scikit-network)
    **{
        name: {
            "system": "discover",
            "params": {"n_fine": None, **params},
            "adamw": "fused",
            "clusterers": ("kmeans",),
            **extra,
        }
        for name, params, extra in (
            ("unknown-k", {}, {"count": 6}),
            ("unknown-k-50", {"method_params": {"k": 50, "mine_in": "features"}}, {"count": 7}),
        )
    },
    # what the default's fallback compares against: the trained features kept whatever
    # (k_share 0.8: the neighbour share they ran at; the text recipe's 0.5 does not reach cells)
    "down": {
        "system": "discover",
        "params": {"fallback": False, "method_params": {"k_share": 0.8, "mine_in": "features"}},
        "seeds": (0,),
    },
    "dna": {
        "system": "discover",
        "params": {
            "method": "dna",
            "fallback": False,
            "method_params": {"k_share": 0.8, "mine_in": "features"},
        },
        "seeds": (0,),
    },
}


def cells() -> list[Cell]:
    out = []
    defaults = package_defaults()
    for names, rows in ((TEXT_DATASETS, TEXT_ROWS), (VECTOR_DATASETS, VECTOR_ROWS)):
        for dataset in names:
            for row, spec in rows.items():
                if dataset not in spec.get("datasets", (dataset,)):
                    continue
                seeds = spec.get("seeds", SEEDS)
                spec = {k: v for k, v in spec.items() if k not in ("seeds", "datasets")}
                if spec["system"] == "discover":
                    spec = {**spec, "defaults": defaults}
                for seed in seeds:
                    out.append(Cell(dataset, row, seed, {"version": VERSION, **spec}))
    return out


def run_one(cell: Cell) -> dict[str, Any]:
    from coarse2fine.metrics import clustering_scores

    data = load(cell.dataset)
    spec = cell.settings
    start = time.perf_counter()
    labels, extra = SYSTEMS[spec["system"]](data, spec, cell.seed)
    seconds = time.perf_counter() - start
    if not isinstance(labels, dict):
        labels = {None: labels}
    record: dict[str, Any] = {"rows": len(data), "k": data.n_fine, "seconds": round(seconds, 1)}
    record["variants"] = {}
    silhouettes = extra.pop("silhouette", {})
    features = extra.pop("features", None)
    if features is not None and os.environ.get("C2F_PEERS_FEATURES"):  # for offline studies
        folder = Path(os.environ["C2F_PEERS_FEATURES"])
        folder.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(
            folder / f"{cell.dataset}-{cell.row}-seed{cell.seed}.npz",
            features=features.astype(np.float32),
            **{f"labels_{v}": np.asarray(found) for v, found in labels.items()},
        )
    for variant, found in labels.items():
        scores = {**clustering_scores(data.fine, found), "found": len(np.unique(found))}
        if variant in silhouettes:  # label-free (bench/fallback_signal.py: not a usable signal)
            scores["silhouette"] = silhouettes[variant]["all"]
            scores["per_coarse"] = per_coarse(data, found, silhouettes[variant]["by_coarse"])
        record["variants"][variant or ""] = scores
        print(
            f"{cell.dataset} {cell.row}{f' ({variant})' if variant else ''} seed {cell.seed}: "
            f"ACC {scores['ACC']:.2f} ARI {scores['ARI']:.2f} NMI {scores['NMI']:.2f} "
            f"({seconds:.0f} s)",
            flush=True,
        )
    return {**record, **extra}


# -- the table ------------------------------------------------------------------------------------
def row_label(row: str, variant: str) -> str:
    """``discover (spectral)``, ``discover (kmeans)``: every clustering of a trained system is
    named; peers that cluster their own way have one unnamed variant."""
    return row if variant == "" else f"{row} ({variant})"


def default_clusterer(dataset: str) -> str:
    """What ``clusterer="auto"`` picks on these sets (all text sets average under 100 rows per
    category): spectral clustering of the UMAP layout for texts, K-Means for vectors."""
    return "umap-spectral" if dataset in TEXT_DATASETS else "kmeans"


def report(records: list[dict[str, Any]]) -> None:
    by: dict[tuple[str, str], list[dict]] = {}
    for r in records:
        for variant, scores in r["variants"].items():
            by.setdefault((r["dataset"], row_label(r["row"], variant)), []).append({**r, **scores})
    lines = [
        "## Peers: the default `discover` against what a user would run instead",
        "",
        "Command: `python bench/peers.py`. Transductive: every system assigns the same rows "
        "(the test split of each dataset; all 700 PBMC cells), given their coarse labels and "
        "K_c, the number of fine classes in each coarse class; mean ± std over seeds, x100. "
        "`seconds`: the system's own time, embedding included; `x BERTopic`: that time over "
        "BERTopic-kmeans' on the same dataset and seed. `(kmeans)`, `(spectral)` and "
        "`(umap-spectral)` rows cluster the same features by K-Means, by spectral clustering "
        "of each coarse class's 15-nearest-neighbour graph, or by the same on the class's UMAP "
        "layout refined there by K-Means (one training, several clusterings; the time is the "
        "default clusterer's run); the default `discover` is its `(umap-spectral)` row on texts "
        "(its `(spectral)` row before 2026-12-05) and its `(kmeans)` row on cells. Since "
        "2026-12-06 `umap-spectral` cuts a class's layout by Ward linkage where its spectral "
        "groups come out unequal in size; the `untrained`, `discover` and `unknown-k` text rows "
        "ran with that, the other rows' `(umap-spectral)` before it. Rows: "
        "bench/peers.py's docstring.",
        "",
        "| dataset | rows | system | seeds | ACC | ARI | NMI | found K | seconds | x BERTopic |"
        " peak MB |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    datasets = [d for d in (*TEXT_DATASETS, *VECTOR_DATASETS) if any(k[0] == d for k in by)]
    for dataset in datasets:
        # BERTopic's time per seed and machine: a ratio only where both ran on one machine
        reference = {
            (r["seed"], r.get("machine")): r["seconds"]
            for r in by.get((dataset, "bertopic-kmeans"), [])
        }
        labels = [label for (d, label) in by if d == dataset]
        for label in labels:
            got = sorted(by[(dataset, label)], key=lambda r: r["seed"])
            ratios = [
                r["seconds"] / reference[(r["seed"], r.get("machine"))]
                for r in got
                if (r["seed"], r.get("machine")) in reference
            ]
            lines.append(
                f"| {dataset} | {got[0]['rows']} | {label} | {len(got)} | "
                f"{mean_std([r['ACC'] for r in got])} | {mean_std([r['ARI'] for r in got])} | "
                f"{mean_std([r['NMI'] for r in got])} | "
                f"{np.mean([r['found'] for r in got]):.0f} / {got[0]['k']} | "
                f"{np.mean([r['seconds'] for r in got]):.0f} | "
                f"{f'{np.mean(ratios):.1f}' if ratios else '—'} | "
                f"{max(r['peak_memory_mb'] for r in got):.0f} |"
            )
    hosts: dict[str, dict[str, set[str]]] = {}
    for r in records:
        rows = hosts.setdefault(r.get("machine", machine()), {})
        rows.setdefault(r["row"], set()).add(r["dataset"])
    if len(hosts) == 1:
        lines += ["", f"Machine: {next(iter(hosts))}."]
    elif hosts:  # seconds and ratios compare only within one machine
        lines += [
            "",
            "Machines (seconds compare only within one; `x BERTopic` only where "
            "BERTopic-kmeans ran on the row's machine, else —):",
        ]
        for host, rows in hosts.items():
            cells = "; ".join(f"{row} ({', '.join(sorted(d))})" for row, d in sorted(rows.items()))
            lines += [f"- {host}: {cells}."]
    replace_section("peers", "\n".join(lines))
    replace_section("peers-targets", targets(by, datasets))


def targets(by: dict[tuple[str, str], list[dict]], datasets: list[str]) -> str:
    """The issue's targets for the default, per dataset: ACC over the strongest peer given K
    (BERTopic-kmeans; PCA + K-Means for cells) and over the untrained floor (the better of its
    two clusterings), and the time ratio; seeds where all three ran."""
    lines = [
        "## Targets: the default `discover` against the peers (issue 'Training that pays')",
        "",
        "Command: `python bench/peers.py` (its table above). Targets: at least +3 ACC over the "
        "peer, at least +5 over the untrained floor, at most 3x the peer's time. Peer: "
        "BERTopic-kmeans on texts, PCA + K-Means on cells; floor: the untrained features with "
        "the best of the clusterings measured on them (K-Means, spectral, and on texts the "
        "UMAP layout's; stricter than the issue's untrained encoder + K-Means, also shown). "
        "Means over the seeds all three ran.",
        "",
        "| dataset | seeds | default ACC | peer ACC | floor ACC | vs peer | vs floor "
        "| vs untrained K-Means | x peer time |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for dataset in datasets:
        peer_row = "bertopic-kmeans" if dataset in TEXT_DATASETS else "pca-kmeans"
        peer = {r["seed"]: r for r in by.get((dataset, peer_row), [])}
        own = f"discover ({default_clusterer(dataset)})"
        default = {r["seed"]: r for r in by.get((dataset, own), [])}
        kmeans = {r["seed"]: r["ACC"] for r in by.get((dataset, "untrained (kmeans)"), [])}
        floor: dict[int, float] = {}
        for label in ("untrained (kmeans)", "untrained (spectral)", "untrained (umap-spectral)"):
            for r in by.get((dataset, label), []):
                floor[r["seed"]] = max(floor.get(r["seed"], -1.0), r["ACC"])
        seeds = sorted(set(peer) & set(default) & set(floor) & set(kmeans))
        if not seeds:
            continue
        acc = np.mean([default[s]["ACC"] for s in seeds])
        peer_acc = np.mean([peer[s]["ACC"] for s in seeds])
        floor_acc = np.mean([floor[s] for s in seeds])
        over_kmeans = acc - np.mean([kmeans[s] for s in seeds])
        same_host = all(default[s].get("machine") == peer[s].get("machine") for s in seeds)
        ratio = np.mean([default[s]["seconds"] / max(peer[s]["seconds"], 0.1) for s in seeds])
        timed = f"{ratio:.1f}{' ✓' if ratio <= 3 else ''}" if same_host else "— (two machines)"
        lines.append(
            f"| {dataset} | {len(seeds)} | {acc:.2f} | {peer_acc:.2f} | {floor_acc:.2f} | "
            f"{acc - peer_acc:+.2f}{' ✓' if acc - peer_acc >= 3 else ''} | "
            f"{acc - floor_acc:+.2f}{' ✓' if acc - floor_acc >= 5 else ''} | "
            f"{over_kmeans:+.2f}{' ✓' if over_kmeans >= 5 else ''} | "
            f"{timed} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main(str(Path(__file__).resolve()), __doc__, cells(), run_one, report, RESULTS)

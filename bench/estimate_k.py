"""Unknown K: the estimated number of fine categories per coarse class, and what clustering with
it costs, on every dataset of bench/peers.py (the same rows).

Per (dataset, seed) cell: the features the default ``discover`` clusters (after training, and
after its fallback where it has one) and the untrained encoder's; on each, every criterion of
coarse2fine/cluster/estimate_k.py estimates K inside each coarse class; the rows are then
clustered inside their coarse classes (the default's clusterer) with the estimated counts and
with the true ones. The peers' own counts on the same rows: BERTopic's HDBSCAN (texts; as in
bench/peers.py) and scanpy's leiden at resolution 1 restricted to each coarse class. The
estimate's time is set against the default ``discover``'s own wall time.

Features are cached under bench/cache/estimate_k/ (not committed) so a change of criteria
reruns in seconds; a change of the package defaults makes new ones. With
``C2F_PEERS_FEATURES=DIR`` set as for bench/peers.py, the features that run saved (same rows,
seed and defaults) are taken instead of training again.

    python bench/estimate_k.py
    python bench/estimate_k.py --dataset clinc --seed 0
    python bench/estimate_k.py --report-only
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from common import ROOT, mean_std, replace_section
from harness import Cell, main

RESULTS = ROOT / "bench" / "results" / "estimate_k"
CACHE = ROOT / "bench" / "cache" / "estimate_k"
SEEDS = (0, 1, 2)
# 6: every peers dataset, every criterion, before and after training (was: HDBSCAN on CLINC and
# HWU64 train splits)
# 13: the package's floor is 4, and its count after training reads a graph as wide as the
# neighbourhood training pulled (MMLU: 27 neighbours); floors 3 and 4 on 10 neighbours as
# variants (the default before, and the default without the wider graph)
# 12: the layout's count kept up to max(1.5 x, 4) as a variant beside the default's floor of 3
# 11: a floor of 3 instead of the slack (the layout's count kept up to max(1.5 x, 3))
# 10: the package's layout agreement gained a slack of 2; the slack-free rule as a variant
# 9: the layout's count on every class (no agreement check) as a variant
# 8: the package's estimator (its graph UMAP's fuzzy one; for umap-spectral, the layout's count
# where it agrees) beside the connectivity graph it replaced; the candidates the first runs
# ruled out (5 / 15 neighbours, HDBSCAN, silhouette) dropped (their figures: docs/ESTIMATE_K.md)
# 14: umap-spectral cuts a class's layout by Ward linkage where its groups come out unequal
# 15: the default's features: DOWN mines its neighbours in each coarse class's layout
# 16: the default trains on 32 tokens; the median of each class's full-data and subsample
# estimates (estimate_k's pick="median") as a variant of the package's path
# 17: the same estimates, faster: each class's features counted once per estimate, and its
# subsamples' graphs read off one ranking of its neighbours instead of searched again
# 18: the same estimates; beside the true K, the categories each space keeps apart with the labels
# known (metrics.separable_categories: a ceiling for any count read from neighbourhoods)
# 19: each class's layout is kept for the next call with the same rows (the wider count after
# training, the clusterer's cut), and the estimate lays out the rows as given, as the clusterer
# does; each estimate timed with no layout kept from before it
# 20: two variants of the package's path: of near-equal eigengap peaks the finest
# (estimate_k's pick="finest"), and the features' graph weighted by shared neighbours
# (graph="snn")
# 21: the package counts a class by Louvain modularity where its features' best eigengap is
# under estimate_k.WEAK_GAP; the eigengap alone (weak_gap 0, the default before) as a variant
# 22: the same estimates; each class's best eigengap (the value tested against WEAK_GAP) and
# criterion recorded, and tabled
# 23: Louvain modularity reads a class of more than estimate_k.MODULARITY_ROWS rows on random
# samples of that many (each run its own); modularity on every row (the default before) and on
# samples of 600 and 1200 rows as variants
# 24: the package's "stability" criterion (clustering stability over halves) counting the classes
# without a clear gap in modularity's place (estimate_k.WEAK_COUNT), as a variant
# 25: the package's "resolution" criterion (Louvain at the resolution where the class's own
# Gaussian draw starts to split) counting the classes without a clear gap, and on every class
# 26: the package reads each class without a clear gap a second time (estimate_k.SECOND_READING,
# shown beside the estimate): its time is in the default's; its counts recorded and tabled; and
# as a variant, the reading whose rows a category come nearer the clear classes' stands
# (estimate_k.WEAK_CHOICE "scale")
# 27: that choice by scale is the package's default; the first reading always (the default
# before) as a variant
# 28: the clear classes' scale is the median of their rows a category (estimate_k.SCALE_BY
# "median"); their pooled ratio (the default before) as a variant
# 29: Louvain (modularity's votes, the noise's resolution) by scikit-network's compiled
# implementation instead of networkx's pure-Python one (docs/SCALE.md "Where the count's time
# goes"): the same algorithm and settings, another random order, so the counts move a little
VERSION = 29
FEATURES = ("after", "before")  # the default's clustered features; the untrained encoder's
TARGET_TOTAL = 15.0  # % error of the total
TARGET_FACTOR = 1.5  # per class
TARGET_SHARE = 80.0  # % of classes within the factor
TARGET_ACC = 3.0  # ACC points lost against the true K
TARGET_TIME = 20.0  # % of discover's wall time
DEFAULT = "default"  # the package's own path (Discoverer._estimate), with its plausible range
# the same path with each class's estimate the median of the full-data one and its subsamples'
VARIANT_MEDIAN = "default, median of subsamples"
# the package's path with estimate_k's module settings (PICK, GRAPH, WEAK_GAP, MODULARITY_ROWS,
# WEAK_COUNT, WEAK_CHOICE, SCALE_BY) set otherwise
PACKAGE_VARIANTS = {
    DEFAULT: {},
    "default, eigengap alone": {"weak_gap": 0.0},
    "default, modularity on every row": {"modularity_rows": 0},
    # the sample sizes MODULARITY_ROWS was chosen among (with bench/k_train_splits.py)
    "default, modularity on samples of 600": {"modularity_rows": 600},
    "default, modularity on samples of 1200": {"modularity_rows": 1200},
    # clustering stability in modularity's place (docs/ESTIMATE_K.md "Clustering stability"),
    # without the plausible range (its 8 subsamples would each cost as much as the count)
    "default, weak gaps by stability": {"weak_count": "stability", "resamples": 0},
    # modularity at a structureless draw's onset of splitting in modularity's place
    # (docs/ESTIMATE_K.md "Modularity at the noise's resolution")
    "default, weak gaps by resolution": {"weak_count": "resolution"},
    # of the two readings, always the first (modularity's) rather than the one nearer the clear
    # classes' rows a category (estimate_k's choose_by_scale, the default since version 27;
    # docs/ESTIMATE_K.md "Two readings")
    "default, weak readings first": {"weak_choice": "first"},
    # the clear classes' rows a category pooled (summed over their counts summed) rather than
    # their median (estimate_k's SCALE_BY, "median" since version 28; docs/ESTIMATE_K.md "The
    # scale as a median")
    "default, scale pooled": {"scale_by": "pooled"},
    VARIANT_MEDIAN: {"pick": "median"},
    "default, finest of near-equal peaks": {"pick": "finest"},
    "default, shared-neighbour graph": {"graph": "snn"},
}
LAYOUT_ALWAYS = 1e6  # a layout agreement no count exceeds (K <= 60 per class); JSON has no inf
# the other candidates: label -> (criterion, neighbours, graph of the eigengap, layout's count
# kept up to max(agreement x the features' one, floor): agreement 0 never)
VARIANTS = {
    "eigengap-10nn": ("eigengap", 10, "knn", 0, 0),
    "eigengap-fuzzy-10nn": ("eigengap", 10, "fuzzy", 0, 0),
    "eigengap-layout-always": ("eigengap", 10, "fuzzy", LAYOUT_ALWAYS, 0),
    "eigengap-layout-1.5x": ("eigengap", 10, "fuzzy", 1.5, 0),
    "eigengap-layout-floor-3": ("eigengap", 10, "fuzzy", 1.5, 3),
    "eigengap-layout-floor-4": ("eigengap", 10, "fuzzy", 1.5, 4),
    "modularity-10nn": ("modularity", 10, "knn", 0, 0),
    "resolution-10nn": ("resolution", 10, "knn", 0, 0),
}


def datasets() -> tuple[str, ...]:
    from sources import PREPARED_DATASETS, TEXT_DATASETS, VECTOR_DATASETS

    # a prepared set's cells fail, naming the script that makes its files, where they are not
    return (*TEXT_DATASETS, *PREPARED_DATASETS, *VECTOR_DATASETS)


def cells() -> list[Cell]:
    from common import package_defaults

    variants = {label: list(spec) for label, spec in VARIANTS.items()}  # as JSON stores them
    for label, options in PACKAGE_VARIANTS.items():
        variants[label] = ["package", *(f"{k}={v}" for k, v in options.items())]
    settings = {"version": VERSION, "variants": variants, "defaults": package_defaults()}
    return [Cell(d, "estimate", s, settings) for s in SEEDS for d in datasets()]


def features(data, name: str, seed: int) -> dict[str, Any]:
    """The default's clustered features and the untrained encoder's (cached), with the
    default's wall time and its clusterer."""
    from common import defaults_key
    from sources import true_counts

    from coarse2fine import Discoverer

    path = CACHE / f"{name}-seed{seed}-{defaults_key()}.npz"
    if path.is_file():
        saved = np.load(path, allow_pickle=False)
        return {k: saved[k].item() if saved[k].ndim == 0 else saved[k] for k in saved.files}
    found = from_peers(name, seed)
    if found is not None:
        CACHE.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(path, **found)
        return found
    start = time.perf_counter()
    est = Discoverer(n_fine=true_counts(data), seed=seed, progress=False).fit(data)
    seconds = time.perf_counter() - start
    untrained = Discoverer("unsupervised", n_fine=true_counts(data), seed=seed, progress=False)
    found = {
        "after": est.embedding_.astype(np.float32),
        "before": untrained.fit(data).embedding_.astype(np.float32),
        "discover_seconds": seconds,
        "chosen": getattr(est, "representation_", {}).get("chosen", "trained"),
    }
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **found)
    return found


def from_peers(name: str, seed: int) -> dict[str, Any] | None:
    """The same features from a bench/peers.py run that saved them (``C2F_PEERS_FEATURES=DIR``)
    under the current package defaults: its ``discover`` and ``untrained`` cells on the same
    rows and seed, so nothing is trained twice. None when that run is not there."""
    import os

    from common import ROOT, package_defaults

    folder = os.environ.get("C2F_PEERS_FEATURES")
    if not folder:
        return None
    files = {
        row: Path(folder) / f"{name}-{row}-seed{seed}.npz" for row in ("discover", "untrained")
    }
    record_path = ROOT / "bench" / "results" / "peers" / name / f"discover-seed{seed}.json"
    if not all(f.is_file() for f in files.values()) or not record_path.is_file():
        return None
    record = json.loads(record_path.read_text())
    if record.get("settings", {}).get("defaults") != package_defaults():
        return None
    after = np.load(files["discover"])["features"].astype(np.float32)
    before = np.load(files["untrained"])["features"].astype(np.float32)
    same = after.shape == before.shape and np.allclose(after, before)
    return {
        "after": after,
        "before": before,
        "discover_seconds": float(record["seconds"]),
        "chosen": "untrained" if same else "trained",  # the fallback kept the starting features
    }


class TrainedGivenK:
    """Stands in for the fitted default method in ``Discoverer._count_neighbours``: the
    neighbours the default's training pulled (the recipe's share of the mean category size, K
    given, every row trained on: the test splits are under the row cap); none where the
    features were not trained (``before``, or the fallback kept the start)."""

    def __init__(self, data, found: dict[str, Any], kind: str):
        from common import package_defaults
        from sources import true_counts

        self.share = package_defaults()["recipe"]["text"]["options"]["k_share"]
        self.trained = kind == "after" and found["chosen"] == "trained"
        self.categories = sum(true_counts(data).values())

    def pulled_neighbours(self, rows: int, categories: int | None = None) -> int:
        from coarse2fine.methods.neighbours import share_of_category

        if not self.trained:
            return 0
        return share_of_category(self.share, rows, categories or self.categories)


def package_estimate(data, found: dict[str, Any], kind: str, seed: int):
    """A Discoverer that has made ``discover``'s own estimate on the cached ``found[kind]``
    features, as if it had trained them (``k_estimate_``, ``clusterer_`` set)."""
    from coarse2fine import Discoverer

    est = Discoverer(seed=seed)
    est.coarse_classes_ = list(data.coarse_classes)
    est.method_, est.train_rows_ = TrainedGivenK(data, found, kind), len(data)
    est._estimate(found[kind], data, "trained")
    return est


def alone_counts(data, found: dict[str, Any]) -> dict[str, dict[str, int]]:
    """Each fine category's rows counted as one class on each space (bench/k_before_after.py,
    bench/k_third_level.py): {category: {"rows": n, "before": K, "after": K}}."""
    from coarse2fine.cluster.estimate_k import estimate_k

    fine = np.asarray(data.fine)
    out: dict[str, dict[str, int]] = {}
    for category in sorted(set(fine.tolist())):
        mask = fine == category
        out[str(category)] = {"rows": int(mask.sum())}
        for kind in ("before", "after"):
            if mask.sum() < 3:
                out[str(category)][kind] = 1
                continue
            one = estimate_k(
                found[kind][mask],
                np.zeros(int(mask.sum()), int),
                criterion="eigengap",
                neighbours=10,
                seed=0,
                resamples=0,
            )
            out[str(category)][kind] = int(one.counts[0])
    return out


def leiden_counts(data, seed: int, feats: np.ndarray) -> list[int]:
    """Communities scanpy's leiden (resolution 1) finds inside each coarse class: on the genes'
    principal components for cells (as bench/peers.py), on the MiniLM features for texts."""
    import anndata
    import scanpy as sc

    adata = anndata.AnnData(np.asarray(feats if data.is_text else data.vectors, np.float32))
    adata.obs["coarse"] = np.asarray(data.coarse_ids).astype(str)
    adata.obs["coarse"] = adata.obs["coarse"].astype("category")
    if data.is_text:
        sc.pp.neighbors(adata, use_rep="X", random_state=seed)
    else:
        sc.pp.pca(adata, random_state=seed)
        sc.pp.neighbors(adata, random_state=seed)
    sc.tl.leiden(
        adata,
        resolution=1.0,
        restrict_to=("coarse", list(adata.obs["coarse"].cat.categories)),
        random_state=seed,
        key_added="fine",
        flavor="igraph",
        n_iterations=2,
    )
    return per_class_counts(adata.obs["fine"].astype(str).to_numpy(), data.coarse_ids)


def per_class_counts(labels, coarse) -> list[int]:
    labels, coarse = np.asarray(labels), np.asarray(coarse)
    return [len(set(labels[coarse == c].tolist())) for c in np.unique(coarse)]


def run_one(cell: Cell) -> dict[str, Any]:
    from sources import load
    from systems import bertopic

    from coarse2fine import Discoverer
    from coarse2fine.cluster import discover
    from coarse2fine.cluster.estimate_k import estimate_k
    from coarse2fine.cluster.layout import forget_layouts
    from coarse2fine.metrics import clustering_scores, separable_categories

    data = load(cell.dataset)
    coarse = np.asarray(data.coarse_ids)
    true = per_class_counts(data.fine, coarse)
    found = features(data, cell.dataset, cell.seed)
    record: dict[str, Any] = {
        "rows": len(data),
        "classes": list(data.coarse_classes),
        "class_rows": np.bincount(coarse).tolist(),
        "true": true,
        "discover_seconds": round(float(found["discover_seconds"]), 1),
        "chosen": str(found["chosen"]),
        "estimates": {},
        "separable": {},
    }
    resolver = Discoverer()

    def scores(feats, counts, clusterer=None):
        """Clustered with the counts, by the given clusterer or the one ``auto`` picks for them."""
        if clusterer is None:
            clusterer = resolver._clusterer_rule(data)(int(np.sum(counts)))
        labels = discover(
            feats,
            int(np.sum(counts)),
            coarse=coarse,
            counts=np.asarray(counts),
            seed=cell.seed,
            clusterer=clusterer,
        ).labels
        return {k: round(v, 2) for k, v in clustering_scores(data.fine, labels).items()}

    def package(kind: str, **settings):
        """The counts, per-class records and clusterer of ``discover``'s own estimate (``settings``:
        estimate_k's module settings, e.g. ``pick`` for PICK, set otherwise)."""
        import coarse2fine.cluster.estimate_k as module

        defaults = {name.upper(): getattr(module, name.upper()) for name in settings}
        for name, value in settings.items():
            setattr(module, name.upper(), value)
        try:
            est = package_estimate(data, found, kind, cell.seed)
        finally:
            for name, value in defaults.items():
                setattr(module, name, value)
        classes = list(est.k_estimate_["classes"].values())
        return [e["k"] for e in classes], classes, est.clusterer_

    for kind in FEATURES:
        feats = found[kind]
        record["estimates"][kind] = {"true K": {"counts": true, **scores(feats, true)}}
        record["separable"][kind] = list(separable_categories(feats, data.fine, coarse).values())
        for label in (*PACKAGE_VARIANTS, *VARIANTS):
            # as in discover, the estimate lays each class out before the clusterer does (which
            # then finds that layout again): none kept from the scores above, or it would not pay
            forget_layouts()
            start = time.perf_counter()
            clusterer = None
            if label in PACKAGE_VARIANTS:
                counts, classes, clusterer = package(kind, **PACKAGE_VARIANTS[label])
                low, high = [e["low"] for e in classes], [e["high"] for e in classes]
                on_layout = [e["on"] == "layout" for e in classes]
                by = [e["criterion"] for e in classes]
                gap = [e["gap"] for e in classes]
                second = [e["second"] and e["second"]["k"] for e in classes]
            else:
                criterion, neighbours, graph, agreement, floor = VARIANTS[label]
                estimate = estimate_k(
                    feats,
                    coarse,
                    criterion=criterion,
                    seed=cell.seed,
                    neighbours=neighbours,
                    graph=graph,
                    resamples=0,
                    on_layout=agreement > 0,
                    layout_agreement=agreement,
                    layout_floor=floor,
                    weak_gap=0.0,  # each candidate alone
                )
                counts = estimate.counts.tolist()
                low = high = counts
                on_layout = [e.on_layout for e in estimate.classes]
                by = [e.criterion for e in estimate.classes]
                gap = [None if e.gap is None else round(e.gap, 4) for e in estimate.classes]
                second = [e.second and e.second[1] for e in estimate.classes]
            seconds = time.perf_counter() - start
            record["estimates"][kind][label] = {
                "counts": [int(k) for k in counts],
                "low": low,
                "high": high,
                "on_layout": on_layout,
                "criterion": by,  # each class's: the package's switches where the gap is weak
                "gap": gap,  # each class's best eigengap on its features (estimate_k.best_gap)
                "second": second,  # a class without a clear gap: its second reading's count
                "seconds": round(seconds, 2),
                **scores(feats, counts, clusterer),
            }
            print(f"{cell.dataset} {kind} {label}: K {sum(counts)} / {sum(true)} ({seconds:.1f} s)")
    peers = {"leiden": leiden_counts(data, cell.seed, found["before"])}
    if data.is_text:
        labels, _ = bertopic(data, {"clusterer": "hdbscan"}, cell.seed)
        peers["bertopic-hdbscan"] = per_class_counts(labels, coarse)
    record["peers"] = peers
    return record


def summary(true: list[int], counts: list[int]) -> dict[str, float]:
    true_a, est = np.asarray(true, float), np.asarray(counts, float)
    ratio = est / true_a
    return {
        "total": float(est.sum()),
        "error": 100.0 * (est.sum() - true_a.sum()) / true_a.sum(),
        "within": 100.0 * float(np.mean((ratio <= TARGET_FACTOR) & (ratio >= 1 / TARGET_FACTOR))),
    }


def report(records: list[dict[str, Any]]) -> None:
    by: dict[str, list[dict]] = {}
    for r in records:
        by.setdefault(r["dataset"], []).append(r)
    names = [d for d in datasets() if d in by]
    lines = [
        "## Unknown K: estimated number of fine categories per coarse class",
        "",
        "The rows of bench/peers.py (test splits; all 700 PBMC cells) and 20 Newsgroups' test",
        "split (prepared: bench/datasets/prepare_newsgroups.py), their coarse labels known.",
        "Each criterion estimates K inside every coarse class on the features the default",
        "`discover` clusters (`after`: trained, or the untrained ones where its fallback chose",
        "them) and on the untrained encoder's (`before`); the rows are then clustered inside",
        "their coarse classes with the estimated counts, by the default's clusterer. Peers:",
        "BERTopic's HDBSCAN (min_cluster_size 10, as bench/peers.py) and scanpy's leiden",
        "(resolution 1, restricted to each coarse class) find their own counts on the same rows.",
        "K separable: the fine categories each space keeps apart, judged with the labels known",
        "(coarse2fine.metrics.separable_categories: at least half of a category's rows have a",
        "row of their own category nearest), a ceiling for a count read from neighbourhoods.",
        f"Targets (issue 'Unknown K'): total within {TARGET_TOTAL:.0f} % of the truth; at least "
        f"{TARGET_SHARE:.0f} % of classes within a factor {TARGET_FACTOR}; ACC within "
        f"{TARGET_ACC:.0f} points of ACC with the true K; the estimate at most "
        f"{TARGET_TIME:.0f} % of `discover`'s wall time. Mean ± std over seeds; x100.",
        "",
        "Command: `python bench/estimate_k.py`  ",
        "Machine: " + ("; ".join(sorted({r["machine"] for r in records})) or "—"),
        "",
        "| dataset | features | criterion | seeds | K true | K separable | K found | error % "
        "| classes within x1.5 % | ACC | ACC, true K | estimate s | % of discover time |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for d in names:
        recs = by[d]
        k_true = sum(recs[0]["true"])
        for kind in FEATURES:
            truth = [r["estimates"][kind]["true K"]["ACC"] for r in recs]
            separable = mean_std([sum(r["separable"][kind]) for r in recs])
            for criterion in (*PACKAGE_VARIANTS, *VARIANTS):
                got = [r["estimates"][kind][criterion] for r in recs]
                s = [summary(r["true"], g["counts"]) for r, g in zip(recs, got, strict=True)]
                share = [
                    100 * g["seconds"] / r["discover_seconds"]
                    for r, g in zip(recs, got, strict=True)
                ]
                lines.append(
                    f"| {d} | {kind} | {criterion} | {len(recs)} | {k_true} | {separable} "
                    f"| {mean_std([x['total'] for x in s])} | {mean_std([x['error'] for x in s])} "
                    f"| {mean_std([x['within'] for x in s])} "
                    f"| {mean_std([g['ACC'] for g in got])} | {mean_std(truth)} "
                    f"| {mean_std([g['seconds'] for g in got])} | {mean_std(share)} |"
                )
        for peer in ("bertopic-hdbscan", "leiden"):
            got = [r["peers"][peer] for r in recs if peer in r["peers"]]
            if got:
                s = [summary(recs[0]["true"], g) for g in got]
                lines.append(
                    f"| {d} | peer | {peer} | {len(got)} | {k_true} | — "
                    f"| {mean_std([x['total'] for x in s])} | {mean_std([x['error'] for x in s])} "
                    f"| {mean_std([x['within'] for x in s])} | — | — | — | — |"
                )
    lines += gap_lines(by, names)
    lines += per_class_lines(by, names)
    replace_section("estimate_k", "\n".join(lines))


def gap_lines(by: dict[str, list[dict]], names: list[str]) -> list[str]:
    """Per dataset, the best eigengaps of the classes the default counted without the eigengap
    (under estimate_k.WEAK_GAP: by modularity, or since version 27 at the noise's resolution where
    that reading came nearer the clear classes' scale) and of those the eigengap counted: how far
    the threshold is from each."""
    from coarse2fine.cluster.estimate_k import WEAK_GAP

    lines = [
        "",
        "Each coarse class's best eigengap on its features' fuzzy 10-neighbour graph (`after`, "
        "all seeds;",
        f"`estimate_k.best_gap`): under {WEAK_GAP} the default counts the class by Louvain "
        "modularity (or at the noise's resolution) instead.",
        "",
        "| dataset | classes x seeds without a clear gap | their gaps | by the eigengap "
        "| their gaps |",
        "|---|---|---|---|---|",
    ]

    def span(values: list[float]) -> str:
        return f"{min(values):.3f}-{max(values):.3f}" if values else "—"

    for d in names:
        pairs = [
            (gap, by_)
            for r in by[d]
            for gap, by_ in zip(
                r["estimates"]["after"][DEFAULT]["gap"],
                r["estimates"]["after"][DEFAULT]["criterion"],
                strict=True,
            )
            if gap is not None
        ]
        weak = [g for g, c in pairs if c != "eigengap"]
        clear = [g for g, c in pairs if c == "eigengap"]
        lines.append(f"| {d} | {len(weak)} | {span(weak)} | {len(clear)} | {span(clear)} |")
    return lines


def per_class_lines(by: dict[str, list[dict]], names: list[str]) -> list[str]:
    """Per coarse class, the default's count on each seed beside the truth, for the datasets
    whose total misses the target: which classes the shortfall comes from."""
    lines = [
        "",
        f"Where the default misses the {TARGET_TOTAL:.0f} % target on the total or the "
        f"{TARGET_SHARE:.0f} % one on the classes, per coarse class",
        "(`after` features): rows, true K, the categories the features keep apart with the labels",
        "known (K separable) and the count on each seed, and the plausible range the subsamples",
        "give (lowest to highest over the seeds); for a class without a clear gap, its other",
        "reading per seed (the one not taken of modularity's and the noise's resolution's, shown",
        "to the user beside the estimate).",
        "",
        "| dataset | coarse class | rows | K true | K separable per seed | K found per seed "
        "| range | counted by | other reading per seed |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for d in names:
        recs = sorted(by[d], key=lambda r: r["seed"])
        got = [r["estimates"]["after"][DEFAULT] for r in recs]
        s = [summary(r["true"], g["counts"]) for r, g in zip(recs, got, strict=True)]
        total_met = abs(float(np.mean([x["error"] for x in s]))) <= TARGET_TOTAL
        if total_met and float(np.mean([x["within"] for x in s])) >= TARGET_SHARE:
            continue
        # the class names and sizes each record carries (since version 29 every current one)
        classes, sizes = recs[0]["classes"], recs[0]["class_rows"]
        for i, name in enumerate(classes):
            found = " / ".join(str(g["counts"][i]) for g in got)
            separable = " / ".join(str(r["separable"]["after"][i]) for r in recs)
            low, high = min(g["low"][i] for g in got), max(g["high"][i] for g in got)
            counted = " / ".join("layout" if g["on_layout"][i] else g["criterion"][i] for g in got)
            second = " / ".join("—" if g["second"][i] is None else str(g["second"][i]) for g in got)
            lines.append(
                f"| {d} | {name} | {sizes[i]} | {recs[0]['true'][i]} | {separable} | {found} "
                f"| {low}-{high} | {counted} | {second} |"
            )
    return lines


if __name__ == "__main__":
    main(__file__, __doc__, cells(), run_one, report, RESULTS)

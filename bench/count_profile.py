"""Where the count of categories spends its time on large classes.

On MMLU's train split (12,509 rows, 4 coarse classes of 2,728-4,229 rows, none with a clear
eigengap: every class is read by Louvain modularity), the trained features of
bench/estimate_k.py's cache (the default trained with K given, seed 0), the package's
``estimate_k`` run as ``discover`` runs it on many rows: first on a 10-neighbour graph without
the plausible range, then on a wider graph, as where neighbour training pulled each row toward
more than 10 neighbours (50 here; on this split ``discover`` would take half the mean category
size its first count implies, wider still), with the range's 8 subsamples; and that second
run again with networkx's pure-Python Louvain in the package's place (scikit-network's compiled
one since 2026-12-07; networkx's was the package's until then). Under cProfile: each run's
seconds, and the cumulative seconds of the functions that take most of them.

    python bench/count_profile.py
    python bench/count_profile.py --report-only

One cell per run under bench/results/count_profile/.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from common import ROOT, replace_section
from harness import Cell, main

RESULTS = ROOT / "bench" / "results" / "count_profile"
# label -> (neighbours, subsamples of the plausible range, Louvain)
RUNS = {
    "10 neighbours, no range": (10, 0, "scikit-network"),
    "50 neighbours, 8 subsamples": (50, 8, "scikit-network"),
    "50 neighbours, 8 subsamples, networkx": (50, 8, "networkx"),
}
# the functions reported: (file suffix, name) -> label
WATCHED = {
    ("coarse2fine/cluster/estimate_k.py", "estimate_k"): "the whole count",
    ("coarse2fine/cluster/estimate_k.py", "modularity_votes"): "modularity's votes",
    ("coarse2fine/cluster/estimate_k.py", "null_onset"): "the noise's resolution",
    # the next three serve both of the above
    ("sknetwork/clustering/louvain.py", "fit"): "Louvain (scikit-network)",
    ("networkx/algorithms/community/louvain.py", "louvain_communities"): "Louvain (networkx)",
    ("coarse2fine/cluster/estimate_k.py", "louvain_graph"): "building the graphs",
    ("bench/count_profile.py", "louvain_graph"): "building the graphs",  # networkx's run
    ("coarse2fine/cluster/estimate_k.py", "eigengaps"): "the eigengap curves",
    ("coarse2fine/cluster/estimate_k.py", "ranked_neighbours"): "nearest neighbours",
}


def cells() -> list[Cell]:
    from common import defaults_key

    # the defaults' key names the features counted: a change of default marks the cells stale
    return [
        Cell(
            "mmlu-train",
            label.replace(" ", "-").replace(",", ""),
            0,
            {"version": 2, "run": label, "features": defaults_key()},
        )
        for label in RUNS
    ]


@contextmanager
def louvain_of(name: str):
    """The package's Louvain (``estimate_k.louvain_graph`` and ``communities``) for the duration,
    or, for ``"networkx"``, networkx's in their place: the same weighted graph without loops,
    Louvain at the same resolution and seed (networkx's own node order and threshold 1e-7)."""
    import coarse2fine.cluster.estimate_k as module

    if name == "scikit-network":
        yield
        return
    if name != "networkx":
        raise ValueError(f"Louvain must be scikit-network or networkx, got {name!r}")
    import networkx as nx

    def louvain_graph(rows, neighbours=module.NEIGHBOURS):
        graph = nx.from_scipy_sparse_array(module.neighbour_graph(rows, neighbours))
        graph.remove_edges_from(nx.selfloop_edges(graph))
        return graph

    def communities(graph, resolution, seed):
        found = nx.community.louvain_communities(graph, resolution=resolution, seed=seed)
        return max(1, sum(len(group) >= 2 for group in found))

    saved = module.louvain_graph, module.communities
    module.louvain_graph, module.communities = louvain_graph, communities
    try:
        yield
    finally:
        module.louvain_graph, module.communities = saved


def run_one(cell: Cell) -> dict:
    from common import defaults_key
    from estimate_k import features as cached_features
    from sources import load
    from where_time_goes import cumulative, profiled

    from coarse2fine.cluster.estimate_k import estimate_k

    data = load("mmlu", "train")
    # the current defaults' features (trained and cached here where missing, as
    # bench/k_before_after.py does)
    features = cached_features(data, "mmlu-train", 0)["after"]
    neighbours, resamples, louvain = RUNS[cell.settings["run"]]
    with louvain_of(louvain):
        found, seconds, stats = profiled(
            estimate_k,
            features,
            data.coarse_ids,
            neighbours=neighbours,
            seed=0,
            resamples=resamples,
            on_layout=False,
        )
    spent = dict.fromkeys(WATCHED.values(), 0.0)
    for where, label in WATCHED.items():
        spent[label] += cumulative(stats, *where)
    return {
        "rows": len(data),
        "features": f"mmlu-train-seed0-{defaults_key()}",
        "counts": found.counts.tolist(),
        "seconds": round(seconds, 1),
        "spent": {label: round(seconds, 1) for label, seconds in spent.items()},
    }


def report(records: list[dict]) -> None:
    runs = [r for label in RUNS for r in records if r["settings"]["run"] == label]
    lines = [
        "## Where the count's time goes on large classes",
        "",
        "Command: `python bench/count_profile.py` (MMLU's train split, 12,509 rows in 4 classes",
        "read by modularity, the default's trained features from bench/estimate_k.py's cache;",
        "`estimate_k` under cProfile as `discover` runs it on many rows: cumulative seconds;",
        "Louvain and the graph building serve both modularity's votes and the noise's",
        "resolution; the last run with networkx's pure-Python Louvain, the package's until",
        "2026-12-07, in place of scikit-network's compiled one).",
        "",
        "| part | " + " | ".join(r["settings"]["run"] for r in runs) + " |",
        "|---|" + "---|" * len(runs),
    ]
    for label in dict.fromkeys(WATCHED.values()):
        lines.append(f"| {label} | " + " | ".join(f"{r['spent'][label]:.1f}" for r in runs) + " |")
    counts = "; ".join(f"{r['settings']['run']}: {sum(r['counts'])}" for r in runs)
    lines += ["", f"Categories counted: {counts}.", ""]
    lines.append("Machine: " + "; ".join(sorted({r["machine"] for r in records})) + ".")
    replace_section("count_profile", "\n".join(lines))


if __name__ == "__main__":
    main(str(Path(__file__).resolve()), __doc__, cells(), run_one, report, RESULTS)

"""Vector input: FALCON and the baselines on real single-cell data, resumably.

Data: the 700 peripheral blood mononuclear cells of ``pbmc68k_reduced`` that the PyPI package
scanpy ships inside its wheel (scanpy/datasets/10x_pbmc68k_reduced.h5ad; scanpy is BSD-3-Clause;
the cells are a subsample of 10x Genomics' Fresh 68k PBMCs, Zheng et al., Nat. Commun. 2017,
published by 10x Genomics under CC BY 4.0). Each cell has 765 scaled highly-variable genes and a
FACS-sorted population label (``bulk_labels``, 10 classes): the fine labels here. The coarse
labels are the standard haematopoietic lineages of those populations (our mapping, below):
lymphoid (T, B, NK cells), myeloid (monocytes, dendritic cells) and progenitor (CD34+).

Transductive protocol (the analyst's): every method trains on all 700 cells with their coarse
labels and assigns them; "global" assigns without the coarse labels, "nested" within them.

    pip install scanpy                  # once: the data's source (not a coarse2fine dependency)
    python bench/vectors.py             # all cells, then the table in docs/BENCHMARKS.md
    python bench/vectors.py --report-only
"""

from __future__ import annotations

from common import ROOT, mean_std, method_row, replace_section
from harness import Cell, main
from sources import load_pbmc

RESULTS = ROOT / "bench" / "results" / "vectors"
ROWS = {
    # K-Means on the standardised genes (no training)
    "unsupervised": {"method": "unsupervised", "train": {"epochs": 0}, "method_params": {}},
    "coarse_supervised": {"method": "coarse_supervised", "train": {}, "method_params": {}},
    "hwscl": {"method": "hwscl", "train": {}, "method_params": {}},
    # the paper's single-cell weight for L_reg
    "falcon": {"method": "falcon", "train": {}, "method_params": {"lambda_reg": 0.5}},
}
TRAIN = {"epochs": 50, "lr": 1e-3, "batch_size": 64, "encoder": "mlp"}
SEEDS = [0, 1, 2]
SETTINGS_VERSION = 1


def settings(row: str) -> dict:
    return method_row(ROWS[row], TRAIN, version=SETTINGS_VERSION)


CELLS = [Cell("pbmc", row, s, settings(row)) for s in SEEDS for row in ROWS]


def run_one(cell: Cell) -> dict:
    from coarse2fine import Discoverer
    from coarse2fine.metrics import clustering_scores, hierarchy_edit_distance, true_parents

    row, seed = cell.row, cell.seed
    data = load_pbmc()
    wanted = settings(row)
    record = {"rows": len(data), "k": data.n_fine}
    for clustering in ("global", "nested"):
        est = Discoverer(
            wanted["method"],
            n_fine=data.n_fine,
            clustering=clustering,
            seed=seed,
            method_params=wanted["method_params"],
            progress=False,
            **wanted["train"],
        ).fit(data)
        record[clustering] = clustering_scores(data.fine, est.labels_)
        if clustering == "global":
            record["edit_distance"] = hierarchy_edit_distance(
                est.cluster_parents_, true_parents(data.fine, data.coarse)
            )
    print(f"pbmc {row} seed {seed}: global ACC {record['global']['ACC']:.2f}", flush=True)
    return record


def report(records: list[dict]) -> None:
    command = "python bench/vectors.py"
    lines = [
        "## Vector input: single-cell PBMC (FALCON's setting, transductive)",
        "",
        "700 cells x 765 genes of `pbmc68k_reduced` as shipped inside the scanpy wheel",
        "(10x Genomics Fresh 68k PBMCs, CC BY 4.0; scanpy BSD-3-Clause). Fine labels: the 10",
        "FACS-sorted populations; coarse labels: their lineage (lymphoid 7, myeloid 2,",
        "progenitor 1; mapping in bench/vectors.py). MLP encoder 765-64-64-64-64, "
        f"{TRAIN['epochs']} epochs, lr {TRAIN['lr']}, batch {TRAIN['batch_size']}; every method",
        "trains on all cells with coarse labels and assigns them: global = without the coarse",
        "labels (K-Means, or FALCON's classifier), nested = inside each coarse class. x100, mean ±",
        "std over seeds " + ", ".join(map(str, SEEDS)) + ".",
        "",
        f"Command: `{command}`  ",
    ]
    machines = set()
    table = [
        "| row | seeds | ACC | ARI | NMI | nested ACC | edit distance | wall s (both fits) "
        "| peak MB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in ROWS:
        recs = [r for r in records if r["row"] == row]
        machines |= {r["machine"] for r in recs}

        def col(part, key, recs=recs):
            return mean_std([r[part][key] for r in recs])

        wall = f"{sum(r['wall_seconds'] for r in recs) / len(recs):.0f}" if recs else "—"
        peak = f"{max(r['peak_memory_mb'] for r in recs):.0f}" if recs else "—"
        table.append(
            f"| {row} | {len(recs)} | {col('global', 'ACC')} | {col('global', 'ARI')} "
            f"| {col('global', 'NMI')} | {col('nested', 'ACC')} "
            f"| {mean_std([r['edit_distance'] for r in recs])} | {wall} | {peak} |"
        )
    lines.append("Machine: " + ("; ".join(sorted(machines)) or "—"))
    lines += [
        "",
        *table,
        "",
        "FALCON's paper (theirs, a different PBMC set: 27 coarse cell types,",
        "83 fine states, MLP 2000-64-64-64-64): ACC 75.8, ARI 74.0.",
    ]
    replace_section("vectors", "\n".join(lines))


if __name__ == "__main__":
    main(__file__, __doc__, CELLS, run_one, report, RESULTS)

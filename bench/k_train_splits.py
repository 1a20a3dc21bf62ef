"""Unknown K on larger categories: ``discover`` without ``--n-fine`` on the train splits.

The estimate's benchmark (bench/estimate_k.py) reads the test splits, whose categories hold
15-55 rows. Users' data are often larger, and the eigengap's values shrink as a class's graph
grows, so a threshold on them read on the test splits may not carry over. Each cell runs the
default ``discover`` without K on a train split (HWU64's 8,954 rows, 33-159 per intent;
CLINC's 18,000, 120 per intent; and, since 2026-12-07, DBpedia's, MMLU's and Zeisel's: LATER)
under settings of ``coarse2fine.cluster.estimate_k``
(VARIANTS): the eigengap alone on every class (``eigengap alone``: ``WEAK_GAP`` 0, the
default before 2026-12-06); the classes whose best eigengap is under ``WEAK_GAP`` counted by
Louvain modularity on all their rows (``weak gaps by modularity``: docs/ESTIMATE_K.md
"Classes without a clear gap", the default on 2026-12-06); the package's default until the
choice by scale, where modularity reads a class of more than ``MODULARITY_ROWS`` rows on
random samples of that many (``modularity on samples``: docs/ESTIMATE_K.md "Counting large
classes"); the default from 2026-12-07, each class without a clear gap read by modularity
and by resolution and the reading nearer the clear classes' rows a category (pooled) standing
(``weak readings by scale``: docs/ESTIMATE_K.md "Two readings"), and the same with their
median (``scale as a median``, the default since: "The scale as a median"; beside them, on
seed 0, samples of 600 and 1200 rows, the values it was chosen among; clustering stability
counting in modularity's place, ``stability instead of modularity``; and Louvain at the
resolution where the class's own Gaussian draw starts to split, ``resolution instead of
modularity``, and that criterion on every class, ``resolution on every class``, as
``--k-estimator resolution`` counts). ``K given``, the
true count of each coarse class passed as ``n_fine``, is what the estimate is measured
against. Modularity also makes the count before training that sets DOWN's neighbours, so the
setting reaches the features too. Records ACC, the categories found, and per coarse class the
true count, the count, its criterion and its best gap.

    python bench/k_train_splits.py
    python bench/k_train_splits.py --report-only

One cell per (dataset, variant, seed) under bench/results/k_train_splits/.
"""

from __future__ import annotations

import time
from typing import Any

from common import ROOT, mean_std, replace_section
from harness import Cell, main

RESULTS = ROOT / "bench" / "results" / "k_train_splits"
GIVEN = "K given"
# each variant's estimate_k module settings (None: the package's own value); the variants
# measured before the choice by scale became the default (WEAK_CHOICE "scale", 2026-12-07)
# name the choice they ran with, "first"
FIRST = "first"
VARIANTS = {
    "eigengap alone": {"WEAK_GAP": 0.0, "MODULARITY_ROWS": 0},
    "weak gaps by modularity": {"WEAK_GAP": None, "MODULARITY_ROWS": 0, "WEAK_CHOICE": FIRST},
    # the default from 2026-12-07 until the choice by scale below
    "modularity on samples": {"WEAK_GAP": None, "MODULARITY_ROWS": None, "WEAK_CHOICE": FIRST},
    # the sample size chosen among (seed 0 only; the test splits' side: bench/estimate_k.py)
    "modularity on samples of 600": {
        "WEAK_GAP": None,
        "MODULARITY_ROWS": 600,
        "WEAK_CHOICE": FIRST,
    },
    "modularity on samples of 1200": {
        "WEAK_GAP": None,
        "MODULARITY_ROWS": 1200,
        "WEAK_CHOICE": FIRST,
    },
    # clustering stability (estimate_k's "stability") in modularity's place, before training
    # and after (seed 0): docs/ESTIMATE_K.md "Clustering stability"; without the plausible
    # range (RESAMPLES 0: its 8 subsamples would each cost as much as the count again)
    "stability instead of modularity": {
        "WEAK_GAP": None,
        "WEAK_COUNT": "stability",
        "FIRST_COUNT": "stability",
        "RESAMPLES": 0,
        "WEAK_CHOICE": FIRST,
    },
    # modularity at the resolution where the class's own Gaussian draw starts to split, in
    # modularity's place after training (docs/ESTIMATE_K.md "Modularity at the noise's
    # resolution"); the count before training left to modularity
    "resolution instead of modularity": {
        "WEAK_GAP": None,
        "WEAK_COUNT": "resolution",
        "WEAK_CHOICE": FIRST,
    },
    # what a user gets with ``--k-estimator resolution``: that criterion on every class, before
    # training (DOWN's neighbours) and after (the ``k_estimator`` entry is Discoverer's argument)
    "resolution on every class": {"k_estimator": "resolution"},
    # the default from 2026-12-07 until the scale as a median: each class without a clear gap
    # read by modularity and by resolution, and the reading whose rows a category come nearer
    # the classes with a clear gap standing (estimate_k's WEAK_CHOICE "scale"; docs/ESTIMATE_K.md
    # "Two readings"), their rows a category pooled (SCALE_BY "pooled")
    "weak readings by scale": {"WEAK_GAP": None, "WEAK_CHOICE": "scale", "SCALE_BY": "pooled"},
    # the default since: the same, the clear classes' rows a category their median (SCALE_BY
    # "median"; docs/ESTIMATE_K.md "The scale as a median")
    "scale as a median": {"WEAK_GAP": None, "WEAK_CHOICE": "scale", "SCALE_BY": "median"},
    # the reference: the true count of each coarse class given (``n_fine``), nothing estimated
    GIVEN: {},
}
SEEDS = {
    "modularity on samples of 600": (0,),
    "modularity on samples of 1200": (0,),
    "stability instead of modularity": (0,),
    "resolution on every class": (0,),
}
# 2 (the default until 2026-12-07): each class without a clear gap read a second time
# (estimate_k.SECOND_READING, shown to the user beside the estimate), its count recorded and its
# time in the cell's
# "scale as a median" 2: the default's Louvain by scikit-network since 2026-12-07 (networkx's
# before); the other variants' cells were measured with networkx's and are not run again
VERSIONS = {"modularity on samples": 2, "scale as a median": 2}
ROWS = {variant: variant.replace(" ", "-") for variant in VARIANTS}  # each variant's cell row
DATASETS = ("hwu64", "clinc", "dbpedia", "mmlu", "zeisel")
# the train splits added after the choice by scale became the default (2026-12-07) run only
# the rows that choice rests on: the default, the default before it, and K given (DBpedia's
# 3,960 rows, 8-494 per category; MMLU's 12,509, 79-1,367; Zeisel's 2,256 cells, 4-358)
LATER = {
    "datasets": ("dbpedia", "mmlu", "zeisel"),
    "variants": ("modularity on samples", "weak readings by scale", "scale as a median", GIVEN),
}
# the scale as a median runs where the pooled scale's cells had one: CLINC's and MMLU's train
# splits have no class with a clear gap on any seed, so no scale and nothing to choose
ONLY = {"scale as a median": ("hwu64", "dbpedia", "zeisel")}
CELLS = [
    Cell(d, ROWS[variant], seed, {"version": VERSIONS.get(variant, 1), "variant": variant})
    for seed in (0, 1, 2)
    for d in DATASETS
    for variant in VARIANTS
    if seed in SEEDS.get(variant, (0, 1, 2))
    and (d not in LATER["datasets"] or variant in LATER["variants"])
    and d in ONLY.get(variant, DATASETS)
]


def run_one(cell: Cell) -> dict[str, Any]:
    from sources import load, true_counts

    import coarse2fine.cluster.estimate_k as module
    from coarse2fine import Discoverer
    from coarse2fine.cluster.estimate_k import DEFAULT_CRITERION
    from coarse2fine.metrics import clustering_scores

    data = load(cell.dataset, "train")
    settings = dict(VARIANTS[cell.settings["variant"]])
    k_estimator = settings.pop("k_estimator", DEFAULT_CRITERION)  # Discoverer's default
    for name, value in settings.items():
        if value is not None:
            setattr(module, name, value)  # each cell runs in its own process
    true = true_counts(data)
    given = cell.settings["variant"] == GIVEN
    n_fine = true if given else None
    start = time.perf_counter()
    est = Discoverer(n_fine=n_fine, k_estimator=k_estimator, seed=cell.seed, progress=False)
    est.fit(data)
    seconds = time.perf_counter() - start
    estimated = {} if given else est.k_estimate_["classes"]
    classes = {
        c: {
            "true": true[str(c)],
            "k": e["k"],
            "criterion": e["criterion"],
            "gap": e["gap"],
            "second": e["second"] and e["second"]["k"],  # a class without a clear gap
        }
        for c, e in estimated.items()
    }
    scores = clustering_scores(data.fine, est.labels_)
    return {
        "rows": len(data),
        "true": sum(true.values()),
        "found": len(est.categories_),
        "seconds": round(seconds, 1),
        "weak_gap": module.WEAK_GAP,
        "weak_count": module.WEAK_COUNT,
        "modularity_rows": module.MODULARITY_ROWS,
        "weak_choice": module.WEAK_CHOICE,
        "scale_by": module.SCALE_BY,
        "scale": None if given else est.k_estimate_["scale"],
        "classes": classes,
        **{k: round(float(v), 2) for k, v in scores.items()},
    }


def report(records: list[dict[str, Any]]) -> None:
    lines = [
        "## Unknown K on the train splits (larger categories)",
        "",
        "`discover` without `--n-fine` on the train splits (HWU64 8,954 rows, CLINC 18,000; since",
        "2026-12-07 DBpedia 3,960, MMLU 12,509 and Zeisel 2,256 cells, with the default, the",
        "default before it and `K given` only): the",
        "eigengap alone on every class (the default before 2026-12-06); the classes whose best",
        "eigengap is under `estimate_k.WEAK_GAP` counted by Louvain modularity on all their rows",
        '(docs/ESTIMATE_K.md, "Classes without a clear gap"; the default on 2026-12-06);',
        "modularity reading a class of more than `estimate_k.MODULARITY_ROWS` rows on random",
        'samples of that many ("modularity on samples": docs/ESTIMATE_K.md, "Counting large',
        'classes"; the default until the choice by scale); the default from 2026-12-07,',
        "`weak readings by scale`, and since, `scale as a median` (below); beside them `K given`,",
        "each coarse class's true count",
        "passed as `n_fine`.",
        "Beside them, clustering stability counting in modularity's place before training and",
        'after (`stability instead of modularity`: docs/ESTIMATE_K.md, "Clustering stability").',
        "Beside them, Louvain at the resolution where each class's own Gaussian draw starts to",
        'split (`resolution instead of modularity`: docs/ESTIMATE_K.md, "Modularity at the',
        "noise's resolution\").",
        "Classes without a clear gap: coarse classes under the threshold, counted by modularity",
        "(or stability, or resolution); `resolution on every class`: `--k-estimator resolution`;",
        "`weak readings by scale`: of each such class's two readings (modularity, resolution) the",
        "one whose rows a category come nearer the classes with a clear gap (their rows summed",
        "over their counts summed); `scale as a median`, the default since, the same with the",
        "median of those classes' rows a category.",
        "Other readings: the total had the user taken, on every class without a clear gap, the",
        "other reading the summary shows beside the estimate (of modularity's and the noise's",
        "resolution's, the one not taken).",
        "",
        "Command: `python bench/k_train_splits.py`  ",
        "Machine: " + ("; ".join(sorted({r["machine"] for r in records})) or "—"),
        "",
        "| dataset | variant | seeds | K true | K found | classes without a clear gap | ACC | ARI "
        "| NMI | best gaps (lowest-highest) | seconds | other readings: K |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for d in DATASETS:
        for variant, row in ROWS.items():
            recs = [r for r in records if r["dataset"] == d and r["row"] == row]
            if not recs:
                continue
            gaps = [e["gap"] for r in recs for e in r["classes"].values() if e["gap"] is not None]
            switched = [
                sum(e["criterion"] != "eigengap" for e in r["classes"].values()) for r in recs
            ]
            weak = f"{mean_std(switched)} of {len(recs[0]['classes'])}" if gaps else "—"
            read = [[e.get("second") for e in r["classes"].values()] for r in recs]
            second = "—"
            if recs[0]["classes"] and all(any(k is not None for k in ks) for ks in read):
                totals = [
                    sum(
                        e["k"] if e["second"] is None else e["second"]
                        for e in r["classes"].values()
                    )
                    for r in recs
                ]
                second = mean_std(totals)
            lines.append(
                f"| {d} | {variant} | {len(recs)} | {recs[0]['true']} "
                f"| {mean_std([r['found'] for r in recs])} | {weak} "
                f"| {mean_std([r['ACC'] for r in recs])} | {mean_std([r['ARI'] for r in recs])} "
                f"| {mean_std([r['NMI'] for r in recs])} "
                f"| {f'{min(gaps):.3f}-{max(gaps):.3f}' if gaps else '—'} "
                f"| {mean_std([r['seconds'] for r in recs])} | {second} |"
            )
    replace_section("k_train_splits", "\n".join(lines))


if __name__ == "__main__":
    main(__file__, __doc__, CELLS, run_one, report, RESULTS)

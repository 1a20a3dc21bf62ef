"""DBpedia's third level: what the count finds beyond the labels it is scored against.

DBpedia's rows carry three levels of labels (the Parquet file's `l3` column beside `coarse`
and `fine`; `load_dataset` reads the first two): 8 coarse classes, 59 fine categories and 208
third-level types on the train split (188 on the test split), e.g. Athlete's 494 train rows hold
27 kinds of athlete. bench/k_before_after.py found that training splits DBpedia's larger fine
categories into groups (Athlete, counted alone: 12 groups before training, 26 after), so that
the estimate on the train split runs 53 % over the fine level. This script asks whether those
groups are the third level.

Per cell (the features bench/estimate_k.py caches: the untrained encoder's, `before`, and the
ones the default trains with K given, `after`):

- how many categories of each level each space keeps apart with the labels known
  (``separable_categories``, a ceiling for any count from neighbourhoods);
- the package's estimate on each space (the path ``discover`` takes without K) per coarse class,
  beside the fine and third-level counts;
- the trained features cut inside their coarse classes by the default's clusterer with the fine
  counts, the third-level counts and the estimate's, each scored against both levels;
- each fine category's rows cut into as many groups as it holds third-level types, on each
  space (K-Means inside each fine category), scored against the third level: whether training
  lays those types out, whatever the count;
- each fine category counted alone (bench/estimate_k.py's ``alone_counts``, as in
  bench/k_before_after.py) beside its third-level types, summed by size (SIZES).

Test split seeds 0-2, train split seeds 0-1.

    python bench/k_third_level.py
    python bench/k_third_level.py --report-only
"""

from __future__ import annotations

from typing import Any

import numpy as np
from common import ROOT, mean_std, replace_section
from harness import Cell, main

RESULTS = ROOT / "bench" / "results" / "k_third_level"
VERSION = 1
SPLITS = {"dbpedia": (0, 1, 2), "dbpedia-train": (0, 1)}
SIZES = ((0, 30), (30, 60), (60, 100), (100, 10**9))  # fine categories, by rows
LEVELS = ("fine", "l3")


def cells() -> list[Cell]:
    return [
        Cell(split, "levels", seed, {"version": VERSION})
        for split, seeds in SPLITS.items()
        for seed in seeds
    ]


def third_level(split: str) -> tuple[np.ndarray, np.ndarray]:
    """The `l3` and fine labels of each row of DBpedia's ``split``, in the file's order (the
    caller checks it is load_dataset's)."""
    from importlib.resources import as_file, files

    import pandas as pd

    with as_file(files("coarse2fine.data") / "files" / "dbpedia" / f"{split}.parquet") as path:
        raw = pd.read_parquet(path, columns=["fine", "l3"])
    return raw["l3"].to_numpy(dtype=str), raw["fine"].to_numpy(dtype=str)


def run_one(cell: Cell) -> dict[str, Any]:
    from estimate_k import alone_counts, features, package_estimate, per_class_counts
    from sources import load

    from coarse2fine import Discoverer
    from coarse2fine.cluster import discover
    from coarse2fine.metrics import clustering_scores, separable_categories

    split = "train" if cell.dataset.endswith("-train") else "test"
    data = load("dbpedia", split)
    l3, fine_again = third_level(split)
    fine = np.asarray(data.fine).astype(str)
    if not np.array_equal(fine, fine_again):
        raise SystemExit("the Parquet file's rows are not in load_dataset's order")
    labels = {"fine": fine, "l3": l3}
    coarse = np.asarray(data.coarse_ids)
    found = features(data, cell.dataset, cell.seed)
    classes = list(data.coarse_classes)
    record: dict[str, Any] = {"rows": len(data), "classes": {}, "separable": {}}
    counts = {level: np.array(per_class_counts(labels[level], coarse)) for level in LEVELS}
    for kind in ("before", "after"):
        record["separable"][kind] = {
            level: int(sum(separable_categories(found[kind], labels[level], coarse).values()))
            for level in LEVELS
        }
        est = package_estimate(data, found, kind, cell.seed)
        counts[kind] = np.array([est.k_estimate_["classes"][c]["k"] for c in classes])
    for i, c in enumerate(classes):
        record["classes"][c] = {name: int(v[i]) for name, v in counts.items()}
    rule = Discoverer()._clusterer_rule(data)
    record["cuts"] = {}
    for name in ("fine", "l3", "after"):
        total = int(counts[name].sum())
        cut = discover(
            found["after"],
            total,
            coarse=coarse,
            counts=counts[name],
            seed=cell.seed,
            clusterer=rule(total),
        ).labels
        record["cuts"][name] = {"K": total} | {
            level: {
                k: round(float(v), 2)
                for k, v in clustering_scores(labels[level], cut).items()
                if k in ("ACC", "NMI", "ARI")
            }
            for level in LEVELS
        }
        print(f"{cell.dataset} seed {cell.seed}: cut at {name} K {total}: {record['cuts'][name]}")
    record["inside"] = inside_categories(found, fine, l3, cell.seed)
    record["alone"] = alone_counts(data, found)
    types = dict(zip(np.unique(fine).tolist(), per_class_counts(l3, fine), strict=True))
    for category, row in record["alone"].items():
        row["l3"] = types[category]
    return record


def inside_categories(found, fine, l3, seed: int) -> dict[str, dict[str, float]]:
    """Each fine category's rows cut by K-Means into as many groups as it holds third-level
    types, on each space; scored against the third level (ACC, ARI x100 over all rows), beside
    one group a category (what a space with no third-level structure can do)."""
    from estimate_k import per_class_counts

    from coarse2fine.cluster import discover
    from coarse2fine.metrics import clustering_scores

    ids = np.unique(fine, return_inverse=True)[1]
    types = np.array(per_class_counts(l3, ids))
    out = {"one group": {"ACC": round(float(clustering_scores(l3, ids)["ACC"]), 2), "ARI": 0.0}}
    for kind in ("before", "after"):
        cut = discover(
            found[kind], int(types.sum()), coarse=ids, counts=types, seed=seed, clusterer="kmeans"
        ).labels
        scores = clustering_scores(l3, cut)
        out[kind] = {k: round(float(scores[k]), 2) for k in ("ACC", "ARI")}
    return out


def count(values: list[float]) -> str:
    """Counts over seeds: the number where every seed gives it, else mean ± std (one decimal)."""
    arr = np.asarray(values, dtype=float)
    if np.all(arr == arr[0]):
        return f"{arr[0]:.0f}"
    return f"{arr.mean():.1f} ± {arr.std(ddof=0):.1f}"


def report(records: list[dict[str, Any]]) -> None:
    by: dict[str, list[dict]] = {}
    for r in records:
        by.setdefault(r["dataset"], []).append(r)
    lines = [
        "## DBpedia's third level: what the count finds beyond the fine labels",
        "",
        "DBpedia's rows carry a third level of labels (`l3`) under the fine one. Per split: the",
        "categories of each level, those each space keeps apart with the labels known (before",
        "training: the untrained encoder; after: the default trained with K given), the",
        "package's estimate on each space, and the trained features cut inside their coarse",
        "classes by the default's clusterer with the fine counts, the third-level counts and the",
        "estimate's, each cut scored against both levels (ACC x100). Test split seeds 0-2, train",
        "split seeds 0-1; mean ± std over seeds.",
        "",
        "Command: `python bench/k_third_level.py`  ",
        "Machine: " + ("; ".join(sorted({r["machine"] for r in records})) or "—"),
        "",
        "| split | seeds | K fine | K third level | kept apart before: fine, third | kept apart "
        "after: fine, third | estimate before | estimate after |",
        "|---|---|---|---|---|---|---|---|",
    ]

    def total(recs, name):
        return count([float(sum(c[name] for c in r["classes"].values())) for r in recs])

    for split in SPLITS:
        recs = by.get(split, [])
        if not recs:
            continue
        kept = {
            kind: ", ".join(count([float(r["separable"][kind][lv]) for r in recs]) for lv in LEVELS)
            for kind in ("before", "after")
        }
        lines.append(
            f"| {split} | {len(recs)} | {total(recs, 'fine')} | {total(recs, 'l3')} "
            f"| {kept['before']} | {kept['after']} | {total(recs, 'before')} "
            f"| {total(recs, 'after')} |"
        )
    lines += [
        "",
        "The trained features cut with each count, scored against each level (ACC; NMI):",
        "",
        "| split | cut at | K | against fine | against third level |",
        "|---|---|---|---|---|",
    ]
    for split in SPLITS:
        recs = by.get(split, [])
        if not recs:
            continue
        for name, label in (
            ("fine", "fine counts"),
            ("l3", "third-level counts"),
            ("after", "the estimate"),
        ):
            scores = [
                "; ".join(mean_std([r["cuts"][name][lv][m] for r in recs]) for m in ("ACC", "NMI"))
                for lv in LEVELS
            ]
            lines.append(
                f"| {split} | {label} | {count([float(r['cuts'][name]['K']) for r in recs])} "
                f"| {scores[0]} | {scores[1]} |"
            )
    lines += [
        "",
        "Each fine category's rows cut by K-Means into as many groups as it holds third-level",
        "types, scored against the third level (ACC; ARI), beside one group a category:",
        "",
        "| split | one group a category | before training | after training |",
        "|---|---|---|---|",
    ]
    for split in SPLITS:
        recs = by.get(split, [])
        if not recs:
            continue
        one = f"{recs[0]['inside']['one group']['ACC']:.2f}"  # labels only: the same every seed
        spaces = [
            "; ".join(mean_std([r["inside"][kind][m] for r in recs]) for m in ("ACC", "ARI"))
            for kind in ("before", "after")
        ]
        lines.append(f"| {split} | {one} | {spaces[0]} | {spaces[1]} |")
    lines += [
        "",
        "Each fine category counted alone (bench/k_before_after.py's reading), by its rows: the",
        "categories of that size, their third-level types, and their groups before -> after",
        "training (seed 0):",
        "",
        "| split | "
        + " | ".join(f"{lo}-{hi - 1} rows" if hi < 10**9 else f"{lo}+ rows" for lo, hi in SIZES)
        + " |",
        "|---" * (len(SIZES) + 1) + "|",
    ]
    for split in SPLITS:
        for r in (r for r in by.get(split, []) if r["seed"] == 0):
            row = [split]
            for lo, hi in SIZES:
                got = [c for c in r["alone"].values() if lo <= c["rows"] < hi]
                row.append(
                    f"{len(got)}: {sum(c['l3'] for c in got)} types, "
                    f"{sum(c['before'] for c in got)} -> {sum(c['after'] for c in got)} groups"
                    if got
                    else "—"
                )
            lines.append("| " + " | ".join(row) + " |")
    lines += [
        "",
        "Per coarse class (seed 0): fine, third level, the estimate before -> after training.",
        "",
    ]
    for split in SPLITS:
        for r in (r for r in by.get(split, []) if r["seed"] == 0):
            parts = [
                f"{c} {v['fine']}/{v['l3']}: {v['before']} -> {v['after']}"
                for c, v in r["classes"].items()
            ]
            lines.append(f"- {split}: " + "; ".join(parts))
    replace_section("k_third_level", "\n".join(lines))


if __name__ == "__main__":
    main(__file__, __doc__, cells(), run_one, report, RESULTS)

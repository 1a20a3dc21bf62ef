"""Paired-by-seed differences between rows that the docs compare (A minus B, seed by seed).

Two rows trained with the same seed share their data order and initial head, so their
per-seed difference is a sharper comparison than two means with overlapping spreads. This
script trains nothing: it reads the finished result files of bench/paper_protocol.py and
bench/hwscl_study.py and writes the differences the docs quote into BENCHMARKS.md.

    python bench/paired.py
"""

from __future__ import annotations

import json

from common import ROOT, replace_section

RESULTS = ROOT / "bench" / "results"
SEEDS = [0, 1, 2]
DEFAULT = "hwscl-3ep-lr2e-6-head1e-3"
SCORES = {
    "global": lambda r: r["ACC"],
    "routed": lambda r: r.get("nested_predicted", {}).get("ACC"),
    "nested": lambda r: r["nested"]["ACC"],
}


def protocol(row: str) -> str:
    return f"paper_protocol/{{dataset}}/{row}-seed{{seed}}.json"


def study(variant: str, base: str = DEFAULT) -> str:
    return f"hwscl_study/{base}/{{dataset}}/{variant}-seed{{seed}}.json"


# (label A, pattern A, label B, pattern B, datasets); where each is quoted in the docs
PAIRS = [
    # HWSCL_MINILM.md, "Against every baseline" point 2 (the former one-epoch default)
    ("HWSCL 1 ep", protocol("hwscl-1ep-lr2e-6"), "coarse-sup 1 ep",
     protocol("coarse_supervised-1ep-lr2e-6"), ["clinc", "hwu64"]),
    ("HWSCL 1 ep", protocol("hwscl-1ep-lr2e-6"), "HCSC", protocol("hcsc"), ["clinc"]),
    # HCSC.md: HCSC + CE against coarse-supervised
    ("HCSC + CE lr 2e-6", protocol("hcsc_ce-lr2e-6"), "coarse-sup 1 ep",
     protocol("coarse_supervised-1ep-lr2e-6"), ["clinc", "hwu64"]),
    ("HCSC + CE", protocol("hcsc_ce"), "coarse-sup 1 ep",
     protocol("coarse_supervised-1ep-lr2e-6"), ["clinc", "hwu64"]),
    ("HCSC + CE 3 ep", protocol("hcsc_ce-3ep-lr2e-6-head1e-3"), "coarse-sup 3 ep",
     protocol("coarse_supervised-3ep-lr2e-6-head1e-3"), ["clinc", "hwu64"]),
    # HWSCL_MINILM.md, Table 4 at the package default, and the queue on HWU64
    *[
        ("HWSCL 3 ep", protocol(DEFAULT), f"w/o {label}", study(variant), datasets)
        for label, variant, datasets in (
            ("self-contrast", "gamma2=0.0", ["clinc"]),
            ("queues", "queue_size=0", ["clinc", "hwu64"]),
            ("weighting", "alpha_diff=1.0_alpha_m=1.0_alpha_same=1.0", ["clinc"]),
            ("shallow CE", "gamma1=0.0", ["clinc"]),
        )
    ],
    # HWSCL_MINILM.md, "The same recipe for the other methods" and "Ten epochs"
    ("HWSCL 3 ep", protocol(DEFAULT), "Ancor + CE 3 ep",
     protocol("ancor_ce-3ep-lr2e-6-head1e-3"), ["clinc", "hwu64"]),
    ("HWSCL 3 ep", protocol(DEFAULT), "HCSC + CE 3 ep",
     protocol("hcsc_ce-3ep-lr2e-6-head1e-3"), ["clinc", "hwu64"]),
    ("HWSCL 10 ep", protocol("hwscl-10ep-lr2e-6-head1e-3"), "coarse-sup 10 ep",
     protocol("coarse_supervised-10ep-lr2e-6-head1e-3"), ["clinc", "hwu64"]),
    ("HWSCL 10 ep", protocol("hwscl-10ep-lr2e-6-head1e-3"), "Ancor + CE 10 ep",
     protocol("ancor_ce-10ep-lr2e-6-head1e-3"), ["clinc", "hwu64"]),
]  # fmt: skip


def load(pattern: str, dataset: str) -> list[dict] | None:
    paths = [RESULTS / pattern.format(dataset=dataset, seed=s) for s in SEEDS]
    if not all(p.is_file() for p in paths):
        return None
    return [json.loads(p.read_text()) for p in paths]


def differences(a: list[dict], b: list[dict], score) -> str:
    pairs = [(score(x), score(y)) for x, y in zip(a, b, strict=True)]
    if any(x is None or y is None for x, y in pairs):
        return "—"
    diffs = [x - y for x, y in pairs]
    return ", ".join(f"{d:+.2f}" for d in diffs) + f" (mean {sum(diffs) / len(diffs):+.2f})"


def main() -> None:
    table = [
        "| dataset | A | B | " + " | ".join(f"{s}: A - B per seed" for s in SCORES) + " |",
        "|---|---|---|" + "---|" * len(SCORES),
    ]
    for label_a, pattern_a, label_b, pattern_b, datasets in PAIRS:
        for dataset in datasets:
            a, b = load(pattern_a, dataset), load(pattern_b, dataset)
            if a is None or b is None:
                cells = ["cells missing"] * len(SCORES)
            else:
                cells = [differences(a, b, score) for score in SCORES.values()]
            table.append(f"| {dataset} | {label_a} | {label_b} | " + " | ".join(cells) + " |")
    body = [
        "## Paired-by-seed differences quoted in the docs",
        "",
        "A minus B for seeds " + ", ".join(map(str, SEEDS)) + " (ACC x100): global K-Means on the",
        "test split, K-Means inside the coarse class the model's head predicts (routed), and",
        "inside the true coarse classes (nested). Read from the result files of",
        "`bench/paper_protocol.py` and `bench/hwscl_study.py`; nothing is trained.",
        "",
        "Command: `python bench/paired.py`",
        "",
        *table,
    ]
    replace_section("paired", "\n".join(body))


if __name__ == "__main__":
    main()

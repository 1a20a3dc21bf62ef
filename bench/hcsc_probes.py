"""How HCSC + CE should use the coarse level: one-epoch probes on HWU64 (seed 0).

Each probe trains one epoch on HWU64 train (coarse labels only) and scores the test split under
the paper protocol (global K-Means, K = 64). One JSON file per probe under
bench/results/hcsc_probes/; a rerun skips finished probes. Findings in docs/HCSC.md.

    python bench/hcsc_probes.py
"""

from __future__ import annotations

import json

from common import ROOT, protocol_record, replace_section, slug, with_loss_revision
from harness import Cell, main

RESULTS = ROOT / "bench" / "results" / "hcsc_probes"
DATASET, SEED = "hwu64", 0
BASE = {"epochs": 1, "batch_size": 64, "lr": 1e-5, "precision": "bf16", "max_length": 64}

# (label, method, training overrides, method options)
PROBES = [
    ("coarse-supervised, lr 1e-5", "coarse_supervised", {}, {}),
    ("coarse-supervised, lr 2e-6", "coarse_supervised", {"lr": 2e-6}, {}),
    ("HCSC", "hcsc", {}, {}),
    ("HCSC + CE (default: coarse_loss none)", "hcsc_ce", {}, {}),
    ("HCSC + CE, coarse_loss keep_other", "hcsc_ce", {}, {"coarse_loss": "keep_other"}),
    ("HCSC + CE, coarse_loss contrast", "hcsc_ce", {}, {"coarse_loss": "contrast"}),
    (
        "HCSC + CE, coarse_loss contrast, ce_weight 0.1",
        "hcsc_ce",
        {},
        {"coarse_loss": "contrast", "ce_weight": 0.1},
    ),
    (
        "HCSC + coarse level, contrast, no CE",
        "hcsc_ce",
        {},
        {"coarse_loss": "contrast", "ce_weight": 0.0},
    ),
    (
        "HCSC + CE, coarse_loss contrast, lr 2e-6",
        "hcsc_ce",
        {"lr": 2e-6},
        {"coarse_loss": "contrast"},
    ),
    ("HCSC + CE, lr 2e-6", "hcsc_ce", {"lr": 2e-6}, {}),
]


def settings(label: str) -> dict:
    _, method, train, options = next(p for p in PROBES if p[0] == label)
    return with_loss_revision(
        method, {"method": method, "train": {**BASE, **train}, "method_params": options}
    )


CELLS = [Cell(DATASET, slug(p[0]), SEED, settings(p[0])) for p in PROBES]


def report(records: list[dict]) -> None:
    done = {slug(r["row"]): r for r in records}  # older cells recorded the label
    lines = [
        "## HCSC + CE: how the coarse level enters training (HWU64, seed 0)",
        "",
        "One epoch on HWU64 train with coarse labels only, test split clustered by global",
        "K-Means (K = 64). `coarse_loss`: none = the coarse cross-entropy is the coarse level's",
        "only loss; keep_other = queued negatives of another coarse class always kept;",
        "contrast = the coarse level is a ProtoNCE level and selects the prototypes below it.",
        "Findings in docs/HCSC.md.",
        "",
        "Command: `python bench/hcsc_probes.py`  ",
        "Machine: " + ("; ".join(sorted({r["machine"] for r in records})) or "—"),
        "",
        "| probe | method | training | options | ACC | ARI | NMI | train s | peak MB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for label, method, train, options in PROBES:
        rec = done.get(slug(label))
        lr = f"`{json.dumps(train)}`" if train else "lr 1e-5"
        if rec is None:
            lines.append(
                f"| {label} | {method} | {lr} | `{json.dumps(options)}` | not run yet |||||"
            )
            continue
        lines.append(
            f"| {label} | {method} | {lr} | `{json.dumps(options)}` | {rec['ACC']:.2f} "
            f"| {rec['ARI']:.2f} | {rec['NMI']:.2f} | {rec['train_seconds']:.0f} "
            f"| {rec['peak_memory_mb']:.0f} |"
        )
    replace_section("hcsc_probes", "\n".join(lines))


if __name__ == "__main__":
    main(__file__, __doc__, CELLS, protocol_record, report, RESULTS)

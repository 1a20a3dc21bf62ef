"""Helpers shared by the benchmark scripts: resumable result cells, machine facts, doc sections."""

from __future__ import annotations

import json
import os
import platform
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS_MD = ROOT / "docs" / "BENCHMARKS.md"

sys.path.insert(0, str(ROOT))
from coarse2fine.io import atomic_write_text, write_json  # noqa: E402

# Methods whose losses changed numerically after cells were measured with them. A benchmark adds
# the revision to such a method's settings, so stale cells no longer match and are redone.
# 2: every loss (nt_xent, info_nce, proto_nce, FALCON's cosine classifier and its losses) runs in
# float32 with autocast off; they ran under bf16 autocast before. HWSCL's loss always had it.
LOSS_REVISION = {
    **dict.fromkeys(["simcse", "simcse_ce", "delete_one_word", "delete_one_word_ce"], 2),
    **dict.fromkeys(["hcsc", "hcsc_ce", "cd", "ancor", "ancor_ce", "falcon"], 2),
}


def with_loss_revision(method: str, settings: dict[str, Any]) -> dict[str, Any]:
    """``settings`` plus the method's loss revision when it has one (others stay unchanged)."""
    revision = LOSS_REVISION.get(method)
    return settings if revision is None else {**settings, "loss_revision": revision}


def method_row(spec: dict[str, Any], train: dict[str, Any], **version: int) -> dict[str, Any]:
    """A trained row's settings: ``version`` (the script's version key), the method, the base
    ``train`` settings under the row's own, its method options, and the loss revision."""
    return with_loss_revision(
        spec["method"],
        {
            **version,
            "method": spec["method"],
            "train": {**train, **spec["train"]},
            "method_params": spec["method_params"],
        },
    )


def machine() -> str:
    """One line describing where the numbers were measured."""
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import torch

    from coarse2fine.batching import native_bf16

    threads = torch.get_num_threads()
    # precision "auto" trains in bf16 where the CPU has it natively: other numbers, other times
    bf16 = "native bf16 (auto: bf16), " if native_bf16("cpu") else ""
    return (
        f"{cpu}, {os.cpu_count()} cores ({threads} torch threads), no GPU, {bf16}"
        f"Python {platform.python_version()}, torch {torch.__version__}"
    )


def save_cell(out: Path, record: dict[str, Any], settings: dict[str, Any], start: float) -> None:
    """Write a finished cell with what every cell records: its wall time since ``start``
    (time.perf_counter), its peak memory, the settings it ran under and the machine."""
    import time

    from coarse2fine.protocol import peak_memory_mb

    record = {
        **compact(record),
        "wall_seconds": round(time.perf_counter() - start, 1),
        "peak_memory_mb": round(peak_memory_mb(), 1),
        "settings": settings,
        "machine": machine(),
    }
    write_json(out, record)


def compact(record: dict[str, Any]) -> dict[str, Any]:
    """The record without the per-step loss curves of its training history (no table or
    figure reads them; each epoch's summary stays)."""
    if not isinstance(record.get("history"), list):
        return record
    history = [{k: v for k, v in h.items() if k != "curve"} for h in record["history"]]
    return {**record, "history": history}


def load_record(path: Path, wanted: dict[str, Any]) -> dict[str, Any] | None:
    """A finished cell, unless it was produced under other settings (then it is redone)."""
    if not path.is_file():
        return None
    record = json.loads(path.read_text())
    # the text length the cell fitted (None for vectors); absent from records that predate it
    length = record.get("max_length", NOT_RECORDED)
    if comparable(record.get("settings"), length) != comparable(wanted, length):
        return None
    return record


# Method options added after cells were measured, with the value every earlier cell ran at. A
# cell's method options are compared as they took effect: the recipe's, overridden by the row's
# own, with an option absent from both at this earlier value. So adding an option to the recipe
# voids the default's cells, but not those of a row that pins it to its earlier value, nor those
# of a row that had set it to the recipe's new value.
OPTIONS_ADDED_LATER: dict[str, Any] = {"k_share": 0.8, "mine_in": "features", "refill_bank": True}


NOT_RECORDED = "not recorded"


def comparable(settings: Any, max_length: Any = NOT_RECORDED) -> Any:
    """``settings`` as JSON stores them (tuples as lists), with a row's method options
    (``params.method_params``) merged into the recipe's options of every input kind over
    ``OPTIONS_ADDED_LATER``: the options the cell ran with. Given the text length the cell
    fitted (``max_length``; None for vectors), the training length is likewise the one that took
    effect, min(train_length, max_length), and none for vectors: a change of the default
    ``train_length`` voids only the cells whose rows run past it."""
    settings = json.loads(json.dumps(settings))
    if not isinstance(settings, dict):
        return settings
    params = settings.get("params") or {}
    defaults = settings.get("defaults") or {}
    if max_length != NOT_RECORDED and "train_length" in defaults:
        train_length = params.pop("train_length", defaults["train_length"])
        if max_length is None:  # vectors: no tokens
            train_length = None
        elif train_length is None or train_length > max_length:
            train_length = max_length
        defaults["train_length"] = train_length
    recipe = defaults.get("recipe") or {}
    if not recipe:
        return settings
    row_options = params.pop("method_params", None) or {}
    for kind in recipe.values():
        kind["options"] = {**OPTIONS_ADDED_LATER, **(kind.get("options") or {}), **row_options}
    return settings


def mean_std(values: list[float]) -> str:
    if not values:
        return "—"
    arr = np.asarray(values, dtype=float)
    return f"{arr.mean():.2f} ± {arr.std(ddof=0):.2f}"


def replace_section(name: str, body: str, path: Path = BENCHMARKS_MD) -> None:
    """Write ``body`` between this benchmark's markers in docs/BENCHMARKS.md."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    block = f"{start}\n{body.rstrip()}\n{end}"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    text = (
        pattern.sub(lambda _: block, text)
        if pattern.search(text)
        else text.rstrip() + "\n\n" + block
    )
    atomic_write_text(path, text.rstrip() + "\n")


def explicit_head_lr(train: dict[str, Any]) -> dict[str, Any]:
    """Training settings with the heads' learning rate spelled out. A row that names none trains
    its heads at the encoder's lr, as every row did before the package default gained a head_lr
    of its own (1e-3), so its recorded settings keep their meaning."""
    return {"head_lr": train["lr"], **train}


def protocol_record(cell: Any) -> dict:
    """Run one paper-protocol cell (a harness Cell whose settings name the method, its training
    and its options) and return its record."""
    from coarse2fine.protocol import paper_protocol

    wanted = cell.settings
    train = explicit_head_lr(wanted["train"])
    record = paper_protocol(
        cell.dataset,
        wanted["method"],
        cell.seed,
        epochs=train.pop("epochs"),
        method_params=wanted["method_params"],
        **train,
    )
    print(
        f"{cell.dataset} {cell.row} seed {cell.seed}: ACC {record['ACC']:.2f} "
        f"ARI {record['ARI']:.2f} NMI {record['NMI']:.2f} ({record['wall_seconds']:.0f} s)",
        flush=True,
    )
    return record


def on_saved_features(cell: Any, study: Any, *args: Any, producer: str = "bench/peers.py") -> Any:
    """``study(folder, *args)`` on the features that ``producer`` saved in the folder
    ``C2F_PEERS_FEATURES`` names; a missing folder, or a study that finds no features there
    (it returns None), stops the cell saying what to run first."""
    folder = os.environ.get("C2F_PEERS_FEATURES")
    if not folder:
        raise SystemExit("set C2F_PEERS_FEATURES to the folder bench/peers.py saved features in")
    found = study(Path(folder), *args)
    if found is None:
        raise SystemExit(
            f"no {cell.dataset} seed {cell.seed} features in {folder}: run {producer} with "
            "C2F_PEERS_FEATURES first"
        )
    return found


def slug(label: str) -> str:
    """A probe's row name (and file name) made from its label."""
    return re.sub(r"[^A-Za-z0-9.-]+", "_", label).strip("_")


# Parameters added after cells were measured, with the default that reproduces what ran before:
# left out of the settings while at that value, so adding an option does not void every cell.
ADDED_LATER: dict[str, Any] = {"train_layers": None, "checkpoint_dir": None}


# DOWN as published on texts, the options its text recipe changes (``DOWN.published_options``;
# tests/test_bench_harness.py checks they agree): what the default ran before the recipe
# changed on 2026-12-05, for the studies measured on it. A literal, so that importing this
# module stays free of torch.
DOWN_PUBLISHED: dict[str, Any] = {
    "warmup_epochs": 1,
    "bank_writer": "momentum",
    "k_share": 0.8,
    "mine_in": "features",
}


def package_defaults() -> dict[str, Any]:
    """The estimator's defaults, part of every ``discover`` cell's settings: a cell measured
    under older defaults no longer counts once they change."""
    from coarse2fine import Discoverer
    from coarse2fine.discoverer import SMALL_TEXT_CLUSTERER, SPECTRAL_MAX_ROWS
    from coarse2fine.methods import METHODS

    params = Discoverer().get_params()
    return {
        **{
            k: v
            for k, v in params.items()
            if k not in ("progress", "device", "seed") and ADDED_LATER.get(k, ...) != v
        },
        # the default method's recipe: epochs, learning rates and options per input kind
        "recipe": METHODS[params["method"]].defaults,
        # what clusterer="auto" picks for texts with small categories, and up to what size
        "auto_clusterer": {"texts": SMALL_TEXT_CLUSTERER, "max_rows": SPECTRAL_MAX_ROWS},
    }


def defaults_key() -> str:
    """A short hash of ``package_defaults``: what names a cache of the default's features, so
    that features trained under older defaults are not reused."""
    import hashlib

    return hashlib.sha1(json.dumps(package_defaults(), sort_keys=True).encode()).hexdigest()[:10]

"""Shared helpers of the dataset preparation scripts (not part of the package).

The scripts run as ``python bench/datasets/prepare_<name>.py SOURCE``; Python puts this folder on
``sys.path``, so they import this module by its bare name.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
FILES = ROOT / "coarse2fine" / "data" / "files"
PREPARED = ROOT / "bench" / "cache" / "datasets"  # sets prepared, not vendored (git-ignored)
SEED = 0
TEST_FRACTION = 0.2


def stratified_split(labels, test_fraction: float = TEST_FRACTION, seed: int = SEED):
    """Row indices (train, test), each sorted: per label, a seeded shuffle puts
    round(n * test_fraction) rows (at least 1, at most n - 1) into test."""
    labels = np.asarray(labels, dtype=object)
    by_label: dict[str, list[int]] = defaultdict(list)
    for i, label in enumerate(labels):
        by_label[str(label)].append(i)
    rng = np.random.default_rng(seed)
    test: list[int] = []
    for label in sorted(by_label):
        rows = np.asarray(by_label[label])
        if len(rows) < 2:
            raise ValueError(f"label {label!r} has {len(rows)} row; need 2 to split")
        n_test = min(max(1, round(len(rows) * test_fraction)), len(rows) - 1)
        test.extend(rng.permutation(rows)[:n_test].tolist())
    test_idx = np.sort(np.asarray(test, dtype=np.int64))
    train_idx = np.setdiff1d(np.arange(len(labels)), test_idx)
    return train_idx, test_idx


def check_hierarchy(frame: pd.DataFrame) -> None:
    """Every fine label must sit under exactly one coarse label."""
    parents = frame.groupby("fine")["coarse"].nunique()
    bad = parents[parents > 1]
    if len(bad):
        raise ValueError(f"fine labels with several coarse parents: {list(bad.index)[:5]}")


def write_splits(
    frame: pd.DataFrame, name: str, train_idx, test_idx, out: Path | None = None
) -> None:
    """Write ``files/<name>/{train,test}.parquet`` (or into ``out``; zstd, no index, no column
    statistics) and print the counts."""
    check_hierarchy(frame)
    out = FILES / name if out is None else out
    out.mkdir(parents=True, exist_ok=True)
    for split, idx in (("train", train_idx), ("test", test_idx)):
        part = frame.iloc[idx].reset_index(drop=True)
        path = out / f"{split}.parquet"
        part.to_parquet(path, index=False, compression="zstd", write_statistics=False)
        print(
            f"{path.relative_to(ROOT)}: {len(part)} rows, {part['coarse'].nunique()} coarse, "
            f"{part['fine'].nunique()} fine, {path.stat().st_size / 1e6:.2f} MB"
        )

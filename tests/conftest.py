"""Shared tiny data: two coarse classes, three fine intents each, templated utterances."""

from __future__ import annotations

import csv
import random
from pathlib import Path

import pytest
import torch

from coarse2fine.data import CoarseDataset
from coarse2fine.data.synthetic import make_hierarchical_blobs

TOPICS = {
    "bank": ["balance", "transfer", "deposit"],
    "travel": ["flight", "hotel", "visa"],
}


def tiny_rows(per_fine: int = 8, seed: int = 0) -> list[tuple[str, str, str]]:
    rng = random.Random(seed)
    rows = []
    for coarse, fines in TOPICS.items():
        for fine in fines:
            for i in range(per_fine):
                tail = rng.choice(["now", "today", "please", "quickly"])
                rows.append((f"help with my {fine} {i} {tail}", coarse, fine))
    return rows


@pytest.fixture(autouse=True)
def _few_threads():
    torch.set_num_threads(1)


@pytest.fixture
def tiny_data() -> CoarseDataset:
    rows = tiny_rows()
    return CoarseDataset(
        texts=[r[0] for r in rows], coarse=[r[1] for r in rows], fine=[r[2] for r in rows]
    )


@pytest.fixture
def tiny_csv(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["utterance", "domain", "intent"])
        writer.writerows(tiny_rows())
    return path


@pytest.fixture
def tiny_vectors() -> CoarseDataset:
    """Vectors in the same shape as tiny_data: 2 coarse classes with 3 fine classes each."""
    return make_hierarchical_blobs((3, 3), rows_per_fine=8, dim=8, seed=0)

"""Built-in benchmark datasets, vendored as package data under ``files/``.

Provenance, citations and licences are in ``files/README.md``. CLINC and HWU64 are TSV tables
without a coarse column: CLINC's coarse labels come from ``coarse.json``, HWU64's are the fine
label's prefix before "_". DBpedia (long documents), MMLU (short questions) and Zeisel (single
cells, 1,000 gene columns ``gNNNN``) are Parquet tables with ``coarse`` and ``fine`` columns.
"""

from __future__ import annotations

from contextlib import ExitStack
from importlib.resources import as_file, files
from importlib.resources.abc import Traversable

from coarse2fine.data.dataset import CoarseDataset, InputError
from coarse2fine.data.readers import read_table

BUILTIN_DATASETS = ("clinc", "hwu64", "dbpedia", "mmlu", "zeisel")
SPLITS = ("train", "test")
# Parquet datasets: name -> text column, or None for vectors (the gene columns gNNNN).
_PARQUET = {"dbpedia": "text", "mmlu": "text", "zeisel": None}


def load_dataset(name: str, split: str = "train", *, on_bad_rows: str = "rejoin") -> CoarseDataset:
    """Load a built-in dataset split with coarse and fine labels (texts, or vectors for zeisel).

    ``on_bad_rows`` matters only for HWU64 test, whose 45 rows with an unquoted tab are rejoined
    (1,076 rows, the default) or dropped as the HWSCL reference loader does (1,031 rows).
    """
    if name not in BUILTIN_DATASETS:
        raise InputError(
            f"unknown built-in dataset {name!r}; choose one of {', '.join(BUILTIN_DATASETS)} "
            f"or read your own file with read_table"
        )
    if split not in SPLITS:
        raise InputError(f"unknown split {split!r} for {name}; choose one of {', '.join(SPLITS)}")
    folder = files("coarse2fine.data") / "files" / name
    if name in _PARQUET:
        return _load_parquet(folder, name, split)
    # HWU64 test is the one file whose header names the fine label "category".
    fine_col = "category" if (name, split) == ("hwu64", "test") else "label"
    # as_file gives real paths even when the package is imported from a zip archive.
    with ExitStack() as stack:
        table = stack.enter_context(as_file(folder / f"{split}.tsv"))
        coarse_from = (
            stack.enter_context(as_file(folder / "coarse.json")) if name == "clinc" else "prefix:_"
        )
        return read_table(
            table,
            text_col="text",
            fine_col=fine_col,
            coarse_from=coarse_from,
            name=f"{name}-{split}",
            on_bad_rows=on_bad_rows,
        )


def _load_parquet(folder: Traversable, name: str, split: str) -> CoarseDataset:
    """A Parquet split with ``coarse`` and ``fine`` columns: texts, or the ``gNNNN`` genes."""
    text_col = _PARQUET[name]
    with as_file(folder / f"{split}.parquet") as table:
        return read_table(
            table,
            text_col=text_col,
            vector_cols=None if text_col else ["g[0-9]*"],
            coarse_col="coarse",
            fine_col="fine",
            name=f"{name}-{split}",
        )

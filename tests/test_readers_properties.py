"""Property-based tests of the readers and CoarseDataset: for arbitrary cells (any unicode,
quotes, delimiters, line breaks, empty and huge cells, mixed types) a reader either returns
exactly the rows written or raises InputError; never another exception, never other rows."""

from __future__ import annotations

import csv
import json
import math
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coarse2fine.data import CoarseDataset, InputError, read_table

ANY_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=30)
TRICKY = st.sampled_from(['"', ",", "\t", "\n", "\r\n", "\r", " ", "NA", "None", "nan", "\ufeff"])
CELL = st.one_of(
    ANY_TEXT,
    st.lists(st.one_of(ANY_TEXT, TRICKY), max_size=6).map("".join),
    st.just("x" * 100_000),  # a huge cell
)
ROWS = st.lists(st.tuples(CELL, CELL), min_size=1, max_size=6)
SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _expected(rows: list[tuple[str, str]]) -> tuple[list[str], list[str]] | None:
    """What a reader must return: texts as written, labels stripped; None where a blank text
    or label must be refused."""
    if any(not t.strip() or not c.strip() for t, c in rows):
        return None
    return [t for t, _ in rows], [c.strip() for _, c in rows]


def _check(path: Path, rows: list[tuple[str, str]]) -> None:
    want = _expected(rows)
    try:
        data = read_table(path, text_col="text", coarse_col="coarse")
    except InputError:
        return  # refused with a message: allowed for any input (the property is "no other")
    assert want is not None, "a blank text or label was accepted"
    assert data.texts == want[0]
    assert data.coarse.tolist() == want[1]
    assert data.row_ids.tolist() == sorted(data.row_ids.tolist())


@SETTINGS
@given(rows=ROWS, delimiter=st.sampled_from([",", "\t"]))
def test_delimited_files_round_trip_or_refuse(rows, delimiter):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / ("rows.csv" if delimiter == "," else "rows.tsv")
        with path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh, delimiter=delimiter)
            writer.writerow(["text", "coarse"])
            writer.writerows(rows)
        _check(path, rows)


@SETTINGS
@given(rows=ROWS)
def test_jsonl_round_trips_or_refuses(rows):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "rows.jsonl"
        lines = [json.dumps({"text": t, "coarse": c}, ensure_ascii=False) for t, c in rows]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        _check(path, rows)


@settings(max_examples=40, deadline=None)
@given(rows=ROWS)
def test_parquet_round_trips_or_refuses(rows):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "rows.parquet"
        pd.DataFrame(rows, columns=["text", "coarse"]).to_parquet(path)
        _check(path, rows)


MIXED = st.one_of(
    ANY_TEXT,
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.none(),
    st.lists(st.integers(), max_size=2),
)


@SETTINGS
@given(texts=st.lists(MIXED, min_size=1, max_size=6), labels=st.lists(MIXED, min_size=1))
def test_coarse_dataset_keeps_texts_and_labels_or_refuses(texts, labels):
    labels = labels[: len(texts)] + [labels[0]] * (len(texts) - len(labels))
    try:
        data = CoarseDataset(texts=texts, coarse=labels)
    except InputError:
        return
    assert data.texts == texts  # every text a non-blank string, kept as it is
    assert all(isinstance(t, str) and t.strip() for t in texts)
    for got, label in zip(data.coarse.tolist(), labels, strict=True):
        assert label is not None and not (isinstance(label, float) and math.isnan(label))
        assert got == str(label)


@SETTINGS
@given(
    values=st.lists(
        st.floats(allow_nan=True, allow_infinity=True, width=64), min_size=4, max_size=12
    )
)
def test_coarse_dataset_vectors_are_float32_exactly_or_refused(values):
    matrix = np.asarray(values[: len(values) // 2 * 2], dtype=np.float64).reshape(-1, 2)
    try:
        data = CoarseDataset(vectors=matrix, coarse=["a"] * len(matrix))
    except InputError as err:
        assert "NaN or inf" in str(err) or "beyond float32's range" in str(err)
        return
    assert np.isfinite(data.vectors).all()
    assert np.array_equal(data.vectors, matrix.astype(np.float32))

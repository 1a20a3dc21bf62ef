"""Read labelled tables (CSV, TSV, JSONL, Parquet) and .npy matrices into a CoarseDataset.

Every problem with the input raises ``InputError`` with one line that names the file, the column
and the 1-based data row (the first row after the header is row 1) and says what to do, so a user
can fix the file without reading a traceback.
"""

from __future__ import annotations

import csv
import json
import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from coarse2fine.data.dataset import CoarseDataset, InputError, is_missing

PathLike = str | os.PathLike[str]

TABLE_SUFFIXES = (".csv", ".tsv", ".jsonl", ".parquet")
BAD_ROW_RULES = ("rejoin", "drop", "error")
_DELIMITERS = {".csv": (",", "comma"), ".tsv": ("\t", "tab")}
_MAX_SHOWN = 10


def read_table(
    path: PathLike,
    *,
    text_col: str | None = None,
    coarse_col: str | None = None,
    fine_col: str | None = None,
    coarse_from: PathLike | None = None,
    vector_cols: list[str] | None = None,
    name: str | None = None,
    on_bad_rows: str = "rejoin",
    coarse_required: bool = True,
) -> CoarseDataset:
    """Read a .csv, .tsv, .jsonl or .parquet table into a CoarseDataset.

    Input is ``text_col`` (texts) or ``vector_cols`` (numeric columns), exactly one. Coarse labels
    come from ``coarse_col`` or are derived from ``fine_col`` by ``coarse_from``, exactly one:
    ``"prefix:SEP"`` takes the fine label's part before the first SEP, any other value is the path
    of a JSON object mapping fine label -> coarse label.

    ``on_bad_rows`` handles CSV/TSV rows with more fields than a two-column (text + label) header,
    i.e. an unquoted delimiter inside the text: ``"rejoin"`` joins the extra fields back into the
    text, ``"drop"`` skips the row, ``"error"`` refuses the file. Both non-error rules warn once.

    ``coarse_required=False`` reads rows to predict: with neither coarse source given, every row
    gets the placeholder coarse label ``"?"``.
    """
    table = _Table(
        path, text_col, coarse_col, fine_col, coarse_from, vector_cols, name, coarse_required
    )
    [(frame, row_ids)] = table.frames(on_bad_rows, chunk_rows=None)  # one piece: the whole
    return table.dataset(frame, row_ids)


def iter_table(
    path: PathLike,
    *,
    chunk_rows: int,
    text_col: str | None = None,
    coarse_col: str | None = None,
    fine_col: str | None = None,
    coarse_from: PathLike | None = None,
    vector_cols: list[str] | None = None,
    name: str | None = None,
    on_bad_rows: str = "rejoin",
    coarse_required: bool = True,
) -> Iterator[CoarseDataset]:
    """``read_table`` in pieces of at most ``chunk_rows`` rows, for files larger than memory:
    each piece is checked as ``read_table`` checks the whole (its rows keep their numbers in the
    file), and only one piece is held at a time."""
    if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, int) or chunk_rows < 1:
        raise InputError(f"chunk_rows must be a whole number >= 1, got {chunk_rows!r}")
    table = _Table(
        path, text_col, coarse_col, fine_col, coarse_from, vector_cols, name, coarse_required
    )
    for frame, row_ids in table.frames(on_bad_rows, chunk_rows):
        yield table.dataset(frame, row_ids)


class _Table:
    """A table file with the columns to read: checked once, then read as frames."""

    def __init__(
        self, path, text_col, coarse_col, fine_col, coarse_from, vector_cols, name, coarse_required
    ) -> None:
        if (text_col is None) == (vector_cols is None):
            raise InputError(
                "give exactly one of text_col (a text column) or vector_cols (numeric columns)"
            )
        if vector_cols is not None and not vector_cols:
            raise InputError(
                "vector_cols is empty; list the numeric columns that make up each vector"
            )
        self.unlabelled = not coarse_required and coarse_col is None and coarse_from is None
        if (coarse_col is None) == (coarse_from is None) and not self.unlabelled:
            raise InputError(
                "give exactly one of coarse_col (a column of coarse labels) or coarse_from "
                "('prefix:SEP' or a JSON file mapping fine label -> coarse label)"
            )
        if coarse_from is not None and fine_col is None:
            raise InputError(
                "coarse_from derives coarse labels from the fine labels; give fine_col too"
            )
        self.derive = None if coarse_from is None else _coarse_rule(coarse_from)
        self.path = path = Path(path)
        self.where = where = str(path)
        self.suffix = suffix = path.suffix.lower()
        if suffix == ".npy":
            raise InputError(
                f"{where}: a .npy file holds only a matrix; use read_npy(path, coarse_labels)"
            )
        if suffix not in TABLE_SUFFIXES:
            raise InputError(
                f"{where}: unsupported file type {suffix or '(no suffix)'!r}; supported: "
                f"{', '.join(TABLE_SUFFIXES)} (and .npy through read_npy)"
            )
        _check_file(path)
        if vector_cols is not None and any(_is_pattern(c) for c in vector_cols):
            labels = {c for c in (coarse_col, fine_col) if c is not None}
            vector_cols = _expand_columns(vector_cols, _header(path, suffix), labels, where)
        self.text_col, self.coarse_col, self.fine_col = text_col, coarse_col, fine_col
        self.vector_cols, self.name = vector_cols, name
        self.needed = [
            c for c in (text_col, coarse_col, fine_col, *(vector_cols or [])) if c is not None
        ]

    def frames(self, on_bad_rows: str, chunk_rows: int | None) -> Iterator[tuple]:
        """(frame, row ids) pieces of at most ``chunk_rows`` rows (None: one piece)."""
        if on_bad_rows not in BAD_ROW_RULES:
            raise InputError(
                f"on_bad_rows={on_bad_rows!r}; choose one of {', '.join(BAD_ROW_RULES)}"
            )
        if self.suffix in _DELIMITERS:
            return _read_delimited(
                self.path, self.suffix, self.needed, self.text_col, on_bad_rows, chunk_rows
            )
        if self.suffix == ".jsonl":
            return _read_jsonl(self.path, self.needed, chunk_rows)
        return _read_parquet(self.path, self.needed, chunk_rows)

    def dataset(self, frame: pd.DataFrame, row_ids: np.ndarray) -> CoarseDataset:
        where, text_col, fine_col = self.where, self.text_col, self.fine_col
        texts = vectors = None
        if text_col is not None:
            _require_strings(frame[text_col], row_ids, where, text_col)
            texts = _cells(frame[text_col])
            _require(
                texts,
                row_ids,
                f"{where}: empty text in column {text_col!r}",
                "remove those rows or fill in the text",
            )
        else:
            vectors = _vectors(frame, self.vector_cols, row_ids, where)
        fine = None if fine_col is None else _labels(frame, fine_col, row_ids, where, "fine")
        if self.unlabelled:
            coarse = ["?"] * len(row_ids)
        elif self.coarse_col is not None:
            coarse = _labels(frame, self.coarse_col, row_ids, where, "coarse")
        else:
            coarse = _derive_coarse(fine, self.derive, row_ids, where, fine_col)
        return CoarseDataset(
            coarse=coarse,
            texts=texts,
            vectors=vectors,
            fine=fine,
            row_ids=row_ids,
            name=self.name or self.path.stem,
            feature_names=None if vectors is None else list(self.vector_cols),
        )


def read_npy(
    path: PathLike,
    coarse_labels: Sequence,
    fine_labels: Sequence | None = None,
    name: str | None = None,
) -> CoarseDataset:
    """Read a 2-D numeric .npy matrix (one row per item); labels are given in row order."""
    path = Path(path)
    where = str(path)
    _check_file(path)
    try:
        matrix = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise InputError(
            f"{where}: cannot read as a numeric .npy matrix ({err}); save it with numpy.save"
        ) from None
    if matrix.ndim != 2 or not np.issubdtype(matrix.dtype, np.number) or len(matrix) == 0:
        raise InputError(
            f"{where}: expected a non-empty 2-D numeric matrix (rows x features), "
            f"got shape {matrix.shape} and dtype {matrix.dtype}"
        )
    row_ids = np.arange(1, len(matrix) + 1)
    labels = {"coarse": coarse_labels, "fine": fine_labels}
    for what, values in labels.items():
        if values is None:
            continue
        values = [v.strip() for v in _cells(values)]
        if len(values) != len(matrix):
            raise InputError(
                f"{where}: {len(matrix)} matrix rows but {len(values)} {what} labels; "
                f"give one label per row"
            )
        _require(
            values, row_ids, f"{where}: empty {what} label", "fill in a label or drop those rows"
        )
        labels[what] = values
    bad = row_ids[~np.isfinite(matrix).all(axis=1)]
    if len(bad):
        raise InputError(
            f"{where}: NaN or inf values at {_rows_text(bad)}; drop or impute those rows"
        )
    return CoarseDataset(
        coarse=labels["coarse"],
        vectors=matrix,
        fine=labels["fine"],
        row_ids=row_ids,
        name=name or path.stem,
    )


def _check_file(path: Path) -> None:
    """Refuse a missing path or a directory before any reader sees it."""
    if not path.exists():
        raise InputError(
            f"{path}: no such file; check the path (relative paths start at {Path.cwd()})"
        )
    if not path.is_file():
        raise InputError(f"{path}: is a directory, not a file; give the path of the data file")


def _check_columns(where: str, available: Sequence, needed: Sequence[str]) -> None:
    """Refuse missing or repeated columns, listing what the file has."""
    available = list(available)
    missing = [c for c in dict.fromkeys(needed) if c not in available]
    if missing:
        raise InputError(
            f"{where}: no column {', '.join(map(repr, missing))}; available columns: "
            f"{', '.join(map(repr, available))}; pass one of those names"
        )
    repeated = [c for c in dict.fromkeys(needed) if available.count(c) > 1]
    if repeated:
        raise InputError(f"{where}: the header repeats column {repeated[0]!r}; rename one of them")


def _read_delimited(
    path: Path,
    suffix: str,
    needed: list[str],
    text_col: str | None,
    on_bad_rows: str,
    chunk_rows: int | None = None,
) -> Iterator[tuple[pd.DataFrame, np.ndarray]]:
    """Split CSV/TSV records with the csv module (default ``"`` quoting) into frames of at most
    ``chunk_rows`` rows (None: one frame)."""
    delim, delim_name = _DELIMITERS[suffix]
    where = str(path)
    rows, row_ids, odd = [], [], []
    number = seen = 0
    header: list[str] = []
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            records = csv.reader(fh, delimiter=delim)
            header = next((rec for rec in records if rec), None)
            if header is None:
                raise InputError(
                    f"{where}: the file is empty; expected a header line and data rows"
                )
            _check_columns(where, header, needed)
            width = len(header)
            # Only a text + label file can be repaired: the extra fields must belong to the text.
            text_pos = header.index(text_col) if width == 2 and text_col in header else None
            for number, rec in enumerate(records, start=1):
                if not rec:
                    continue
                if chunk_rows is not None and len(rows) >= chunk_rows:
                    yield pd.DataFrame(rows, columns=header, dtype=object), np.asarray(row_ids)
                    seen += len(rows)
                    rows, row_ids = [], []
                if len(rec) == width:
                    rows.append(rec)
                    row_ids.append(number)
                elif len(rec) < width or text_pos is None:
                    raise InputError(
                        f"{where}: row {number} has {len(rec)} {delim_name}-separated fields but "
                        f"the header has {width}; fix that row (quote any field that contains "
                        f"a {delim_name} and close every opening quote)"
                    )
                elif on_bad_rows == "error":
                    raise InputError(
                        f"{where}: row {number} has {len(rec)} {delim_name}-separated fields but "
                        f"the header has 2 (an unquoted {delim_name} in the text?); quote that "
                        f"field, or pass on_bad_rows='rejoin' (join the extra fields into the "
                        f"text) or 'drop'"
                    )
                else:
                    odd.append(number)
                    if on_bad_rows == "rejoin":
                        if text_pos == 0:
                            rows.append([delim.join(rec[:-1]), rec[-1]])
                        else:
                            rows.append([rec[0], delim.join(rec[1:])])
                        row_ids.append(number)
    except csv.Error as err:
        raise InputError(f"{where}: cannot parse row {number + 1} ({err}); fix that row") from None
    except UnicodeDecodeError:
        raise _not_utf8(path) from None
    if not rows and not seen:
        dropped = f" left after dropping {len(odd)} malformed rows" if odd else ""
        raise InputError(
            f"{where}: no data rows{dropped}; the file needs a header line and at least one row"
        )
    if odd:
        done = (
            f"joined the extra fields into the text with a {delim_name}"
            if on_bad_rows == "rejoin"
            else "dropped them, as the HWSCL reference loader does"
        )
        warnings.warn(
            f"{where}: {len(odd)} rows have more than 2 {delim_name}-separated fields (an unquoted "
            f"{delim_name} in the text; {_rows_text(odd)}); on_bad_rows={on_bad_rows!r} {done}; "
            f"pass on_bad_rows='error' to refuse such rows",
            UserWarning,
            stacklevel=3,
        )
    if rows:
        yield pd.DataFrame(rows, columns=header, dtype=object), np.asarray(row_ids, np.int64)


def _read_jsonl(
    path: Path, needed: list[str], chunk_rows: int | None = None
) -> Iterator[tuple[pd.DataFrame, np.ndarray]]:
    """One JSON object per line; blank lines are skipped, row numbers are line numbers; frames
    of at most ``chunk_rows`` rows (None: one frame)."""
    where = str(path)
    records, row_ids = [], []
    number = seen = 0
    try:
        with open(path, encoding="utf-8-sig") as fh:
            for number, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                if chunk_rows is not None and len(records) >= chunk_rows:
                    yield _json_frame(where, records, needed), np.asarray(row_ids, np.int64)
                    seen += len(records)
                    records, row_ids = [], []
                record = json.loads(line)
                if not isinstance(record, dict):
                    raise InputError(
                        f"{where}: row {number} is a JSON {type(record).__name__}, not an object; "
                        f"write one JSON object per line"
                    )
                records.append(record)
                row_ids.append(number)
    except json.JSONDecodeError as err:
        raise InputError(
            f"{where}: row {number} is not valid JSON ({err.msg}); write one JSON object per line"
        ) from None
    except UnicodeDecodeError:
        raise _not_utf8(path) from None
    if not records and not seen:
        raise InputError(f"{where}: the file has no rows; write one JSON object per line")
    if records:
        yield _json_frame(where, records, needed), np.asarray(row_ids, np.int64)


def _json_frame(where: str, records: list[dict], needed: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame(records, dtype=object)
    _check_columns(where, frame.columns, needed)
    return frame


def _is_pattern(column: str) -> bool:
    return any(ch in column for ch in "*?[")


def _header(path: Path, suffix: str) -> list[str]:
    """The table's column names, read without loading the rows."""
    try:
        if suffix in _DELIMITERS:
            with path.open(encoding="utf-8", newline="") as fh:
                return next(csv.reader(fh, delimiter=_DELIMITERS[suffix][0]), [])
        if suffix == ".jsonl":
            with path.open(encoding="utf-8") as fh:
                first = next((line for line in fh if line.strip()), "{}")
            return list(json.loads(first))
        import pyarrow.parquet as pq

        return list(pq.read_schema(path).names)
    except (OSError, ValueError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: cannot read the column names ({err})") from None


def _expand_columns(
    patterns: Sequence[str], header: Sequence[str], labels: set[str], where: str
) -> list[str]:
    """Vector columns given as shell-style patterns ("gene_*", "x?") -> the matching columns,
    in file order, label columns excluded; a pattern that matches nothing is an error."""
    from fnmatch import fnmatchcase

    chosen: list[str] = []
    for pattern in patterns:
        if not _is_pattern(pattern):
            chosen.append(pattern)
            continue
        hits = [c for c in header if fnmatchcase(c, pattern) and c not in labels]
        if not hits:
            raise InputError(
                f"{where}: no column matches {pattern!r} (columns: {', '.join(header[:20])}"
                f"{', ...' if len(header) > 20 else ''})"
            )
        chosen += [c for c in hits if c not in chosen]
    return chosen


def _read_parquet(
    path: Path, needed: list[str], chunk_rows: int | None = None
) -> Iterator[tuple[pd.DataFrame, np.ndarray]]:
    """Parquet keeps its column types; labels are turned into strings later, missing ones to "".
    Frames of at most ``chunk_rows`` rows (None: one frame), read batch by batch."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    where = str(path)
    try:
        source = pq.ParquetFile(path)
    except (OSError, ValueError, pa.ArrowException) as err:
        raise InputError(
            f"{where}: cannot read as Parquet ({err}); check that it is a Parquet table"
        ) from None
    _check_columns(where, source.schema_arrow.names, needed)
    if source.metadata.num_rows == 0:
        raise InputError(f"{where}: the table has no rows")
    if chunk_rows is None:
        frame = source.read(columns=list(dict.fromkeys(needed))).to_pandas()
        yield frame, np.arange(1, len(frame) + 1)
        return
    start = 1
    for batch in source.iter_batches(batch_size=chunk_rows, columns=list(dict.fromkeys(needed))):
        frame = batch.to_pandas()
        yield frame, np.arange(start, start + len(frame))
        start += len(frame)


def _not_utf8(path: Path) -> InputError:
    """Name the line of the first undecodable byte (text readers decode in chunks and cannot)."""
    data = path.read_bytes()
    try:
        data.decode("utf-8")
        at = ""
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        at = f" at line {line}"
    return InputError(f"{path}: the file is not valid UTF-8{at}; save it as UTF-8")


def _cells(values: Sequence | pd.Series) -> list[str]:
    """Cells as strings; a missing cell (None, NaN, NA) becomes "", the string "NA" stays."""
    return ["" if is_missing(v) else str(v) for v in values]


def _rows_text(rows: Sequence[int]) -> str:
    """'row 3' or 'rows 3, 7, ...' naming at most ten rows, with the total when cut short."""
    rows = [int(r) for r in rows]
    if len(rows) == 1:
        return f"row {rows[0]}"
    shown = ", ".join(str(r) for r in rows[:_MAX_SHOWN])
    return f"rows {shown}" + (f", ... ({len(rows)} rows)" if len(rows) > _MAX_SHOWN else "")


def _require_strings(values: pd.Series, row_ids: np.ndarray, where: str, col: str) -> None:
    """A text column holds text: numbers or lists (Parquet, JSONL keep their types) are refused
    by row rather than turned into strings."""
    bad = [i for i, v in enumerate(values) if not is_missing(v) and not isinstance(v, str)]
    if bad:
        value = values.iloc[bad[0]]
        raise InputError(
            f"{where}: column {col!r} at row {row_ids[bad[0]]} holds {type(value).__name__} "
            f"{str(value):.60}, not text (non-text cells at {_rows_text(row_ids[bad])}); "
            f"--text-col names a column of texts: convert it or choose another column"
        )


def _require(values: list[str], row_ids: np.ndarray, problem: str, fix: str) -> None:
    """Refuse blank values, naming their rows."""
    bad = [r for r, v in zip(row_ids, values, strict=True) if not v.strip()]
    if bad:
        raise InputError(f"{problem} at {_rows_text(bad)}; {fix}")


def _labels(frame: pd.DataFrame, col: str, row_ids: np.ndarray, where: str, what: str) -> list[str]:
    """A label column as stripped strings; blank labels are refused by row."""
    labels = [v.strip() for v in _cells(frame[col])]
    _require(
        labels,
        row_ids,
        f"{where}: empty {what} label in column {col!r}",
        "fill in a label or remove those rows",
    )
    return labels


def _vectors(frame: pd.DataFrame, cols: list[str], row_ids: np.ndarray, where: str) -> np.ndarray:
    """Numeric columns as a matrix; a non-numeric, empty, NaN or inf cell is refused by row."""
    matrix = np.column_stack(
        [
            pd.to_numeric(frame[c], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
            for c in cols
        ]
    )
    with np.errstate(invalid="ignore"):
        huge = np.isfinite(matrix) & (np.abs(matrix) > np.finfo(np.float32).max)
    if huge.any():
        i, j = np.argwhere(huge)[0]
        raise InputError(
            f"{where}: column {cols[j]!r} at row {row_ids[i]} holds {matrix[i, j]:.6g}, beyond "
            f"float32's range (±3.4e+38; such values at {_rows_text(row_ids[huge.any(axis=1)])});"
            f" rescale the column"
        )
    bad = ~np.isfinite(matrix)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        value = frame[cols[j]].iloc[i]
        shown = "an empty cell" if is_missing(value) or str(value).strip() == "" else repr(value)
        raise InputError(
            f"{where}: column {cols[j]!r} at row {row_ids[i]} holds {shown}, not a finite number "
            f"(bad values at {_rows_text(row_ids[bad.any(axis=1)])}); vector columns must hold "
            f"numbers only: fix or drop those rows"
        )
    return matrix


def _coarse_rule(coarse_from: PathLike) -> tuple[Callable[[str], str], str]:
    """Parse ``coarse_from`` into fine -> coarse ("" when underivable) and the fix to suggest."""
    rule = os.fspath(coarse_from)
    if rule.startswith("prefix:"):
        sep = rule[len("prefix:") :]
        if not sep:
            raise InputError(
                "coarse_from='prefix:' needs a separator after the colon, e.g. 'prefix:_'"
            )
        fix = (
            f"it has no text before a {sep!r}; use fine labels of the form COARSE{sep}FINE "
            f"or give coarse_col"
        )
        return (lambda fine: fine.split(sep, 1)[0].strip() if sep in fine else ""), fix
    path = Path(rule)
    if not path.is_file():
        raise InputError(
            f"coarse_from={rule!r} is neither 'prefix:SEP' nor an existing file; give e.g. "
            f"'prefix:_' or the path of a JSON object mapping fine label -> coarse label"
        )
    try:
        mapping = json.loads(path.read_text(encoding="utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(
            f"{rule}: not valid UTF-8 JSON ({err}); give a JSON object of "
            f"fine label -> coarse label"
        ) from None
    if not isinstance(mapping, dict) or not all(
        isinstance(v, str) and v.strip() for v in mapping.values()
    ):
        raise InputError(
            f"{rule}: expected a JSON object mapping each fine label to a non-empty "
            f"coarse label string"
        )
    mapping = {str(k).strip(): v.strip() for k, v in mapping.items()}
    fix = f"it is missing from the mapping {rule}; add it there"
    return (lambda fine: mapping.get(fine, "")), fix


def _derive_coarse(
    fine: list[str],
    rule: tuple[Callable[[str], str], str],
    row_ids: np.ndarray,
    where: str,
    fine_col: str,
) -> list[str]:
    """Coarse labels from fine ones, refusing (by label and row) any the rule cannot map."""
    derive, fix = rule
    coarse = [derive(f) for f in fine]
    bad = [i for i, c in enumerate(coarse) if not c]
    if bad:
        also = f" ({len(bad)} rows in all: {_rows_text(row_ids[bad])})" if len(bad) > 1 else ""
        raise InputError(
            f"{where}: cannot derive a coarse label from fine label {fine[bad[0]]!r} in column "
            f"{fine_col!r} at row {row_ids[bad[0]]}{also}: {fix}"
        )
    return coarse

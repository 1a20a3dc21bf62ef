"""Tests for coarse2fine.data: built-in datasets, table readers and their error messages."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from coarse2fine.data import (
    BUILTIN_DATASETS,
    CoarseDataset,
    InputError,
    load_dataset,
    read_npy,
    read_table,
)

SHARED = Path("/work/shared/data")
PACKAGE_FILES = Path(__file__).resolve().parents[1] / "coarse2fine" / "data" / "files"


def _load_quietly(name: str, split: str, **kwargs) -> CoarseDataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return load_dataset(name, split, **kwargs)


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# --- built-in datasets ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "split", "rows", "n_fine", "n_coarse"),
    [
        ("clinc", "train", 18000, 150, 10),
        ("clinc", "test", 2250, 150, 10),
        ("hwu64", "train", 8954, 64, 18),
        ("hwu64", "test", 1076, 64, 18),
    ],
)
def test_builtin_counts(name, split, rows, n_fine, n_coarse):
    data = _load_quietly(name, split)
    assert (len(data), data.n_fine, data.n_coarse) == (rows, n_fine, n_coarse)
    assert data.is_text and data.name == f"{name}-{split}"
    assert data.row_ids[0] == 1


@pytest.mark.parametrize(
    ("name", "split", "rows", "n_fine", "n_coarse"),
    [
        ("dbpedia", "train", 3960, 59, 8),
        ("dbpedia", "test", 984, 59, 8),
        ("mmlu", "train", 12509, 57, 4),
        ("mmlu", "test", 3131, 57, 4),
        ("zeisel", "train", 2256, 47, 7),
        ("zeisel", "test", 560, 47, 7),
    ],
)
def test_parquet_builtin_counts(name, split, rows, n_fine, n_coarse):
    data = load_dataset(name, split)
    assert (len(data), data.n_fine, data.n_coarse) == (rows, n_fine, n_coarse)
    assert data.is_text == (name != "zeisel") and data.name == f"{name}-{split}"
    assert data.row_ids.tolist() == list(range(1, rows + 1))


@pytest.mark.parametrize("name", BUILTIN_DATASETS)
def test_builtin_fine_labels_have_one_coarse_parent(name):
    parents: dict[str, set[str]] = {}
    for split in ("train", "test"):
        data = _load_quietly(name, split)
        for fine, coarse in zip(data.fine, data.coarse, strict=True):
            parents.setdefault(fine, set()).add(coarse)
    assert all(len(p) == 1 for p in parents.values())


@pytest.mark.parametrize(
    ("name", "fine", "coarse", "fine_per_coarse"),
    [
        ("dbpedia", "Athlete", "Agent", {"Agent": 23, "Place": 15, "TopicalConcept": 1}),
        ("mmlu", "abstract_algebra", "STEM", {"STEM": 18, "humanities": 13}),
        ("zeisel", "Int1", "interneurons", {"interneurons": 16, "pyramidal SS": 8}),
    ],
)
def test_parquet_builtin_hierarchy(name, fine, coarse, fine_per_coarse):
    data = load_dataset(name, "train")
    assert set(data.coarse[data.fine == fine]) == {coarse}
    for parent, count in fine_per_coarse.items():
        assert len(set(data.fine[data.coarse == parent])) == count


@pytest.mark.parametrize("name", ["dbpedia", "mmlu"])
def test_text_builtin_splits_share_no_text(name):
    train, test = load_dataset(name, "train"), load_dataset(name, "test")
    assert set(train.texts).isdisjoint(test.texts)
    assert len(set(train.texts)) == len(train) and all(t.strip() for t in train.texts)


def test_zeisel_vectors():
    data = load_dataset("zeisel", "test")
    assert data.vectors.shape == (560, 1000) and data.vectors.dtype == np.float32
    assert data.feature_names[0] == "g0001" and all(
        f[0] == "g" and len(f) == 5 for f in data.feature_names
    )
    counts = np.expm1(data.vectors.astype(np.float64))  # the values are log(1 + UMI count)
    assert data.vectors.min() == 0.0 and np.allclose(counts, np.round(counts), atol=0.01)
    assert "(none)" not in data.fine_classes


def test_builtin_coarse_rules():
    clinc = load_dataset("clinc", "train")
    mapping = json.loads((PACKAGE_FILES / "clinc" / "coarse.json").read_text(encoding="utf-8"))
    assert all(mapping[f] == c for f, c in zip(clinc.fine, clinc.coarse, strict=True))
    hwu = load_dataset("hwu64", "train")
    assert all(f.split("_", 1)[0] == c for f, c in zip(hwu.fine, hwu.coarse, strict=True))
    assert "alarm" in hwu.coarse_classes and "qa" in hwu.coarse_classes


def test_builtin_train_and_test_share_fine_labels():
    for name in BUILTIN_DATASETS:
        train, test = _load_quietly(name, "train"), _load_quietly(name, "test")
        assert train.fine_classes == test.fine_classes


def test_hwu64_train_quoted_tabs_parse_to_two_fields():
    train = load_dataset("hwu64", "train")  # no warning: the tabs are quoted
    assert sum("\t" in t for t in train.texts) == 308


def test_hwu64_test_rejoin_vs_drop():
    with pytest.warns(UserWarning, match=r"45 rows .*on_bad_rows='rejoin'") as record:
        rejoined = load_dataset("hwu64", "test")
    assert len(record) == 1
    with pytest.warns(UserWarning, match=r"45 rows .*on_bad_rows='drop'"):
        dropped = load_dataset("hwu64", "test", on_bad_rows="drop")
    assert (len(rejoined), len(dropped)) == (1076, 1031)
    fixed = [i for i, t in enumerate(rejoined.texts) if "\t" in t]
    assert len(fixed) == 45
    valid = set(_load_quietly("hwu64", "train").fine_classes)
    assert {rejoined.fine[i] for i in fixed} <= valid
    assert set(rejoined.row_ids[fixed]).isdisjoint(dropped.row_ids)
    first = fixed[0]
    assert rejoined.coarse[first] == rejoined.fine[first].split("_")[0]


def test_hwu64_test_error_mode_names_first_row():
    rejoined = _load_quietly("hwu64", "test")
    first = next(r for r, t in zip(rejoined.row_ids, rejoined.texts, strict=True) if "\t" in t)
    with pytest.raises(InputError, match=rf"test\.tsv: row {first} has \d tab-separated fields"):
        load_dataset("hwu64", "test", on_bad_rows="error")


@pytest.mark.parametrize(("name", "split"), [("snips", "train"), ("clinc", "dev")])
def test_builtin_unknown_name_or_split(name, split):
    with pytest.raises(InputError, match="choose one of"):
        load_dataset(name, split)


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared data folder not available")
@pytest.mark.parametrize(
    "rel",
    ["clinc/train.tsv", "clinc/test.tsv", "clinc/coarse.json", "hwu64/train.tsv", "hwu64/test.tsv"],
)
def test_vendored_files_are_byte_identical(rel):
    assert (PACKAGE_FILES / rel).read_bytes() == (SHARED / rel).read_bytes()


# --- coarse derivation -----------------------------------------------------------------------


def test_coarse_from_prefix(tmp_path):
    path = _write(tmp_path / "t.tsv", "text\tlabel\nwake me\talarm_set\nplay it\tmusic_play\n")
    data = read_table(path, text_col="text", fine_col="label", coarse_from="prefix:_")
    assert data.coarse.tolist() == ["alarm", "music"]
    assert data.fine.tolist() == ["alarm_set", "music_play"]


def test_coarse_from_prefix_without_separator(tmp_path):
    path = _write(tmp_path / "t.tsv", "text\tlabel\na\talarm_set\nb\tmusic_play\nc\tweather\n")
    with pytest.raises(InputError, match=r"t\.tsv.*'weather'.*column 'label' at row 3"):
        read_table(path, text_col="text", fine_col="label", coarse_from="prefix:_")


def test_coarse_from_json_mapping(tmp_path):
    mapping = _write(tmp_path / "map.json", json.dumps({"balance": "banking", "apr": "cards"}))
    path = _write(tmp_path / "t.csv", "text,label\nhow much,balance\nrate?,apr\n")
    data = read_table(path, text_col="text", fine_col="label", coarse_from=str(mapping))
    assert data.coarse.tolist() == ["banking", "cards"]


def test_coarse_from_json_mapping_missing_label(tmp_path):
    mapping = _write(tmp_path / "map.json", json.dumps({"balance": "banking"}))
    path = _write(tmp_path / "t.csv", "text,label\nhow much,balance\nrate?,apr\n")
    with pytest.raises(InputError, match=r"'apr'.*row 2.*map\.json"):
        read_table(path, text_col="text", fine_col="label", coarse_from=str(mapping))


def test_coarse_from_bad_rule(tmp_path):
    path = _write(tmp_path / "t.csv", "text,label\na,b_c\n")
    with pytest.raises(InputError, match="neither 'prefix:SEP' nor an existing file"):
        read_table(path, text_col="text", fine_col="label", coarse_from="nope.json")
    with pytest.raises(InputError, match="give fine_col"):
        read_table(path, text_col="text", coarse_from="prefix:_")


# --- errors ---------------------------------------------------------------------------------


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match=r"absent\.csv: no such file"):
        read_table(tmp_path / "absent.csv", text_col="text", coarse_col="label")


def test_unknown_suffix(tmp_path):
    path = _write(tmp_path / "t.xlsx", "")
    with pytest.raises(InputError, match=r"'\.xlsx'.*\.csv, \.tsv, \.jsonl, \.parquet"):
        read_table(path, text_col="text", coarse_col="label")
    with pytest.raises(InputError, match="read_npy"):
        read_table(tmp_path / "m.npy", vector_cols=["x"], coarse_col="label")


def test_missing_column_lists_available(tmp_path):
    path = _write(tmp_path / "t.csv", "sentence,label\nhello,a\n")
    with pytest.raises(
        InputError, match=r"t\.csv: no column 'text'; available columns: 'sentence'"
    ):
        read_table(path, text_col="text", coarse_col="label")


@pytest.mark.parametrize(
    ("content", "message"), [("", "the file is empty"), ("text,label\n", "no data rows")]
)
def test_empty_file(tmp_path, content, message):
    path = _write(tmp_path / "t.csv", content)
    with pytest.raises(InputError, match=rf"t\.csv: {message}"):
        read_table(path, text_col="text", coarse_col="label")


def test_empty_text_names_rows(tmp_path):
    path = _write(tmp_path / "t.tsv", "text\tlabel\nok\ta\n\tb\nfine\ta\n  \tb\n")
    with pytest.raises(InputError, match=r"t\.tsv: empty text in column 'text' at rows 2, 4"):
        read_table(path, text_col="text", coarse_col="label")


def test_empty_text_lists_at_most_ten_rows(tmp_path):
    path = _write(tmp_path / "t.csv", "text,label\n" + ",a\n" * 12)
    with pytest.raises(InputError, match=r"rows 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, \.\.\. \(12 rows\)"):
        read_table(path, text_col="text", coarse_col="label")


def test_missing_coarse_label_names_row(tmp_path):
    path = _write(tmp_path / "t.csv", "text,label\na,x\nb,y\nc,\n")
    with pytest.raises(InputError, match=r"empty coarse label in column 'label' at row 3"):
        read_table(path, text_col="text", coarse_col="label")


def test_missing_label_in_jsonl_names_row(tmp_path):
    path = _write(tmp_path / "t.jsonl", '{"text": "a", "label": "x"}\n{"text": "b"}\n')
    with pytest.raises(
        InputError, match=r"t\.jsonl: empty coarse label in column 'label' at row 2"
    ):
        read_table(path, text_col="text", coarse_col="label")


def test_bad_jsonl_line_names_row(tmp_path):
    path = _write(tmp_path / "t.jsonl", '{"text": "a", "label": "x"}\n{"text": "b",\n')
    with pytest.raises(InputError, match=r"t\.jsonl: row 2 is not valid JSON"):
        read_table(path, text_col="text", coarse_col="label")


def test_wrong_field_count_in_wide_file_names_row(tmp_path):
    path = _write(tmp_path / "t.tsv", "text\tlabel\tfine\na\tx\tx1\nb\tc\ty\ty1\n")
    with pytest.raises(InputError, match=r"t\.tsv: row 2 has 4 tab-separated fields .* has 3"):
        read_table(path, text_col="text", coarse_col="label", fine_col="fine")


def test_too_few_fields_names_row(tmp_path):
    path = _write(tmp_path / "t.tsv", "text\tlabel\na\tx\nno label here\n")
    with pytest.raises(InputError, match=r"row 2 has 1 tab-separated fields"):
        read_table(path, text_col="text", coarse_col="label")


def test_rejoin_drop_error_on_tiny_tsv(tmp_path):
    path = _write(tmp_path / "t.tsv", "text\tlabel\nok\ta\nbad\t text\tb\nalso\tfine\t here\ta\n")
    with pytest.warns(UserWarning, match=r"2 rows .*rows 2, 3.*'rejoin'"):
        data = read_table(path, text_col="text", coarse_col="label")
    assert data.texts == ["ok", "bad\t text", "also\tfine\t here"]
    assert data.coarse.tolist() == ["a", "b", "a"]
    with pytest.warns(UserWarning, match=r"2 rows .*'drop'"):
        data = read_table(path, text_col="text", coarse_col="label", on_bad_rows="drop")
    assert data.texts == ["ok"] and data.row_ids.tolist() == [1]
    with pytest.raises(InputError, match=r"row 2 has 3 tab-separated fields"):
        read_table(path, text_col="text", coarse_col="label", on_bad_rows="error")
    with pytest.raises(InputError, match="on_bad_rows='skip'"):
        read_table(path, text_col="text", coarse_col="label", on_bad_rows="skip")


def test_rejoin_with_label_first(tmp_path):
    path = _write(tmp_path / "t.csv", "label,text\na,one\nb,two, three\n")
    with pytest.warns(UserWarning, match="1 rows"):
        data = read_table(path, text_col="text", coarse_col="label")
    assert data.texts == ["one", "two, three"] and data.coarse.tolist() == ["a", "b"]


def test_all_rows_dropped(tmp_path):
    path = _write(tmp_path / "t.tsv", "text\tlabel\na\tb\tc\n")
    with pytest.raises(InputError, match="no data rows left after dropping 1"):
        read_table(path, text_col="text", coarse_col="label", on_bad_rows="drop")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"coarse_col": "label"},
        {"text_col": "text", "vector_cols": ["x"], "coarse_col": "label"},
        {"text_col": "text"},
        {"text_col": "text", "coarse_col": "label", "coarse_from": "prefix:_", "fine_col": "f"},
    ],
)
def test_exactly_one_input_and_coarse_source(tmp_path, kwargs):
    path = _write(tmp_path / "t.csv", "text,label\na,b\n")
    with pytest.raises(InputError, match="exactly one"):
        read_table(path, **kwargs)


# --- formats, vectors, labels ---------------------------------------------------------------

TINY = pd.DataFrame(
    {
        "text": ["book a flight", 'say "hi", then stop', "NA", "wake me up"],
        "coarse": ["travel", "talk", "NA", "utility"],
        "fine": ["book_flight", "greeting", "NA", "alarm"],
    }
)


def _write_tiny(tmp_path: Path, suffix: str) -> Path:
    path = tmp_path / f"tiny{suffix}"
    if suffix == ".csv":
        TINY.to_csv(path, index=False)
    elif suffix == ".tsv":
        TINY.to_csv(path, index=False, sep="\t")
    elif suffix == ".jsonl":
        TINY.to_json(path, orient="records", lines=True)
    else:
        TINY.to_parquet(path, index=False)
    return path


def test_formats_give_identical_datasets(tmp_path):
    datasets = [
        read_table(
            _write_tiny(tmp_path, suffix),
            text_col="text",
            coarse_col="coarse",
            fine_col="fine",
            name="tiny",
        )
        for suffix in (".csv", ".tsv", ".jsonl", ".parquet")
    ]
    first = datasets[0]
    assert first.texts == TINY["text"].tolist()
    for other in datasets[1:]:
        assert other.texts == first.texts
        assert other.coarse.tolist() == first.coarse.tolist()
        assert other.fine.tolist() == first.fine.tolist()
        assert other.row_ids.tolist() == first.row_ids.tolist() == [1, 2, 3, 4]
        assert other.name == "tiny"


def test_na_stays_a_label(tmp_path):
    path = _write(tmp_path / "t.csv", "text,label\nhello,NA\nbye,N/A\nhi,null\n")
    data = read_table(path, text_col="text", coarse_col="label")
    assert data.coarse.tolist() == ["NA", "N/A", "null"]


def test_vectors_from_csv_and_parquet(tmp_path):
    frame = pd.DataFrame({"x": [0.5, 1.0, -2.0], "y": [1, 2, 3], "label": ["a", "a", "b"]})
    frame.to_csv(tmp_path / "v.csv", index=False)
    frame.to_parquet(tmp_path / "v.parquet", index=False)
    for suffix in (".csv", ".parquet"):
        data = read_table(tmp_path / f"v{suffix}", vector_cols=["x", "y"], coarse_col="label")
        assert not data.is_text
        np.testing.assert_array_equal(data.vectors, frame[["x", "y"]].to_numpy(np.float32))


def test_non_numeric_vector_value_names_row_and_column(tmp_path):
    path = _write(tmp_path / "v.csv", "x,y,label\n1,2,a\n3,abc,b\n")
    with pytest.raises(InputError, match=r"v\.csv: column 'y' at row 2 holds 'abc'"):
        read_table(path, vector_cols=["x", "y"], coarse_col="label")


@pytest.mark.parametrize("cell", ["nan", "", "inf"])
def test_nan_or_empty_vector_value_names_row(tmp_path, cell):
    path = _write(tmp_path / "v.csv", f"x,y,label\n1,2,a\n3,4,b\n5,{cell},b\n")
    with pytest.raises(InputError, match=r"column 'y' at row 3 .*not a finite number"):
        read_table(path, vector_cols=["x", "y"], coarse_col="label")


def test_nan_in_parquet_vectors_names_row(tmp_path):
    frame = pd.DataFrame({"x": [1.0, np.nan], "label": ["a", "b"]})
    frame.to_parquet(tmp_path / "v.parquet", index=False)
    with pytest.raises(InputError, match=r"column 'x' at row 2 holds an empty cell"):
        read_table(tmp_path / "v.parquet", vector_cols=["x"], coarse_col="label")


def test_read_npy(tmp_path):
    np.save(tmp_path / "m.npy", np.arange(6, dtype=np.float64).reshape(3, 2))
    data = read_npy(tmp_path / "m.npy", ["a", "a", "b"], fine_labels=["a1", "a2", "b1"])
    assert data.vectors.shape == (3, 2) and data.n_coarse == 2 and data.name == "m"
    with pytest.raises(InputError, match="3 matrix rows but 2 coarse labels"):
        read_npy(tmp_path / "m.npy", ["a", "b"])
    with pytest.raises(InputError, match="empty coarse label at row 2"):
        read_npy(tmp_path / "m.npy", ["a", "", "b"])
    bad = np.ones((3, 2))
    bad[1, 0] = np.nan
    np.save(tmp_path / "bad.npy", bad)
    with pytest.raises(InputError, match=r"bad\.npy: NaN or inf values at row 2"):
        read_npy(tmp_path / "bad.npy", ["a", "a", "b"])


# --- CoarseDataset --------------------------------------------------------------------------


def test_subset_keeps_rows_and_ids():
    data = CoarseDataset(
        coarse=["a", "a", "b", "b"], texts=["w", "x", "y", "z"], fine=["a1", "a2", "b1", "b1"]
    )
    part = data.subset([3, 1])
    assert part.texts == ["z", "x"]
    assert part.coarse.tolist() == ["b", "a"] and part.fine.tolist() == ["b1", "a2"]
    assert part.row_ids.tolist() == [4, 2]
    assert part.coarse_classes == ["a", "b"]


def test_validate_for_training_names_small_class():
    data = CoarseDataset(coarse=["a", "a", "lonely"], texts=["x", "y", "z"], name="toy")
    with pytest.raises(InputError, match=r"toy: coarse class 'lonely' has 1 row"):
        data.validate_for_training()
    data.subset([0, 1]).validate_for_training()


def test_dataset_nan_message_uses_row_ids():
    with pytest.raises(InputError, match=r"rows 7"):
        CoarseDataset(coarse=["a", "b"], vectors=[[1.0], [np.nan]], row_ids=[3, 7])


def test_not_utf8_names_line(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes(b"text,label\nok,a\n\xff\xfe,b\n")
    with pytest.raises(InputError, match=r"t\.csv: the file is not valid UTF-8 at line 3"):
        read_table(path, text_col="text", coarse_col="label")


def test_csv_quoting_bom_crlf_and_blank_lines(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes('\ufefftext,label\r\n"a, b",x\r\n"multi\nline",y\r\n\r\nlast,x\r\n'.encode())
    data = read_table(path, text_col="text", coarse_col="label")
    assert data.texts == ["a, b", "multi\nline", "last"]
    assert data.row_ids.tolist() == [1, 2, 4]

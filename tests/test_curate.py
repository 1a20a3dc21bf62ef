"""Curating the taxonomy: rename, merge, split; predict follows; save/load keeps it; the CLI."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from coarse2fine import Discoverer, InputError
from coarse2fine.cli import app


def fitted(tiny_data, **kwargs) -> Discoverer:
    params = dict(encoder="tiny-random", epochs=1, batch_size=8, n_fine=6, progress=False)
    params.update(kwargs)
    return Discoverer(**params).fit(tiny_data)


def same_parent_pair(est) -> list[str]:
    parent = est.cluster_parents_[0]
    return [c for c, p in zip(est.categories_, est.cluster_parents_, strict=True) if p == parent][
        :2
    ]


def test_merge_gives_exactly_the_union_for_fitted_and_new_rows(tiny_data):
    est = fitted(tiny_data)
    texts = list(tiny_data.texts) + ["help with my visa", "deposit please"]
    before, labels_before = est.predict(texts), est.labels_.copy()
    a, b = same_parent_pair(est)
    ia, ib = est.categories_.index(a), est.categories_.index(b)
    est.merge([a, b], name="merged")
    after = est.predict(texts)
    assert b not in est.categories_ and est.category_names_[est.categories_.index(a)] == "merged"
    # exactly the union: b's rows join a; every other id above b moves down by one
    mapping = np.arange(6)
    mapping[ib] = ia
    mapping = mapping - (mapping > ib)
    np.testing.assert_array_equal(after, mapping[before])
    np.testing.assert_array_equal(est.labels_, mapping[labels_before])
    assert len(est.categories_) == 5 and est.n_fine_ == 5


def test_merge_across_coarse_classes_is_refused(tiny_data):
    est = fitted(tiny_data)
    first = est.categories_[0]
    other = next(
        c
        for c, p in zip(est.categories_, est.cluster_parents_, strict=True)
        if p != est.cluster_parents_[0]
    )
    with pytest.raises(InputError, match="cannot merge categories of different coarse classes"):
        est.merge([first, other])


def test_split_partitions_the_category_and_leaves_the_rest(tiny_data):
    est = fitted(tiny_data)
    texts = list(tiny_data.texts)
    before = est.predict(texts)
    c = int(np.bincount(est.labels_).argmax())
    target = est.categories_[c]
    labels_before = est.labels_.copy()
    est.split(target, 2)
    assert est.categories_[c : c + 2] == [f"{target}.1", f"{target}.2"]
    members = labels_before == c
    assert set(est.labels_[members]) == {c, c + 1}  # the rows are shared out, both parts used
    shifted = labels_before + (labels_before > c)
    assert (est.labels_[~members] == shifted[~members]).all()
    after = est.predict(texts)
    went = before == c
    assert np.isin(after[went], [c, c + 1]).all()
    assert (after[~went] == (before + (before > c))[~went]).all()


def test_split_then_merge_a_part_and_save_load_keeps_predictions(tiny_data, tmp_path):
    est = fitted(tiny_data)
    c = int(np.bincount(est.labels_).argmax())
    target = est.categories_[c]
    est.split(target, 2)
    sibling = next(
        name
        for name, p in zip(est.categories_, est.cluster_parents_, strict=True)
        if p == est.cluster_parents_[c] and not name.startswith(target)
    )
    est.merge([f"{target}.2", sibling])
    est.rename({f"{target}.1": "first part"})
    texts = list(tiny_data.texts) + ["help with my flight now"]
    expected = est.predict(texts)
    est.save(tmp_path / "model")
    loaded = Discoverer.load(tmp_path / "model", progress=False)
    np.testing.assert_array_equal(loaded.predict(texts), expected)
    assert loaded.categories_ == est.categories_
    assert loaded.category_names_ == est.category_names_


def test_rename_by_id_or_name_and_unknown_names_fail(tiny_data):
    est = fitted(tiny_data)
    first = est.categories_[0]
    est.rename({first: "balance"})
    assert est.category_names_[0] == "balance" and est.categories_[0] == first
    est.rename({"balance": "account balance"})
    assert est.category_names_[0] == "account balance"
    with pytest.raises(InputError, match="no category 'nope'; the categories are bank/1"):
        est.rename({"nope": "x"})
    with pytest.raises(InputError, match="a split needs k >= 2 parts"):
        est.split(first, 1)


def sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_cli_curate_writes_a_new_run_that_predict_follows(tiny_csv, tmp_path):
    runner = CliRunner()
    run = tmp_path / "run"
    args = ["discover", str(tiny_csv), "--text-col", "utterance", "--coarse-col", "domain"]
    args += ["--fine-col", "intent", "--n-fine", "6", "--encoder", "tiny-random"]
    args += ["--epochs", "1", "--batch-size", "8", "--out", str(run), "--quiet"]
    assert runner.invoke(app, args).exit_code == 0
    source = pd.read_csv(run / "assignments.csv")
    before = sha(run / "assignments.csv")
    merge = f"{'bank/1'},{'bank/2'}=money"
    curated = tmp_path / "curated"
    result = runner.invoke(
        app,
        [
            "curate",
            str(run),
            "--merge",
            merge,
            "--split",
            "travel/1:2",
            "--rename",
            "travel/1.1=first trip",
            "--out",
            str(curated),
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    assert sha(run / "assignments.csv") == before  # the source run is untouched
    table = pd.read_csv(curated / "assignments.csv")
    was_merged = source["category"].isin(["bank/1", "bank/2"])
    assert (table.loc[was_merged, "category"] == "bank/1").all()
    assert (table.loc[was_merged, "name"] == "money").all()
    was_split = source["category"] == "travel/1"
    assert set(table.loc[was_split, "category"]) <= {"travel/1.1", "travel/1.2"}
    assert (
        table.loc[~was_split & ~was_merged, "category"]
        == source.loc[~was_split & ~was_merged, "category"]
    ).all()
    clusters = json.loads((curated / "clusters.json").read_text())
    names = [c["name"] for cls in clusters["coarse"] for c in cls["categories"]]
    assert "money" in names and "first trip" in names
    info = json.loads((curated / "run.json").read_text())
    assert info["curation"]["split"] == [{"category": "travel/1", "k": 2}]
    # predict with the curated model: a merged row lands in the merged category
    pred = runner.invoke(
        app,
        [
            "predict",
            str(curated / "model"),
            str(tiny_csv),
            "--text-col",
            "utterance",
            "--out",
            str(tmp_path / "pred.csv"),
            "--quiet",
        ],
    )
    assert pred.exit_code == 0, pred.output
    predicted = pd.read_csv(tmp_path / "pred.csv")
    assert not predicted["category"].isin(["bank/2", "travel/1"]).any()


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--merge", "bank/1,travel/1"], "cannot merge categories of different coarse classes"),
        (["--merge", "bank/1"], "--merge takes two or more categories"),
        (["--split", "bank/1"], "--split takes CATEGORY:K"),
        (["--rename", "bank/1"], "--rename takes CATEGORY=NAME"),
        ([], "nothing to curate"),
    ],
)
def test_cli_curate_errors(tiny_csv, tmp_path, option, message):
    runner = CliRunner()
    run = tmp_path / "run"
    args = ["discover", str(tiny_csv), "--text-col", "utterance", "--coarse-col", "domain"]
    args += ["--n-fine", "6", "--encoder", "tiny-random", "--epochs", "1", "--batch-size", "8"]
    assert runner.invoke(app, [*args, "--out", str(run), "--quiet"]).exit_code == 0
    result = runner.invoke(app, ["curate", str(run), *option, "--out", str(tmp_path / "c")])
    assert result.exit_code == 2
    assert message in result.output
    assert not (tmp_path / "c").exists()

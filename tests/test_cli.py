"""The command line: a full discover -> predict -> evaluate run, and every bad input refused."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from coarse2fine.cli import app

runner = CliRunner()
TINY = ["--encoder", "tiny-random", "--epochs", "1", "--batch-size", "8", "--quiet"]


def discover_args(data, out, *extra):
    return [
        "discover",
        str(data),
        "--text-col",
        "utterance",
        "--coarse-col",
        "domain",
        "--out",
        str(out),
        *TINY,
        *extra,
    ]


def test_discover_predict_evaluate(tiny_csv, tmp_path):
    out = tmp_path / "run"
    result = runner.invoke(
        app, discover_args(tiny_csv, out, "--fine-col", "intent", "--n-fine", "6")
    )
    assert result.exit_code == 0, result.output
    assert "discovered 6 fine categories in 2 coarse classes" in result.output
    table = pd.read_csv(out / "assignments.csv")
    assert len(table) == 48 and list(table.columns) == [
        "row",
        "text",
        "coarse",
        "category",
        "name",
        "category_id",
        "fine",
    ]
    assert table["category"].str.split("/").str[0].eq(table["coarse"]).all()
    clusters = json.loads((out / "clusters.json").read_text())
    assert [c["coarse"] for c in clusters["coarse"]] == ["bank", "travel"]
    assert sum(len(c["categories"]) for c in clusters["coarse"]) == 6
    first = clusters["coarse"][0]["categories"][0]
    assert first["size"] > 0 and 0 < len(first["examples"]) <= 5
    assert all(c["name"] for node in clusters["coarse"] for c in node["categories"])
    # the printed summary: one table per coarse class with categories, names and sizes
    assert "bank: 24 rows, 3 categories" in result.output
    assert f"bank/1     {first['name']}" in result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) >= {"ACC", "ARI", "NMI", "coarse_head_accuracy"}
    assert metrics["hierarchy_edit_distance"] == 0  # nested: 3 categories under each class
    assert 0.0 <= metrics["coarse_head_accuracy"] <= 100.0

    new = tmp_path / "new.csv"
    pd.DataFrame({"text": ["my visa please", "transfer money now"]}).to_csv(new, index=False)
    pred = tmp_path / "pred.csv"
    result = runner.invoke(
        app, ["predict", str(out / "model"), str(new), "--out", str(pred), "--quiet"]
    )
    assert result.exit_code == 0, result.output
    predicted = pd.read_csv(pred)
    assert len(predicted) == 2 and set(predicted["category"]) <= set(table["category"])

    result = runner.invoke(app, ["evaluate", str(out / "assignments.csv")])
    assert result.exit_code == 0 and json.loads(result.output)["ACC"] == metrics["ACC"]


def test_existing_out_is_not_overwritten(tiny_csv, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    result = runner.invoke(app, discover_args(tiny_csv, out, "--n-fine", "6"))
    assert result.exit_code == 2 and "already exists" in result.output


def write(tmp_path, text: str):
    path = tmp_path / "data.csv"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("content", "extra", "message"),
    [
        (None, ["--n-fine", "2"], "no such file"),
        ("utterance,dept\nhi,a\n", ["--n-fine", "2"], "'domain'"),
        ("utterance,domain\n", ["--n-fine", "2"], "no data rows"),
        ("utterance,domain\nhi,a\nho,a\nhey,b\n", ["--n-fine", "2"], "coarse class 'b' has 1 row"),
        ("utterance,domain\nhi,a\nho,a\nhey,b\nyo,b\n", ["--n-fine", "0"], "got 0"),
        ("utterance,domain\nhi,a\nho,a\nhey,b\nyo,b\n", ["--n-fine", "5"], "got 5"),
        ("utterance,domain\nhi,a\n,a\nhey,b\nyo,b\n", ["--n-fine", "2"], "row 2"),
        ("utterance,domain\nhi,a\nho,a\nhey,b\nyo,b\n", ["--n-fine", "1"], "cannot give each"),
        ("utterance,domain\nhi,a\nho,a\nhey,b\nyo,b\n", ["--n-fine", "2", "-o", "tau=abc"], "tau"),
        (
            "utterance,domain\nhi,a\nho,a\nhey,b\nyo,b\n",
            ["--n-fine", "2", "-o", "gama2=1"],
            "gama2",
        ),
    ],
)
def test_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path, content, extra, message):
    data = tmp_path / "missing.csv" if content is None else write(tmp_path, content)
    out = tmp_path / "out"
    result = runner.invoke(app, discover_args(data, out, *extra))
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.output
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out")] == []


def test_predict_within_coarse_classes(tiny_csv, tmp_path):
    out = tmp_path / "run"
    assert runner.invoke(app, discover_args(tiny_csv, out, "--n-fine", "6")).exit_code == 0
    args = ["predict", str(out / "model"), str(tiny_csv), "--text-col", "utterance", "--quiet"]
    pred = tmp_path / "given.csv"
    result = runner.invoke(
        app, [*args, "--out", str(pred), "--within", "given", "--coarse-col", "domain"]
    )
    assert result.exit_code == 0, result.output
    given = pd.read_csv(pred)
    # every row joins a category under its own coarse label
    assert given["coarse"].tolist() == pd.read_csv(tiny_csv)["domain"].tolist()
    assert (
        runner.invoke(app, [*args, "--out", str(tmp_path / "h.csv"), "--within", "head"]).exit_code
        == 0
    )
    for extra, message in (
        (["--within", "some"], "--within must be one of all, head, given; got 'some'"),
        (["--coarse-col", "domain"], "read only with --within given"),
        (["--within", "given"], "give the coarse labels: --coarse-col COLUMN"),
    ):
        bad = tmp_path / "bad.csv"
        result = runner.invoke(app, [*args, "--out", str(bad), *extra])
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert result.exit_code == 2 and len(lines) == 1 and message in lines[0], result.output
        assert not bad.exists()


def test_predict_with_a_missing_model_folder(tmp_path):
    result = runner.invoke(app, ["predict", str(tmp_path / "nope"), "x.csv", "--out", "p.csv"])
    assert result.exit_code == 2 and "is not a coarse2fine model folder" in result.output


def test_predict_refuses_to_overwrite(tiny_csv, tmp_path):
    out = tmp_path / "run"
    assert runner.invoke(app, discover_args(tiny_csv, out, "--n-fine", "6")).exit_code == 0
    existing = tmp_path / "pred.csv"
    existing.write_text("keep me")
    args = ["predict", str(out / "model"), str(tiny_csv), "--text-col", "utterance"]
    result = runner.invoke(app, [*args, "--out", str(existing), "--quiet"])
    assert result.exit_code == 2 and "already exists" in result.output
    assert existing.read_text() == "keep me"
    assert (
        runner.invoke(app, [*args, "--out", str(existing), "--quiet", "--overwrite"]).exit_code == 0
    )


def test_head_lr_reaches_the_model_and_a_bad_one_is_refused(tiny_csv, tmp_path):
    out = tmp_path / "run"
    result = runner.invoke(app, discover_args(tiny_csv, out, "--n-fine", "6", "--head-lr", "0.005"))
    assert result.exit_code == 0, result.output
    assert json.loads((out / "run.json").read_text())["params"]["head_lr"] == 0.005
    bad = tmp_path / "bad"
    result = runner.invoke(app, discover_args(tiny_csv, bad, "--n-fine", "6", "--head-lr", "-1"))
    assert result.exit_code == 2
    assert result.output.strip() == "error: head_lr must be positive, got -1.0"
    assert not bad.exists()


def test_training_caps_reach_the_model_and_zero_means_no_cap(tiny_csv, tmp_path):
    out = tmp_path / "run"
    caps = ("--train-rows", "10", "--train-length", "5")
    result = runner.invoke(app, discover_args(tiny_csv, out, "--n-fine", "6", *caps))
    assert result.exit_code == 0, result.output
    run = json.loads((out / "run.json").read_text())
    assert (run["params"]["train_rows"], run["params"]["train_length"]) == (10, 5)
    assert (run["train_rows"], run["train_length"]) == (10, 5)
    assert len(pd.read_csv(out / "assignments.csv")) == 48  # every row is still assigned
    out = tmp_path / "uncapped"
    caps = ("--train-rows", "0", "--train-length", "0")
    result = runner.invoke(app, discover_args(tiny_csv, out, "--n-fine", "6", *caps))
    assert result.exit_code == 0, result.output
    run = json.loads((out / "run.json").read_text())
    assert (run["params"]["train_rows"], run["params"]["train_length"]) == (None, None)
    assert run["train_rows"] == 48 and "train_length" not in run


def test_diverging_training_is_one_line_and_writes_nothing(tiny_csv, tmp_path):
    out = tmp_path / "run"
    args = discover_args(
        tiny_csv, out, "--n-fine", "6", "--method", "hwscl", "--lr", "1e30", "-o", "gamma2=1e30"
    )
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: training diverged")
    assert not out.exists()


@pytest.fixture
def vector_csv(tmp_path, tiny_vectors):
    """tiny_vectors as a table: x0..x7, then coarse and fine label columns."""
    frame = pd.DataFrame(tiny_vectors.vectors, columns=[f"x{i}" for i in range(8)])
    frame["lineage"], frame["cell_type"] = tiny_vectors.coarse, tiny_vectors.fine
    path = tmp_path / "cells.csv"
    frame.to_csv(path, index=False)
    return path


def test_discover_and_predict_on_vectors_with_falcon(vector_csv, tmp_path):
    out = tmp_path / "run"
    args = ["discover", str(vector_csv), "--vector-cols", "x*", "--coarse-col", "lineage"]
    args += ["--fine-col", "cell_type", "--n-fine", "6", "--method", "falcon", "--epochs", "5"]
    result = runner.invoke(app, [*args, "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / "assignments.csv")
    assert list(table.columns) == ["row", "coarse", "category", "name", "category_id", "fine"]
    clusters = json.loads((out / "clusters.json").read_text())
    examples = clusters["coarse"][0]["categories"][0]["examples"]
    assert all(isinstance(r, int) and 1 <= r <= 48 for r in examples)  # row numbers
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["hierarchy_edit_distance"] == 0 and metrics["ACC"] >= 90.0
    pred = tmp_path / "pred.csv"
    result = runner.invoke(
        app,
        ["predict", str(out / "model"), str(vector_csv), "--vector-cols", "x0,x1,x2,x3,x4,x5,x6,x7"]
        + ["--out", str(pred), "--quiet"],
    )
    assert result.exit_code == 0, result.output
    assert (pd.read_csv(pred)["category"] == table["category"]).mean() >= 0.9


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--vector-cols", "gene_*"], "no column matches 'gene_*'"),
        (["--vector-cols", "x*", "--text-col", "x0"], "exactly one of --text-col"),
        (["--vector-cols", "x*", "--encoder", "all-MiniLM-L6-v2"], "reads texts but the rows"),
    ],
)
def test_bad_vector_input_is_one_line(vector_csv, tmp_path, extra, message):
    args = ["discover", str(vector_csv), "--coarse-col", "lineage", "--n-fine", "6", *extra]
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "o"), "--quiet"])
    assert result.exit_code == 2 and message in result.output, result.output
    assert not (tmp_path / "o").exists()


def test_discover_without_n_fine_estimates_and_says_so(tiny_csv, tmp_path):
    out = tmp_path / "run"
    result = runner.invoke(app, discover_args(tiny_csv, out, "--min-category-size", "4"))
    assert result.exit_code == 0, result.output
    assert "(number estimated)" in result.output.splitlines()[0]
    clusters = json.loads((out / "clusters.json").read_text())
    counts = clusters["estimated_counts"]
    assert set(counts) == {"bank", "travel"} and all(c >= 1 for c in counts.values())
    assert clusters["n_fine"] == sum(counts.values())
    # the summary spells the counts out as an --n-fine a user can edit and pass back
    given = json.dumps(counts)
    assert f"to choose the counts yourself, run again with --n-fine '{given}'" in result.output
    again = tmp_path / "again"
    rerun = runner.invoke(app, discover_args(tiny_csv, again, "--n-fine", given))
    assert rerun.exit_code == 0, rerun.output
    chosen = json.loads((again / "clusters.json").read_text())
    assert {n["coarse"]: len(n["categories"]) for n in chosen["coarse"]} == counts
    assert chosen["estimate"] is None and "(number estimated)" not in rerun.output
    # DOWN (the default) counted the categories before training to set its neighbours
    first = clusters["estimate"]["training"]
    said = f"training: {first['categories']} categories counted at the first neighbour search "
    assert said + f"set {first['neighbours']} neighbours per row" in result.output


def test_n_fine_per_class_from_a_file_and_its_refusals(tiny_csv, tmp_path):
    counts = tmp_path / "counts.json"
    counts.write_text('{"bank": 2, "travel": 4}')
    result = runner.invoke(app, discover_args(tiny_csv, tmp_path / "run", "--n-fine", str(counts)))
    assert result.exit_code == 0, result.output
    clusters = json.loads((tmp_path / "run" / "clusters.json").read_text())
    assert {n["coarse"]: len(n["categories"]) for n in clusters["coarse"]} == {
        "bank": 2,
        "travel": 4,
    }
    for value, message in [
        ("six", "--n-fine must be a whole number, a JSON object of counts per coarse class"),
        ("[3, 3]", "--n-fine: a JSON object of counts per coarse class, got list"),
        ('{"bank": 3', "--n-fine: not a JSON object of counts"),
        ('{"bank": 3}', "n_fine as a mapping needs one count per coarse class: missing 'travel'"),
        ('{"bank": 3, "travel": 0}', "n_fine['travel'] must be a whole number between 1 and"),
    ]:
        out = tmp_path / "refused"
        result = runner.invoke(app, discover_args(tiny_csv, out, "--n-fine", value))
        assert result.exit_code == 2 and message in result.output, (value, result.output)
        assert not out.exists()


def test_peaks_nearly_as_high_are_named_in_the_summary(tiny_csv, tmp_path, monkeypatch):
    """Where a class's curve has another peak nearly as high, clusters.json keeps it and the
    summary names it beside the plausible range (the wiring; rivals' rule is tested by hand)."""
    import coarse2fine.cluster.estimate_k as module

    monkeypatch.setattr(module, "rivals", lambda ks, scores, chosen: [7])
    out = tmp_path / "run"
    result = runner.invoke(app, discover_args(tiny_csv, out, "--min-category-size", "4"))
    assert result.exit_code == 0, result.output
    estimate = json.loads((out / "clusters.json").read_text())["estimate"]
    assert all(c["rivals"] == [7] for c in estimate["classes"].values())
    assert result.output.count("; nearly as likely: 7)") == 2


def test_a_class_counted_by_modularity_says_so(tiny_csv, tmp_path, monkeypatch):
    """Where a class's eigengap is weak it is counted by modularity: clusters.json records the
    criterion per class and the summary says why (the wiring; the switch is tested by hand)."""
    import coarse2fine.cluster.estimate_k as module

    monkeypatch.setattr(module, "WEAK_GAP", 10.0)  # no gap reaches it: every class is weak
    out = tmp_path / "run"
    result = runner.invoke(app, discover_args(tiny_csv, out, "--min-category-size", "4"))
    assert result.exit_code == 0, result.output
    estimate = json.loads((out / "clusters.json").read_text())["estimate"]
    assert estimate["criterion"] == "eigengap"
    assert [c["criterion"] for c in estimate["classes"].values()] == ["modularity"] * 2
    assert result.output.count("(estimated, by modularity: no clear eigengap; plausible") == 2
    # read a second time at the noise's resolution, both counts as rows a category
    tree = json.loads((out / "clusters.json").read_text())
    for node in tree["coarse"]:
        got = estimate["classes"][node["coarse"]]
        second = got["second"]
        assert second["criterion"] == "resolution" and second["k"] >= 1
        sizes = (
            f"~{node['size'] // second['k']} rows a category, against ~{node['size'] // got['k']}"
        )
        assert f"; at the noise's resolution: {second['k']} ({sizes}))" in result.output
    assert "a class without a clear eigengap is read twice" in result.output


@pytest.mark.parametrize("method", ["hcsc_ce", "cd"])
def test_clusters_json_is_a_tree_down_to_the_methods_finer_nodes(tiny_csv, tmp_path, method):
    out = tmp_path / "run"
    extra = ["--n-fine", "6", "--method", method, "--batch-size", "8"]
    if method == "hcsc_ce":
        extra += ["-o", "levels=8,4", "-o", "min_cluster=1"]
    result = runner.invoke(app, discover_args(tiny_csv, out, *extra))
    assert result.exit_code == 0, result.output
    clusters = json.loads((out / "clusters.json").read_text())
    rows_seen = []
    for node in clusters["coarse"]:
        for category in node["categories"]:
            children = category["children"]
            assert sum(c["size"] for c in children) == category["size"]
            assert sorted(r for c in children for r in c["rows"]) == sorted(category["rows"])
            rows_seen += category["rows"]
    assert sorted(rows_seen) == list(range(1, 49))  # every row sits under exactly one node

"""AnnData in and out: .h5ad through the command line, AnnData through the Python API."""

from __future__ import annotations

import builtins
import hashlib

import anndata
import numpy as np
import pandas as pd
import pytest
from scipy import sparse
from typer.testing import CliRunner

from coarse2fine import Discoverer, InputError
from coarse2fine.cli import app
from coarse2fine.data.h5ad import CATEGORY_KEY, NAME_KEY, from_anndata, read_h5ad
from coarse2fine.data.synthetic import make_hierarchical_blobs


def cells(n_genes: int = 12) -> anndata.AnnData:
    """48 cells: 2 lineages x 3 types x 8 cells; sparse X, a PCA-like obsm, a counts layer."""
    blobs = make_hierarchical_blobs((3, 3), rows_per_fine=8, dim=n_genes, seed=0)
    x = np.abs(blobs.vectors).astype(np.float32)
    adata = anndata.AnnData(
        X=sparse.csr_matrix(x),
        obs=pd.DataFrame(
            {
                "lineage": pd.Categorical(blobs.coarse),
                "cell_type": pd.Categorical(blobs.fine),
            },
            index=[f"cell{i}" for i in range(len(x))],
        ),
        var=pd.DataFrame(index=[f"gene{j}" for j in range(n_genes)]),
    )
    adata.obsm["X_pca"] = x[:, :5] - x[:, :5].mean(0)
    adata.layers["counts"] = np.round(x * 10)
    return adata


def sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_from_anndata_reads_x_layers_obsm_and_obs_labels():
    adata = cells()
    data = from_anndata(adata, "lineage", "cell_type")
    assert data.vectors.shape == (48, 12) and data.vectors.dtype == np.float32
    np.testing.assert_allclose(data.vectors, adata.X.toarray())
    assert data.feature_names[:2] == ["gene0", "gene1"]
    assert list(data.coarse[:2]) == list(adata.obs["lineage"].astype(str)[:2])
    assert list(data.fine) == list(adata.obs["cell_type"].astype(str))
    pca = from_anndata(adata, "lineage", use_rep="X_pca")
    assert pca.vectors.shape == (48, 5) and pca.feature_names[0] == "X_pca_1"
    counts = from_anndata(adata, "lineage", layer="counts")
    np.testing.assert_array_equal(counts.vectors, adata.layers["counts"])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"coarse": "tissue"}, "no obs column 'tissue' for the coarse labels; the obs columns: "),
        ({"coarse": None}, "coarse labels are required: name the obs column"),
        ({"coarse": "lineage", "use_rep": "X_umap"}, "no obsm key 'X_umap' .* 'X_pca'"),
        ({"coarse": "lineage", "layer": "raw"}, "no layer 'raw' .* 'counts'"),
        (
            {"coarse": "lineage", "layer": "counts", "use_rep": "X_pca"},
            "either use_rep .* or layer",
        ),
    ],
)
def test_bad_choices_say_what_exists(kwargs, message):
    with pytest.raises(InputError, match=message):
        from_anndata(cells(), **kwargs)


def test_a_missing_coarse_label_names_the_row():
    adata = cells()
    lineage = adata.obs["lineage"].astype(object)
    lineage.iloc[4] = np.nan
    adata.obs["lineage"] = lineage
    with pytest.raises(InputError, match="1 cell.s. have no coarse label .* 'cell4' .row 5."):
        from_anndata(adata, "lineage")


def test_without_anndata_the_error_says_how_to_install(tmp_path, monkeypatch):
    path = tmp_path / "cells.h5ad"
    cells().write_h5ad(path)
    real_import = builtins.__import__

    def no_anndata(name, *args, **kwargs):
        if name == "anndata":
            raise ImportError("No module named 'anndata'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_anndata)
    with pytest.raises(InputError, match=r"pip install 'coarse2fine\[anndata\]'"):
        read_h5ad(path, coarse="lineage")


def test_a_file_that_is_not_h5ad_is_a_clear_error(tmp_path):
    path = tmp_path / "cells.h5ad"
    path.write_text("not hdf5")
    with pytest.raises(InputError, match="not a readable .h5ad file"):
        read_h5ad(path, coarse="lineage")


def test_python_api_takes_an_anndata():
    adata = cells()
    est = Discoverer("unsupervised", n_fine=6, progress=False).fit(
        adata, "lineage", fine="cell_type"
    )
    assert est.n_features_in_ == 12
    assert len(est.labels_) == 48
    np.testing.assert_array_equal(est.predict(adata), est.predict(adata.X.toarray()))


def test_cli_discover_writes_an_annotated_copy_and_leaves_the_input_alone(tmp_path):
    source = tmp_path / "cells.h5ad"
    cells().write_h5ad(source)
    before = sha(source)
    out = tmp_path / "run"
    result = CliRunner().invoke(
        app,
        [
            "discover",
            str(source),
            "--coarse-col",
            "lineage",
            "--fine-col",
            "cell_type",
            "--use-rep",
            "X_pca",
            "--n-fine",
            "6",
            "--method",
            "unsupervised",
            "--out",
            str(out),
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    assert sha(source) == before
    written = anndata.read_h5ad(out / "cells.h5ad")
    assignments = pd.read_csv(out / "assignments.csv")
    assert list(written.obs[CATEGORY_KEY].astype(str)) == list(assignments["category"])
    assert written.obs_names.tolist() == [f"cell{i}" for i in range(48)]
    info = written.uns["coarse2fine"]
    assert sorted(info["tree"]) == sorted(set(written.obs["lineage"].astype(str)))
    assert sum(len(v) for v in info["tree"].values()) == 6
    assert len(info["category_names"]) == 6 and NAME_KEY in written.obs
    metrics = pd.read_json(out / "metrics.json", typ="series")
    assert info["scores"]["ACC"] == pytest.approx(metrics["ACC"])
    # and the model predicts the same representation of new cells
    pred = CliRunner().invoke(
        app,
        [
            "predict",
            str(out / "model"),
            str(source),
            "--use-rep",
            "X_pca",
            "--out",
            str(tmp_path / "pred.csv"),
            "--quiet",
        ],
    )
    assert pred.exit_code == 0, pred.output
    assert len(pd.read_csv(tmp_path / "pred.csv")) == 48


def test_cli_refuses_table_options_for_h5ad(tmp_path):
    source = tmp_path / "cells.h5ad"
    cells().write_h5ad(source)
    result = CliRunner().invoke(
        app,
        [
            "discover",
            str(source),
            "--coarse-col",
            "lineage",
            "--vector-cols",
            "gene*",
            "--out",
            str(tmp_path / "run"),
        ],
    )
    assert result.exit_code == 2
    assert "--vector-cols do not apply to .h5ad input" in result.output

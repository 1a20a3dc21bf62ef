"""AnnData in and out, as single-cell users keep their data: cells in ``obs``, genes in ``var``,
the matrix in ``X`` (dense or sparse), other representations in ``layers`` and ``obsm``.

- ``from_anndata`` / ``read_h5ad``: a CoarseDataset from an AnnData or an ``.h5ad`` file, its
  vectors from ``X`` (default), a layer (``layer=``) or an ``obsm`` key such as ``X_pca``
  (``use_rep=``, scanpy's name for it); coarse and fine labels from ``obs`` columns;
- ``annotate``: a copy of the AnnData with the discovered categories in ``obs`` and the tree,
  the category names, the settings and the scores in ``uns["coarse2fine"]``;
- ``write_h5ad``: that copy written to a new file (the input file is never touched).

anndata is an optional dependency (``pip install 'coarse2fine[anndata]'``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from coarse2fine.data.dataset import CoarseDataset, InputError

H5AD_SUFFIX = ".h5ad"
CATEGORY_KEY = "c2f_category"  # obs columns written by ``annotate``
NAME_KEY = "c2f_category_name"


def _anndata():
    try:
        import anndata
    except ImportError:
        raise InputError(
            "reading or writing .h5ad needs the anndata package: pip install "
            "'coarse2fine[anndata]' (or pip install anndata)"
        ) from None
    return anndata


def is_anndata(X: Any) -> bool:
    """An AnnData object (recognised by its type's name, so anndata need not be imported)."""
    return type(X).__name__ == "AnnData" and hasattr(X, "obs") and hasattr(X, "obsm")


def representation(
    adata, *, use_rep: str | None = None, layer: str | None = None
) -> tuple[np.ndarray, list[str]]:
    """The matrix the rows are described by, dense float32, with its column names."""
    if use_rep not in (None, "X") and layer is not None:
        raise InputError(f"give either use_rep ({use_rep!r}) or layer ({layer!r}), not both")
    if layer is not None:
        if layer not in adata.layers:
            raise InputError(
                f"no layer {layer!r} in the AnnData; its layers: {_listed(adata.layers)}"
            )
        matrix, names = adata.layers[layer], [str(v) for v in adata.var_names]
    elif use_rep in (None, "X"):
        if adata.X is None:
            raise InputError("the AnnData has no X: choose an obsm key (use_rep) or a layer")
        matrix, names = adata.X, [str(v) for v in adata.var_names]
    else:
        if use_rep not in adata.obsm:
            raise InputError(
                f"no obsm key {use_rep!r} in the AnnData; its obsm keys: {_listed(adata.obsm)}"
            )
        matrix = adata.obsm[use_rep]
        if isinstance(matrix, pd.DataFrame):
            names, matrix = [str(c) for c in matrix.columns], matrix.to_numpy()
        else:
            names = [f"{use_rep}_{i + 1}" for i in range(np.shape(matrix)[1])]
    if hasattr(matrix, "toarray"):  # scipy sparse (counts, normalised expression)
        matrix = matrix.toarray()
    matrix = np.asarray(matrix, dtype=np.float32)
    if matrix.ndim != 2:
        raise InputError(f"the chosen representation is not a matrix (shape {matrix.shape})")
    return matrix, names


def _listed(mapping) -> str:
    keys = list(mapping.keys())
    return ", ".join(map(repr, keys)) if keys else "(none)"


def _obs_labels(adata, column: Any, what: str) -> Any:
    """An ``obs`` column named by ``column`` (as strings, missing values kept for CoarseDataset
    to name), or ``column`` itself when it is already one label per cell."""
    if column is None or not isinstance(column, str):
        return None if column is None else list(column)
    if column not in adata.obs.columns:
        raise InputError(
            f"no obs column {column!r} for the {what} labels; the obs columns: {_listed(adata.obs)}"
        )
    values = adata.obs[column]
    missing = np.flatnonzero(values.isna().to_numpy())
    if len(missing):
        shown = ", ".join(f"{adata.obs_names[i]!r} (row {i + 1})" for i in missing[:5])
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise InputError(
            f"{len(missing)} cell(s) have no {what} label in obs column {column!r}: {shown}"
            f"{more}; label them or leave them out (adata[adata.obs[{column!r}].notna()])"
        )
    return [str(v) for v in values.astype(object)]


def from_anndata(
    adata,
    coarse: Any = None,
    fine: Any = None,
    *,
    use_rep: str | None = None,
    layer: str | None = None,
    coarse_required: bool = True,
) -> CoarseDataset:
    """A CoarseDataset of ``adata``'s cells. ``coarse`` and ``fine``: obs column names (or one
    label per cell); ``use_rep``: "X" (default) or an obsm key; ``layer``: a layer instead."""
    matrix, names = representation(adata, use_rep=use_rep, layer=layer)
    labels = _obs_labels(adata, coarse, "coarse")
    if labels is None:
        if coarse_required:
            raise InputError(
                "coarse labels are required: name the obs column that holds them "
                f"(the obs columns: {_listed(adata.obs)})"
            )
        labels = ["?"] * len(matrix)
    return CoarseDataset(
        coarse=labels,
        vectors=matrix,
        fine=_obs_labels(adata, fine, "fine"),
        feature_names=names,
        name="anndata",
    )


def read_anndata(path: str | Path):
    """The AnnData in an .h5ad file, with errors that say what is wrong."""
    anndata = _anndata()
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        return anndata.read_h5ad(path)
    except Exception as err:  # not HDF5, or not an AnnData layout
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise InputError(f"{path}: not a readable .h5ad file ({first})") from None


def read_h5ad(path: str | Path, **options: Any) -> CoarseDataset:
    """``from_anndata`` of the file's AnnData (``options`` as for it)."""
    return from_anndata(read_anndata(path), **options)


def annotate(adata, est, labels: np.ndarray | None = None, metrics: dict | None = None):
    """A copy of ``adata`` with each cell's category (``obs["c2f_category"]``, categorical)
    and its name (``obs["c2f_category_name"]``), and in ``uns["coarse2fine"]`` the categories,
    their names and parents, the tree, the settings (JSON) and the scores. ``labels``: category
    ids per cell (default: the fitted rows' ``labels_``)."""
    labels = est.labels_ if labels is None else np.asarray(labels)
    if len(labels) != adata.n_obs:
        raise InputError(f"{len(labels)} category labels for an AnnData of {adata.n_obs} cells")
    categories = list(est.categories_)
    names = list(getattr(est, "category_names_", None) or categories)
    out = adata.copy()
    out.obs[CATEGORY_KEY] = pd.Categorical([categories[k] for k in labels], categories=categories)
    out.obs[NAME_KEY] = pd.Categorical(
        [names[k] for k in labels], categories=list(dict.fromkeys(names))
    )
    tree: dict[str, list[str]] = {}
    for category, parent in zip(categories, est.cluster_parents_, strict=True):
        tree.setdefault(str(parent), []).append(category)
    params = {k: v for k, v in est.get_params().items() if k not in ("device", "progress")}
    out.uns["coarse2fine"] = {
        "categories": categories,
        "category_names": names,
        "parents": [str(p) for p in est.cluster_parents_],
        "tree": tree,
        "params": json.dumps(params, default=str, sort_keys=True),
        "scores": {k: float(v) for k, v in (metrics or {}).items() if _is_number(v)},
    }
    return out


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)


def write_h5ad(adata, path: str | Path) -> None:
    """Write ``adata`` (e.g. from ``annotate``) to ``path``."""
    adata.write_h5ad(Path(path))

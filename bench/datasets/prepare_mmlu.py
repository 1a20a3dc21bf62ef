"""Prepare the ``mmlu`` built-in dataset (short questions) from the MMLU repository history.

Source: the public repository hendrycks/test (MIT), the official home of MMLU (Hendrycks et al.,
ICLR 2021). The 57 subjects' CSV files (``data/{dev,val,test}/<subject>_<split>.csv``; columns
question, choice A-D, answer; no header) are in the tree of commit
785eba57b455b9f9be12a0d3c1106d67274fea0e (8 Sep 2020; the next commit moved them to a tarball).
The subject -> subcategory -> category hierarchy is ``categories.py`` at commit
4450500f923c49f1fb1dd3d99108a0bd9717b660 (the repository's head).

Derivation: fine = subject (57), coarse = its category (4: STEM, humanities, social sciences,
other (business, health, misc.)); the subject's subcategory (17) is kept as an extra column.
Text = the question, then " A) ... B) ... C) ... D) ..." with the four choices (so generic stems
such as "Which of the following is true?" still carry their content); whitespace runs become one
space. The dev, val and test rows are pooled (15,906); texts that occur more than once are kept
once (the first; 68 copies removed) or dropped altogether if their copies name different subjects
(99 texts, 198 rows), leaving 15,640 rows. Split: stratified by subject, 20% test, seed 0
(``_common.stratified_split``): 12,509 train, 3,131 test.

    python bench/datasets/prepare_mmlu.py /work/.mirror/hendrycks+test/repo   # a git clone
"""

from __future__ import annotations

import argparse
import ast
import io
import re
import subprocess

import pandas as pd
from _common import stratified_split, write_splits

DATA_COMMIT = "785eba57b455b9f9be12a0d3c1106d67274fea0e"
CATEGORIES_COMMIT = "4450500f923c49f1fb1dd3d99108a0bd9717b660"
SPLITS = ("dev", "val", "test")


def _git(repo: str, *args: str) -> bytes:
    return subprocess.run(["git", "-C", repo, *args], check=True, capture_output=True).stdout


def _hierarchy(repo: str) -> tuple[dict[str, str], dict[str, str]]:
    """subject -> subcategory and subcategory -> category, read from categories.py as data."""
    tree = ast.parse(_git(repo, "show", f"{CATEGORIES_COMMIT}:categories.py").decode())
    values = {
        node.targets[0].id: ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign)
    }
    subcategory = {subject: subs[0] for subject, subs in values["subcategories"].items()}
    assert all(len(subs) == 1 for subs in values["subcategories"].values())
    category = {sub: cat for cat, subs in values["categories"].items() for sub in subs}
    return subcategory, category


def _text(row: pd.Series) -> str:
    text = f"{row[0]} A) {row[1]} B) {row[2]} C) {row[3]} D) {row[4]}"
    return re.sub(r"\s+", " ", text).strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("repo", help="a git clone of hendrycks/test")
    args = parser.parse_args()
    subcategory, category = _hierarchy(args.repo)
    rows = []
    for split in SPLITS:
        names = _git(args.repo, "ls-tree", "--name-only", DATA_COMMIT, f"data/{split}/")
        for path in sorted(names.decode().split()):
            subject = path.rsplit("/", 1)[1].removesuffix(f"_{split}.csv")
            raw = _git(args.repo, "show", f"{DATA_COMMIT}:{path}")
            table = pd.read_csv(io.BytesIO(raw), header=None, dtype=str, keep_default_na=False)
            assert table.shape[1] == 6, path
            for _, row in table.iterrows():
                rows.append((_text(row), subject))
    frame = pd.DataFrame(rows, columns=["text", "fine"])
    assert len(frame) == 15906 and frame["fine"].nunique() == 57, len(frame)
    subjects_per_text = frame.groupby("text")["fine"].transform("nunique")
    frame = frame[subjects_per_text == 1].drop_duplicates("text").reset_index(drop=True)
    frame["subcategory"] = frame["fine"].map(subcategory)
    frame["coarse"] = frame["subcategory"].map(category)
    assert frame["coarse"].notna().all()
    frame = frame[["text", "coarse", "fine", "subcategory"]]
    train_idx, test_idx = stratified_split(frame["fine"])
    write_splits(frame, "mmlu", train_idx, test_idx)


if __name__ == "__main__":
    main()

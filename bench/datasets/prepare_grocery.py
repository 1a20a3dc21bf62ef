"""Prepare the Grocery Store images for the benchmarks as the folder tree ``discover`` reads.

Source: the Grocery Store Dataset (Klasson, Zhang and Kjellström, "A Hierarchical Grocery Store
Image Dataset with Visual and Semantic Labels", WACV 2019), public repository
marcusklasson/GroceryStoreDataset, commit fc80ba90f803d79d0383df52c5a4ac5de99ff6fc, folder
``dataset/``: 5,421 photographs of fruits, vegetables and packaged products taken in grocery
stores with a phone camera (train 2,640, val 296, test 2,485), each labelled with a fine class
(81: e.g. Granny-Smith, Oatly-Oat-Milk) and the coarse class it belongs to (43: Apple, Oat-Milk,
...; 31 coarse classes hold one fine class, Juice holds 10). Licence: MIT (the repository's
LICENSE); the authors ask that the paper be cited. The images are not redistributed here: this
script reads a local copy and writes ``bench/cache/datasets/grocery/<split>/<coarse>/<fine>/``
(git-ignored), one folder level per label as ``coarse2fine discover ROOT`` reads it (the source
puts the images of a coarse class with one fine class directly in the coarse folder).

Labels are read from the split files (``<split>.txt``: path, fine id, coarse id) and
``classes.csv`` (the ids' names), not from the folder names.

    python bench/datasets/prepare_grocery.py REPO/dataset
"""

from __future__ import annotations

import argparse
import csv
import shutil
from collections import Counter
from pathlib import Path

from _common import PREPARED, ROOT

OUT = PREPARED / "grocery"
SPLITS = ("train", "val", "test")


def class_names(source: Path) -> tuple[dict[int, str], dict[int, str]]:
    """Fine id -> name and coarse id -> name, from classes.csv."""
    fine, coarse = {}, {}
    with open(source / "classes.csv", newline="", encoding="utf-8") as handle:
        for row in list(csv.reader(handle))[1:]:
            fine[int(row[1])] = row[0]
            coarse[int(row[3])] = row[2]
    return fine, coarse


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("source", type=Path, help="the repository's dataset/ folder")
    args = parser.parse_args()
    fine_names, coarse_names = class_names(args.source)
    for split in SPLITS:
        target = OUT / split
        if target.exists():
            shutil.rmtree(target)
        counts: Counter[tuple[str, str]] = Counter()
        lines = (args.source / f"{split}.txt").read_text(encoding="utf-8").splitlines()
        for line in filter(None, (line.strip() for line in lines)):
            path, fine_id, coarse_id = (part.strip() for part in line.split(","))
            fine, coarse = fine_names[int(fine_id)], coarse_names[int(coarse_id)]
            folder = target / coarse / fine
            folder.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(args.source / path, folder / Path(path).name)
            counts[coarse, fine] += 1
        per_fine = sorted(counts.values())
        print(
            f"{split}: {sum(per_fine)} images, {len({c for c, _ in counts})} coarse, "
            f"{len(counts)} fine ({per_fine[0]}-{per_fine[-1]} images each) -> "
            f"{target.relative_to(ROOT)}"
        )


if __name__ == "__main__":
    main()

"""Prepare 20 Newsgroups (the "bydate" version) for the benchmarks; the files are not committed.

Source: the ``20news-bydate`` distribution of 20 Newsgroups (Ken Lang's collection of Usenet
posts, 1993; "bydate" split by Jason Rennie: 11,314 train and 7,532 test messages, duplicates
and most headers that name a group removed), one message per file in
``20news-bydate-{train,test}/<newsgroup>/<id>``. The distribution states no licence; the files
are not redistributed here: this script reads a local copy and writes the benchmark's tables
under ``bench/cache/datasets/newsgroups/`` (git-ignored). The copy measured in docs/ is the one in
the public repository julenminer/mlnn_P65, commit 7393be663c8dd63e64c8264476494e62edf05c6e,
folder ``data/`` (all 18,846 messages, as in the official tarball ``20news-bydate.tar.gz``).

Labels: fine = the newsgroup (20); coarse = its topic as the dataset's home page groups them
(COARSE: computers 5, recreation 4, science 4, politics 3, religion 3, for sale 1). Messages
kept per newsgroup: 376-599 on the train split, 249-398 on the test split (the largest mean
category of any benchmarked set: 375 rows on the test split, MMLU's 55).

Texts: the message body only (everything after the first blank line: the headers name the group
and the sender), without quoted lines (starting ``>`` or ``|``), the line that introduces a quote
(ending ``writes:`` or ``wrote:``) and the signature (after the last line ``--``); whitespace runs
become one space. Messages left with no word are dropped (counted in the printout). The
official train / test split is kept.

    python bench/datasets/prepare_newsgroups.py ROOT   # ROOT holds 20news-bydate-train/ and -test/
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pandas as pd
from _common import PREPARED, write_splits

OUT = PREPARED / "newsgroups"
COARSE = {
    "computers": (
        "comp.graphics",
        "comp.os.ms-windows.misc",
        "comp.sys.ibm.pc.hardware",
        "comp.sys.mac.hardware",
        "comp.windows.x",
    ),
    "recreation": ("rec.autos", "rec.motorcycles", "rec.sport.baseball", "rec.sport.hockey"),
    "science": ("sci.crypt", "sci.electronics", "sci.med", "sci.space"),
    "politics": ("talk.politics.guns", "talk.politics.mideast", "talk.politics.misc"),
    "religion": ("alt.atheism", "soc.religion.christian", "talk.religion.misc"),
    "for sale": ("misc.forsale",),
}
TOPIC = {group: topic for topic, groups in COARSE.items() for group in groups}


def body(message: str) -> str:
    """The message's own words: no headers, quotes, quote introductions or signature."""
    _, _, text = message.partition("\n\n")
    lines = text.split("\n")
    dashes = [i for i, line in enumerate(lines) if line.strip() == "--"]
    if dashes:
        lines = lines[: dashes[-1]]
    kept = [
        line
        for line in lines
        if not line.lstrip().startswith((">", "|"))
        and not line.rstrip().endswith(("writes:", "wrote:"))
    ]
    return re.sub(r"\s+", " ", " ".join(kept)).strip()


def read_split(folder: Path) -> tuple[pd.DataFrame, int]:
    """One split's rows (text, coarse, fine, file) in newsgroup and file order, and how many
    messages were dropped for having no words."""
    rows, empty = [], 0
    for group in sorted(TOPIC):
        for path in sorted((folder / group).iterdir(), key=lambda p: p.name):
            if not path.is_file() or path.name.startswith("."):
                continue
            text = body(path.read_bytes().decode("latin-1"))
            if not re.search(r"\w", text):
                empty += 1
                continue
            rows.append((text, TOPIC[group], group, f"{group}/{path.name}"))
    frame = pd.DataFrame(rows, columns=["text", "coarse", "fine", "file"])
    return frame, empty


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("root", type=Path, help="folder holding 20news-bydate-train and -test")
    args = parser.parse_args()
    parts = []
    for split in ("train", "test"):
        folder = args.root / f"20news-bydate-{split}"
        missing = [group for group in TOPIC if not (folder / group).is_dir()]
        if missing:
            raise SystemExit(f"{folder}: no folder for {', '.join(missing)}")
        frame, empty = read_split(folder)
        print(f"{split}: {len(frame)} messages kept, {empty} without words dropped")
        parts.append(frame)
    frame = pd.concat(parts, ignore_index=True)
    train = range(len(parts[0]))
    test = range(len(parts[0]), len(frame))
    write_splits(frame, "newsgroups", list(train), list(test), out=OUT)


if __name__ == "__main__":
    main()

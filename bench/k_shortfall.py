"""What a coarse class whose count falls short holds: its rows grouped into the default's count
(K-Means on the default's features, as bench/estimate_k.py caches them) against the true
categories, so a reader sees which categories the criterion reads as one.

    python bench/k_shortfall.py mmlu "social sciences" --seed 0
    python bench/k_shortfall.py mmlu "social sciences" --seed 0 --k 3   # another count

Prints a table (true category x found group, rows); docs/ESTIMATE_K.md quotes it.
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd


def main() -> None:
    from estimate_k import features, package_estimate
    from sources import load

    from coarse2fine.cluster.kmeans import kmeans, l2_normalize

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset")
    parser.add_argument("coarse_class")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--k", type=int, help="group into this many instead of the default's count")
    args = parser.parse_args()
    data = load(args.dataset)
    if args.coarse_class not in data.coarse_classes:
        raise SystemExit(f"no coarse class {args.coarse_class!r}; {data.coarse_classes}")
    found = features(data, args.dataset, args.seed)
    if args.k is None:
        est = package_estimate(data, found, "after", args.seed)  # as bench/estimate_k.py asks
        k, counted = est.estimated_counts_[args.coarse_class], "the default counts"
    else:
        k, counted = args.k, "grouped into"
    rows = np.asarray(data.coarse) == args.coarse_class
    labels, _ = kmeans(l2_normalize(found["after"][rows]), k, seed=args.seed, n_init=3)
    table = pd.crosstab(np.asarray(data.fine)[rows], labels, rownames=["category"])
    table.columns = [f"group {c + 1}" for c in table.columns]
    print(
        f"{args.dataset}, {args.coarse_class!r}, seed {args.seed}: {rows.sum()} rows, "
        f"{table.shape[0]} true categories, {counted} {k}"
    )
    print("| category | " + " | ".join(table.columns) + " |")
    print("|---" * (len(table.columns) + 1) + "|")
    for name, counts in table.iterrows():
        print(f"| {name} | " + " | ".join(str(int(n)) for n in counts) + " |")


if __name__ == "__main__":
    main()

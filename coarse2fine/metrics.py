"""Clustering metrics, each x100: ACC (Hungarian), ARI, NMI, coarse accuracy; and the edit
distance between an inferred and the true coarse -> fine hierarchy."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score


def _codes(values) -> np.ndarray:
    return np.unique(np.asarray(values), return_inverse=True)[1]


def contingency(y_true, y_pred) -> np.ndarray:
    """Counts of (predicted cluster, true class); rectangular when their numbers differ."""
    t, p = _codes(y_true), _codes(y_pred)
    table = np.zeros((p.max() + 1, t.max() + 1), dtype=np.int64)
    np.add.at(table, (p, t), 1)
    return table


def cluster_acc(y_true, y_pred) -> float:
    """Best one-to-one match of clusters to classes (Hungarian); unmatched rows count as wrong."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if len(y_true) != len(y_pred):
        raise ValueError(f"{len(y_true)} true labels but {len(y_pred)} predictions")
    if len(y_true) == 0:
        raise ValueError("no rows to score")
    table = contingency(y_true, y_pred)
    rows, cols = linear_sum_assignment(table, maximize=True)
    return 100.0 * table[rows, cols].sum() / len(y_true)


def clustering_scores(y_true, y_pred) -> dict[str, float]:
    """ACC, ARI and NMI, each x100 (the HWSCL paper's reporting)."""
    return {
        "ACC": cluster_acc(y_true, y_pred),
        "ARI": 100.0 * adjusted_rand_score(y_true, y_pred),
        "NMI": 100.0 * normalized_mutual_info_score(y_true, y_pred),
    }


def _key(c: Any) -> Any:
    """A coarse class as a plain Python value (a dictionary key that JSON writes)."""
    return c.item() if hasattr(c, "item") else c


def scores_by_coarse(
    y_true, y_pred, coarse, features=None, separable_max_rows: int | None = None
) -> dict[Any, dict[str, float]]:
    """Per coarse class (in sorted order): its rows, the fine categories it truly holds, the
    categories found in it, and ACC (x100) of the found ones against the true ones inside it:
    where an estimated count fell short or over, and what that cost. With ``features``, also
    ``separable`` (``separable_categories``: how many of its true categories the features keep
    apart), for the classes of at most ``separable_max_rows`` rows (None: every class; the work
    grows with the square of a class's rows)."""
    y_true, y_pred, coarse = np.asarray(y_true), np.asarray(y_pred), np.asarray(coarse)
    if not len(y_true) == len(y_pred) == len(coarse):
        raise ValueError(
            f"{len(y_true)} true labels, {len(y_pred)} predictions, {len(coarse)} coarse labels"
        )
    out = {}
    for c in np.unique(coarse):
        rows = coarse == c
        out[_key(c)] = {
            "rows": int(rows.sum()),
            "true": len(np.unique(y_true[rows])),
            "found": len(np.unique(y_pred[rows])),
            "ACC": cluster_acc(y_true[rows], y_pred[rows]),
        }
    if features is not None:
        limit = len(coarse) if separable_max_rows is None else separable_max_rows
        small = np.isin(coarse, [c for c, row in out.items() if row["rows"] <= limit])
        if small.any():
            kept = separable_categories(np.asarray(features)[small], y_true[small], coarse[small])
            for c, n in kept.items():
                out[c]["separable"] = n
    return out


def coarse_accuracy(y_true, y_pred) -> float:
    """Plain accuracy of coarse predictions against coarse labels, x100."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if len(y_true) != len(y_pred) or len(y_true) == 0:
        raise ValueError("coarse_accuracy needs two equally long, non-empty label arrays")
    return 100.0 * float(np.mean(y_true == y_pred))


def hierarchy_edit_distance(parents_a, parents_b) -> int:
    """Graph edit distance between two coarse -> fine trees, coarse nodes fixed by name.

    Each tree is given as the coarse parent of each of its fine nodes; fine nodes are unlabelled
    (discovered categories have no names to match), so they may be matched freely. With unit
    costs for inserting or deleting a node or an edge, matching fine nodes under the same coarse
    class is free, re-hanging a matched fine node costs 2 (delete and insert its edge), and each
    unmatched fine node costs 2 (the node and its edge). The optimum is therefore
    2 * (max(K_a, K_b) - sum_c min(a_c, b_c)), with a_c, b_c the children of c in each tree
    (checked against networkx's exact graph edit distance in the tests).
    """
    a = Counter(str(p) for p in parents_a)
    b = Counter(str(p) for p in parents_b)
    shared = sum(min(a[c], b[c]) for c in a.keys() & b.keys())
    return 2 * (max(sum(a.values()), sum(b.values())) - shared)


def true_parents(fine, coarse) -> list[str]:
    """The coarse parent of each true fine class (its majority coarse label)."""
    fine, coarse = np.asarray(fine), np.asarray(coarse)
    parents = []
    for f in np.unique(fine):
        values, counts = np.unique(coarse[fine == f], return_counts=True)
        parents.append(str(values[counts.argmax()]))
    return parents


def silhouette_by_coarse(features, labels, coarse) -> dict[Any, tuple[int, float]]:
    """Per coarse class: (rows, cosine silhouette of its rows under their categories, x100).
    Classes with one category, or every row its own, or fewer than 3 rows are left out."""
    from sklearn.metrics import silhouette_score

    features = np.asarray(features, dtype=np.float64)
    labels, coarse = _codes(labels), np.asarray(coarse)
    out = {}
    for c in np.unique(coarse):
        rows = np.flatnonzero(coarse == c)
        found = labels[rows]
        if len(rows) >= 3 and 1 < len(np.unique(found)) < len(rows):
            score = silhouette_score(features[rows], found, metric="cosine")
            out[_key(c)] = (len(rows), 100.0 * float(score))
    return out


def within_coarse_silhouette(features, labels, coarse) -> float:
    """Label-free quality of categories found inside coarse classes: ``silhouette_by_coarse``
    averaged over classes weighted by rows; nan when no class counts. x100, in [-100, 100]."""
    scores = silhouette_by_coarse(features, labels, coarse).values()
    weight = sum(n for n, _ in scores)
    return sum(n * s for n, s in scores) / weight if weight else float("nan")


def _neighbour_votes(features, labels, coarse, k: int):
    """Per coarse class of at least 3 rows: (the class, its rows' labels, the label most of each
    row's ``k`` nearest other rows carry: cosine, same class, ties to the smallest label)."""
    features = np.asarray(features, dtype=np.float64)
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    features = features / np.where(norms > 0, norms, 1.0)
    labels, coarse = _codes(labels), np.asarray(coarse)
    for c in np.unique(coarse):
        rows = np.flatnonzero(coarse == c)
        if len(rows) < 3:
            continue
        kc = min(k, len(rows) - 1)
        own = labels[rows]
        majority = np.empty(len(rows), dtype=np.int64)
        step = max(1, min(2048, 2**24 // len(rows)))  # blocks of at most 128 MB of similarities
        for start in range(0, len(rows), step):
            block = slice(start, start + step)
            sims = features[rows[block]] @ features[rows].T
            sims[np.arange(sims.shape[0]), np.arange(start, start + sims.shape[0])] = -np.inf
            nearest = np.argpartition(-sims, kc - 1, axis=1)[:, :kc]
            majority[block] = [np.bincount(v).argmax() for v in own[nearest]]
        yield c, own, majority


def knn_agreement(features, labels, coarse, k: int = 10) -> float:
    """How well a space's neighbourhoods agree with a partition found elsewhere: inside each
    coarse class, the share of rows whose ``k`` nearest other rows (cosine, same class) mostly
    carry the row's own label (ties go to the smallest label), averaged over rows, x100.
    Classes of fewer than 3 rows are left out; nan when none is left. The fallback compares
    the trained partition judged by the untrained space's neighbours with the untrained
    partition judged by the trained space's (bench/fallback_signal.py measures it)."""
    agree, total = 0, 0
    for _, own, majority in _neighbour_votes(features, labels, coarse, k):
        agree += int((majority == own).sum())
        total += len(own)
    return 100.0 * agree / total if total else float("nan")


def separable_categories(features, fine, coarse, k: int = 1) -> dict[Any, int]:
    """Per coarse class: how many of its fine categories a space keeps apart, judged with the
    labels known: a category counts where at least half of its rows have mostly rows of the
    same category among their ``k`` nearest other rows (cosine, same class; k = 1, the most
    lenient to small categories). At least 1 per class (one category has nothing to separate;
    classes of fewer than 3 rows count 1). A ceiling for counting categories from the rows'
    neighbourhoods: a category that is not its own rows' neighbourhood is merged by any such
    count (bench/estimate_k.py reports it beside the true K)."""
    coarse = np.asarray(coarse)
    out = {_key(c): 1 for c in np.unique(coarse)}
    for c, own, majority in _neighbour_votes(features, fine, coarse, k):
        kept = sum(np.mean(majority[own == f] == f) >= 0.5 for f in np.unique(own))
        out[_key(c)] = max(1, int(kept))
    return out

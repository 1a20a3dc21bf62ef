"""Clustering metrics, each x100: ACC (Hungarian), ARI, NMI, and coarse accuracy."""

from __future__ import annotations

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


def coarse_accuracy(y_true, y_pred) -> float:
    """Plain accuracy of coarse predictions against coarse labels, x100."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if len(y_true) != len(y_pred) or len(y_true) == 0:
        raise ValueError("coarse_accuracy needs two equally long, non-empty label arrays")
    return 100.0 * float(np.mean(y_true == y_pred))

"""The coarse -> fine relation: FALCON's exact M-step, and neighbours inside a coarse class.

The M-step (FALCON; docs/FALCON.md) chooses one coarse parent for every fine class,
maximising  sum_f C[f, parent(f)] - lambda_m * (sum_c s_c^2 / K_C - (K_F / K_C)^2)
where s_c counts the fine classes under c and every coarse class must keep at least one.
The paper solves it with Gurobi. It is a min-cost flow with convex costs: fine node f sends one
unit to a coarse node c (gain C[f, c]); coarse node c passes its units to the sink through
"slots" k = 1..K_F-K_C+1 of capacity one and increasing marginal cost lambda_m (2k-1) / K_C
(the increments of s_c^2 / K_C), the first slot of every c forced full. A network matrix is
totally unimodular, so the LP relaxation has an integral optimum, which scipy's HiGHS finds; a
MILP solve is the fallback should a non-vertex solution ever come back.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, linprog, milp

from coarse2fine.cluster.kmeans import faiss_available


def relation_matrix(parents: np.ndarray, n_coarse: int) -> np.ndarray:
    """The K_F x K_C binary matrix M with M[f, parents[f]] = 1."""
    parents = np.asarray(parents, dtype=np.int64)
    relation = np.zeros((len(parents), n_coarse), dtype=np.float32)
    relation[np.arange(len(parents)), parents] = 1.0
    return relation


def relation_objective(cost: np.ndarray, parents: np.ndarray, lambda_m: float) -> float:
    """The M-step objective of an assignment (higher is better)."""
    n_fine, n_coarse = cost.shape
    sizes = np.bincount(parents, minlength=n_coarse)
    balance = (sizes**2).sum() / n_coarse - (n_fine / n_coarse) ** 2
    return float(cost[np.arange(n_fine), parents].sum() - lambda_m * balance)


def solve_relation(cost: np.ndarray, lambda_m: float = 0.0) -> np.ndarray:
    """Exact M-step: the parent (coarse index) of every fine class; see the module docstring.

    ``cost`` is K_F x K_C (FALCON: teacher predictions against one-hot coarse labels, P^T Y / N).
    """
    cost = np.asarray(cost, dtype=np.float64)
    n_fine, n_coarse = cost.shape
    if n_fine < n_coarse:
        raise ValueError(
            f"{n_fine} fine classes cannot give each of the {n_coarse} coarse classes a child"
        )
    if lambda_m < 0:
        raise ValueError(f"lambda_m must be >= 0, got {lambda_m}")
    if n_coarse == 1:
        return np.zeros(n_fine, dtype=np.int64)
    n_slots = n_fine - n_coarse + 1
    n_x, n_y = n_fine * n_coarse, n_coarse * n_slots
    # variables: x[f, c] (row-major), then y[c, k] (row-major)
    slot_cost = lambda_m * (2 * np.arange(1, n_slots + 1) - 1) / n_coarse
    objective = np.concatenate([-cost.ravel(), np.tile(slot_cost, n_coarse)])
    f_idx = np.repeat(np.arange(n_fine), n_coarse)
    c_idx = np.tile(np.arange(n_coarse), n_fine)
    x_cols = np.arange(n_x)
    # each fine class has exactly one parent
    one_parent = sparse.csr_matrix((np.ones(n_x), (f_idx, x_cols)), shape=(n_fine, n_x + n_y))
    # flow conservation at each coarse node: sum_f x[f, c] - sum_k y[c, k] = 0
    y_rows = np.repeat(np.arange(n_coarse), n_slots)
    balance = sparse.csr_matrix(
        (
            np.concatenate([np.ones(n_x), -np.ones(n_y)]),
            (np.concatenate([c_idx, y_rows]), np.arange(n_x + n_y)),
        ),
        shape=(n_coarse, n_x + n_y),
    )
    a_eq = sparse.vstack([one_parent, balance]).tocsr()
    b_eq = np.concatenate([np.ones(n_fine), np.zeros(n_coarse)])
    lower = np.zeros(n_x + n_y)
    lower[n_x + np.arange(n_coarse) * n_slots] = 1.0  # the first slot of each coarse class
    bounds = np.stack([lower, np.ones(n_x + n_y)], axis=1)
    result = linprog(objective, A_eq=a_eq, b_eq=b_eq, bounds=bounds, method="highs")
    if result.status != 0:  # pragma: no cover - the problem is always feasible
        raise RuntimeError(f"M-step LP failed: {result.message}")
    x = result.x[:n_x].reshape(n_fine, n_coarse)
    if np.abs(x - np.round(x)).max() > 1e-6:  # pragma: no cover - vertex solutions are integral
        integrality = np.ones(n_x + n_y)
        constraint = LinearConstraint(a_eq, b_eq, b_eq)
        result = milp(
            objective,
            constraints=constraint,
            integrality=integrality,
            bounds=Bounds(lower, np.ones(n_x + n_y)),
        )
        x = result.x[:n_x].reshape(n_fine, n_coarse)
    return x.argmax(1).astype(np.int64)


def same_coarse_neighbours(
    features: np.ndarray, coarse: np.ndarray, k: int, backend: str = "auto"
) -> np.ndarray:
    """The ``k`` nearest rows (cosine) of every row among the rows of its own coarse class.

    Returns an N x k index array; a class with fewer than k + 1 rows repeats its neighbours
    cyclically, and a class of one row is its own neighbour.
    """
    features = np.ascontiguousarray(features, dtype=np.float32)
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    features = features / np.maximum(norms, 1e-12)
    out = np.empty((len(features), k), dtype=np.int64)
    use_faiss = backend == "faiss" or (backend == "auto" and faiss_available())
    for c in np.unique(coarse):
        rows = np.flatnonzero(coarse == c)
        if len(rows) == 1:
            out[rows] = rows[0]
            continue
        k_c = min(k, len(rows) - 1)
        sub = features[rows]
        if use_faiss:
            import faiss

            index = faiss.IndexFlatIP(sub.shape[1])
            index.add(sub)
            _, found = index.search(sub, k_c + 1)
        else:
            from sklearn.neighbors import NearestNeighbors

            found = NearestNeighbors(n_neighbors=k_c + 1).fit(sub).kneighbors(sub)[1]
        own = found == np.arange(len(rows))[:, None]
        # drop the row itself (normally the first hit; ties may move it), keep k_c others
        found = np.stack([r[~o][:k_c] for r, o in zip(found, own, strict=True)])
        out[rows] = rows[found[:, np.arange(k) % k_c]]
    return out

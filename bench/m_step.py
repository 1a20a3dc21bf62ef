"""FALCON's M-step (cluster/hierarchy.py): time of the exact solve at the papers' sizes.

For each size, random costs shaped like FALCON's (teacher predictions P^T Y / N: a Dirichlet
row per fine class, mostly on one coarse class) are solved 5 times; the median and the worst
time are reported, with the objective checked against scipy's MILP on the same formulation.

    python bench/m_step.py                 # one cell under bench/results/m_step/
    python bench/m_step.py --report-only
"""

from __future__ import annotations

import statistics
import sys
import time

import numpy as np
from common import ROOT, replace_section
from harness import measurement

from coarse2fine.cluster.hierarchy import relation_objective, solve_relation

RESULTS = ROOT / "bench" / "results" / "m_step"

# (K_F, K_C, where the size comes from)
SIZES = [
    (64, 18, "HWU64"),
    (150, 10, "CLINC"),
    (100, 20, "CIFAR-100"),
    (608, 34, "tieredImageNet"),
]
LAMBDA_M = 0.01
REPEATS = 5
SETTINGS = {"version": 1, "sizes": SIZES, "lambda_m": LAMBDA_M, "repeats": REPEATS}


def falcon_like_cost(n_fine: int, n_coarse: int, rng: np.random.Generator) -> np.ndarray:
    cost = rng.dirichlet(np.full(n_coarse, 0.1), size=n_fine)
    return cost / n_fine


def milp_objective(cost: np.ndarray, lambda_m: float) -> float:
    """The same problem as an integer program (a check that the LP's vertex is optimal)."""
    from scipy.optimize import Bounds, LinearConstraint, milp
    from scipy.sparse import csr_matrix, hstack, vstack

    n_fine, n_coarse = cost.shape
    n_slots = n_fine - n_coarse + 1
    n_x, n_y = n_fine * n_coarse, n_coarse * n_slots
    c = np.concatenate(
        [
            -cost.ravel(),
            np.tile(lambda_m * (2 * np.arange(1, n_slots + 1) - 1) / n_coarse, n_coarse),
        ]
    )
    one = csr_matrix((np.ones(n_x), (np.repeat(np.arange(n_fine), n_coarse), np.arange(n_x))))
    flow_x = csr_matrix((np.ones(n_x), (np.tile(np.arange(n_coarse), n_fine), np.arange(n_x))))
    flow_y = csr_matrix((-np.ones(n_y), (np.repeat(np.arange(n_coarse), n_slots), np.arange(n_y))))
    a = vstack([hstack([one, csr_matrix((n_fine, n_y))]), hstack([flow_x, flow_y])])
    b = np.concatenate([np.ones(n_fine), np.zeros(n_coarse)])
    lower = np.zeros(n_x + n_y)
    lower[n_x + np.arange(n_coarse) * n_slots] = 1
    res = milp(
        c,
        constraints=LinearConstraint(a, b, b),
        integrality=np.ones(n_x + n_y),
        bounds=Bounds(lower, np.ones(n_x + n_y)),
    )
    x = res.x[:n_x].reshape(n_fine, n_coarse)
    return relation_objective(cost, x.argmax(1), lambda_m)


def measure() -> dict:
    rng = np.random.default_rng(0)
    sizes = []
    for n_fine, n_coarse, source in SIZES:
        cost = falcon_like_cost(n_fine, n_coarse, rng)
        times = []
        for _ in range(REPEATS):
            t = time.perf_counter()
            parents = solve_relation(cost, LAMBDA_M)
            times.append(time.perf_counter() - t)
        lp = relation_objective(cost, parents, LAMBDA_M)
        exact = milp_objective(cost, LAMBDA_M)
        sizes.append(
            {
                "size": [n_fine, n_coarse],
                "source": source,
                "median_seconds": statistics.median(times),
                "worst_seconds": max(times),
                "equals_milp": bool(abs(lp - exact) < 1e-9),
            }
        )
        print(sizes[-1], file=sys.stderr)
    return {"sizes": sizes}


def report(record: dict) -> None:
    rows = [
        f"| {r['size'][0]} x {r['size'][1]} | {r['source']} | {r['median_seconds']:.3f} "
        f"| {r['worst_seconds']:.3f} | {'yes' if r['equals_milp'] else 'NO'} |"
        for r in record["sizes"]
    ]
    body = "\n".join(
        [
            "## FALCON M-step: exact solve time",
            "",
            "`solve_relation` (min-cost-flow LP, scipy HiGHS) on FALCON-like random costs, "
            f"lambda_M {LAMBDA_M}; {REPEATS} solves per size. Targets: under 1 s at",
            "150 x 10, under 5 s at 608 x 34. \"= MILP\": the LP's objective equals scipy's",
            "integer-programming optimum of the same problem.",
            "",
            "Command: `python bench/m_step.py`  ",
            f"Machine: {record['machine']}  ",
            f"Wall time {record['wall_seconds']:.1f} s (including the MILP checks), "
            f"peak memory {record['peak_memory_mb']:.0f} MB.",
            "",
            "| K_F x K_C | size of | median s | worst s | = MILP |",
            "|---|---|---|---|---|",
            *rows,
        ]
    )
    replace_section("m_step", body)


if __name__ == "__main__":
    measurement(__file__, __doc__, "falcon-like", SETTINGS, measure, report, RESULTS)

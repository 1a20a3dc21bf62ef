"""Where the default ``discover``'s time goes, per phase, on the text sets of bench/peers.py.

Runs ``Discoverer(n_fine=K_c).fit`` at its defaults (seed 0) under cProfile and reads the
cumulative time of its phases: the training epochs, the bank refills and neighbour mining
before each epoch (DOWN's ``on_epoch_start``; the layouts included), the final encoding of
every row at the fitted length, and the rest (loading, the clustering, the summary). Times
are the profiler's; its overhead is small for these runs, whose time is spent in torch's
kernels (compare the unprofiled seconds of bench/peers.py).

    python bench/where_time_goes.py                   # every text set
    python bench/where_time_goes.py --dataset mmlu
    python bench/where_time_goes.py --report-only

One cell per dataset under bench/results/where_time_goes/.
"""

from __future__ import annotations

import cProfile
import pstats
import time
from pathlib import Path

from common import ROOT, package_defaults, replace_section
from harness import Cell, main
from sources import TEXT_DATASETS, load, true_counts

RESULTS = ROOT / "bench" / "results" / "where_time_goes"
# phase -> (file suffix, function name) whose cumulative time it is
PHASES = {
    "training epochs": ("coarse2fine/train.py", "epoch"),
    "bank refill and mining": ("coarse2fine/methods/neighbours.py", "on_epoch_start"),
    "final encoding": ("coarse2fine/discoverer.py", "_embed"),
}


def cumulative(stats: dict, suffix: str, name: str) -> float:
    """Seconds spent in the function ``name`` of the file ending ``suffix``, its callees
    included (cProfile's cumulative time)."""
    return sum(v[3] for k, v in stats.items() if k[0].endswith(suffix) and k[2] == name)


def profiled(fn, *args, **kwargs) -> tuple[object, float, dict]:
    """``fn(*args, **kwargs)`` under cProfile: its result, its seconds, and the profile's stats
    ((file, line, name) -> (cc, nc, tt, ct, callers))."""
    profile = cProfile.Profile()
    start = time.perf_counter()
    result = profile.runcall(fn, *args, **kwargs)
    seconds = time.perf_counter() - start
    return result, seconds, pstats.Stats(profile).stats


def profiled_fit(est, data, phases: dict[str, tuple[str, str]]) -> tuple[float, dict]:
    """``est.fit(data)`` under cProfile: its seconds, and each phase's (``phases``: name ->
    (file suffix, function)) with the rest of them."""
    _, total, stats = profiled(est.fit, data)
    found = {phase: round(cumulative(stats, *where), 1) for phase, where in phases.items()}
    found["the rest"] = round(total - sum(found.values()), 1)
    return total, found


def phase_shares(phases: dict[str, float], total: float, names: list[str]) -> list[str]:
    """Each named phase's seconds with its share of ``total``, as the tables print them."""
    return [f"{phases[n]:.1f} ({100 * phases[n] / total:.0f} %)" for n in names]


def cells() -> list[Cell]:
    settings = {"version": 1, "defaults": package_defaults()}
    return [Cell(d, "default", 0, settings) for d in TEXT_DATASETS]


def run_one(cell: Cell) -> dict:
    from coarse2fine import Discoverer

    data = load(cell.dataset)
    est = Discoverer(n_fine=true_counts(data), seed=cell.seed, progress=False)
    total, phases = profiled_fit(est, data, PHASES)
    print(f"{cell.dataset}: {total:.0f} s under the profiler, {phases}", flush=True)
    return {"rows": len(data), "profiled_seconds": round(total, 1), "phases": phases}


def report(records: list[dict]) -> None:
    names = [*PHASES, "the rest"]
    lines = [
        "## Where the default's time goes (texts)",
        "",
        "Command: `python bench/where_time_goes.py`. `Discoverer(n_fine=K_c).fit` at its "
        "defaults, seed 0, under cProfile (seconds as the profiler counts them, close to the "
        "unprofiled seconds of the Peers table; the share of the total in brackets).",
        "",
        "| dataset | rows | profiled s | " + " | ".join(names) + " |",
        "|---|---|---|" + "---|" * len(names),
    ]
    for r in sorted(records, key=lambda r: TEXT_DATASETS.index(r["dataset"])):
        total = r["profiled_seconds"]
        cells_ = phase_shares(r["phases"], total, names)
        lines.append(f"| {r['dataset']} | {r['rows']} | {total:.1f} | " + " | ".join(cells_) + " |")
    lines += ["", "Machine: " + "; ".join(sorted({r["machine"] for r in records})) + "."]
    replace_section("where_time_goes", "\n".join(lines))


if __name__ == "__main__":
    main(str(Path(__file__).resolve()), __doc__, cells(), run_one, report, RESULTS)

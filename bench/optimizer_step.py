"""What one optimizer step costs on this machine, and what the fused AdamW kernel saves.

A profile of the default ``discover`` on CLINC's test split showed AdamW's per-tensor loop
(torch's CPU default) taking about a sixth of a training step. This script measures, on the
packaged MiniLM's parameters with random gradients:

- one AdamW step three ways: a loop over tensors (torch's CPU default), ``foreach`` and
  ``fused`` (mean of 10 steps after 2 warm-up steps), gradient clipping, and the momentum
  encoder's EMA update;
- that the fused step is the same update: 20 steps from the same weights and gradients, the
  largest difference of any weight between the two;
- end to end: DOWN as published (the default ``discover`` when measured) on HWU64's test
  split, K given, with the fused kernel (the package's choice) and with the per-tensor loop,
  one after the other in this process: seconds of each training epoch, and ACC.

    python bench/optimizer_step.py      # one cell under bench/results/optimizer_step/
"""

from __future__ import annotations

import time
from unittest import mock

import torch
from common import DOWN_PUBLISHED, ROOT, replace_section
from harness import measurement

RESULTS = ROOT / "bench" / "results" / "optimizer_step"
SETTINGS = {"version": 1, "steps": 10, "equal_steps": 20, "end_to_end": "hwu64"}
COMMAND = "python bench/optimizer_step.py"


def minilm_parameters() -> list[torch.nn.Parameter]:
    from coarse2fine.encoders.text import DEFAULT_TEXT_MODEL, TextEncoder

    return list(TextEncoder.from_pretrained(DEFAULT_TEXT_MODEL).parameters())


def step_ms(params, make, steps: int) -> float:
    torch.manual_seed(0)
    for p in params:
        p.grad = torch.randn_like(p) * 1e-3
    optimizer = make(params)
    for _ in range(2):
        optimizer.step()
    start = time.perf_counter()
    for _ in range(steps):
        optimizer.step()
    return 1000 * (time.perf_counter() - start) / steps


def timed(fn, steps: int) -> float:
    fn()
    start = time.perf_counter()
    for _ in range(steps):
        fn()
    return 1000 * (time.perf_counter() - start) / steps


def largest_difference(params, steps: int) -> float:
    """Weights after ``steps`` AdamW steps, per-tensor against fused, from the same start and
    the same gradients."""
    finals = []
    for fused in (False, True):
        weights = [p.detach().clone().requires_grad_(True) for p in params]
        optimizer = torch.optim.AdamW(weights, lr=1e-5, weight_decay=0.01, fused=fused)
        generator = torch.Generator().manual_seed(0)
        for _ in range(steps):
            for w in weights:
                w.grad = torch.randn(w.shape, generator=generator) * 1e-3
            optimizer.step()
        finals.append(weights)
    return max(float((a - b).abs().max()) for a, b in zip(*finals, strict=True))


def end_to_end() -> dict:
    import sys

    sys.path.insert(0, str(ROOT / "bench"))
    from sources import load, true_counts

    import coarse2fine.train as train
    from coarse2fine import Discoverer
    from coarse2fine.metrics import clustering_scores

    data = load("hwu64")
    out = {}
    for label, patch in (("fused", None), ("per-tensor", lambda params: False)):
        patcher = mock.patch.object(train, "fused_adam", patch) if patch else None
        if patcher:
            patcher.start()
        try:
            start = time.perf_counter()
            est = Discoverer(
                n_fine=true_counts(data), seed=0, progress=False, method_params=DOWN_PUBLISHED
            ).fit(data)
            seconds = time.perf_counter() - start
        finally:
            if patcher:
                patcher.stop()
        out[label] = {
            "seconds": round(seconds, 1),
            "epochs": [[h.get("stage", "train"), round(h["seconds"], 1)] for h in est.history_],
            "ACC": round(clustering_scores(data.fine, est.labels_)["ACC"], 2),
        }
    return out


def measure() -> dict:
    from coarse2fine.methods.base import ema_update

    torch.set_num_threads(torch.get_num_threads())
    params = minilm_parameters()
    steps = SETTINGS["steps"]
    kernels = {
        "per-tensor": {"foreach": False},
        "foreach": {"foreach": True},
        "fused": {"fused": True},
    }
    adam = {
        name: step_ms(params, lambda p, kw=kw: torch.optim.AdamW(p, lr=1e-5, **kw), steps)
        for name, kw in kernels.items()
    }
    clip = timed(lambda: torch.nn.utils.clip_grad_norm_(params, 1.0), steps)
    copy = torch.nn.Module()
    copy.weights = torch.nn.ParameterList([torch.nn.Parameter(p.detach().clone()) for p in params])
    source = torch.nn.Module()
    source.weights = torch.nn.ParameterList(params)
    with torch.no_grad():
        ema = timed(lambda: ema_update(copy, source, 0.99), steps)
    return {
        "parameters_m": round(sum(p.numel() for p in params) / 1e6, 1),
        "adam_ms": {k: round(v, 1) for k, v in adam.items()},
        "clip_ms": round(clip, 1),
        "ema_ms": round(ema, 1),
        "largest_difference": largest_difference(params, SETTINGS["equal_steps"]),
        "end_to_end": end_to_end(),
    }


def report(record: dict) -> None:
    adam, e2e = record["adam_ms"], record["end_to_end"]
    lines = [
        "## Optimizer step: AdamW's fused kernel",
        "",
        f"Command: `{COMMAND}`. One step over MiniLM's {record['parameters_m']} M parameters "
        "with random gradients, mean of 10 steps:",
        "",
        "| part | ms a step |",
        "|---|---|",
        f"| AdamW, a loop over tensors (torch's CPU default) | {adam['per-tensor']} |",
        f"| AdamW, foreach | {adam['foreach']} |",
        f"| AdamW, fused (the package's choice) | {adam['fused']} |",
        f"| gradient clipping | {record['clip_ms']} |",
        f"| momentum encoder's EMA update | {record['ema_ms']} |",
        "",
        f"Fused and per-tensor AdamW give the same update: after {SETTINGS['equal_steps']} steps "
        f"from the same weights and gradients no weight differs by more than "
        f"{record['largest_difference']:.1e}.",
        "",
        "End to end, DOWN as published (the default `discover` when measured) on HWU64's test "
        "split (K given, seed 0), both in this process:",
        "",
        "| AdamW | seconds | epochs (stage, s) | ACC |",
        "|---|---|---|---|",
    ]
    for label, r in e2e.items():
        epochs = ", ".join(f"{stage} {s}" for stage, s in r["epochs"])
        lines.append(f"| {label} | {r['seconds']} | {epochs} | {r['ACC']} |")
    lines += ["", f"Machine: {record['machine']}."]
    replace_section("optimizer_step", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    measurement(__file__, __doc__, "minilm", SETTINGS, measure, report, RESULTS)

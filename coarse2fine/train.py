"""The ONE training loop every method uses.

Batches come from ``batching.bucketed_batches`` (length-bucketed, dynamic padding); the method
supplies the loss (``training_step``) and its hooks, the loop everything else: optimiser and
schedule, precision, gradient clipping, progress, and the loss history.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from coarse2fine.batching import (
    PRECISIONS,
    Prepared,
    autocast,
    bucketed_batches,
    make_batch,
    map_rows,
    resolve_precision,
)
from coarse2fine.checkpoint import Checkpoints, adopt, fingerprint, random_states, set_random_states
from coarse2fine.distributed import is_main, sharded, world_size
from coarse2fine.methods.base import Method

CURVE_POINTS = 200  # training curve: at most this many averaged points per fit


@dataclass
class TrainConfig:
    """Optimisation settings shared by all methods (HWSCL paper / reference code defaults)."""

    epochs: int = 3
    batch_size: int = 64
    lr: float = 5e-5
    weight_decay: float = 0.01
    warmup: float = 0.1  # fraction of steps with linear warm-up, then linear decay
    grad_clip: float = 1.0
    precision: str = "auto"  # "bf16" autocast, "fp32", or "auto" (bf16 where native)
    seed: int = 0
    head_lr: float | None = None  # lr of the parameters outside the encoder; None: same as lr

    def __post_init__(self) -> None:
        if self.epochs < 0:
            raise ValueError(f"epochs must be >= 0, got {self.epochs}")
        if self.batch_size < 2:
            raise ValueError(f"batch_size must be >= 2, got {self.batch_size}")
        if self.lr <= 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        if self.head_lr is not None and self.head_lr <= 0:
            raise ValueError(f"head_lr must be positive, got {self.head_lr}")
        if not 0.0 <= self.warmup < 1.0:
            raise ValueError(f"warmup must be in [0, 1), got {self.warmup}")
        if self.precision not in PRECISIONS:
            raise ValueError(
                f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def seed_everything(seed: int) -> None:
    """One seed fixes python, numpy and torch (CPU runs are then repeatable)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def build_optimizer(method: Method, cfg: TrainConfig) -> torch.optim.Optimizer:
    """AdamW; biases and LayerNorm weights are not decayed (as BERT fine-tuning does); the
    freshly initialised heads may take their own learning rate (``head_lr``)."""
    groups: dict[tuple[bool, bool], list] = {}
    for name, p in method.named_parameters():
        if not p.requires_grad:
            continue
        in_encoder = name.startswith("encoder.")
        decays = not (p.ndim < 2 or "LayerNorm" in name or "norm" in name)
        groups.setdefault((in_encoder, decays), []).append(p)
    head_lr = cfg.lr if cfg.head_lr is None else cfg.head_lr
    every = [p for group in groups.values() for p in group]
    return torch.optim.AdamW(
        [
            {
                "params": params,
                "lr": cfg.lr if in_encoder else head_lr,
                "weight_decay": cfg.weight_decay if decays else 0.0,
            }
            for (in_encoder, decays), params in groups.items()
        ],
        lr=cfg.lr,
        fused=fused_adam(every),
    )


def fused_adam(params: list) -> bool | None:
    """Whether AdamW may run its fused kernel: one pass over all parameters instead of a
    loop over tensors, the same update up to rounding and several times faster on MiniLM's
    22.7 M parameters on a CPU (bench/optimizer_step.py, docs/SCALE.md). It needs floating-point
    parameters on one kind of device that has the kernel."""
    devices = {p.device.type for p in params}
    if len(devices) != 1 or not all(p.is_floating_point() for p in params):
        return None
    return True if devices.pop() in ("cpu", "cuda") else None


def _linear_schedule(optimizer, warmup_steps: int, total_steps: int):
    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def fit(
    method: Method,
    prepared: Prepared,
    cfg: TrainConfig,
    *,
    device: str | torch.device = "cpu",
    progress: bool = True,
    checkpoint_dir: str | Path | None = None,
) -> list[dict[str, float]]:
    """Train ``method`` on the prepared rows; returns one dict of mean losses per epoch, each
    with its training curve (``curve``: mean losses over windows of steps, for plots). A method
    that declares a warm-up stage (``Method.warmup``) gets it first; its epochs come first in
    the history, marked ``"stage": "warmup"``.

    With ``checkpoint_dir`` the run's whole state is saved there at the end of every epoch, and
    a run that finds its own checkpoint there continues from it (``coarse2fine.checkpoint``):
    ``method`` then becomes the saved object, exactly as the uninterrupted run would hold it.

    Under torchrun every rank calls ``fit`` alike; ``cfg.batch_size`` rows per rank make one
    global batch, trained as one process would train it (``coarse2fine.distributed``)."""
    device = torch.device(device)
    seed_everything(cfg.seed)
    method.to(device)
    method.precision = resolve_precision(cfg.precision, device)  # its hooks encode rows so too
    if not method.trains or cfg.epochs == 0:
        return []
    with sharded(cfg.seed):
        return _fit(method, prepared, cfg, device, progress and is_main(), checkpoint_dir)


def _fit(method, prepared, cfg, device, progress, checkpoint_dir) -> list[dict[str, float]]:
    checkpoints, saved, history = None, None, []
    if checkpoint_dir is not None:
        checkpoints = Checkpoints(checkpoint_dir, fingerprint(method, prepared, cfg))
        saved = checkpoints.load(device)
    if saved is not None:
        adopt(method, saved["method"])
        history = saved["history"]
    steps = _Steps.of(method, device)
    stage = method.warmup()
    if stage is not None and stage.epochs > 0 and (saved is None or saved["stage"] == "warmup"):
        _warm_up(method, steps, prepared, cfg, stage, device, progress, history, checkpoints, saved)
        saved = None  # the main stage starts as a fresh run's does, from the current states
    elif saved is not None:
        set_random_states(saved["random"])
    batch_size = global_batch(cfg)
    rng = np.random.default_rng(cfg.seed)
    # (the first draw only counts the batches; kept so the benchmark's runs stay reproducible)
    steps_per_epoch = len(bucketed_batches(prepared.lengths, batch_size, rng, drop_last=True))
    total = steps_per_epoch * cfg.epochs
    optimizer = build_optimizer(method, cfg)
    scheduler = _linear_schedule(optimizer, math.ceil(cfg.warmup * total), total)
    first = 0
    if saved is not None and saved["epoch"] > 0:  # continue after the saved epoch
        rng, first = saved["rng"], saved["epoch"]
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
    else:
        method.on_fit_start(prepared, total)
    step = saved["step"] if first else 0
    run = _Run(method, prepared, cfg, device, optimizer, scheduler, total, progress, step)
    for epoch in range(first, cfg.epochs):
        start = time.perf_counter()  # an epoch's time includes its hook (HCSC's prototypes)
        method.train()
        method.on_epoch_start(epoch, prepared)
        batches = bucketed_batches(prepared.lengths, batch_size, rng, drop_last=True)
        record, curve = run.epoch(batches, steps("training_step"), epoch, method.after_step)
        record.update(epoch=epoch + 1, seconds=time.perf_counter() - start, curve=curve)
        history.append(record)
        if checkpoints is not None:
            checkpoints.save(stage="main", epoch=epoch + 1, rng=rng, **run.state(history))
    run.close()
    method.eval()
    return history


def global_batch(cfg: TrainConfig) -> int:
    """Rows per optimiser step: ``batch_size`` on each of the ranks (one without torchrun)."""
    return cfg.batch_size * world_size()


class _Steps(nn.Module):
    """The method's step functions as a module's forward, so that DistributedDataParallel can
    wrap them and average the gradients across ranks (``coarse2fine.distributed``)."""

    def __init__(self, method: Method) -> None:
        super().__init__()
        self.method = method

    def forward(self, batch: dict, name: str) -> dict[str, torch.Tensor]:
        return getattr(self.method, name)(batch)

    @classmethod
    def of(cls, method: Method, device: torch.device):
        """``steps(name)``: the method's step ``name``, through DDP when several ranks train."""
        if world_size() == 1:
            return lambda name: getattr(method, name)
        from torch.nn.parallel import DistributedDataParallel

        ddp = DistributedDataParallel(
            cls(method),
            device_ids=[device] if device.type == "cuda" else None,
            forward_sync_buffers=False,  # no batch statistics; every rank holds the same state
            find_unused_parameters=True,  # a stage may leave some heads out of its loss
        )
        return lambda name: lambda batch: ddp(batch, name)


class _Run:
    """The optimisation of one stage: steps, checks, clipping, schedule, curve and progress."""

    def __init__(
        self, method, prepared, cfg, device, optimizer, scheduler, total, progress, step=0
    ):
        self.method, self.prepared, self.cfg, self.device = method, prepared, cfg, device
        self.optimizer, self.scheduler = optimizer, scheduler
        self.window = max(1, total // CURVE_POINTS)
        self.step = step  # > 0 when a resumed run continues
        self.bar = tqdm(
            total=total,
            initial=step,
            desc="training",
            unit="step",
            disable=not progress,
            leave=False,
        )

    def epoch(self, batches, step_fn, epoch: int, after_step=None) -> tuple[dict, list]:
        """Train on ``batches`` (row indices) with ``step_fn``: the epoch's mean losses, and its
        training curve."""
        method, cfg, device = self.method, self.cfg, self.device
        sums: dict[str, float] = {}
        curve: list[dict[str, float]] = []
        recent: dict[str, float] = {}
        for index in batches:
            batch = make_batch(method.encoder, self.prepared, index, device)
            with autocast(cfg.precision, device):
                parts = step_fn(batch)
            loss = parts["loss"]
            if not torch.isfinite(loss):
                raise FloatingPointError(
                    f"loss became {loss.item()} at epoch {epoch + 1}, step {self.step}"
                )
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            norm = torch.nn.utils.clip_grad_norm_(
                method.parameters(), cfg.grad_clip if cfg.grad_clip > 0 else float("inf")
            )
            if not torch.isfinite(norm):  # never step with NaN/inf gradients: weights would rot
                raise FloatingPointError(
                    f"gradients became non-finite at epoch {epoch + 1}, step {self.step}"
                )
            self.optimizer.step()
            self.scheduler.step()
            if after_step is not None:
                after_step(self.step)
            self.step += 1
            for name, value in parts.items():
                sums[name] = sums.get(name, 0.0) + float(value.detach())
                recent[name] = recent.get(name, 0.0) + float(value.detach())
            if self.step % self.window == 0:  # one point of the curve per window of steps
                curve.append({"step": self.step, **{k: v / self.window for k, v in recent.items()}})
                recent = {}
            self.bar.update(1)
            self.bar.set_postfix(epoch=epoch + 1, loss=f"{float(loss.detach()):.4f}")
        return {name: total_ / len(batches) for name, total_ in sums.items()}, curve

    def state(self, history: list) -> dict:
        """What a checkpoint keeps of this stage (``coarse2fine.checkpoint``), with the
        method whole and the random states of this moment."""
        return {
            "method": self.method,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "step": self.step,
            "random": random_states(),
            "history": history,
        }

    def close(self) -> None:
        self.bar.close()


def _warm_up(
    method: Method,
    steps,
    prepared: Prepared,
    cfg: TrainConfig,
    stage,
    device,
    progress,
    history: list,
    checkpoints: Checkpoints | None,
    saved: dict | None,
) -> None:
    """The method's coarse-CE warm-up (``Method.warmup``): early stopping on the coarse accuracy
    of held-out training rows, the best epoch's weights restored at the end. Its epochs are
    appended to ``history``; with ``checkpoints``, its state is saved after every epoch (or,
    from ``saved``, continued)."""
    rng = np.random.default_rng([cfg.seed, 1])  # its own stream: the main stage's stays as it is
    order = rng.permutation(len(prepared))
    n_held = min(len(order) - 2, max(1, round(stage.holdout * len(order))))
    held, rows = np.sort(order[:n_held]), order[n_held:]
    held_rows = prepared.subset(held)
    batch_size = global_batch(cfg)
    total = len(bucketed_batches(prepared.lengths[rows], batch_size, rng, drop_last=True))
    total *= stage.epochs
    optimizer = build_optimizer(method, cfg)
    scheduler = _linear_schedule(optimizer, math.ceil(cfg.warmup * total), total)
    best, best_state, stale, first, step = -1.0, None, 0, 0, 0
    if saved is not None:  # continue after the saved warm-up epoch
        rng, first, step = saved["rng"], saved["epoch"], saved["step"]
        best, best_state, stale = saved["best"], saved["best_state"], saved["stale"]
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        set_random_states(saved["random"])
    run = _Run(method, prepared, cfg, device, optimizer, scheduler, total, progress, step)
    for epoch in range(first, stage.epochs):
        start = time.perf_counter()
        method.train()
        batches = bucketed_batches(prepared.lengths[rows], batch_size, rng, drop_last=True)
        record, curve = run.epoch([rows[b] for b in batches], steps("warmup_step"), epoch)
        logits = map_rows(
            method,
            held_rows,
            method.coarse_logits,
            precision=cfg.precision,
            device=device,
            progress=False,
        )
        accuracy = 100.0 * float((logits.argmax(1) == held_rows.coarse).mean())
        record.update(
            stage="warmup",
            epoch=epoch + 1,
            heldout_coarse_accuracy=accuracy,
            seconds=time.perf_counter() - start,
            curve=curve,
        )
        history.append(record)
        if accuracy > best:
            best, stale = accuracy, 0
            best_state = {k: v.detach().clone() for k, v in method.state_dict().items()}
        else:
            stale += 1
        if stale >= stage.patience:
            break
        if checkpoints is not None and epoch + 1 < stage.epochs:
            early = {"best": best, "best_state": best_state, "stale": stale}
            checkpoints.save(
                stage="warmup", epoch=epoch + 1, rng=rng, **run.state(history), **early
            )
    run.close()
    method.load_state_dict(best_state)
    if checkpoints is not None:  # the main stage starts from here
        checkpoints.save(
            stage="main", epoch=0, method=method, random=random_states(), history=history
        )

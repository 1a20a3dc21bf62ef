"""End-of-epoch checkpoints of a training run, so that a killed run continues where it stopped.

A checkpoint is one file, ``checkpoint.pt`` in the run's checkpoint folder, replaced atomically
at the end of every epoch (of the warm-up stage and of the main stage). It holds everything the
rest of the run depends on: the method object whole (weights, and the state its hooks carry
between batches and epochs: queues, memory banks, momentum encoders, FALCON's M, the views'
random generators), the optimiser and schedule, the loop's batch generator, the python / numpy /
torch random states, the history so far, and for the warm-up its early-stopping state. A run
resumed from it therefore continues exactly as the uninterrupted run would have: same batches,
same dropout, same assignments, byte for byte (tests/test_checkpoint.py).

The file is a pickle (``torch.save`` of Python objects): load only checkpoints your own runs
wrote. A fingerprint of the run (method and its options, training settings, encoder, the rows'
content) is stored with it; resuming with anything else changed is refused, not silently mixed.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from coarse2fine.data.dataset import InputError
from coarse2fine.distributed import (
    barrier,
    dropout_counter,
    is_main,
    set_dropout_counter,
    world_size,
)

FILE = "checkpoint.pt"
VERSION = 1


def fingerprint(method, prepared, cfg) -> str:
    """What makes two runs the same run: resuming is allowed only when this agrees."""
    digest = hashlib.sha256()
    config = getattr(method, "config", None)
    spec = {
        "method": type(method).__name__,
        "config": config.to_dict() if hasattr(config, "to_dict") else repr(config),
        "n_coarse": method.n_coarse,
        "n_fine": method.n_fine,
        "encoder": getattr(method.encoder, "source", type(method.encoder).__name__),
        "parameters": sum(p.numel() for p in method.parameters()),
        "trained": sum(p.numel() for p in method.parameters() if p.requires_grad),
        "train": cfg.to_dict(),
        "ranks": world_size(),
    }
    digest.update(json.dumps(spec, sort_keys=True, default=str).encode())
    digest.update(np.ascontiguousarray(prepared.lengths, dtype=np.int64).tobytes())
    digest.update(np.ascontiguousarray(prepared.coarse, dtype=np.int64).tobytes())
    if isinstance(prepared.inputs, list):  # token ids
        for ids in prepared.inputs:
            digest.update(np.asarray(ids, dtype=np.int64).tobytes())
    else:
        digest.update(np.ascontiguousarray(prepared.inputs).tobytes())
    return digest.hexdigest()


def random_states() -> dict[str, Any]:
    return {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        "sharded_forwards": dropout_counter(),
    }


def set_random_states(states: dict[str, Any]) -> None:
    random.setstate(states["python"])
    np.random.set_state(states["numpy"])
    torch.set_rng_state(states["torch"])
    if states.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
    set_dropout_counter(states.get("sharded_forwards", 0))


def adopt(method, saved) -> None:
    """Make ``method`` (the caller's object) the saved one: every attribute, modules included."""
    if type(saved) is not type(method):
        raise InputError(
            f"the checkpoint holds a {type(saved).__name__}, this run trains a "
            f"{type(method).__name__}"
        )
    method.__dict__.clear()
    method.__dict__.update(saved.__dict__)


class Checkpoints:
    """The checkpoint folder of one run (see the module docstring)."""

    def __init__(self, folder: str | Path, run: str) -> None:
        self.folder = Path(folder)
        self.run = run
        self.path = self.folder / FILE

    def exists(self) -> bool:
        return self.path.is_file()

    def load(self, device: str | torch.device = "cpu") -> dict[str, Any] | None:
        """The saved state of this run, or None when the folder holds none; another run's
        checkpoint, or a damaged one, is an error that says what to do."""
        if not self.path.is_file():
            return None
        try:
            state = torch.load(self.path, map_location=device, weights_only=False)
        except Exception as err:  # a truncated or foreign file
            raise InputError(
                f"cannot read the checkpoint {self.path} ({type(err).__name__}: {err}); delete "
                f"it to train from the start"
            ) from None
        if not isinstance(state, dict) or state.get("version") != VERSION:
            raise InputError(
                f"{self.path} is not a checkpoint of this coarse2fine version; delete it to "
                f"train from the start"
            )
        if state.get("run") != self.run:
            raise InputError(
                f"the checkpoint in {self.folder} is of another run (different data, method, "
                f"options or seed): resume with the same command, or delete {self.path} to "
                f"train from the start"
            )
        return state

    def save(self, **state: Any) -> None:
        """Replace the checkpoint atomically: a run killed while saving keeps the previous one.
        Under torchrun rank 0 writes it (every rank holds the same state) and the others wait."""
        if is_main():
            self.folder.mkdir(parents=True, exist_ok=True)
            tmp = self.folder / f".{FILE}.{os.getpid()}.tmp"
            torch.save({"version": VERSION, "run": self.run, **state}, tmp)
            os.replace(tmp, self.path)
        barrier()


def remove_checkpoints(folder: str | Path) -> None:
    """Delete a finished run's checkpoint (and the temporary file of a save cut short); the
    folder goes too when nothing else is in it."""
    folder = Path(folder)
    (folder / FILE).unlink(missing_ok=True)
    for tmp in folder.glob(f".{FILE}.*.tmp"):
        tmp.unlink(missing_ok=True)
    try:
        folder.rmdir()
    except OSError:  # missing, or not empty: the user's other files stay
        pass

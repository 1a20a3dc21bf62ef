"""The losses' precision guard.

A cosine near 1 divided by a small temperature magnifies bf16 rounding (about 0.004 in a cosine,
0.08 in a logit at tau 0.05). Under CPU or GPU autocast a matmul silently runs in bf16 even when
its inputs were cast to float32, so every loss and similarity function is wrapped in ``float32``:
it runs with autocast off, returns float32, and gradients flow back to bf16 inputs as usual.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

import torch

_Fn = TypeVar("_Fn", bound=Callable[..., torch.Tensor])


def float32(fn: _Fn) -> _Fn:
    """Run ``fn`` with autocast off on the device of its first tensor argument."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        tensors = [a for a in (*args, *kwargs.values()) if isinstance(a, torch.Tensor)]
        device = tensors[0].device.type if tensors else "cpu"
        with torch.autocast(device, enabled=False):
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]

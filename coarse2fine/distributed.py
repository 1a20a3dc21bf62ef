"""Training across processes with PyTorch's own engine: torchrun starts the processes,
torch.distributed connects them (gloo on CPUs, NCCL on GPUs), DistributedDataParallel averages
the gradients. Nothing here launches processes or moves bytes itself.

How N ranks with batch b train exactly like one process with batch N x b:

- every rank draws the same global batches of N x b rows (same seed) and collates all of them;
- inside ``sharded()`` an encoder's forward pass (``shard_forward``) encodes only this rank's
  contiguous share of the batch's rows and gathers every rank's features, with gradients flowing
  back to the rank that owns each row;
- so everything after the encoder (heads, losses, views, and the state a method keeps across
  batches: HWSCL's and Ancor's queues, DOWN's and DNA's bank, HCSC's queue and prototypes,
  FALCON's teacher predictions) sees the whole global batch, identically on every rank, with no
  other communication; the loss every rank computes is the global batch's loss;
- DistributedDataParallel averages the ranks' gradients: each rank's encoder gradient holds the
  sum over ranks of the loss's gradient for its rows (the gather's backward), so the average is
  the one-process gradient of the global batch;
- the passes over every row (bank refills, prototypes, the features that get clustered) go
  through the same sharded forward: each rank encodes 1/N of every batch.

Dropout noise is drawn per rank (seeded by the run's seed, the count of sharded passes and the
rank; the shared random state is left untouched), so shards of equal shape do not repeat each
other's masks.
"""

from __future__ import annotations

import atexit
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import torch
import torch.distributed as dist

_SHARDING = False
_SEED = 0


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    """This process's rank: torch.distributed's, or before it is joined, torchrun's RANK."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    return int(os.environ.get("RANK", "0")) if launched() else 0


def is_main() -> bool:
    """Whether this process writes outputs and shows progress (rank 0, or the only process)."""
    return rank() == 0


def launched() -> bool:
    """Whether torchrun (or another launcher setting its variables) started several ranks."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def setup(device: str) -> None:
    """Join the process group torchrun describes (once): gloo for CPUs, NCCL for CUDA, each
    rank on GPU ``LOCAL_RANK`` (so ``device="cuda"`` means this rank's GPU). Without torchrun,
    or when the caller has already initialised torch.distributed, nothing happens."""
    if not launched() or dist.is_initialized():
        return
    cuda = str(device).startswith("cuda")
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group("nccl" if cuda else "gloo")
    atexit.register(_leave)


def _leave() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


@contextmanager
def ranks(device: str, seed: int) -> Iterator[None]:
    """What an estimator's fit runs in: torchrun's process group joined (``setup``), encoders
    sharded across its ranks (``sharded``). A plain single process is unaffected."""
    setup(device)
    with sharded(seed):
        yield


@contextmanager
def sharded(seed: int = 0) -> Iterator[None]:
    """Within the block, encoders split every batch across the ranks (see the module doc);
    ``seed`` (the run's) seeds the ranks' dropout streams."""
    global _SHARDING, _SEED
    previous, _SHARDING, _SEED = (_SHARDING, _SEED), world_size() > 1, int(seed)
    try:
        yield
    finally:
        _SHARDING, _SEED = previous


def barrier() -> None:
    if world_size() > 1:
        dist.barrier()


def shard_forward(
    forward: Callable[[dict[str, torch.Tensor], Sequence[int]], list[torch.Tensor]],
    inputs: dict[str, torch.Tensor],
    layers: Sequence[int],
) -> list[torch.Tensor]:
    """``forward(inputs, layers)`` of the whole batch; inside ``sharded()`` with several ranks,
    computed as this rank's share of the rows, then gathered (rows in the batch's order)."""
    if not _SHARDING:
        return forward(inputs, layers)
    n_ranks, me = world_size(), rank()
    rows = len(next(iter(inputs.values())))
    share = -(-rows // n_ranks)  # ceil: every rank gathers tensors of the same size
    start, stop = min(me * share, rows), min((me + 1) * share, rows)
    # a rank left without rows (a batch smaller than the ranks) encodes one row and drops it
    local = slice(start, stop) if stop > start else slice(rows - 1, rows)
    with _rank_dropout(me):
        outputs = forward({k: v[local] for k, v in inputs.items()}, layers)
    gathered = []
    for out in outputs:
        if stop == start:
            out = out[:0]
        padded = torch.cat([out, out.new_zeros((share - len(out), *out.shape[1:]))])
        every = _all_gather(padded)
        gathered.append(
            torch.cat(
                [every[r * share : r * share + _count(r, share, rows)] for r in range(n_ranks)]
            )
        )
    return gathered


def _count(r: int, share: int, rows: int) -> int:
    return max(0, min(share, rows - r * share))


def _all_gather(tensor: torch.Tensor) -> torch.Tensor:
    """Every rank's ``tensor`` stacked along rows; the backward pass sums the gradients of all
    ranks for this rank's rows (PyTorch's autograd-aware collective)."""
    if not tensor.requires_grad:
        out = [torch.empty_like(tensor) for _ in range(world_size())]
        dist.all_gather(out, tensor.contiguous())
        return torch.cat(out)
    from torch.distributed import _functional_collectives as collectives

    return collectives.all_gather_single(tensor.contiguous(), 0, dist.group.WORLD)


_FORWARDS = 0  # sharded forward passes so far: with the rank, what seeds their dropout


def dropout_counter() -> int:
    """The count of sharded forward passes (saved in checkpoints, so resumed runs draw the same
    dropout masks)."""
    return _FORWARDS


def set_dropout_counter(value: int) -> None:
    global _FORWARDS
    _FORWARDS = int(value)


@contextmanager
def _rank_dropout(me: int) -> Iterator[None]:
    """The encoder's dropout masks from a stream of this rank and this forward pass; the shared
    torch random state (which every rank must keep identical) is left untouched."""
    global _FORWARDS
    _FORWARDS += 1
    seed = (_SEED * 1_000_003 + _FORWARDS * 7_919 + me) % 2**63
    devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield

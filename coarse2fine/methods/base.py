"""The method contract every method follows, and the small pieces several methods share.

A method is a torch module built from (encoder, number of coarse classes, its typed config).
train.py calls ``training_step`` and the optional hooks; discovery calls ``embed``.
"""

from __future__ import annotations

import copy
import types
from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar, Union, get_args, get_origin, get_type_hints

import torch
from torch import nn


@dataclass
class MethodConfig:
    """Base of every method's typed config; ``from_dict`` checks names and value types."""

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None) -> MethodConfig:
        values = dict(values or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(
                f"unknown option(s) {', '.join(unknown)} for {cls.__name__}; "
                f"valid: {', '.join(sorted(known))}"
            )
        hints = get_type_hints(cls)
        return cls(**{k: _typed(k, v, hints[k]) for k, v in values.items()})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class MomentumContrastConfig(MethodConfig):
    """Options of the MoCo-style methods (HCSC, Ancor), with MoCo v2's defaults."""

    tau: float = 0.2
    queue_size: int = 4096
    momentum: float = 0.999
    projection_dim: int = 128
    view: str | None = None  # key view; None: "delete_word" for text, "mask+noise" for vectors
    ce_weight: float = 0.0  # "+ CE" variants: coarse cross-entropy on the pooled feature
    dropout: float = 0.1

    def __post_init__(self) -> None:
        if self.tau <= 0:
            raise ValueError(f"tau must be positive, got {self.tau}")
        if self.queue_size < 1:
            raise ValueError(f"queue_size must be >= 1, got {self.queue_size}")
        if not 0.0 <= self.momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {self.momentum}")
        if self.ce_weight < 0:
            raise ValueError(f"ce_weight must be >= 0, got {self.ce_weight}")


def _typed(name: str, value: Any, hint: Any) -> Any:
    """``value`` as the option's declared type (an int is accepted for a float), else a clear
    ValueError: options often arrive from the command line as JSON."""
    allowed = get_args(hint) if get_origin(hint) in (Union, types.UnionType) else (hint,)
    if value is None and type(None) in allowed:
        return None
    for kind in allowed:
        if kind is float and isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if kind in (int, str, bool) and type(value) is kind:
            return value
    names = " or ".join("none" if k is type(None) else k.__name__ for k in allowed)
    raise ValueError(f"option {name} must be {names}, got {value!r}")


class Method(nn.Module):
    """Base class: subclasses set ``Config`` and implement ``training_step`` (if they train)."""

    Config: ClassVar[type[MethodConfig]] = MethodConfig
    trains: ClassVar[bool] = True
    # Training settings used when the user gives none, per input kind. Text: three epochs with the
    # encoder at lr 2e-6 and the freshly initialised heads at 1e-3, the best measured for MiniLM:
    # a fast head stops distorting the pre-trained features, so the extra epochs sharpen the fine
    # structure instead of collapsing it (docs/HWSCL_MINILM.md); vectors: a fresh MLP needs real
    # steps.
    defaults: ClassVar[dict[str, dict[str, float]]] = {
        "text": {"epochs": 3, "lr": 2e-6, "head_lr": 1e-3},
        "vectors": {"epochs": 30, "lr": 1e-3},
    }

    def __init__(
        self,
        encoder: nn.Module,
        n_coarse: int,
        config: MethodConfig | None = None,
        n_fine: int | None = None,
    ):
        super().__init__()
        self.encoder = encoder
        self.n_coarse = int(n_coarse)
        self.n_fine = None if n_fine is None else int(n_fine)  # needed by classifying methods
        self.config = config if config is not None else self.Config()

    # -- the contract ---------------------------------------------------------------------------
    def training_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Return {"loss": scalar, <named parts>: scalars} for one batch."""
        raise NotImplementedError(f"{type(self).__name__} does not train")

    def on_fit_start(self, data: Any, total_steps: int) -> None:
        """Called once before the first epoch with the prepared training data and the number
        of optimiser steps the fit will take (for schedules inside a method)."""

    def on_epoch_start(self, epoch: int, data: Any) -> None:
        """Called before each epoch (0-based)."""

    def after_step(self, step: int) -> None:
        """Called after each optimiser step (EMA updates, queue pushes)."""

    def embed(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Features used for discovery: the encoder's last layer, mean-pooled."""
        (deep,) = self.encoder(batch["inputs"], [self.encoder.n_layers])
        return deep


FEATURES = ("pooled", "head")


def check_features(features: str) -> None:
    if features not in FEATURES:
        raise ValueError(f"features must be one of {', '.join(FEATURES)}, got {features!r}")


class CoarseClassifierMixin:
    """For methods with a coarse ``head`` on the deep feature.

    Discovery features (``config.features``): "pooled" is the mean-pooled last layer h^o (the
    paper's choice); "head" is the head's hidden layer tanh(W h^o + b), which is what the HWSCL
    reference code clusters.
    """

    def embed(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        (deep,) = self.encoder(batch["inputs"], [self.encoder.n_layers])
        if self.config.features == "head":
            return torch.tanh(self.head.dense(deep))
        return deep

    def predict_coarse(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        (deep,) = self.encoder(batch["inputs"], [self.encoder.n_layers])
        return self.head(deep)


class CoarseHead(nn.Module):
    """z = tanh(W h + b), then a linear coarse classifier (HWSCL Eq. 1-2; dropout as BERT's)."""

    def __init__(self, dim: int, n_coarse: int, dropout: float = 0.1):
        super().__init__()
        self.dense = nn.Linear(dim, dim)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(dim, n_coarse)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(torch.tanh(self.dense(features))))


def frozen_copy(module: nn.Module) -> nn.Module:
    """A gradient-free copy in eval mode (momentum encoders, EMA teachers)."""
    copy_ = copy.deepcopy(module)
    copy_.requires_grad_(False)
    return copy_.eval()


@torch.no_grad()
def ema_update(target: nn.Module, source: nn.Module, decay: float) -> None:
    """target <- decay * target + (1 - decay) * source for parameters; buffers (BatchNorm
    statistics, input scaling) are copied, as they are not learned by gradient."""
    for t, s in zip(target.parameters(), source.parameters(), strict=True):
        t.mul_(decay).add_(s.detach(), alpha=1.0 - decay)
    for t, s in zip(target.buffers(), source.buffers(), strict=True):
        t.copy_(s)


class MomentumKeysMixin:
    """MoCo's key side, for methods with an ``encoder``, a ``projector`` and ``config.momentum``:
    their momentum copies (held in the plain list ``_momentum``, so they stay out of the saved
    state), the keys those give, and the EMA that moves them after each step."""

    _momentum: list[nn.Module]

    def start_momentum(self) -> None:
        self._momentum = [frozen_copy(self.encoder), frozen_copy(self.projector)]

    @torch.no_grad()
    def momentum_keys(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        encoder, projector = self._momentum
        (deep,) = encoder(inputs, [encoder.n_layers])
        return projector(deep.float())

    @torch.no_grad()
    def update_momentum(self) -> None:
        encoder, projector = self._momentum
        ema_update(encoder, self.encoder, self.config.momentum)
        ema_update(projector, self.projector, self.config.momentum)


def projection_mlp(dim: int, out: int) -> nn.Sequential:
    """Linear -> ReLU -> Linear: the projector / predictor heads of contrastive methods."""
    return nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, out))


class CoarseQueues(nn.Module):
    """One FIFO ring buffer of features per coarse class (buffers, so they move with .to())."""

    def __init__(self, n_coarse: int, size: int, dim: int):
        super().__init__()
        self.size = size
        self.register_buffer("features", torch.zeros(n_coarse, size, dim), persistent=False)
        self.register_buffer("count", torch.zeros(n_coarse, dtype=torch.long), persistent=False)
        self.register_buffer("pointer", torch.zeros(n_coarse, dtype=torch.long), persistent=False)

    def lookup(self, coarse: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Queue of each row's own coarse class, and which of its slots hold a feature."""
        slots = torch.arange(self.size, device=coarse.device)
        valid = slots.view(1, -1) < self.count[coarse].view(-1, 1)
        return self.features[coarse], valid

    @torch.no_grad()
    def push(self, keys: torch.Tensor, coarse: torch.Tensor) -> None:
        for c in coarse.unique().tolist():
            new = keys[coarse == c][-self.size :]
            slots = (self.pointer[c] + torch.arange(len(new), device=keys.device)) % self.size
            self.features[c, slots] = new.to(self.features.dtype)
            self.pointer[c] = (self.pointer[c] + len(new)) % self.size
            self.count[c] = torch.clamp(self.count[c] + len(new), max=self.size)

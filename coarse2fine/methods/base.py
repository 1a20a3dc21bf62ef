"""The method contract every method follows, and the small pieces several methods share.

A method is a torch module built from (encoder, number of coarse classes, its typed config,
optionally the number of fine classes and a seed). train.py calls ``training_step`` and the
hooks; the estimator calls ``embed``, ``discover`` and the declared capabilities of ``Method``.
"""

from __future__ import annotations

import copy
import types
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, make_dataclass
from typing import Any, ClassVar, Union, get_args, get_origin, get_type_hints

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from coarse2fine.batching import Inference, Prepared, map_rows
from coarse2fine.cluster import Clustering
from coarse2fine.cluster import discover as cluster_discover
from coarse2fine.cluster.kmeans import l2_normalize


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


@dataclass(frozen=True)
class Warmup:
    """A coarse cross-entropy stage the loop runs before training proper (DNA, DOWN): at most
    ``epochs`` epochs on the training rows less a held-out share ``holdout``, stopped once the
    coarse accuracy of the held-out rows has not risen for ``patience`` epochs; the weights of
    the best epoch are kept."""

    epochs: int
    patience: int = 1
    holdout: float = 0.2

    def __post_init__(self) -> None:
        if self.epochs < 0 or self.patience < 1:
            raise ValueError("warm-up epochs must be >= 0 and its patience >= 1")
        if not 0.0 < self.holdout < 1.0:
            raise ValueError(f"warm-up holdout must be in (0, 1), got {self.holdout}")


class Method(nn.Module):
    """Base class: subclasses set ``Config`` and implement ``training_step`` (if they train).

    Every optional capability is declared here with its default, so the estimator and the
    protocols ask a method, never probe it: ``coarse_logits`` (None without a trained coarse
    head), ``fine_logits`` (None without a fine classifier), ``finer_groups`` (None without a
    grouping finer than the categories), ``hierarchy`` (None without a learned coarse -> fine
    relation), ``discover`` (K-Means on the features unless the method classifies) and
    ``set_coarse_groups`` (several datasets, only where ``supports_groups``).

    ``seed`` drives the method's own randomness (views, K-Means inside the method); the
    estimator gives it the same seed as the training loop.
    """

    Config: ClassVar[type[MethodConfig]] = MethodConfig
    trains: ClassVar[bool] = True
    # Several datasets with their own coarse labels sharing one model (``set_coarse_groups``).
    supports_groups: ClassVar[bool] = False
    # The number of fine categories is part of the model (a fine classifier, pseudo-labels): an
    # unknown K is estimated before training, on the starting features; otherwise on the
    # trained features that get clustered.
    needs_k: ClassVar[bool] = False
    # Training settings used when the user gives none, per input kind. Text: three epochs with the
    # encoder at lr 2e-6 and the freshly initialised heads at 1e-3, the best measured for MiniLM:
    # a fast head stops distorting the pre-trained features, so the extra epochs sharpen the fine
    # structure instead of collapsing it (docs/HWSCL_MINILM.md); vectors: a fresh MLP needs real
    # steps.
    # An entry may also hold "options": config options the package's recipe sets for that kind
    # where they differ from the published method (``recipe_options``).
    defaults: ClassVar[dict[str, dict[str, Any]]] = {
        "text": {"epochs": 3, "lr": 2e-6, "head_lr": 1e-3},
        "vectors": {"epochs": 30, "lr": 1e-3},
    }
    # The precision the loop trains at ("bf16" or "fp32", set by ``train.fit``); hooks that
    # encode every training row (banks, neighbours, pseudo-labels) use it too.
    precision: str = "auto"

    @classmethod
    def kind_defaults(cls, kind: str) -> dict[str, Any]:
        """The training defaults for input ``kind``; images take the vectors' (a network trained
        from its start needs real steps, as an MLP does)."""
        return cls.defaults.get(kind) or cls.defaults["vectors"]

    @classmethod
    def recipe_options(cls, kind: str) -> dict[str, Any]:
        """Config options the package's recipe sets for ``kind`` (the user's method_params
        override them); empty where the recipe runs the method as published."""
        return dict(cls.kind_defaults(kind).get("options", {}))

    @classmethod
    def published_options(cls, kind: str) -> dict[str, Any]:
        """The published method's values of the options the recipe changes: what the papers'
        protocol passes to run the method as published."""
        published = cls.Config()
        return {name: getattr(published, name) for name in cls.recipe_options(kind)}

    def __init__(
        self,
        encoder: nn.Module,
        n_coarse: int,
        config: MethodConfig | None = None,
        n_fine: int | None = None,
        *,
        seed: int = 0,
    ):
        super().__init__()
        self.encoder = encoder
        self.n_coarse = int(n_coarse)
        self.n_fine = None if n_fine is None else int(n_fine)  # needed by classifying methods
        self.config = config if config is not None else self.Config()
        self.seed = int(seed)
        # options of coarse2fine.cluster.estimate_k.estimate_counts for a method that counts
        # the categories itself while training (DNA, DOWN without K): the estimator sets the
        # user's ``criterion`` and ``min_size`` here; others ignore them
        self.count_options: dict[str, Any] = {}
        # the clusterer the estimator's discovery step will run for a given total number of
        # categories (its clusterer="auto" rule), set by the estimator for the length of the
        # training only; a method that shapes its training to that step reads it (DOWN's
        # mine_in="auto"); None outside an estimator's fit
        self.clusterer_for: Callable[[int], Any] | None = None

    # -- training -------------------------------------------------------------------------------
    def training_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Return {"loss": scalar, <named parts>: scalars} for one batch."""
        raise NotImplementedError(f"{type(self).__name__} does not train")

    def over_rows(self, data: Prepared, step, device: torch.device) -> np.ndarray | None:
        """``step(batch)`` over every row of ``data`` at the loop's precision, without a
        progress bar: what hooks use to encode the training rows."""
        return map_rows(self, data, step, device=device, precision=self.precision, progress=False)

    def starting_features(self, data: Prepared, features: np.ndarray, device) -> np.ndarray:
        """The rows as a hook reads them before training has shaped the encoder: ``features``
        (its own, already encoded) where the encoder is pre-trained; where it starts random
        (the MLP for vectors) its features mean nothing yet, so its layer 0, the (standardised)
        input, unit length."""
        if getattr(self.encoder, "pretrained", True):
            return features
        return l2_normalize(self.over_rows(data, self._layer_zero, device))

    def pulled_neighbours(self, train_rows: int, categories: int | None = None) -> int:
        """How many neighbours training pulled each of its ``train_rows`` rows toward (0 for a
        method that pulls none): groups of about that many rows come out of training as tight
        clumps, which a category count must not read as categories of their own. With
        ``categories``: the k it would pull were there that many."""
        return 0

    def _layer_zero(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        (first,) = self.encoder(batch["inputs"], [0])
        return first

    def on_fit_start(self, data: Prepared, total_steps: int) -> None:
        """Called once before the first epoch with the prepared training data and the number
        of optimiser steps the fit will take (for schedules inside a method)."""

    def on_epoch_start(self, epoch: int, data: Prepared) -> None:
        """Called before each epoch (0-based)."""

    def after_step(self, step: int) -> None:
        """Called after each optimiser step (EMA updates, queue pushes)."""

    def warmup(self) -> Warmup | None:
        """A coarse-CE stage for the loop to run first (with ``warmup_step``), or None."""
        return None

    def warmup_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """One step of the warm-up stage: {"loss": ..., parts...}."""
        raise NotImplementedError(f"{type(self).__name__} has no warm-up stage")

    # -- per-row outputs ------------------------------------------------------------------------
    def deep(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The encoder's last layer, mean-pooled."""
        (deep,) = self.encoder(batch["inputs"], [self.encoder.n_layers])
        return deep

    def embed(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Features used for discovery: by default the pooled last layer."""
        return self.deep(batch)

    def coarse_logits(self, batch: dict[str, torch.Tensor]) -> torch.Tensor | None:
        """Coarse-class logits of a trained coarse head; None for a method without one."""
        return None

    def fine_logits(self, batch: dict[str, torch.Tensor]) -> torch.Tensor | None:
        """Fine-class logits of a method that classifies directly (FALCON); None otherwise."""
        return None

    def finer_groups(self, batch: dict[str, torch.Tensor]) -> torch.Tensor | None:
        """Each row's group in a grouping finer than the categories (B x 1), or None."""
        return None

    # -- discovery ------------------------------------------------------------------------------
    def hierarchy(self, group: int = 0) -> np.ndarray | None:
        """Coarse parent of every fine class the method learned (one dataset's), or None."""
        return None

    def discover(
        self,
        features: np.ndarray,
        prepared: Prepared,
        coarse: np.ndarray,
        n_fine: int,
        *,
        nested: bool = True,
        counts: np.ndarray | None = None,
        seed: int = 0,
        n_init: int = 10,
        inference: Inference | None = None,
        clusterer: Any = "kmeans",
    ) -> Clustering:
        """The categories of the rows: ``clusterer`` (K-Means by default; cluster/nested.py) on
        the unit-length ``features``, inside each coarse class when ``nested`` (``counts``
        categories per class, else shared out by size), else over all rows (parents by
        majority). ``prepared`` and ``inference`` serve methods that run their own model here
        instead."""
        return cluster_discover(
            features,
            n_fine,
            coarse=coarse,
            nested=nested,
            seed=seed,
            n_init=n_init,
            counts=counts if nested else None,
            clusterer=clusterer,
        )

    def set_coarse_groups(self, groups: np.ndarray) -> None:
        """Coarse class -> dataset index, for ``supports_groups`` methods."""
        raise NotImplementedError(f"{type(self).__name__} trains on one dataset")


FEATURES = ("pooled", "head")


def check_features(features: str) -> None:
    if features not in FEATURES:
        raise ValueError(f"features must be one of {', '.join(FEATURES)}, got {features!r}")


class CoarseHead(nn.Module):
    """z = tanh(W h + b), then a linear coarse classifier (HWSCL Eq. 1-2; dropout as BERT's)."""

    def __init__(self, dim: int, n_coarse: int, dropout: float = 0.1):
        super().__init__()
        self.dense = nn.Linear(dim, dim)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(dim, n_coarse)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(torch.tanh(self.dense(features))))


class CoarseCE:
    """ "+ CE", written once: a coarse ``head`` (``CoarseHead``) on the pooled deep feature,
    trained by cross-entropy on the coarse labels with weight ``ce_weight``, and routing rows
    (``coarse_logits``) exactly when it is trained.

    ``ce_weight`` is the config's ``ce_weight`` (0 switches the term off; the "+ CE" variants
    raise its default to 1); a method whose own loss is this cross-entropy (HWSCL,
    coarse-supervised) sets ``ce_is_loss``, making the weight 1.
    """

    head: CoarseHead
    ce_is_loss: ClassVar[bool] = False

    def add_coarse_head(self, dropout: float) -> None:
        self.head = CoarseHead(self.encoder.dim, self.n_coarse, dropout)

    @property
    def ce_weight(self) -> float:
        return 1.0 if self.ce_is_loss else float(self.config.ce_weight)

    def coarse_ce(self, features: torch.Tensor, coarse: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of the head on (pooled) ``features`` against the coarse labels."""
        return F.cross_entropy(self.head(features).float(), coarse)

    def warmup_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The warm-up stage's step: the coarse cross-entropy alone."""
        ce = self.coarse_ce(self.deep(batch), batch["coarse"])
        return {"loss": ce, "ce": ce}

    def coarse_logits(self, batch: dict[str, torch.Tensor]) -> torch.Tensor | None:
        if self.ce_weight <= 0:
            return None  # an untrained head routes at random
        return self.head(self.deep(batch))

    @classmethod
    def plus_ce(cls, name: str, **defaults: Any) -> type:
        """The "+ CE" variant of this method: the same class with its config's defaults changed
        (``ce_weight=1.0`` unless given), for the registry's ``*_ce`` names."""
        defaults.setdefault("ce_weight", 1.0)
        base = cls.Config
        hints = get_type_hints(base)
        config = make_dataclass(
            f"{name}Config",
            [(k, hints[k], field(default=v)) for k, v in defaults.items()],
            bases=(base,),
        )
        config.__module__ = cls.__module__
        config.__qualname__ = f"{name}.Config"  # where pickle (checkpoints) finds it
        variant = type(name, (cls,), {"Config": config, "__doc__": f"{cls.__name__} + CE."})
        variant.__module__ = cls.__module__
        return variant


class HeadFeatures:
    """Discovery features chosen by ``config.features``: "pooled" is the mean-pooled last layer
    h^o (the paper's choice); "head" is the coarse head's hidden layer tanh(W h^o + b), which is
    what the HWSCL reference code clusters."""

    def embed(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        deep = self.deep(batch)
        if self.config.features == "head":
            return torch.tanh(self.head.dense(deep))
        return deep


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

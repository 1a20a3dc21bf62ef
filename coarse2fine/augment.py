"""Views for contrastive methods: small pure functions, and one ViewMaker that methods share.

Text: "dropout" views are the same tokens twice, the encoder's dropout making them differ
(SimCSE); "delete_word" removes one whole word (a WordPiece token and its "##" continuations,
never [CLS] or [SEP]) from the second view (Delete One Word); "random_token" replaces each inner
token with probability ``replace_rate`` by a token drawn uniformly from the vocabulary's ordinary
tokens (DNA's and DOWN's view). Vectors: "mask" zeroes each
standardised feature with probability ``mask_rate``; "noise" adds Gaussian noise of ``noise``
standard deviations of each feature; "mask+noise" does both. Images: "simclr" is the SimCLR /
MoCo v2 recipe HCSC and CD use (a random resized crop of 20-100 % of the area with a horizontal
flip half the time, colour jitter with probability 0.8, grey-scale with probability 0.2, a
Gaussian blur half the time); "crop+flip" only the first. Each image of a batch draws its own
parameters; the functions work on pixels in [0, 1], channels first.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from coarse2fine.encoders import input_kind

TEXT_VIEWS = ("dropout", "delete_word", "random_token")
VECTOR_VIEWS = ("mask", "noise", "mask+noise")
IMAGE_VIEWS = ("simclr", "crop+flip")


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


def resized_crop_and_flip(
    images: torch.Tensor,
    scale: tuple[float, float] = (0.2, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
    flip: float = 0.5,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Each image cropped to a random box of ``scale`` of its area and aspect ``ratio``, resized
    back to its size, and mirrored left-right with probability ``flip`` (one affine resampling
    per image)."""
    n = images.shape[0]
    device = images.device

    def uniform(low, high):
        return low + (high - low) * torch.rand(n, generator=generator).to(device)

    area = uniform(*scale)
    aspect = torch.exp(uniform(float(np.log(ratio[0])), float(np.log(ratio[1]))))
    width = torch.sqrt(area * aspect).clamp(max=1.0)  # fractions of the image's side
    height = torch.sqrt(area / aspect).clamp(max=1.0)
    centre_x = uniform(0.0, 1.0) * (1 - width) * 2 - (1 - width)  # box inside the image
    centre_y = uniform(0.0, 1.0) * (1 - height) * 2 - (1 - height)
    mirror = torch.where(torch.rand(n, generator=generator).to(device) < flip, -1.0, 1.0)
    theta = torch.zeros(n, 2, 3, device=device)
    theta[:, 0, 0], theta[:, 0, 2] = width * mirror, centre_x
    theta[:, 1, 1], theta[:, 1, 2] = height, centre_y
    grid = torch.nn.functional.affine_grid(theta, list(images.shape), align_corners=False)
    return torch.nn.functional.grid_sample(images, grid, align_corners=False)


def colour_jitter(
    images: torch.Tensor,
    strength: tuple[float, float, float] = (0.4, 0.4, 0.4),
    p: float = 0.8,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """With probability ``p`` per image: brightness, contrast and saturation each scaled by a
    factor drawn from [1 - s, 1 + s] (hue is left alone); pixels stay in [0, 1]."""
    n = images.shape[0]
    device = images.device
    hit = (torch.rand(n, generator=generator) < p).to(device).view(n, 1, 1, 1)

    def factor(s):
        return (1 + (2 * torch.rand(n, generator=generator) - 1) * s).to(device).view(n, 1, 1, 1)

    brightness, contrast, saturation = (factor(s) for s in strength)
    out = images * brightness
    mean = grey(out).mean(dim=(1, 2, 3), keepdim=True)
    out = (out - mean) * contrast + mean
    luma = grey(out)
    out = (out - luma) * saturation + luma
    return torch.where(hit, out.clamp(0.0, 1.0), images)


def grey(images: torch.Tensor) -> torch.Tensor:
    """Luma (ITU-R 601 weights) as one channel, (N, 1, H, W)."""
    weights = torch.tensor([0.299, 0.587, 0.114], device=images.device).view(1, 3, 1, 1)
    return (images * weights).sum(dim=1, keepdim=True)


def random_greyscale(
    images: torch.Tensor, p: float = 0.2, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Each image turned to grey (its luma in all three channels) with probability ``p``."""
    hit = (torch.rand(images.shape[0], generator=generator) < p).to(images.device)
    return torch.where(hit.view(-1, 1, 1, 1), grey(images).expand_as(images), images)


def gaussian_blur(
    images: torch.Tensor,
    sigma: tuple[float, float] = (0.1, 2.0),
    p: float = 0.5,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """With probability ``p`` per image a Gaussian blur of standard deviation drawn from
    ``sigma`` (in pixels of a 224-pixel image, scaled to this size; kernel about a tenth of the
    side, as SimCLR's)."""
    n, c, h, w = images.shape
    device = images.device
    hit = torch.rand(n, generator=generator) < p
    scale = min(h, w) / 224
    sigmas = (sigma[0] + (sigma[1] - sigma[0]) * torch.rand(n, generator=generator)) * scale
    radius = max(1, int(round(0.05 * min(h, w))))
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernels = torch.exp(-(offsets.view(1, -1) ** 2) / (2 * sigmas.clamp(min=1e-3).view(-1, 1) ** 2))
    kernels = (kernels / kernels.sum(dim=1, keepdim=True)).to(device)  # (n, 2r + 1)
    flat = images.reshape(1, n * c, h, w)
    per_channel = kernels.repeat_interleave(c, dim=0)
    padded = torch.nn.functional.pad(flat, (radius, radius, 0, 0), mode="reflect")
    flat = torch.nn.functional.conv2d(padded, per_channel.view(n * c, 1, 1, -1), groups=n * c)
    padded = torch.nn.functional.pad(flat, (0, 0, radius, radius), mode="reflect")
    flat = torch.nn.functional.conv2d(padded, per_channel.view(n * c, 1, -1, 1), groups=n * c)
    return torch.where(hit.to(device).view(n, 1, 1, 1), flat.view(n, c, h, w), images)


def simclr_view(images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """The SimCLR / MoCo v2 view: crop and flip, colour jitter, grey-scale, blur."""
    out = resized_crop_and_flip(images, generator=generator)
    out = colour_jitter(out, generator=generator)
    out = random_greyscale(out, generator=generator)
    return gaussian_blur(out, generator=generator)


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
        self.generator = torch.Generator().manual_seed(int(seed))
        data = input_kind(encoder)
        allowed = {"text": TEXT_VIEWS, "images": IMAGE_VIEWS, "vectors": VECTOR_VIEWS}[data]
        if kind not in allowed:
            raise ValueError(
                f"view {kind!r} does not apply to {data}; choose one of {', '.join(allowed)}"
            )
        self.continuation = continuation_mask(encoder.tokenizer) if data == "text" else None
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
        if self.kind == "simclr":
            return {"x": simclr_view(x, self.generator)}
        if self.kind == "crop+flip":
            return {"x": resized_crop_and_flip(x, generator=self.generator)}
        if "mask" in self.kind:  # mask in standardised units: a masked feature sits at its mean
            x = self.encoder.mean + mask_features(x - self.encoder.mean, self.mask_rate)
        if "noise" in self.kind:
            x = gaussian_noise(x, self.noise * self.encoder.scale)
        return {"x": x}

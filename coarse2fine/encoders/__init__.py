"""Encoders turn rows into pooled features of any layer: text (transformer), vectors (MLP) or
images (CNN / ResNet)."""

from __future__ import annotations

from pathlib import Path

from coarse2fine.encoders.image import ImageEncoder, parse_image_spec
from coarse2fine.encoders.mlp import MLPEncoder, parse_mlp_spec
from coarse2fine.encoders.text import DEFAULT_TEXT_MODEL, TextEncoder, masked_mean


def input_kind(encoder) -> str:
    """What an encoder reads: "text" (it has a tokenizer), "images" (``is_image``) or
    "vectors" (anything else with the encoder interface, a user's own module included)."""
    if hasattr(encoder, "tokenizer"):
        return "text"
    return "images" if getattr(encoder, "is_image", False) else "vectors"


def encoder_from_architecture(directory: Path, spec: dict):
    """Rebuild a saved encoder (random weights, overwritten by the saved state) from its spec."""
    kind = spec.get("kind", "text")
    if kind == "mlp":
        return MLPEncoder.from_architecture(directory, spec)
    if kind == "image":
        return ImageEncoder.from_architecture(directory, spec)
    if kind == "text":
        return TextEncoder.from_architecture(directory, spec)
    raise ValueError(f"unknown encoder kind {kind!r}")


__all__ = [
    "DEFAULT_TEXT_MODEL",
    "ImageEncoder",
    "MLPEncoder",
    "TextEncoder",
    "encoder_from_architecture",
    "input_kind",
    "masked_mean",
    "parse_image_spec",
    "parse_mlp_spec",
]

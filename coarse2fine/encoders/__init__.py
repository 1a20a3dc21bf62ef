"""Encoders turn rows into pooled features of any layer; text (transformer) for now."""

from __future__ import annotations

from coarse2fine.encoders.text import DEFAULT_TEXT_MODEL, TextEncoder, masked_mean

__all__ = ["DEFAULT_TEXT_MODEL", "TextEncoder", "masked_mean"]

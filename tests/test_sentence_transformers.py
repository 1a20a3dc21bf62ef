"""Local sentence-transformers model folders as encoders: their pooling config is respected."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from coarse2fine import Discoverer, InputError
from coarse2fine.encoders.text import TextEncoder, read_pooling

TEXTS = ["book a flight to paris", "what is my balance", "hi", "transfer money to my savings now"]


def st_folder(tmp_path, **modes) -> str:
    """A sentence-transformers style folder around the tiny random BERT, with these pooling
    flags (e.g. pooling_mode_cls_token=True)."""
    tiny = TextEncoder.tiny_random(seed=1)
    folder = tmp_path / "st-model"
    tiny.model.save_pretrained(folder)
    tiny.tokenizer.save_pretrained(folder)
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {
            "idx": 1,
            "name": "1",
            "path": "1_Pooling",
            "type": "sentence_transformers.models.Pooling",
        },
    ]
    (folder / "modules.json").write_text(json.dumps(modules))
    (folder / "1_Pooling").mkdir()
    config = {"word_embedding_dimension": tiny.dim, "pooling_mode_mean_tokens": False, **modes}
    (folder / "1_Pooling" / "config.json").write_text(json.dumps(config))
    return str(folder)


def states(encoder: TextEncoder, texts):
    batch = encoder.collate(encoder.prepare(texts), np.arange(len(texts)))
    encoder.eval()
    with torch.no_grad():
        hidden = encoder.model(**batch, output_hidden_states=True).hidden_states[-1]
        (pooled,) = encoder(batch, [encoder.n_layers])
    return hidden, batch["attention_mask"], pooled


def test_cls_pooling_takes_the_first_token(tmp_path):
    encoder = TextEncoder.from_pretrained(st_folder(tmp_path, pooling_mode_cls_token=True))
    assert encoder.pooling == "cls"
    hidden, _, pooled = states(encoder, TEXTS)
    torch.testing.assert_close(pooled, hidden[:, 0])


def test_max_pooling_ignores_padding(tmp_path):
    encoder = TextEncoder.from_pretrained(st_folder(tmp_path, pooling_mode_max_tokens=True))
    hidden, mask, pooled = states(encoder, TEXTS)
    for i in range(len(TEXTS)):
        real = hidden[i, : int(mask[i].sum())]
        torch.testing.assert_close(pooled[i], real.max(0).values)


def test_mean_sqrt_len_pooling(tmp_path):
    folder = st_folder(tmp_path, pooling_mode_mean_sqrt_len_tokens=True)
    encoder = TextEncoder.from_pretrained(folder)
    hidden, mask, pooled = states(encoder, TEXTS)
    n = int(mask[2].sum())
    torch.testing.assert_close(pooled[2], hidden[2, :n].sum(0) / n**0.5)


def test_the_packaged_model_declares_mean_pooling():
    encoder = TextEncoder.from_pretrained()
    assert encoder.pooling == "mean"


def test_two_poolings_at_once_are_refused(tmp_path):
    folder = st_folder(tmp_path, pooling_mode_cls_token=True, pooling_mode_max_tokens=True)
    with pytest.raises(InputError, match="asks for cls, max; coarse2fine takes models with one"):
        read_pooling(Path(folder))


def test_discover_with_a_folder_saves_and_loads_its_pooling(tmp_path, tiny_data):
    folder = st_folder(tmp_path, pooling_mode_cls_token=True)
    est = Discoverer(encoder=folder, n_fine=6, epochs=1, batch_size=8, progress=False)
    est.fit(tiny_data)
    assert est.method_.encoder.pooling == "cls"
    est.save(tmp_path / "model")
    loaded = Discoverer.load(tmp_path / "model", progress=False)
    assert loaded.method_.encoder.pooling == "cls"
    np.testing.assert_array_equal(loaded.predict(TEXTS), est.predict(TEXTS))

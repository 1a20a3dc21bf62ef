"""Every registered method on tiny data with a tiny random encoder, plus HWSCL's moving parts."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from coarse2fine.batching import bucketed_batches, embed, make_batch, prepare
from coarse2fine.data.synthetic import make_shape_images
from coarse2fine.encoders import ImageEncoder, MLPEncoder, TextEncoder
from coarse2fine.methods import METHODS
from coarse2fine.methods.base import CoarseQueues
from coarse2fine.methods.hwscl import HWSCL, HWSCLConfig, default_shallow_layer
from coarse2fine.train import TrainConfig, fit, seed_everything


@pytest.mark.parametrize("kind", ["text", "vectors", "images"])
@pytest.mark.parametrize("name", sorted(METHODS))
def test_smoke_every_method(name, kind, tiny_data, tiny_vectors):
    """Every method trains for two epochs on tiny text (random BERT), vectors (MLP) and
    generated images (a small CNN)."""
    if kind == "text":
        data, encoder = tiny_data, TextEncoder.tiny_random()
    elif kind == "images":  # 2 shapes x 3 colours x 8 images of 16 x 16 pixels: 48 rows
        data = make_shape_images(rows_per_fine=8, size=16, shapes=("circle", "square"))
        encoder = ImageEncoder("cnn", width=4, size=16)
    else:
        data, encoder = tiny_vectors, MLPEncoder.for_data(tiny_vectors.vectors, 16, 3)
    method = METHODS[name](encoder, data.n_coarse, n_fine=data.n_fine)
    prepared = prepare(encoder, data)
    cfg = TrainConfig(epochs=2, batch_size=8, lr=1e-3)
    history = fit(method, prepared, cfg, progress=False)
    warmup = [h for h in history if h.get("stage") == "warmup"]
    assert len(warmup) == (method.warmup().epochs if method.warmup() else 0)
    history = history[len(warmup) :]
    if method.trains:
        assert len(history) == 2 and all(np.isfinite(h["loss"]) for h in history)
        # the curve: one averaged point per step here (6 steps per epoch, far below 200)
        assert [p["step"] for p in history[0]["curve"]] == list(range(1, 7))
    else:
        assert history == []
    features = embed(method, prepared, batch_size=16, progress=False)
    dims = {encoder.dim, getattr(encoder, "in_dim", encoder.dim)}  # unsupervised MLP: the input
    assert features.shape[0] == len(data) and features.shape[1] in dims
    assert np.isfinite(features).all()


def test_hwscl_training_step_parts_add_up(tiny_data):
    encoder = TextEncoder.tiny_random()
    cfg = HWSCLConfig(gamma1=0.5, gamma2=0.25, queue_size=0)
    method = HWSCL(encoder, tiny_data.n_coarse, cfg).eval()
    batch = make_batch(encoder, prepare(encoder, tiny_data), np.arange(8), torch.device("cpu"))
    with torch.no_grad():
        parts = method.training_step(batch)
    want = parts["ce_deep"] + 0.5 * parts["ce_shallow"] + 0.25 * parts["contrast"]
    assert float(parts["loss"]) == pytest.approx(float(want), rel=1e-6)


def test_default_shallow_layer_is_two_thirds():
    assert default_shallow_layer(12) == 8 and default_shallow_layer(6) == 4


def test_shallow_layer_must_be_below_the_top():
    with pytest.raises(ValueError, match="shallow_layer must be in 1..2"):
        HWSCL(TextEncoder.tiny_random(n_layers=3), 2, HWSCLConfig(shallow_layer=3))


def test_config_rejects_unknown_and_bad_options():
    with pytest.raises(ValueError, match="unknown option.*gama2"):
        HWSCLConfig.from_dict({"gama2": 0.1})
    with pytest.raises(ValueError, match="tau must be positive"):
        HWSCLConfig(tau=0)


def test_queues_are_per_coarse_fifo():
    queues = CoarseQueues(n_coarse=2, size=3, dim=1)
    keys = torch.tensor([[1.0], [2.0], [3.0], [4.0], [5.0]])
    queues.push(keys, torch.tensor([0, 1, 0, 0, 0]))
    feats, valid = queues.lookup(torch.tensor([0, 1]))
    # class 0 received 1, 3, 4, 5 into 3 slots: the oldest (1) was overwritten by 5
    assert sorted(feats[0, valid[0], 0].tolist()) == [3.0, 4.0, 5.0]
    assert feats[1, valid[1], 0].tolist() == [2.0] and valid[1].tolist() == [True, False, False]


def test_momentum_encoder_is_an_ema_and_fills_the_queue(tiny_data):
    encoder = TextEncoder.tiny_random()
    method = HWSCL(encoder, tiny_data.n_coarse, HWSCLConfig(momentum=0.9, queue_size=4))
    method.on_fit_start(None, 1)
    momentum = method._momentum[0]
    before = [p.clone() for p in momentum.parameters()]
    with torch.no_grad():
        for p in encoder.parameters():
            p.add_(1.0)
    batch = make_batch(encoder, prepare(encoder, tiny_data), np.arange(6), torch.device("cpu"))
    method.training_step(batch)
    method.after_step(0)
    for old, new, online in zip(before, momentum.parameters(), encoder.parameters(), strict=True):
        assert torch.allclose(new, 0.9 * old + 0.1 * online)
    assert method.queues.count.tolist() == [4, 0]  # the 6 rows are all of coarse class 0 ("bank")
    # the momentum encoder is training state, not part of the saved model
    assert not any(k.startswith("_momentum") for k in method.state_dict())


def test_bucketed_batches_cover_every_row_once():
    lengths = np.random.default_rng(0).integers(1, 40, size=1000)
    batches = bucketed_batches(lengths, 64, np.random.default_rng(1))
    assert sorted(np.concatenate(batches).tolist()) == list(range(1000))
    # inside a batch lengths are close: pools of 50 batches are sorted before cutting
    spread = np.mean([np.ptp(lengths[b]) for b in batches])
    assert spread < 5


def test_training_drops_incomplete_batches_but_never_all():
    lengths = np.ones(100, dtype=np.int64)
    batches = bucketed_batches(lengths, 32, np.random.default_rng(0), drop_last=True)
    assert len(batches) == 3 and all(len(b) == 32 for b in batches)
    tiny = bucketed_batches(
        np.ones(5, dtype=np.int64), 32, np.random.default_rng(0), drop_last=True
    )
    assert [len(b) for b in tiny] == [5]  # fewer rows than a batch: train on what there is


def test_training_lowers_the_coarse_loss(tiny_data):
    seed_everything(0)
    encoder = TextEncoder.tiny_random()
    method = METHODS["coarse_supervised"](encoder, tiny_data.n_coarse)
    cfg = TrainConfig(epochs=12, batch_size=16, lr=1e-3, warmup=0.0)
    history = fit(method, prepare(encoder, tiny_data), cfg, progress=False)
    # an untrained two-class head sits near log 2 = 0.69; learning must take it well below
    assert history[-1]["loss"] < 0.8 * history[0]["loss"]


def test_same_seed_same_training(tiny_data):
    def run():
        seed_everything(3)  # heads are initialised from the global generator, as in Discoverer
        encoder = TextEncoder.tiny_random()
        method = HWSCL(encoder, tiny_data.n_coarse)
        cfg = TrainConfig(epochs=1, batch_size=8, seed=3)
        return fit(method, prepare(encoder, tiny_data), cfg, progress=False)[0]["loss"]

    assert run() == run()


def test_head_lr_applies_to_parameters_outside_the_encoder(tiny_data):
    from coarse2fine.train import build_optimizer

    method = METHODS["hwscl"](TextEncoder.tiny_random(), tiny_data.n_coarse)
    optimizer = build_optimizer(method, TrainConfig(lr=1e-5, head_lr=1e-3))
    lr_of = {id(p): g["lr"] for g in optimizer.param_groups for p in g["params"]}
    assert lr_of[id(method.head.dense.weight)] == 1e-3
    assert lr_of[id(method.encoder.model.embeddings.word_embeddings.weight)] == 1e-5
    assert len(lr_of) == sum(1 for p in method.parameters() if p.requires_grad)


@pytest.mark.parametrize("name", ["hwscl", "coarse_supervised"])
def test_head_features_are_the_heads_hidden_layer(name, tiny_data):
    encoder = TextEncoder.tiny_random()
    config = METHODS[name].Config.from_dict({"features": "head"})
    method = METHODS[name](encoder, tiny_data.n_coarse, config).eval()
    batch = make_batch(encoder, prepare(encoder, tiny_data), np.arange(4), torch.device("cpu"))
    with torch.no_grad():
        (deep,) = encoder(batch["inputs"], [encoder.n_layers])
        assert torch.allclose(method.embed(batch), torch.tanh(method.head.dense(deep)))
    with pytest.raises(ValueError, match="features must be one of pooled, head"):
        METHODS[name].Config.from_dict({"features": "cls"})


def test_unsupervised_clusters_the_input_when_the_encoder_is_random(tiny_vectors):
    encoder = MLPEncoder.for_data(tiny_vectors.vectors, 16, 3)
    method = METHODS["unsupervised"](encoder, tiny_vectors.n_coarse)
    features = embed(method, prepare(encoder, tiny_vectors), progress=False, precision="fp32")
    x = tiny_vectors.vectors
    want = (x - x.mean(0)) / x.std(0)
    assert np.allclose(features, want, atol=1e-4)

"""The method contract: declared capabilities with defaults, "+ CE" as one thing, explicit seeds,
per-row outputs that leave a module's mode alone, and no import of the loop from a method."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from coarse2fine import Discoverer
from coarse2fine.batching import make_batch, map_rows, prepare
from coarse2fine.data.synthetic import make_hierarchical_blobs
from coarse2fine.encoders import MLPEncoder, TextEncoder
from coarse2fine.methods import METHODS
from coarse2fine.methods.base import CoarseCE, Method
from coarse2fine.methods.pseudo_label import DeepCluster

METHODS_DIR = Path(__file__).resolve().parents[1] / "coarse2fine" / "methods"


def _build(name, data, **config):
    encoder = MLPEncoder.for_data(data.vectors, 16, 3)
    cls = METHODS[name]
    return cls(encoder, data.n_coarse, cls.Config.from_dict(config), n_fine=data.n_fine)


def test_base_declares_every_capability_with_a_default(tiny_vectors):
    method = METHODS["unsupervised"](MLPEncoder.for_data(tiny_vectors.vectors, 16, 3), 2)
    batch = make_batch(
        method.encoder, prepare(method.encoder, tiny_vectors), np.arange(4), torch.device("cpu")
    )
    assert method.coarse_logits(batch) is None
    assert method.fine_logits(batch) is None
    assert method.finer_groups(batch) is None
    assert method.hierarchy() is None
    assert Method.supports_groups is False
    with pytest.raises(NotImplementedError, match="trains on one dataset"):
        method.set_coarse_groups(np.zeros(2, dtype=np.int64))


def test_map_rows_is_none_for_a_missing_capability_and_keeps_modes(tiny_vectors):
    method = _build("simcse", tiny_vectors)
    method.train()
    method.head.eval()  # a mixed state must come back as it was
    prepared = prepare(method.encoder, tiny_vectors)
    assert map_rows(method, prepared, method.coarse_logits, progress=False) is None
    features = map_rows(method, prepared, method.embed, batch_size=5, progress=False)
    assert features.shape == (len(tiny_vectors), method.encoder.dim)
    assert method.training and method.encoder.training and not method.head.training


@pytest.mark.parametrize(
    "name", sorted(n for n, cls in METHODS.items() if issubclass(cls, CoarseCE))
)
def test_a_coarse_head_routes_exactly_when_it_trains(name, tiny_vectors):
    """'+ CE' is one thing: every method with the coarse head routes rows iff ce_weight > 0."""
    data = tiny_vectors
    method = _build(name, data)
    batch = make_batch(
        method.encoder, prepare(method.encoder, data), np.arange(6), torch.device("cpu")
    )
    logits = method.coarse_logits(batch)
    if method.ce_weight > 0:
        assert logits.shape == (6, data.n_coarse)
    elif name != "ancor":  # plain Ancor routes by its own classifier on z
        assert logits is None
    method.eval()  # no dropout: the term is then a closed form
    with torch.no_grad():
        deep = method.deep(batch)
        by_hand = -F.log_softmax(method.head(deep).float(), 1)[torch.arange(6), batch["coarse"]]
        term = method.coarse_ce(deep, batch["coarse"])
    assert float(term) == pytest.approx(float(by_hand.mean()), rel=1e-6)


def test_ce_aliases_only_change_the_defaults():
    for plain, alias in [
        ("simcse", "simcse_ce"),
        ("delete_one_word", "delete_one_word_ce"),
        ("deepcluster", "deepcluster_ce"),
        ("deepaligned", "deepaligned_ce"),
        ("ancor", "ancor_ce"),
        ("hcsc", "hcsc_ce"),
    ]:
        base, variant = METHODS[plain], METHODS[alias]
        assert issubclass(variant, base) and variant.__dict__.keys() <= {
            "Config",
            "__doc__",
            "__module__",
        }
        assert base.Config().ce_weight == 0.0 and variant.Config().ce_weight == 1.0
        changed = {
            k for k, v in variant.Config().to_dict().items() if base.Config().to_dict()[k] != v
        }
        assert changed == ({"ce_weight", "coarse_top"} if plain == "hcsc" else {"ce_weight"})


def test_plain_method_with_ce_weight_routes_like_its_alias(tiny_vectors):
    plain = _build("simcse", tiny_vectors, ce_weight=1.0)
    assert plain.ce_weight == 1.0
    prepared = prepare(plain.encoder, tiny_vectors)
    batch = make_batch(plain.encoder, prepared, np.arange(3), torch.device("cpu"))
    assert plain.coarse_logits(batch).shape == (3, 2)


def test_the_seed_reaches_the_method_as_an_argument_not_through_torch(tiny_vectors):
    """DeepCluster's per-epoch K-Means follows ``seed``; the global torch seed changes nothing."""
    encoder = MLPEncoder.for_data(tiny_vectors.vectors, 16, 3)
    prepared = prepare(encoder, tiny_vectors)
    labels = []
    for torch_seed in (0, 123):
        torch.manual_seed(torch_seed)
        method = DeepCluster(encoder, 2, n_fine=6, seed=7)
        method.on_epoch_start(0, prepared)
        labels.append(method._pseudo.clone())
    assert torch.equal(labels[0], labels[1])
    assert DeepCluster(encoder, 2, n_fine=6, seed=7).seed == 7
    assert Discoverer("hwscl", seed=5)._build(2, TextEncoder.tiny_random()).seed == 5


def test_no_method_imports_the_training_loop():
    for path in METHODS_DIR.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            assert not any(n == "coarse2fine.train" for n in names), path.name


def test_estimator_and_protocol_never_probe_a_method():
    root = METHODS_DIR.parent
    for name in ("discoverer.py", "protocol.py", "cli.py", "output.py"):
        source = (root / name).read_text(encoding="utf-8")
        assert "hasattr(self.method_" not in source and "hasattr(est.method_" not in source
        assert ".relation" not in source and ".parents(" not in source


def test_an_estimated_k_is_saved_and_loaded(tmp_path):
    """FALCON built with the estimated K (n_fine=None) must load again with that K."""
    data = make_hierarchical_blobs((3, 2, 1), rows_per_fine=40, dim=16, seed=3)
    est = Discoverer("falcon", n_fine=None, epochs=1, progress=False)
    est.fit(data)
    again = Discoverer.load(est.save(tmp_path / "model"), progress=False)
    assert again.method_.n_fine == est.method_.n_fine == 6
    assert np.array_equal(again.predict(data), est.predict(data))


def test_precision_auto_is_bf16_only_where_the_device_has_it_natively():
    from coarse2fine.batching import native_bf16, resolve_precision

    assert resolve_precision("fp32", "cpu") == "fp32"
    assert resolve_precision("bf16", "cpu") == "bf16"
    assert resolve_precision("auto", "cpu") == ("bf16" if native_bf16("cpu") else "fp32")
    with pytest.raises(ValueError, match="precision must be one of auto, bf16, fp32"):
        resolve_precision("fp16", "cpu")


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_hooks_encode_rows_at_the_precision_the_loop_trains_at(tiny_vectors, precision):
    est = Discoverer("down", n_fine=6, epochs=1, precision=precision, progress=False)
    est.fit(tiny_vectors)
    assert est.method_.precision == precision  # the bank refresh and warm-up checks use it
    assert est.train_config_.precision == precision


def test_auto_precision_is_recorded_as_what_ran(tiny_vectors):
    from coarse2fine.batching import resolve_precision

    est = Discoverer("hwscl", n_fine=6, epochs=1, progress=False).fit(tiny_vectors)
    assert est.train_config_.precision == resolve_precision("auto", "cpu") != "auto"


def test_the_package_loads_its_public_names_and_submodules_on_first_use():
    """``import coarse2fine`` stays light (no torch) while every public name and submodule is
    reachable from it, as when the package imported them eagerly."""
    import subprocess
    import sys

    code = (
        "import sys, coarse2fine as c; assert 'torch' not in sys.modules; "
        "import coarse2fine.io; assert 'torch' not in sys.modules; "
        "assert c.Discoverer.__name__ == 'Discoverer' and c.metrics.clustering_scores; "
        "assert c.evaluate is c.metrics.clustering_scores; "
        "print(sorted(c.__all__))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "Discoverer" in done.stdout
    import coarse2fine

    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        coarse2fine.nope  # noqa: B018


def test_the_loop_steps_with_fused_adamw_the_same_update_as_the_per_tensor_loop(tiny_vectors):
    from coarse2fine.train import TrainConfig, build_optimizer, fused_adam

    encoder = MLPEncoder.for_data(tiny_vectors.vectors, 8, 2)
    method = METHODS["down"](encoder, 2, n_fine=6)
    optimizer = build_optimizer(method, TrainConfig(epochs=1, lr=1e-2))
    assert optimizer.defaults["fused"] is True
    assert fused_adam([torch.zeros(2, dtype=torch.int64)]) is None  # no kernel: torch decides
    torch.manual_seed(0)
    start = [torch.randn(5, 3), torch.randn(3)]
    finals = []
    for fused in (True, False):
        weights = [torch.nn.Parameter(w.clone()) for w in start]
        step = torch.optim.AdamW(weights, lr=1e-2, weight_decay=0.01, fused=fused)
        for _ in range(5):
            for w in weights:
                w.grad = w.detach() ** 2 - 0.5
            step.step()
        finals.append(torch.cat([w.detach().ravel() for w in weights]))
    assert torch.allclose(finals[0], finals[1], atol=1e-6)
    assert (finals[0] - torch.cat([w.ravel() for w in start])).abs().min() > 1e-3  # all moved

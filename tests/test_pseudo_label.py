"""DeepCluster and DeepAligned: the Hungarian renaming, and the pseudo-label loss by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from coarse2fine.batching import make_batch, prepare
from coarse2fine.encoders import MLPEncoder
from coarse2fine.methods.pseudo_label import DeepAligned, DeepCluster, align_to_previous


def test_alignment_renames_new_clusters_after_the_nearest_old_ones():
    old = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    new = np.array([[0.1, 9.9], [0.2, 0.1], [9.8, 0.3]])  # the same clusters, shuffled
    assert align_to_previous(new, old).tolist() == [2, 0, 1]


def test_deepaligned_keeps_cluster_ids_across_epochs(tiny_vectors):
    encoder = MLPEncoder.for_data(tiny_vectors.vectors, 16, 3)
    method = DeepAligned(encoder, 2, n_fine=6)
    prepared = prepare(encoder, tiny_vectors)
    method.on_epoch_start(0, prepared)
    first = method._pseudo.clone()
    method.on_epoch_start(1, prepared)  # same features, another K-Means seed: same partition
    assert torch.equal(method._pseudo, first)


def test_pseudo_label_loss_by_hand(tiny_vectors):
    encoder = MLPEncoder.for_data(tiny_vectors.vectors, 16, 3)
    method = DeepCluster(encoder, 2, n_fine=6)
    prepared = prepare(encoder, tiny_vectors)
    method.on_epoch_start(0, prepared)
    method.eval()
    batch = make_batch(encoder, prepared, np.arange(8), torch.device("cpu"))
    with torch.no_grad():
        parts = method.training_step(batch)
        (deep,) = encoder(batch["inputs"], [encoder.n_layers])
        want = F.cross_entropy(method.fine_head(deep), method._pseudo[:8])
    assert float(parts["loss"]) == pytest.approx(float(want), rel=1e-5)
    assert "ce" not in parts


def test_pseudo_label_methods_need_k(tiny_vectors):
    with pytest.raises(ValueError, match="give n_fine"):
        DeepCluster(MLPEncoder.for_data(tiny_vectors.vectors), 2)

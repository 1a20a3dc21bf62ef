"""Evaluation protocols shared by the benchmark scripts and the CLI.

Paper protocol (the HWSCL paper's; docs/BENCHMARKS.md): train on the train split with coarse
labels only; embed the test split, cluster it WITHOUT its coarse labels into K = true number of
fine classes; score ACC / ARI / NMI on the test split. Also reported: the nested score
(clustering inside each test coarse class, the transductive analyst's setting), and for methods
with a coarse head its test accuracy and the score of clustering inside each PREDICTED coarse
class (no test labels). Every clustering is also scored with spectral clustering of the
rows' neighbour graph (``"spectral"`` in the record; the package's clusterer for short texts
until 2026-12-05), the same K and features; the clusterings inside coarse classes (the true
ones, and the predicted ones) also by ``"umap-spectral"`` (``"umap_spectral"`` in the record),
the clusterer ``discover`` picks for short texts since then.

Methods with a fine classifier (FALCON) are scored as their paper does, by the classifier's own
predictions on the test split ("discovery": "classifier"); K-Means on their features is reported
beside it ("kmeans"), with the edit distance of the learned hierarchy to the true one.
"""

from __future__ import annotations

import resource
import time
from typing import Any

import numpy as np

from coarse2fine.cluster import discover
from coarse2fine.data import CoarseDataset, load_dataset
from coarse2fine.discoverer import Discoverer
from coarse2fine.methods import METHODS
from coarse2fine.metrics import (
    clustering_scores,
    coarse_accuracy,
    hierarchy_edit_distance,
    true_parents,
)


def peak_memory_mb() -> float:
    """Peak resident memory of this process so far (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def paper_protocol(
    dataset: str | tuple[CoarseDataset, CoarseDataset],
    method: str,
    seed: int,
    *,
    epochs: int,
    method_params: dict[str, Any] | None = None,
    n_init: int = 10,
    progress: bool = False,
    **discoverer_params: Any,
) -> dict[str, Any]:
    """Run one (dataset, method, seed) cell of the benchmark and return its record.

    ``dataset`` is a built-in name, or a (train, test) pair of CoarseDatasets.
    """
    if isinstance(dataset, str):
        train, test = load_dataset(dataset, "train"), load_dataset(dataset, "test")
    else:
        train, test = dataset
        dataset = train.name
    # the papers' protocol runs each method as published: options the package's recipe changes
    # (``Method.recipe_options``) take their published values unless the row sets them
    cls = METHODS.get(method)  # an unknown name is refused by Discoverer, with the choices
    published = cls.published_options(train.kind) if cls else {}
    est = Discoverer(
        method=method,
        n_fine=test.n_fine,
        epochs=epochs,
        seed=seed,
        method_params={**published, **(method_params or {})},
        progress=progress,
        # the papers' protocol trains on every training row at full length
        **{"train_rows": None, "train_length": None, **discoverer_params},
    )
    start = time.perf_counter()
    est.fit_representation(train)
    train_seconds = time.perf_counter() - start
    features = est.transform(test)
    k = test.n_fine

    def scores(coarse: np.ndarray | None = None, clusterer: str = "kmeans") -> dict[str, float]:
        """The test features clustered into K, over the whole split or inside ``coarse``."""
        found = discover(
            features, k, coarse=coarse, nested=coarse is not None, seed=seed, n_init=n_init,
            clusterer=clusterer,
        )  # fmt: skip
        return clustering_scores(test.fine, found.labels)

    kmeans_scores = scores()
    spectral = {"flat": scores(clusterer="spectral"), "nested": scores(test.coarse_ids, "spectral")}
    layout = {"nested": scores(test.coarse_ids, "umap-spectral")}
    record: dict[str, Any] = {
        "dataset": dataset,
        "method": method,
        "seed": seed,
        "epochs": epochs if est.method_.trains else 0,
        "method_config": est.method_.config.to_dict(),
        "train_rows": len(train),
        "test_rows": len(test),
        "k": k,
        "discovery": "kmeans",
        **kmeans_scores,
        "nested": scores(test.coarse_ids),
        "spectral": spectral,
        "umap_spectral": layout,
        "train_seconds": round(train_seconds, 1),
        "epoch_seconds": [round(h["seconds"], 1) for h in est.history_],
        "history": est.history_,
    }
    predicted = est.predict_coarse(test)
    if predicted is not None:
        # Hierarchical discovery without the test coarse labels: cluster inside the coarse
        # class the method's own coarse head predicts for each test row.
        record["coarse_accuracy"] = coarse_accuracy(test.coarse, predicted)
        codes = np.unique(predicted, return_inverse=True)[1]
        record["nested_predicted"] = scores(codes)
        spectral["nested_predicted"] = scores(codes, "spectral")
        layout["nested_predicted"] = scores(codes, "umap-spectral")
    learned = est.method_.hierarchy()  # a method that classifies learned its own tree
    if learned is not None:
        record.update(discovery="classifier", **clustering_scores(test.fine, est.predict(test)))
        record["kmeans"] = kmeans_scores
        parents = [est.coarse_classes_[p] for p in learned]
        record["edit_distance"] = hierarchy_edit_distance(
            parents, true_parents(train.fine, train.coarse)
        )
    record["peak_memory_mb"] = round(peak_memory_mb(), 1)
    record["wall_seconds"] = round(time.perf_counter() - start, 1)
    return record

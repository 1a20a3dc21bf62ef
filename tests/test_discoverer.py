"""The estimator: fit / predict / transform, save-load round trips, scikit-learn conventions."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from coarse2fine import CoarseDataset, Discoverer, InputError
from coarse2fine.data.synthetic import make_hierarchical_blobs
from coarse2fine.metrics import cluster_acc
from coarse2fine.output import cluster_table, summary_text


def small(**kwargs) -> Discoverer:
    params = dict(encoder="tiny-random", epochs=1, batch_size=8, n_fine=6, progress=False)
    params.update(kwargs)
    return Discoverer(**params)


def sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_fit_assigns_every_row_inside_its_coarse_class(tiny_data):
    est = small().fit(tiny_data)
    assert est.labels_.shape == (len(tiny_data),)
    assert len(est.categories_) == est.n_fine_ == 6
    parents = np.asarray(est.cluster_parents_)[est.labels_]
    assert (parents == tiny_data.coarse).all()  # nested: no category straddles coarse classes
    assert est.categories_[0] == "bank/1"


def test_fit_accepts_texts_and_labels(tiny_data):
    est = small(clustering="global").fit(tiny_data.texts, tiny_data.coarse)
    assert len(set(est.labels_.tolist())) == est.n_fine_ == 6  # six categories, each used


def test_save_load_round_trip_is_exact(tiny_data, tmp_path):
    est = small().fit(tiny_data)
    est.save(tmp_path / "m")
    loaded = Discoverer.load(tmp_path / "m")
    new_texts = ["help with my visa today", "my balance please", "book a hotel"]
    assert np.array_equal(est.predict(new_texts), loaded.predict(new_texts))
    assert np.array_equal(est.transform(tiny_data), loaded.transform(tiny_data))
    assert loaded.categories_ == est.categories_
    assert loaded.category_names_ == est.category_names_ and len(est.category_names_) == 6
    assert loaded.get_params() == {
        **est.get_params(),
        "method_params": loaded.method_.config.to_dict(),
        "progress": True,  # runtime settings are not saved: load() sets them
    }
    assert "device" not in (tmp_path / "m" / "coarse2fine.json").read_text()
    loaded.save(tmp_path / "again")  # saving the loaded model reproduces the weights byte for byte
    assert sha(tmp_path / "m" / "model.safetensors") == sha(
        tmp_path / "again" / "model.safetensors"
    )


def test_predict_is_the_nearest_category_centre(tiny_data):
    est = small().fit(tiny_data)
    features = est.transform(tiny_data)
    distances = ((features[:, None, :] - est.cluster_centers_[None]) ** 2).sum(-1)
    assert np.array_equal(est.predict(tiny_data), distances.argmin(1))


def test_predict_within_given_and_head_coarse_classes(tiny_data):
    est = small(seed=1).fit(tiny_data)
    features = est.transform(tiny_data)
    distances = ((features[:, None, :] - est.cluster_centers_[None]) ** 2).sum(-1)
    parents = np.array(est.cluster_parents_)
    for within, coarse in (
        ("given", np.asarray(tiny_data.coarse)),
        ("head", est.predict_coarse(tiny_data)),
    ):
        # by hand: the nearest centre among the categories under each row's coarse class
        allowed = parents[None, :] == coarse[:, None]
        expected = np.where(allowed, distances, np.inf).argmin(1)
        got = est.predict(tiny_data, within=within)
        assert np.array_equal(got, expected), within
        assert np.array_equal(parents[got], coarse), within
    # a coarse label the model never saw: "given" names the row and the way out
    new = CoarseDataset(texts=["my card", "the match", "a loan"], coarse=["bank", "sports", "?"])
    with pytest.raises(
        InputError,
        match=r"row 2: coarse label 'sports' is not one the model was fitted on \('bank', "
        r"'travel'\); 2 row\(s\) like it.*within 'head' or 'all'",
    ):
        est.predict(new, within="given")
    with pytest.raises(ValueError, match="within must be one of all, head, given; got 'some'"):
        est.predict(tiny_data, within="some")
    # bare texts carry no coarse label: "given" says what to pass instead
    with pytest.raises(InputError, match=r"within='given' needs the rows' coarse labels"):
        est.predict(["my card"], within="given")


def test_predict_within_head_needs_a_coarse_head(tiny_data):
    est = small(method="unsupervised").fit(tiny_data)
    with pytest.raises(InputError, match="method 'unsupervised' has no coarse head"):
        est.predict(tiny_data, within="head")


def test_same_seed_same_assignments(tiny_data):
    a = small(seed=5).fit(tiny_data).labels_
    b = small(seed=5).fit(tiny_data).labels_
    assert np.array_equal(a, b)


def test_too_few_categories_for_nested_clustering_fails_before_training(tiny_data, monkeypatch):
    import coarse2fine.discoverer as module

    monkeypatch.setattr(module, "fit", lambda *a, **k: pytest.fail("training must not start"))
    with pytest.raises(InputError, match="cannot give each of the 2 coarse classes"):
        small(n_fine=1).fit(tiny_data)


def test_damaged_model_folder_is_a_clear_error(tiny_data, tmp_path):
    small().fit(tiny_data).save(tmp_path / "m")
    (tmp_path / "m" / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(InputError, match="cannot load the model"):
        Discoverer.load(tmp_path / "m")


def test_load_rejects_a_folder_that_is_not_a_model(tmp_path):
    with pytest.raises(InputError, match="is not a coarse2fine model folder"):
        Discoverer.load(tmp_path)


def test_sklearn_params_and_clone():
    est = small(method_params={"gamma2": 0.1})
    twin = clone(est)
    assert twin.get_params() == est.get_params()
    twin.set_params(n_fine=9)
    assert twin.n_fine == 9 and est.n_fine == 6


def test_text_defaults_are_the_measured_recipe_and_each_part_can_be_overridden():
    """DOWN on text: 3 epochs, encoder lr 1e-5, heads 1e-3, training on at most 4,000 rows of
    32 tokens, spectral clustering for texts with small categories, else K-Means
    (docs/DEFAULTS.md). A user's
    lr replaces the encoder's only; FALCON and HWSCL keep their own recipes; vectors train
    their heads at lr."""
    est = Discoverer()
    assert (est.method, est.train_rows, est.train_length, est.clusterer) == (
        "down",
        4000,
        32,
        "auto",
    )
    cfg = est._train_config("text")
    assert (cfg.epochs, cfg.lr, cfg.head_lr) == (3, 1e-5, 1e-3)
    cfg = Discoverer(lr=2e-5)._train_config("text")
    assert (cfg.epochs, cfg.lr, cfg.head_lr) == (3, 2e-5, 1e-3)
    cfg = Discoverer(epochs=1, head_lr=2e-6)._train_config("text")
    assert (cfg.epochs, cfg.lr, cfg.head_lr) == (1, 1e-5, 2e-6)
    cfg = Discoverer("falcon")._train_config("text")
    assert (cfg.epochs, cfg.lr, cfg.head_lr) == (1, 1e-5, 1e-3)
    cfg = Discoverer("hwscl")._train_config("text")
    assert (cfg.epochs, cfg.lr, cfg.head_lr) == (3, 2e-6, 1e-3)
    cfg = Discoverer()._train_config("vectors")
    assert (cfg.epochs, cfg.lr, cfg.head_lr) == (30, 1e-3, None)
    texts = CoarseDataset(texts=["a b", "c d"], coarse=["x", "y"])
    assert est._resolve_clusterer(texts, 100) == "umap-spectral"
    assert est._resolve_clusterer(texts, 101) == "kmeans"  # big categories: K-Means
    assert est._resolve_clusterer(texts, 10.5) == "umap-spectral"
    assert est._resolve_clusterer(texts, 10) == "ward"  # a few rows each: Ward linkage
    wide = CoarseDataset(texts=["a b"] * 10_001 + ["c d"], coarse=["x"] * 10_001 + ["y"])
    assert est._resolve_clusterer(wide, 10) == "umap-spectral"  # exact Ward too big there
    halves = CoarseDataset(texts=["a b"] * 10_002, coarse=["x", "y"] * 5_001)
    assert est._resolve_clusterer(halves, 10) == "ward"  # nested: 5,001 rows at a time
    assert Discoverer(clustering="global")._resolve_clusterer(halves, 10) == "umap-spectral"
    vectors = make_hierarchical_blobs((2, 2), rows_per_fine=3, dim=4)
    assert est._resolve_clusterer(vectors, 3) == "kmeans"
    assert Discoverer(clusterer="kmeans")._resolve_clusterer(texts, 3) == "kmeans"
    fitted = small().fit(CoarseDataset(texts=["a b"] * 6, coarse=["x"] * 6))
    assert fitted.clusterer_ == "ward"  # 6 rows: a few per category


def test_not_fitted():
    with pytest.raises(NotFittedError):
        small().predict(["x"])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_fine": 0}, "n_fine must be between 1 and the number of rows \\(48\\), got 0"),
        ({"n_fine": 49}, "got 49"),
        (
            {"n_fine": None, "min_category_size": 1},
            "min_category_size must be a whole number >= 2 or None, got 1",
        ),
        ({"n_fine": None, "k_estimator": "gap"}, "k_estimator must be one of eigengap, "),
        ({"method": "nope"}, "unknown method 'nope'"),
        ({"clustering": "flat"}, "clustering must be 'nested' or 'global'"),
        ({"method_params": {"gama2": 1}}, "unknown option"),
        ({"train_layers": 0}, "train_layers must be a whole number >= 1 or None, got 0"),
        ({"device": "gpu"}, "device must be cpu, cuda or cuda:N, got 'gpu'"),
        ({"train_layers": 4}, "train_layers must be in 1..3 or None, got 4"),
    ],
)
def test_bad_parameters_raise_clear_errors(tiny_data, kwargs, message):
    with pytest.raises(ValueError, match=message):
        small(**kwargs).fit(tiny_data)


def test_unknown_k_is_estimated_inside_each_coarse_class():
    data = make_hierarchical_blobs((3, 2, 1), rows_per_fine=40, dim=16, seed=3)
    est = Discoverer("unsupervised", n_fine=None, progress=False).fit(data)
    assert est.estimated_counts_ == {"c0": 3, "c1": 2, "c2": 1}
    assert est.n_fine_ == 6 and cluster_acc(data.fine, est.labels_) == 100.0
    table = cluster_table(est, data)
    assert table["estimated_counts"] == {"c0": 3, "c1": 2, "c2": 1}
    # each class's range and curve travel to clusters.json: the curve peaks at the estimate
    got = table["estimate"]["classes"]["c0"]
    assert table["estimate"]["features"] == "starting"  # unsupervised: the features never train
    assert got["low"] <= 3 <= got["high"]
    assert max(got["curve"], key=lambda p: -1 if p[1] is None else p[1])[0] == 3


def test_unknown_k_is_estimated_on_the_trained_features():
    """A method whose model does not hold K is trained first; K is then read off the features
    that get clustered."""
    data = make_hierarchical_blobs((3, 2, 1), rows_per_fine=40, dim=16, seed=3)
    est = Discoverer("down", n_fine=None, epochs=2, fallback=False, progress=False).fit(data)
    assert est.k_estimate_["features"] == "trained"
    assert est.estimated_counts_ == {"c0": 3, "c1": 2, "c2": 1}
    # DOWN counted them once before its first neighbour search, by Louvain modularity (which
    # splits these blobs of 40 rows into 10 communities): k = 0.8 x 240 rows / 10 = 19
    assert est.k_estimate_["training"] == {"categories": 10, "neighbours": 19}
    # the count after training reads a graph as wide as that neighbourhood (trained on all
    # 240 rows: 19 neighbours); starting features, and twice the rows, by hand
    assert est.k_estimate_["neighbours"] == 19
    assert est._count_neighbours("trained", 480, 6) == 38
    # no wider than the k DOWN would take for the categories a 10-neighbour graph counted
    assert est._count_neighbours("trained", 480, 12) == 32
    assert est._count_neighbours("trained", 480, 60) == 10
    assert est._count_neighbours("starting", 480, 6) == 10
    said = summary_text(est, cluster_table(est, data), None, Path("run"), 1.0)
    assert "on the trained features (a 19-neighbour graph: training pulled each row's" in said
    assert "c2: 40 rows, 1 category (estimated" in said and "c0: 120 rows, 3 categories" in said


def test_the_summary_gives_a_second_reading_and_the_clear_classes_scale():
    """Separated blobs have clear gaps: no class is read twice and the summary says nothing of
    it. A class given a second reading (as one without a clear gap gets) is printed with both
    counts as rows a category, and the clear classes' scale beside the note on reading twice."""
    data = make_hierarchical_blobs((3, 2, 1), rows_per_fine=20, dim=16, seed=3)
    est = Discoverer("unsupervised", n_fine=None, progress=False).fit(data)
    said = summary_text(est, cluster_table(est, data), None, Path("run"), 1.0)
    assert "read twice" not in said and "at the noise's resolution" not in said
    assert est.k_estimate_["scale"] is None
    got = est.k_estimate_["classes"]["c0"]
    got["second"] = {"criterion": "resolution", "k": 2}
    est.k_estimate_["scale"] = 20.0
    est.k_estimate_["by_scale"] = False
    said = summary_text(est, cluster_table(est, data), None, Path("run"), 1.0)
    assert "the classes with a clear eigengap hold ~20 rows a category (their median)\n" in said
    # how the scale was read is said as recorded (SCALE_BY), and not at all where it was not
    est.k_estimate_["scale_by"] = "pooled"
    said = summary_text(est, cluster_table(est, data), None, Path("run"), 1.0)
    assert "hold ~20 rows a category (pooled)\n" in said
    del est.k_estimate_["scale_by"]  # clusters.json written before it was recorded
    said = summary_text(est, cluster_table(est, data), None, Path("run"), 1.0)
    assert "hold ~20 rows a category\n" in said
    est.k_estimate_["scale_by"] = "median"
    reading = f"; at the noise's resolution: 2 (~30 rows a category, against ~{60 // got['k']}))"
    assert reading in said
    # where the choice by that scale was made (estimate_k.WEAK_CHOICE "scale"), it says so
    est.k_estimate_["by_scale"] = True
    said = summary_text(est, cluster_table(est, data), None, Path("run"), 1.0)
    assert (
        "hold ~20 rows a category (their median), and each class read twice takes the reading "
        "nearer that\n"
    ) in said


def test_scores_per_coarse_class_and_a_short_count_in_the_summary():
    """With fine labels, metrics.json gains each class's rows, true and found categories,
    separable count and ACC; the blobs are separated, so every category is kept apart. Where an
    estimated count falls short of the separable one, the summary names the class."""
    from coarse2fine.output import discovery_metrics

    data = make_hierarchical_blobs((3, 2, 1), rows_per_fine=20, dim=16, seed=3)
    est = Discoverer("unsupervised", n_fine=None, progress=False).fit(data)
    metrics = discovery_metrics(est, data)
    by_coarse = metrics["by_coarse"]
    assert list(by_coarse) == ["c0", "c1", "c2"]
    assert [(c["rows"], c["true"], c["separable"]) for c in by_coarse.values()] == [
        (60, 3, 3),
        (40, 2, 2),
        (20, 1, 1),
    ]
    assert [c["found"] for c in by_coarse.values()] == list(est.estimated_counts_.values())
    said = summary_text(est, cluster_table(est, data), metrics, Path("run"), 1.0)
    assert "fewer categories than the features keep apart" not in said
    by_coarse["c0"]["found"] = 2  # as if the estimate had merged two of c0's categories
    said = summary_text(est, cluster_table(est, data), metrics, Path("run"), 1.0)
    assert "keep apart by the fine labels in: c0 (2 found, 3 kept apart)" in said


def test_without_k_the_fallback_compares_both_spaces_at_the_starting_count(monkeypatch):
    """The fallback's two partitions use the count of the starting features (the PBMC cells
    without K: training fragmented the MLP's features into 30-50 categories, and at that
    count the fragmented space won the comparison; docs/ESTIMATE_K.md); the trained features
    are counted only if they are kept."""
    data = make_hierarchical_blobs((3, 2, 1), rows_per_fine=40, dim=16, seed=3)
    counted, partitions = [], []
    estimate, discover = Discoverer._estimate, Discoverer._discover

    def spy_estimate(self, features, data_, which):
        counted.append(which)
        return estimate(self, features, data_, which)

    def spy_discover(self, method, features, prepared, data_, counts):
        partitions.append(counts.tolist())
        return discover(self, method, features, prepared, data_, counts)

    monkeypatch.setattr(Discoverer, "_estimate", spy_estimate)
    monkeypatch.setattr(Discoverer, "_discover", spy_discover)
    est = Discoverer("down", n_fine=None, epochs=2, fallback=True, progress=False).fit(data)
    assert counted[0] == "starting"
    assert partitions[:2] == [[3, 2, 1], [3, 2, 1]]  # trained, then untrained: the start's count
    kept = est.representation_["chosen"]
    assert counted == (["starting"] if kept == "untrained" else ["starting", "trained"])
    assert est.k_estimate_["features"] == ("starting" if kept == "untrained" else "trained")


def test_falcon_without_k_is_built_with_the_estimate():
    """K is estimated before training, so methods that need it up front can run without it."""
    data = make_hierarchical_blobs((3, 2, 1), rows_per_fine=40, dim=16, seed=3)
    est = Discoverer("falcon", n_fine=None, progress=False).fit(data)
    assert est.estimated_counts_ == {"c0": 3, "c1": 2, "c2": 1}
    assert est.method_.n_fine == 6 and cluster_acc(data.fine, est.labels_) >= 95.0


def test_a_refit_with_k_given_forgets_the_earlier_estimate():
    data = make_hierarchical_blobs((3, 2, 1), rows_per_fine=40, dim=16, seed=3)
    est = Discoverer("unsupervised", n_fine=None, progress=False).fit(data)
    assert hasattr(est, "estimated_counts_")
    est.set_params(n_fine=6).fit(data)
    assert not hasattr(est, "estimated_counts_")


def test_text_length_covers_the_95th_percentile_of_token_counts(tiny_data):
    """max_length=None fits the length to the rows; an explicit one is kept, a bad one refused."""
    from coarse2fine.encoders import TextEncoder

    encoder = TextEncoder.tiny_random()
    counts = encoder.lengths(encoder.prepare(tiny_data.texts))
    est = Discoverer("unsupervised", n_fine=6, encoder="tiny-random", progress=False)
    est.fit(tiny_data)
    assert est.max_length_ == int(np.ceil(np.quantile(counts, 0.95)))
    long = CoarseDataset(
        texts=[" ".join(["word"] * 300)] * 4 + ["short text"] * 4, coarse=["a", "b"] * 4
    )
    assert Discoverer(encoder="tiny-random")._make_encoder(long).max_length == 128  # its limit
    assert Discoverer(encoder="tiny-random", max_length=16)._make_encoder(long).max_length == 16
    with pytest.raises(InputError, match="max_length must be between 2 and 128"):
        Discoverer(encoder="tiny-random", max_length=1000)._make_encoder(long)


def test_n_fine_per_coarse_class_is_used_exactly():
    data = make_hierarchical_blobs((3, 2, 1), rows_per_fine=40, dim=16, seed=3)
    est = Discoverer("unsupervised", n_fine={"c0": 3, "c1": 2, "c2": 1}, progress=False)
    est.fit(data)
    tree = {}
    for parent in est.cluster_parents_:
        tree[parent] = tree.get(parent, 0) + 1
    assert tree == {"c0": 3, "c1": 2, "c2": 1} and cluster_acc(data.fine, est.labels_) == 100.0
    with pytest.raises(InputError, match="missing 'c2'; unknown 'c9'"):
        Discoverer("unsupervised", n_fine={"c0": 3, "c1": 2, "c9": 1}).fit(data)
    with pytest.raises(InputError, match=r"n_fine\['c2'\] must be a whole number between 1 and"):
        Discoverer("unsupervised", n_fine={"c0": 3, "c1": 2, "c2": 0}).fit(data)


def test_clusterer_by_name_or_object_and_an_encoder_object(tiny_vectors, tmp_path):
    """Objects where names go: a scikit-learn clusterer, an encoder module (trained on a copy)."""
    from sklearn.cluster import AgglomerativeClustering

    from coarse2fine.encoders import MLPEncoder

    data = make_hierarchical_blobs((3, 2, 1), rows_per_fine=30, dim=8, seed=3)
    for clusterer in ("spectral", "umap-spectral", "ward", AgglomerativeClustering(linkage="ward")):
        est = Discoverer("unsupervised", n_fine=6, clusterer=clusterer, progress=False).fit(data)
        assert cluster_acc(data.fine, est.labels_) == 100.0
        centres = est.cluster_centers_  # each category's mean feature, unit length
        assert np.allclose(np.linalg.norm(centres, axis=1), 1.0, atol=1e-5)
        # new rows go to the nearest centre: a graph clustering's rows mostly agree with it
        assert np.mean(est.predict(data) == est.labels_) >= 0.95
    with pytest.raises(InputError, match="must be one of kmeans, spectral, umap-spectral, ward"):
        Discoverer("unsupervised", n_fine=6, clusterer="dbscan").fit(data)
    with pytest.raises(InputError, match="has no fit_predict"):
        Discoverer("unsupervised", n_fine=6, clusterer=object()).fit(data)
    mine = MLPEncoder.for_data(tiny_vectors.vectors, 16, 2, seed=0)
    before = {k: v.clone() for k, v in mine.state_dict().items()}
    est = Discoverer("coarse_supervised", n_fine=6, encoder=mine, epochs=2, progress=False)
    est.fit(tiny_vectors)
    assert all(torch.equal(before[k], v) for k, v in mine.state_dict().items())  # untouched
    trained = est.method_.encoder.state_dict()
    assert any(not torch.equal(before[k], trained[k]) for k in before)
    saved = json.loads((est.save(tmp_path / "m") / "coarse2fine.json").read_text())
    assert saved["params"]["encoder"] == "<MLPEncoder>"
    with pytest.raises(InputError, match="lacks prepare, lengths, collate"):
        Discoverer(encoder=torch.nn.Linear(2, 2), n_fine=6).fit(tiny_vectors)


def test_proportional_sample_keeps_each_coarse_class_share():
    from coarse2fine.batching import proportional_sample

    groups = np.array([0] * 90 + [1] * 9 + [2] * 1)
    for size, shares in [(10, [8, 1, 1]), (50, [45, 4, 1]), (3, [1, 1, 1]), (100, [90, 9, 1])]:
        rows = proportional_sample(groups, size, seed=0)
        assert len(rows) == len(set(rows.tolist())) == size
        assert (np.diff(rows) > 0).all()  # sorted, no repeats
        assert np.bincount(groups[rows], minlength=3).tolist() == shares
    assert (
        proportional_sample(groups, 10, 1).tolist() != proportional_sample(groups, 10, 0).tolist()
    )


def test_training_reads_a_sample_of_rows_cut_short_but_every_row_is_assigned(
    tiny_data, monkeypatch
):
    """train_rows / train_length cap what training reads; features use the full length."""
    import coarse2fine.discoverer as module

    seen = {}
    real_fit = module.fit

    def spy(method, prepared, cfg, **kw):
        seen["rows"], seen["longest"] = len(prepared), int(prepared.lengths.max())
        seen["coarse"] = np.bincount(prepared.coarse).tolist()
        return real_fit(method, prepared, cfg, **kw)

    monkeypatch.setattr(module, "fit", spy)
    est = small(train_rows=12, train_length=4).fit(tiny_data)
    assert (seen["rows"], seen["longest"], seen["coarse"]) == (12, 4, [6, 6])
    assert (est.train_rows_, est.train_length_) == (12, 4) and est.max_length_ > 4
    assert est.labels_.shape == (len(tiny_data),)
    est = small(train_rows=None, train_length=None).fit(tiny_data)
    assert seen["rows"] == est.train_rows_ == len(tiny_data) and seen["longest"] == est.max_length_
    assert not hasattr(est, "train_length_")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"train_rows": 1}, "train_rows must be a whole number >= 2 or None, got 1"),
        ({"train_length": 1.5}, "train_length must be a whole number >= 2 or None, got 1.5"),
    ],
)
def test_bad_training_caps_are_refused_before_training(tiny_data, kwargs, message):
    with pytest.raises(InputError, match=message):
        small(**kwargs).fit(tiny_data)


def test_fallback_keeps_the_partition_the_other_space_agrees_with_more(tmp_path):
    """Blobs whose standardised input already separates the fine classes (ACC 99), and 30
    epochs of coarse cross-entropy that squeeze them together (ACC 78): the scores are
    knn_agreement of each partition in the other space, the untrained features win (89 vs
    97), and the saved model is the untrained encoder (predictions survive loading)."""
    from coarse2fine.metrics import knn_agreement

    data = make_hierarchical_blobs((3, 2, 1), dim=8, fine_spread=1.5, noise=0.6, seed=3)
    params = dict(n_fine=6, epochs=30, lr=1e-2, progress=False, method_params={"dropout": 0.2})
    trained = Discoverer("coarse_supervised", fallback=False, **params).fit(data)
    assert not hasattr(trained, "representation_") and cluster_acc(data.fine, trained.labels_) < 80
    plain = Discoverer("unsupervised", n_fine=6, progress=False).fit(data)
    assert cluster_acc(data.fine, plain.labels_) > 99
    est = Discoverer("coarse_supervised", **params).fit(data)  # "auto": on for vectors
    scores = est.representation_["agreement"]
    assert scores == {
        "trained": knn_agreement(plain.embedding_, trained.labels_, data.coarse),
        "untrained": knn_agreement(trained.embedding_, plain.labels_, data.coarse),
    }
    assert est.representation_["chosen"] == "untrained" and scores["untrained"] > scores["trained"]
    assert (est.labels_ == plain.labels_).all() and est.fitted_method_ == "unsupervised"
    assert est.history_  # the training happened and is still reported
    loaded = Discoverer.load(est.save(tmp_path / "model"), progress=False)
    assert loaded.fitted_method_ == "unsupervised" and loaded.method == "coarse_supervised"
    assert (loaded.predict(data.vectors) == est.predict(data.vectors)).all()
    assert loaded.get_params()["method_params"] == {"dropout": 0.2}  # the user's options kept
    with pytest.raises(InputError, match="fell back to the untrained encoder"):
        loaded.predict(data.vectors, within="head")
    refit = est.set_params(fallback=False).fit(data)
    assert not hasattr(refit, "representation_") and refit.fitted_method_ == "coarse_supervised"


def test_train_layers_updates_only_the_top_layers(tiny_data):
    from coarse2fine.encoders.text import TextEncoder

    before = TextEncoder.tiny_random(seed=0).model.state_dict()
    est = small(train_layers=1, epochs=2).fit(tiny_data)
    after = est.method_.encoder.model.state_dict()
    changed = {name for name, value in after.items() if not torch.equal(value, before[name])}
    assert changed, "training changed nothing"
    # only layer 2 of 0..2 (and the pooler, which MiniLM-style features never read) may move
    assert all(name.startswith(("encoder.layer.2.", "pooler.")) for name in changed), changed
    assert any(name.startswith("encoder.layer.2.") for name in changed)
    # the model is left fully trainable again (a later fit or fine-tuning sees every layer)
    assert all(p.requires_grad for p in est.method_.encoder.parameters())


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_cuda_is_a_clear_error(tiny_data):
    with pytest.raises(InputError, match="device 'cuda': CUDA is not available here; use cpu"):
        small(device="cuda").fit(tiny_data)


def test_unknown_k_for_the_layout_clusterer_is_counted_on_the_layout():
    """With ``umap-spectral`` clustering, each class is also counted on the layout it cuts; the
    layout's count is kept where it agrees, and the record says so."""
    data = make_hierarchical_blobs((3, 2, 1), rows_per_fine=20, dim=16, seed=3)
    est = Discoverer("unsupervised", n_fine=None, clusterer="umap-spectral", progress=False)
    est.fit(data)
    assert est.estimated_counts_ == {"c0": 3, "c1": 2, "c2": 1}
    assert {c: e["on"] for c, e in est.k_estimate_["classes"].items()} == {
        "c0": "layout",
        "c1": "layout",
        "c2": "layout",
    }
    plain = Discoverer("unsupervised", n_fine=None, progress=False).fit(data)  # K-Means: features
    assert {e["on"] for e in plain.k_estimate_["classes"].values()} == {"features"}

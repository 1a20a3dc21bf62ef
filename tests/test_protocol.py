"""The paper protocol on tiny data: every column the benchmark tables read is present and sane."""

from __future__ import annotations

import pytest

from coarse2fine.protocol import paper_protocol


@pytest.mark.parametrize("method", ["hwscl", "unsupervised", "falcon"])
def test_paper_protocol_record(method, tiny_data):
    record = paper_protocol(
        (tiny_data, tiny_data), method, 0, epochs=1, encoder="tiny-random", batch_size=8
    )
    # x100 scores: ACC (a Hungarian matching of 6 classes into 6 clusters is at least a sixth
    # of the rows) and NMI in [0, 100]; ARI may go below 0 but not below -100
    assert 100.0 / 6 <= record["ACC"] <= 100.0
    assert 0.0 <= record["NMI"] <= 100.0
    assert -100.0 <= record["ARI"] <= 100.0
    assert record["k"] == 6 and record["test_rows"] == 48
    assert set(record["nested"]) == {"ACC", "ARI", "NMI"}
    # the same clusterings by spectral clustering: flat, nested, and in predicted coarse
    wanted = (
        {"flat", "nested", "nested_predicted"} if method != "unsupervised" else {"flat", "nested"}
    )
    assert set(record["spectral"]) == wanted
    # and by the layout's clusterer inside coarse classes (true, and predicted)
    assert set(record["umap_spectral"]) == wanted - {"flat"}
    for scores in [*record["spectral"].values(), *record["umap_spectral"].values()]:
        assert 100.0 / 6 <= scores["ACC"] <= 100.0
    assert record["peak_memory_mb"] > 0 and record["train_seconds"] >= 0
    if method == "falcon":  # scored by its classifier; K-Means on its features beside it
        assert record["discovery"] == "classifier" and set(record["kmeans"]) == {
            "ACC",
            "ARI",
            "NMI",
        }
        assert record["edit_distance"] % 2 == 0 and record["edit_distance"] >= 0
    else:
        assert record["discovery"] == "kmeans"
    if method in ("hwscl", "falcon"):
        assert len(record["epoch_seconds"]) == 1
        assert 0.0 <= record["coarse_accuracy"] <= 100.0
        assert set(record["nested_predicted"]) == {"ACC", "ARI", "NMI"}
    else:
        assert record["epochs"] == 0 and "nested_predicted" not in record

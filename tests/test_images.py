"""Images as rows: reading folder trees and path columns, the image encoder, the views, and a
discovery on generated images through the CLI, saved and loaded."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from coarse2fine.augment import (
    colour_jitter,
    gaussian_blur,
    random_greyscale,
    resized_crop_and_flip,
    simclr_view,
)
from coarse2fine.cli import app
from coarse2fine.data import CoarseDataset, InputError
from coarse2fine.data.images import decode_image, read_image_folder
from coarse2fine.data.synthetic import make_shape_images
from coarse2fine.encoders import ImageEncoder, parse_image_spec

runner = CliRunner()


def write_tree(root, data: CoarseDataset, fine_level: bool = True) -> None:
    for i, (image, fine) in enumerate(zip(data.images, data.fine, strict=True)):
        coarse, shape = fine.split("/")
        folder = root / coarse / shape if fine_level else root / coarse
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / f"{shape}_{i}.png")


def discover_shapes(tmp_path, shapes):
    """The generated images written as a folder tree and discovered through the CLI (one
    epoch of the small CNN, K = 9, 16 pixels); the run folder."""
    write_tree(tmp_path / "shapes", shapes)
    run = tmp_path / "run"
    result = runner.invoke(
        app,
        ["discover", str(tmp_path / "shapes"), "--out", str(run), "--encoder", "cnn:4",
         "--epochs", "1", "--n-fine", "9", "--image-size", "16", "--quiet"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return run


@pytest.fixture(scope="module")
def shapes():
    return make_shape_images(rows_per_fine=6, size=16)


def test_a_folder_tree_gives_coarse_and_fine_labels_and_the_pixels(tmp_path, shapes):
    write_tree(tmp_path / "shapes", shapes)
    data = read_image_folder(tmp_path / "shapes", size=16)
    assert data.kind == "images" and data.images.shape == (54, 16, 16, 3)
    assert data.coarse_classes == ["blue", "green", "red"]
    assert sorted(set(data.fine)) == ["circle", "square", "triangle"]
    # PNG is lossless and the size unchanged: the very pixels come back
    by_path = {
        p.rsplit("_", 1)[-1]: img for p, img in zip(data.image_paths, data.images, strict=True)
    }
    assert np.array_equal(by_path["0.png"], shapes.images[0])
    # without the fine level the fine labels are absent
    write_tree(tmp_path / "flat", shapes, fine_level=False)
    flat = read_image_folder(tmp_path / "flat", size=16)
    assert flat.fine is None and len(flat) == 54


def test_an_image_is_resized_by_its_shorter_side_and_cut_at_the_centre(tmp_path):
    wide = np.zeros((20, 40, 3), dtype=np.uint8)
    wide[:, 10:30] = 255  # the middle half is white: the centre square after resizing
    Image.fromarray(wide).save(tmp_path / "wide.png")
    out = decode_image(tmp_path / "wide.png", 10)
    assert out.shape == (10, 10, 3)
    assert out[:, 1:-1].min() == 255  # all white but the resampled edge columns


@pytest.mark.parametrize(
    "layout, message",
    [
        ("broken", "cannot be decoded"),
        ("mixed", "holds both images"),
        ("uneven", "some coarse classes have fine-class folders and others do not"),
        ("loose", "mixes images"),
        ("empty", "holds no class folders"),
    ],
)
def test_bad_folders_are_refused_by_name(tmp_path, layout, message):
    root = tmp_path / "root"
    pixel = Image.fromarray(np.zeros((4, 4, 3), dtype=np.uint8))
    (root / "a" / "x").mkdir(parents=True)
    pixel.save(root / "a" / "x" / "1.png")
    if layout == "broken":
        (root / "a" / "x" / "2.png").write_bytes(b"not a png")
    elif layout == "mixed":
        pixel.save(root / "a" / "3.png")
    elif layout == "uneven":
        (root / "b").mkdir()
        pixel.save(root / "b" / "1.png")
    elif layout == "loose":
        pixel.save(root / "4.png")
    elif layout == "empty":
        root = tmp_path / "nothing"
        root.mkdir()
    with pytest.raises(InputError, match=message) as err:
        read_image_folder(root, size=8)
    if layout == "broken":
        assert "2.png" in str(err.value)


def test_a_table_of_image_paths_names_the_row_of_a_missing_file(tmp_path, shapes):
    write_tree(tmp_path / "shapes", shapes)
    paths = sorted(str(p.relative_to(tmp_path)) for p in (tmp_path / "shapes").rglob("*.png"))
    table = pd.DataFrame({"image": paths, "colour": [p.split("/")[1] for p in paths]})
    table.loc[3, "image"] = "shapes/nowhere.png"
    table.to_csv(tmp_path / "rows.csv", index=False)
    result = runner.invoke(
        app,
        ["discover", str(tmp_path / "rows.csv"), "--image-col", "image", "--coarse-col", "colour",
         "--image-size", "16", "--out", str(tmp_path / "run"), "--quiet"],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "row 4" in result.output and "nowhere.png does not exist" in result.output
    assert not (tmp_path / "run").exists()  # nothing half-written


def test_image_encoder_layers_and_backbone_names():
    assert parse_image_spec("cnn") == ("cnn", 16, None)
    assert parse_image_spec("resnet18:w.pt") == ("resnet18", 0, "w.pt")
    assert parse_image_spec("mlp") is None
    encoder = ImageEncoder("cnn", width=4, size=16)
    batch = encoder.collate(np.zeros((2, 16, 16, 3), dtype=np.uint8), np.arange(2))
    pixels, shallow, deep = encoder(batch, [0, 2, encoder.n_layers])
    assert pixels.shape == (2, 192) and shallow.shape == deep.shape == (2, 32)
    with pytest.raises(InputError, match="takes 16 x 16 RGB images"):
        encoder.prepare(np.zeros((2, 8, 8, 3), dtype=np.uint8))


def test_resnet_weights_load_from_a_torchvision_style_state_dict(tmp_path):
    source = ImageEncoder("resnet18", size=32)
    state = {
        k: v for k, v in source.state_dict().items() if k.startswith(("conv1", "bn1", "layer"))
    }
    state["fc.weight"] = torch.zeros(1000, 512)  # torchvision's classifier: ignored
    torch.save(state, tmp_path / "resnet18.pth")
    loaded = ImageEncoder.from_spec(f"resnet18:{tmp_path / 'resnet18.pth'}", size=32, seed=1)
    assert loaded.pretrained
    assert torch.equal(loaded.layer4[1].conv2.weight, source.layer4[1].conv2.weight)
    # a saved model remembers that its weights were given (it decides the embedding layer of
    # the methods that read the input space while the encoder is untrained)
    again = ImageEncoder.from_architecture(tmp_path, loaded.save_architecture(tmp_path))
    assert again.pretrained and not ImageEncoder("cnn", 4, 16).pretrained
    del state["layer3.0.conv1.weight"]
    torch.save(state, tmp_path / "partial.pth")
    with pytest.raises(InputError, match="lacks 1 of the resnet18 weights .*layer3.0.conv1"):
        ImageEncoder.from_spec(f"resnet18:{tmp_path / 'partial.pth'}", size=32)


def test_views_leave_images_alone_when_told_to_and_keep_pixels_in_range():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(4, 3, 12, 12, generator=g)
    same = resized_crop_and_flip(x, scale=(1.0, 1.0), ratio=(1.0, 1.0), flip=0.0, generator=g)
    assert torch.allclose(same, x, atol=1e-5)
    mirrored = resized_crop_and_flip(x, scale=(1.0, 1.0), ratio=(1.0, 1.0), flip=1.0, generator=g)
    assert torch.allclose(mirrored, x.flip(3), atol=1e-5)
    unchanged = colour_jitter(x, strength=(0.0, 0.0, 0.0), p=1.0, generator=g)
    assert torch.allclose(unchanged, x, atol=1e-6)
    grey = random_greyscale(x, p=1.0, generator=g)
    assert torch.allclose(grey[:, 0], grey[:, 1]) and torch.allclose(grey[:, 1], grey[:, 2])
    flat = torch.full((2, 3, 12, 12), 0.3)
    assert torch.allclose(gaussian_blur(flat, p=1.0, generator=g), flat, atol=1e-6)
    assert torch.equal(gaussian_blur(x, p=0.0, generator=g), x)
    view = simclr_view(x, generator=g)
    assert view.shape == x.shape and view.min() >= 0 and view.max() <= 1 + 1e-6
    assert not torch.allclose(view, x)


def test_discover_on_a_folder_of_images_then_predict_and_load(tmp_path, shapes):
    run = discover_shapes(tmp_path, shapes)
    table = pd.read_csv(run / "assignments.csv")
    assert list(table.columns[:3]) == ["row", "path", "coarse"] and len(table) == 54
    assert table["path"].str.endswith(".png").all()
    assert json.loads((run / "run.json").read_text())["source"]["image_size"] == 16
    # the report shows the images nearest each category's centre as thumbnails
    assert runner.invoke(app, ["report", str(run)]).exit_code == 0
    page = (run / "report.html").read_text()
    clusters = json.loads((run / "clusters.json").read_text())
    shown = sum(min(3, c["size"]) for node in clusters["coarse"] for c in node["categories"])
    assert shown >= 9 and page.count("<img class=thumb") == shown  # up to 3 per category
    # new rows: the same folder through predict gives the fitted rows' categories back
    out = tmp_path / "new.csv"
    result = runner.invoke(app, ["predict", str(run / "model"), str(tmp_path / "shapes"),
                                 "--out", str(out), "--quiet"])  # fmt: skip
    assert result.exit_code == 0, result.output
    predicted = pd.read_csv(out)
    merged = table.merge(predicted, on="path", suffixes=("", "_new"))
    assert len(merged) == 54 and (merged["category"] == merged["category_new"]).mean() > 0.9


def test_falcon_recovers_the_colour_to_shape_tree_of_generated_images():
    """FALCON, told only the colours and K = 9, assigns every image globally (no coarse labels)
    and builds its own tree: each colour gets its three shape categories (edit distance 0).
    bench/images.py measures the same over 3 seeds, and what the assignments are worth."""
    from coarse2fine import Discoverer
    from coarse2fine.metrics import hierarchy_edit_distance, true_parents

    data = make_shape_images(rows_per_fine=20, size=32)
    est = Discoverer(
        "falcon", n_fine=9, encoder="cnn:8", epochs=20, clustering="global", fallback=False,
        seed=0, progress=False,
    ).fit(data)  # fmt: skip
    truth = true_parents(data.fine, data.coarse)
    assert hierarchy_edit_distance(est.cluster_parents_, truth) == 0
    assert sorted(est.cluster_parents_.count(c) for c in est.coarse_classes_) == [3, 3, 3]


def test_curate_reads_an_image_run_again_at_its_own_size(tmp_path, shapes):
    run = discover_shapes(tmp_path, shapes)
    first = pd.read_csv(run / "assignments.csv")["category"].iloc[0]
    result = runner.invoke(
        app, ["curate", str(run), "--rename", f"{first}=first", "--out", str(tmp_path / "cur")]
    )
    assert result.exit_code == 0, result.output
    curated = pd.read_csv(tmp_path / "cur" / "assignments.csv")
    assert (curated["name"] == "first").sum() == (
        pd.read_csv(run / "assignments.csv")["category"] == first
    ).sum()

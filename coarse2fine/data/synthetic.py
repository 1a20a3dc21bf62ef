"""Synthetic hierarchical data with a known coarse -> fine relation, for tests and examples."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from coarse2fine.data.dataset import CoarseDataset


def make_hierarchical_blobs(
    fine_per_coarse: Sequence[int] = (3, 2, 4),
    rows_per_fine: int = 40,
    dim: int = 16,
    coarse_spread: float = 6.0,
    fine_spread: float = 3.0,
    noise: float = 0.5,
    seed: int = 0,
) -> CoarseDataset:
    """Gaussian blobs in two levels: coarse centres, fine centres around them, rows around those.

    Coarse class ``c{i}`` holds ``fine_per_coarse[i]`` fine classes named ``c{i}.f{j}``, each with
    ``rows_per_fine`` rows, so the true relation is known exactly.
    """
    rng = np.random.default_rng(seed)
    vectors, coarse, fine = [], [], []
    for i, n_fine in enumerate(fine_per_coarse):
        centre = rng.normal(0.0, coarse_spread, dim)
        for j in range(n_fine):
            sub = centre + rng.normal(0.0, fine_spread, dim)
            vectors.append(sub + rng.normal(0.0, noise, (rows_per_fine, dim)))
            coarse += [f"c{i}"] * rows_per_fine
            fine += [f"c{i}.f{j}"] * rows_per_fine
    order = rng.permutation(len(coarse))
    return CoarseDataset(
        coarse=np.asarray(coarse)[order],
        vectors=np.concatenate(vectors)[order],
        fine=np.asarray(fine)[order],
        name="synthetic",
    )


SHAPES = ("circle", "square", "triangle")
COLOURS = {"red": (220, 40, 40), "green": (40, 190, 60), "blue": (50, 70, 230)}


def make_shape_images(
    rows_per_fine: int = 20,
    size: int = 32,
    shapes: Sequence[str] = SHAPES,
    colours: Sequence[str] = tuple(COLOURS),
    seed: int = 0,
) -> CoarseDataset:
    """Generated images with a genuine two-level hierarchy: the coarse class is the colour (red,
    green, blue), the fine class the shape drawn in it ("red/circle"). Shape is the finer level
    because the views contrastive methods train with (SimCLR's colour jitter and grey-scale)
    are built to blur colour distinctions while crops and flips keep a shape a shape. Each
    image draws its shape near the centre at a random size on a noisy grey background and
    shades its colour at random, so neither level is one pixel value."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    images, coarse, fine = [], [], []
    for colour in colours:
        for shape in shapes:
            for _ in range(rows_per_fine):
                radius = rng.uniform(0.25, 0.36) * size
                cx, cy = size / 2 + rng.uniform(-0.1, 0.1, size=2) * size
                if shape == "circle":
                    inside = (xx - cx) ** 2 + (yy - cy) ** 2 <= radius**2
                elif shape == "square":
                    inside = (np.abs(xx - cx) <= radius * 0.85) & (np.abs(yy - cy) <= radius * 0.85)
                else:  # an upward triangle: below its apex, inside its two sloping sides
                    top, bottom = cy - radius, cy + radius
                    half = (yy - top) / (2 * radius) * radius
                    inside = (yy >= top) & (yy <= bottom) & (np.abs(xx - cx) <= half)
                background = rng.normal(128, 18, size=(size, size, 1)).clip(0, 255)
                image = np.repeat(background, 3, axis=2)
                shade = np.asarray(COLOURS[colour], dtype=np.float32) * rng.uniform(0.75, 1.1)
                image[inside] = (shade + rng.normal(0, 12, size=(int(inside.sum()), 3))).clip(
                    0, 255
                )
                images.append(image.astype(np.uint8))
                coarse.append(colour)
                fine.append(f"{colour}/{shape}")
    return CoarseDataset(
        coarse=coarse,
        images=np.stack(images),
        fine=fine,
        image_paths=[f"{f.replace('/', '_')}_{i}.png" for i, f in enumerate(fine)],
        name="shapes",
    )

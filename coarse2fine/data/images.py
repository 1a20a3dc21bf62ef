"""Images as rows: a folder tree, or a table with a column of image paths, decoded with Pillow.

A folder tree is ``ROOT/<coarse>/<image>`` or ``ROOT/<coarse>/<fine>/<image>`` (the fine level,
when present, is kept for evaluation only, as a fine column would be). Every image is decoded to
RGB, its shorter side resized to ``size`` and the centre cut to ``size`` x ``size``, so all rows
share one shape. A file that cannot be decoded is refused with its path; nothing is written
before every image has been read.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from coarse2fine.data.dataset import CoarseDataset, InputError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
DEFAULT_IMAGE_SIZE = 64


def is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def decode_image(path: str | Path, size: int) -> np.ndarray:
    """One image as a (size, size, 3) uint8 array: RGB, shorter side resized to ``size``, the
    centre cut out."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image = image.convert("RGB")
            width, height = image.size
            scale = size / min(width, height)
            resized = (max(size, round(width * scale)), max(size, round(height * scale)))
            image = image.resize(resized, Image.Resampling.BILINEAR)
            left, top = (resized[0] - size) // 2, (resized[1] - size) // 2
            return np.asarray(image.crop((left, top, left + size, top + size)), dtype=np.uint8)
    except FileNotFoundError:
        raise InputError(f"image {path} does not exist; fix the path or drop the row") from None
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise InputError(
            f"image {path} cannot be decoded ({type(err).__name__}: {err}); replace or remove "
            f"the file"
        ) from None


def decode_images(paths: Sequence[str | Path], size: int = DEFAULT_IMAGE_SIZE) -> np.ndarray:
    """Every image as one (N, size, size, 3) uint8 array (see ``decode_image``)."""
    if int(size) < 8:
        raise InputError(f"image size must be at least 8 pixels, got {size}")
    out = np.empty((len(paths), int(size), int(size), 3), dtype=np.uint8)
    for i, path in enumerate(paths):
        out[i] = decode_image(path, int(size))
    return out


def folder_rows(root: Path, coarse_required: bool = True) -> tuple[list[Path], list, list | None]:
    """The image files under ``root`` with their coarse (and fine) labels from the folders.

    Without ``coarse_required`` (rows to predict) a folder of images with no class folders is
    accepted too: every image gets the placeholder coarse label "?".
    """
    if not root.is_dir():
        raise InputError(f"{root} is not a folder of images")
    classes = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    loose = sorted(p for p in root.iterdir() if p.is_file() and is_image_file(p))
    if not classes:
        if loose and not coarse_required:
            return loose, ["?"] * len(loose), None
        raise InputError(
            f"{root} holds no class folders: put the images in ROOT/<coarse>/ or "
            "ROOT/<coarse>/<fine>/, one folder per coarse class"
        )
    if loose:
        raise InputError(
            f"{root} mixes images ({loose[0].name}, ...) with class folders: move every image into "
            "its coarse class's folder"
        )
    paths, coarse, fine = [], [], []
    depths = set()
    for folder in classes:
        subfolders = sorted(
            p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")
        )
        files = sorted(p for p in folder.iterdir() if p.is_file() and is_image_file(p))
        if subfolders and files:
            raise InputError(
                f"{folder} holds both images ({files[0].name}, ...) and fine-class folders "
                f"({subfolders[0].name}, ...): use one level or the other in every coarse class"
            )
        if subfolders:
            depths.add(2)
            for sub in subfolders:
                found = sorted(p for p in sub.iterdir() if p.is_file() and is_image_file(p))
                paths += found
                coarse += [folder.name] * len(found)
                fine += [sub.name] * len(found)
        else:
            depths.add(1)
            paths += files
            coarse += [folder.name] * len(files)
    if len(depths) > 1:
        raise InputError(
            f"{root}: some coarse classes have fine-class folders and others do not; give the "
            "fine level everywhere or nowhere"
        )
    if not paths:
        raise InputError(
            f"{root} holds no images ({', '.join(IMAGE_SUFFIXES)}) in its class folders"
        )
    return paths, coarse, fine if depths == {2} else None


def read_image_folder(
    root: str | os.PathLike,
    *,
    size: int = DEFAULT_IMAGE_SIZE,
    name: str | None = None,
    coarse_required: bool = True,
) -> CoarseDataset:
    """Read ``ROOT/<coarse>/[<fine>/]<image>`` into a CoarseDataset of images."""
    root = Path(root).resolve()  # paths recorded whole: the report finds the images anywhere
    paths, coarse, fine = folder_rows(root, coarse_required)
    return CoarseDataset(
        coarse=coarse,
        images=decode_images(paths, size),
        image_paths=[str(p) for p in paths],
        fine=fine,
        name=name or root.name,
    )


def images_from_paths(
    data: CoarseDataset, base: str | os.PathLike, size: int = DEFAULT_IMAGE_SIZE
) -> CoarseDataset:
    """A table read with its image-path column as the "texts": the same rows with the images
    decoded (relative paths resolved against ``base``, the table's folder)."""
    base = Path(base)
    paths = [str(p if Path(p).is_absolute() else base / p) for p in (data.texts or [])]
    images = np.empty((len(paths), int(size), int(size), 3), dtype=np.uint8)
    for i, path in enumerate(paths):
        try:
            images[i] = decode_image(path, int(size))
        except InputError as err:
            raise InputError(f"row {data.row_ids[i]}: {err}") from None
    return CoarseDataset(
        coarse=data.coarse,
        images=images,
        image_paths=paths,
        fine=data.fine,
        row_ids=data.row_ids,
        name=data.name,
    )

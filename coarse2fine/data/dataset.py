"""CoarseDataset: rows (texts, vectors or images) with coarse labels and optional fine labels.

Fine labels are carried only for evaluation; no method ever reads them during training.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd


class InputError(ValueError):
    """Bad user input: the message names the file, row or column and says what to do."""


FLOAT32_MAX = float(np.finfo(np.float32).max)


def is_missing(value: object) -> bool:
    """None, NaN, pandas' NA / NaT: a label or text that is not there."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and np.isnan(value)


def _as_label_array(values: Sequence | np.ndarray, what: str) -> np.ndarray:
    """Labels as strings. A missing label (None, NaN, NA) is refused rather than becoming a
    class named "None" or "nan"; so is a 2-D label array (a column vector's rows would become
    classes named "['banking']")."""
    if isinstance(values, str):
        raise InputError(f"{what} labels are one string; give one label per row (a list)")
    shape = getattr(values, "shape", ())  # arrays, Series, DataFrames
    if len(shape) > 1:
        raise InputError(
            f"{what} labels must be one-dimensional, got shape {tuple(shape)}; pass y.ravel() or "
            f"one column"
        )
    values = list(values)
    missing = [i for i, v in enumerate(values) if is_missing(v)]
    if missing:
        shown = ", ".join(str(i) for i in missing[:10])
        raise InputError(
            f"{len(missing)} {what} label(s) are missing (None/NaN) at position(s) {shown}"
            f"{', ...' if len(missing) > 10 else ''} (0-based); label those rows or drop them"
        )
    nested = [i for i, v in enumerate(values) if isinstance(v, list | tuple | np.ndarray)]
    if nested:
        raise InputError(
            f"{what} label at position {nested[0]} is a sequence ({values[nested[0]]!r}); give "
            f"one label per row"
        )
    return np.asarray([str(v) for v in values], dtype=object)


@dataclass(frozen=True, eq=False)
class CoarseDataset:
    """Rows with coarse labels; exactly one of ``texts``, ``vectors`` or ``images`` is set.

    ``images`` are decoded pictures of one size, an (N, height, width, 3) uint8 array;
    ``image_paths`` (optional) say where each came from. ``row_ids`` are the rows' numbers in the
    source file (1-based data rows), used in error messages and in the written assignments so
    every output row can be traced to its input.
    """

    coarse: np.ndarray
    texts: list[str] | None = None
    vectors: np.ndarray | None = None
    fine: np.ndarray | None = None
    row_ids: np.ndarray | None = None
    name: str = "data"
    feature_names: list[str] | None = None  # vector columns' names (used to name categories)
    images: np.ndarray | None = None
    image_paths: list[str] | None = None
    coarse_classes: list[str] = field(init=False)
    fine_classes: list[str] | None = field(init=False)

    def __post_init__(self) -> None:
        coarse = _as_label_array(self.coarse, "coarse")
        object.__setattr__(self, "coarse", coarse)
        n = len(coarse)
        row_ids = np.arange(1, n + 1) if self.row_ids is None else np.asarray(self.row_ids)
        if len(row_ids) != n:
            raise InputError(f"{len(row_ids)} row ids but {n} rows")
        object.__setattr__(self, "row_ids", row_ids)
        given = [x is not None for x in (self.texts, self.vectors, self.images)]
        if sum(given) != 1:
            raise InputError("give exactly one of texts, vectors or images")
        if self.images is not None:
            self._check_images(n, row_ids)
        if self.texts is not None:
            if isinstance(self.texts, str):
                raise InputError("texts is one string; give one text per row (a list)")
            texts = list(self.texts)
            if len(texts) != n:
                raise InputError(f"{len(texts)} texts but {n} coarse labels")
            odd = [i for i, t in enumerate(texts) if not isinstance(t, str)]
            if odd:
                raise InputError(
                    f"text at row {row_ids[odd[0]]} is {type(texts[odd[0]]).__name__} "
                    f"{texts[odd[0]]!r:.60}, not a string ({len(odd)} such rows); give texts"
                )
            blank = [int(row_ids[i]) for i, t in enumerate(texts) if not t.strip()]
            if blank:
                shown = ", ".join(map(str, blank[:10]))
                raise InputError(
                    f"{len(blank)} empty text(s) (rows {shown}{', ...' if len(blank) > 10 else ''})"
                    f"; remove those rows or fill in the text"
                )
            object.__setattr__(self, "texts", texts)
        if self.vectors is not None:
            raw = np.asarray(self.vectors)
            if raw.dtype.kind == "f" and raw.ndim == 2:
                with np.errstate(invalid="ignore"):
                    huge = np.flatnonzero((np.isfinite(raw) & (np.abs(raw) > FLOAT32_MAX)).any(1))
                if len(huge):
                    i = huge[0]
                    j = int(np.flatnonzero(np.isfinite(raw[i]) & (np.abs(raw[i]) > FLOAT32_MAX))[0])
                    raise InputError(
                        f"row {row_ids[i]}, column {j + 1} holds {raw[i, j]:.6g}, beyond float32's "
                        f"range (±{FLOAT32_MAX:.3g}; {len(huge)} such rows); rescale the column"
                    )
            vectors = np.asarray(raw, dtype=np.float32)
            if vectors.ndim != 2 or len(vectors) != n:
                raise InputError(f"vectors must be a {n} x d matrix, got shape {vectors.shape}")
            bad = np.flatnonzero(~np.isfinite(vectors).all(axis=1))
            if len(bad):
                shown = ", ".join(str(r) for r in row_ids[bad[:10]])
                raise InputError(
                    f"{len(bad)} rows hold NaN or inf values (rows {shown}"
                    f"{', ...' if len(bad) > 10 else ''}); drop or impute them first"
                )
            object.__setattr__(self, "vectors", vectors)
            if self.feature_names is not None:
                names = [str(f) for f in self.feature_names]
                if len(names) != vectors.shape[1]:
                    raise InputError(
                        f"{len(names)} feature names for {vectors.shape[1]} vector columns"
                    )
                object.__setattr__(self, "feature_names", names)
        if self.fine is not None:
            fine = _as_label_array(self.fine, "fine")
            if len(fine) != n:
                raise InputError(f"{len(fine)} fine labels but {n} coarse labels")
            object.__setattr__(self, "fine", fine)
        object.__setattr__(self, "coarse_classes", sorted(set(coarse.tolist())))
        fine_classes = None if self.fine is None else sorted(set(self.fine.tolist()))
        object.__setattr__(self, "fine_classes", fine_classes)

    def _check_images(self, n: int, row_ids: np.ndarray) -> None:
        images = np.asarray(self.images)
        if images.ndim != 4 or images.shape[0] != n or images.shape[3] != 3:
            raise InputError(
                f"images must be an array of {n} x height x width x 3 (RGB), got shape "
                f"{images.shape}"
            )
        if images.dtype != np.uint8:
            raise InputError(f"images must be uint8 (0-255 per channel), got {images.dtype}")
        object.__setattr__(self, "images", images)
        if self.image_paths is not None:
            paths = [str(p) for p in self.image_paths]
            if len(paths) != n:
                raise InputError(f"{len(paths)} image paths for {n} images")
            object.__setattr__(self, "image_paths", paths)

    def __len__(self) -> int:
        return len(self.coarse)

    @property
    def is_text(self) -> bool:
        return self.texts is not None

    @property
    def is_image(self) -> bool:
        return self.images is not None

    @property
    def kind(self) -> str:
        """What the rows are: "text", "vectors" or "images"."""
        return "text" if self.is_text else "images" if self.is_image else "vectors"

    @property
    def n_coarse(self) -> int:
        return len(self.coarse_classes)

    @property
    def n_fine(self) -> int | None:
        return None if self.fine_classes is None else len(self.fine_classes)

    @property
    def coarse_ids(self) -> np.ndarray:
        """Coarse labels as integer codes into ``coarse_classes``."""
        return codes(self.coarse, self.coarse_classes)

    @property
    def fine_ids(self) -> np.ndarray | None:
        return None if self.fine is None else codes(self.fine, self.fine_classes)

    def subset(self, index: Sequence[int] | np.ndarray) -> CoarseDataset:
        index = np.asarray(index, dtype=np.int64)
        return CoarseDataset(
            coarse=self.coarse[index],
            texts=None if self.texts is None else [self.texts[i] for i in index],
            vectors=None if self.vectors is None else self.vectors[index],
            fine=None if self.fine is None else self.fine[index],
            row_ids=self.row_ids[index],
            name=self.name,
            feature_names=self.feature_names,
            images=None if self.images is None else self.images[index],
            image_paths=(
                None if self.image_paths is None else [self.image_paths[i] for i in index]
            ),
        )

    def validate_for_training(self, min_rows_per_coarse: int = 2) -> None:
        """Refuse data no method can learn from, naming the offending coarse class."""
        if len(self) == 0:
            raise InputError(f"{self.name}: the data has no rows")
        labels, counts = np.unique(self.coarse, return_counts=True)
        small = [(lab, c) for lab, c in zip(labels, counts, strict=True) if c < min_rows_per_coarse]
        if small:
            lab, c = small[0]
            raise InputError(
                f"{self.name}: coarse class {lab!r} has {c} row(s); every coarse class needs at "
                f"least {min_rows_per_coarse} rows to split into finer categories "
                f"(merge it into another class or drop it)"
            )


def codes(labels: np.ndarray, classes: Sequence[str]) -> np.ndarray:
    """Map string labels to integer codes; unknown labels raise with the first offender."""
    lookup = {c: i for i, c in enumerate(classes)}
    try:
        return np.fromiter((lookup[v] for v in labels), dtype=np.int64, count=len(labels))
    except KeyError as err:
        raise InputError(f"label {err.args[0]!r} is not among the known classes") from None

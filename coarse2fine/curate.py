"""Curating the discovered taxonomy: rename, merge and split categories of a fitted estimator.

The categories a fit found (the "original" ones, with the model's centres or its fine
classifier) are never changed; curation is a layer on top of them (``Curation``):

- every original category is routed to one curated category (``route``), or, once it has been
  split, to the nearest of its split's centres (``route`` -1, ``prototypes`` of that origin);
- so after a merge a row goes to the merged category exactly when it went to one of its parts
  before, and a split shares out exactly the rows (and the new rows) of the category it splits.

``rename`` changes a category's name (``category_names_``), not its id; ``merge`` keeps the
first part's id; ``split`` gives the parts the ids ``<id>.1`` ... ``<id>.k``. Merges across
coarse classes are refused. ``Discoverer.rename`` / ``merge`` / ``split`` call these.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from coarse2fine.cluster.kmeans import kmeans, nearest_centre
from coarse2fine.cluster.naming import text_names
from coarse2fine.data.dataset import InputError


@dataclass
class Curation:
    """How an original category (index into the fit's categories) becomes a curated one."""

    route: np.ndarray  # (K0,) curated index, or -1: the nearest of its prototypes decides
    prototypes: np.ndarray  # (P, d) centres of split parts
    original_parents: list = field(default_factory=list)  # (K0,) coarse class of each original
    prototype_category: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    prototype_origin: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    @classmethod
    def identity(cls, parents: Sequence, dim: int) -> Curation:
        """No curation yet: each of the fit's categories (with these coarse parents) is itself."""
        return cls(
            np.arange(len(parents), dtype=np.int64),
            np.zeros((0, dim), np.float32),
            list(parents),
        )

    def assign(self, original: np.ndarray, features: np.ndarray | None) -> np.ndarray:
        """Curated category of rows whose original category is ``original``; ``features``
        (unit length) are read only for originals that were split."""
        out = self.route[original].copy()
        split = np.flatnonzero(out < 0)
        if len(split):
            if features is None:
                raise ValueError("features are needed to assign rows of split categories")
            nearest = nearest_centre(
                features[split],
                self.prototypes,
                row_groups=original[split],
                centre_groups=self.prototype_origin,
            )
            out[split] = self.prototype_category[nearest]
        return out

    @property
    def needs_features(self) -> bool:
        return bool((self.route < 0).any())

    def relabel(self, mapping: np.ndarray) -> None:
        """Curated indices renumbered by ``mapping`` (old index -> new index)."""
        kept = self.route >= 0
        self.route[kept] = mapping[self.route[kept]]
        self.prototype_category = mapping[self.prototype_category]

    def to_json(self) -> dict:
        return {
            "original_parents": list(self.original_parents),
            "route": self.route.tolist(),
            "prototype_category": self.prototype_category.tolist(),
            "prototype_origin": self.prototype_origin.tolist(),
        }

    @classmethod
    def from_json(cls, spec: dict, prototypes: np.ndarray) -> Curation:
        return cls(
            np.asarray(spec["route"], np.int64),
            np.asarray(prototypes, np.float32),
            list(spec["original_parents"]),
            np.asarray(spec["prototype_category"], np.int64),
            np.asarray(spec["prototype_origin"], np.int64),
        )


def category_index(est, category: str) -> int:
    """Index of a category given by its id (``banking/3``) or its current name."""
    if category in est.categories_:
        return est.categories_.index(category)
    names = list(getattr(est, "category_names_", None) or [])
    if names.count(category) == 1:
        return names.index(category)
    hint = ", ".join(est.categories_[:6]) + (", ..." if len(est.categories_) > 6 else "")
    raise InputError(f"no category {category!r}; the categories are {hint}")


def _curation(est) -> Curation:
    if getattr(est, "curation_", None) is None:
        est.curation_ = Curation.identity(est.cluster_parents_, est.cluster_centers_.shape[1])
    return est.curation_


def rename(est, names: dict[str, str]) -> None:
    """Give categories (by id or current name) new names."""
    current = list(est.category_names_)
    for category, name in names.items():
        if not str(name).strip():
            raise InputError(f"the new name of {category!r} is empty")
        current[category_index(est, category)] = str(name)
    est.category_names_ = current


def merge(est, categories: Sequence[str], name: str | None = None) -> None:
    """Merge two or more categories of one coarse class into the first one given."""
    index = [category_index(est, c) for c in categories]
    if len(set(index)) < 2:
        raise InputError("a merge needs at least two different categories")
    parents = {est.cluster_parents_[k] for k in index}
    if len(parents) > 1:
        where = ", ".join(f"{est.categories_[k]} is under {est.cluster_parents_[k]}" for k in index)
        raise InputError(f"cannot merge categories of different coarse classes ({where})")
    curation = _curation(est)
    keep, gone = index[0], sorted(set(index[1:]))
    names = list(est.category_names_)
    merged_name = name or " | ".join(dict.fromkeys(names[k] for k in index))
    mapping = np.arange(len(est.categories_), dtype=np.int64)
    for k in gone:
        mapping[k] = keep
    survivors = [k for k in range(len(est.categories_)) if k not in gone]
    renumber = np.full(len(est.categories_), -1, np.int64)
    renumber[survivors] = np.arange(len(survivors))
    mapping = renumber[mapping]
    curation.relabel(mapping)
    if getattr(est, "labels_", None) is not None:
        est.labels_ = mapping[est.labels_]
    names[keep] = merged_name
    est.categories_ = [est.categories_[k] for k in survivors]
    est.category_names_ = [names[k] for k in survivors]
    est.cluster_parents_ = [est.cluster_parents_[k] for k in survivors]
    est.n_fine_ = len(est.categories_)


def split(
    est,
    category: str,
    k: int,
    features: np.ndarray,
    texts: Sequence[str] | None = None,
) -> None:
    """Split a category into ``k`` by K-Means of its rows' ``features`` (unit length, the fitted
    rows in order, as ``labels_``); parts named from ``texts`` when given."""
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 2:
        raise InputError(f"a split needs k >= 2 parts, got {k!r}")
    c = category_index(est, category)
    rows = np.flatnonzero(est.labels_ == c)
    if len(rows) < k:
        raise InputError(f"{est.categories_[c]} has {len(rows)} rows: it cannot be split into {k}")
    if len(features) != len(est.labels_):
        raise InputError(f"{len(features)} feature rows for {len(est.labels_)} assigned rows")
    parts, centres = kmeans(features[rows], int(k), seed=est.seed, n_init=est.n_init)
    order = np.argsort(-np.bincount(parts, minlength=k), kind="stable")  # largest part first
    rank = np.empty(k, np.int64)
    rank[order] = np.arange(k)
    parts, centres = rank[parts], centres[order]
    curation = _curation(est)
    n = len(est.categories_)
    # curated indices: c becomes c .. c+k-1, the ones after it move up by k-1
    shift = np.arange(n, dtype=np.int64) + np.where(np.arange(n) > c, k - 1, 0)
    curation.relabel(shift)
    labels = shift[est.labels_]
    labels[rows] = c + parts
    est.labels_ = labels
    # the originals routed to c, and the prototypes of c (from an earlier split), now choose
    # among the k new centres
    origins = set(np.flatnonzero(curation.route == c).tolist())
    old = curation.prototype_category == c
    origins |= set(curation.prototype_origin[old].tolist())
    keep = ~old
    new_proto, new_cat, new_origin = [], [], []
    for origin in sorted(origins):
        new_proto.append(centres)
        new_cat.append(c + np.arange(k))
        new_origin.append(np.full(k, origin))
    curation.route[curation.route == c] = -1
    curation.prototypes = np.concatenate(
        [curation.prototypes[keep], *[p.astype(np.float32) for p in new_proto]]
    )
    curation.prototype_category = np.concatenate([curation.prototype_category[keep], *new_cat])
    curation.prototype_origin = np.concatenate([curation.prototype_origin[keep], *new_origin])
    base_id, base_name = est.categories_[c], est.category_names_[c]
    if texts is not None:
        member_texts = [texts[i] for i in rows]
        part_names = text_names(member_texts, parts, np.zeros(k, np.int64))
    else:
        part_names = [f"{base_name} ({j + 1})" for j in range(k)]
    est.categories_ = (
        est.categories_[:c] + [f"{base_id}.{j + 1}" for j in range(k)] + est.categories_[c + 1 :]
    )
    est.category_names_ = est.category_names_[:c] + list(part_names) + est.category_names_[c + 1 :]
    parent = est.cluster_parents_[c]
    est.cluster_parents_ = est.cluster_parents_[:c] + [parent] * k + est.cluster_parents_[c + 1 :]
    est.n_fine_ = len(est.categories_)

"""Discoverer: the scikit-learn style estimator that finds fine categories inside coarse ones.

fit(rows, coarse) trains the chosen method on the coarse labels, clusters the learned features
(inside each coarse class by default) and stores every row's category; predict assigns new rows
(no coarse label needed) to the nearest discovered category; save/load round-trip exactly
through safetensors + JSON (nothing is ever unpickled).
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from sklearn.base import BaseEstimator, ClusterMixin, TransformerMixin

# FIRST_COUNT and RESAMPLES read from the module at call time, so its settings reach discover
import coarse2fine.cluster.estimate_k as counting
from coarse2fine import curate
from coarse2fine.batching import (
    Inference,
    Prepared,
    prepare,
    proportional_sample,
    resolve_precision,
)
from coarse2fine.cluster import Clustering, group_mask, l2_normalize, nearest_centre
from coarse2fine.cluster.estimate_k import (
    CRITERIA,
    DEFAULT_CRITERION,
    NEIGHBOURS,
    estimate_k,
)
from coarse2fine.cluster.layout import forget_layouts
from coarse2fine.cluster.naming import image_names, text_names, vector_names
from coarse2fine.cluster.nested import WARD_MAX_ROWS, check_clusterer
from coarse2fine.curate import Curation
from coarse2fine.data.dataset import CoarseDataset, InputError
from coarse2fine.data.h5ad import from_anndata, is_anndata
from coarse2fine.distributed import is_main, ranks
from coarse2fine.encoders import (
    DEFAULT_TEXT_MODEL,
    ImageEncoder,
    MLPEncoder,
    TextEncoder,
    encoder_from_architecture,
    input_kind,
    parse_image_spec,
    parse_mlp_spec,
)
from coarse2fine.io import atomic_dir
from coarse2fine.methods import METHODS
from coarse2fine.methods.base import Method
from coarse2fine.metrics import knn_agreement
from coarse2fine.train import TrainConfig, fit, seed_everything

FORMAT_VERSION = 1
_CONFIG = "coarse2fine.json"
_WEIGHTS = "model.safetensors"
_RUNTIME_PARAMS = ("device", "progress", "checkpoint_dir")  # how it ran, not the model
# fitted attributes that only some fits set
_OPTIONAL_FITTED = (
    "max_length_",
    "representation_",
    "train_length_",
    "estimated_counts_",
    "k_estimate_",
    "finer_labels_",
    "hierarchies_",
    "dataset_names_",
    "curation_",
)
# clusterer="auto" on texts (see resolve_clusterer), by the rows per category on average:
# at most TINY_MAX_ROWS, TINY_TEXT_CLUSTERER (a 15-neighbour graph spans several categories);
# at most SPECTRAL_MAX_ROWS, SMALL_TEXT_CLUSTERER (such a graph spans a good share of each);
# above, K-Means
TINY_MAX_ROWS = 10
TINY_TEXT_CLUSTERER = "ward"
SPECTRAL_MAX_ROWS = 100
SMALL_TEXT_CLUSTERER = "umap-spectral"
# which categories ``predict`` lets a row join (see Discoverer.predict)
PREDICT_WITHIN = ("all", "head", "given")


def _is_text(X: Any) -> bool:
    """A string, or a 1-D sequence of strings (a list, a pandas Series, an object array)."""
    if isinstance(X, str):
        return True
    if hasattr(X, "shape") and len(X.shape) != 1:
        return False
    try:
        items = list(X)
    except TypeError:
        return False
    # any string makes it texts: CoarseDataset then names the rows that are not strings
    return any(isinstance(t, str) for t in items)


def _numeric(X: Any, est: BaseEstimator | None = None, *, fitting: bool = False) -> np.ndarray:
    """A 2-D numeric matrix through scikit-learn's own validation (dense, real, 2-D, and for a
    fitted estimator the same number of columns as at fit); NaN and inf are left for
    CoarseDataset, which names the offending rows."""
    from sklearn.utils.validation import check_array, validate_data

    options = {"dtype": np.float32, "ensure_all_finite": False}
    if fitting:
        options["ensure_min_samples"] = 2  # one row cannot be split into finer categories
    if est is None:
        return check_array(X, **options)
    return validate_data(est, X, reset=fitting, **options)


def _feature_names(X: Any) -> list[str] | None:
    columns = getattr(X, "columns", None)  # a DataFrame's column names name the features
    return None if columns is None else [str(c) for c in columns]


def as_dataset(
    X: Any, y: Any = None, fine: Any = None, est: BaseEstimator | None = None
) -> CoarseDataset:
    """Accept a CoarseDataset, or texts / a numeric matrix plus coarse labels (fine optional).
    With ``est`` given, a matrix is validated as scikit-learn does and sets n_features_in_."""
    if isinstance(X, CoarseDataset):
        if y is not None:
            raise InputError("give coarse labels either inside the CoarseDataset or as y, not both")
        return X
    if is_anndata(X):  # y, fine: obs column names (or one label per cell); the cells' X
        data = from_anndata(X, y, fine)
        if est is not None:
            _numeric(data.vectors, est, fitting=True)  # n_features_in_, as for a matrix
        return data
    if y is None:  # worded so that scikit-learn's checks recognise the refusal
        raise InputError(
            "coarse labels are required: Discoverer requires y to be passed, but the target y "
            "is None; call fit(rows, coarse_labels)"
        )
    fine = None if fine is None else list(fine)
    if isinstance(X, str):
        raise InputError("X is one string; give one text per row (a list of strings)")
    if _is_text(X):
        return CoarseDataset(coarse=y, texts=list(X), fine=fine)
    if _is_image_array(X):
        return CoarseDataset(coarse=list(np.asarray(y).ravel()), images=X, fine=fine)
    if isinstance(X, list | tuple) and not X:
        raise InputError("no rows: X is empty")
    vectors = _numeric(X, est, fitting=True)
    labels = np.asarray(y)
    return CoarseDataset(
        coarse=list(labels.ravel() if labels.ndim > 1 else labels),
        vectors=vectors,
        fine=fine,
        feature_names=_feature_names(X),
    )


def _rows(X: Any, est: BaseEstimator | None = None) -> CoarseDataset:
    """Rows to embed or predict: coarse labels are not needed, so a placeholder is used."""
    if isinstance(X, CoarseDataset):
        return X
    if is_anndata(X):
        data = from_anndata(X, coarse_required=False)
        _numeric(data.vectors, est)  # as many columns as at fit
        return data
    if _is_text(X):
        texts = [X] if isinstance(X, str) else list(X)
        return CoarseDataset(coarse=["?"] * len(texts), texts=texts)
    if _is_image_array(X):
        return CoarseDataset(coarse=["?"] * len(X), images=X)
    vectors = _numeric(X, est)
    return CoarseDataset(coarse=["?"] * len(vectors), vectors=vectors)


def combine_datasets(
    datasets: list[CoarseDataset],
) -> tuple[CoarseDataset, np.ndarray, list[str]]:
    """Stack datasets of the same input kind; coarse labels become "name:label" and each
    combined coarse class records its dataset (the group) in the returned array."""
    names = [d.name for d in datasets]
    if len(set(names)) != len(names):
        names = [f"{n}{i + 1}" for i, n in enumerate(names)]
    kinds = {d.kind for d in datasets}
    if len(kinds) != 1:
        raise InputError("all datasets must hold the same kind of rows: texts, vectors or images")
    pairs = list(zip(names, datasets, strict=True))
    coarse = np.concatenate([[f"{n}:{c}" for c in d.coarse] for n, d in pairs])
    with_fine = all(d.fine is not None for d in datasets)
    combined = CoarseDataset(
        coarse=coarse,
        texts=sum((d.texts for d in datasets), []) if kinds == {"text"} else None,
        vectors=np.concatenate([d.vectors for d in datasets]) if kinds == {"vectors"} else None,
        images=np.concatenate([d.images for d in datasets]) if kinds == {"images"} else None,
        fine=np.concatenate([d.fine for d in datasets]) if with_fine else None,
        row_ids=np.concatenate([d.row_ids for d in datasets]),
        name="+".join(names),
        feature_names=datasets[0].feature_names,
    )
    owner = {f"{n}:{c}": g for g, (n, d) in enumerate(pairs) for c in d.coarse}
    groups = np.array([owner[c] for c in combined.coarse_classes], dtype=np.int64)
    return combined, groups, names


ENCODER_INTERFACE = ("prepare", "lengths", "collate", "forward", "n_layers", "dim")


def _own_encoder(encoder: torch.nn.Module, data: CoarseDataset) -> torch.nn.Module:
    """A copy of a user's encoder module, after checking it has the encoder interface
    (``encoders/``: prepare, lengths, collate, forward(inputs, layers), n_layers, dim)."""
    import copy

    missing = [name for name in ENCODER_INTERFACE if not hasattr(encoder, name)]
    if missing:
        raise InputError(
            f"encoder {type(encoder).__name__} lacks {', '.join(missing)} of the encoder "
            "interface (see coarse2fine/encoders: prepare, lengths, collate, forward, n_layers, "
            "dim)"
        )
    reads = input_kind(encoder)
    if reads != data.kind:
        name = type(encoder).__name__
        raise InputError(f"encoder {name} reads {reads}, the rows are {data.kind}")
    return copy.deepcopy(encoder)


def _describe(value: Any) -> Any:
    """A parameter as JSON can hold it: objects (an encoder module, a clusterer) by their
    class name, as the saved model needs only what they produced."""
    if value is None or isinstance(value, str | int | float | bool | dict | list):
        return value
    return f"<{type(value).__name__}>"


def _is_mapping(value: Any) -> bool:
    return isinstance(value, dict)


def _kind(data: CoarseDataset) -> str:
    return data.kind


def _is_image_array(X: Any) -> bool:
    """A (N, height, width, 3) uint8 array: decoded RGB images."""
    return isinstance(X, np.ndarray) and X.ndim == 4 and X.dtype == np.uint8 and X.shape[3] == 3


def _file_digests(folder: Path) -> dict[str, str]:
    """sha256 of every file a saved model holds besides its JSON and weights (the encoder's
    config and tokenizer), so ``load`` can tell a damaged folder from a whole one."""
    digests = {}
    for file in sorted(p for p in folder.rglob("*") if p.is_file()):
        name = file.relative_to(folder).as_posix()
        if name not in (_CONFIG, _WEIGHTS):
            digests[name] = hashlib.sha256(file.read_bytes()).hexdigest()
    return digests


def _check_files(path: Path, digests: dict[str, str] | None) -> None:
    for name, digest in (digests or {}).items():  # models saved before 2026-12-05 have none
        file = path / name
        if not file.is_file():
            raise InputError(f"{path}: damaged model ({name} is missing); run discover again")
        if hashlib.sha256(file.read_bytes()).hexdigest() != digest:
            raise InputError(f"{path}: damaged model ({name} was changed); run discover again")


def _check_agreement(path: Path, est: Discoverer, feature_dim: int | None) -> None:
    """The JSON and the tensors must describe the same categories."""
    centres, n = est.cluster_centers_, len(est.categories_)
    curation = getattr(est, "curation_", None)
    originals = n if curation is None else len(curation.route)  # the fit's categories
    problems = []
    if centres.ndim != 2 or len(centres) != originals:
        problems.append(f"{originals} categories but {len(centres)} centres")
    elif feature_dim is not None and centres.shape[1] != feature_dim:
        problems.append(f"centres of width {centres.shape[1]}, the features have {feature_dim}")
    if not np.isfinite(centres).all():
        problems.append("centres hold NaN or inf")
    if len(est.cluster_parents_) != n:
        problems.append(f"{n} categories but {len(est.cluster_parents_)} parents")
    unknown = sorted({str(p) for p in est.cluster_parents_} - set(map(str, est.coarse_classes_)))
    if unknown:
        problems.append(f"parents {', '.join(map(repr, unknown[:3]))} are no coarse class")
    names = getattr(est, "category_names_", None)
    if names is not None and len(names) != n:
        problems.append(f"{n} categories but {len(names)} names")
    if problems:
        raise InputError(f"{path}: damaged model ({'; '.join(problems)}); run discover again")


def resolve_clusterer(clusterer: Any, is_text: bool, largest: int, rows_per_category: float) -> Any:
    """The clusterer for categories of ``rows_per_category`` rows on average, ``largest`` rows
    in the biggest single clustering: ``clusterer`` unless it is ``"auto"``. ``"auto"``: spectral
    clustering of each coarse class's UMAP layout, refined by K-Means, for texts whose
    categories hold on average at most ``SPECTRAL_MAX_ROWS`` rows, else K-Means. Measured
    (docs/DEFAULTS.md): on the text test splits (15-55 rows per category) and the 1,191-request
    example (79) the 15-nearest-neighbour graph's partition led K-Means by 0.7-7 ACC, and the
    same on the UMAP layout with K-Means refining it leads that on CLINC, DBpedia and MMLU by
    0.7-2.2 and trails it on HWU64 by 0.4 (3 seeds); on CLINC's train split (120 rows per
    category) the graph trailed K-Means by 7, and on the cell datasets K-Means leads by 2-4.
    The threshold sits between the measured 79 and 120. At most ``TINY_MAX_ROWS`` rows per
    category (and no clustering of more than ``WARD_MAX_ROWS`` rows), Ward linkage on the
    features instead: there the layout's 15-neighbour graph spans several categories and
    merges the small ones; on long-tail subsamples of CLINC, HWU64 and DBpedia (6-8 rows per
    category on average) Ward led umap-spectral by 3.0-5.1 ACC, and trailed it by 5.4 and 3.8
    on CLINC's and HWU64's test splits as they are (15-16 rows; ``python bench/long_tail.py``,
    docs/DEFAULTS.md "Categories of a few rows, or of unequal size")."""
    if not (isinstance(clusterer, str) and clusterer == "auto"):
        return clusterer
    if not is_text or rows_per_category > SPECTRAL_MAX_ROWS:
        return "kmeans"
    if rows_per_category <= TINY_MAX_ROWS and largest <= WARD_MAX_ROWS:
        return TINY_TEXT_CLUSTERER
    return SMALL_TEXT_CLUSTERER


def clusterer_for_categories(
    clusterer: Any, is_text: bool, rows: int, largest: int, categories: int
) -> Any:
    """``resolve_clusterer`` for ``rows`` rows in ``categories`` categories in all."""
    return resolve_clusterer(clusterer, is_text, largest, rows / max(int(categories), 1))


class Discoverer(ClusterMixin, TransformerMixin, BaseEstimator):
    """Discover fine categories in coarse-labelled rows.

    Parameters are only stored here (scikit-learn convention); ``fit`` does the work.
    method: a name in ``coarse2fine.METHODS``; n_fine: total number of fine categories, a dict
    giving each coarse class its number (nested clustering then uses exactly those), or None
    to estimate it inside each coarse class by ``k_estimator`` (a criterion of
    ``coarse2fine.cluster.estimate_k``, default the eigengap of the class's neighbour graph), on
    the features that get clustered (the trained ones; the starting ones for methods whose model
    holds K, ``Method.needs_k``; with the fallback, the starting ones first, the count both
    spaces are compared at); ``estimated_counts_`` holds the counts, ``k_estimate_`` each
    class's plausible range and the criterion's curve over K; min_category_size: the smallest
    group that counts as a category (None: 2 rows, the criterion decides);
    encoder: "auto" (all-MiniLM-L6-v2 for texts, "mlp" for vectors), a text model folder or
    cached hub name, "mlp" / "mlp:WIDTHxDEPTH" (vectors), or "tiny-random" (tests);
    clustering: "nested" (categories inside each coarse class) or "global"; clusterer: "auto"
    (for texts of at most 10 rows per category on average "ward", of at most 100
    "umap-spectral", else K-Means; the one used is ``clusterer_``), "kmeans", "spectral"
    (spectral clustering of each class's 15-nearest-neighbour graph), "umap-spectral" (the same
    on the class's UMAP layout in 5 dimensions, refined there by K-Means, or cut by Ward
    linkage where those groups come out unequal; ``coarse2fine.cluster.layout``), "ward"
    (agglomerative, Ward linkage, on the features), or any object with scikit-learn's
    ``fit_predict`` (cloned, ``n_clusters`` / ``random_state`` set);
    method_params: options of the method's typed config (e.g. {"gamma2": 0.1}); max_length:
    tokens kept per text, or None to cover the 95th percentile of the rows' token counts (at
    most the encoder's limit; the fitted value is ``max_length_``); train_length: tokens kept
    per text while training (None: ``max_length_``; vectors ignore it; the features and
    categories always use ``max_length_``), because attention's cost grows with length and long
    texts lose little when training reads their start; train_rows: the most rows training reads,
    a sample drawn inside each coarse class in proportion to its size (None: all; every row is
    still embedded, clustered and assigned; ``train_rows_`` is the number used); train_layers:
    how many of the text encoder's top transformer layers training updates, the embeddings and
    the layers below kept as pre-trained (None: all; vectors ignore it), because the backward
    pass then stops early (docs/DEFAULTS.md measures what it saves and costs); checkpoint_dir: a
    folder where training saves its whole state at the end of every epoch; a fit that finds its
    own run's checkpoint there (same data, method, options and seed) continues from it and
    ends with the same result as an uninterrupted fit (``coarse2fine.checkpoint``). ``encoder`` may
    also be an encoder module of your own with the interface of ``coarse2fine.encoders`` (a copy
    is trained). fallback ("auto": on for vectors, off for texts; True; False): also cluster the
    features the encoder gave BEFORE training (the pre-trained text encoder's; the standardised
    input for vectors) and keep whichever partition the other space's neighbourhoods agree with
    more (``metrics.knn_agreement``: the trained categories judged by the untrained features' 10
    nearest neighbours inside each coarse class, and the other way round; docs/DEFAULTS.md says
    what it is worth). ``representation_`` holds both scores and the choice; when the untrained
    features win, the model is the untrained encoder.
    precision: "auto" (bfloat16 autocast where the device computes it natively: a GPU with bf16,
    a CPU with AVX512-BF16 or AMX; float32 elsewhere, where emulated bf16 is many times slower),
    "bf16" or "fp32"; ``train_config_.precision`` says which ran.

    The defaults are the recipe bench/peers.py chose over six real datasets (docs/DEFAULTS.md):
    DOWN (neighbour contrast against a per-row bank), training on at most 4,000 rows cut to 32
    tokens, spectral clustering of a UMAP layout for texts with small categories. epochs / lr /
    head_lr left as None take the method's measured default for the input kind
    (``Method.defaults``): for DOWN on MiniLM three epochs with the encoder at lr 1e-5 and the
    heads at 1e-3. Some methods' recipes also set config options for a kind
    (``Method.recipe_options``; DOWN on texts: no warm-up epoch, the bank written by the
    training forward); ``method_params`` overrides them one by one. head_lr applies to the
    parameters outside the encoder; a method without a default for it trains them at ``lr``.
    """

    def __init__(
        self,
        method: str = "down",
        n_fine: int | None = None,
        *,
        encoder: str = "auto",
        epochs: int | None = None,
        batch_size: int = 64,
        lr: float | None = None,
        head_lr: float | None = None,
        max_length: int | None = None,
        train_length: int | None = 32,
        train_rows: int | None = 4000,
        train_layers: int | None = None,
        checkpoint_dir: str | None = None,
        fallback: bool | str = "auto",
        precision: str = "auto",
        clustering: str = "nested",
        clusterer: Any = "auto",
        n_init: int = 10,
        k_estimator: str = DEFAULT_CRITERION,
        min_category_size: int | None = None,
        seed: int = 0,
        method_params: dict[str, Any] | None = None,
        device: str = "cpu",
        progress: bool = True,
    ) -> None:
        self.method = method
        self.n_fine = n_fine
        self.encoder = encoder
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.head_lr = head_lr
        self.max_length = max_length
        self.train_length = train_length
        self.train_rows = train_rows
        self.train_layers = train_layers
        self.checkpoint_dir = checkpoint_dir
        self.fallback = fallback
        self.precision = precision
        self.clustering = clustering
        self.clusterer = clusterer
        self.n_init = n_init
        self.k_estimator = k_estimator
        self.min_category_size = min_category_size
        self.seed = seed
        self.method_params = method_params
        self.device = device
        self.progress = progress

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True  # y: the coarse labels
        return tags

    # -- building ------------------------------------------------------------------------------
    def _method_class(self) -> type[Method]:
        if self.method not in METHODS:
            raise InputError(f"unknown method {self.method!r}; choose one of {', '.join(METHODS)}")
        return METHODS[self.method]

    def _train_config(self, kind: str = "text") -> TrainConfig:
        """The training settings, with None filled from the method's defaults for ``kind``."""
        defaults = self._method_class().kind_defaults(kind)
        return TrainConfig(
            epochs=defaults["epochs"] if self.epochs is None else self.epochs,
            batch_size=self.batch_size,
            lr=defaults["lr"] if self.lr is None else self.lr,
            head_lr=defaults.get("head_lr") if self.head_lr is None else self.head_lr,
            precision=self.precision,
            seed=self.seed,
        )

    def _make_encoder(self, data: CoarseDataset) -> TextEncoder | MLPEncoder | ImageEncoder:
        if isinstance(self.encoder, torch.nn.Module):  # the user's own encoder: trained on a copy
            return _own_encoder(self.encoder, data)
        name = self.encoder
        if data.is_image:
            spec = "cnn" if name == "auto" else name
            if parse_image_spec(spec) is None:
                raise InputError(
                    f"encoder {name!r} does not read images: use 'auto' (a small CNN), 'cnn:WIDTH' "
                    "or 'resnet18' / 'resnet50', with ':FILE' for weights (--encoder resnet18:FILE)"
                )
            size = int(data.images.shape[1])
            return ImageEncoder.from_spec(spec, size=size, seed=self.seed)
        mlp = parse_mlp_spec(name)
        if not data.is_text:
            if name == "auto":
                mlp = parse_mlp_spec("mlp")
            if mlp is None:
                raise InputError(
                    f"encoder {name!r} reads texts but the rows are vectors: use encoder='mlp' "
                    f"(--encoder mlp) or 'auto'"
                )
            return MLPEncoder.for_data(data.vectors, *mlp, seed=self.seed)
        if mlp is not None:
            raise InputError(
                f"encoder {name!r} reads vectors but the rows are texts: use a text model or 'auto'"
            )
        if name == "tiny-random":
            encoder = TextEncoder.tiny_random(seed=self.seed)
        else:
            model = DEFAULT_TEXT_MODEL if name == "auto" else name
            encoder = TextEncoder.from_pretrained(model, max_length=self.max_length or 512)
        if self.max_length is None:
            self.max_length_ = encoder.fit_length(data.texts)  # 95th percentile of token counts
        elif not 2 <= int(self.max_length) <= encoder.length_limit:
            raise InputError(
                f"max_length must be between 2 and {encoder.length_limit} tokens for this "
                f"encoder, got {self.max_length}"
            )
        else:
            encoder.max_length = self.max_length_ = int(self.max_length)
        return encoder

    def _build(
        self,
        n_coarse: int,
        encoder: TextEncoder | MLPEncoder,
        n_fine: int | None = None,
        method: str | None = None,
    ) -> Method:
        """The method named ``method`` (default: the ``method`` parameter) around ``encoder``."""
        if method is not None and method != self.method:  # a fallback's untrained encoder
            return METHODS[method](encoder, n_coarse, n_fine=n_fine, seed=self.seed)
        cls = self._method_class()
        if n_fine is None and self.n_fine is not None:
            n_fine = (
                int(sum(self.n_fine.values())) if _is_mapping(self.n_fine) else int(self.n_fine)
            )
        options = {**cls.recipe_options(input_kind(encoder)), **(self.method_params or {})}
        config = cls.Config.from_dict(options)
        return cls(encoder, n_coarse, config, n_fine=n_fine, seed=self.seed)

    def _check_params(self, data: CoarseDataset) -> None:
        for name in ("train_length", "train_rows"):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 2
            ):
                raise InputError(f"{name} must be a whole number >= 2 or None, got {value!r}")
        try:
            device = torch.device(self.device)
        except (RuntimeError, TypeError):
            raise InputError(f"device must be cpu, cuda or cuda:N, got {self.device!r}") from None
        if device.type == "cuda" and not torch.cuda.is_available():
            raise InputError(f"device {self.device!r}: CUDA is not available here; use cpu")
        layers = self.train_layers
        if layers is not None and (
            isinstance(layers, bool) or not isinstance(layers, int | np.integer) or layers < 1
        ):
            raise InputError(f"train_layers must be a whole number >= 1 or None, got {layers!r}")
        if self.clustering not in ("nested", "global"):
            raise InputError(f"clustering must be 'nested' or 'global', got {self.clustering!r}")
        if not (isinstance(self.fallback, bool) or self.fallback == "auto"):
            raise InputError(f"fallback must be True, False or 'auto', got {self.fallback!r}")
        if not (isinstance(self.clusterer, str) and self.clusterer == "auto"):
            check_clusterer(self.clusterer)
        if _is_mapping(self.n_fine):
            self._given_counts(data)  # validates the mapping
            self._train_config(_kind(data))
            return
        if self.n_fine is None:
            if self.k_estimator not in CRITERIA:
                raise InputError(
                    f"k_estimator must be one of {', '.join(CRITERIA)}, got {self.k_estimator!r}"
                )
            size = self.min_category_size
            if size is not None and (
                isinstance(size, bool) or not isinstance(size, int | np.integer) or size < 2
            ):
                raise InputError(
                    f"min_category_size must be a whole number >= 2 or None, got {size!r}"
                )
            self._train_config(_kind(data))
            return
        whole = isinstance(self.n_fine, int | np.integer) and not isinstance(self.n_fine, bool)
        if not whole:
            raise InputError(
                f"n_fine must be a whole number, a dict of one per coarse class, or None, got "
                f"{self.n_fine!r}"
            )
        if not 1 <= int(self.n_fine) <= len(data):
            raise InputError(
                f"n_fine must be between 1 and the number of rows ({len(data)}), got {self.n_fine}"
            )
        if self.clustering == "nested" and int(self.n_fine) < data.n_coarse:
            raise InputError(
                f"n_fine={self.n_fine} cannot give each of the {data.n_coarse} coarse classes a "
                f"category: raise n_fine (--n-fine) or use global clustering"
            )
        self._train_config(_kind(data))  # validates epochs, batch size, lr, precision

    def _given_counts(self, data: CoarseDataset) -> np.ndarray | None:
        """Categories per coarse class (in ``coarse_classes`` order) when n_fine maps each coarse
        class to its number; None when n_fine is a total or unknown."""
        if not _is_mapping(self.n_fine):
            return None
        given = {str(k): v for k, v in self.n_fine.items()}
        classes = [str(c) for c in data.coarse_classes]
        missing = [c for c in classes if c not in given]
        unknown = sorted(set(given) - set(classes))
        if missing or unknown:
            raise InputError(
                "n_fine as a mapping needs one count per coarse class: "
                + (f"missing {', '.join(map(repr, missing[:5]))}" if missing else "")
                + ("; " if missing and unknown else "")
                + (f"unknown {', '.join(map(repr, unknown[:5]))}" if unknown else "")
            )
        sizes = np.bincount(data.coarse_ids, minlength=len(classes))
        counts = np.array([given[c] for c in classes])
        for c, k, size in zip(classes, counts, sizes, strict=True):
            if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 1 <= k <= size:
                raise InputError(
                    f"n_fine[{c!r}] must be a whole number between 1 and the class's {size} rows, "
                    f"got {k!r}"
                )
        return counts.astype(np.int64)

    # -- fitting -------------------------------------------------------------------------------
    def fit_representation(self, X: Any, y: Any = None) -> Discoverer:
        """Train the method on coarse labels only; no clustering (used by the paper protocol)."""
        with ranks(self.device, self.seed):
            return self._fit_representation(X, y)

    def _fit_representation(self, X: Any, y: Any = None) -> Discoverer:
        for attr in _OPTIONAL_FITTED:
            self.__dict__.pop(attr, None)
        data = as_dataset(X, y, est=self)
        self._check_params(data)
        self._train(data, compare=False)
        self.fitted_method_ = self.method
        return self

    def _train(
        self,
        data: CoarseDataset,
        groups: np.ndarray | None = None,
        estimate: bool = False,
        compare: bool = False,
    ):
        """Build and train the method; returns the rows prepared for the encoder (reused), the
        categories per coarse class (given, or with ``estimate`` estimated) and, with
        ``fallback``, the untrained method with its features (else None).

        With ``estimate``, K is estimated here, on the features BEFORE training, only for
        methods whose model holds K (``needs_k``: FALCON, the pseudo-label baselines); for the
        others ``fit`` estimates it on the trained features (counts None here)."""
        data.validate_for_training()
        seed_everything(self.seed)
        self.coarse_classes_ = list(data.coarse_classes)
        encoder = self._make_encoder(data)
        prepared = prepare(encoder, data)
        counts = self._given_counts(data)
        compare = compare and groups is None and self._method_class().trains
        estimate = estimate and self._method_class().needs_k
        if estimate or compare:
            initial = copy.deepcopy(encoder) if compare else encoder  # training changes encoder
            untrained = self._build(len(self.coarse_classes_), initial, method="unsupervised")
            before = self._inference().map(untrained, prepared, untrained.embed)
        if estimate:
            counts = self._estimate(before, data, "starting")
        # the untrained method and its features, for the fallback's comparison
        start = (untrained, l2_normalize(before)) if compare else None
        n_fine = None if counts is None else int(counts.sum())
        self.method_ = self._build(len(self.coarse_classes_), encoder, n_fine)
        # for a method that counts K itself while training (DNA, DOWN): the user's options, the
        # criterion FIRST_COUNT where left at the default (that count only sets the neighbours)
        first = counting.FIRST_COUNT if self.k_estimator == DEFAULT_CRITERION else self.k_estimator
        self.method_.count_options = {
            "criterion": first,
            "min_size": self.min_category_size,
        }
        if groups is not None:
            if not self.method_.supports_groups:
                raise InputError(
                    f"method {self.method!r} trains on one dataset; several datasets with their "
                    f"own coarse labels need method='falcon'"
                )
            self.method_.set_coarse_groups(groups)
        self.train_config_ = self._train_config(_kind(data))
        # run.json records what ran: "auto" is bf16 only where the device computes it natively
        self.train_config_.precision = resolve_precision(self.precision, self.device)
        freezes = self.train_layers is not None and hasattr(encoder, "train_top_layers")
        if freezes:
            encoder.train_top_layers(int(self.train_layers))
        # what the discovery step will run for a total of K categories, for a method that
        # shapes its training to it (DOWN's mine_in="auto"); cleared after training
        self.method_.clusterer_for = self._clusterer_rule(data)
        try:
            self.history_ = fit(
                self.method_,
                self._training_rows(encoder, data, prepared),
                self.train_config_,
                device=self.device,
                progress=self.progress,
                checkpoint_dir=self.checkpoint_dir,
            )
        finally:
            self.method_.clusterer_for = None
            if freezes:  # (a resumed fit trained the checkpoint's encoder, now the method's)
                self.method_.encoder.train_top_layers(None)
        return prepared, counts, start

    def _training_rows(self, encoder, data: CoarseDataset, prepared: Prepared) -> Prepared:
        """The rows training reads: at most ``train_rows`` of them (a sample inside each coarse
        class, in proportion to its size, at least one row each), texts cut to ``train_length``
        tokens."""
        rows = np.arange(len(data))
        cap = None if self.train_rows is None else max(int(self.train_rows), data.n_coarse)
        if cap is not None and cap < len(data):  # at least one row of every coarse class
            rows = proportional_sample(data.coarse_ids, cap, self.seed)
        self.train_rows_ = len(rows)
        if self.train_length is not None and data.is_text and hasattr(encoder, "max_length"):
            self.train_length_ = min(int(self.train_length), encoder.max_length)
            if self.train_length_ < encoder.max_length:
                full = encoder.max_length
                encoder.max_length = self.train_length_
                try:
                    inputs = encoder.prepare([data.texts[i] for i in rows])
                finally:
                    encoder.max_length = full
                return Prepared(inputs, encoder.lengths(inputs), prepared.coarse[rows])
        return prepared if len(rows) == len(data) else prepared.subset(rows)

    def fit(self, X: Any, y: Any = None, *, fine: Any = None) -> Discoverer:
        """Learn the representation, then discover ``n_fine`` categories among the rows.

        X may also be a list of CoarseDatasets whose coarse label sets differ (FALCON's
        multi-dataset setting): one fine classifier is shared, each dataset gets its own
        coarse -> fine relation (``hierarchies_``), and coarse classes are named
        "dataset:coarse".

        Started by torchrun (``torchrun --nproc-per-node N ...``), every process calls ``fit``
        alike: training and the features are split across the ranks, every rank ends with the
        same fitted estimator, and rank 0 (``coarse2fine.distributed.is_main()``) should be the
        one that writes results.
        """
        with ranks(self.device, self.seed):
            return self._fit(X, y, fine)

    def _fit(self, X: Any, y: Any, fine: Any) -> Discoverer:
        groups = None
        for attr in _OPTIONAL_FITTED:  # a refit must not keep what an earlier fit learned
            self.__dict__.pop(attr, None)
        if isinstance(X, list | tuple) and X and all(isinstance(d, CoarseDataset) for d in X):
            if y is not None or fine is not None:
                raise InputError("with a list of datasets, the labels live inside each dataset")
            data, groups, self.dataset_names_ = combine_datasets(list(X))
        else:
            data = as_dataset(X, y, fine, est=self)
        self._check_params(data)
        prepared, counts, start = self._train(
            data, groups, estimate=self.n_fine is None, compare=self._falls_back(data)
        )
        self.fitted_method_ = self.method
        features = self._embed(prepared)
        estimated_here = self.n_fine is None and counts is None
        if estimated_here:  # on the features that get clustered; with the fallback, the
            # starting ones first: both spaces are compared at the count of the start, which
            # does not depend on what training made of the features (a space that training
            # fragmented counts many categories, and at that count either partition is poor)
            counted_on, which = (
                (start[1], "starting")
                if start is not None
                else (features, "trained" if self.method_.trains else "starting")
            )
            counts = self._estimate(counted_on, data, which)
        else:  # (an estimate chose the clusterer it counted for)
            total = int(self.n_fine) if counts is None else int(counts.sum())
            self.clusterer_ = self._clusterer_rule(data)(total)
        clusters = self._discover(self.method_, features, prepared, data, counts)
        if start is not None:
            untrained, before = start
            found = self._discover(untrained, before, prepared, data, counts)
            # each partition judged by the OTHER space's neighbours (a space always agrees
            # with its own partition; contrastive training makes any partition look tight)
            scores = {
                "trained": knn_agreement(before, clusters.labels, data.coarse_ids),
                "untrained": knn_agreement(features, found.labels, data.coarse_ids),
            }
            chosen = "untrained" if scores["untrained"] > scores["trained"] else "trained"
            self.representation_ = {"agreement": scores, "chosen": chosen}
            if chosen == "untrained":  # training did not pay here: the model is the start
                self.method_, self.fitted_method_ = untrained, "unsupervised"
                features, clusters = before, found
            elif estimated_here:  # the trained features kept: now counted on them
                previous = self.clusterer_
                again = self._estimate(features, data, "trained")
                if not np.array_equal(again, counts) or self.clusterer_ != previous:
                    counts = again
                    clusters = self._discover(self.method_, features, prepared, data, counts)
        counted = getattr(self.method_, "counted_n_fine", None)
        if estimated_here and counted is not None:  # DNA, DOWN: the count that set k
            self.k_estimate_["training"] = {
                "categories": counted,
                "neighbours": self.method_.neighbour_count(self.train_rows_),
            }
        self._set_clusters(clusters, multi=groups is not None)
        forget_layouts()  # they served this fit's counts and cuts; hold no memory after it
        self.labels_ = clusters.labels
        self.embedding_ = features
        self.category_names_ = self._names(data, clusters)
        finer = self._map(prepared, self.method_.finer_groups)  # HCSC's prototypes, CD's heads
        if finer is not None:
            self.finer_labels_ = finer[:, 0].astype(np.int64)
        return self

    def _estimate(self, features: np.ndarray, data: CoarseDataset, which: str) -> np.ndarray:
        """Categories per coarse class estimated on ``features`` (``which``: "starting" or
        "trained"), kept with each class's plausible range and criterion curve; sets
        ``clusterer_`` from the count. Where that clusterer is "umap-spectral", each class is
        also counted on its layout, the positions the clusterer cuts, and that count kept where
        it agrees with the features' (``estimate_k(on_layout=True)``, docs/ESTIMATE_K.md).
        On features neighbour training shaped, counted again on a wider graph where
        ``_count_neighbours`` says so."""
        # where training may have pulled wider than NEIGHBOURS, the first count only sets the
        # graph's width, so it skips the subsamples of the plausible range
        wider = self._pulled_neighbours(which, len(features)) > NEIGHBOURS
        found = self._count_on(features, data, NEIGHBOURS, ranged=not wider)
        neighbours = self._count_neighbours(which, len(features), int(found.counts.sum()))
        if wider:
            found = self._count_on(features, data, neighbours)
        counts = found.counts
        self.estimated_counts_ = dict(zip(self.coarse_classes_, counts.tolist(), strict=True))
        self.k_estimate_ = {
            "criterion": found.criterion,
            "features": which,
            "neighbours": neighbours,
            # rows a category of the classes with a clear gap, where others were read twice
            "scale": None if found.scale is None else round(found.scale, 1),
            # how that scale was read: the clear classes' median, or pooled (SCALE_BY)
            "scale_by": counting.SCALE_BY,
            # whether each class read twice took the reading nearer that scale (WEAK_CHOICE)
            "by_scale": found.by_scale,
            "classes": {
                c: {
                    "k": int(k),
                    "low": e.low,
                    "high": e.high,
                    "on": "layout" if e.on_layout else "features",
                    # WEAK_COUNT's where the eigengap was weak (or the reading chosen by scale)
                    "criterion": e.criterion,
                    "gap": None if e.gap is None else round(e.gap, 4),  # what decided that
                    "rivals": e.rivals,
                    # no clear gap: the other reading's count (estimate_k.other_reading)
                    "second": None
                    if e.second is None
                    else {"criterion": e.second[0], "k": int(e.second[1])},
                    "curve": [
                        [int(x), None if not np.isfinite(y) else round(float(y), 5)]
                        for x, y in zip(e.ks, e.scores, strict=True)
                    ],
                }
                for c, k, e in zip(self.coarse_classes_, counts, found.classes, strict=True)
            },
        }
        return counts

    def _count_on(
        self, features: np.ndarray, data: CoarseDataset, neighbours: int, ranged: bool = True
    ) -> Any:
        """The estimate on a graph of ``neighbours`` per row (``ranged``: with the subsamples of
        its plausible range); sets ``clusterer_`` from the features' own count, which decides
        whether the layout is counted too."""
        rule = self._clusterer_rule(data)
        found = estimate_k(
            features,
            data.coarse_ids,
            criterion=self.k_estimator,
            min_size=self.min_category_size,
            neighbours=neighbours,
            seed=self.seed,
            resamples=counting.RESAMPLES if ranged else 0,
            on_layout=lambda total: rule(total) == "umap-spectral",
        )
        self.clusterer_ = rule(found.features_total)
        return found

    def _count_neighbours(self, which: str, rows: int, counted: int) -> int:
        """The neighbours of each row in the count's graph, ``counted`` the categories a
        NEIGHBOURS graph finds in ``rows`` rows. On features that neighbour training (DNA,
        DOWN) shaped, as many as it pulled each row toward, scaled from the training rows to
        ``rows``, where that is more than NEIGHBOURS: training pulls each row's k neighbours
        into one tight clump, and a narrower graph reads a category of several clumps as
        several categories. But no more than the k the method would take for ``counted``
        categories: where k came from a count that fell short (DBpedia without K: k over 30
        for categories of 17 rows) training pulled across categories, and a graph that wide
        merges them. docs/ESTIMATE_K.md, "How the default counts", 3."""
        pulled = self._pulled_neighbours(which, rows)
        if pulled <= NEIGHBOURS:
            return NEIGHBOURS
        implied = self.method_.pulled_neighbours(rows, max(counted, 1))
        return max(NEIGHBOURS, min(pulled, implied))

    def _pulled_neighbours(self, which: str, rows: int) -> int:
        """The neighbours training pulled each row toward, scaled from the training rows to
        ``rows`` (0 on features no training shaped)."""
        if which != "trained":
            return 0
        train_rows = max(self.train_rows_, 1)
        return round(self.method_.pulled_neighbours(train_rows) * rows / train_rows)

    def _falls_back(self, data: CoarseDataset) -> bool:
        """``fallback="auto"``: on for vectors, where the MLP starts from nothing and the signal
        is decisive, off for texts, where it is not (docs/DEFAULTS.md)."""
        if isinstance(self.fallback, str):
            return not data.is_text  # images too: the default CNN starts from nothing
        return bool(self.fallback)

    def _resolve_clusterer(self, data: CoarseDataset, rows_per_category: float) -> Any:
        """What the discovery step runs on ``data`` (``resolve_clusterer``)."""
        return resolve_clusterer(
            self.clusterer, data.is_text, self._largest_clustering(data), rows_per_category
        )

    def _clusterer_rule(self, data: CoarseDataset) -> Callable[[int], Any]:
        """The same as a function of the total number of categories (picklable: a training
        checkpoint holds the method that reads it)."""
        return functools.partial(
            clusterer_for_categories,
            self.clusterer,
            data.is_text,
            len(data),
            self._largest_clustering(data),
        )

    def _largest_clustering(self, data: CoarseDataset) -> int:
        """The most rows one clustering sees: the largest class, or every row when global."""
        if self.clustering == "nested":
            return int(np.bincount(np.asarray(data.coarse_ids)).max())
        return len(data)

    def _discover(self, method: Method, features, prepared, data, counts) -> Clustering:
        return method.discover(
            features,
            prepared,
            data.coarse_ids,
            int(self.n_fine) if counts is None else int(counts.sum()),
            nested=self.clustering == "nested",
            counts=counts,
            seed=self.seed,
            n_init=self.n_init,
            inference=self._inference(),
            clusterer=self.clusterer_,
        )

    def _names(self, data: CoarseDataset, clusters: Clustering) -> list[str]:
        """A short descriptive name per category (cluster/naming.py)."""
        if data.is_text:
            return text_names(data.texts, clusters.labels, clusters.parents)
        if data.is_image:
            return image_names(data.image_paths, clusters.labels, clusters.parents)
        return vector_names(data.vectors, clusters.labels, clusters.parents, data.feature_names)

    def _set_clusters(self, clusters: Clustering, multi: bool = False) -> None:
        """Category names: "coarse/i" under their parent; "F<i>" when several datasets (and so
        several parents) share them, with each dataset's tree in ``hierarchies_``."""
        self.cluster_centers_ = clusters.centres
        self.cluster_parents_ = [self.coarse_classes_[p] for p in clusters.parents]
        counters: dict[str, int] = {}
        names = []
        for parent in self.cluster_parents_:
            counters[parent] = counters.get(parent, 0) + 1
            names.append(f"{parent}/{counters[parent]}")
        if multi:
            names = [f"F{i + 1}" for i in range(len(names))]
            self.hierarchies_ = {
                name: self._hierarchy(self.method_.hierarchy(g))
                for g, name in enumerate(self.dataset_names_)
            }
        self.categories_ = names
        self.n_fine_ = len(names)

    def _hierarchy(self, parents: np.ndarray) -> dict[str, list[int]]:
        tree: dict[str, list[int]] = {}
        for k, p in enumerate(parents):
            tree.setdefault(self.coarse_classes_[p], []).append(k)
        return tree

    def _inference(self) -> Inference:
        """How per-row outputs are computed here (the runtime settings of this estimator)."""
        progress = self.progress and is_main()
        return Inference(precision=self.precision, device=self.device, progress=progress)

    def _map(self, prepared, step) -> np.ndarray | None:
        """``step`` (a per-batch output of the fitted method) for every row; None when the
        method lacks that capability."""
        return self._inference().map(self.method_, prepared, step)

    def _embed(self, prepared) -> np.ndarray:
        return l2_normalize(self._map(prepared, self.method_.embed))

    def _check_fitted(self, attr: str = "method_") -> None:
        if not hasattr(self, attr):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError("this Discoverer is not fitted yet: call fit first")

    # -- using ---------------------------------------------------------------------------------
    def transform(self, X: Any) -> np.ndarray:
        """Discovery features (unit length) of any rows; coarse labels are not needed."""
        self._check_fitted()
        return self._embed(prepare(self.method_.encoder, _rows(X, self)))

    def predict(self, X: Any, *, within: str = "all") -> np.ndarray:
        """Category id (index into ``categories_``) of each row: the fine classifier's choice
        for methods that have one (FALCON), else the nearest category centre.

        ``within`` says which categories a row may join:

        - ``"all"``: any category (coarse labels are not needed);
        - ``"head"``: the categories under the coarse class the method's own coarse head
          predicts for the row (methods with a coarse head, e.g. hwscl, coarse_supervised);
        - ``"given"``: the categories under the row's own coarse label (X a CoarseDataset with
          coarse labels the model was fitted on).

        A row whose coarse class holds no category (possible with ``clustering="global"``)
        may join any.
        """
        self._check_fitted()
        if within not in PREDICT_WITHIN:
            raise ValueError(f"within must be one of {', '.join(PREDICT_WITHIN)}; got {within!r}")
        if within == "given" and not isinstance(X, CoarseDataset):
            raise InputError(
                "within='given' needs the rows' coarse labels: pass a CoarseDataset (e.g. from "
                "read_table with coarse_col=...), or predict within 'head' or 'all'"
            )
        rows = _rows(X, self)
        prepared = prepare(self.method_.encoder, rows)
        curation = getattr(self, "curation_", None)  # rename / merge / split (curate.py)
        row_groups = category_groups = None
        if within != "all":  # coarse classes, as indices into coarse_classes_
            parents = self.cluster_parents_ if curation is None else curation.original_parents
            row_groups = self._row_coarse(rows, prepared, within)
            index = self._coarse_index()
            category_groups = np.array([index[p] for p in parents], np.int64)
        features = None
        logits = self._map(prepared, self.method_.fine_logits)
        if logits is not None:  # a fine classifier (FALCON): no clustering needed
            if row_groups is not None:
                logits[~group_mask(row_groups, category_groups)] = -np.inf
            found = logits.argmax(1)
        else:
            self._check_fitted("cluster_centers_")
            features = self._embed(prepared)
            found = nearest_centre(
                features,
                self.cluster_centers_,
                row_groups=row_groups,
                centre_groups=category_groups,
            )
        if curation is None:
            return found
        if curation.needs_features and features is None:
            features = self._embed(prepared)
        return curation.assign(found, features)

    # -- curation ------------------------------------------------------------------------------
    def rename(self, names: dict[str, str]) -> Discoverer:
        """Give categories (by id, e.g. "banking/3", or current name) new names."""
        self._check_fitted("cluster_centers_")
        curate.rename(self, names)
        return self

    def merge(self, categories: list[str], name: str | None = None) -> Discoverer:
        """Merge categories of one coarse class into the first one given (its id stays): its
        rows, and every new row that would have joined one of them, join the merged one."""
        self._check_fitted("cluster_centers_")
        curate.merge(self, categories, name)
        return self

    def split(self, category: str, k: int, rows: Any = None) -> Discoverer:
        """Split a category into ``k`` (ids "<id>.1" ... "<id>.k") by K-Means of its rows'
        features. ``rows``: the fitted rows (texts or vectors, in fit's order), needed after
        ``load`` (a loaded model holds no features) and, for texts, to name the parts."""
        self._check_fitted("cluster_centers_")
        if getattr(self, "labels_", None) is None:
            raise InputError("split needs the rows' categories: set labels_ or fit first")
        data = None if rows is None else _rows(rows, self)
        texts = None if data is None else data.texts
        features = getattr(self, "embedding_", None)  # the fitted rows' features, when held
        if features is None or len(features) != len(self.labels_):
            if data is None:
                raise InputError("split needs the fitted rows: pass rows=... (texts or vectors)")
            features = self.transform(data)
        curate.split(self, category, k, features, texts)
        return self

    def _coarse_index(self) -> dict[Any, int]:
        """Position of each coarse label in ``coarse_classes_``."""
        return {c: i for i, c in enumerate(self.coarse_classes_)}

    def _row_coarse(self, rows: CoarseDataset, prepared, within: str) -> np.ndarray:
        """Index into ``coarse_classes_`` of each row's coarse class: predicted by the method's
        coarse head (``within="head"``) or the row's own label (``"given"``)."""
        if within == "head":
            logits = self._map(prepared, self.method_.coarse_logits)
            if logits is None:
                fell_back = getattr(self, "fitted_method_", self.method) != self.method
                which = (
                    f"the model fell back to the untrained encoder (method {self.method!r}'s "
                    "training did not pay) and"
                    if fell_back
                    else f"method {self.method!r}"
                )
                raise InputError(
                    f"{which} has no coarse head to route rows with; predict "
                    "within='given' (rows with coarse labels) or within='all'"
                )
            return logits.argmax(1)
        index = self._coarse_index()
        unknown = [i for i, c in enumerate(rows.coarse) if c not in index]
        if unknown:
            i = unknown[0]
            known = ", ".join(map(repr, self.coarse_classes_[:5]))
            more = ", ..." if len(self.coarse_classes_) > 5 else ""
            raise InputError(
                f"row {rows.row_ids[i]}: coarse label {rows.coarse[i]!r} is not one the model "
                f"was fitted on ({known}{more}); {len(unknown)} row(s) like it. Give the rows' "
                "coarse labels (in the CLI: --coarse-col), or predict within 'head' or 'all'"
            )
        return np.array([index[c] for c in rows.coarse], dtype=np.int64)

    def predict_coarse(self, X: Any) -> np.ndarray | None:
        """Coarse label from the method's coarse head, or None for methods without one."""
        self._check_fitted()
        prepared = prepare(self.method_.encoder, _rows(X, self))
        logits = self._map(prepared, self.method_.coarse_logits)
        if logits is None:
            return None
        return np.asarray(self.coarse_classes_, dtype=object)[logits.argmax(1)]

    def fit_predict(self, X: Any, y: Any = None, **kwargs) -> np.ndarray:
        return self.fit(X, y, **kwargs).labels_

    # -- persistence ---------------------------------------------------------------------------
    def save(self, path: str | Path, overwrite: bool = False) -> Path:
        """Write the model folder: coarse2fine.json, model.safetensors, encoder/ (config,
        tokenizer). Written to a temporary folder and renamed into place when complete."""
        self._check_fitted("cluster_centers_")
        with atomic_dir(path, overwrite=overwrite) as tmp:
            spec = self.method_.encoder.save_architecture(tmp)
            tensors = {
                k: v.detach().contiguous().cpu() for k, v in self.method_.state_dict().items()
            }
            tensors["discovery.centres"] = torch.from_numpy(self.cluster_centers_)
            curation = getattr(self, "curation_", None)
            if curation is not None:
                tensors["discovery.prototypes"] = torch.from_numpy(curation.prototypes)
            save_file(tensors, str(tmp / _WEIGHTS), metadata={"format": str(FORMAT_VERSION)})
            # where and how verbosely it ran are not part of the model: load() chooses those
            params = {
                k: _describe(v) for k, v in self.get_params().items() if k not in _RUNTIME_PARAMS
            }
            config = {
                "format": FORMAT_VERSION,
                "params": params,
                "method_config": self.method_.config.to_dict(),
                "method_n_fine": self.method_.n_fine,  # the fitted K, also when estimated
                "fitted_method": self.fitted_method_,  # "unsupervised" after a fallback
                "encoder": spec,
                "coarse_classes": self.coarse_classes_,
                "categories": self.categories_,
                "category_names": getattr(self, "category_names_", None),
                "cluster_parents": self.cluster_parents_,
                "curation": None if curation is None else curation.to_json(),
            }
            config["feature_dim"] = int(self.cluster_centers_.shape[1])
            config["files"] = _file_digests(tmp)  # the encoder's config and tokenizer files
            (tmp / _CONFIG).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        return Path(path)

    @classmethod
    def load(cls, path: str | Path, *, device: str = "cpu", progress: bool = True) -> Discoverer:
        """Load a folder written by ``save`` (safetensors + JSON only, nothing unpickled)."""
        path = Path(path)
        if not (path / _CONFIG).is_file() or not (path / _WEIGHTS).is_file():
            raise InputError(
                f"{path} is not a coarse2fine model folder (no {_CONFIG} / {_WEIGHTS})"
            )
        try:
            config = json.loads((path / _CONFIG).read_text(encoding="utf-8"))
            if config.get("format") != FORMAT_VERSION:
                raise InputError(f"{path}: model format {config.get('format')} is not supported")
            _check_files(path, config.get("files"))
            fitted = config.get("fitted_method", config["params"]["method"])
            params = dict(config["params"])
            if fitted == params["method"]:  # the trained method's full config
                params["method_params"] = config["method_config"]
            est = cls(**params, device=device, progress=progress)
            est.coarse_classes_ = config["coarse_classes"]
            encoder = encoder_from_architecture(path, config["encoder"])
            est.method_ = est._build(
                len(est.coarse_classes_), encoder, config.get("method_n_fine"), method=fitted
            )
            est.fitted_method_ = fitted
            tensors = load_file(str(path / _WEIGHTS))
            est.cluster_centers_ = tensors.pop("discovery.centres").numpy()
            prototypes = tensors.pop("discovery.prototypes", None)
            if config.get("curation") is not None:
                if prototypes is None:
                    raise InputError(f"{path}: damaged model (curated, but no prototypes)")
                est.curation_ = Curation.from_json(config["curation"], prototypes.numpy())
            est.method_.load_state_dict(tensors, strict=True)
            est.categories_ = config["categories"]
            if config.get("category_names") is not None:
                est.category_names_ = config["category_names"]
            est.cluster_parents_ = config["cluster_parents"]
            _check_agreement(path, est, config.get("feature_dim"))
        except InputError:
            raise
        except Exception as err:  # a damaged or foreign folder: say so in one line
            first = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise InputError(f"{path}: cannot load the model ({first})") from None
        est.method_.to(device).eval()
        est.n_fine_ = len(est.categories_)
        return est

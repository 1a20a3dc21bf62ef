"""Command-line tool: ``coarse2fine discover | predict | embed | report | evaluate``.

Bad input exits with status 2 and one line naming the problem; nothing partial is written.
"""

from __future__ import annotations

import json
import signal
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from coarse2fine.cluster.estimate_k import CRITERIA, DEFAULT_CRITERION
from coarse2fine.data import (
    BUILTIN_DATASETS,
    CoarseDataset,
    InputError,
    iter_table,
    load_dataset,
    read_table,
)
from coarse2fine.data.h5ad import H5AD_SUFFIX, read_h5ad
from coarse2fine.data.images import DEFAULT_IMAGE_SIZE, images_from_paths, read_image_folder
from coarse2fine.io import check_output_dir, check_output_file

CHUNK_ROWS = 10_000  # predict / embed: rows read and handled at a time
# options predict and embed share
ModelFolder = Annotated[Path, typer.Argument(help="model folder written by discover (OUT/model)")]
TextCol = Annotated[str | None, typer.Option(help="column holding the text [default: text]")]
ModelVectorCols = Annotated[
    str | None, typer.Option(help="numeric input columns, for a model trained on vectors")
]
UseRep = Annotated[
    str | None,
    typer.Option(help=".h5ad input: the obsm key describing the cells (e.g. X_pca) [default: X]"),
]
Layer = Annotated[str | None, typer.Option(help=".h5ad input: a layer instead of X")]
ImageCol = Annotated[
    str | None,
    typer.Option(help="column holding image paths (relative to the table's folder)"),
]
OverwriteFile = Annotated[bool, typer.Option(help="replace an existing --out file")]
Quiet = Annotated[bool, typer.Option(help="no progress bars")]

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Discover fine categories inside coarse-labelled rows.",
)


def _fail(message: str, code: int = 2) -> None:
    """One line on stderr and a non-zero exit: 2 for bad input, 1 for a failed run."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=code)


def load_rows(
    data: str,
    *,
    text_col: str | None,
    coarse_col: str | None,
    fine_col: str | None,
    coarse_from: str | None,
    vector_cols: str | None = None,
    need_coarse: bool = True,
    use_rep: str | None = None,
    layer: str | None = None,
    image_col: str | None = None,
    image_size: int = DEFAULT_IMAGE_SIZE,
) -> CoarseDataset:
    """A built-in dataset name (``clinc``, ``hwu64:test``), a folder of images, an .h5ad file,
    or a table file (with ``image_col``: its column of image paths)."""
    builtin = _builtin(data)
    if builtin is not None:
        return builtin
    if Path(data).is_dir():
        return read_image_folder(data, size=image_size, coarse_required=need_coarse)
    if image_col is not None:
        _check_sources(text_col, vector_cols, coarse_col, coarse_from, need_coarse, image_col)
        table = read_table(
            data,
            text_col=image_col,
            coarse_col=coarse_col,
            fine_col=fine_col,
            coarse_from=coarse_from,
            coarse_required=need_coarse,
        )
        return images_from_paths(table, Path(data).resolve().parent, image_size)
    if _is_h5ad(data, text_col, vector_cols, coarse_from, use_rep, layer):
        return read_h5ad(
            data,
            coarse=coarse_col,
            fine=fine_col,
            use_rep=use_rep,
            layer=layer,
            coarse_required=need_coarse,
        )
    _check_sources(text_col, vector_cols, coarse_col, coarse_from, need_coarse)
    return read_table(
        data,
        text_col=text_col,
        vector_cols=None if vector_cols is None else _split_columns(vector_cols),
        coarse_col=coarse_col,
        fine_col=fine_col,
        coarse_from=coarse_from,
        coarse_required=need_coarse,
    )


def stream_rows(
    data: str,
    *,
    text_col: str | None,
    vector_cols: str | None,
    coarse_col: str | None,
    coarse_from: str | None,
    need_coarse: bool,
    chunk_rows: int,
    use_rep: str | None = None,
    layer: str | None = None,
    image_col: str | None = None,
    image_size: int = DEFAULT_IMAGE_SIZE,
) -> Iterable[CoarseDataset]:
    """The rows of ``data`` in pieces of at most ``chunk_rows`` (a built-in dataset or an .h5ad
    file: one piece), for commands that handle rows one by one (predict, embed): memory stays
    flat."""
    builtin = _builtin(data)
    if builtin is not None:
        return [builtin]
    if Path(data).is_dir() or image_col is not None:  # images are decoded whole (one piece)
        options = {"image_col": image_col, "image_size": image_size, "need_coarse": need_coarse}
        rows = load_rows(
            data, text_col=text_col, coarse_col=coarse_col, fine_col=None,
            coarse_from=coarse_from, vector_cols=vector_cols, **options,
        )  # fmt: skip
        return [rows]
    if _is_h5ad(data, text_col, vector_cols, coarse_from, use_rep, layer):
        options = {"use_rep": use_rep, "layer": layer, "coarse_required": need_coarse}
        return [read_h5ad(data, coarse=coarse_col, **options)]
    _check_sources(text_col, vector_cols, coarse_col, coarse_from, need_coarse)
    return iter_table(
        data,
        chunk_rows=chunk_rows,
        text_col=text_col,
        vector_cols=None if vector_cols is None else _split_columns(vector_cols),
        coarse_col=coarse_col,
        coarse_from=coarse_from,
        coarse_required=need_coarse,
    )


def _builtin(data: str) -> CoarseDataset | None:
    """A built-in dataset named by ``data`` (``clinc``, ``hwu64:test``), unless a file of that
    name exists."""
    name, _, split = data.partition(":")
    if name in BUILTIN_DATASETS and not Path(data).exists():
        return load_dataset(name, split or "train")
    return None


def _h5ad_file(data: str) -> Path | None:
    """``data`` as a path when it names an AnnData (.h5ad) file, else None."""
    return Path(data) if Path(data).suffix.lower() == H5AD_SUFFIX else None


def _is_h5ad(data: str, text_col, vector_cols, coarse_from, use_rep, layer) -> bool:
    """Whether ``data`` is an AnnData file; refuses the table-file options it does not take."""
    if _h5ad_file(data) is None:
        if use_rep is not None or layer is not None:
            raise InputError("--use-rep and --layer apply to .h5ad (AnnData) input only")
        return False
    given = [
        name
        for name, value in (
            ("--text-col", text_col),
            ("--vector-cols", vector_cols),
            ("--coarse-from", coarse_from),
        )
        if value is not None
    ]
    if given:
        raise InputError(
            f"{', '.join(given)} do not apply to .h5ad input: the cells are described by X "
            "(or --use-rep OBSM_KEY, --layer NAME) and the labels are obs columns "
            "(--coarse-col, --fine-col)"
        )
    return True


def _check_sources(
    text_col, vector_cols, coarse_col, coarse_from, need_coarse: bool, image_col=None
) -> None:
    if sum(col is not None for col in (text_col, vector_cols, image_col)) != 1:
        raise InputError(
            "a data file needs exactly one of --text-col COLUMN (texts), --vector-cols "
            "COLUMNS (numbers: a comma list and/or patterns such as 'gene_*') or --image-col "
            "COLUMN (paths of images); a folder of images ROOT/<coarse>/[<fine>/] needs none"
        )
    if need_coarse and coarse_col is None and coarse_from is None:
        raise InputError("give the coarse labels: --coarse-col COLUMN or --coarse-from RULE")


def _split_columns(spec: str) -> list[str]:
    columns = [c.strip() for c in spec.split(",") if c.strip()]
    if not columns:
        raise InputError("--vector-cols is empty; give column names or patterns like 'gene_*'")
    return columns


def _on_off_auto(value: str, option: str) -> bool | str:
    choices = {"on": True, "off": False, "auto": "auto"}
    if value not in choices:
        raise InputError(f"{option} must be on, off or auto, got {value!r}")
    return choices[value]


def _n_fine(value: str | None) -> int | dict[str, int] | None:
    """--n-fine: a total, or each coarse class's count as a JSON object, given inline or as the
    path of a file holding one (``Discoverer``'s n_fine mapping checks the classes)."""
    if value is None:
        return None
    text = value.strip()
    if text.lstrip("+-").isdigit():
        return int(text)
    if not text.startswith(("{", "[")):
        path = Path(value)
        if not path.is_file():
            raise InputError(
                f"--n-fine must be a whole number, a JSON object of counts per coarse class "
                f'(\'{{"travel": 12, "banking": 9}}\') or a file holding one; got {value!r}, '
                "which is none of these (no such file)"
            )
        text = path.read_text(encoding="utf-8")
    try:
        counts = json.loads(text)
    except json.JSONDecodeError as err:
        raise InputError(f"--n-fine: not a JSON object of counts ({err})") from None
    if not isinstance(counts, dict):
        kind = type(counts).__name__
        raise InputError(f"--n-fine: a JSON object of counts per coarse class, got {kind}")
    return counts


def _caps(**given: int | None) -> dict[str, int | None]:
    """Training caps as the estimator takes them: left out (its default) when not given, None
    (no cap) for 0."""
    return {name: (value or None) for name, value in given.items() if value is not None}


@app.command()
def discover(
    data: Annotated[
        str,
        typer.Argument(
            help="CSV/TSV/JSONL/Parquet/.h5ad file, a folder of images ROOT/<coarse>/[<fine>/], "
            "or built-in: clinc, hwu64"
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="output folder (written atomically)")],
    text_col: Annotated[str | None, typer.Option(help="column holding the text")] = None,
    vector_cols: Annotated[
        str | None,
        typer.Option(help="numeric input columns instead of text: 'a,b,c' or patterns 'gene_*'"),
    ] = None,
    use_rep: UseRep = None,
    layer: Layer = None,
    image_col: ImageCol = None,
    image_size: Annotated[
        int, typer.Option(help="images: side in pixels they are resized and cut to")
    ] = DEFAULT_IMAGE_SIZE,
    coarse_col: Annotated[str | None, typer.Option(help="column holding the coarse label")] = None,
    coarse_from: Annotated[
        str | None,
        typer.Option(help="derive coarse labels from the fine label: 'prefix:SEP' or a JSON map"),
    ] = None,
    fine_col: Annotated[str | None, typer.Option(help="fine labels, for evaluation only")] = None,
    n_fine: Annotated[
        str | None,
        typer.Option(
            help="number of fine categories in total, or per coarse class as a JSON object "
            '(\'{"travel": 12, "banking": 9}\', every class) or a file holding one '
            "[default: estimated per class]"
        ),
    ] = None,
    k_estimator: Annotated[
        str,
        typer.Option(
            help="with --n-fine unknown: how K is estimated per coarse class ("
            + ", ".join(CRITERIA)
            + "; eigengap counts a class without a clear gap by modularity; resolution counts "
            "only groups a structureless draw of the class would not form: near on a few large "
            "categories, far under on many small ones (docs/ESTIMATE_K.md); stability, K-Means "
            "on halves of each class for every K, is the slowest)"
        ),
    ] = DEFAULT_CRITERION,
    min_category_size: Annotated[
        int | None,
        typer.Option(
            help="with --n-fine unknown: fewest rows that make a category [default: 2, the "
            "estimator decides]"
        ),
    ] = None,
    method: Annotated[str, typer.Option(help="method name (see coarse2fine.METHODS)")] = "down",
    epochs: Annotated[
        int | None, typer.Option(help="training epochs [default: the method's, per input kind]")
    ] = None,
    batch_size: Annotated[int, typer.Option(help="training batch size")] = 64,
    lr: Annotated[
        float | None,
        typer.Option(help="encoder learning rate [default: the method's, per input kind]"),
    ] = None,
    head_lr: Annotated[
        float | None,
        typer.Option(help="learning rate of the heads outside the encoder [default: the method's]"),
    ] = None,
    encoder: Annotated[
        str,
        typer.Option(
            help="'auto' (MiniLM for texts, MLP for vectors, a small CNN for images), a local "
            "text model folder, 'mlp' / 'mlp:WIDTHxDEPTH', or for images 'cnn:WIDTH' / "
            "'resnet18' / 'resnet50' (':FILE' adds weights from a local file)"
        ),
    ] = "auto",
    clustering: Annotated[
        str, typer.Option(help="'nested' (inside each coarse class) or 'global'")
    ] = "nested",
    clusterer: Annotated[
        str,
        typer.Option(
            help="'auto' (for texts averaging at most 10 rows per category ward, at most 100 "
            "umap-spectral, else K-Means), 'kmeans', 'spectral' (spectral clustering of the "
            "rows' 15-nearest-neighbour graph), 'umap-spectral' (the same on the rows' UMAP "
            "layout in 5 dimensions, refined there by K-Means, or cut by Ward linkage where "
            "those groups come out unequal) or 'ward' (agglomerative "
            "clustering with Ward linkage)"
        ),
    ] = "auto",
    max_length: Annotated[
        int | None,
        typer.Option(
            help="tokens kept per text [default: the 95th percentile of the rows' token "
            "counts, at most the encoder's limit]"
        ),
    ] = None,
    train_length: Annotated[
        int | None,
        typer.Option(
            help="tokens kept per text while training (0: all of --max-length) [default: the "
            "estimator's]"
        ),
    ] = None,
    train_rows: Annotated[
        int | None,
        typer.Option(
            help="most rows training reads, sampled inside each coarse class (0: all); every "
            "row is still assigned [default: the estimator's]"
        ),
    ] = None,
    train_layers: Annotated[
        int | None,
        typer.Option(
            help="top transformer layers of the text encoder that training updates, the rest "
            "kept as pre-trained (0: all) [default: the estimator's]"
        ),
    ] = None,
    fallback: Annotated[
        str,
        typer.Option(
            help="'on': also cluster the untrained features and keep the partition the other "
            "space's neighbours agree with more; 'off'; 'auto': on for vectors only"
        ),
    ] = "auto",
    option: Annotated[
        list[str] | None,
        typer.Option("--option", "-o", help="method option KEY=VALUE (JSON value)"),
    ] = None,
    precision: Annotated[
        str,
        typer.Option(
            help="auto: bf16 autocast where the hardware computes it natively (AMX, "
            "AVX512-BF16, a recent GPU), else fp32; or bf16 / fp32"
        ),
    ] = "auto",
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
    device: Annotated[
        str,
        typer.Option(help="cpu, cuda or cuda:N; under torchrun, cuda is each rank's own GPU"),
    ] = "cpu",
    overwrite: Annotated[bool, typer.Option(help="replace an existing --out folder")] = False,
    resume: Annotated[
        bool,
        typer.Option(
            help="continue an interrupted run of this same command from its last finished "
            "epoch (saved in OUT.checkpoint beside --out)"
        ),
    ] = False,
    quiet: Annotated[bool, typer.Option(help="no progress bars")] = False,
) -> None:
    """Learn a representation from coarse labels, cluster it, write every row's fine category.

    Training saves its state at the end of every epoch in OUT.checkpoint (removed once the
    result is written); after a kill or pre-emption, the same command with --resume continues
    from there and writes the same result as an uninterrupted run. Under torchrun
    (torchrun --nproc-per-node N -m coarse2fine discover ...) the ranks share the training and
    rank 0 writes; --batch-size is per rank."""
    from coarse2fine.checkpoint import FILE, remove_checkpoints
    from coarse2fine.discoverer import Discoverer
    from coarse2fine.distributed import is_main
    from coarse2fine.output import write_discovery

    checkpoint = out.with_name(f"{out.name}.checkpoint")
    try:
        if is_main():  # (under torchrun, rank 0 writes the outputs)
            check_output_dir(out, overwrite)  # now, not only at writing: fail before training
        if resume and not (checkpoint / FILE).is_file():
            raise InputError(f"nothing to resume: no checkpoint in {checkpoint}")
        if not resume and (checkpoint / FILE).is_file():
            raise InputError(
                f"an earlier run into {out} was interrupted; its checkpoint is in {checkpoint}: "
                f"add --resume to continue it, or delete {checkpoint} to start over"
            )
        rows = load_rows(
            data,
            text_col=text_col,
            vector_cols=vector_cols,
            coarse_col=coarse_col,
            fine_col=fine_col,
            coarse_from=coarse_from,
            use_rep=use_rep,
            layer=layer,
            image_col=image_col,
            image_size=image_size,
        )
        fine_count = _n_fine(n_fine)
        if (
            fine_count is None
            and rows.fine_classes is not None
            and data.partition(":")[0] in BUILTIN_DATASETS
        ):
            fine_count = rows.n_fine  # built-in datasets know their fine count
        est = Discoverer(
            method=method,
            n_fine=fine_count,
            encoder=encoder,
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            head_lr=head_lr,
            clustering=clustering,
            clusterer=clusterer,
            max_length=max_length,
            **_caps(train_length=train_length, train_rows=train_rows, train_layers=train_layers),
            fallback=_on_off_auto(fallback, "--fallback"),
            k_estimator=k_estimator,
            min_category_size=min_category_size,
            precision=precision,
            seed=seed,
            method_params=_parse_options(option),
            checkpoint_dir=str(checkpoint),
            device=device,
            progress=not quiet,
        )
        start = time.perf_counter()
        est.fit(rows)
        seconds = time.perf_counter() - start
        if not is_main():
            return
        h5ad = _h5ad_file(data)
        source = {
            "data": data if _builtin(data) is not None else str(Path(data).resolve()),
            "text_col": text_col,
            "vector_cols": vector_cols,
            "coarse_col": coarse_col,
            "fine_col": fine_col,
            "coarse_from": coarse_from,
            "use_rep": use_rep,
            "layer": layer,
            "image_col": image_col,
            "image_size": image_size,
        }
        summary = write_discovery(
            est,
            rows,
            out,
            overwrite=overwrite,
            seconds=seconds,
            anndata_source=h5ad,
            source=source,
        )
        remove_checkpoints(checkpoint)
    except FloatingPointError as err:
        _fail(f"training diverged ({err}); try a smaller --lr", code=1)
    except (InputError, ValueError, OSError) as err:
        _fail(str(err))
    typer.echo(summary)


@app.command()
def curate(
    run: Annotated[Path, typer.Argument(help="run folder written by discover")],
    out: Annotated[Path, typer.Option("--out", help="the curated run folder (written atomically)")],
    merge: Annotated[
        list[str] | None,
        typer.Option(help="categories to merge, one coarse class: 'travel/2,travel/5[=name]'"),
    ] = None,
    split: Annotated[
        list[str] | None, typer.Option(help="a category and its number of parts: 'work/4:2'")
    ] = None,
    rename: Annotated[
        list[str] | None, typer.Option(help="a new name for a category: 'banking/3=balance'")
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="replace an existing --out folder")] = False,
    quiet: Quiet = False,
) -> None:
    """Merge, split and rename discovered categories; writes a new run folder whose model,
    assignments, clusters and report follow the curated taxonomy (and predict uses it).

    The operations apply in this order: merges, then splits (parts get ids like work/4.1),
    then renames (which may name the new ids). The run's input is read again from where
    discover read it (run.json "source") and must be unchanged."""
    from coarse2fine.discoverer import Discoverer
    from coarse2fine.output import write_discovery

    start = time.perf_counter()
    try:
        merges = [_parse_merge(m) for m in merge or []]
        splits = [_parse_split(s) for s in split or []]
        renames = dict(_parse_pair(r, "--rename", "CATEGORY=NAME") for r in rename or [])
        if not (merges or splits or renames):
            raise InputError("nothing to curate: give --merge, --split and/or --rename")
        check_output_dir(out, overwrite)
        info, rows, labels = _run_rows(run)
        est = Discoverer.load(run / "model", progress=not quiet)
        est.labels_ = labels
        est.embedding_ = est.transform(rows)  # the tables, maps and splits read the features
        for categories, name in merges:
            est.merge(categories, name)
        for category, k in splits:
            est.split(category, k, rows=rows if rows.is_text else None)
        est.rename(renames)
        done = {
            "merge": [{"categories": c, "name": n} for c, n in merges],
            "split": [{"category": c, "k": k} for c, k in splits],
            "rename": renames,
        }
        info = {**info, "curated_from": str(run.resolve()), "curation": done}
        data = info.get("source", {}).get("data", "")
        h5ad = _h5ad_file(data)
        counts = f"{len(merges)} merge(s), {len(splits)} split(s), {len(renames)} rename(s)"
        headline = (
            f"curated {run}: {counts}; {est.n_fine_} fine categories in "
            f"{len(est.coarse_classes_)} coarse classes ({time.perf_counter() - start:.0f} s)"
        )
        summary = write_discovery(
            est,
            rows,
            out,
            overwrite=overwrite,
            seconds=0.0,
            anndata_source=h5ad,
            run=info,
            headline=headline,
        )
    except (InputError, ValueError, OSError) as err:
        _fail(str(err))
    typer.echo(summary)


def _parse_pair(text: str, option: str, form: str) -> tuple[str, str]:
    left, sep, right = text.partition("=")
    if not sep or not left.strip() or not right.strip():
        raise InputError(f"{option} takes {form}, got {text!r}")
    return left.strip(), right.strip()


def _parse_merge(text: str) -> tuple[list[str], str | None]:
    cats, _, name = text.partition("=")
    categories = [c.strip() for c in cats.split(",") if c.strip()]
    if len(categories) < 2:
        raise InputError(f"--merge takes two or more categories 'a,b[=name]', got {text!r}")
    return categories, name.strip() or None


def _parse_split(text: str) -> tuple[str, int]:
    category, sep, k = text.rpartition(":")
    if not sep or not category.strip() or not k.strip().isdigit():
        raise InputError(f"--split takes CATEGORY:K (e.g. 'work/4:2'), got {text!r}")
    return category.strip(), int(k)


def _run_rows(run: Path) -> tuple[dict, CoarseDataset, np.ndarray]:
    """A run folder's run.json, its input rows read again, and their categories; the rows must
    be the ones the run assigned (same number, same coarse labels)."""
    import pandas as pd

    for name in ("run.json", "assignments.csv", "model"):
        if not (run / name).exists():
            raise InputError(f"{run} is not a discover run folder (no {name})")
    info = json.loads((run / "run.json").read_text(encoding="utf-8"))
    source = info.get("source")
    if source is None:
        raise InputError(
            f"{run}/run.json does not say where its rows came from (written by an older "
            "coarse2fine): run discover again to curate it"
        )
    rows = load_rows(
        source["data"],
        text_col=source["text_col"],
        vector_cols=source["vector_cols"],
        coarse_col=source["coarse_col"],
        fine_col=source["fine_col"],
        coarse_from=source["coarse_from"],
        use_rep=source.get("use_rep"),
        layer=source.get("layer"),
        image_col=source.get("image_col"),
        image_size=source.get("image_size", DEFAULT_IMAGE_SIZE),
    )
    table = pd.read_csv(run / "assignments.csv", dtype={"coarse": str}, keep_default_na=False)
    same = len(table) == len(rows) and list(table["coarse"]) == [str(c) for c in rows.coarse]
    if not same:
        raise InputError(
            f"{source['data']} is not the input {run} was discovered on any more "
            f"({len(rows)} rows now, {len(table)} assigned): curate needs the same rows"
        )
    return info, rows, table["category_id"].to_numpy(dtype=np.int64)


@app.command()
def predict(
    model: ModelFolder,
    data: Annotated[
        str, typer.Argument(help="CSV/TSV/JSONL/Parquet file or folder of images: new rows")
    ],
    out: Annotated[Path, typer.Option("--out", help="CSV file to write")],
    text_col: TextCol = None,
    vector_cols: ModelVectorCols = None,
    use_rep: UseRep = None,
    layer: Layer = None,
    image_col: ImageCol = None,
    within: Annotated[
        str,
        typer.Option(
            help="which categories a row may join: all; head (those under the coarse class the "
            "model's coarse head predicts); given (those under the row's own coarse label, "
            "from --coarse-col or --coarse-from)"
        ),
    ] = "all",
    coarse_col: Annotated[
        str | None, typer.Option(help="column of the rows' coarse labels (for --within given)")
    ] = None,
    coarse_from: Annotated[
        str | None,
        typer.Option(help="derive coarse labels as in discover (for --within given)"),
    ] = None,
    chunk_rows: Annotated[
        int, typer.Option(help="rows read and assigned at a time (memory stays flat)")
    ] = CHUNK_ROWS,
    overwrite: OverwriteFile = False,
    quiet: Quiet = False,
) -> None:
    """Assign new rows (no coarse label needed) to the discovered categories."""
    from coarse2fine.discoverer import PREDICT_WITHIN
    from coarse2fine.output import write_predictions

    try:
        if within not in PREDICT_WITHIN:
            raise InputError(f"--within must be one of {', '.join(PREDICT_WITHIN)}; got {within!r}")
        given = within == "given"
        if not given and (coarse_col is not None or coarse_from is not None):
            raise InputError("--coarse-col / --coarse-from are read only with --within given")
        est, rows = _model_and_rows(
            model, data, out, overwrite, quiet, text_col, vector_cols, chunk_rows,
            coarse_col=coarse_col, coarse_from=coarse_from, need_coarse=given,
            use_rep=use_rep, layer=layer, image_col=image_col,
        )  # fmt: skip
        count = write_predictions(est, rows, out, overwrite=overwrite, within=within)
    except (InputError, ValueError, OSError) as err:
        _fail(str(err))
    typer.echo(f"wrote {count} predictions to {out}")


def _model_and_rows(
    model: Path,
    data: str,
    out: Path,
    overwrite: bool,
    quiet: bool,
    text_col: str | None,
    vector_cols: str | None,
    chunk_rows: int,
    *,
    coarse_col: str | None = None,
    coarse_from: str | None = None,
    need_coarse: bool = False,
    use_rep: str | None = None,
    layer: str | None = None,
    image_col: str | None = None,
):
    """What predict and embed start from: --out checked, the model loaded, the rows streamed."""
    from coarse2fine.discoverer import Discoverer

    check_output_file(out, overwrite)
    est = Discoverer.load(model, progress=not quiet)
    table = _h5ad_file(data) is None and not Path(data).is_dir() and image_col is None
    rows = stream_rows(
        data,
        text_col="text" if table and text_col is None and vector_cols is None else text_col,
        vector_cols=vector_cols,
        coarse_col=coarse_col,
        coarse_from=coarse_from,
        need_coarse=need_coarse,
        chunk_rows=chunk_rows,
        use_rep=use_rep,
        layer=layer,
        image_col=image_col,
        image_size=getattr(est.method_.encoder, "size", DEFAULT_IMAGE_SIZE),  # as at fit
    )
    return est, rows


@app.command()
def embed(
    model: ModelFolder,
    data: Annotated[str, typer.Argument(help="CSV/TSV/JSONL/Parquet file or folder of images")],
    out: Annotated[Path, typer.Option("--out", help="Parquet file to write")],
    text_col: TextCol = None,
    vector_cols: ModelVectorCols = None,
    use_rep: UseRep = None,
    layer: Layer = None,
    image_col: ImageCol = None,
    chunk_rows: Annotated[int, typer.Option(help="rows read and encoded at a time")] = CHUNK_ROWS,
    overwrite: OverwriteFile = False,
    quiet: Quiet = False,
) -> None:
    """Write the rows' learned features (the ones discover clusters) to Parquet: a column
    ``row`` (the row's number in DATA) and f0..f{d-1}, to cluster or plot elsewhere."""
    from coarse2fine.output import write_features

    try:
        est, rows = _model_and_rows(
            model,
            data,
            out,
            overwrite,
            quiet,
            text_col,
            vector_cols,
            chunk_rows,
            use_rep=use_rep,
            layer=layer,
            image_col=image_col,
        )
        count = write_features(est, rows, out, overwrite=overwrite)
    except (InputError, ValueError, OSError) as err:
        _fail(str(err))
    typer.echo(f"wrote the features of {count} rows to {out}")


@app.command()
def report(
    run: Annotated[Path, typer.Argument(help="output folder written by discover")],
    coarse: Annotated[
        str | None, typer.Option(help="coarse class to map by category [default: the largest]")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="HTML file [default: RUN/report.html]")] = None,
) -> None:
    """Write a self-contained HTML page: the tree with names, scores, heatmap, maps, curves."""
    from coarse2fine.report import write_report

    try:
        path = write_report(run, coarse=coarse, out=out)
    except (InputError, ValueError, OSError) as err:
        _fail(str(err))
    typer.echo(f"wrote {path}")


@app.command()
def evaluate(
    assignments: Annotated[Path, typer.Argument(help="assignments.csv with a fine label column")],
    fine_col: Annotated[str, typer.Option(help="column with the true fine labels")] = "fine",
    pred_col: Annotated[
        str, typer.Option(help="column with the discovered categories")
    ] = "category",
    by_coarse: Annotated[
        bool,
        typer.Option(
            "--by-coarse",
            help="also score each coarse class: its rows, true and found categories, ACC",
        ),
    ] = False,
    coarse_col: Annotated[
        str, typer.Option(help="column with the coarse classes (for --by-coarse)")
    ] = "coarse",
    features: Annotated[
        Path | None,
        typer.Option(
            help="with --by-coarse: the rows' features (Parquet from `coarse2fine embed`); adds "
            "per class how many true categories they keep apart"
        ),
    ] = None,
) -> None:
    """Score discovered categories against known fine labels: ACC, ARI, NMI (x100). Rows with
    a blank fine label are left out (and counted on stderr). ``--by-coarse`` adds, per coarse
    class, how many categories it holds and how many were found in it (where an estimated
    count fell short or over) and the ACC inside it; with ``--features`` (what ``coarse2fine
    embed`` wrote for the same data) also how many of its categories those features keep apart
    (``metrics.separable_categories``): a count short of that is the estimate's to raise, a
    shortfall below it the representation's."""
    from coarse2fine.metrics import clustering_scores, scores_by_coarse
    from coarse2fine.output import rounded_by_coarse

    try:
        if assignments.is_dir():
            raise InputError(
                f"{assignments} is a folder; give the file: {assignments / 'assignments.csv'}"
            )
        if not assignments.is_file():
            raise InputError(f"{assignments}: no such file")
        table = _read_assignments(assignments)
        for col in (fine_col, pred_col, *([coarse_col] if by_coarse else [])):
            if col not in table.columns:
                raise InputError(
                    f"{assignments}: no column {col!r} (columns: {', '.join(table.columns)})"
                )
        labelled = table[fine_col].str.strip() != ""  # a blank fine label is unknown, no class
        if not labelled.any():
            raise InputError(f"{assignments}: column {fine_col!r} holds no fine label")
        scored = table[labelled]
        truth, found = scored[fine_col].to_numpy(), scored[pred_col].to_numpy()
        result: dict = {k: round(v, 2) for k, v in clustering_scores(truth, found).items()}
        if features is not None and not by_coarse:
            raise InputError("--features scores each coarse class: add --by-coarse")
        if by_coarse:
            rows = None if features is None else _features_of(features, scored)
            per_class = scores_by_coarse(truth, found, scored[coarse_col].to_numpy(), rows)
            result["by_coarse"] = rounded_by_coarse(per_class)
    except (InputError, ValueError, OSError) as err:
        _fail(str(err))
    if not labelled.all():
        typer.echo(
            f"scored the {labelled.sum()} of {len(table)} rows that carry a fine label", err=True
        )
    typer.echo(json.dumps(result))


def _features_of(path: Path, table) -> np.ndarray:
    """The features of ``table``'s rows (matched by its ``row`` column) from a Parquet file with a
    ``row`` column and numeric feature columns, as ``coarse2fine embed`` writes it."""
    import pyarrow.parquet as pq

    if not path.is_file():
        raise InputError(f"--features {path}: no such file")
    if "row" not in table.columns:
        raise InputError("--features matches rows by the assignments' 'row' column; it has none")
    try:
        frame = pq.read_table(path).to_pandas()
    except Exception as err:  # pyarrow raises several kinds for a file that is not Parquet
        raise InputError(f"--features {path}: not a Parquet file ({err})") from None
    if "row" not in frame.columns:
        raise InputError(
            f"--features {path}: no column 'row'; give the file `coarse2fine embed` wrote"
        )
    values = frame.drop(columns="row")
    if values.shape[1] == 0 or not all(np.issubdtype(t, np.number) for t in values.dtypes):
        raise InputError(f"--features {path}: every column but 'row' must hold numbers")
    position = dict(zip(frame["row"].astype(int).tolist(), range(len(frame)), strict=True))
    wanted = table["row"].astype(int).tolist()
    missing = [r for r in wanted if r not in position]
    if missing:
        shown = ", ".join(map(str, missing[:5])) + (", ..." if len(missing) > 5 else "")
        raise InputError(
            f"--features {path}: {len(missing)} of the assignments' rows have no features "
            f"(rows {shown}); embed the same data the run discovered"
        )
    return values.to_numpy(dtype=np.float32)[[position[r] for r in wanted]]


def _read_assignments(path: Path):
    """The table as written, every cell a string; one line for a file pandas cannot parse."""
    import pandas as pd

    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    except UnicodeDecodeError:
        raise InputError(
            f"{path}: the file is not valid UTF-8; give the assignments.csv that discover wrote"
        ) from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else "empty"
        raise InputError(f"{path}: not a CSV table ({first})") from None


def _parse_options(options: list[str] | None) -> dict:
    """--option gamma2=0.1 --option denominator=separate -> {"gamma2": 0.1, ...}."""
    parsed = {}
    for item in options or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InputError(f"--option must look like KEY=VALUE, got {item!r}")
        try:
            parsed[key] = json.loads(value)
        except json.JSONDecodeError:
            parsed[key] = value
    return parsed


def _terminate(signum, frame) -> None:
    """SIGTERM (a job scheduler, ``kill``) ends the run like Ctrl-C: the exception unwinds
    through the atomic writers, which remove their temporary folders and keep an old result."""
    raise SystemExit(128 + signum)


def main() -> None:  # pragma: no cover - console entry point
    signal.signal(signal.SIGTERM, _terminate)
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

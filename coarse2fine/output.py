"""What ``discover`` and ``predict`` write: assignments, clusters, metrics, model, summary."""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from coarse2fine.cluster.estimate_k import NEIGHBOURS
from coarse2fine.data.dataset import CoarseDataset
from coarse2fine.data.h5ad import annotate, read_anndata, write_h5ad
from coarse2fine.discoverer import Discoverer
from coarse2fine.distributed import world_size
from coarse2fine.io import atomic_dir, atomic_file, check_output_file
from coarse2fine.metrics import (
    clustering_scores,
    coarse_accuracy,
    hierarchy_edit_distance,
    scores_by_coarse,
    true_parents,
)
from coarse2fine.report.html import how_counted, second_reading
from coarse2fine.report.maps import feature_maps

N_EXAMPLES = 5


def shown_rows(data) -> tuple[str, list[str]] | None:
    """What shows a row to a reader, as (column name, one value per row): its text, or its
    image's path; None for vectors (their row number is all there is)."""
    if data.is_text:
        return "text", data.texts
    if data.is_image and data.image_paths is not None:
        return "path", data.image_paths
    return None


def row_source(data) -> dict:
    """The assignments' column that shows what each row was (none for vectors)."""
    shown = shown_rows(data)
    return {} if shown is None else {shown[0]: shown[1]}


def cluster_table(est: Discoverer, data: CoarseDataset, n_examples: int = N_EXAMPLES) -> dict:
    """The discovered tree: per coarse class its categories (name, size, the rows nearest the
    centre, every row's number), and under each category the method's finer nodes when it
    builds some (HCSC's finest prototypes, CD's feature heads), with their rows."""
    labels, features = est.labels_, est.embedding_
    finer = getattr(est, "finer_labels_", None)  # the method's own finer nodes, if it has some
    tree: dict[str, list[dict]] = {c: [] for c in est.coarse_classes_}
    shown = shown_rows(data)  # the examples: texts, images' paths, or vectors' row numbers
    for k, (name, parent) in enumerate(zip(est.categories_, est.cluster_parents_, strict=True)):
        members = np.flatnonzero(labels == k)
        closeness = features[members] @ category_centre(est, features, members, k)
        nearest = members[np.argsort(-closeness, kind="stable")[:n_examples]]
        entry = {
            "category": name,
            "id": k,
            "name": est.category_names_[k],
            "size": int(len(members)),
            "examples": (  # the rows nearest the centre
                [int(r) for r in data.row_ids[nearest]]
                if shown is None
                else [shown[1][i] for i in nearest]
            ),
            "rows": [int(r) for r in data.row_ids[members]],
        }
        if finer is not None:
            groups, counts = np.unique(finer[members], return_counts=True)
            entry["children"] = [
                {
                    "group": int(g),
                    "size": int(n),
                    "rows": [int(r) for r in data.row_ids[members[finer[members] == g]]],
                }
                for g, n in sorted(zip(groups, counts, strict=True), key=lambda t: -t[1])
            ]
        if data.fine is not None and len(members):
            values, counts = np.unique(data.fine[members], return_counts=True)
            entry["majority_fine_label"] = str(values[counts.argmax()])
            entry["purity"] = round(100.0 * counts.max() / len(members), 2)
        tree[parent].append(entry)
    return {
        "method": est.method,
        "n_fine": est.n_fine_,
        # how many categories were estimated per coarse class (None: the count was given)
        "estimated_counts": getattr(est, "estimated_counts_", None),
        # with an estimate: the criterion, the features it read, and per coarse class the
        # estimate, its plausible range (80 % subsamples) and the criterion's curve over K; for
        # DNA and DOWN, "training": the categories first counted, and the neighbours they set
        "estimate": getattr(est, "k_estimate_", None),
        "coarse": [
            {"coarse": c, "size": int(sum(e["size"] for e in cats)), "categories": cats}
            for c, cats in tree.items()
        ],
    }


def category_centre(est: Discoverer, features: np.ndarray, members: np.ndarray, k: int):
    """Category ``k``'s centre: the fit's, or for a curated taxonomy (merged or split
    categories) the unit-length mean of its rows' features."""
    if getattr(est, "curation_", None) is None:
        return est.cluster_centers_[k]
    if not len(members):
        return np.zeros(features.shape[1], dtype=features.dtype)
    centre = features[members].mean(0)
    return centre / max(float(np.linalg.norm(centre)), 1e-12)


def discovery_metrics(est: Discoverer, data: CoarseDataset) -> dict | None:
    """ACC / ARI / NMI of the categories against fine labels, and coarse accuracies (x100).

    coarse_head_accuracy: the method's coarse classifier on these rows (methods with a head).
    coarse_accuracy (global clustering only): each category's majority coarse class against the
    rows' coarse labels; nested clustering satisfies it by construction, so it is left out.
    """
    if data.fine is None:
        return None
    scores = clustering_scores(data.fine, est.labels_)
    if est.clustering == "global":
        implied = np.asarray(est.cluster_parents_, dtype=object)[est.labels_]
        scores["coarse_accuracy"] = coarse_accuracy(data.coarse, implied)
    # the inferred coarse -> fine tree against the true one (0: same number of fine categories
    # under every coarse class; see metrics.hierarchy_edit_distance)
    scores["hierarchy_edit_distance"] = hierarchy_edit_distance(
        est.cluster_parents_, true_parents(data.fine, data.coarse)
    )
    head = est.predict_coarse(data)
    if head is not None:
        scores["coarse_head_accuracy"] = coarse_accuracy(data.coarse, head)
    scores = {k: v if isinstance(v, int) else round(float(v), 2) for k, v in scores.items()}
    scores.update(rows=len(data), n_fine_true=data.n_fine, n_fine_found=est.n_fine_)
    scores["by_coarse"] = coarse_class_scores(est, data)
    return scores


SEPARABLE_MAX_ROWS = 10_000  # the largest class whose separable count is worked out (quadratic)
CHOOSE_INLINE = 300  # the summary spells out estimated counts as --n-fine JSON up to this length


def coarse_class_scores(est: Discoverer, data: CoarseDataset) -> dict[str, dict]:
    """Per coarse class: rows, the true and the found number of categories, ACC inside it, and
    how many of its true categories the clustered features keep apart
    (``metrics.scores_by_coarse``; left out for a class over SEPARABLE_MAX_ROWS rows)."""
    return rounded_by_coarse(
        scores_by_coarse(data.fine, est.labels_, data.coarse, est.embedding_, SEPARABLE_MAX_ROWS)
    )


def rounded_by_coarse(per_class: dict) -> dict[str, dict]:
    """``metrics.scores_by_coarse`` as JSON writes it: classes as text, scores to 2 decimals."""
    return {
        str(c): {k: v if isinstance(v, int) else round(float(v), 2) for k, v in row.items()}
        for c, row in per_class.items()
    }


def category_count(n: int) -> str:
    return f"{n} category" if n == 1 else f"{n} categories"


def summary_text(
    est: Discoverer,
    tree: dict,
    metrics: dict | None,
    out: Path,
    seconds: float,
    width: int = 100,
    written: Sequence[str] = (),
    headline: str | None = None,
) -> str:
    """What ``discover`` prints: a headline, one table per coarse class (category, name, size),
    the scores when fine labels exist, and where everything was written. ``headline``
    replaces the first line (``curate`` says what it changed)."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    console = Console(
        file=io.StringIO(), width=width, color_system=None, highlight=False, soft_wrap=True
    )
    estimated = " (number estimated)" if getattr(est, "estimated_counts_", None) else ""
    console.print(
        headline
        or f"discovered {est.n_fine_} fine categories in {len(est.coarse_classes_)} coarse "
        f"classes{estimated} ({est.method}, {seconds:.0f} s)"
    )
    chosen = getattr(est, "representation_", None)
    if chosen is not None:
        scores = chosen["agreement"]
        console.print(
            f"kept the {chosen['chosen']} features (fallback: the other space's neighbours agree "
            f"with the trained categories {scores['trained']:.1f} %, with the untrained ones "
            f"{scores['untrained']:.1f} %)"
        )
    estimate = tree.get("estimate")
    if estimate is not None:
        wide = estimate.get("neighbours", NEIGHBOURS)  # clusters.json before it was recorded
        graph = (
            f" (a {wide}-neighbour graph: training pulled each row's neighbours together)"
            if wide > NEIGHBOURS
            else ""
        )
        console.print(
            f"number of categories estimated per coarse class by {estimate['criterion']} on the "
            f"{estimate['features']} features{graph}; plausible range from 80 % subsamples"
        )
        counts = getattr(est, "estimated_counts_", None)
        if counts:
            given = json.dumps({str(c): int(k) for c, k in counts.items()}, ensure_ascii=False)
            console.print(
                "to choose the counts yourself, run again with "
                + (
                    f"--n-fine '{given}' (edited)"
                    if len(given) <= CHOOSE_INLINE and "'" not in given  # one shell word
                    else "--n-fine FILE, FILE a copy of clusters.json's estimated_counts, edited"
                ),
                markup=False,
            )
        if any(got.get("second") for got in estimate["classes"].values()):
            line = (
                "a class without a clear eigengap is read twice: modularity comes near the "
                "truth where it holds many small categories (tens of rows each), the noise's "
                "resolution where it holds a few large ones (a hundred rows or more)"
            )
            scale = estimate.get("scale")  # clusters.json before it was recorded has none
            if scale:
                line += f"; the classes with a clear eigengap hold ~{scale:.0f} rows a category"
                how = {"median": " (their median)", "pooled": " (pooled)"}
                line += how.get(estimate.get("scale_by"), "")  # not recorded before 2026-12-07
                if estimate.get("by_scale"):
                    line += ", and each class read twice takes the reading nearer that"
            console.print(line)
        if "training" in estimate:
            first = estimate["training"]
            console.print(
                f"training: {first['categories']} categories counted at the first neighbour "
                f"search set {first['neighbours']} neighbours per row"
            )
    for node in tree["coarse"]:
        span = ""
        if estimate is not None:
            got = estimate["classes"][node["coarse"]]
            where = how_counted(got, estimate["criterion"], why=True)
            near = got.get("rivals", [])  # clusters.json before they were recorded has none
            also = f"; nearly as likely: {', '.join(map(str, near))}" if near else ""
            also += second_reading(got, node["size"])
            span = f" (estimated{where}; plausible {got['low']}-{got['high']}{also})"
        held = category_count(len(node["categories"]))
        table = Table(
            title=f"{node['coarse']}: {node['size']} rows, {held}" + span,
            title_justify="left",
            box=box.SIMPLE_HEAD,
            pad_edge=False,
        )
        table.add_column("category", no_wrap=True)
        table.add_column("name", overflow="fold")
        table.add_column("size", justify="right")
        for cat in node["categories"]:
            table.add_row(cat["category"], cat["name"], str(cat["size"]))
        console.print(table)
    if metrics:
        shown = ("ACC", "ARI", "NMI", "coarse_accuracy", "coarse_head_accuracy")
        console.print(
            "against the fine labels: "
            + ", ".join(f"{k} {metrics[k]:.2f}" for k in shown if k in metrics)
        )
        distance = metrics["hierarchy_edit_distance"]
        console.print(f"edit distance of the discovered tree to the true one: {distance}")
        short = [
            f"{c} ({row['found']} found, {row['separable']} kept apart)"
            for c, row in metrics.get("by_coarse", {}).items()
            if row["found"] < row.get("separable", 0)
        ]
        if estimated and short:  # a count the estimate could raise from its curve
            console.print(
                "estimated fewer categories than the features keep apart by the fine labels in: "
                + ", ".join(short)
            )
    also = "".join(f", {name}" for name in written)
    console.print(f"wrote {out}/assignments.csv, clusters.json, map.csv{also}, model/")
    console.print(f"read it as a page: coarse2fine report {out}")
    return console.file.getvalue().rstrip()


def write_discovery(
    est: Discoverer,
    data: CoarseDataset,
    out: str | Path,
    *,
    overwrite: bool = False,
    seconds: float,
    anndata_source: Path | None = None,
    source: dict | None = None,
    run: dict | None = None,
    headline: str | None = None,
) -> str:
    """Write the whole result folder atomically; return the printed summary. With
    ``anndata_source`` (the .h5ad the rows came from), the folder also holds a copy of that
    AnnData annotated with the categories (``coarse2fine.data.h5ad.annotate``), same name.
    ``source``: where the rows came from (file and columns; ``coarse2fine curate`` reads them
    again), kept in run.json; ``run``: run.json's content given whole (a curated run keeps its
    source run's, plus what was curated)."""
    out = Path(out)
    tree = cluster_table(est, data)
    metrics = discovery_metrics(est, data)
    maps = feature_maps(est.embedding_, data.coarse_ids, seed=est.seed)  # for the report
    with atomic_dir(out, overwrite=overwrite) as tmp:
        frame = pd.DataFrame(
            {
                "row": data.row_ids,
                **row_source(data),
                "coarse": data.coarse,
                "category": [est.categories_[k] for k in est.labels_],
                "name": [est.category_names_[k] for k in est.labels_],
                "category_id": est.labels_,
            }
        )
        if data.fine is not None:
            frame["fine"] = data.fine
        frame.to_csv(tmp / "assignments.csv", index=False)
        if anndata_source is not None:  # the input file itself is never written
            adata = annotate(read_anndata(anndata_source), est, metrics=metrics)
            write_h5ad(adata, tmp / Path(anndata_source).name)
        (tmp / "clusters.json").write_text(json.dumps(tree, indent=2, ensure_ascii=False) + "\n")
        if metrics is not None:
            (tmp / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
        if run is None:
            run = run_record(est, seconds)
            if source is not None:
                run["source"] = source
        (tmp / "run.json").write_text(json.dumps(run, indent=2) + "\n")
        maps.to_csv(tmp / "map.csv", index=False, float_format="%.4g")
        est.save(tmp / "model")
    h5ad = [] if anndata_source is None else [Path(anndata_source).name]
    return summary_text(est, tree, metrics, out, seconds, written=h5ad, headline=headline)


def run_record(est: Discoverer, seconds: float) -> dict:
    """run.json: the settings, the training history and what ran."""
    run = {"params": est.get_params(), "history": est.history_, "seconds": round(seconds, 1)}
    if getattr(est, "max_length_", None) is not None:  # texts: the tokens kept per row
        run["max_length"] = est.max_length_
    run["train_rows"] = est.train_rows_
    run["precision"] = est.train_config_.precision  # what ran ("auto" resolved)
    run["ranks"] = world_size()  # torchrun's processes; the global batch is batch_size x it
    if getattr(est, "representation_", None) is not None:  # the fallback's comparison
        run["representation"] = est.representation_
    if getattr(est, "train_length_", None) is not None:
        run["train_length"] = est.train_length_
    return run


def _pieces(data: CoarseDataset | Iterable[CoarseDataset]) -> Iterable[CoarseDataset]:
    """One dataset as a single piece, or the pieces ``iter_table`` yields."""
    return [data] if isinstance(data, CoarseDataset) else data


def write_predictions(
    est: Discoverer,
    data: CoarseDataset | Iterable[CoarseDataset],
    out: str | Path,
    *,
    overwrite: bool = False,
    within: str = "all",
) -> int:
    """Assign the rows and write one CSV line per row; ``data`` may be an iterable of pieces
    (``iter_table``), predicted and written one at a time so memory stays flat in the number
    of rows. The file appears only when every piece is written. Returns the number of rows."""
    out = Path(out)
    check_output_file(out, overwrite)
    rows = 0
    with atomic_file(out) as fh:
        for piece in _pieces(data):
            ids = est.predict(piece, within=within)
            frame = pd.DataFrame(
                {
                    "row": piece.row_ids,
                    **row_source(piece),
                    "category": [est.categories_[k] for k in ids],
                    "category_id": ids,
                    "coarse": [est.cluster_parents_[k] for k in ids],
                }
            )
            fh.write(frame.to_csv(index=False, header=rows == 0))
            rows += len(piece)
    return rows


def write_features(
    est: Discoverer,
    data: CoarseDataset | Iterable[CoarseDataset],
    out: str | Path,
    *,
    overwrite: bool = False,
) -> int:
    """The rows' features as Parquet (``row``, then ``f0``..``f{d-1}`` as float32), written
    piece by piece as ``write_predictions`` does. Returns the number of rows."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = Path(out)
    check_output_file(out, overwrite)
    rows, writer = 0, None
    with atomic_file(out, "wb") as fh:
        try:
            for piece in _pieces(data):
                features = np.asarray(est.transform(piece), dtype=np.float32)
                columns = {"row": pa.array(np.asarray(piece.row_ids, dtype=np.int64))}
                columns.update(
                    {f"f{j}": pa.array(features[:, j]) for j in range(features.shape[1])}
                )
                table = pa.table(columns)
                if writer is None:
                    writer = pq.ParquetWriter(fh, table.schema)
                writer.write_table(table)
                rows += len(piece)
        finally:
            if writer is not None:
                writer.close()
    return rows

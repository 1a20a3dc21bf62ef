"""How each system of bench/peers.py runs on a dataset's rows: the package (``discover``, its
untrained encoder) and the peers a user would pick instead (BERTopic inside each coarse class,
PCA + K-Means, scanpy's leiden restricted to each coarse class). Each takes the rows, the row's
settings and a seed, and returns the labels (one set per clustering variant) and extras."""

from __future__ import annotations

import numpy as np
from sources import true_counts

# the clusterings of a trained system's features that a row reports unless it names its own
CLUSTERERS = ("kmeans", "spectral")


def per_coarse(data, found, silhouettes: dict[str, float]) -> dict[str, dict[str, float]]:
    """Inside each coarse class: its rows, ACC of the found categories against the fine labels,
    and the label-free silhouette (to test the signal class by class)."""
    from coarse2fine.metrics import cluster_acc

    coarse = np.asarray(data.coarse).astype(str)
    fine, found = np.asarray(data.fine), np.asarray(found)
    out = {}
    for c in np.unique(coarse):
        rows = coarse == c
        acc = float(cluster_acc(fine[rows], found[rows]))
        out[str(c)] = {"rows": int(rows.sum()), "ACC": round(acc, 3)}
        if c in silhouettes:
            out[str(c)]["silhouette"] = silhouettes[c]
    return out


def run_discover(data, spec, seed):
    """The estimator (its defaults, or the row's parameters), then each clusterer on the same
    learned features: the clustering step costs well under a second of the total."""
    from coarse2fine import Discoverer
    from coarse2fine.cluster import discover
    from coarse2fine.metrics import silhouette_by_coarse, within_coarse_silhouette

    given = {"n_fine": true_counts(data), "seed": seed, "progress": False}
    est = Discoverer(**{**given, **spec["params"]})  # a row may leave K out: {"n_fine": None}
    est.fit(data)
    labels = {est.clusterer_: est.labels_}
    counts = np.array([est.cluster_parents_.count(c) for c in est.coarse_classes_])
    for clusterer in spec.get("clusterers", CLUSTERERS):
        if clusterer not in labels:
            found = discover(
                est.embedding_,
                est.n_fine_,
                coarse=np.asarray(data.coarse_ids),
                counts=counts,
                seed=seed,
                clusterer=clusterer,
            )
            labels[clusterer] = found.labels
    extra = {"max_length": getattr(est, "max_length_", None), "method": est.method}
    extra["train_rows"] = est.train_rows_
    extra["features"] = est.embedding_
    extra["silhouette"] = {}
    for variant, found in labels.items():
        by_coarse = silhouette_by_coarse(est.embedding_, found, np.asarray(data.coarse))
        extra["silhouette"][variant] = {
            "all": round(within_coarse_silhouette(est.embedding_, found, data.coarse), 3),
            "by_coarse": {str(c): round(s, 3) for c, (_, s) in by_coarse.items()},
        }
    extra["history"] = [
        {k: v for k, v in h.items() if k != "curve"} for h in getattr(est, "history_", [])
    ]
    return labels, extra


def untrained(data, spec, seed):
    return run_discover(data, {**spec, "params": {"method": "unsupervised"}}, seed)


def nested(data, features, seed, cluster):
    """Labels from ``cluster(rows_features, k_c)`` run inside each coarse class."""
    counts = true_counts(data)
    coarse = np.asarray(data.coarse).astype(str)
    labels = np.empty(len(data), dtype=object)
    for c in np.unique(coarse):
        rows = np.flatnonzero(coarse == c)
        found = cluster(rows, features[rows], counts[c])
        labels[rows] = [f"{c}/{k}" for k in found]
    return labels.astype(str)


def bertopic(data, spec, seed):
    from bertopic import BERTopic
    from sklearn.cluster import KMeans
    from umap import UMAP

    from coarse2fine import Discoverer

    untrained = Discoverer("unsupervised", n_fine=true_counts(data), seed=seed, progress=False)
    embeddings = untrained.fit(data).embedding_  # the same MiniLM features as "untrained"
    texts = np.asarray(data.texts, dtype=object)

    def cluster(rows, features, k):
        n = len(rows)
        umap = UMAP(
            n_neighbors=min(15, n - 1),
            n_components=min(5, n - 2),
            min_dist=0.0,
            metric="cosine",
            random_state=seed,
        )
        if spec["clusterer"] == "hdbscan" and n <= 10:  # too few rows for one HDBSCAN cluster:
            return np.zeros(n, dtype=np.int64)  # all outliers, reduced to one topic
        if spec["clusterer"] == "kmeans":
            clusterer = KMeans(n_clusters=k, n_init=10, random_state=seed)
        else:
            from hdbscan import HDBSCAN

            clusterer = HDBSCAN(min_cluster_size=10, metric="euclidean", prediction_data=True)
        model = BERTopic(umap_model=umap, hdbscan_model=clusterer, calculate_probabilities=False)
        docs = list(texts[rows])
        topics, _ = model.fit_transform(docs, embeddings=features)
        if spec["clusterer"] == "hdbscan" and -1 in topics and len(set(topics)) > 1:
            topics = model.reduce_outliers(docs, topics, strategy="embeddings", embeddings=features)
        return topics

    return nested(data, embeddings, seed, cluster), {}


def pca_coordinates(vectors, components: int, seed: int) -> np.ndarray:
    """The PCA peer's view of vectors: standardised, then their leading principal components."""
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    x = StandardScaler().fit_transform(vectors)
    return PCA(n_components=min(components, *x.shape), random_state=seed).fit_transform(x)


def kmeans_in_classes(data, features, seed: int) -> np.ndarray:
    """scikit-learn's K-Means (n_init 10) with K_c inside each coarse class, as the peer runs it."""
    from sklearn.cluster import KMeans

    def cluster(rows, x, k):
        return KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(x)

    return nested(data, features, seed, cluster)


def pca_kmeans(data, spec, seed):
    features = pca_coordinates(data.vectors, spec["components"], seed)
    return kmeans_in_classes(data, features, seed), {}


def leiden(data, spec, seed):
    import anndata
    import scanpy as sc

    adata = anndata.AnnData(np.asarray(data.vectors, dtype=np.float32))
    adata.obs["coarse"] = np.asarray(data.coarse).astype(str)
    adata.obs["coarse"] = adata.obs["coarse"].astype("category")
    sc.pp.pca(adata, random_state=seed)
    sc.pp.neighbors(adata, random_state=seed)
    categories = list(adata.obs["coarse"].cat.categories)
    sc.tl.leiden(
        adata,
        resolution=spec["resolution"],
        restrict_to=("coarse", categories),
        random_state=seed,
        key_added="fine",
        flavor="igraph",
        n_iterations=2,
    )
    return adata.obs["fine"].astype(str).to_numpy(), {}


SYSTEMS = {
    "discover": run_discover,
    "untrained": untrained,
    "bertopic": bertopic,
    "pca-kmeans": pca_kmeans,
    "leiden": leiden,
}

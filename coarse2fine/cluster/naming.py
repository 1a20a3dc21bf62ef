"""Short descriptive names for discovered categories, distinctive against their coarse siblings.

Texts: class-based TF-IDF (c-TF-IDF, as BERTopic popularised it). The rows of each category form
one document; inside a coarse class, a term's weight in category k is
    tf(t, k) * log(1 + A / f(t)),
tf the term's share of k's words, f(t) its count over the sibling categories and A their mean
number of words. A term frequent in k but rare among its siblings names k; a term common to the
whole coarse class ("card" under banking) does not. Uni- and bigrams, English stop words removed.

Vectors: the features whose mean in the category stands furthest above its siblings' mean, in
units of their standard deviation, written "NAME+" (for cells: the marker genes).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

N_TERMS = 3
SEPARATOR = " / "


def _c_tf_idf(documents: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(weights: categories x terms, terms) for one coarse class's category documents."""
    from sklearn.feature_extraction.text import CountVectorizer

    vectorizer = CountVectorizer(
        stop_words="english",
        ngram_range=(1, 2),
        token_pattern=r"(?u)\b[^\W\d_][^\W\d_]+\b",  # words of 2+ letters, no digits
    )
    try:
        counts = vectorizer.fit_transform(documents).toarray().astype(np.float64)
    except ValueError:  # nothing but stop words and digits
        return np.zeros((len(documents), 0)), np.array([], dtype=object)
    words = counts.sum(1, keepdims=True)
    tf = counts / np.maximum(words, 1.0)
    average = words.mean()
    idf = np.log(1.0 + average / np.maximum(counts.sum(0), 1.0))
    return tf * idf, vectorizer.get_feature_names_out()


def _stems(term: str) -> set[str]:
    """A term's words without a plural s, so "alarm" and "alarms" count as one word."""
    return {
        w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w
        for w in term.split()
    }


def _pick_terms(weights: np.ndarray, terms: np.ndarray, n_terms: int) -> list[str]:
    """The best terms, skipping one whose words (up to a plural s) a chosen term already has."""
    chosen: list[str] = []
    for i in np.argsort(-weights, kind="stable"):
        if weights[i] <= 0 or len(chosen) == n_terms:
            break
        term = str(terms[i])
        if any(_stems(term) & _stems(c) for c in chosen):
            continue
        chosen.append(term)
    return chosen


def text_names(
    texts: Sequence[str],
    labels: np.ndarray,
    parents: Sequence[int],
    n_terms: int = N_TERMS,
) -> list[str]:
    """One name per category (index = category id) from its rows' texts."""
    labels = np.asarray(labels)
    parents = np.asarray(parents)
    names = ["(empty)"] * len(parents)
    for parent in np.unique(parents):
        cats = np.flatnonzero(parents == parent)
        documents = [" ".join(texts[i] for i in np.flatnonzero(labels == k)) for k in cats]
        weights, terms = _c_tf_idf(documents)
        for row, k in enumerate(cats):
            if not documents[row]:
                continue
            picked = _pick_terms(weights[row], terms, n_terms) if len(terms) else []
            names[k] = SEPARATOR.join(picked) if picked else f"category {k + 1}"
    return names


def vector_names(
    vectors: np.ndarray,
    labels: np.ndarray,
    parents: Sequence[int],
    feature_names: Sequence[str] | None = None,
    n_terms: int = N_TERMS,
) -> list[str]:
    """One name per category from the features most raised against its coarse siblings (or
    against all other rows when it is its coarse class's only category)."""
    vectors = np.asarray(vectors, dtype=np.float64)
    labels = np.asarray(labels)
    parents = np.asarray(parents)
    if feature_names is None:
        feature_names = [f"x{j}" for j in range(vectors.shape[1])]
    parent_of_row = parents[labels]
    names = ["(empty)"] * len(parents)
    for k, parent in enumerate(parents):
        inside = labels == k
        if not inside.any():
            continue
        others = (parent_of_row == parent) & ~inside
        if not others.any():
            others = ~inside
        if not others.any():
            names[k] = "all rows"
            continue
        spread = vectors[others | inside].std(0)
        lift = (vectors[inside].mean(0) - vectors[others].mean(0)) / np.maximum(spread, 1e-12)
        top = [j for j in np.argsort(-lift, kind="stable")[:n_terms] if lift[j] > 0]
        names[k] = SEPARATOR.join(f"{feature_names[j]}+" for j in top) or f"category {k + 1}"
    return names


def image_names(
    paths: Sequence[str] | None, labels: np.ndarray, parents: Sequence[int]
) -> list[str]:
    """One name per image category from the words of its files' names (folders left out: a
    fine-class folder is an evaluation label), as ``text_names`` weighs them; "category k"
    where the file names carry no words (img_0001.png)."""
    if paths is None:
        return [f"category {k + 1}" for k in range(len(parents))]
    words = [re.sub(r"[^A-Za-z]+", " ", Path(p).stem).strip() or "image" for p in paths]
    return text_names(words, labels, parents)

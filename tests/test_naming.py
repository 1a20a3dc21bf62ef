"""Category names: c-TF-IDF against the coarse siblings for texts, raised features for vectors."""

from __future__ import annotations

import numpy as np

from coarse2fine.cluster.naming import text_names, vector_names


def test_text_names_pick_what_sets_a_category_apart_from_its_siblings():
    texts = [
        "freeze my card please",
        "please freeze the card",
        "card freeze now",
        "what is my balance",
        "show balance of my card",
        "balance please",
        "book a flight to rome",
        "flight to paris",
    ]
    labels = np.array([0, 0, 0, 1, 1, 1, 2, 2])
    parents = [0, 0, 1]  # categories 0 and 1 are siblings; 2 is alone under another class
    names = text_names(texts, labels, parents, n_terms=1)
    # "card" is common to both siblings, so it names neither; "please" is in both too
    assert names == ["freeze", "balance", "flight"]


def test_a_chosen_bigram_is_not_repeated_by_its_words():
    texts = ["account balance", "account balance", "account balance check", "pay bill", "bill"]
    labels = np.array([0, 0, 0, 1, 1])
    names = text_names(texts, labels, [0, 0], n_terms=2)
    terms = names[0].split(" / ")
    words = [w for t in terms for w in t.split()]
    assert len(words) == len(set(words))  # no word appears in two chosen terms


def test_empty_category_and_stop_words_only():
    names = text_names(["the and of", "hello there"], np.array([0, 0]), [0, 1])
    assert names[1] == "(empty)" and names[0].startswith("hello")


def test_vector_names_are_the_most_raised_features():
    rng = np.random.default_rng(0)
    x = rng.normal(0, 0.1, (40, 4))
    x[:20, 2] += 5.0  # category 0 is high on gene C
    x[20:, 0] += 5.0  # category 1 is high on gene A
    labels = np.repeat([0, 1], 20)
    names = vector_names(x, labels, [0, 0], ["A", "B", "C", "D"], n_terms=1)
    assert names == ["C+", "A+"]
    # alone under its coarse class, a category is compared with every other row
    assert vector_names(x, labels, [0, 1], None, n_terms=1) == ["x2+", "x0+"]


def test_plural_and_singular_are_one_word():
    texts = ["set alarms", "set an alarm", "alarm for six", "remove alarms", "remove the alarm"]
    names = text_names(texts, np.array([0, 0, 0, 1, 1]), [0, 0], n_terms=3)
    first = names[0].split(" / ")
    assert sum(t in ("alarm", "alarms") for t in first) <= 1

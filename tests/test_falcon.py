"""FALCON: the exact M-step, losses by hand, neighbours, hierarchy recovery, several datasets."""

from __future__ import annotations

import itertools
import math

import networkx as nx
import numpy as np
import pytest
import torch

from coarse2fine import Discoverer, InputError
from coarse2fine.batching import prepare
from coarse2fine.cluster.hierarchy import (
    relation_matrix,
    relation_objective,
    same_coarse_neighbours,
    solve_relation,
)
from coarse2fine.data import CoarseDataset
from coarse2fine.data.synthetic import make_hierarchical_blobs
from coarse2fine.encoders import MLPEncoder
from coarse2fine.losses.falcon import (
    balance_regulariser,
    coarse_log_probs,
    coarse_nll,
    confident_targets,
    cosine_hardness,
    neighbour_consistency,
    soft_cross_entropy,
)
from coarse2fine.methods.falcon import FALCON, FALCONConfig
from coarse2fine.metrics import cluster_acc, hierarchy_edit_distance, true_parents

# -- the M-step ----------------------------------------------------------------------------------


def brute_force_relation(cost: np.ndarray, lambda_m: float) -> float:
    """The best objective over every assignment that leaves no coarse class childless."""
    n_fine, n_coarse = cost.shape
    best = -math.inf
    for parents in itertools.product(range(n_coarse), repeat=n_fine):
        parents = np.array(parents)
        if len(np.unique(parents)) == n_coarse:
            best = max(best, relation_objective(cost, parents, lambda_m))
    return best


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("lambda_m", [0.0, 0.02, 0.3, 5.0])
def test_m_step_is_optimal_against_brute_force(seed, lambda_m):
    rng = np.random.default_rng(seed)
    n_fine, n_coarse = int(rng.integers(3, 7)), int(rng.integers(2, 4))
    cost = rng.dirichlet(np.ones(n_fine * n_coarse)).reshape(n_fine, n_coarse)
    parents = solve_relation(cost, lambda_m)
    assert relation_objective(cost, parents, lambda_m) == pytest.approx(
        brute_force_relation(cost, lambda_m), abs=1e-9
    )


def test_m_step_gives_every_coarse_class_a_child_even_against_the_cost():
    cost = np.zeros((10, 4))
    cost[:, 0] = 1.0  # every fine class would rather sit under coarse class 0
    parents = solve_relation(cost, 0.0)
    relation = relation_matrix(parents, 4)
    assert (relation.sum(1) == 1).all()  # one parent per fine class
    assert (relation.sum(0) >= 1).all()  # every coarse class keeps a child
    assert np.bincount(parents, minlength=4).tolist() == [7, 1, 1, 1]


def test_m_step_balance_term_evens_the_tree_out():
    cost = np.zeros((12, 3))
    cost[:, 0] = 1e-3
    parents = solve_relation(cost, lambda_m=10.0)
    assert np.bincount(parents, minlength=3).tolist() == [4, 4, 4]


def test_m_step_rejects_too_few_fine_classes():
    with pytest.raises(ValueError, match="2 fine classes cannot give each of the 3"):
        solve_relation(np.ones((2, 3)))


# -- hierarchy edit distance -------------------------------------------------------------------


def tree_graph(parents: list[str]) -> nx.Graph:
    graph = nx.Graph()
    for c in sorted(set(parents) | {"a", "b"}):
        graph.add_node(f"coarse:{c}", kind=c)
    for i, p in enumerate(parents):
        graph.add_node(f"fine:{i}", kind="fine")
        graph.add_edge(f"fine:{i}", f"coarse:{p}")
    return graph


@pytest.mark.parametrize(
    "a, b",
    [
        (["a", "a", "b"], ["a", "b", "b"]),
        (["a", "b"], ["a", "a", "b", "b"]),
        (["a", "a", "a"], ["b", "b"]),
        (["a", "b", "b"], ["b", "a", "b"]),
    ],
)
def test_edit_distance_equals_networkx_exact_value(a, b):
    # unit costs for inserting or deleting nodes and edges; coarse nodes keep their identity
    # (substituting one for another, or for a fine node, is ruled out by a prohibitive cost)
    exact = nx.graph_edit_distance(
        tree_graph(a),
        tree_graph(b),
        node_subst_cost=lambda x, y: 0 if x["kind"] == y["kind"] else 100,
    )
    assert hierarchy_edit_distance(a, b) == exact


def test_edit_distance_ignores_fine_order_and_true_parents_uses_majority():
    assert hierarchy_edit_distance(["x", "y", "x"], ["y", "x", "x"]) == 0
    fine = ["f1", "f1", "f1", "f2", "f3"]
    coarse = ["x", "x", "y", "y", "x"]
    assert true_parents(fine, coarse) == ["x", "y", "x"]


# -- losses, by hand -----------------------------------------------------------------------------

RELATION = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])  # f0, f2 under c0; f1 under c1


def test_coarse_nll_is_minus_log_of_the_mass_under_the_coarse_class():
    logits = torch.tensor([[1.0, 2.0, 0.0]])
    p = torch.softmax(logits, 1)[0]
    want = -math.log(float(p[0] + p[2]))
    assert float(coarse_nll(logits, RELATION, torch.tensor([0]))) == pytest.approx(want)
    log_c = coarse_log_probs(logits, RELATION)
    assert torch.exp(log_c).sum().item() == pytest.approx(1.0)
    assert float(log_c[0, 1]) == pytest.approx(math.log(float(p[1])))


def test_neighbour_consistency_by_hand():
    probs = torch.tensor([[0.5, 0.5]])
    neighbours = torch.tensor([[[1.0, 0.0], [0.2, 0.8]]])
    assert float(neighbour_consistency(probs, neighbours)) == pytest.approx(-math.log(0.5))


def test_confident_targets_stay_under_the_coarse_class_and_harden():
    teacher = torch.tensor([[0.9, 3.0, 0.0]])
    soft = confident_targets(teacher, RELATION, torch.tensor([0]), temperature=0.9, hardness=0.0)
    e0, e2 = math.exp(0.9 / 0.9), math.exp(0.0)
    assert soft[0].tolist() == pytest.approx([e0 / (e0 + e2), 0.0, e2 / (e0 + e2)])
    hard = confident_targets(teacher, RELATION, torch.tensor([0]), temperature=0.9, hardness=1.0)
    assert hard[0].tolist() == [1.0, 0.0, 0.0]
    ce = soft_cross_entropy(torch.tensor([[0.0, 0.0, 0.0]]), hard)
    assert float(ce) == pytest.approx(math.log(3))


def test_balance_regulariser_is_zero_when_uniform_and_log_k_when_collapsed():
    assert float(balance_regulariser(torch.full((4, 5), 0.2))) == pytest.approx(0.0, abs=1e-6)
    collapsed = torch.zeros(4, 5)
    collapsed[:, 2] = 1.0
    assert float(balance_regulariser(collapsed)) == pytest.approx(math.log(5), abs=1e-6)


def test_cosine_hardness_schedule():
    assert cosine_hardness(0, 10) == 0.0
    assert cosine_hardness(5, 10) == pytest.approx(0.5)
    assert cosine_hardness(10, 10) == cosine_hardness(99, 10) == 1.0
    assert cosine_hardness(3, 0) == 1.0


# -- neighbours ----------------------------------------------------------------------------------


def test_neighbours_stay_inside_the_coarse_class_and_never_include_the_row():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 4)).astype(np.float32)
    coarse = np.array([0] * 20 + [1] * 7 + [2] * 2 + [3])  # class 3: a single row
    found = same_coarse_neighbours(x, coarse, k=5, backend="sklearn")
    assert found.shape == (30, 5)
    for i, row in enumerate(found[:-1]):
        assert (coarse[row] == coarse[i]).all() and i not in row
    assert found[-2].tolist() == [27] * 5  # the other row of its class, repeated
    assert found[-3].tolist() == [28] * 5
    assert found[-1].tolist() == [29] * 5  # alone: its own neighbour
    # the first neighbour is the nearest by cosine
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    sims = unit[:20] @ unit[:20].T
    np.fill_diagonal(sims, -np.inf)
    assert (found[:20, 0] == sims.argmax(1)).all()


# -- the method ----------------------------------------------------------------------------------


def test_m_step_follows_the_teacher_predictions(tiny_vectors):
    encoder = MLPEncoder.for_data(tiny_vectors.vectors, 16, 3)
    method = FALCON(encoder, 2, FALCONConfig(init="random"), n_fine=6)
    method.on_fit_start(prepare(encoder, tiny_vectors), total_steps=10)
    coarse = torch.as_tensor(tiny_vectors.coarse_ids)
    bank = torch.zeros(len(coarse), 6)
    bank[coarse == 0, 0] = 1.0  # fine classes 0, 1 predicted on coarse 0 rows,
    bank[coarse == 0, 1] = 1.0
    bank[coarse == 1, 2:] = 1.0  # 2..5 on coarse 1 rows
    method._bank.copy_(bank)
    method._seen.fill_(True)
    method.m_step()
    assert method.parents().tolist() == [0, 0, 1, 1, 1, 1]


def test_falcon_needs_n_fine_and_checks_its_options(tiny_vectors):
    encoder = MLPEncoder.for_data(tiny_vectors.vectors)
    with pytest.raises(ValueError, match="give n_fine"):
        FALCON(encoder, 2)
    with pytest.raises(ValueError, match="init must be one of"):
        FALCONConfig(init="zeros")
    with pytest.raises(ValueError, match="temperature must be positive"):
        FALCONConfig(temperature=0)


def unbalanced_hierarchy() -> CoarseDataset:
    """Five coarse classes with 3, 2, 4, 1, 2 fine classes, the third at half the rows of the
    others' fine classes: row counts do not reveal the tree, the M-step must."""
    data = make_hierarchical_blobs((3, 2, 4, 1, 2), rows_per_fine=60, dim=16, seed=1)
    keep = (data.coarse != "c2") | (np.arange(len(data)) % 2 == 0)
    return data.subset(np.flatnonzero(keep))


def test_falcon_recovers_a_known_hierarchy_exactly():
    data = unbalanced_hierarchy()
    est = Discoverer(
        "falcon",
        n_fine=12,
        clustering="global",
        progress=False,
        method_params={"init": "kmeans_global"},
    ).fit(data)
    assert hierarchy_edit_distance(est.cluster_parents_, true_parents(data.fine, data.coarse)) == 0
    assert cluster_acc(data.fine, est.labels_) >= 95.0


def test_falcon_on_several_datasets_learns_one_relation_per_dataset():
    """Six fine classes seen through two coarse label sets: by f // 3 and by f % 2."""
    base = make_hierarchical_blobs((6,), rows_per_fine=60, dim=16, fine_spread=4.0, seed=2)
    fine_id = np.array([int(f.split(".f")[1]) for f in base.fine])
    half = np.arange(len(base)) % 2 == 0
    a = CoarseDataset(
        coarse=[f"g{f // 3}" for f in fine_id[half]],
        vectors=base.vectors[half],
        fine=base.fine[half],
        name="a",
    )
    b = CoarseDataset(
        coarse=[f"p{f % 2}" for f in fine_id[~half]],
        vectors=base.vectors[~half],
        fine=base.fine[~half],
        name="b",
    )
    est = Discoverer("falcon", n_fine=6, clustering="global", progress=False).fit([a, b])
    assert sorted(est.hierarchies_) == ["a", "b"]
    assert sorted(len(v) for v in est.hierarchies_["a"].values()) == [3, 3]
    assert {k.split(":")[0] for k in est.hierarchies_["b"]} == {"b"}
    assert cluster_acc(np.concatenate([a.fine, b.fine]), est.labels_) >= 95.0
    assert est.categories_ == [f"F{i}" for i in range(1, 7)]


def test_several_datasets_need_falcon(tiny_vectors):
    with pytest.raises(InputError, match="need method='falcon'"):
        Discoverer("hwscl", n_fine=6, progress=False).fit([tiny_vectors, tiny_vectors])


def test_falcon_model_round_trip_predicts_identically(tiny_vectors, tmp_path):
    est = Discoverer("falcon", n_fine=6, epochs=3, progress=False).fit(tiny_vectors)
    est.save(tmp_path / "m")
    again = Discoverer.load(tmp_path / "m", progress=False)
    assert (again.predict(tiny_vectors.vectors) == est.predict(tiny_vectors.vectors)).all()
    assert again.cluster_parents_ == est.cluster_parents_
    assert torch.equal(again.method_.relation, est.method_.relation)


def test_falcon_predict_within_given_coarse_masks_its_classifier(tiny_vectors):
    est = Discoverer("falcon", n_fine=6, epochs=1, progress=False).fit(tiny_vectors)
    logits = est._map(prepare(est.method_.encoder, tiny_vectors), est.method_.fine_logits)
    parents = np.array(est.cluster_parents_)
    coarse = np.asarray(tiny_vectors.coarse)
    # by hand: the classifier's best category among those under each row's coarse class
    expected = np.where(parents[None, :] == coarse[:, None], logits, -np.inf).argmax(1)
    got = est.predict(tiny_vectors, within="given")
    assert np.array_equal(got, expected)
    assert np.array_equal(parents[got], coarse)

"""1-NN probe: known answers, FAISS against brute force, and bad inputs."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bioscan_hf.core.errors import EvaluationError
from bioscan_hf.core.metrics import micro_macro, micro_macro_accuracy
from bioscan_hf.core.vectors import check_embeddings, nearest_keys
from bioscan_hf.evaluation.nearest import first_of_each, knn_probe, knn_probe_ranks


def test_nothing_to_score_is_an_error() -> None:
    with pytest.raises(EvaluationError, match="^no queries to score$"):
        micro_macro(np.array([], dtype=bool), [])
    assert micro_macro([1, 0, 1], ["a", "a", "b"]) == (2 / 3, (0.5 + 1.0) / 2)  # 0/1 read as right/wrong


def test_micro_vs_macro_with_imbalance() -> None:
    true = ["a"] * 8 + ["b"] * 2
    predicted = ["a"] * 8 + ["a", "b"]
    micro, macro = micro_macro_accuracy(predicted, true)
    assert micro == pytest.approx(0.9) and macro == pytest.approx((1.0 + 0.5) / 2)


def test_faiss_matches_brute_force() -> None:
    rng = np.random.default_rng(0)
    keys, queries = rng.normal(size=(500, 16)), rng.normal(size=(200, 16))
    indices, similarities = nearest_keys(keys, queries, 3)
    k = keys / np.linalg.norm(keys, axis=1, keepdims=True)
    q = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    brute = np.argsort(-(q @ k.T), axis=1)[:, :3]
    assert (indices == brute).all()
    np.testing.assert_allclose(similarities[:, 0], (q @ k.T).max(axis=1), rtol=1e-5)


def test_probe_known_answer_and_absent_classes() -> None:
    keys = np.array([[1, 0], [0, 1], [1, 1]], dtype=float)
    key_labels = ["x", "y", None]  # the unlabelled key is left out
    queries = np.array([[0.9, 0.1], [0.1, 0.9], [0.7, 0.72], [1, 0]])
    query_labels = ["x", "y", "z", "x"]
    result = knn_probe(keys, key_labels, queries, query_labels)
    assert result["micro"] == pytest.approx(3 / 4)
    assert result["macro"] == pytest.approx((1 + 1 + 0) / 3)
    assert result["classes_absent_from_keys"] == ["z"] and result["queries_of_absent_classes"] == 1


def test_bad_inputs() -> None:
    good = np.ones((3, 2))
    with pytest.raises(EvaluationError, match="NaN"):
        knn_probe(np.array([[np.nan, 1.0]]), ["a"], good, ["a", "a", "a"])
    with pytest.raises(EvaluationError, match="3 embeddings but 2 labels"):
        knn_probe(good, ["a", "b"], good, ["a", "a", "a"])
    with pytest.raises(EvaluationError, match="non-empty"):
        knn_probe(good, ["a"] * 3, np.zeros((0, 2)), [])
    with pytest.raises(EvaluationError, match="no key carries"):
        knn_probe(good, [None] * 3, good, ["a"] * 3)


def test_one_nn_equals_scikit_learn_cosine() -> None:
    from sklearn.neighbors import KNeighborsClassifier

    rng = np.random.default_rng(3)
    keys, queries = rng.normal(size=(400, 24)), rng.normal(size=(150, 24))
    labels = rng.integers(0, 12, size=400).astype(str)
    reference = KNeighborsClassifier(n_neighbors=1, metric="cosine", algorithm="brute").fit(keys, labels)
    indices, _ = nearest_keys(keys, queries, 1)
    assert (labels[indices[:, 0]] == reference.predict(queries)).all()
    truth = rng.integers(0, 12, size=150).astype(str)
    result = knn_probe(keys, labels, queries, truth)
    assert result["micro"] == pytest.approx(float(np.mean(reference.predict(queries) == truth)))


def test_unlabelled_keys_are_never_neighbours() -> None:
    keys = np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])
    queries = np.array([[1.0, 0.05]])  # nearest key (row 0) has no label at this rank
    result = knn_probe(keys, [None, "A", "B"], queries, ["A"])
    assert result["micro"] == 1.0 and result["n_keys"] == 2
    result = knn_probe(keys, ["B", "A", "B"], queries, ["A"])  # labelled, the same key wins
    assert result["micro"] == 0.0


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6)), min_size=1, max_size=60))
def test_micro_macro_against_plain_python(pairs: list[tuple[int, int]]) -> None:
    predicted, true = [p for p, _ in pairs], [t for _, t in pairs]
    micro, macro = micro_macro_accuracy(predicted, true)
    assert micro == pytest.approx(sum(p == t for p, t in pairs) / len(pairs))
    per_class = {}
    for p, t in pairs:
        per_class.setdefault(t, []).append(p == t)
    assert macro == pytest.approx(sum(sum(v) / len(v) for v in per_class.values()) / len(per_class))


def test_first_of_each() -> None:
    first, inverse = first_of_each(["b", "a", "b", "c", "a"])
    assert first.tolist() == [0, 1, 3] and inverse.tolist() == [0, 1, 0, 2, 1]


@settings(max_examples=60, deadline=None)
@given(
    st.integers(2, 12),
    st.integers(1, 12),
    st.lists(st.integers(0, 5), min_size=1, max_size=40),
    st.lists(st.integers(0, 8), min_size=1, max_size=30),
    st.integers(0, 2**16),
)
def test_searching_distinct_barcodes_predicts_what_searching_all_does(
    n_key_ids: int, n_query_ids: int, key_ids: list[int], query_ids: list[int], seed: int
) -> None:
    """Equal ids carry equal vectors (as equal barcodes do); a barcode may hold several labels, some
    records are unlabelled, and distinct ids may share a vector (ties go to the first key either way)."""
    rng = np.random.default_rng(seed)
    vectors = rng.integers(-2, 3, size=(20, 3)).astype(np.float32)  # few distinct values: ties happen
    vectors[(vectors == 0).all(axis=1)] = 1.0
    key_ids = [i % n_key_ids for i in key_ids]
    query_ids = [i % n_query_ids for i in query_ids]
    keys, queries = vectors[key_ids], vectors[[10 + i for i in query_ids]]
    labels = np.array([None, "x", "y", "z"], dtype=object)
    key_labels = labels[rng.integers(0, 4, len(keys))]
    query_labels = labels[rng.integers(1, 4, len(queries))]
    if (key_labels == None).all():  # noqa: E711 (elementwise)
        key_labels[0] = "x"
    full = knn_probe(keys, key_labels, queries, query_labels)
    distinct = knn_probe(keys, key_labels, queries, query_labels, key_ids=key_ids, query_ids=query_ids)
    assert distinct["predicted"].tolist() == full["predicted"].tolist()
    assert (distinct["micro"], distinct["macro"]) == (full["micro"], full["macro"])
    assert distinct["n_searched_keys"] == len(set(key_ids))


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**16), st.integers(20, 60), st.floats(0.0, 0.95))
def test_one_search_for_every_rank_equals_a_full_search_per_rank(seed: int, n_keys: int, unlabelled: float) -> None:
    """Ranks unlabelled on many keys force the fallback search (beyond the 16 nearest distinct keys)."""
    rng = np.random.default_rng(seed)
    key_ids = rng.integers(0, n_keys // 2, n_keys).tolist()
    query_ids = rng.integers(0, 25, 30).tolist()
    pool = rng.normal(size=(n_keys // 2 + 25, 4)).astype(np.float32)
    keys, queries = pool[key_ids], pool[[n_keys // 2 + i for i in query_ids]]
    names = np.array(["a", "b", "c"], dtype=object)
    key_labels = {
        rank: np.where(rng.random(n_keys) < share, None, names[rng.integers(0, 3, n_keys)])
        for rank, share in (("order", 0.0), ("genus", unlabelled), ("species", 0.97))
    }
    for labels in key_labels.values():
        if (labels == None).all():  # noqa: E711 (elementwise)
            labels[-1] = "a"
    query_labels = {rank: names[rng.integers(0, 3, len(queries))] for rank in key_labels}
    together = knn_probe_ranks(keys, key_labels, queries, query_labels, key_ids, query_ids)
    for rank in key_labels:
        alone = knn_probe(keys, key_labels[rank], queries, query_labels[rank])
        assert together[rank]["predicted"].tolist() == alone["predicted"].tolist(), rank
        assert together[rank]["micro"] == alone["micro"]


def test_bad_embeddings_are_named_with_their_row() -> None:
    good = np.eye(4, dtype=np.float32)
    broken = good.copy()
    broken[2, 1] = np.nan
    with pytest.raises(EvaluationError, match=r"^keys: 1 row\(s\) contain NaN or inf, first at row 2$"):
        nearest_keys(broken, good)
    with pytest.raises(EvaluationError, match=r"^queries: 1 row\(s\) contain NaN or inf, first at row 2$"):
        nearest_keys(good, broken)
    with pytest.raises(EvaluationError, match="^keys have 4 dimensions, queries 3$"):
        nearest_keys(good, good[:, :3])


def test_first_key_is_found_past_a_crowd_of_unlabelled_keys() -> None:
    """A query whose 16 nearest distinct keys are unlabelled is searched again among the labelled ones;
    the labelled key at row 0 must be among them."""
    rng = np.random.default_rng(0)
    query = np.array([[1.0, 0.0, 0.0]], dtype=np.float32)
    crowd = query + 0.01 * rng.normal(size=(20, 3)).astype(np.float32)  # unlabelled, nearest
    keys = np.vstack([[0.9, 0.3, 0.0], crowd, [0.0, 0.0, 1.0]]).astype(np.float32)
    labels = ["A", *([None] * 20), "B"]
    result = knn_probe_ranks(
        keys, {"genus": labels}, query, {"genus": ["A"]}, [f"k{i}" for i in range(len(keys))], ["q"]
    )["genus"]
    assert list(result["predicted"]) == ["A"] and result["micro"] == 1.0
    assert result["n_queries"] == 1 and result["n_keys"] == 2 and result["n_searched_keys"] == 22


def test_inputs_are_read_as_float32_and_one_neighbour_by_default() -> None:
    checked = check_embeddings("keys", [[1, 2], [3, 4]])
    assert checked.dtype == np.float32 and checked.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    indices, similarities = nearest_keys(np.eye(3), np.eye(3)[:2])
    assert indices.tolist() == [[0], [1]] and similarities.shape == (2, 1)


def test_a_label_other_than_none_marks_unlabelled_records_on_every_path() -> None:
    """`missing` reaches the one-search path too: "" keys are never neighbours, "" queries are not scored."""
    keys = np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])
    queries = np.array([[1.0, 0.05], [0.0, 1.0]])
    key_labels, query_labels = ["", "A", "B"], ["A", ""]
    full = knn_probe(keys, key_labels, queries, query_labels, missing="")
    distinct = knn_probe(keys, key_labels, queries, query_labels, missing="", key_ids=[0, 1, 2], query_ids=[0, 1])
    ranks = knn_probe_ranks(keys, {"genus": key_labels}, queries, {"genus": query_labels}, [0, 1, 2], [0, 1], "")
    for result in (full, distinct, ranks["genus"]):
        assert result["predicted"].tolist() == ["A"] and result["micro"] == 1.0
        assert result["n_queries"] == 1 and result["n_keys"] == 2


def test_every_rank_is_answered_from_one_search_when_labelled_keys_are_near(monkeypatch) -> None:
    """The promise of `nearest_labelled_keys`: one search over the distinct keys, deep enough for every
    rank; a second search only for queries whose nearest `depth` keys are all unlabelled."""
    from bioscan_hf.evaluation import nearest

    searches = []

    def counting(keys, queries, k=1):
        searches.append(k)
        return nearest_keys(keys, queries, k)

    monkeypatch.setattr(nearest, "nearest_keys", counting)
    rng = np.random.default_rng(1)
    keys, queries = rng.normal(size=(40, 4)), rng.normal(size=(10, 4))
    labels = {"genus": np.where(np.arange(40) % 3 == 0, None, "g"), "species": ["s"] * 40}
    truth = {"genus": ["g"] * 10, "species": ["s"] * 10}
    nearest.knn_probe_ranks(keys, labels, queries, truth, list(range(40)), list(range(10)))
    assert searches == [16]


def test_inconsistent_inputs_name_the_side_and_the_counts() -> None:
    good = np.eye(3)
    labels = {"genus": ["a"] * 3}
    with pytest.raises(EvaluationError, match="^keys: 3 embeddings but 2 labels$"):
        knn_probe(good, ["a", "b"], good, ["a"] * 3)
    with pytest.raises(EvaluationError, match="^queries: 3 embeddings but 2 labels$"):
        knn_probe(good, ["a"] * 3, good, ["a", "b"])
    with pytest.raises(EvaluationError, match="^keys: 3 embeddings but 2 ids$"):
        knn_probe_ranks(good, labels, good, labels, [0, 1], [0, 1, 2])
    with pytest.raises(EvaluationError, match="^queries: 3 embeddings but 2 ids$"):
        knn_probe_ranks(good, labels, good, labels, [0, 1, 2], [0, 1])
    with pytest.raises(EvaluationError, match="^keys: 3 embeddings but 2 labels at genus$"):
        knn_probe_ranks(good, {"genus": ["a"] * 2}, good, labels, [0, 1, 2], [0, 1, 2])
    with pytest.raises(EvaluationError, match="^queries: 3 embeddings but 4 labels at genus$"):
        knn_probe_ranks(good, labels, good, {"genus": ["a"] * 4}, [0, 1, 2], [0, 1, 2])
    with pytest.raises(EvaluationError, match="^no key carries the queried rank's label$"):
        knn_probe(good, [None] * 3, good, ["a"] * 3)
    with pytest.raises(EvaluationError, match="^no query carries the queried rank's label$"):
        knn_probe(good, ["a"] * 3, good, [None] * 3)
    with pytest.raises(EvaluationError, match="^no key carries a label at genus$"):
        knn_probe_ranks(good, {"genus": [None] * 3}, good, {"genus": ["a"] * 3}, [0, 1, 2], [0, 1, 2])
    with pytest.raises(EvaluationError, match="^no query carries a label at genus$"):
        knn_probe_ranks(good, {"genus": ["a"] * 3}, good, {"genus": [None] * 3}, [0, 1, 2], [0, 1, 2])
    with pytest.raises(EvaluationError, match="^give both key_ids and query_ids"):
        knn_probe(good, ["a"] * 3, good, ["a"] * 3, key_ids=[0, 1, 2])

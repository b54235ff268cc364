import numpy as np
import pytest
from sklearn.datasets import load_digits

from sklearn_pnet import ProjectionNetClassifier, model_size_bytes
from sklearn_pnet import _compact


@pytest.fixture
def weights():
    return np.random.RandomState(0).randn(300, 20).astype(np.float32)


def test_int8_keeps_each_column_within_half_a_step(weights):
    q = _compact.QuantizedArray(weights)
    assert q.codes.dtype == np.int8 and q.scale.shape == (20,)
    step = np.abs(weights).max(axis=0) / 127
    assert (np.abs(np.asarray(q) - weights) <= step / 2 + 1e-7).all()
    X = np.random.RandomState(1).rand(5, 300)
    np.testing.assert_allclose(_compact.matmul(X, q), X @ np.asarray(q, dtype=np.float64), rtol=1e-6)


def test_int8_vector_uses_one_scale_per_block():
    values = np.r_[np.full(256, 0.01), np.full(10, 100.0)].astype(np.float32)
    q = _compact.QuantizedArray(values)
    assert q.scale.shape == (2,)
    np.testing.assert_allclose(np.asarray(q), values, rtol=1e-6)
    np.testing.assert_allclose(q.take(np.array([[0, 260]])), [[0.01, 100.0]], rtol=1e-6)


def test_kmeans_sharing_packs_codes(weights):
    c = _compact.ClusteredArray(weights, 16)
    decoded = np.asarray(c)
    assert decoded.shape == weights.shape
    assert len(np.unique(decoded)) <= 16
    assert c.packed.nbytes == 4 * 300 * 20 // 8  # 4 bits a weight
    # Far better than 16 evenly spaced levels would be on Gaussian weights.
    assert np.abs(decoded - weights).mean() < 0.1
    np.testing.assert_allclose(c.take(np.array([3, 77])), decoded.ravel()[[3, 77]])


@pytest.mark.parametrize("n_clusters", [2, 3, 8, 256])
def test_kmeans_take_gathers_the_decoded_weights(n_clusters):
    # A projection gathers many more entries than there are weights, with
    # repeats, in a 2-D layout; every code width must decode the same.
    values = np.random.RandomState(0).randn(1001).astype(np.float32)
    c = _compact.ClusteredArray(values, n_clusters)
    centroids, codes = _compact.kmeans_1d(values, n_clusters)
    np.testing.assert_array_equal(np.asarray(c), centroids[codes])
    indices = np.random.RandomState(1).randint(0, 1001, size=(700, 8))
    np.testing.assert_array_equal(c.take(indices), centroids[codes][indices])


def test_pruned_matrix_multiplies_on_its_non_zeros(weights):
    weights[np.abs(weights) < 1.0] = 0
    pruned = _compact.PrunedMatrix(weights, lambda v: v.astype(np.float16))
    assert pruned.nnz == np.count_nonzero(weights)
    assert pruned.indices.dtype == np.uint16
    X = np.random.RandomState(1).rand(5, 300)
    np.testing.assert_allclose(
        _compact.matmul(X, pruned), X @ weights.astype(np.float16).astype(np.float64), rtol=1e-6
    )


@pytest.mark.parametrize(
    "params",
    [
        dict(weight_dtype="float32"),
        dict(weight_dtype="int8"),
        dict(weight_clusters=32),
        dict(sparsity=0.5),
        dict(sparsity=0.5, weight_dtype="int8"),
    ],
)
def test_compressed_students_predict_like_the_full_one(params):
    X, y = load_digits(return_X_y=True)
    common = dict(
        n_bits=64, projection="trained", hidden_layer_sizes=(32,), max_iter=20, random_state=0
    )
    full = ProjectionNetClassifier(**common, weight_dtype="float32").fit(X, y)
    small = ProjectionNetClassifier(**common, **params).fit(X, y)
    assert small.score(X, y) > full.score(X, y) - 0.05
    if params != dict(weight_dtype="float32"):
        assert model_size_bytes(small)["coefs_"] < model_size_bytes(full)["coefs_"]


def test_size_report_adds_up_for_a_pipeline():
    from sklearn.feature_extraction.text import HashingVectorizer
    from sklearn.pipeline import make_pipeline

    docs = ["red apple", "green apple", "red car", "green car"] * 10
    labels = ["fruit", "fruit", "car", "car"] * 10
    pipe = make_pipeline(
        HashingVectorizer(n_features=2**20),
        ProjectionNetClassifier(
            16, n_weights=512, teacher_hidden_layer_sizes=(4,), max_iter=3, random_state=0
        ),
    ).fit(docs, labels)
    report = model_size_bytes(pipe)
    assert report["total"] == _compact.dumped_size(pipe)
    assert report["total"] == sum(v for k, v in report.items() if k != "total")
    assert report["(pickle framing)"] >= 0
    assert "projectionnetclassifier.coefs_" in report
    assert report["total"] < 5000  # no vocabulary, no 2**20 anything

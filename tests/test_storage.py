"""The compact storage forms of weights and the products on them."""

import numpy as np
import pytest

from sklearn_pnet import _storage


@pytest.fixture
def weights():
    return np.random.RandomState(0).randn(300, 20).astype(np.float32)


def test_int8_keeps_each_column_within_half_a_step(weights):
    q = _storage.QuantizedArray(weights)
    assert q.codes.dtype == np.int8 and q.scale.shape == (20,)
    step = np.abs(weights).max(axis=0) / 127
    assert (np.abs(np.asarray(q) - weights) <= step / 2 + 1e-7).all()
    X = np.random.RandomState(1).rand(5, 300)
    expected = X @ np.asarray(q, dtype=np.float64)
    np.testing.assert_allclose(_storage.matmul(X, q), expected, rtol=1e-6)


def test_int8_vector_uses_one_scale_per_block():
    values = np.r_[np.full(256, 0.01), np.full(10, 100.0)].astype(np.float32)
    q = _storage.QuantizedArray(values)
    assert q.scale.shape == (2,)
    np.testing.assert_allclose(np.asarray(q), values, rtol=1e-6)
    np.testing.assert_allclose(q.take(np.array([[0, 260]])), [[0.01, 100.0]], rtol=1e-6)


def test_kmeans_sharing_packs_codes(weights):
    c = _storage.ClusteredArray(weights, 16)
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
    c = _storage.ClusteredArray(values, n_clusters)
    centroids, codes = _storage.kmeans_1d(values, n_clusters)
    np.testing.assert_array_equal(np.asarray(c), centroids[codes])
    indices = np.random.RandomState(1).randint(0, 1001, size=(700, 8))
    np.testing.assert_array_equal(c.take(indices), centroids[codes][indices])


@pytest.mark.parametrize("n_clusters", [2, 3, 16, 17, 256])
def test_lzma_coded_codes_decode_as_the_packed_ones(n_clusters):
    # Odd sizes and both layouts of the compressed codes (two to a byte up
    # to 16 values, a byte each above).
    values = np.random.RandomState(0).laplace(size=(7, 143)).astype(np.float32)
    packed = _storage.ClusteredArray(values, n_clusters)
    coded = _storage.ClusteredArray(values, n_clusters, compress=True)
    assert coded.packed is None and isinstance(coded.lzma_codes, bytes)
    np.testing.assert_array_equal(coded.codes(), packed.codes())
    np.testing.assert_array_equal(np.asarray(coded), np.asarray(packed))
    np.testing.assert_array_equal(coded.bit_planes(), packed.packed)
    indices = np.array([[0, 5], [1000, 3]])
    np.testing.assert_array_equal(coded.take(indices), packed.take(indices))
    assert "LZMA" in repr(coded)


def test_lzma_coding_stores_skewed_codes_below_their_width():
    # Most weights near zero, as a linear model's: the codes cost about
    # their entropy, well under the 4 bits a packed 16-value code takes.
    rng = np.random.RandomState(0)
    values = (rng.laplace(size=40_000) * (rng.rand(40_000) < 0.3)).astype(np.float32)
    coded = _storage.ClusteredArray(values, 16, compress=True)
    packed = _storage.ClusteredArray(values, 16)
    assert len(coded.lzma_codes) < packed.packed.nbytes / 2
    np.testing.assert_array_equal(np.asarray(coded), np.asarray(packed))


def test_pruned_matrix_multiplies_on_its_non_zeros(weights):
    weights[np.abs(weights) < 1.0] = 0
    pruned = _storage.PrunedMatrix(weights, lambda v: v.astype(np.float16))
    assert pruned.nnz == np.count_nonzero(weights)
    assert pruned.indices.dtype == np.uint16
    X = np.random.RandomState(1).rand(5, 300)
    np.testing.assert_allclose(
        _storage.matmul(X, pruned), X @ weights.astype(np.float16).astype(np.float64), rtol=1e-6
    )


@pytest.mark.parametrize(
    "form",
    [
        lambda w: _storage.QuantizedArray(w),
        lambda w: _storage.ClusteredArray(w, 4),
        lambda w: _storage.PrunedMatrix(np.where(np.abs(w) > 1, w, 0), np.float16),
    ],
    ids=["int8", "kmeans", "pruned"],
)
def test_short_repr_says_shape_and_form(weights, form):
    text = repr(form(weights))
    assert "(300, 20)" in text and "object at" not in text and len(text) < 80


def test_pruned_matrix_with_indices_out_of_range_is_refused():
    from sklearn_pnet._storage import PrunedMatrix

    pruned = PrunedMatrix(np.eye(4, dtype=np.float32), lambda v: v)
    pruned.indices = pruned.indices + 10  # as a tampered file could hold
    with pytest.raises(ValueError, match="indices must be < 4"):
        pruned.matmul(np.ones((2, 4)))


def test_without_lzma_only_the_coded_form_is_refused(weights, monkeypatch):
    coded = _storage.ClusteredArray(weights, 16, compress=True)
    monkeypatch.setattr(_storage, "lzma", None)
    assert np.asarray(_storage.ClusteredArray(weights, 16)).shape == weights.shape
    with pytest.raises(ImportError, match="lzma module"):
        _storage.ClusteredArray(weights, 16, compress=True)
    with pytest.raises(ImportError, match="lzma module"):
        np.asarray(coded)


def test_lzma_codes_of_a_matrix_go_column_by_column():
    values = np.random.RandomState(0).laplace(size=(5, 300)).astype(np.float32)
    coded = _storage.ClusteredArray(values, 16, compress=True)
    expected = _storage.ClusteredArray(values, 16).codes()
    column_major = expected.reshape(5, 300).ravel(order="F")
    assert _storage._compress_codes(column_major, 4) == coded.lzma_codes
    np.testing.assert_array_equal(coded.codes(), expected)


def test_damaged_lzma_codes_are_refused(weights):
    coded = _storage.ClusteredArray(weights, 16, compress=True)
    coded.lzma_codes = _storage._compress_codes(np.zeros(10, np.uint8), 4)
    with pytest.raises(ValueError, match="damaged"):
        coded.codes()
    # More data than the codes take is never decompressed past them.
    coded.lzma_codes = _storage._compress_codes(np.zeros(10**6, np.uint8), 4)
    assert len(coded.codes()) == weights.size

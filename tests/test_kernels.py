"""The compiled projection kernel and the cached projection structure:
both change how fast prediction runs, never what it returns."""

import pickle

import numpy as np
import pytest
import scipy.sparse as sp

from sklearn_pnet import LSHProjector, ProjectionNetClassifier, _hashing, _inference, _lsh_projector
from sklearn_pnet._storage import ClusteredArray, encode

N_FEATURES, N_BITS, N_SLOTS = 500, 64, 8


def _structure(dtype=np.float32, n_clusters=None, n_bits=N_BITS):
    """``(bits, values, table)``: float values, or with ``n_clusters`` (or
    for the random projection, ``dtype=None``) byte codes into a table."""
    weights = None
    if dtype is not None:
        weights = encode(np.random.RandomState(0).randn(1000).astype(dtype), dtype, n_clusters)
    return _inference.projection_entries_of_all(3, N_FEATURES, n_bits, N_SLOTS, weights)


def _numpy_projection(X, structure, monkeypatch, n_bits=N_BITS):
    with monkeypatch.context() as patch:
        patch.setattr(_inference, "project_csr", None)
        return _inference.sparse_projection(X, *structure, n_bits)


def test_kernel_is_built():
    # CI installs with a C compiler; a missing kernel would leave every test
    # below checking numpy against itself.
    assert _inference.project_csr is not None, (
        "sklearn_pnet._kernels was not built: reinstall with a C compiler (pip install -e .)"
    )


@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
@pytest.mark.parametrize("data_dtype", [np.float32, np.float64])
def test_kernel_equals_numpy_to_the_bit(index_dtype, data_dtype, monkeypatch):
    X = sp.random(60, N_FEATURES, density=0.05, format="csr", random_state=1, dtype=data_dtype)
    X.data *= 1e3 * np.random.RandomState(2).randn(X.nnz)  # wide range: rounding shows
    X = sp.csr_matrix(sp.diags((np.arange(60) != 5).astype(data_dtype)) @ X)  # row 5 empty
    X.eliminate_zeros()
    X.indptr, X.indices = X.indptr.astype(index_dtype), X.indices.astype(index_dtype)
    assert X.indptr[5] == X.indptr[6]
    structure = _structure()
    expected = _numpy_projection(X, structure, monkeypatch)
    Z = _inference.sparse_projection(X, *structure, N_BITS)
    assert Z.dtype == expected.dtype == np.float32
    np.testing.assert_array_equal(Z, expected)
    assert np.abs(Z).sum() > 0


@pytest.mark.parametrize(
    "dtype,n_clusters,n_bits",
    [(None, None, N_BITS), ("float32", 8, N_BITS), ("float32", 8, 300), ("int8", None, 300)],
)
def test_compact_structures_give_the_same_projection(dtype, n_clusters, n_bits, monkeypatch):
    # Byte codes into a table (the random projection's signs, k-means
    # weights) and uint8/uint16 bits: the same numbers as float32 values
    # and int32 bits, in the kernel and in numpy.
    bits, values, table = _structure(dtype, n_clusters, n_bits)
    assert bits.dtype == (np.uint8 if n_bits <= 256 else np.uint16)
    assert (table is None) == (dtype == "int8")
    plain = bits.astype(np.int32), _inference.entry_values(values, table), None
    if table is not None:
        assert values.dtype == np.uint8 and table.shape == (256,)
        assert plain[1].dtype == np.float32
    X = sp.random(60, N_FEATURES, density=0.05, format="csr", random_state=1, dtype=np.float32)
    expected = _numpy_projection(X, plain, monkeypatch, n_bits)
    np.testing.assert_array_equal(_inference.sparse_projection(X, *plain, n_bits), expected)
    np.testing.assert_array_equal(
        _inference.sparse_projection(X, bits, values, table, n_bits), expected
    )
    np.testing.assert_array_equal(
        _numpy_projection(X, (bits, values, table), monkeypatch, n_bits), expected
    )


def test_kernel_sums_duplicate_entries_in_order(monkeypatch):
    # Unsorted indices with a repeated column: the sums follow storage order.
    X = sp.csr_matrix(
        (np.array([0.1, 3e7, 0.3, -3e7]), np.array([7, 3, 7, 3]), np.array([0, 4])),
        shape=(1, N_FEATURES),
    )
    structure = _structure()
    np.testing.assert_array_equal(
        _inference.sparse_projection(X, *structure, N_BITS),
        _numpy_projection(X, structure, monkeypatch),
    )


def test_float64_values_take_the_numpy_path():
    X = sp.random(10, N_FEATURES, density=0.1, format="csr", random_state=0)
    bits, values, table = _structure(np.float64)
    assert values.dtype == np.float64 and table is None
    assert _inference.sparse_projection(X, bits, values, table, N_BITS).dtype == np.float64


def _in_threads(monkeypatch, n_threads):
    """Every call of the projection kernel in ``n_threads`` threads."""
    monkeypatch.setattr(_inference, "MIN_OPERATIONS_PER_THREAD", 1)
    monkeypatch.setattr(_inference, "prediction_threads", lambda: n_threads)


@pytest.mark.parametrize("n_threads", [2, 3, 7])
@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
def test_threads_give_the_same_projection(n_threads, index_dtype, monkeypatch):
    """Rows split between threads (more ranges than threads, empty rows,
    fewer rows than ranges) are computed as on one thread."""
    X = sp.random(23, N_FEATURES, density=0.05, format="csr", random_state=4, dtype=np.float64)
    X.data *= 1e3 * np.random.RandomState(5).randn(X.nnz)
    X = sp.csr_matrix(sp.diags((np.arange(23) % 4 != 0).astype(np.float64)) @ X)
    X.eliminate_zeros()
    X.indptr, X.indices = X.indptr.astype(index_dtype), X.indices.astype(index_dtype)
    calls, real = [], _inference.project_csr

    def counted(indptr, *args):
        calls.append(len(indptr) - 1)
        real(indptr, *args)

    for structure in (_structure(), _structure("float32", 8)):
        expected = _inference.sparse_projection(X, *structure, N_BITS)
        calls.clear()
        with monkeypatch.context() as patch:
            _in_threads(patch, n_threads)
            patch.setattr(_inference, "project_csr", counted)
            Z = _inference.sparse_projection(X, *structure, N_BITS)
        np.testing.assert_array_equal(Z.view(np.uint32), expected.view(np.uint32))
        assert len(calls) == min(23, 4 * n_threads) and sum(calls) == 23


def test_threads_give_the_same_entries(monkeypatch):
    features = np.arange(0, 3 * N_FEATURES, 7)
    weights = np.random.RandomState(0).randn(1000).astype(np.float32)
    expected = _inference.projection_entries(3, features, N_BITS, N_SLOTS, weights, 4 * N_FEATURES)
    _in_threads(monkeypatch, 3)
    got = _inference.projection_entries(3, features, N_BITS, N_SLOTS, weights, 4 * N_FEATURES)
    for a, b in zip(got, expected):
        np.testing.assert_array_equal(a, b)


def test_threads_raise_the_kernels_error(monkeypatch):
    """A malformed row found in a worker thread is the caller's error."""
    X = sp.random(40, N_FEATURES, density=0.05, format="csr", random_state=6, dtype=np.float64)
    X.indices[-1] = N_FEATURES + 1  # in the last rows: another thread's range
    _in_threads(monkeypatch, 3)
    with pytest.raises(ValueError, match="out of range"):
        _inference.sparse_projection(X, *_structure(), N_BITS)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("kind", ["sparse-path", "sparse-hidden", "dense", "hashednet"])
def test_whole_predictions_in_threads_are_the_same(kind, monkeypatch):
    """Logits on two threads are one thread's, to the bit. A linear student
    on sparse input is compiled passes that each split the rows among the
    threads; otherwise the whole prediction is split (rows_in_threads), and
    inside its threads the kernels keep to their thread."""
    from threadpoolctl import threadpool_limits

    from sklearn_pnet import HashedNetClassifier

    rng = np.random.RandomState(0)
    y = np.arange(150) % 3
    if kind == "dense":
        X = rng.randn(150, 20)
        clf = ProjectionNetClassifier(n_bits=32, max_iter=2, random_state=0)
    else:
        X = sp.random(150, N_FEATURES, density=0.05, format="csr", random_state=7)
        if kind == "hashednet":
            clf = HashedNetClassifier((8,), max_iter=2, random_state=0)
        elif kind == "sparse-hidden":
            clf = ProjectionNetClassifier(
                n_bits=64, hidden_layer_sizes=(8,), max_iter=2, random_state=0
            )
        else:
            clf = ProjectionNetClassifier(n_bits=64, linear_buckets=64, max_iter=2, random_state=0)
    clf.fit(X, y)
    expected = clf.decision_function(X)
    assert _inference.threads_for(len(y), 10**9, 1) == 1  # the suite runs on one thread
    seen = []
    real = _inference.run_in_threads

    def spy(work, indptr, n_threads):
        seen.append((n_threads, _inference.prediction_threads()))
        real(work, indptr, n_threads)

    monkeypatch.setattr(_inference, "MIN_ENTRIES_PER_THREAD", 1)
    monkeypatch.setattr(_inference, "MIN_OPERATIONS_PER_THREAD", 1)
    monkeypatch.setattr(_inference, "run_in_threads", spy)
    with threadpool_limits(2):
        got = clf.decision_function(X)
    np.testing.assert_array_equal(got.view(np.uint64), expected.view(np.uint64))
    if kind == "sparse-path":
        # The bits with the student, then the path's scores: each on two.
        assert clf._kernels_split_rows(X)
        assert seen == [(2, 2), (2, 2)]
    else:
        # The whole prediction on two threads, and in them every compiled
        # kernel (the sparse projection, its entries) on one.
        assert seen[0] == (2, 2)
        assert all(n_threads == 1 and cap == 1 for n_threads, cap in seen[1:])
        assert len(seen) > 1 if kind == "sparse-hidden" else len(seen) == 1


def test_prediction_threads_follow_threadpoolctl():
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        assert _inference.prediction_threads() == 1
    assert _inference.prediction_threads() >= 1


@pytest.mark.parametrize("broken", ["column", "indptr"])
def test_kernel_rejects_a_malformed_matrix(broken):
    bits, values, _ = _structure()
    indptr, indices = np.array([0, 2], np.int32), np.array([1, 2], np.int32)
    if broken == "column":
        indices[1] = N_FEATURES  # one past the last feature
    else:
        indptr[1] = 5  # more non-zeros than stored
    out = np.empty((1, N_BITS), np.float32)
    with pytest.raises(ValueError, match="out of range"):
        _inference.project_csr(indptr, indices, np.ones(2), bits, values, out, N_SLOTS, N_BITS)


@pytest.mark.parametrize(
    "dtype,n_clusters",
    [("float32", None), ("float16", None), ("int8", None), ("float16", 4), (None, None)],
)
def test_cached_structure_predicts_as_hashing_does(dtype, n_clusters, monkeypatch):
    """A projector's cached structure gives the bits of a fresh hash, for
    every stored form of its weights (None: the random projection), dense
    and sparse input."""
    rng = np.random.RandomState(0)
    X = sp.random(80, N_FEATURES, density=0.05, format="csr", random_state=3)
    projector = LSHProjector(n_bits=N_BITS, density=N_SLOTS / N_BITS, random_state=0).fit(X)
    weights = None
    if dtype is not None:
        weights = encode(rng.randn(2000).astype(np.float32), dtype, n_clusters)
        projector._use_trained_weights(weights, 0.01 * rng.randn(N_BITS))
    for data in (X, X.toarray()):
        with monkeypatch.context() as patch:
            patch.setattr(_lsh_projector, "STRUCTURE_CACHE_ENTRIES", 0)
            hashed = projector.transform(data)
        np.testing.assert_array_equal(projector.transform(data), hashed)
    assert _lsh_projector._structures[projector][1] is weights


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_structure_is_hashed_once_and_never_pickled(monkeypatch):
    X = sp.random(50, N_FEATURES, density=0.05, format="csr", random_state=0)
    y = np.arange(50) % 2
    model = ProjectionNetClassifier(n_bits=N_BITS, max_iter=2, random_state=0).fit(X, y)
    before = pickle.dumps(model)
    model.predict(X[:3])
    calls = []
    original = _lsh_projector.projection_entries_of_all
    monkeypatch.setattr(
        _lsh_projector,
        "projection_entries_of_all",
        lambda *args: calls.append(args) or original(*args),
    )
    for i in range(5):
        model.predict(X[i : i + 1])
    assert calls == []
    assert pickle.dumps(model) == before

    # A refit makes new weights: the next prediction hashes them afresh.
    model.set_params(random_state=1).fit(X, y)
    probabilities = model.predict_proba(X)
    assert len(calls) == 1
    monkeypatch.setattr(_lsh_projector, "STRUCTURE_CACHE_ENTRIES", 0)
    np.testing.assert_array_equal(model.predict_proba(X), probabilities)


def test_kernel_rejects_a_table_of_another_length():
    bits, codes, table = _structure(None)
    X = sp.random(3, N_FEATURES, density=0.05, format="csr", random_state=0, dtype=np.float32)
    out = np.empty((3, N_BITS), np.float32)
    with pytest.raises(ValueError, match="256 values"):
        _inference.project_csr(
            X.indptr, X.indices, X.data, bits, codes, out, N_SLOTS, N_BITS, table[:10]
        )


def _without_hash_kernels(patch):
    """Remove the hash kernels within a monkeypatch context: numpy hashes."""
    patch.setattr(_hashing, "_compiled_sparse_structure", None)
    patch.setattr(_inference, "sparse_entries", None)


@pytest.mark.parametrize("seed", [0, 7, 2**32 - 1])
@pytest.mark.parametrize("n_bits", [3, 256, 1024, 70_000])
@pytest.mark.parametrize("n_weights", [None, 1000, "unshared"])
def test_hash_kernel_gives_numpy_structure(seed, n_bits, n_weights, monkeypatch):
    """Bits, signs and weight indices of a sparse projection's rows, from
    the C hash, equal numpy's (shared and unshared weights; a +-1
    projection, with a feature index beyond 2**32)."""
    n_features, n_slots = 3000, 24
    if n_weights == "unshared":
        n_weights = n_features * n_slots
    features = np.array([0, 1, 5, 2999, 17, 17] + ([2**33 + 1] if n_weights is None else []))
    compiled = _hashing.projection_structure(seed, features, n_bits, n_slots, n_weights, n_features)
    with monkeypatch.context() as patch:
        _without_hash_kernels(patch)
        expected = _hashing.projection_structure(
            seed, features, n_bits, n_slots, n_weights, n_features
        )
    for got, want in zip(compiled, expected):
        if want is None:
            assert got is None
        else:
            assert got.dtype == want.dtype
            np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize(
    "dtype,n_clusters",
    [("float32", None), ("float16", None), ("int8", None), ("float32", 8), (None, None)],
)
@pytest.mark.parametrize("n_bits", [256, 70_000])
def test_hash_kernel_gives_numpy_entries(dtype, n_clusters, n_bits, monkeypatch):
    """The signed weights of each slot, from every stored form of the
    weights (None: the random projection), equal numpy's to the bit."""
    weights = None
    if dtype is not None:
        values = np.random.RandomState(0).randn(5000).astype(dtype)
        values[:3] = (0.0, -0.0, 1e-30)  # signed zeros and a tiny weight stay as they are
        weights = encode(values, dtype, n_clusters)
    features = np.arange(0, 40_000, 37)
    bits, values = _inference.projection_entries(9, features, n_bits, 16, weights, 40_000)
    with monkeypatch.context() as patch:
        _without_hash_kernels(patch)
        want_bits, want_values = _inference.projection_entries(
            9, features, n_bits, 16, weights, 40_000
        )
    np.testing.assert_array_equal(bits, want_bits)
    assert values.dtype == want_values.dtype == np.float32
    np.testing.assert_array_equal(values.view(np.uint32), want_values.view(np.uint32))


def test_hash_kernels_check_their_arguments():
    features = np.array([1, 2], np.int64)
    bits, signs = np.empty((2, 4), np.int64), np.empty((2, 4), np.float32)
    buckets = np.empty((2, 4), np.int64)
    for wrong in (-1, 100):
        with pytest.raises(ValueError, match="negative, or past n_features"):
            _hashing._compiled_sparse_structure(
                np.array([1, wrong], np.int64), bits, signs, buckets, 0, 8, 4, 10, 100
            )
    with pytest.raises(ValueError, match="out of range"):
        _hashing._compiled_sparse_structure(features, bits, signs, buckets, 2**32, 8, 4, 10, 100)
    with pytest.raises(ValueError, match="n_slots"):
        _hashing._compiled_sparse_structure(features, bits, signs, buckets, 0, 8, 3, 10, 100)
    entry_bits, values = np.empty((2, 4), np.uint16), np.empty((2, 4), np.float32)
    with pytest.raises(ValueError, match="past n_features"):
        _inference.sparse_entries(
            np.array([1, 100], np.int64),
            np.zeros(10, np.float32),
            entry_bits,
            values,
            0,
            8,
            4,
            10,
            100,
        )
    with pytest.raises(ValueError, match="weights not n_weights"):
        _inference.sparse_entries(
            features, np.zeros(9, np.float32), entry_bits, values, 0, 8, 4, 10, 100
        )
    with pytest.raises(TypeError, match="bits"):
        _inference.sparse_entries(
            features, np.zeros(10, np.float32), signs, values, 0, 8, 4, 10, 100
        )


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_uncached_projection_decodes_its_weights_once(monkeypatch):
    """Where the structure is too large to keep, the k-means weights are
    decoded once, never pickled, decoded afresh after a refit, and predict
    as the numpy hashing of the compact weights does."""
    monkeypatch.setattr(_lsh_projector, "STRUCTURE_CACHE_ENTRIES", 0)
    X = sp.random(60, N_FEATURES, density=0.05, format="csr", random_state=0)
    y = np.arange(60) % 3
    model = ProjectionNetClassifier(
        n_bits=N_BITS, n_weights=3000, weight_clusters=8, max_iter=2, random_state=0
    ).fit(X, y)
    before = pickle.dumps(model)
    decodes = []  # of the projection's weights (the student's are decoded too)
    original = ClusteredArray.__array__

    def counted(weights, *args, **kwargs):
        decodes.append(weights is model.projector_.weights_)
        return original(weights, *args, **kwargs)

    monkeypatch.setattr(ClusteredArray, "__array__", counted)
    probabilities = model.predict_proba(X)
    for i in range(4):
        model.predict(X[i : i + 1])
    assert sum(decodes) == 1
    assert pickle.dumps(model) == before
    with monkeypatch.context() as patch:
        _without_hash_kernels(patch)
        patch.setattr(
            _lsh_projector.LSHProjector, "_structure", lambda self, n: (None, self.weights_)
        )
        np.testing.assert_array_equal(model.predict_proba(X), probabilities)

    model.set_params(random_state=1).fit(X, y)
    decodes.clear()
    model.predict(X)
    assert sum(decodes) == 1


def _bits_and_weights(n_bits, n_out, integers):
    rng = np.random.RandomState(8)
    threshold = (0.05 * rng.randn(n_bits)).astype(np.float32)
    weights = rng.randint(-9, 10, (n_bits, n_out)).astype(np.float64)
    if not integers:  # sums that round, so that their order shows
        weights *= 10.0 ** rng.randint(-8, 9, weights.shape)
    return threshold, weights


@pytest.mark.parametrize(
    "dtype,n_clusters,n_bits",
    [("float32", None, N_BITS), ("float32", 8, N_BITS), (None, None, N_BITS), ("float32", 8, 300)],
)
@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
@pytest.mark.parametrize("n_out", [1, 16, 20, 33])
def test_bits_product_is_the_bits_times_the_weights(dtype, n_clusters, n_bits, index_dtype, n_out):
    """project_csr_product gives the projection's bits times the weights,
    each set bit's row added in the order of the bits (an exported model's
    order), for every structure; with integer weights, BLAS's product."""
    X = sp.random(40, N_FEATURES, density=0.05, format="csr", random_state=9, dtype=np.float64)
    X.data *= 1e3 * np.random.RandomState(2).randn(X.nnz)
    X = sp.csr_matrix(sp.diags((np.arange(40) != 3).astype(np.float64)) @ X)  # row 3 empty
    X.eliminate_zeros()
    X.indptr, X.indices = X.indptr.astype(index_dtype), X.indices.astype(index_dtype)
    structure = _structure(dtype, n_clusters, n_bits)
    for integers in (True, False):
        threshold, weights = _bits_and_weights(n_bits, n_out, integers)
        bits = _inference.sparse_projection(X, *structure, n_bits) > threshold
        got = _inference.sparse_bits_product(X, *structure, threshold, weights)
        assert got.shape == (40, n_out) and got.dtype == np.float64
        in_order = np.zeros((40, n_out))
        for i, row in enumerate(bits):
            for b in np.flatnonzero(row):
                in_order[i] += weights[b]
        np.testing.assert_array_equal(got, in_order)
        if integers:
            np.testing.assert_array_equal(got, bits.astype(np.float64) @ weights)
        assert 0.2 < bits.mean() < 0.8


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize(
    "params",
    [
        {},
        {"weight_dtype": "float32", "weight_clusters": None},
        {"weight_dtype": "float16", "weight_clusters": None},
        {"weight_dtype": "int8", "weight_clusters": None},
        {"sparsity": 0.5},
        {"linear_buckets": 64},
        {"projection": "random"},
        {"n_classes": 2},
    ],
)
def test_sparse_predictions_with_the_bits_product(params, monkeypatch):
    """A linear student on sparse input predicts through project_csr_product
    (every stored form of its weights) as through the bits and numpy's
    product: the same predictions, logits to rounding of their sums."""
    params = dict(params)
    X = sp.random(120, N_FEATURES, density=0.05, format="csr", random_state=7)
    y = np.arange(120) % params.pop("n_classes", 3)
    clf = ProjectionNetClassifier(n_bits=64, max_iter=3, random_state=0, **params).fit(X, y)
    assert clf._kernels_split_rows(X)
    calls, real = [], _inference.project_csr_product
    monkeypatch.setattr(
        _inference, "project_csr_product", lambda *args: calls.append(1) or real(*args)
    )
    got, labels = clf.decision_function(X), clf.predict(X)
    assert calls
    monkeypatch.setattr(_inference, "project_csr_product", None)
    assert not clf._kernels_split_rows(X)
    np.testing.assert_allclose(got, clf.decision_function(X), rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(labels, clf.predict(X))


@pytest.mark.parametrize(
    "change,message",
    [
        ("threshold", "threshold is not n_bits"),
        ("columns", "multiple of 8"),
        ("out", "n_rows x n_out"),
        ("column", "out of range"),
    ],
)
def test_bits_product_kernel_rejects_bad_arguments(change, message):
    bits, values, _ = _structure()
    indptr, indices = np.array([0, 2], np.int32), np.array([1, 2], np.int32)
    threshold, weights, out = (
        np.zeros(N_BITS, np.float32),
        np.zeros((N_BITS, 32)),
        np.empty((1, 32)),
    )
    if change == "threshold":
        threshold = threshold[:-1]
    elif change == "columns":
        weights = np.zeros((N_BITS, 20))  # 20 columns: not a multiple of 8
    elif change == "out":  # two rows, and a number of values that is not twice a row
        indptr, out = np.array([0, 1, 2], np.int32), np.empty(33)
    else:
        indices[1] = N_FEATURES
    with pytest.raises(ValueError, match=message):
        _inference.project_csr_product(
            indptr, indices, np.ones(2), bits, values, threshold, weights, out, N_SLOTS, N_BITS
        )


@pytest.fixture
def both_slot_loops():
    """Runs a test's kernels sixteen slots' products at a time (AVX-512),
    then one slot at a time: ``loops(wide)`` switches; the CPU's choice is
    restored after."""
    from sklearn_pnet import _kernels

    default = _kernels.wide_products()
    if not _kernels.wide_products(True):
        _kernels.wide_products(default)
        pytest.skip("this CPU has no AVX-512: the kernels take one slot at a time only")
    yield _kernels.wide_products
    _kernels.wide_products(default)


@pytest.mark.parametrize("n_slots", [8, 16, 20, 32, 40])
@pytest.mark.parametrize(
    "dtype,n_clusters,n_bits",
    [
        (None, None, N_BITS),  # the random projection: codes 0 and 1
        ("float32", 8, N_BITS),  # 16 codes
        ("float32", 16, 300),  # 32 codes, the most a vector holds; uint16 bits
        ("float32", 32, N_BITS),  # codes past 32: those rows again, a slot at a time
        ("float32", None, N_BITS),  # float32 values
        ("int8", None, 300),
    ],
)
@pytest.mark.parametrize("index_dtype,data_dtype", [(np.int32, np.float64), (np.int64, np.float32)])
def test_wide_slots_give_the_same_numbers(
    n_slots, dtype, n_clusters, n_bits, index_dtype, data_dtype, both_slot_loops, monkeypatch
):
    """Sixteen slots' products at a time, then their sums in order: the
    same projection and bits product as one slot at a time, and as numpy."""
    weights = None
    if dtype is not None:
        weights = np.random.RandomState(0).randn(1000).astype(dtype)
        weights = encode(weights, dtype, n_clusters)
    structure = _inference.projection_entries_of_all(3, N_FEATURES, n_bits, n_slots, weights)
    if n_clusters == 32:
        assert structure[1].max() >= 32
    X = sp.random(50, N_FEATURES, density=0.05, format="csr", random_state=4, dtype=data_dtype)
    X.data *= 1e3 * np.random.RandomState(5).randn(X.nnz)  # wide range: rounding shows
    X.indptr, X.indices = X.indptr.astype(index_dtype), X.indices.astype(index_dtype)
    threshold, product_weights = _bits_and_weights(n_bits, 20, integers=False)

    def both():
        Z = _inference.sparse_projection(X, *structure, n_bits)
        return Z, _inference.sparse_bits_product(X, *structure, threshold, product_weights)

    assert both_slot_loops(True)
    wide, wide_product = both()
    assert not both_slot_loops(False)
    one, one_product = both()
    np.testing.assert_array_equal(wide, one)
    np.testing.assert_array_equal(wide_product, one_product)
    np.testing.assert_array_equal(wide, _numpy_projection(X, structure, monkeypatch, n_bits))
    assert 0.2 < (wide > threshold).mean() < 0.8


def test_wide_slots_reject_a_malformed_matrix(both_slot_loops):
    bits, values, table = _inference.projection_entries_of_all(3, N_FEATURES, N_BITS, 32)
    out = np.empty((1, N_BITS), np.float32)
    for indptr, indices in [([0, 3], [1, 2]), ([0, 2], [1, N_FEATURES])]:
        with pytest.raises(ValueError, match="out of range"):
            _inference.project_csr(
                np.array(indptr, np.int32),
                np.array(indices, np.int32),
                np.ones(2),
                bits,
                values,
                out,
                32,
                N_BITS,
                table,
            )


def _training_kernel_arguments(n_slots, n_bits=64, n_weights=37, seed=0):
    """A CSR batch of 30 rows over 25 structure rows whose bits and weight
    indices repeat within a row (as hashing makes them), for the training
    kernels."""
    rng = np.random.RandomState(seed)
    X = sp.random(30, 25, density=0.3, format="csr", random_state=rng, dtype=np.float32)
    X.data *= 1e3 * rng.randn(X.nnz).astype(np.float32)  # rounding shows
    shape = (25, n_slots)
    bits = rng.randint(n_bits, size=shape).astype(np.int32)
    bits[:, 1] = bits[:, 0]  # the same bit twice in a row
    buckets = rng.randint(n_weights, size=shape).astype(np.int32)
    signs = rng.choice(np.array([-1, 1], np.int8), size=shape)
    return X.indptr.astype(np.int64), X.indices.astype(np.int64), X.data, bits, signs, buckets


@pytest.mark.parametrize("n_slots", [8, 16, 20, 32, 40])
def test_wide_training_kernels_give_the_same_numbers(n_slots, both_slot_loops):
    # The trained projection and its weights' gradient, sixteen slots'
    # products at a time and one slot at a time: the same float32 bits,
    # and those of the slot-by-slot order written out in numpy.
    from sklearn_pnet._kernels import train_projection, train_projection_grad

    indptr, rows, data, bits, signs, buckets = _training_kernel_arguments(n_slots)
    weight = np.random.RandomState(1).randn(37).astype(np.float32)
    grad_out = np.random.RandomState(2).randn(30, 64).astype(np.float32)
    arrays = (indptr, rows, data, bits, signs, buckets)
    results = []
    for wide in (True, False):
        assert both_slot_loops(wide) == wide
        out = np.full((30, 64), np.nan, np.float32)
        train_projection(*arrays, weight, out, n_slots, 64)
        grad_weight = np.full(37, np.nan, np.float32)
        train_projection_grad(*arrays, grad_weight, grad_out, n_slots, 64)
        results.append((out, grad_weight))
    expected_out = np.zeros((30, 64), np.float32)
    expected_grad = np.zeros(37, np.float32)
    for i in range(30):
        for k in range(indptr[i], indptr[i + 1]):
            for s in range(n_slots):
                r = rows[k]
                signed_x = data[k] * np.float32(signs[r, s])
                expected_out[i, bits[r, s]] += signed_x * weight[buckets[r, s]]
                expected_grad[buckets[r, s]] += grad_out[i, bits[r, s]] * signed_x
    for out, grad_weight in results:
        np.testing.assert_array_equal(out.view(np.int32), expected_out.view(np.int32))
        np.testing.assert_array_equal(grad_weight.view(np.int32), expected_grad.view(np.int32))


@pytest.mark.parametrize("where", ["bits", "buckets"])
@pytest.mark.parametrize("value", [-1, 64])
def test_wide_training_kernels_reject_an_index_out_of_range(where, value, both_slot_loops):
    from sklearn_pnet._kernels import train_projection, train_projection_grad

    indptr, rows, data, bits, signs, buckets = _training_kernel_arguments(32)
    (bits if where == "bits" else buckets)[rows[0], 3] = value  # in the first vector
    arrays = (indptr, rows, data, bits, signs, buckets)
    weight = np.ones(37, np.float32)
    for wide in (True, False):
        both_slot_loops(wide)
        with pytest.raises(ValueError, match="out of range"):
            train_projection(*arrays, weight, np.empty((30, 64), np.float32), 32, 64)
        with pytest.raises(ValueError, match="out of range"):
            train_projection_grad(*arrays, weight, np.ones((30, 64), np.float32), 32, 64)

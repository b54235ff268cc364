"""Torch trains, numpy predicts: every torch module agrees with its numpy
twin, so that the model that was trained is the model that predicts."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from sklearn_pnet import LSHProjector, _inference
from sklearn_pnet._base import to_numpy
from sklearn_pnet._storage import encode
from sklearn_pnet._torch_hashednet import HashedLinear, hashed_mlp
from sklearn_pnet._torch_pnet import HashedProjection, Student, mlp, student_weights

N_FEATURES, N_BITS = 300, 64


@pytest.fixture(scope="module")
def X_sparse():
    return sp.random(40, N_FEATURES, density=0.05, format="csr", random_state=0)


def _projection(n_slots, n_weights, seed=7):
    """A torch projection whose shared weights and thresholds have moved
    away from their start (1 and 0), as after training."""
    torch.manual_seed(0)
    rng = np.random.RandomState(1)
    projection = HashedProjection(seed, N_FEATURES, N_BITS, n_slots, n_weights, np.zeros(N_BITS))
    projection.load_numpy(
        rng.randn(len(projection.weight)).astype(np.float32), 0.1 * rng.randn(N_BITS)
    )
    return projection


def _assert_bits_agree(Z_torch, Z_numpy, atol):
    """Same bits wherever the projection is not within rounding of the
    threshold (a tie may go either way)."""
    decided = np.abs(Z_numpy) > atol
    np.testing.assert_array_equal((Z_torch > 0)[decided], (Z_numpy > 0)[decided])
    assert decided.mean() > 0.99


@pytest.mark.parametrize("n_slots", [None, 1, 4, 16])
@pytest.mark.parametrize("n_weights", [50, 10**7], ids=["shared", "one-per-entry"])
@pytest.mark.parametrize("layout", ["dense", "csr"])
def test_trained_projection_agrees_with_numpy(X_sparse, n_slots, n_weights, layout):
    projection = _projection(n_slots, n_weights)
    X = X_sparse if layout == "csr" else X_sparse.toarray()
    with torch.no_grad():
        Z_torch = projection(X).numpy()
    weights = to_numpy(projection.weight)
    threshold = to_numpy(projection.threshold)
    Z_numpy = _inference.hashed_projection(X, 7, N_BITS, n_slots, weights) - threshold
    np.testing.assert_allclose(Z_torch, Z_numpy, rtol=1e-5, atol=1e-5)
    _assert_bits_agree(Z_torch, Z_numpy, atol=1e-5)


@pytest.mark.parametrize("n_slots", [None, 4])
def test_cached_structure_gives_the_same_projection_and_gradients(X_sparse, n_slots):
    # The structure hashed once per fit for the training features, or
    # hashed for each batch: the same numbers.
    results = []
    for cached in (False, True):
        projection = _projection(n_slots, 50)
        if cached:
            assert projection.cache_structure(np.unique(X_sparse.indices))
        Z = projection(X_sparse)
        Z.square().sum().backward()
        results.append((Z.detach().numpy(), projection.weight.grad.numpy()))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])


@pytest.mark.parametrize("n_slots", [None, 1, 4, 16])
@pytest.mark.parametrize("layout", ["dense", "csr"])
def test_random_projection_is_the_trained_one_at_its_start(X_sparse, n_slots, layout):
    # Weights of 1: the torch projection starts at the random one.
    torch.manual_seed(0)
    threshold = np.random.RandomState(2).randn(N_BITS).astype(np.float32)
    projection = HashedProjection(7, N_FEATURES, N_BITS, n_slots, 5000, threshold)
    X = X_sparse if layout == "csr" else X_sparse.toarray()
    with torch.no_grad():
        Z_torch = projection(X).numpy()
    Z_numpy = _inference.hashed_projection(X, 7, N_BITS, n_slots, None) - threshold
    np.testing.assert_allclose(Z_torch, Z_numpy, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("cache", [True, False], ids=["cached", "blocks"])
@pytest.mark.parametrize("layout", ["dense", "csr"])
def test_hashed_linear_agrees_with_numpy(X_sparse, cache, layout, monkeypatch):
    if not cache:
        monkeypatch.setattr(HashedLinear, "cache_entries", 0)
        monkeypatch.setattr(HashedLinear, "block_entries", 100)
        monkeypatch.setattr(_inference, "BLOCK_ENTRIES", 100)
    torch.manual_seed(0)
    layer = HashedLinear(N_FEATURES, 20, 333, seed=5)
    X = X_sparse if layout == "csr" else X_sparse.toarray()
    with torch.no_grad():
        out = layer(X).numpy()
    expected = _inference.hashed_matmul(X, to_numpy(layer.weight), 5, 20) + to_numpy(layer.bias)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("hash_bias", [False, True])
@pytest.mark.parametrize("form", [dict(), dict(dtype="int8"), dict(n_clusters=8)])
def test_hashed_network_agrees_with_numpy(hash_bias, form):
    torch.manual_seed(0)
    network = hashed_mlp(30, (20, 10), 4, [50, 30, 7], [1, 2, 3], hash_bias=hash_bias)
    layers = [m for m in network if isinstance(m, HashedLinear)]
    X = np.random.RandomState(0).rand(8, 30)
    weights = [to_numpy(layer.weight) for layer in layers]
    intercepts = [None if layer.bias is None else to_numpy(layer.bias) for layer in layers]
    with torch.no_grad():
        expected = network(X).numpy()
    logits = _inference.hashed_forward(X, weights, intercepts, [1, 2, 3], [20, 10, 4])
    np.testing.assert_allclose(logits, expected, rtol=1e-5, atol=1e-6)
    if form:
        # Compact forms predict from their codes like from the decoded weights.
        encoded = [encode(w, **form) for w in weights]
        decoded = [np.asarray(w) for w in encoded]
        np.testing.assert_allclose(
            _inference.hashed_forward(X, encoded, intercepts, [1, 2, 3], [20, 10, 4]),
            _inference.hashed_forward(X, decoded, intercepts, [1, 2, 3], [20, 10, 4]),
        )


@pytest.mark.parametrize("hidden", [(), (16,), (16, 8)])
def test_student_mlp_agrees_with_numpy(hidden):
    torch.manual_seed(0)
    network = mlp(N_BITS, hidden, 5)
    bits = np.random.RandomState(0).randint(0, 2, size=(30, N_BITS))
    with torch.no_grad():
        expected = network(torch.from_numpy(bits.astype(np.float32))).numpy()
    coefs, intercepts = student_weights(network)
    np.testing.assert_allclose(
        _inference.forward(bits, coefs, intercepts), expected, rtol=1e-5, atol=1e-5
    )


@pytest.mark.parametrize("n_slots", [None, 16])
@pytest.mark.parametrize("layout", ["dense", "csr"])
def test_whole_student_agrees_with_the_fitted_projector(X_sparse, n_slots, layout):
    # What ProjectionNetClassifier keeps after training: a projector that
    # adopts the trained weights and thresholds, and the MLP's weights.
    density = 1.0 if n_slots is None else n_slots / N_BITS
    projector = LSHProjector(N_BITS, density=density, random_state=0).fit(X_sparse)
    assert projector.n_slots_ == n_slots
    projection = _projection(n_slots, 50, seed=projector.seed_)
    student = Student(mlp(N_BITS, (8,), 3), projection).eval()
    X = X_sparse if layout == "csr" else X_sparse.toarray()
    with torch.no_grad():
        expected = student(X).numpy()
    projector._use_trained_weights(to_numpy(projection.weight), to_numpy(projection.threshold))
    coefs, intercepts = student_weights(student.mlp)
    logits = _inference.forward(projector.transform(X), coefs, intercepts)
    np.testing.assert_allclose(logits, expected, rtol=1e-5, atol=1e-5)


def _forward_backward(projection, X, upstream, monkeypatch, without=None):
    """The projection of ``X`` and its weights' gradient of ``(Z *
    upstream).sum()``, with the compiled kernel named ``without`` replaced
    by torch's expression."""
    from sklearn_pnet import _torch_pnet

    with monkeypatch.context() as patch:
        if without is not None:
            patch.setattr(_torch_pnet, without, None)
        Z = projection(X)
        (Z * upstream).sum().backward()
    return Z.detach().numpy(), projection.weight.grad.numpy()


@pytest.mark.parametrize("cached", [False, True, "partly"])
@pytest.mark.parametrize("n_slots", [1, 4, 16])
def test_compiled_training_kernels_are_the_torch_expression(X_sparse, n_slots, cached, monkeypatch):
    # The compiled kernels compute the trained projection and its weights'
    # gradient in the order of the torch expression they replace: the same
    # float32 bits, with the structure from the cache or hashed per batch.
    from sklearn_pnet import _torch_pnet

    if _torch_pnet.train_projection is None:
        pytest.skip("the compiled kernels are not built")
    X = X_sparse.copy()
    X.data *= 1e3 * np.random.RandomState(3).randn(X.nnz)  # rounding shows
    upstream = torch.from_numpy(np.random.RandomState(4).randn(X.shape[0], N_BITS)).float()
    results = []
    for compiled in (False, True):
        projection = _projection(n_slots, 50)
        if cached:
            columns = np.unique(X.indices)
            # "partly": a column missing from the cache sends the batch to
            # the per-batch hashing path.
            assert projection.cache_structure(columns[1:] if cached == "partly" else columns)
        without = None if compiled else "train_projection"
        results.append(_forward_backward(projection, X, upstream, monkeypatch, without))
    (Z_torch, grad_torch), (Z_kernel, grad_kernel) = results
    assert np.abs(grad_torch).sum() > 0
    np.testing.assert_array_equal(Z_kernel.view(np.int32), Z_torch.view(np.int32))
    np.testing.assert_array_equal(grad_kernel.view(np.int32), grad_torch.view(np.int32))


def _product_in_order(A, B):
    """``A @ B`` in float32, adding ``A[r, t] * B[t]`` over the non-zero
    ``A[r, t]`` in increasing ``t``: the order ``dense_product`` promises."""
    out = np.zeros((A.shape[0], B.shape[1]), dtype=np.float32)
    for t in range(A.shape[1]):
        rows = A[:, t] != 0
        out[rows] += A[rows, t, None] * B[t]
    return out


@pytest.mark.parametrize("shape", [(40, 300, 256), (7, 13, 300), (5, 3, 17), (0, 4, 5), (3, 0, 4)])
@pytest.mark.parametrize("transpose", [False, True])
def test_dense_product_adds_in_a_fixed_order(shape, transpose):
    from sklearn_pnet._torch_pnet import dense_product

    if dense_product is None:
        pytest.skip("the compiled kernels are not built")
    rng = np.random.RandomState(0)
    n_rows, n_cols, n_out = shape
    A = (rng.rand(n_rows, n_cols) < 0.3) * rng.randn(n_rows, n_cols) * 1e3  # rounding shows
    A = A.astype(np.float32)
    A[A == 0] = rng.choice([0.0, -0.0], size=int((A == 0).sum()))  # -0.0 is a zero too
    left = A.T if transpose else A
    B = rng.randn(left.shape[1], n_out).astype(np.float32)
    out = np.full((left.shape[0], n_out), np.nan, dtype=np.float32)
    dense_product(A, B, out, n_rows, n_cols, n_out, transpose)
    np.testing.assert_array_equal(out.view(np.int32), _product_in_order(left, B).view(np.int32))
    np.testing.assert_allclose(out, left.astype(np.float64) @ B, rtol=1e-4, atol=1e-2)
    with pytest.raises(ValueError, match="inconsistent shapes"):
        dense_product(A, B, out, n_rows + 1, n_cols, n_out, transpose)


@pytest.mark.parametrize("n_slots", [None, 4])
def test_dense_training_path_is_the_matrix_product(X_sparse, n_slots, monkeypatch):
    # For dense input the compiled kernels build the projection's rows (the
    # same numbers as the torch expression) and multiply the batch by them
    # in their own fixed order: the projection and the weights' gradient
    # agree with torch's matrix products up to rounding.
    from sklearn_pnet import _torch_pnet

    if _torch_pnet.dense_product is None:
        pytest.skip("the compiled kernels are not built")
    X = X_sparse.toarray()
    upstream = torch.from_numpy(np.random.RandomState(4).randn(X.shape[0], N_BITS)).float()
    results = []
    for compiled in (False, True):
        projection = _projection(n_slots, 50)
        without = None if compiled else "dense_product"
        results.append(_forward_backward(projection, X, upstream, monkeypatch, without))
    (Z_torch, grad_torch), (Z_kernel, grad_kernel) = results
    np.testing.assert_allclose(Z_kernel, Z_torch, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(grad_kernel, grad_torch, rtol=1e-4, atol=1e-4)
    assert np.abs(grad_kernel).sum() > 0
    if n_slots is not None:
        # The rows built by the sparse kernels are _rows's, to the bit.
        projection = _projection(n_slots, 50)
        projection(X[:1])
        with torch.no_grad():
            P_kernel = _torch_pnet._CompiledProjection.apply(
                projection.weight, projection._identity_batch()
            )
            P_torch = projection._rows(projection._dense_structure, N_FEATURES)
        np.testing.assert_array_equal(
            P_kernel.numpy().view(np.int32), P_torch.numpy().view(np.int32)
        )


def test_compiled_training_kernels_check_their_arguments():
    from sklearn_pnet._torch_pnet import train_projection, train_projection_grad

    if train_projection is None:
        pytest.skip("the compiled kernels are not built")
    indptr = np.array([0, 1, 2], dtype=np.int64)
    rows = np.array([0, 1], dtype=np.int64)
    data = np.ones(2, dtype=np.float32)
    bits = np.array([[0, 3], [1, 2]], dtype=np.int32)
    signs = np.ones((2, 2), dtype=np.int8)
    buckets = np.array([[0, 1], [2, 0]], dtype=np.int32)
    weight = np.arange(1, 4, dtype=np.float32)
    out = np.empty((2, 4), dtype=np.float32)
    train_projection(indptr, rows, data, bits, signs, buckets, weight, out, 2, 4)
    np.testing.assert_array_equal(out, [[1, 0, 0, 2], [0, 3, 1, 0]])
    grad = np.empty(3, dtype=np.float32)
    train_projection_grad(indptr, rows, data, bits, signs, buckets, grad, out, 2, 4)
    np.testing.assert_array_equal(grad, [1 + 1, 2, 3])
    with pytest.raises(ValueError, match="structure row is out of range"):
        train_projection(indptr, rows + 1, data, bits, signs, buckets, weight, out, 2, 4)
    with pytest.raises(ValueError, match="bit or a weight index is out of range"):
        train_projection(indptr, rows, data, bits + 2, signs, buckets, weight, out, 2, 4)
    with pytest.raises(ValueError, match="bit or a weight index is out of range"):
        train_projection_grad(indptr, rows, data, bits, signs, buckets + 2, grad, out, 2, 4)
    with pytest.raises(ValueError, match="inconsistent shapes"):
        train_projection(indptr, rows, data, bits, signs, buckets, weight, out[:1], 2, 4)
    with pytest.raises(ValueError, match="indptr does not span"):
        train_projection(indptr[:2], rows, data, bits, signs, buckets, weight, out[:1], 2, 4)
    with pytest.raises(TypeError, match="items of 8 bytes"):
        wide = data.astype(np.float64)
        train_projection(indptr, rows, wide, bits, signs, buckets, weight, out, 2, 4)

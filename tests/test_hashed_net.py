"""HashedNets: the hashed layer's mathematics (torch), and
HashedNetClassifier's own behaviour. The contract it shares with
ProjectionNetClassifier is in test_classifiers.py; the agreement of the
torch layers with the numpy inference in test_parity.py."""

import tracemalloc

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sklearn.datasets import make_classification

from sklearn_pnet import HashedNetClassifier, _hashing, _inference, model_size_bytes
from sklearn_pnet._size import dumped_size
from sklearn_pnet._torch_hashednet import HashedLinear

FAST = dict(hidden_layer_sizes=(64,), max_iter=50, random_state=0)

# Short trainings stop at max_iter on purpose.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def fitted(digits):
    X_train, _, y_train, _ = digits
    return HashedNetClassifier(**FAST, compression=1 / 8).fit(X_train, y_train)


@pytest.fixture(params=["cached", "blocks"])
def layer_mode(request, monkeypatch):
    """Build layers that keep their hashes, or that hash again in blocks
    of 10 entries (so that every layer below spans several blocks)."""
    if request.param == "blocks":
        monkeypatch.setattr(HashedLinear, "cache_entries", 0)
        monkeypatch.setattr(HashedLinear, "block_entries", 10)
        monkeypatch.setattr(_inference, "BLOCK_ENTRIES", 10)
    return request.param


def virtual_matrix_entry_by_entry(seed, n_rows, n_cols, weights):
    """``V[i, j] = xi(i, j) * w[h(i, j)]``, one pair hash at a time, as
    ``hashed_entry`` in the C listing of ``_hashing`` computes it."""
    V = np.zeros((n_rows, n_cols))
    buckets = np.zeros((n_rows, n_cols), dtype=int)
    signs = np.zeros((n_rows, n_cols))
    for i in range(n_rows):
        for j in range(n_cols):
            h = int(_hashing.pair_hashes(seed, _hashing.STREAM_HASHED, [i], j + 1)[0, j])
            buckets[i, j] = ((h >> 32) * len(weights)) >> 32
            signs[i, j] = 1.0 if h & 1 else -1.0
            V[i, j] = signs[i, j] * weights[buckets[i, j]]
    return V, buckets, signs


@pytest.mark.parametrize("hash_bias", [False, True])
def test_virtual_matrix_is_xi_times_w_of_h(layer_mode, hash_bias):
    torch.manual_seed(0)
    layer = HashedLinear(7, 5, 6, seed=3, hash_bias=hash_bias)
    assert layer.cached == (layer_mode == "cached")
    w = layer.weight.detach().numpy().astype(np.float64)
    # Row 7 is the bias row, used with hash_bias only.
    V, _, _ = virtual_matrix_entry_by_entry(3, 8, 5, w)
    bias = V[7] if hash_bias else layer.bias.detach().numpy()
    # The rows of the identity pick the rows of V.
    out = layer(np.eye(7)).detach().numpy()
    np.testing.assert_allclose(out, V[:7] + bias, rtol=1e-6, atol=1e-7)
    # numpy inference: same hashes, from the stored weights.
    np.testing.assert_allclose(_inference.hashed_matmul(np.eye(7), w, 3, 5), V[:7], rtol=1e-6)
    intercepts = [None] if hash_bias else [bias]
    np.testing.assert_allclose(
        _inference.hashed_forward(np.eye(7), [w], intercepts, [3], [5]), V[:7] + bias, rtol=1e-6
    )


def test_initialisation_has_the_variance_of_nn_linear():
    torch.manual_seed(0)
    layer = HashedLinear(300, 200, 10_000, seed=1)
    virtual = layer(torch.eye(300)) - layer.bias
    # nn.Linear's uniform on [-1/sqrt(n_in), 1/sqrt(n_in)]: variance 1 / (3 n_in).
    assert virtual.var().item() == pytest.approx(1 / (3 * 300), rel=0.05)
    assert virtual.abs().max().item() <= 1 / np.sqrt(300)


@pytest.mark.parametrize("hash_bias", [False, True])
def test_weight_gradient_is_the_bucket_sum_of_xi_times_dL_dV(layer_mode, hash_bias):
    torch.manual_seed(0)
    n_in, n_out, n_weights = 7, 5, 6
    layer = HashedLinear(n_in, n_out, n_weights, seed=3, hash_bias=hash_bias)
    rng = np.random.RandomState(0)
    x = torch.tensor(rng.randn(3, n_in), dtype=torch.float32, requires_grad=True)
    R = rng.randn(3, n_out)
    (layer(x) * torch.tensor(R, dtype=torch.float32)).sum().backward()

    w = layer.weight.detach().numpy().astype(np.float64)
    V, buckets, signs = virtual_matrix_entry_by_entry(3, n_in + 1, n_out, w)
    # L = sum(R * (x @ V + b)): dL/dV = x.T @ R, and the bias row (a
    # constant input of 1) gets dL/db = R summed over the batch.
    dL_dV = np.vstack([x.detach().numpy().T @ R, R.sum(axis=0)])
    rows = n_in + 1 if hash_bias else n_in
    expected = np.zeros(n_weights)
    for i in range(rows):
        for j in range(n_out):
            expected[buckets[i, j]] += signs[i, j] * dL_dV[i, j]
    np.testing.assert_allclose(layer.weight.grad.numpy(), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(x.grad.numpy(), R @ V[:n_in].T, rtol=1e-5, atol=1e-6)
    if not hash_bias:
        np.testing.assert_allclose(layer.bias.grad.numpy(), R.sum(axis=0), rtol=1e-5)

    # And the custom backward agrees with finite differences in float64.
    layer = layer.double()
    x = torch.tensor(rng.randn(2, n_in), requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, w: layer(x), (x, layer.weight))


def test_sparse_and_dense_input_give_the_same_output_and_gradients(layer_mode):
    X = sp.random(5, 40, density=0.1, format="csr", random_state=0)
    X = sp.vstack([X, sp.csr_matrix((1, 40))], format="csr")  # a row of zeros
    results = []
    for batch in (X, X.toarray()):
        torch.manual_seed(0)
        layer = HashedLinear(40, 3, 17, seed=2)
        out = layer(batch)
        out.square().sum().backward()
        results.append((out.detach().numpy(), layer.weight.grad.numpy()))
    (sparse_out, sparse_grad), (dense_out, dense_grad) = results
    np.testing.assert_allclose(sparse_out, dense_out, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(sparse_grad, dense_grad, rtol=1e-5, atol=1e-7)
    w = np.random.RandomState(0).randn(17)
    np.testing.assert_allclose(
        _inference.hashed_matmul(X, w, 2, 3), _inference.hashed_matmul(X.toarray(), w, 2, 3)
    )


def test_wide_sparse_input_never_builds_the_virtual_matrix(make_csr, monkeypatch):
    # 200 x 1M input, 32 hidden units: the first virtual matrix has 32M
    # entries (128 MB of float32); with compression 1/64, 500k real weights.
    X = make_csr(200, 1_000_000, 20)
    y = np.arange(200) % 2
    hashed = []
    pair_hashes = _hashing.pair_hashes

    def spy(seed, stream, rows, n_cols):
        hashed.append(len(rows) * n_cols)
        return pair_hashes(seed, stream, rows, n_cols)

    clf = HashedNetClassifier((32,), compression=1 / 64, max_iter=2, random_state=0)
    monkeypatch.setattr(_hashing, "pair_hashes", spy)
    clf.fit(X, y)
    # Prediction is numpy, which tracemalloc sees (torch's allocations in
    # fit it would not: the hash counts below speak for training).
    tracemalloc.start()
    assert clf.predict(X).shape == (200,)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert clf.n_weights_ == [500_000, 1]
    assert peak < 20e6
    # Only the rows of the columns present were hashed, in training and
    # in prediction.
    n_present = len(np.unique(X.indices))
    assert max(hashed) <= n_present * 32
    # The pickle holds the 500k float16 weights, not 32M.
    assert 1_000_000 < dumped_size(clf) < 1_020_000


def test_compression_sets_the_real_weights(digits, fitted):
    X_train, X_test, y_train, y_test = digits
    assert fitted.n_weights_ == [64 * 64 // 8, 64 * 10 // 8]
    assert fitted.score(X_test, y_test) > 0.9
    # At 1/64 (64 and 10 real weights) it still learns, if less well.
    small = HashedNetClassifier(**FAST, compression=1 / 64).fit(X_train, y_train)
    assert small.n_weights_ == [64, 10]
    assert 0.5 < small.score(X_test, y_test) < fitted.score(X_test, y_test)
    assert small.loss_curve_[-1] < small.loss_curve_[0] / 2


def test_fitted_attributes_are_compact_numpy(fitted):
    assert all(isinstance(w, np.ndarray) and w.dtype == np.float16 for w in fitted.weights_)
    assert [w.shape for w in fitted.weights_] == [(512,), (80,)]
    assert [b.shape for b in fitted.intercepts_] == [(64,), (10,)]
    assert fitted.layer_sizes_ == (64, 64, 10)
    assert len(set(fitted.seeds_)) == 2


def test_pickle_size_follows_the_real_weights():
    X, y = make_classification(300, 400, n_informative=20, n_classes=3, random_state=0)
    sizes, n_weights = [], []
    for compression in (1 / 8, 1 / 64):
        clf = HashedNetClassifier((64,), compression=compression, max_iter=2, random_state=0)
        clf.fit(X, y)
        sizes.append(dumped_size(clf))
        n_weights.append(sum(clf.n_weights_))
    assert n_weights == [3200 + 24, 400 + 3]
    # Two bytes (float16) per real weight, the rest a constant; the dense
    # network would take 400 * 64 * 2 bytes for its first layer alone.
    assert sizes[0] - sizes[1] == pytest.approx(2 * (n_weights[0] - n_weights[1]), abs=50)
    assert sizes[1] < 2 * n_weights[1] + 3000


def test_hashed_biases_and_compact_forms(digits, fitted):
    X_train, X_test, y_train, y_test = digits
    params = dict(FAST, compression=1 / 8)
    hashed_bias = HashedNetClassifier(**params, hash_bias=True).fit(X_train, y_train)
    clustered = HashedNetClassifier(**params, weight_clusters=16).fit(X_train, y_train)
    # The bias row adds n_out entries to the compressed ones.
    assert hashed_bias.n_weights_ == [65 * 64 // 8, round(65 * 10 / 8)]
    assert hashed_bias.intercepts_ == [None, None]
    assert hashed_bias.score(X_test, y_test) > 0.85
    assert clustered.score(X_test, y_test) > fitted.score(X_test, y_test) - 0.05
    assert all(len(np.unique(np.asarray(w))) <= 16 for w in clustered.weights_)
    size = model_size_bytes
    assert size(clustered)["weights_"] < size(fitted)["weights_"]


def test_warm_start_needs_the_same_layers(digits):
    X_train, _, y_train, _ = digits
    clf = HashedNetClassifier(**{**FAST, "max_iter": 3}, warm_start=True)
    clf.fit(X_train, y_train)
    with pytest.raises(ValueError, match="same layers"):
        clf.set_params(compression=1 / 64).fit(X_train, y_train)


def test_bad_parameters_and_predict_input_are_named(fitted):
    X, y = np.random.RandomState(0).rand(20, 3), np.arange(20) % 2
    with pytest.raises(ValueError, match="compression"):
        HashedNetClassifier(compression=0).fit(X, y)
    with pytest.raises(ValueError, match="compression"):
        HashedNetClassifier(compression=2).fit(X, y)
    with pytest.raises(ValueError, match="hidden_layer_sizes"):
        HashedNetClassifier(hidden_layer_sizes=(0,)).fit(X, y)
    with pytest.raises(ValueError, match="5 features, but HashedNetClassifier is expecting 64"):
        fitted.predict(np.ones((2, 5)))

import subprocess
import sys
import textwrap
import tracemalloc

import joblib
import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sklearn.datasets import load_digits, make_classification
from sklearn.model_selection import train_test_split

from sklearn_pnet import HashedNetClassifier, _compact, _hashing
from sklearn_pnet._compact import dumped_size
from sklearn_pnet._networks import HashedLinear, hashed_mlp

FAST = dict(hidden_layer_sizes=(64,), max_iter=50, random_state=0)

# Short trainings stop at max_iter on purpose.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)


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
        monkeypatch.setattr(_compact, "BLOCK_ENTRIES", 10)
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
    np.testing.assert_allclose(_compact.hashed_matmul(np.eye(7), w, 3, 5), V[:7], rtol=1e-6)
    intercepts = [None] if hash_bias else [bias]
    np.testing.assert_allclose(
        _compact.hashed_forward(np.eye(7), [w], intercepts, [3], [5]), V[:7] + bias, rtol=1e-6
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
        _compact.hashed_matmul(X, w, 2, 3), _compact.hashed_matmul(X.toarray(), w, 2, 3)
    )


@pytest.mark.parametrize("hash_bias", [False, True])
def test_numpy_inference_matches_the_torch_network(hash_bias):
    torch.manual_seed(0)
    network = hashed_mlp(30, (20, 10), 4, [50, 30, 7], [1, 2, 3], hash_bias=hash_bias)
    layers = [m for m in network if isinstance(m, HashedLinear)]
    X = np.random.RandomState(0).rand(8, 30)
    with torch.no_grad():
        expected = network(X).numpy()
    weights = [layer.weight.detach().numpy() for layer in layers]
    intercepts = [None if l.bias is None else l.bias.detach().numpy() for l in layers]
    logits = _compact.hashed_forward(X, weights, intercepts, [1, 2, 3], [20, 10, 4])
    np.testing.assert_allclose(logits, expected, rtol=1e-5, atol=1e-6)
    # Compact forms predict from their codes like from the decoded weights.
    for params in (dict(dtype="int8"), dict(n_clusters=8)):
        encoded = [_compact.encode(w, **params) for w in weights]
        decoded = [np.asarray(w) for w in encoded]
        np.testing.assert_allclose(
            _compact.hashed_forward(X, encoded, intercepts, [1, 2, 3], [20, 10, 4]),
            _compact.hashed_forward(X, decoded, intercepts, [1, 2, 3], [20, 10, 4]),
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
    # The first fit of a process imports torch modules lazily (the
    # optimizer's): do it outside the trace, which would count them.
    clf.fit(X[:, :1000], y)
    monkeypatch.setattr(_hashing, "pair_hashes", spy)
    tracemalloc.start()
    clf.fit(X, y)
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


def test_learns_digits(digits, fitted):
    X_train, X_test, y_train, y_test = digits
    assert fitted.n_weights_ == [64 * 64 // 8, 64 * 10 // 8]
    assert fitted.score(X_test, y_test) > 0.9
    proba = fitted.predict_proba(X_test)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(fitted.classes_[proba.argmax(axis=1)], fitted.predict(X_test))
    assert fitted.decision_function(X_test).shape == (len(X_test), 10)
    assert fitted.n_iter_ == len(fitted.loss_curve_)
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
    assert not any("torch" in type(v).__module__ for v in vars(fitted).values())


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


def test_loaded_model_predicts_identically_without_torch(digits, fitted, tmp_path):
    X_train, X_test, y_train, _ = digits
    other = HashedNetClassifier(
        (32,), hash_bias=True, weight_dtype="int8", max_iter=5, random_state=0
    ).fit(X_train, y_train)
    models = [fitted, other]
    joblib.dump(models, tmp_path / "models.joblib")
    np.save(tmp_path / "X.npy", X_test)
    np.save(tmp_path / "proba.npy", np.stack([m.predict_proba(X_test) for m in models]))
    script = textwrap.dedent(
        f"""
        import importlib.abc, sys

        class NoTorch(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path, target=None):
                if name.split(".")[0] == "torch":
                    raise ImportError("torch is not installed here")

        sys.meta_path.insert(0, NoTorch())
        try:
            import torch
        except ImportError:
            pass
        else:
            raise AssertionError("torch should not import")
        import joblib, numpy as np, scipy.sparse as sp
        models = joblib.load({str(tmp_path / "models.joblib")!r})
        X = np.load({str(tmp_path / "X.npy")!r})
        expected = np.load({str(tmp_path / "proba.npy")!r})
        for clf, proba in zip(models, expected):
            np.testing.assert_array_equal(clf.predict_proba(X), proba)
            np.testing.assert_allclose(clf.predict_proba(sp.csr_matrix(X)), proba, rtol=1e-10)
            clf.predict(X); clf.decision_function(X); clf.score(X, clf.predict(X))
        assert "torch" not in sys.modules
        print("ok")
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "ok" in out.stdout


def test_same_random_state_same_model(digits, fitted):
    X_train, X_test, y_train, _ = digits
    again = HashedNetClassifier(**FAST, compression=1 / 8).fit(X_train, y_train)
    other = HashedNetClassifier(**{**FAST, "random_state": 1}).fit(X_train, y_train)
    assert again.seeds_ == fitted.seeds_
    np.testing.assert_array_equal(again.predict_proba(X_test), fitted.predict_proba(X_test))
    assert other.seeds_ != fitted.seeds_
    assert not np.array_equal(other.predict_proba(X_test), fitted.predict_proba(X_test))


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
    size = _compact.model_size_bytes
    assert size(clustered)["weights_"] < size(fitted)["weights_"]


def test_sample_weight(digits):
    X_train, X_test, y_train, _ = digits
    params = dict(FAST, max_iter=10)
    weights = np.where(y_train == 3, 0.0, 1.0)
    clf = HashedNetClassifier(**params).fit(X_train, y_train, sample_weight=weights)
    dropped = HashedNetClassifier(**params).fit(X_train[y_train != 3], y_train[y_train != 3])
    plain = HashedNetClassifier(**params).fit(X_train, y_train)
    heavy = HashedNetClassifier(**params).fit(
        X_train, y_train, sample_weight=np.where(y_train == 3, 20.0, 1.0)
    )
    # Weight 0 is the same as leaving the samples out, class 3 included.
    assert 3 not in clf.classes_
    np.testing.assert_array_equal(clf.predict_proba(X_test), dropped.predict_proba(X_test))
    assert (heavy.predict(X_test) == 3).sum() > (plain.predict(X_test) == 3).sum()


def test_labels_of_any_type():
    X, y = make_classification(200, 8, n_classes=3, n_informative=4, random_state=0)
    labels = np.array(["ham", "eggs", "spam"])[y]
    clf = HashedNetClassifier(**FAST).fit(X, labels)
    binary = HashedNetClassifier(**FAST).fit(X, y == 1)
    assert clf.classes_.tolist() == ["eggs", "ham", "spam"]
    assert set(clf.predict(X)) <= set(labels)
    assert binary.decision_function(X).shape == (200,)
    assert binary.predict(X).dtype == bool


def test_warm_start_and_early_stopping(digits):
    X_train, _, y_train, _ = digits
    clf = HashedNetClassifier(**{**FAST, "max_iter": 3}, warm_start=True)
    clf.fit(X_train, y_train)
    seeds, first_loss = clf.seeds_, clf.loss_curve_[-1]
    clf.fit(X_train, y_train)
    assert clf.n_iter_ == 6 and len(clf.loss_curve_) == 6
    assert clf.seeds_ == seeds and clf.loss_curve_[-1] < first_loss
    with pytest.raises(ValueError, match="same classes"):
        clf.fit(X_train[y_train < 5], y_train[y_train < 5])
    with pytest.raises(ValueError, match="same layers"):
        clf.set_params(compression=1 / 64).fit(X_train, y_train)

    stopped = HashedNetClassifier(**FAST, early_stopping=True, n_iter_no_change=3)
    stopped.fit(X_train, y_train)
    assert len(stopped.validation_scores_) == stopped.n_iter_
    assert stopped.best_validation_score_ == max(stopped.validation_scores_)


@pytest.mark.parametrize(
    "X, y, match",
    [
        (np.array([[1.0, np.nan], [0, 1]]), [0, 1], "NaN"),
        (np.array([[1.0, np.inf], [0, 1]]), [0, 1], "infinity"),
        (np.zeros((0, 2)), [], "0 sample"),
        (np.ones((4, 2)), [1, 1, 1, 1], "only one class"),
        (np.array([["a", "b"], ["c", "d"]]), [0, 1], "vectorizer"),
        (["some text", "more text"], [0, 1], "vectorizer"),
        (np.ones((3, 2)), [0, 1], "inconsistent numbers of samples"),
    ],
)
def test_bad_training_input_is_named(X, y, match):
    with pytest.raises(ValueError, match=match):
        HashedNetClassifier(**FAST).fit(X, y)


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

import pickle
import tracemalloc

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline

from sklearn_pnet import LSHProjector, _inference


@pytest.fixture
def sparse_X():
    return sp.random(60, 5000, density=0.01, format="csr", random_state=0)


@pytest.mark.parametrize("density", ["auto", 0.01, 0.1, 1.0])
def test_sparse_and_dense_input_give_the_same_bits(sparse_X, density):
    dense = LSHProjector(64, density=density, random_state=0).fit(sparse_X.toarray())
    sparse = LSHProjector(64, density=density, random_state=0).fit(sparse_X)
    np.testing.assert_allclose(dense.threshold_, sparse.threshold_, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(
        dense.transform(sparse_X.toarray()), sparse.transform(sparse_X)
    )


@pytest.mark.parametrize("n_slots", [None, 1, 7])
@pytest.mark.parametrize("n_weights", [None, 50, 5000 * 40])
def test_projection_matches_its_entries_summed_one_by_one(sparse_X, n_slots, n_weights):
    from sklearn_pnet import _hashing

    seed, n_bits, D = 11, 40, sparse_X.shape[1]
    weights = None if n_weights is None else np.random.RandomState(0).randn(n_weights)
    bits, signs, buckets = _hashing.projection_structure(
        seed, np.arange(D), n_bits, n_slots, n_weights, n_features=D
    )
    values = signs if weights is None else signs * weights[buckets]
    P = np.zeros((D, n_bits))
    if bits is None:
        P += values
    else:
        np.add.at(P, (np.repeat(np.arange(D), n_slots), bits.ravel()), values.ravel())
    expected = sparse_X.toarray() @ P
    for X in (sparse_X, sparse_X.toarray()):
        Z = _inference.hashed_projection(X, seed, n_bits, n_slots, weights)
        np.testing.assert_allclose(Z, expected, atol=1e-5)


def test_transform_is_project_above_zero(sparse_X):
    projector = LSHProjector(64, random_state=0).fit(sparse_X)
    np.testing.assert_array_equal(
        projector.transform(sparse_X), projector.project(sparse_X) > 0
    )


def test_density_sets_the_bits_each_feature_touches(make_csr):
    X = np.random.RandomState(0).rand(10, 64)
    assert LSHProjector(256).fit(X).n_slots_ == 32  # 256 / sqrt(64)
    assert LSHProjector(256, density=1.0).fit(X).n_slots_ is None
    assert LSHProjector(256, density=1e-6).fit(X).n_slots_ == 1
    wide = make_csr(3, 1_000_000, 10)
    assert LSHProjector(256).fit(wide).n_slots_ == 1


def test_random_state_fixes_the_bits(sparse_X):
    a = LSHProjector(32, random_state=3).fit_transform(sparse_X)
    b = LSHProjector(32, random_state=3).fit(sparse_X).transform(sparse_X)
    c = LSHProjector(32, random_state=4).fit_transform(sparse_X)
    np.testing.assert_array_equal(a, b)
    assert (a != c).any()


def test_bits_are_reproducible_across_platforms():
    # The seed drawn from an int random_state, and the hash of (seed,
    # feature, bit), are platform-independent: pin one result.
    X = np.array([[1.0, 0, 2], [0.3, -1, 0], [-2, 1, 1]])
    projector = LSHProjector(8, density=1.0, random_state=0).fit(X)
    assert projector.seed_ == 2357136044
    assert projector.transform(X).tolist() == [
        [1, 0, 1, 1, 1, 1, 0, 1],
        [1, 0, 0, 0, 1, 1, 0, 1],
        [0, 1, 0, 0, 0, 0, 1, 0],
    ]


def test_centering_balances_bits_of_non_negative_data():
    X = np.random.RandomState(0).rand(500, 30)  # all positive
    centred = LSHProjector(128, density=1.0, random_state=0).fit_transform(X)
    raw = LSHProjector(128, density=1.0, center=False, random_state=0).fit(X)
    assert np.abs(centred.mean(axis=0) - 0.5).max() < 0.15
    assert not raw.threshold_.any()
    # Without centring most bits of positive data are constant.
    assert np.abs(raw.transform(X).mean(axis=0) - 0.5).mean() > 0.3


def test_hamming_distance_estimates_the_angle():
    # Charikar's SimHash: P[bit differs] = angle / pi for dense projections.
    rng = np.random.RandomState(0)
    x = rng.randn(50)
    y = x + 0.8 * rng.randn(50)
    projector = LSHProjector(8192, density=1.0, center=False, random_state=0)
    bits = projector.fit_transform(np.vstack([x, y]))
    angle = np.arccos(x @ y / np.linalg.norm(x) / np.linalg.norm(y))
    assert (bits[0] != bits[1]).mean() == pytest.approx(angle / np.pi, abs=0.02)


def test_pickle_does_not_grow_with_the_number_of_features(make_csr):
    narrow = make_csr(100, 1_000, 10)
    wide = make_csr(100, 1_000_000, 10)
    size_narrow = len(pickle.dumps(LSHProjector(256, random_state=0).fit(narrow)))
    size_wide = len(pickle.dumps(LSHProjector(256, random_state=0).fit(wide)))
    assert size_wide < 10_000
    assert abs(size_wide - size_narrow) < 100


@pytest.mark.parametrize("density", [1.0, "auto"])
def test_wide_sparse_input_is_never_densified(density, make_csr):
    # 200 x 1M input: a dense copy would be 1.6 GB, a dense 1M x 256
    # projection matrix 2 GB (float64) or 1 GB (float32).
    X = make_csr(200, 1_000_000, 20)
    projector = LSHProjector(256, density=density, random_state=0)
    tracemalloc.start()
    bits = projector.fit_transform(X)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert bits.shape == (200, 256)
    assert peak < 40e6


def test_dense_blocks_give_the_same_result_whatever_their_size(sparse_X, monkeypatch):
    expected = LSHProjector(100, density=1.0, random_state=0).fit(sparse_X)
    monkeypatch.setattr(_inference, "BLOCK_ENTRIES", 1000)
    small_blocks = LSHProjector(100, density=1.0, random_state=0).fit(sparse_X)
    np.testing.assert_allclose(expected.threshold_, small_blocks.threshold_, rtol=1e-6)
    np.testing.assert_array_equal(
        expected.transform(sparse_X), small_blocks.transform(sparse_X)
    )


def test_dtype_and_feature_names(sparse_X):
    projector = LSHProjector(5, dtype=np.float32, random_state=0).fit(sparse_X)
    assert projector.transform(sparse_X).dtype == np.float32
    assert projector.get_feature_names_out().tolist() == [
        f"lshprojector{i}" for i in range(5)
    ]


def test_pandas_in_and_out():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(np.random.RandomState(0).rand(20, 3), columns=["a", "b", "c"])
    projector = LSHProjector(4, random_state=0).set_output(transform="pandas")
    out = projector.fit_transform(df)
    assert list(out.columns) == ["lshprojector0", "lshprojector1", "lshprojector2", "lshprojector3"]
    assert projector.feature_names_in_.tolist() == ["a", "b", "c"]
    assert projector.n_features_in_ == 3


def test_grid_search_over_bit_budgets():
    rng = np.random.RandomState(0)
    X = rng.randn(120, 10)
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    search = GridSearchCV(
        make_pipeline(LSHProjector(random_state=0), LogisticRegression()),
        {"lshprojector__n_bits": [4, 64]},
        cv=3,
    ).fit(X, y)
    assert search.best_params_ == {"lshprojector__n_bits": 64}


@pytest.mark.parametrize(
    "X, match",
    [
        (np.array([[1.0, np.nan]]), "NaN"),
        (np.array([[1.0, np.inf]]), "infinity"),
        (np.zeros((0, 2)), "0 sample"),
        (np.array([["a", "b"]]), "TfidfVectorizer"),
        (np.array([1.0, 2.0]), "2D array"),
    ],
)
def test_bad_input_is_named(X, match):
    with pytest.raises(ValueError, match=match):
        LSHProjector().fit(X)


def test_wrong_number_of_features_and_bits():
    projector = LSHProjector(8).fit(np.ones((3, 4)))
    with pytest.raises(ValueError, match="3 features, but LSHProjector is expecting 4"):
        projector.transform(np.ones((2, 3)))
    with pytest.raises(ValueError, match="n_bits"):
        LSHProjector(0).fit(np.ones((3, 4)))


def test_transform_uses_the_fitted_state_only(run_without_torch):
    # Setting n_bits after fit (and failing to refit) must not reach the
    # kernels: they once wrote outside an array, and the process died in
    # the next garbage collection.
    out = run_without_torch(
        """
        import gc
        import numpy as np
        from sklearn_pnet import LSHProjector
        X = np.random.RandomState(0).rand(30, 5)
        p = LSHProjector(n_bits=32, random_state=0).fit(X)
        bits = p.transform(X)
        p.set_params(n_bits=0)
        try:
            p.fit(X)
        except ValueError as exc:
            print("refused:", type(exc).__name__)
        np.testing.assert_array_equal(p.transform(X), bits)
        gc.collect()
        print("alive")
        """
    )
    assert "refused: InvalidParameterError" in out and "alive" in out

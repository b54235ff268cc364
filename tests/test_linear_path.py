"""The linear path beside the student (``linear_buckets``)."""

import pickle
import warnings

import joblib
import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.pipeline import make_pipeline
from sklearn.svm import LinearSVC

from sklearn_pnet import ProjectionNetClassifier, _inference, _linear_path
from sklearn_pnet._linear_path import LinearPath, feature_buckets, fold

TEXTS = [
    "the rocket went to space and back",
    "a rocket engine and its fuel",
    "god and religion in the old texts",
    "faith, religion and the church",
    "graphics cards render images fast",
    "images, pixels and graphics formats",
] * 8
LABELS = np.array(["space", "space", "religion", "religion", "graphics", "graphics"] * 8)


def _fitted(**params):
    params = {"n_bits": 32, "linear_buckets": 64, "max_iter": 5, "random_state": 0, **params}
    pipe = make_pipeline(HashingVectorizer(n_features=2**12), ProjectionNetClassifier(**params))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # a few epochs, on purpose
        return pipe.fit(TEXTS, LABELS)


def test_fold_sums_signed_features_into_buckets():
    X = sp.csr_matrix(np.array([[1.0, 2.0, 0.0, 3.0], [0.0, 0.0, 4.0, 0.0]]))
    before = (X.data.copy(), X.indices.copy(), X.indptr.copy())
    folded = fold(X, seed=3, n_buckets=2)
    buckets, signs = feature_buckets(3, np.arange(4), 2)
    expected = np.zeros((2, 2))
    for i, j in zip(*X.nonzero()):
        expected[i, buckets[j]] += signs[j] * X[i, j]
    np.testing.assert_array_equal(folded.toarray(), expected)
    # The input is left as it was (summing duplicates rewrites indptr in place).
    for array, saved in zip((X.data, X.indices, X.indptr), before):
        np.testing.assert_array_equal(array, saved)
    np.testing.assert_array_equal(fold(X.toarray(), 3, 2).toarray(), expected)


def test_path_is_added_to_the_student_logits():
    pipe = _fitted()
    clf, X = pipe[-1], pipe[0].transform(TEXTS)
    path = clf.linear_path_
    student = _inference.forward(clf.projector_._bits(X), clf.coefs_, clf.intercepts_)
    scores = path.scores(X, len(clf.classes_))
    np.testing.assert_allclose(
        clf.decision_function(X), student + clf.linear_scale * scores, rtol=1e-12
    )
    # The path alone is the LinearSVC it was fitted as: its sign pattern
    # separates these easy classes.
    assert (scores.argmax(axis=1) == np.searchsorted(clf.classes_, LABELS)).mean() == 1.0
    assert pipe.score(TEXTS, LABELS) == 1.0
    clf.set_params(linear_scale=0.0)
    np.testing.assert_allclose(clf.decision_function(X), student)


def test_binary_path_scores_the_second_class():
    y = np.where(LABELS == "space", "space", "other")
    pipe = _fitted()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipe.fit(TEXTS, y)
    clf, X = pipe[-1], pipe[0].transform(TEXTS)
    scores = clf.linear_path_.scores(X, 2)
    assert scores.shape == (len(TEXTS), 2)
    np.testing.assert_array_equal(scores[:, 0], 0.0)
    assert clf.linear_path_.coef.shape == (1, 64)


def test_path_is_compact_and_pickles():
    pipe = _fitted(linear_buckets=4000)
    clf = pipe[-1]
    without = pickle.dumps(_fitted(linear_buckets=0)[-1])
    path = clf.linear_path_
    # The codes are stored LZMA-compressed: the pickle grows by those bytes,
    # the centroids and framing, and by less than packed 4-bit codes for
    # 3 x 4,000 coefficients and 4,000 idf values would take (8,000 bytes):
    # this small set leaves most buckets empty, at the same value.
    stored = len(path.coef.lzma_codes) + len(path.idf.lzma_codes)
    grown = len(pickle.dumps(clf)) - len(without)
    assert stored < grown <= stored + 800, (stored, grown)
    assert grown < 8_000 / 4, grown
    loaded = pickle.loads(pickle.dumps(pipe))
    np.testing.assert_array_equal(loaded.predict_proba(TEXTS), pipe.predict_proba(TEXTS))
    # What prediction decodes and keeps is not pickled.
    assert pickle.dumps(loaded) == pickle.dumps(pickle.loads(pickle.dumps(pipe)))


def test_path_follows_random_state_and_refits(tmp_path):
    a, b = _fitted(), _fitted()
    np.testing.assert_array_equal(a.predict_proba(TEXTS), b.predict_proba(TEXTS))
    assert a[-1].linear_path_.seed == a[-1].projector_.seed_
    c = _fitted(random_state=1)
    assert c[-1].linear_path_.seed != a[-1].linear_path_.seed
    # warm_start refits the path on the new data.
    clf = a[-1].set_params(warm_start=True)
    old_path = clf.linear_path_
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(a[0].transform(TEXTS[:24]), LABELS[:24])
    assert clf.linear_path_ is not old_path
    joblib.dump(a, tmp_path / "model.joblib")
    np.testing.assert_array_equal(
        joblib.load(tmp_path / "model.joblib").predict(TEXTS), a.predict(TEXTS)
    )


def test_path_uses_sample_weight(monkeypatch):
    seen = {}
    fit = LinearSVC.fit

    def spy(self, X, y, sample_weight=None):
        seen["weight"] = sample_weight
        return fit(self, X, y, sample_weight=sample_weight)

    monkeypatch.setattr(LinearSVC, "fit", spy)
    weights = np.linspace(0.5, 2.0, len(TEXTS))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        _fitted().fit(TEXTS, LABELS, projectionnetclassifier__sample_weight=weights)
    np.testing.assert_allclose(seen["weight"], weights)


def test_no_path_by_default_and_no_partial_fit_with_one():
    clf = ProjectionNetClassifier(n_bits=16, max_iter=2, random_state=0)
    X = HashingVectorizer(n_features=2**10).transform(TEXTS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        assert clf.fit(X, LABELS).linear_path_ is None
    assert hasattr(clf, "partial_fit")
    clf.set_params(linear_buckets=8)
    assert not hasattr(clf, "partial_fit")
    with pytest.raises(AttributeError, match="no attribute 'partial_fit'") as raised:
        clf.partial_fit(X, LABELS)
    assert "linear_buckets=0, or train with fit" in str(raised.value.__cause__)


def test_models_from_before_the_path_still_predict():
    pipe = _fitted(linear_buckets=0)
    clf = pipe[-1]
    expected = pipe.predict_proba(TEXTS)
    del clf.linear_path_  # as a model pickled before linear_buckets existed
    np.testing.assert_array_equal(pipe.predict_proba(TEXTS), expected)


def _numpy_scores(path, X, n_classes, monkeypatch):
    with monkeypatch.context() as patch:
        patch.setattr(_linear_path, "_compiled_scores", None)
        return path.scores(X, n_classes)


@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
def test_compiled_scores_are_numpys(index_dtype, monkeypatch):
    assert _linear_path._compiled_scores is not None, "reinstall with a C compiler"
    rng = np.random.RandomState(0)
    X = sp.random(200, 3000, density=0.02, format="csr", random_state=0)
    X.indices, X.indptr = X.indices.astype(index_dtype), X.indptr.astype(index_dtype)
    X.data[::7] = 0.0  # explicit zeros, skipped as the C runtime skips them
    y = rng.randint(0, 3, 200)
    path = LinearPath.fit(X, y, None, 5, 300)
    compiled = path.scores(X, 3)
    # The kernel adds in the exported runtime's order, numpy in scipy's:
    # the same sums but for the last bits.
    np.testing.assert_allclose(compiled, _numpy_scores(path, X, 3, monkeypatch), atol=1e-12)
    np.testing.assert_array_equal(path.scores(X.toarray(), 3), compiled)
    # Every entry of each row twice (unsummed, as scipy may hold them): the
    # row folds to twice itself and normalises to the same scores.
    pieces = [slice(a, b) for a, b in zip(X.indptr[:-1], X.indptr[1:])]
    doubled = sp.csr_matrix(
        (
            np.concatenate([np.r_[X.data[p], X.data[p]] for p in pieces]),
            np.concatenate([np.r_[X.indices[p], X.indices[p]] for p in pieces]),
            2 * X.indptr,
        ),
        shape=X.shape,
    )
    np.testing.assert_allclose(path.scores(doubled, 3), compiled, atol=1e-12)


def test_compiled_scores_reject_a_malformed_matrix():
    path = LinearPath.fit(sp.eye(6, format="csr"), np.arange(6) % 2, None, 1, 8)
    args = [np.zeros(8), np.zeros((8, 1)), np.zeros(1), np.zeros((2, 1)), 1, 8]
    indptr, indices = np.array([0, 3, 2], np.int64), np.array([0, 1], np.int64)
    with pytest.raises(ValueError, match="malformed"):
        _linear_path._compiled_scores(indptr, indices, np.ones(2), *args)
    with pytest.raises(ValueError, match="shapes"):
        _linear_path._compiled_scores(indptr[:2], indices, np.ones(3), *args)
    assert path.scores(sp.csr_matrix((2, 6)), 2).shape == (2, 2)


@pytest.mark.parametrize(
    "n_rows, n_features, density, n_buckets",
    # Rows touching fewer buckets than the kernel sorts by insertion, and
    # more (its radix sort), with buckets of one, two and three bytes.
    [(40, 900, 0.05, 120), (12, 2000, 0.2, 5000), (4, 3000, 0.1, 70000)],
)
@pytest.mark.parametrize("n_threads", [1, 3])
def test_compiled_scores_follow_the_exported_runtime_to_the_bit(
    n_rows, n_features, density, n_buckets, n_threads, monkeypatch
):
    """The kernel against a plain-Python transcription of pnet_add_linear
    (export/c/pnet_runtime.c; DEVICE.md, "Linear path"): fold in storage
    order, idf, norm over increasing buckets, scores in increasing bucket
    order, all in double; on one thread, or its rows split among three."""
    monkeypatch.setattr(_inference, "MIN_OPERATIONS_PER_THREAD", 1)
    monkeypatch.setattr(_inference, "prediction_threads", lambda: n_threads)
    X = sp.random(n_rows, n_features, density=density, format="csr", random_state=1)
    y = np.arange(n_rows) % 3
    path = LinearPath.fit(X, y, None, 11, n_buckets)
    idf, coef_t = path._decode()
    buckets, signs = feature_buckets(path.seed, np.arange(n_features), path.n_buckets)
    expected = np.empty((n_rows, 3))
    for i in range(n_rows):
        z = [0.0] * path.n_buckets
        for k in range(X.indptr[i], X.indptr[i + 1]):
            j, v = int(X.indices[k]), float(X.data[k])
            z[buckets[j]] += v if signs[j] > 0 else -v
        norm = 0.0
        for b in range(path.n_buckets):
            z[b] *= float(idf[b])
            norm += z[b] * z[b]
        if norm > 0.0:
            norm = float(np.sqrt(norm))
            z = [value / norm for value in z]
        for s in range(3):
            score = 0.0
            for b in range(path.n_buckets):
                if z[b] != 0.0:
                    score += z[b] * float(coef_t[b, s])
            expected[i, s] = score + float(path.intercept[s])
    np.testing.assert_array_equal(path.scores(X, 3), expected)


def test_paths_stored_before_the_lzma_codes_still_score(monkeypatch):
    # Paths fitted before this storage kept 8 values in packed bit planes
    # (no lzma_codes): the kernel and numpy read them alike.
    from sklearn_pnet._storage import ClusteredArray

    X = sp.random(50, 400, density=0.05, format="csr", random_state=2)
    fitted = LinearPath.fit(X, np.arange(50) % 3, None, 4, 64)
    old = LinearPath(
        fitted.seed,
        ClusteredArray(np.asarray(fitted.idf), 16),
        ClusteredArray(np.asarray(fitted.coef), 8),
        fitted.intercept,
    )
    assert old.coef.packed is not None and not hasattr(old.coef, "lzma_codes")
    np.testing.assert_allclose(old.scores(X, 3), _numpy_scores(old, X, 3, monkeypatch), atol=1e-12)

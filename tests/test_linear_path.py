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

from sklearn_pnet import ProjectionNetClassifier, _inference
from sklearn_pnet._linear_path import feature_buckets, fold

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
    # 3-bit codes for 3 x 4,000 coefficients (4,500 bytes) and at most 4-bit
    # ones for 4,000 idf values (fewer bits where this small set has fewer
    # distinct values), plus the centroids and framing.
    grown = len(pickle.dumps(clf)) - len(without)
    assert 4_500 < grown <= 4_500 + 2_000 + 600, grown
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

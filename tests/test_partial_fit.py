"""``partial_fit`` and ``class_weight``, for both classifiers (parametrized
as in ``test_classifiers.py``)."""

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.utils.class_weight import compute_sample_weight

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

CLASSES = np.arange(10)


def chunks(X, y, size=250):
    for start in range(0, len(y), size):
        yield X[start : start + size], y[start : start + size]


def stream(clf, X, y, passes=1, **kwargs):
    for _ in range(passes):
        for X_chunk, y_chunk in chunks(X, y):
            clf.partial_fit(X_chunk, y_chunk, classes=CLASSES, **kwargs)
    return clf


def test_partial_fit_learns_over_chunks(make, digits):
    X_train, X_test, y_train, y_test = digits
    order = np.argsort(y_train, kind="stable")  # most chunks lack most classes
    clf = make()
    clf.partial_fit(X_train[order][:250], y_train[order][:250], classes=CLASSES)
    assert clf.classes_.tolist() == CLASSES.tolist()
    assert set(clf.predict(X_test)) <= set(CLASSES)  # predicts between calls
    clf = stream(make(), X_train, y_train, passes=8)
    n_chunks = -(-len(y_train) // 250)
    assert clf.n_iter_ == len(clf.loss_curve_) == 8 * n_chunks
    assert clf.t_ == 8 * len(y_train)
    assert clf.score(X_test, y_test) > 0.8


def test_partial_fit_is_deterministic(make, digits):
    X_train, X_test, y_train, _ = digits
    a = stream(make(), X_train, y_train)
    b = stream(make(), X_train, y_train)
    np.testing.assert_array_equal(a.predict_proba(X_test), b.predict_proba(X_test))


def test_partial_fit_needs_classes_first_and_known_labels(make, digits):
    X_train, X_test, y_train, _ = digits
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        make().partial_fit(X_train, y_train)
    clf = make().partial_fit(X_train[:200], y_train[:200], classes=CLASSES)
    before, state = clf.predict_proba(X_test), set(vars(clf))
    with pytest.raises(ValueError, match=r"labels \[10\] that are not in classes_"):
        clf.partial_fit(X_train[:5], [1, 2, 3, 10, 1])
    with pytest.raises(ValueError, match="not the same as on last call"):
        clf.partial_fit(X_train[:5], y_train[:5], classes=[0, 1])
    with pytest.raises(ValueError, match="features"):
        clf.partial_fit(X_train[:5, :10], y_train[:5])
    # A failed call leaves the model as it was.
    assert set(vars(clf)) <= state
    np.testing.assert_array_equal(clf.predict_proba(X_test), before)
    clf.partial_fit(X_train[200:400], y_train[200:400])
    assert clf.n_iter_ == 2


def test_partial_fit_after_fit_goes_on(make, digits):
    X_train, _, y_train, _ = digits
    clf = make(max_iter=3).fit(X_train, y_train)
    seeds = _hash_state(clf)
    clf.partial_fit(X_train[:100], y_train[:100])
    assert clf.n_iter_ == 4 and clf.t_ == 3 * len(y_train) + 100
    assert _hash_state(clf) == seeds
    # fit starts anew and drops partial_fit's torch state.
    clf.fit(X_train, y_train)
    assert clf.n_iter_ == 3 and not hasattr(clf, "_partial_state")


def test_pickled_partial_model_holds_no_torch_and_goes_on(make, digits):
    X_train, X_test, y_train, _ = digits
    clf = stream(make(), X_train, y_train)
    assert hasattr(clf, "_partial_state")
    copy = pickle.loads(pickle.dumps(clf))
    assert not hasattr(copy, "_partial_state")
    np.testing.assert_array_equal(copy.predict_proba(X_test), clf.predict_proba(X_test))
    # Without the torch state, training goes on from the stored weights.
    copy.partial_fit(X_train, y_train)
    assert copy.n_iter_ == clf.n_iter_ + 1
    assert not hasattr(clone(clf), "_partial_state")


def test_partial_fit_on_sparse_chunks(make, make_csr):
    X = make_csr(600, 5000, 20)
    y = np.asarray(X[:, :2500].sum(axis=1) > X[:, 2500:].sum(axis=1)).ravel().astype(int)
    clf = make()
    for _ in range(3):
        for start in range(0, 600, 200):
            clf.partial_fit(X[start : start + 200], y[start : start + 200], classes=[0, 1])
    assert clf.n_iter_ == 9
    assert clf.predict_proba(X).shape == (600, 2)


def test_class_weight_is_a_sample_weight(make, digits):
    X_train, X_test, y_train, _ = digits
    weights = {c: 1.0 + c for c in CLASSES}
    by_class = make(max_iter=3, class_weight=weights).fit(X_train, y_train)
    by_sample = make(max_iter=3).fit(
        X_train, y_train, sample_weight=compute_sample_weight(weights, y_train)
    )
    np.testing.assert_allclose(
        by_class.predict_proba(X_test), by_sample.predict_proba(X_test), atol=1e-6
    )
    # Combined with sample_weight by multiplication.
    sample_weight = np.where(y_train == 3, 0.5, 2.0)
    both = make(max_iter=3, class_weight="balanced").fit(
        X_train, y_train, sample_weight=sample_weight
    )
    product = make(max_iter=3).fit(
        X_train, y_train, sample_weight=sample_weight * compute_sample_weight("balanced", y_train)
    )
    np.testing.assert_allclose(both.predict_proba(X_test), product.predict_proba(X_test), atol=1e-6)


def test_class_weight_balanced_helps_a_rare_class(make, digits):
    X_train, X_test, y_train, _ = digits
    rare = (y_train != 3) | (np.cumsum(y_train == 3) <= 6)
    X_rare, y_rare = X_train[rare], y_train[rare]
    plain = make(max_iter=20).fit(X_rare, y_rare)
    balanced = make(max_iter=20, class_weight="balanced").fit(X_rare, y_rare)
    assert (balanced.predict(X_test) == 3).sum() > (plain.predict(X_test) == 3).sum()


def test_class_weight_in_partial_fit(make, digits):
    X_train, _, y_train, _ = digits
    with pytest.raises(ValueError, match="'balanced' is not supported for partial_fit"):
        make(class_weight="balanced").partial_fit(X_train, y_train, classes=CLASSES)
    # A dict holds for chunks that lack some of its classes.
    clf = make(class_weight={3: 5.0})
    clf.partial_fit(X_train[y_train < 3], y_train[y_train < 3], classes=CLASSES)
    assert clf.n_iter_ == 1


def _hash_state(clf):
    if hasattr(clf, "projector_"):
        return clf.projector_.seed_
    return tuple(clf.seeds_)


def _cuda_available():
    import torch

    return torch.cuda.is_available()


@pytest.mark.skipif(not _cuda_available(), reason="no CUDA GPU on this machine")
def test_cuda_trained_model_predicts_on_cpu_without_torch(
    make, digits, tmp_path, run_without_torch
):
    X_train, X_test, y_train, _ = digits
    clf = make(max_iter=3, device="cuda").fit(X_train, y_train)
    clf = stream(clf, X_train, y_train)
    pickle.dump(clf, open(tmp_path / "model.pkl", "wb"))
    np.save(tmp_path / "X.npy", X_test)
    np.save(tmp_path / "proba.npy", clf.predict_proba(X_test))
    run_without_torch(
        f"""
        import pickle, numpy as np
        clf = pickle.load(open({str(tmp_path / "model.pkl")!r}, "rb"))
        X = np.load({str(tmp_path / "X.npy")!r})
        expected = np.load({str(tmp_path / "proba.npy")!r})
        np.testing.assert_array_equal(clf.predict_proba(X), expected)
        """
    )

"""The contract both classifiers keep, one test for each, parametrized over
``ProjectionNetClassifier`` and ``HashedNetClassifier``."""

import signal

import joblib
import numpy as np
import pytest
import scipy.sparse as sp
from conftest import fast_settings, missing_cuda_device
from sklearn.base import clone
from sklearn.datasets import make_classification

from sklearn_pnet import _base

# Short trainings stop at max_iter on purpose.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

FAST = fast_settings()


@pytest.fixture(params=list(FAST), ids=lambda cls: cls.__name__)
def fitted(request, digits):
    X_train, _, y_train, _ = digits
    return request.param(**FAST[request.param]).fit(X_train, y_train)


def test_learns_digits(fitted, digits):
    _, X_test, _, y_test = digits
    assert fitted.score(X_test, y_test) > 0.85
    proba = fitted.predict_proba(X_test)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(fitted.classes_[proba.argmax(axis=1)], fitted.predict(X_test))
    assert fitted.decision_function(X_test).shape == (len(X_test), 10)
    assert fitted.n_iter_ == len(fitted.loss_curve_) <= 30
    assert fitted.loss_curve_[-1] < fitted.loss_curve_[0] / 2


def test_fitted_model_holds_no_torch_object(fitted):
    def modules(value):
        if isinstance(value, (list, tuple)):
            return {m for v in value for m in modules(v)}
        return {type(value).__module__.split(".")[0]}

    kinds = {m for v in vars(fitted).values() for m in modules(v)}
    assert "torch" not in kinds
    assert kinds <= {"numpy", "builtins", "sklearn_pnet"}


def test_loaded_model_predicts_identically_without_torch(
    fitted, digits, tmp_path, run_without_torch
):
    _, X_test, _, _ = digits
    joblib.dump(fitted, tmp_path / "model.joblib")
    np.save(tmp_path / "X.npy", X_test)
    np.save(tmp_path / "proba.npy", fitted.predict_proba(X_test))
    out = run_without_torch(
        f"""
        import joblib, numpy as np, scipy.sparse as sp
        clf = joblib.load({str(tmp_path / "model.joblib")!r})
        X = np.load({str(tmp_path / "X.npy")!r})
        expected = np.load({str(tmp_path / "proba.npy")!r})
        np.testing.assert_array_equal(clf.predict_proba(X), expected)
        np.testing.assert_allclose(clf.predict_proba(sp.csr_matrix(X)), expected, atol=1e-12)
        clf.predict(X); clf.decision_function(X); clf.score(X, clf.predict(X))
        try:
            clf.fit(X, clf.predict(X))
        except ImportError as exc:
            print(exc)
        """
    )
    # Training without torch says which extra to install.
    assert "pip install 'sklearn-pnet[torch]'" in out


def test_same_random_state_same_model(make, digits):
    X_train, X_test, y_train, _ = digits
    a = make(max_iter=5).fit(X_train, y_train)
    b = make(max_iter=5).fit(X_train, y_train)
    c = make(max_iter=5, random_state=1).fit(X_train, y_train)
    np.testing.assert_array_equal(a.predict_proba(X_test), b.predict_proba(X_test))
    assert not np.array_equal(a.predict_proba(X_test), c.predict_proba(X_test))


def test_sample_weight(make, digits):
    X_train, X_test, y_train, _ = digits
    clf = make(max_iter=10).fit(X_train, y_train, sample_weight=np.where(y_train == 3, 0.0, 1.0))
    dropped = make(max_iter=10).fit(X_train[y_train != 3], y_train[y_train != 3])
    # Weight 0 is the same as leaving the samples out, class 3 included.
    assert 3 not in clf.classes_
    np.testing.assert_array_equal(clf.predict_proba(X_test), dropped.predict_proba(X_test))
    plain = make(max_iter=10).fit(X_train, y_train)
    heavy = make(max_iter=10).fit(X_train, y_train, sample_weight=np.where(y_train == 3, 20.0, 1.0))
    assert (heavy.predict(X_test) == 3).sum() > (plain.predict(X_test) == 3).sum()


def test_labels_of_any_type(make):
    X, y = make_classification(200, 8, n_classes=3, n_informative=4, random_state=0)
    labels = np.array(["ham", "eggs", "spam"])[y]
    clf = make(max_iter=5).fit(X, labels)
    assert clf.classes_.tolist() == ["eggs", "ham", "spam"]
    assert set(clf.predict(X)) <= set(labels)
    binary = make(max_iter=5).fit(X, y == 1)
    assert binary.decision_function(X).shape == (200,)
    assert binary.predict(X).dtype == bool


def test_warm_start_continues(make, digits):
    X_train, _, y_train, _ = digits
    clf = make(max_iter=3, warm_start=True).fit(X_train, y_train)
    hashes = clf.get_params()["random_state"], _hash_state(clf)
    first_loss = clf.loss_curve_[-1]
    clf.fit(X_train, y_train)
    assert clf.n_iter_ == 6 and len(clf.loss_curve_) == 6
    assert (clf.random_state, _hash_state(clf)) == hashes
    assert clf.loss_curve_[-1] < first_loss
    with pytest.raises(ValueError, match="same classes"):
        clf.fit(X_train[y_train < 5], y_train[y_train < 5])


def _hash_state(clf):
    """What defines the hashes of a fitted model: they must not change
    with warm_start."""
    if hasattr(clf, "projector_"):
        return clf.projector_.seed_
    return tuple(clf.seeds_)


def test_early_stopping_keeps_the_best_epoch(make, digits):
    X_train, _, y_train, _ = digits
    clf = make(early_stopping=True, n_iter_no_change=3).fit(X_train, y_train)
    assert len(clf.validation_scores_) == clf.n_iter_
    assert clf.best_validation_score_ == max(clf.validation_scores_)


@pytest.mark.parametrize("threshold", [500, 5000])
def test_early_stopping_auto_holds_out_on_large_data(make, digits, monkeypatch, threshold):
    # digits has 1,437 training samples: above 500, below 5,000.
    monkeypatch.setattr(_base, "EARLY_STOPPING_MIN_SAMPLES", threshold)
    X_train, _, y_train, _ = digits
    clf = make(early_stopping="auto", max_iter=3).fit(X_train, y_train)
    assert clf.get_params()["early_stopping"] == "auto"
    if threshold < len(y_train):
        assert len(clf.validation_scores_) == clf.n_iter_
    else:
        assert clf.validation_scores_ is None and clf.best_validation_score_ is None


def test_verbose_prints_one_line_per_epoch(make, digits, capsys):
    X_train, _, y_train, _ = digits
    make(max_iter=3, verbose=True).fit(X_train, y_train)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("Epoch")]
    assert len(lines) == 3
    assert "student accuracy" in lines[0]


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
def test_bad_training_input_is_named(make, X, y, match):
    with pytest.raises(ValueError, match=match):
        make().fit(X, y)


def test_wrong_number_of_features_at_predict(fitted):
    name = type(fitted).__name__
    with pytest.raises(ValueError, match=f"5 features, but {name} is expecting 64"):
        fitted.predict(np.ones((2, 5)))


@pytest.mark.parametrize(
    "bad, match",
    [
        (dict(hidden_layer_sizes=(0,)), "hidden_layer_sizes"),
        (dict(hidden_layer_sizes=(True,)), "hidden_layer_sizes"),
        (dict(teacher_hidden_layer_sizes=(0,)), "teacher_hidden_layer_sizes"),
        (dict(validation_fraction=0.999, early_stopping=True), "validation_fraction=0.999"),
        (dict(max_iter=0), "max_iter"),
        (dict(max_iter=True), "max_iter"),
        (dict(device=missing_cuda_device()), "device='cuda.*' is not available.*It has 'cpu'"),
        (dict(device="nonsense"), "not a torch device name"),
        (dict(device="meta"), "holds no data"),
        (dict(n_bits=True), "n_bits.*not a bool"),
        (dict(n_bits=10**7), "n_bits.*65536"),
        (dict(loss_weights=(np.nan, 1, 1)), "finite"),
    ],
    ids=lambda v: "-".join(v) if isinstance(v, dict) else None,
)
def test_a_failed_refit_leaves_the_fitted_model_as_it_was(make, digits, bad, match):
    X_train, X_test, y_train, _ = digits
    clf = make(max_iter=3).fit(X_train, y_train)
    if not set(bad) <= set(clf.get_params()):
        pytest.skip(f"{type(clf).__name__} has no {set(bad)}")
    before, state = clf.predict_proba(X_test), dict(vars(clf))
    # Different data too: a refit must not half-adopt its n_features_in_.
    with pytest.raises(ValueError, match=match):
        clf.set_params(**bad).fit(X_train[:, :10], y_train)
    assert vars(clf).keys() == state.keys()
    assert clf.n_features_in_ == 64
    np.testing.assert_array_equal(clf.predict_proba(X_test), before)


def test_one_sample_per_class_with_early_stopping_fails_cleanly(make, digits):
    X_train, X_test, y_train, _ = digits
    clf = make(max_iter=3).fit(X_train, y_train)
    before = clf.predict_proba(X_test)
    first = np.unique(y_train, return_index=True)[1]
    with pytest.raises(ValueError, match="early_stopping.*smallest class has 1 samples"):
        clf.set_params(early_stopping=True).fit(X_train[first], y_train[first])
    np.testing.assert_array_equal(clf.predict_proba(X_test), before)


def test_trim_for_prediction_keeps_predictions(fitted, digits):
    _, X_test, _, _ = digits
    before = fitted.predict_proba(X_test)
    trimmed = clone(fitted).set_params(max_iter=1)
    vars(trimmed).update(vars(fitted))
    assert trimmed.trim_for_prediction() is trimmed
    np.testing.assert_array_equal(trimmed.predict_proba(X_test), before)
    assert not hasattr(trimmed, "teacher_")


def test_sparse_input_predicts_like_dense(fitted, digits):
    _, X_test, _, _ = digits
    np.testing.assert_allclose(
        fitted.predict_proba(sp.csr_matrix(X_test)), fitted.predict_proba(X_test), atol=1e-12
    )


def test_divergence_raises_and_keeps_the_fitted_model(make, digits):
    X_train, X_test, y_train, _ = digits
    clf = make(max_iter=3).fit(X_train, y_train)
    before = clf.predict_proba(X_test)
    # A network on the raw features diverges at steps of 1e30 (a student on
    # bits alone hardly can): ProjectionNet's teacher is switched on.
    teacher = {"loss_weights": (1.0, 0.1, 1.0)} if "loss_weights" in clf.get_params() else {}
    with pytest.raises(ValueError, match="diverged at epoch 1.*learning rate.*unscaled"):
        clf.set_params(learning_rate_init=1e30, **teacher).fit(X_train, y_train)
    # Features of 1e300 overflow float32: never a model with a NaN loss.
    with pytest.raises(ValueError, match="diverged at epoch 1|projection of X overflows"):
        clf.set_params(learning_rate_init=1e-3).fit(X_train * 1e300, y_train)
    np.testing.assert_array_equal(clf.predict_proba(X_test), before)


def _interrupt_at_batch(monkeypatch, n_batch, send):
    """Make the ``n_batch``-th training batch send an interrupt."""
    from sklearn_pnet._training import Trainer

    check, calls = Trainer._raise_if_interrupted, []

    # Every training path (the torch steps and the compiled epoch) looks
    # for an interrupt before each batch.
    def interrupting_check(self):
        calls.append(1)
        if len(calls) == n_batch:
            send()
        return check(self)

    monkeypatch.setattr(Trainer, "_raise_if_interrupted", interrupting_check)
    return calls


def _raise_keyboard_interrupt():
    raise KeyboardInterrupt


@pytest.fixture
def python_handles_sigint():
    """Ctrl-C handled by Python, as in a terminal: a shell that starts the
    tests in the background ignores SIGINT, and then ``interrupt_main`` does
    nothing."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.mark.parametrize(
    "send",
    [_raise_keyboard_interrupt, __import__("_thread").interrupt_main],
    ids=["raised", "sigint"],
)
@pytest.mark.parametrize("early_stopping", [False, True])
def test_interrupt_keeps_what_was_learnt(
    make, digits, monkeypatch, send, early_stopping, python_handles_sigint
):
    X_train, X_test, y_train, y_test = digits
    # The interrupt comes in the middle of epoch 4.
    n_train = len(X_train) - (int(np.ceil(0.1 * len(X_train))) if early_stopping else 0)
    per_epoch = -(-n_train // 100)
    clf = make(max_iter=50, batch_size=100, early_stopping=early_stopping)
    calls = _interrupt_at_batch(monkeypatch, 3 * per_epoch + 3, send)
    with pytest.warns(UserWarning, match="Training interrupted by user during epoch 4"):
        clf.fit(X_train, y_train)
    # Raised: the batch stops before its step; SIGINT: at the end of it.
    assert len(calls) == 3 * per_epoch + 3
    assert clf.n_iter_ == len(clf.loss_curve_) == 3
    assert np.isfinite(clf.predict_proba(X_test)).all()
    assert clf.score(X_test, y_test) > 0.2  # chance: 0.1
    if early_stopping:
        assert clf.best_validation_score_ == max(clf.validation_scores_)


def test_interrupt_during_partial_fit_keeps_a_fitted_model(make, digits, monkeypatch):
    X_train, X_test, y_train, _ = digits
    clf = make(batch_size=100)
    clf.partial_fit(X_train, y_train, classes=np.unique(y_train))
    _interrupt_at_batch(monkeypatch, 3, _raise_keyboard_interrupt)
    with pytest.warns(UserWarning, match="Training interrupted by user"):
        clf.partial_fit(X_train, y_train)
    assert np.isfinite(clf.predict_proba(X_test)).all()
    # The cut chunk is not counted as a pass; the next one trains on.
    assert clf.n_iter_ == 1
    monkeypatch.undo()
    clf.partial_fit(X_train, y_train)
    assert clf.n_iter_ == 2


def test_interrupt_from_a_timer_finishes_the_fit(make, digits, python_handles_sigint):
    import _thread
    import threading

    X_train, X_test, y_train, _ = digits
    timer = threading.Timer(0.5, _thread.interrupt_main)
    timer.start()
    try:
        with pytest.warns(UserWarning, match="Training interrupted by user"):
            clf = make(max_iter=10_000, n_iter_no_change=10_000).fit(X_train, y_train)
    finally:
        timer.cancel()
    assert 0 < clf.n_iter_ < 10_000
    assert clf.predict(X_test).shape == (len(X_test),)


def test_prediction_reads_fitted_attributes_only(fitted, digits):
    # New parameters change nothing until the next fit.
    _, X_test, _, _ = digits
    before = fitted.predict_proba(X_test)
    new = dict(
        n_bits=3, hidden_layer_sizes=(5, 5), hash_bias=True, compression=1.0,
        weight_dtype="float32", weight_clusters=2, projection="random", density=0.5,
        center=False, sparsity=0.9, device="nonsense",
    )
    fitted.set_params(**{k: v for k, v in new.items() if k in fitted.get_params()})
    np.testing.assert_array_equal(fitted.predict_proba(X_test), before)


def test_torch_tensors_under_array_api_dispatch(make):
    # Array-API dispatch needs SCIPY_ARRAY_API=1 before scipy is imported:
    # a fresh process. Inputs are converted to numpy; outputs are numpy.
    import os
    import subprocess
    import sys

    params = make().get_params()
    script = f"""
import numpy as np, sklearn, torch
from sklearn_pnet import {type(make()).__name__} as cls, LSHProjector
X = torch.rand(60, 4, dtype=torch.float64); y = torch.arange(60) % 3
with sklearn.config_context(array_api_dispatch=True):
    clf = cls(**{{**{params!r}, "max_iter": 2}}).fit(X, y)
    assert isinstance(clf.predict(X), np.ndarray)
    assert LSHProjector(8).fit(X).transform(X).shape == (60, 8)
"""
    env = {**os.environ, "SCIPY_ARRAY_API": "1"}
    done = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", script],
        capture_output=True, text=True, env=env, timeout=300, cwd=os.getcwd(),
    )
    assert done.returncode == 0, done.stderr

import os
import subprocess
import sys
import textwrap

import joblib
import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.datasets import load_digits, make_classification
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline

from sklearn_pnet import ProjectionNetClassifier
from sklearn_pnet._compact import dumped_size

FAST = dict(n_bits=64, teacher_hidden_layer_sizes=(32,), max_iter=30, random_state=0)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)


@pytest.fixture(scope="module")
def fitted(digits):
    X_train, _, y_train, _ = digits
    return ProjectionNetClassifier(**FAST, keep_teacher=True).fit(X_train, y_train)


def test_student_and_teacher_learn_digits(digits, fitted):
    _, X_test, _, y_test = digits
    assert fitted.score(X_test, y_test) > 0.85
    assert np.mean(fitted.teacher_predict(X_test) == y_test) > 0.9
    proba = fitted.predict_proba(X_test)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(fitted.classes_[proba.argmax(axis=1)], fitted.predict(X_test))
    assert fitted.decision_function(X_test).shape == (len(X_test), 10)
    assert fitted.n_iter_ == len(fitted.loss_curve_) <= 30
    assert fitted.loss_curve_[-1] < fitted.loss_curve_[0]


def _arrays(obj):
    """Every attribute value of a stored weight, as types."""
    return {type(v) for v in vars(obj).values()} - {tuple}


def test_student_is_plain_numpy(fitted):
    # int8 by default: numpy codes and scales, decoded by np.asarray.
    assert [c.shape for c in fitted.coefs_] == [(64, 10)]
    assert all(_arrays(c) == {np.ndarray} for c in fitted.coefs_)
    assert np.asarray(fitted.coefs_[0]).dtype == np.float32
    assert _arrays(fitted.projector_.weights_) == {np.ndarray}
    for dtype in ("float16", "float32"):
        clf = clone(fitted).set_params(weight_dtype=dtype, max_iter=2)
        clf.fit(np.random.RandomState(0).rand(30, 64), np.arange(30) % 3)
        assert all(isinstance(c, np.ndarray) and c.dtype == dtype for c in clf.coefs_)


def test_teacher_is_dropped_by_default(digits):
    X_train, _, y_train, _ = digits
    clf = ProjectionNetClassifier(**FAST).fit(X_train, y_train)
    assert not hasattr(clf, "teacher_")
    assert not hasattr(clf, "teacher_predict")


def test_same_random_state_same_model(digits):
    X_train, X_test, y_train, _ = digits
    a = ProjectionNetClassifier(**FAST).fit(X_train, y_train)
    b = ProjectionNetClassifier(**FAST).fit(X_train, y_train)
    np.testing.assert_array_equal(a.predict_proba(X_test), b.predict_proba(X_test))
    c = ProjectionNetClassifier(**{**FAST, "random_state": 1}).fit(X_train, y_train)
    assert not np.array_equal(a.predict_proba(X_test), c.predict_proba(X_test))


def test_loaded_model_predicts_identically_without_torch(digits, fitted, tmp_path):
    _, X_test, _, _ = digits
    path = tmp_path / "model.joblib"
    joblib.dump(fitted, path)
    np.save(tmp_path / "X.npy", X_test)
    np.save(tmp_path / "proba.npy", fitted.predict_proba(X_test))
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
        import joblib, numpy as np
        clf = joblib.load({str(path)!r})
        X = np.load({str(tmp_path / "X.npy")!r})
        expected = np.load({str(tmp_path / "proba.npy")!r})
        np.testing.assert_array_equal(clf.predict_proba(X), expected)
        clf.predict(X); clf.decision_function(X); clf.score(X, clf.predict(X))
        assert "torch" not in sys.modules
        print("ok")
        """
    )
    # keep_teacher=True pickles a torch module: dump the student alone.
    student = clone(fitted)
    student.__dict__.update({k: v for k, v in fitted.__dict__.items() if k != "teacher_"})
    student.keep_teacher = False
    joblib.dump(student, path)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "ok" in out.stdout


def test_twenty_class_model_pickles_to_kilobytes():
    X, y = make_classification(
        600, 300, n_informative=40, n_classes=20, n_clusters_per_class=1, random_state=0
    )
    clf = ProjectionNetClassifier(
        256,
        projection="random",
        teacher_hidden_layer_sizes=(16,),
        max_iter=2,
        weight_dtype="float32",
        random_state=0,
    )
    clf.fit(sp.csr_matrix(X), y)
    # 256 x 20 float32 weights are 20 KB; everything else is small.
    assert 20_000 < dumped_size(clf) < 25_000
    # float16 halves the weights, int8 quarters them.
    assert 10_000 < dumped_size(clf.set_params(weight_dtype="float16").fit(X, y)) < 15_000
    assert 5_000 < dumped_size(clf.set_params(weight_dtype="int8").fit(X, y)) < 10_000
    # The default trained projection adds one int8 weight per entry
    # (300 features x 16 bits each) to that.
    trained = clf.set_params(projection="trained").fit(X, y)
    assert trained.projector_.weights_.shape == (300 * 16,)
    assert 10_000 < dumped_size(trained) < 15_000


def test_sparse_input_trains_a_sparse_first_layer(make_csr):
    X = make_csr(300, 200_000, 30, seed=0)
    y = np.asarray(X[:, :100_000].sum(axis=1) > X[:, 100_000:].sum(axis=1)).ravel()
    clf = ProjectionNetClassifier(
        64, teacher_hidden_layer_sizes=(8,), max_iter=3, keep_teacher=True, random_state=0
    ).fit(X, y)
    first = clf.teacher_[0]
    assert type(first).__name__ == "SparseLinear"
    assert tuple(first.weight.shape) == (200_000, 8)
    assert clf.predict(X).shape == (300,)


def test_custom_teacher_gets_sparse_csr_batches(make_csr):
    import torch

    seen = []

    class Teacher(torch.nn.Module):
        def __init__(self, n_features, n_classes):
            super().__init__()
            self.linear = torch.nn.Linear(n_features, n_classes)

        def forward(self, x):
            seen.append(x.layout)
            return torch.sparse.mm(x, self.linear.weight.T) + self.linear.bias

    X = make_csr(100, 1000, 10)
    y = np.arange(100) % 3
    ProjectionNetClassifier(32, teacher=Teacher, max_iter=2, random_state=0).fit(X, y)
    assert seen and set(seen) == {torch.sparse_csr}


def test_no_teacher_when_only_the_label_term_is_on(digits):
    X_train, _, y_train, _ = digits
    clf = ProjectionNetClassifier(**FAST, loss_weights=(0, 0, 1), keep_teacher=True)
    clf.fit(X_train, y_train)
    assert not hasattr(clf, "teacher_")


def test_early_stopping_keeps_the_best_epoch(digits):
    X_train, _, y_train, _ = digits
    clf = ProjectionNetClassifier(**FAST, early_stopping=True, n_iter_no_change=3)
    clf.fit(X_train, y_train)
    assert len(clf.validation_scores_) == clf.n_iter_
    assert clf.best_validation_score_ == max(clf.validation_scores_)


def test_verbose_prints_one_line_per_epoch(digits, capsys):
    X_train, _, y_train, _ = digits
    ProjectionNetClassifier(**{**FAST, "max_iter": 3}, verbose=True).fit(X_train, y_train)
    lines = [l for l in capsys.readouterr().out.splitlines() if l.startswith("Epoch")]
    assert len(lines) == 3
    assert "student accuracy" in lines[0] and "teacher accuracy" in lines[0]


def test_warm_start_continues(digits):
    X_train, _, y_train, _ = digits
    clf = ProjectionNetClassifier(**{**FAST, "max_iter": 3}, warm_start=True)
    clf.fit(X_train, y_train)
    seed = clf.projector_.seed_
    clf.fit(X_train, y_train)
    assert clf.n_iter_ == 6 and len(clf.loss_curve_) == 6
    assert clf.projector_.seed_ == seed
    with pytest.raises(ValueError, match="same classes"):
        clf.fit(X_train[y_train < 5], y_train[y_train < 5])


def test_sample_weight(digits):
    X_train, X_test, y_train, _ = digits
    weights = np.where(y_train == 3, 0.0, 1.0)
    clf = ProjectionNetClassifier(**FAST).fit(X_train, y_train, sample_weight=weights)
    dropped = ProjectionNetClassifier(**FAST).fit(X_train[y_train != 3], y_train[y_train != 3])
    # Weight 0 is the same as leaving the samples out, class 3 included.
    assert 3 not in clf.classes_
    np.testing.assert_array_equal(clf.predict_proba(X_test), dropped.predict_proba(X_test))
    heavy = ProjectionNetClassifier(**FAST).fit(
        X_train, y_train, sample_weight=np.where(y_train == 3, 20.0, 1.0)
    )
    assert (heavy.predict(X_test) == 3).sum() > (
        ProjectionNetClassifier(**FAST).fit(X_train, y_train).predict(X_test) == 3
    ).sum()


def test_labels_of_any_type():
    X, y = make_classification(200, 8, n_classes=3, n_informative=4, random_state=0)
    labels = np.array(["ham", "eggs", "spam"])[y]
    clf = ProjectionNetClassifier(**FAST).fit(X, labels)
    assert clf.classes_.tolist() == ["eggs", "ham", "spam"]
    assert set(clf.predict(X)) <= set(labels)
    binary = ProjectionNetClassifier(**FAST).fit(X, y == 1)
    assert binary.decision_function(X).shape == (200,)


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
        ProjectionNetClassifier(**FAST).fit(X, y)


def test_bad_parameters_are_named():
    X, y = np.random.RandomState(0).rand(20, 3), np.arange(20) % 2
    with pytest.raises(ValueError, match="n_bits"):
        ProjectionNetClassifier(n_bits=0).fit(X, y)
    with pytest.raises(ValueError, match="loss_weights"):
        ProjectionNetClassifier(loss_weights=(1, 0, 0)).fit(X, y)
    with pytest.raises(ValueError, match="hidden_layer_sizes"):
        ProjectionNetClassifier(hidden_layer_sizes=(0,)).fit(X, y)


def test_wrong_number_of_features_at_predict(fitted):
    with pytest.raises(ValueError, match="5 features, but ProjectionNetClassifier is expecting 64"):
        fitted.predict(np.ones((2, 5)))


def test_text_pipeline_and_grid_search_in_two_processes():
    docs = [f"{w} {w} story number {i}" for i in range(60) for w in ["space", "god", "image"]][:120]
    labels = [d.split()[0] for d in docs]
    from sklearn.feature_extraction.text import TfidfVectorizer

    pipe = make_pipeline(
        TfidfVectorizer(),
        ProjectionNetClassifier(teacher_hidden_layer_sizes=(8,), max_iter=50, random_state=0),
    )
    pipe.fit(docs, labels)
    assert pipe.predict(["god story"]).tolist() == ["god"]

    def torch_threads(estimator, X, y):
        import torch

        return torch.get_num_threads()

    search = GridSearchCV(
        pipe,
        {"projectionnetclassifier__n_bits": [16, 64]},
        cv=2,
        n_jobs=2,
        scoring={"accuracy": "accuracy", "threads": torch_threads},
        refit="accuracy",
    ).fit(docs, labels)
    assert search.best_score_ > 0.9
    # Each of the 2 workers trains with at most its share of the cores.
    assert search.cv_results_["mean_test_threads"].max() <= max(1, os.cpu_count() // 2)

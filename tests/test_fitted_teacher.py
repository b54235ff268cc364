"""ProjectionNet distilled from a fitted scikit-learn classifier
(``teacher=`` an estimator instead of a torch factory)."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from sklearn_pnet import ProjectionNetClassifier

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def teachers(digits):
    X_train, _, y_train, _ = digits
    return {
        "svc": make_pipeline(StandardScaler(), LinearSVC()).fit(X_train, y_train),
        "logreg": LogisticRegression(max_iter=2000).fit(X_train, y_train),
    }


def student(**params):
    return ProjectionNetClassifier(**{"n_bits": 64, "max_iter": 20, "random_state": 0, **params})


@pytest.mark.parametrize("name", ["svc", "logreg"])
def test_student_of_a_fitted_classifier(teachers, digits, name):
    X_train, X_test, y_train, y_test = digits
    clf = student(teacher=teachers[name]).fit(X_train, y_train)
    assert clf.score(X_test, y_test) > 0.85
    again = student(teacher=teachers[name]).fit(X_train, y_train)
    np.testing.assert_array_equal(clf.predict_proba(X_test), again.predict_proba(X_test))
    # Distillation alone: the student follows the teacher, not the labels.
    mimic = student(teacher=teachers[name], loss_weights=(0, 1, 0), temperature=0.5)
    mimic.fit(X_train, teachers[name].predict(X_train))
    agreement = (mimic.predict(X_test) == teachers[name].predict(X_test)).mean()
    assert agreement > 0.85


def test_fitted_teacher_replaces_the_torch_teacher(teachers, digits):
    X_train, X_test, y_train, _ = digits
    clf = student(teacher=teachers["logreg"], keep_teacher=True).fit(X_train, y_train)
    assert not hasattr(clf, "teacher_")  # no torch teacher was trained
    assert clf.trim_for_prediction().teacher is None
    # GridSearchCV clones it: FrozenEstimator keeps the teacher fitted.
    grid = GridSearchCV(
        student(teacher=FrozenEstimator(teachers["svc"]), max_iter=3), {"n_bits": [32, 64]}, cv=2
    ).fit(X_train, y_train)
    assert grid.best_estimator_.predict(X_test).shape == (len(X_test),)


def test_fitted_teacher_in_partial_fit_and_binary(digits):
    X_train, X_test, y_train, _ = digits
    binary = y_train > 4
    teacher = LinearSVC().fit(X_train, binary)
    clf = student(teacher=teacher)
    for start in range(0, len(y_train), 300):
        rows = slice(start, start + 300)
        clf.partial_fit(X_train[rows], binary[rows], classes=[False, True])
    assert clf.predict_proba(X_test).shape == (len(X_test), 2)


def test_fitted_teacher_errors(teachers, digits):
    X_train, _, y_train, _ = digits
    with pytest.raises(ValueError, match="must be fitted.*FrozenEstimator"):
        student(teacher=LogisticRegression()).fit(X_train, y_train)
    with pytest.raises(ValueError, match=r"lack the labels \[10\]"):
        student(teacher=teachers["logreg"]).fit(X_train, np.where(y_train == 0, 10, y_train))
    # A teacher that knows more classes than y has: its columns for y's.
    few = y_train < 3
    clf = student(teacher=teachers["logreg"], max_iter=3).fit(X_train[few], y_train[few])
    assert clf.classes_.tolist() == [0, 1, 2]
    assert clone(clf).get_params()["teacher"] is not teachers["logreg"]

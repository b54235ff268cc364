"""The model format: models dumped by earlier versions load and predict as
they did, and today's code, fitted alike, gives the same models."""

from pathlib import Path

import joblib
import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.datasets import load_digits

DATA = Path(__file__).parent / "data"
V010 = DATA / "v0.1.0"
MODELS = sorted(p.stem for p in V010.glob("*.joblib"))


def _make_pickles():
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_pickles", DATA / "make_pickles.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def expected():
    return np.load(V010 / "expected.npz")


@pytest.fixture(scope="module")
def digits_rows():
    X, y = load_digits(return_X_y=True)
    return _make_pickles().train_test_rows(X, y)


def test_fixtures_are_there():
    assert len(MODELS) == 9


@pytest.mark.parametrize("name", MODELS)
def test_v0_1_0_models_load_and_predict_identically(name, expected, digits_rows):
    _, _, X_test = digits_rows
    model = joblib.load(V010 / f"{name}.joblib")
    if name.startswith("lsh"):
        np.testing.assert_array_equal(model.transform(X_test), expected[f"{name}.bits"])
        np.testing.assert_array_equal(
            model.transform(sp.csr_matrix(X_test)), expected[f"{name}.csr_bits"]
        )
    else:
        np.testing.assert_array_equal(model.predict_proba(X_test), expected[f"{name}.proba"])
        np.testing.assert_array_equal(model.predict(X_test), expected[f"{name}.predict"])


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("name", [m for m in MODELS if not m.startswith("lsh")])
def test_todays_fit_gives_the_v0_1_0_model(name, expected, digits_rows):
    # Same settings and random_state, today's code: the same model on the
    # same machine (torch's kernels may round differently elsewhere).
    X_train, y_train, X_test = digits_rows
    model = clone(_make_pickles().MODELS[name]).fit(X_train, y_train)
    np.testing.assert_array_equal(model.predict(X_test), expected[f"{name}.predict"])
    np.testing.assert_allclose(model.predict_proba(X_test), expected[f"{name}.proba"], atol=1e-6)

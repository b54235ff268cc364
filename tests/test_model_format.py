"""The model format: models dumped by earlier versions load and predict as
they did, and today's code, fitted alike, gives the same models."""

import pickle
import re
import warnings
from pathlib import Path

import joblib
import numpy as np
import pytest
import scipy.sparse as sp
import sklearn
from sklearn.base import clone
from sklearn.datasets import load_digits

import sklearn_pnet
from sklearn_pnet import (
    HashedNetClassifier,
    InconsistentVersionWarning,
    LSHProjector,
    ProjectionNetClassifier,
)

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


@pytest.mark.parametrize("name", MODELS)
def test_v0_1_0_models_take_the_defaults_of_later_parameters(name):
    """Parameters added since 0.1.0 (class_weight, linear_buckets, ...) take
    their defaults on loading: get_params, clone and repr work."""
    model = joblib.load(V010 / f"{name}.joblib")
    params = model.get_params()
    defaults = type(model)().get_params()
    assert set(params) == set(defaults)
    for added in ("class_weight", "linear_buckets", "linear_scale"):
        if added in defaults:
            assert params[added] == defaults[added]
    assert type(clone(model)) is type(model)
    assert type(model).__name__ in repr(model)


# Models whose training changed on purpose since 0.1.0: weight_clusters now
# fine-tunes the shared values after clustering (issue #16).
RETRAINED = {"pnet_hidden_kmeans"}


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize(
    "name", [m for m in MODELS if not m.startswith("lsh") and m not in RETRAINED]
)
def test_todays_fit_gives_the_v0_1_0_model(name, expected, digits_rows):
    # Same settings and random_state, today's code: the same model on the
    # same machine (torch's kernels may round differently elsewhere).
    X_train, y_train, X_test = digits_rows
    model = clone(_make_pickles().MODELS[name]).fit(X_train, y_train)
    np.testing.assert_array_equal(model.predict(X_test), expected[f"{name}.predict"])
    np.testing.assert_allclose(model.predict_proba(X_test), expected[f"{name}.proba"], atol=1e-6)


def _dumped_as_version(model, version):
    """Pickle bytes of ``model`` as if dumped by sklearn-pnet ``version``."""
    state = model.__getstate__()
    state["_sklearn_pnet_version"] = version
    # __getstate__ would record today's version: pickle the state itself.
    return pickle.dumps((type(model), state))


def _load_dumped(data):
    cls, state = pickle.loads(data)
    model = cls.__new__(cls)
    model.__setstate__(state)
    return model


def test_a_dumped_model_records_the_package_version(digits_rows):
    X_train, _, _ = digits_rows
    model = LSHProjector(n_bits=8, random_state=0).fit(X_train)
    assert model.__getstate__()["_sklearn_pnet_version"] == sklearn_pnet.__version__
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = pickle.loads(pickle.dumps(model))
    assert "_sklearn_pnet_version" not in vars(loaded)


def test_another_version_warns_as_scikit_learn_does(digits_rows):
    X_train, _, X_test = digits_rows
    model = LSHProjector(n_bits=8, random_state=0).fit(X_train)
    data = _dumped_as_version(model, "0.0.9")
    with pytest.warns(InconsistentVersionWarning, match="from sklearn-pnet version 0.0.9"):
        loaded = _load_dumped(data)
    # A filter on scikit-learn's warning covers ours.
    with warnings.catch_warnings():
        warnings.simplefilter("error", sklearn.exceptions.InconsistentVersionWarning)
        with pytest.raises(sklearn.exceptions.InconsistentVersionWarning):
            _load_dumped(data)
    np.testing.assert_array_equal(loaded.transform(X_test), model.transform(X_test))


@pytest.mark.parametrize("name", MODELS)
def test_v0_1_0_files_record_no_version_and_load_without_warning(name):
    with warnings.catch_warnings():
        warnings.simplefilter("error", InconsistentVersionWarning)
        model = joblib.load(V010 / f"{name}.joblib")
    assert not hasattr(model, "_sklearn_pnet_version")


def _github_anchor(heading):
    anchor = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return anchor.replace(" ", "-")


@pytest.mark.parametrize(
    "estimator",
    [LSHProjector(), ProjectionNetClassifier(), HashedNetClassifier()],
    ids=lambda e: type(e).__name__,
)
def test_html_repr_links_to_the_readme_section(estimator):
    link = estimator._get_doc_link()
    url, anchor = link.split("#")
    assert url.endswith("/README.md")
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    anchors = {_github_anchor(h) for h in re.findall(r"^#+ (.*)$", readme, re.M)}
    assert anchor in anchors
    assert link in estimator._repr_html_()

"""A catalogue of bad and odd inputs, across the three estimators.

Each bad input must raise the error type scikit-learn would, with a
message that names the problem, and leave a fitted model exactly as it
was; each odd-but-valid input must fit, and predict or transform. The
data are tiny and training runs 2 epochs: the whole file is fast.
"""

import copy
import pickle

import joblib
import numpy as np
import pytest
import scipy.sparse as sp
from conftest import missing_cuda_device
from sklearn.exceptions import DataConversionWarning, NotFittedError
from sklearn.utils._param_validation import InvalidParameterError

from sklearn_pnet import HashedNetClassifier, LSHProjector, ProjectionNetClassifier

NO_GPU = missing_cuda_device()

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

RNG = np.random.RandomState(0)
X = RNG.rand(30, 4)
Y = np.repeat([0, 1, 2], 10)

MAKERS = {
    "lsh": lambda **p: LSHProjector(n_bits=8, random_state=0, **p),
    "pnet": lambda **p: ProjectionNetClassifier(
        n_bits=8, teacher_hidden_layer_sizes=(4,), max_iter=2, random_state=0, **p
    ),
    "hnet": lambda **p: HashedNetClassifier((4,), max_iter=2, random_state=0, **p),
}
CLASSIFIERS = ("pnet", "hnet")
ALL = ("lsh", *CLASSIFIERS)


def _output(model, data):
    if hasattr(model, "predict_proba"):
        return model.predict_proba(data)
    return model.transform(data)


@pytest.fixture(scope="module")
def fitted():
    return {name: make().fit(X, Y) for name, make in MAKERS.items()}


def _malformed_csr():
    good = sp.csr_matrix(X)
    indices = good.indices.copy()
    indices[0] = 40  # beyond the 4 columns
    return sp.csr_matrix((good.data, indices, good.indptr), shape=good.shape)


def _memmap(tmp_path):
    path = tmp_path / "X.npy"
    np.save(path, X)
    return np.load(path, mmap_mode="r")


# (id, estimators, params, fit arguments (X, y, sample_weight), error, match)
BAD = [
    ("X_nan", ALL, {}, (np.where(X > 0.9, np.nan, X), Y, None), ValueError, "NaN"),
    ("X_inf", ALL, {}, (np.where(X > 0.9, np.inf, X), Y, None), ValueError, "infinity"),
    ("X_empty", ALL, {}, (X[:0], Y[:0], None), ValueError, "0 sample"),
    ("X_no_feature", ALL, {}, (X[:, :0], Y, None), ValueError, "0 feature"),
    ("X_1d", ALL, {}, (X[0], Y, None), ValueError, "Expected 2D array"),
    ("X_3d", ALL, {}, (X[None], Y, None), ValueError, "dim 3"),
    ("X_strings", ALL, {}, (X.astype(str).astype(object) + "x", Y, None), ValueError, "vectorizer"),
    ("X_text", CLASSIFIERS, {}, (["some text"] * 30, Y, None), ValueError, "vectorizer"),
    ("X_complex", ALL, {}, (X + 1j, Y, None), ValueError, "Complex data not supported"),
    ("X_ragged", ALL, {}, ([[1.0, 2.0], [3.0]], [0, 1], None), ValueError, "inhomogeneous"),
    ("X_overflows", ALL, {}, (X * 1e300, Y, None), ValueError, "overflows|diverged"),
    ("X_malformed_csr", ALL, {}, (_malformed_csr(), Y, None), ValueError, "malformed sparse"),
    ("y_nan", CLASSIFIERS, {}, (X, np.where(Y == 0, np.nan, Y), None), ValueError, "y contains"),
    ("y_2_columns", CLASSIFIERS, {}, (X, np.c_[Y, Y], None), ValueError, r"shape \(30, 2\)"),
    ("y_continuous", CLASSIFIERS, {}, (X, Y + RNG.rand(30), None), ValueError, "continuous"),
    (
        "y_mixed_types",
        CLASSIFIERS,
        {},
        (X[:3], np.array([0, "a", 1], dtype=object), None),
        ValueError,
        "mixes labels of different types",
    ),
    ("y_one_class", CLASSIFIERS, {}, (X, np.zeros(30), None), ValueError, "only one class"),
    ("y_too_short", CLASSIFIERS, {}, (X, Y[:5], None), ValueError, "inconsistent numbers"),
    ("sw_negative", ALL, {}, (X, Y, -np.ones(30)), ValueError, "Negative values"),
    ("sw_wrong_length", ALL, {}, (X, Y, np.ones(5)), ValueError, r"\(5,\), expected \(30,\)"),
    ("sw_2d", ALL, {}, (X, Y, np.ones((30, 2))), ValueError, "1D array"),
    ("sw_nan", ALL, {}, (X, Y, np.full(30, np.nan)), ValueError, "sample_weight contains NaN"),
    ("sw_all_zero", CLASSIFIERS, {}, (X, Y, np.zeros(30)), ValueError, "non-zero"),
    ("n_bits_true", ("lsh", "pnet"), {"n_bits": True}, None, InvalidParameterError, "not a bool"),
    ("n_bits_huge", ("lsh", "pnet"), {"n_bits": 10**7}, None, InvalidParameterError, "65536"),
    ("n_bits_zero", ("lsh", "pnet"), {"n_bits": 0}, None, InvalidParameterError, "n_bits"),
    ("n_bits_float", ("lsh", "pnet"), {"n_bits": 8.0}, None, InvalidParameterError, "n_bits"),
    ("dtype_bogus", ("lsh",), {"dtype": "bogus"}, None, ValueError, "not a numpy dtype"),
    ("dtype_str", ("lsh",), {"dtype": str}, None, ValueError, "cannot hold bits"),
    ("density_zero", ("lsh", "pnet"), {"density": 0.0}, None, InvalidParameterError, "density"),
    ("device_cuda", CLASSIFIERS, {"device": NO_GPU}, None, ValueError, "It has 'cpu'"),
    ("device_nonsense", CLASSIFIERS, {"device": "gpu0"}, None, ValueError, "not a torch device"),
    ("device_meta", CLASSIFIERS, {"device": "meta"}, None, ValueError, "holds no data"),
    ("loss_weights_nan", ("pnet",), {"loss_weights": (np.nan, 1, 1)}, None, ValueError, "finite"),
    ("loss_weights_two", ("pnet",), {"loss_weights": (1, 1)}, None, ValueError, "three"),
    ("loss_weights_no_student", ("pnet",), {"loss_weights": (1, 0, 0)}, None, ValueError, "last"),
    (
        "teacher_layers_zero",
        ("pnet",),
        {"teacher_hidden_layer_sizes": (0,)},
        None,
        ValueError,
        "teacher_hidden_layer_sizes",
    ),
    ("layers_zero", CLASSIFIERS, {"hidden_layer_sizes": (4, 0)}, None, ValueError, "positive"),
    ("layers_bool", CLASSIFIERS, {"hidden_layer_sizes": True}, None, ValueError, "hidden_layer"),
    ("max_iter_zero", CLASSIFIERS, {"max_iter": 0}, None, InvalidParameterError, "max_iter"),
    ("max_iter_bool", CLASSIFIERS, {"max_iter": True}, None, InvalidParameterError, "not a bool"),
    ("batch_size_zero", CLASSIFIERS, {"batch_size": 0}, None, InvalidParameterError, "batch_size"),
    ("lr_negative", CLASSIFIERS, {"learning_rate_init": -1.0}, None, InvalidParameterError, "lear"),
    ("lr_huge", ("hnet",), {"learning_rate_init": 1e30}, None, ValueError, "diverged at epoch"),
    (
        "float16_overflow",
        CLASSIFIERS,
        {"learning_rate_init": 1e30, "weight_dtype": "float16"},
        None,
        ValueError,
        "diverged at epoch|not finite in their stored form",
    ),
    ("clusters_one", CLASSIFIERS, {"weight_clusters": 1}, None, InvalidParameterError, "weight_c"),
    ("weight_dtype", CLASSIFIERS, {"weight_dtype": "int4"}, None, InvalidParameterError, "int8"),
    (
        "validation_fraction_all",
        CLASSIFIERS,
        {"early_stopping": True, "validation_fraction": 0.999},
        None,
        ValueError,
        "validation_fraction=0.999",
    ),
    (
        "early_stopping_one_per_class",
        CLASSIFIERS,
        {"early_stopping": True},
        (X[[0, 10, 20]], Y[[0, 10, 20]], None),
        ValueError,
        "smallest class has 1",
    ),
]


def _bad_cases():
    for case_id, names, params, args, error, match in BAD:
        for name in names:
            yield pytest.param(name, params, args, error, match, id=f"{case_id}-{name}")


@pytest.mark.parametrize("name, params, args, error, match", list(_bad_cases()))
def test_bad_input_is_named_and_leaves_the_fitted_model(fitted, name, params, args, error, match):
    model = copy.deepcopy(fitted[name])
    before, state = _output(model, X), set(vars(model))
    X_fit, y_fit, sample_weight = args if args is not None else (X, Y, None)
    model.set_params(**params)
    with pytest.raises(error, match=match):
        model.fit(X_fit, y_fit, sample_weight=sample_weight)
    assert set(vars(model)) == state
    np.testing.assert_array_equal(_output(model, X), before)


# Odd but valid: (id, estimators, fit X (or a callable of tmp_path), y)
ODD = [
    ("X_float16", ALL, X.astype(np.float16), Y),
    ("X_float32", ALL, X.astype(np.float32), Y),
    ("X_bool", ALL, X > 0.5, Y),
    ("X_int8", ALL, (X * 100).astype(np.int8), Y),
    ("X_object_numbers", ALL, X.astype(object), Y),
    ("X_list", ALL, X.tolist(), Y),
    ("X_zero_rows_and_columns", ALL, np.where(np.arange(30)[:, None] % 3, X, 0) * [1, 0, 1, 1], Y),
    ("X_fortran", ALL, np.asfortranarray(X), Y),
    ("X_memmap", ALL, _memmap, Y),
    ("y_strings", CLASSIFIERS, X, np.array(["a", "b", "c"])[Y]),
    ("y_bool", CLASSIFIERS, X[:20], Y[:20] == 1),
    ("y_column", CLASSIFIERS, X, Y[:, None]),
    *[
        (f"X_{fmt}_matrix", ALL, getattr(sp, f"{fmt}_matrix")(X), Y)
        for fmt in ("csr", "csc", "coo", "dok", "lil", "dia", "bsr")
    ],
    *[(f"X_{fmt}_array", ALL, getattr(sp, f"{fmt}_array")(X), Y) for fmt in ("csr", "coo")],
]


def _odd_cases():
    for case_id, names, X_fit, y_fit in ODD:
        for name in names:
            yield pytest.param(name, X_fit, y_fit, id=f"{case_id}-{name}")


@pytest.mark.parametrize("name, X_fit, y_fit", list(_odd_cases()))
def test_odd_but_valid_input_works(name, X_fit, y_fit, tmp_path):
    if callable(X_fit):
        X_fit = X_fit(tmp_path)
    model = MAKERS[name]()
    if np.ndim(y_fit) == 2:
        with pytest.warns(DataConversionWarning, match="column-vector y"):
            model.fit(X_fit, y_fit)
    else:
        model.fit(X_fit, y_fit)
    out = _output(model, X_fit)
    assert out.shape[0] == X_fit.shape[0] if hasattr(X_fit, "shape") else len(X_fit)
    assert np.isfinite(out).all()


@pytest.mark.parametrize("name", ALL)
def test_wrong_number_of_features_after_fit(fitted, name):
    with pytest.raises(ValueError, match="3 features, but .* is expecting 4"):
        _output(fitted[name], X[:, :3])


@pytest.mark.parametrize("name", ALL)
def test_not_fitted(name):
    with pytest.raises(NotFittedError, match="not fitted yet"):
        _output(MAKERS[name](), X)


@pytest.mark.parametrize("name", ALL)
def test_truncated_model_file_fails_to_load(fitted, name, tmp_path):
    path = tmp_path / "model.joblib"
    joblib.dump(fitted[name], path)
    path.write_bytes(path.read_bytes()[:-50])
    with pytest.raises((EOFError, pickle.UnpicklingError, ValueError)):
        joblib.load(path)

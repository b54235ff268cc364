"""Input checks shared by the estimators, with messages that name the fix."""

# SPDX-License-Identifier: BSD-3-Clause

from contextlib import contextmanager, nullcontext
from numbers import Integral

import numpy as np
import scipy.sparse as sp
from sklearn import config_context, get_config
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import validate_data


class IntInterval(Interval):
    """An interval of ints, bools excluded.

    ``True`` is an ``Integral`` to Python, so scikit-learn's ``Interval(
    Integral, 1, None)`` accepts it, and ``n_bits=True`` would train a
    one-bit model; here a size or a count is never a bool.
    """

    def __init__(self, left, right, *, closed):
        super().__init__(Integral, left, right, closed=closed)

    def is_satisfied_by(self, val):
        return not isinstance(val, (bool, np.bool_)) and super().is_satisfied_by(val)

    def __str__(self):
        return super().__str__() + " (not a bool)"


@contextmanager
def restored_on_failure(estimator, forget=()):
    """Put back the estimator's attributes as they were if the block fails.

    A fit sets ``n_features_in_`` (and maybe ``feature_names_in_``) when it
    validates ``X``, before anything can fail in training: a failed refit
    must leave the previously fitted model predicting exactly as before.
    The attributes named in ``forget`` are dropped instead (state that the
    failed block may have changed in place, such as partial_fit's torch
    networks).
    """
    previous = dict(vars(estimator))
    try:
        yield
    except BaseException:
        vars(estimator).clear()
        vars(estimator).update(previous)
        for name in forget:
            vars(estimator).pop(name, None)
        raise


def numpy_inputs():
    """A context in which scikit-learn's checks convert inputs to numpy.

    The kernels here are numpy's: with ``array_api_dispatch=True`` a torch
    tensor (or another array-API array) would otherwise stay a tensor and
    fail deep in ``check_array``. A CPU tensor is converted; a GPU tensor
    raises torch's own error, which says to call ``.cpu()``.
    """
    if not get_config()["array_api_dispatch"]:
        # Nothing to change: entering scikit-learn's config context costs
        # a tenth of a one-row prediction.
        return nullcontext()
    return config_context(array_api_dispatch=False)


def validate_features(estimator, X, y="no_validation", *, reset, **kwargs):
    """``validate_data`` for numeric features, dense or CSR.

    Strings are the most common wrong input here (raw text handed to the
    estimator instead of to a vectorizer), so that error says what to do.
    """
    kwargs.setdefault("accept_sparse", "csr")
    kwargs.setdefault("dtype", [np.float64, np.float32])
    try:
        with numpy_inputs():
            checked = validate_data(estimator, X, y, reset=reset, **kwargs)
    except ValueError as exc:
        if "could not convert string" not in str(exc):
            raise
        name = type(estimator).__name__
        raise ValueError(
            f"{name} needs numeric features, but X holds strings ({exc}). "
            "To learn from text, put a vectorizer in front of it, e.g. "
            f"make_pipeline(TfidfVectorizer(), {name}()) or, for a model "
            "that stores no vocabulary, HashingVectorizer()."
        ) from exc
    check_sparse_structure(checked[0] if isinstance(checked, tuple) else checked)
    return checked


def check_sparse_structure(X):
    """Check that a sparse ``X``'s indices are in range.

    scipy's constructors check the arrays' shapes, not their values, and
    its C++ kernels (``toarray``, products) and torch's sparse tensors
    (built here without re-checking) trust them: a column index out of
    range would write outside an array. The full check is one pass over
    the indices.
    """
    if sp.issparse(X):
        try:
            X.check_format(full_check=True)
        except ValueError as exc:
            raise ValueError(
                f"X is a malformed sparse matrix ({exc}): its indices do not fit its "
                f"shape {X.shape}. Build it with scipy's constructors from valid arrays."
            ) from exc


def check_labels(y):
    """Reject labels of mixed types (``[0, "a", 1]``), which cannot be
    sorted into classes; scikit-learn would call them of "unknown" type."""
    y = np.asarray(y)
    if y.dtype == object:
        kinds = {_label_kind(v) for v in y.ravel()}
        if len(kinds) > 1:
            raise ValueError(
                f"y mixes labels of different types ({', '.join(sorted(kinds))}), which "
                "cannot be sorted into classes. Use labels of one type, e.g. all "
                "strings: y.astype(str)."
            )


def _label_kind(value):
    if isinstance(value, str):
        return "str"
    if isinstance(value, (Integral, float, np.number)):
        return "number"
    return type(value).__name__

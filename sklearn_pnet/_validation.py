"""Input checks shared by the estimators, with messages that name the fix."""

# SPDX-License-Identifier: BSD-3-Clause

import numpy as np
from sklearn.utils.validation import validate_data


def validate_features(estimator, X, y="no_validation", *, reset, **kwargs):
    """``validate_data`` for numeric features, dense or CSR.

    Strings are the most common wrong input here (raw text handed to the
    estimator instead of to a vectorizer), so that error says what to do.
    """
    kwargs.setdefault("accept_sparse", "csr")
    kwargs.setdefault("dtype", [np.float64, np.float32])
    try:
        return validate_data(estimator, X, y, reset=reset, **kwargs)
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

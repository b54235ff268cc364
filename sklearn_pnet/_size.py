"""Size accounting: a model's size is the bytes ``joblib.dump`` writes."""

# SPDX-License-Identifier: BSD-3-Clause

import io
import pickle

import joblib


def dumped_size(obj, compress=0):
    """Bytes that ``joblib.dump(obj)`` writes: the honest model size."""
    buffer = io.BytesIO()
    joblib.dump(obj, buffer, compress=compress)
    return buffer.getbuffer().nbytes


def _components(obj, prefix):
    """(name, pickled bytes) of each fitted attribute, nested estimators
    (and pipeline steps) split into theirs."""
    if hasattr(obj, "steps"):  # a Pipeline
        for name, step in obj.steps:
            yield from _components(step, f"{prefix}{name}.")
        return
    params = 0
    for name, value in vars(obj).items():
        if hasattr(value, "get_params") and name.endswith("_"):
            yield from _components(value, f"{prefix}{name}.")
        elif name.endswith("_") and not name.startswith("_"):
            yield f"{prefix}{name}", len(pickle.dumps(value, protocol=5))
        else:
            params += len(pickle.dumps(value, protocol=5))
    yield f"{prefix}(parameters)", params


def model_size_bytes(estimator):
    """Size of a fitted estimator as ``joblib.dump`` writes it, by component.

    Parameters
    ----------
    estimator : estimator or Pipeline
        A fitted estimator.

    Returns
    -------
    report : dict
        ``"total"``: ``len`` of the ``joblib.dump`` output; then the pickled
        size of each fitted attribute (``"coefs_"``, ``"projector_.weights_"``,
        ...), of the constructor parameters of each estimator, and
        ``"(pickle framing)"``, the rest, so that the parts add up to the
        total exactly.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn_pnet import ProjectionNetClassifier, model_size_bytes
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = ProjectionNetClassifier(n_bits=64, max_iter=5, random_state=0)
    >>> report = model_size_bytes(clf.fit(X, y))
    >>> report["total"] == sum(v for k, v in report.items() if k != "total")
    True
    >>> report["coefs_"]  # 64 x 10 int8 weights, 10 scales, pickle headers
    954
    """
    report = {"total": dumped_size(estimator)}
    parts = dict(_components(estimator, ""))
    report.update(parts)
    report["(pickle framing)"] = report["total"] - sum(parts.values())
    return report

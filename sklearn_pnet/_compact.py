"""Numpy-only inference of the student network, and size accounting."""

# SPDX-License-Identifier: BSD-3-Clause

import io

import joblib
import numpy as np


def forward(X, coefs, intercepts):
    """Logits of a ReLU MLP given as scikit-learn-style weight lists.

    Computed in float64 whatever the stored type, so that a row's output
    does not depend on which other rows share the call.
    """
    activation = np.asarray(X, dtype=np.float64)
    last = len(coefs) - 1
    for i, (coef, intercept) in enumerate(zip(coefs, intercepts)):
        activation = activation @ np.asarray(coef, dtype=np.float64)
        activation += intercept
        if i < last:
            np.maximum(activation, 0.0, out=activation)
    return activation


def softmax(logits):
    """Row-wise softmax, stable for large logits."""
    z = logits - logits.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


def dumped_size(obj, compress=0):
    """Bytes that ``joblib.dump(obj)`` writes: the honest model size."""
    buffer = io.BytesIO()
    joblib.dump(obj, buffer, compress=compress)
    return buffer.getbuffer().nbytes

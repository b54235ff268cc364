"""Numpy-only inference, compact weight storage, and size accounting.

A fitted student keeps its weights in one of these forms, and prediction
runs on that form; nothing decoded is kept on the estimator:

- plain ``float32`` or ``float16`` arrays;
- :class:`QuantizedArray`: int8 codes with float32 scales, one per output
  unit (a column of a ``(n_in, n_out)`` weight matrix) or per block of
  :data:`SCALE_BLOCK` values for a 1-D array;
- :class:`ClusteredArray`: weight sharing by k-means, ``k`` float32
  centroids and ``ceil(log2(k))``-bit codes packed into bytes;
- :class:`PrunedMatrix`: the non-zeros of a pruned weight matrix in
  compressed sparse column form, their values in any of the forms above.

Every form supports ``np.asarray(w)`` (decode, for inspection),
``matmul(X, w)`` (``X @ w``) and ``take(w, indices)`` (gather from a 1-D
array). These follow the compression strategies of Marinò et al. (ICPR
2020): magnitude pruning, weight sharing and quantization, with products
computed on the compressed form.
"""

# SPDX-License-Identifier: BSD-3-Clause

import io
import pickle

import joblib
import numpy as np
import scipy.sparse as sp

from ._hashing import hashed_buckets

SCALE_BLOCK = 256

# Entries of a computed matrix (a projection's or a hashed layer's rows)
# formed at once: 2 MB of float64, plus the hashing's temporaries.
BLOCK_ENTRIES = 2**18


class QuantizedArray:
    """Symmetric int8 quantization: ``value = codes * scale``.

    Parameters
    ----------
    values : ndarray of shape (n,) or (n_in, n_out)
        Weights to encode. A 2-D array gets one scale per column (output
        unit), a 1-D array one per block of ``SCALE_BLOCK`` values.
    """

    def __init__(self, values):
        values = np.asarray(values, dtype=np.float32)
        self.shape = values.shape
        blocks = self._blocks(values)
        scale = np.abs(blocks).max(axis=0) / 127.0
        scale[scale == 0] = 1.0
        self.scale = scale.astype(np.float32)
        codes = np.rint(blocks / self.scale)
        self.codes = self._unblock(codes.astype(np.int8))

    def _blocks(self, values):
        """A 2-D view whose columns share a scale."""
        if values.ndim == 2:
            return values
        n_blocks = -(-values.size // SCALE_BLOCK)
        padded = np.zeros(n_blocks * SCALE_BLOCK, dtype=values.dtype)
        padded[: values.size] = values
        return padded.reshape(n_blocks, SCALE_BLOCK).T

    def _unblock(self, blocks):
        if len(self.shape) == 2:
            return blocks
        return blocks.T.ravel()[: self.shape[0]]

    def __array__(self, dtype=None, copy=None):
        if len(self.shape) == 2:
            values = self.codes * self.scale
        else:
            values = self.take(np.arange(self.shape[0]))
        return values.astype(dtype or np.float32, copy=False)

    def take(self, indices):
        """``values[indices]`` of a 1-D array, decoding only those."""
        return self.codes[indices] * self.scale[indices // SCALE_BLOCK]

    def matmul(self, X):
        # Scale the product's columns rather than decoding the matrix.
        return (X @ self.codes.astype(X.dtype)) * self.scale


class ClusteredArray:
    """Weight sharing: each weight is one of ``k`` centroids (1-D k-means).

    Parameters
    ----------
    values : ndarray
        Weights to encode.
    n_clusters : int
        Number of shared values ``k``, at most 256; each weight costs
        ``ceil(log2(k))`` bits plus the centroids.
    """

    def __init__(self, values, n_clusters):
        values = np.asarray(values, dtype=np.float32)
        self.shape = values.shape
        self.centroids, codes = kmeans_1d(values.ravel(), n_clusters)
        self.n_code_bits = max(1, int(np.ceil(np.log2(len(self.centroids)))))
        # Bit planes of the codes, little-endian: code bit b of weight i is
        # bit i of plane b.
        planes = (codes[None, :] >> np.arange(self.n_code_bits)[:, None]) & 1
        self.packed = np.packbits(planes.astype(np.uint8), axis=1, bitorder="little")

    def codes(self, indices=None):
        """The k-means code of every weight, or of ``weights[indices]``."""
        size = int(np.prod(self.shape))
        planes = np.unpackbits(self.packed, axis=1, count=size, bitorder="little")
        # Assemble all codes (one byte each, k <= 256) before gathering: a
        # projection gathers many more entries than there are weights (11.5M
        # from 622,592 on 20 Newsgroups' test set at 128 slots), and
        # gathering bytes once beats gathering each plane and summing.
        codes = np.zeros(size, dtype=np.uint8)
        for bit, plane in enumerate(planes):
            codes |= plane << bit
        return codes if indices is None else codes[indices]

    def __array__(self, dtype=None, copy=None):
        values = self.centroids[self.codes()].reshape(self.shape)
        return values.astype(dtype or np.float32, copy=False)

    def take(self, indices):
        return self.centroids[self.codes(np.ravel(indices))].reshape(np.shape(indices))

    def matmul(self, X):
        return X @ np.asarray(self, dtype=X.dtype)


class PrunedMatrix:
    """The non-zeros of a ``(n_in, n_out)`` matrix, column by column (CSC).

    Row indices are stored as uint16 where ``n_in`` allows it; the values
    are encoded by ``encode_values`` (float16, int8 or k-means).
    """

    def __init__(self, values, encode_values):
        matrix = sp.csc_matrix(np.asarray(values, dtype=np.float32))
        self.shape = matrix.shape
        index_dtype = np.uint16 if self.shape[0] <= 2**16 else np.uint32
        self.indices = matrix.indices.astype(index_dtype)
        self.indptr = matrix.indptr.astype(np.uint32)
        self.data = encode_values(matrix.data)

    def _matrix(self, dtype):
        return sp.csc_matrix(
            (np.asarray(self.data, dtype=dtype), self.indices, self.indptr), shape=self.shape
        )

    def __array__(self, dtype=None, copy=None):
        return self._matrix(dtype or np.float32).toarray()

    @property
    def nnz(self):
        return len(self.indices)

    def matmul(self, X):
        return np.asarray(X @ self._matrix(X.dtype))


def kmeans_1d(values, n_clusters, n_iter=30):
    """Lloyd's k-means on scalars, initialised on a linear grid between the
    extremes (which keeps the rare large weights, as Han et al. 2016 found
    best). Deterministic. Returns ``(centroids float32, codes uint8)``."""
    lo, hi = float(values.min()), float(values.max())
    centroids = np.linspace(lo, hi, n_clusters)
    for _ in range(n_iter):
        codes = _nearest(values, centroids)
        sums = np.bincount(codes, weights=values, minlength=n_clusters)
        counts = np.bincount(codes, minlength=n_clusters)
        filled = counts > 0
        centroids[filled] = sums[filled] / counts[filled]
    # Drop empty clusters so that no code is wasted.
    codes = _nearest(values, centroids)
    used = np.unique(codes)
    remap = np.zeros(n_clusters, dtype=np.int64)
    remap[used] = np.arange(len(used))
    return centroids[used].astype(np.float32), remap[codes].astype(np.uint8)


def _nearest(values, centroids):
    order = np.argsort(centroids)
    sorted_centroids = centroids[order]
    midpoints = (sorted_centroids[1:] + sorted_centroids[:-1]) / 2
    return order[np.searchsorted(midpoints, values)]


def encode(values, dtype="float32", n_clusters=None):
    """Store ``values`` compactly: "float32", "float16", "int8", or
    k-means shared values when ``n_clusters`` is set (then ``dtype`` is
    the centroids' precision, always float32)."""
    if n_clusters is not None:
        return ClusteredArray(values, n_clusters)
    if dtype == "int8":
        return QuantizedArray(values)
    return np.asarray(values, dtype=dtype)


def matmul(X, weights):
    """``X @ weights`` for any stored form, computed in ``X``'s dtype."""
    if isinstance(weights, np.ndarray):
        return X @ weights.astype(X.dtype, copy=False)
    return weights.matmul(X)


def take(weights, indices):
    """``weights[indices]`` for a 1-D weight array in any stored form."""
    if isinstance(weights, np.ndarray):
        return weights[indices]
    return weights.take(indices)


def forward(X, coefs, intercepts):
    """Logits of a ReLU MLP given as scikit-learn-style weight lists.

    Computed in float64 whatever the stored form, so that a row's output
    does not depend on which other rows share the call.
    """
    activation = np.asarray(X, dtype=np.float64)
    last = len(coefs) - 1
    for i, (coef, intercept) in enumerate(zip(coefs, intercepts)):
        activation = matmul(activation, coef)
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


# HashedNets (Chen et al., 2015): layers whose virtual weight matrix
# V[i, j] = xi(i, j) * w[h(i, j)] is recomputed from a seed and the real
# weights w, a block of rows at a time, so it is never stored or held whole.


def hashed_rows(weights, seed, rows, n_out):
    """Rows ``rows`` of a hashed layer's virtual matrix.

    Parameters
    ----------
    weights : ndarray of shape (n_weights,) or a compact form
        The layer's real weights (float32, float16, int8 or k-means).
    seed : int
        The layer's hash seed.
    rows : array-like of int
        Input features (rows of the virtual matrix).
    n_out : int
        Number of output units (columns).

    Returns
    -------
    virtual : ndarray of shape (len(rows), n_out)
        ``xi(i, j) * weights[h(i, j)]``, in float32 (float64 for float64
        weights).
    """
    buckets, signs = hashed_buckets(seed, rows, n_out, weights.shape[0])
    return signs * take(weights, buckets)


def present_columns(X):
    """The columns a CSR matrix uses, and the matrix renumbered on them.

    Returns ``(features, X_present)``: the sorted column indices present and
    ``X`` restricted to them, as CSR with columns ``0 .. u-1`` (sharing
    ``X``'s data). A mask of the columns costs one byte per column, not a
    sort of the non-zeros.
    """
    X = sp.csr_matrix(X)
    used = np.zeros(X.shape[1], dtype=bool)
    used[X.indices] = True
    features = np.flatnonzero(used)
    columns = (np.cumsum(used, dtype=np.int32) - 1)[X.indices]
    X = sp.csr_matrix((X.data, columns, X.indptr), shape=(X.shape[0], len(features)))
    return features, X


def blockwise_matmul(X, features, rows, n_out):
    """``X @ M[features]`` for a matrix ``M`` computed, never stored.

    ``rows(feature_block)`` returns the rows of ``M`` for a block of
    features; blocks hold at most ``BLOCK_ENTRIES`` entries, so memory is
    bounded whatever the number of features. ``X`` is dense, or sparse
    with one column per entry of ``features`` (see :func:`present_columns`).
    """
    if sp.issparse(X):
        X = X.tocsc()  # cheap blocks of columns
    dtype = np.result_type(X.dtype, np.float32)
    out = np.zeros((X.shape[0], n_out), dtype=dtype)
    step = max(1, BLOCK_ENTRIES // n_out)
    for start in range(0, len(features), step):
        block = slice(start, start + step)
        out += X[:, block] @ rows(features[block]).astype(dtype, copy=False)
    return out


def hashed_matmul(X, weights, seed, n_out):
    """``X @ V`` for the virtual matrix ``V`` of a hashed layer.

    ``V`` is formed a block of rows at a time; for sparse ``X`` only the
    rows of the columns present are, so the cost follows the non-zeros, not
    the number of features.

    Parameters
    ----------
    X : {ndarray, sparse matrix} of shape (n_samples, n_in)
        Input of the layer.
    weights : ndarray of shape (n_weights,) or a compact form
        The layer's real weights.
    seed : int
        The layer's hash seed.
    n_out : int
        Number of output units.

    Returns
    -------
    out : ndarray of shape (n_samples, n_out)
        In the result type of ``X``'s dtype and float32.
    """
    if sp.issparse(X):
        features, X = present_columns(X)
    else:
        features = np.arange(X.shape[1])
    return blockwise_matmul(
        X, features, lambda rows: hashed_rows(weights, seed, rows, n_out), n_out
    )


def hashed_forward(X, weights, intercepts, seeds, n_outputs):
    """Logits of a ReLU MLP of hashed layers.

    Parameters
    ----------
    X : {ndarray, sparse matrix} of shape (n_samples, n_features)
        Input.
    weights : list of arrays
        Real weights of each layer, in any compact form.
    intercepts : list of (ndarray or None)
        Biases of each layer, or None where they are hashed: then bias
        ``j`` is the virtual entry ``(n_in, j)``, that of a constant input.
    seeds : list of int
        Hash seed of each layer.
    n_outputs : list of int
        Output units of each layer.

    Returns
    -------
    logits : ndarray of float64, shape (n_samples, n_outputs[-1])
        Computed in float64 whatever the stored form, so that a row's
        output does not depend on which other rows share the call.
    """
    if sp.issparse(X):
        activation = X.astype(np.float64, copy=False)
    else:
        activation = np.asarray(X, dtype=np.float64)
    last = len(weights) - 1
    for i, (w, intercept, seed, n_out) in enumerate(zip(weights, intercepts, seeds, n_outputs)):
        n_in = activation.shape[1]
        activation = hashed_matmul(activation, w, seed, n_out)
        if intercept is None:
            intercept = hashed_rows(w, seed, [n_in], n_out)[0]
        activation += intercept
        if i < last:
            np.maximum(activation, 0.0, out=activation)
    return activation

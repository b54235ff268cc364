"""Compact storage forms of weights, and the products computed on them.

A fitted student keeps its weights in one of these forms, and prediction
runs on that form; nothing decoded is kept on the estimator:

- plain ``float32`` or ``float16`` arrays;
- :class:`QuantizedArray`: int8 codes with float32 scales, one per output
  unit (a column of a ``(n_in, n_out)`` weight matrix) or per block of
  :data:`SCALE_BLOCK` values for a 1-D array;
- :class:`ClusteredArray`: weight sharing by k-means, ``k`` float32
  centroids and ``ceil(log2(k))``-bit codes packed into bytes, or
  entropy-coded (LZMA) where most weights share a few values;
- :class:`PrunedMatrix`: the non-zeros of a pruned weight matrix in
  compressed sparse column form, their values in any of the forms above.

Every form supports ``np.asarray(w)`` (decode, for inspection),
``matmul(X, w)`` (``X @ w``) and ``take(w, indices)`` (gather from a 1-D
array). These follow the compression strategies of Marinò et al. (ICPR
2020): magnitude pruning, weight sharing and quantization, with products
computed on the compressed form.
"""

# SPDX-License-Identifier: BSD-3-Clause

import numpy as np
import scipy.sparse as sp

try:
    import lzma
except ImportError:  # a Python built without liblzma: only compress=True needs it
    lzma = None

SCALE_BLOCK = 256


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

    def __repr__(self):
        return f"QuantizedArray(shape={self.shape}, int8, {self.scale.size} scales)"

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
    compress : bool, default=False
        Store the codes LZMA-compressed (``lzma_codes``) instead of in bit
        planes (``packed``): each weight then costs about the entropy of
        the codes, and decoding takes one decompression (a few
        milliseconds per million codes). A matrix's codes are compressed
        column by column: a linear path's
        coefficients, ``(n_classes, n_buckets)``, then come a bucket at a
        time, and a bucket's codes depend on each other (an empty or
        uninformative bucket has all its coefficients near zero): 4-7%
        fewer bytes than row by row on 20 Newsgroups
        (``benchmarks/VALIDATION.md``, "Entropy-coded path").
    """

    def __init__(self, values, n_clusters, compress=False):
        values = np.asarray(values, dtype=np.float32)
        self.shape = values.shape
        self.centroids, codes = kmeans_1d(values.ravel(), n_clusters)
        self.n_code_bits = code_bits(len(self.centroids))
        if compress:
            self.packed = None
            codes = codes.reshape(self.shape).ravel(order="F")
            self.lzma_codes = _compress_codes(codes, self.n_code_bits)
        else:
            self.packed = _bit_planes(codes, self.n_code_bits)

    def __repr__(self):
        form = "LZMA-coded" if self.packed is None else f"{self.n_code_bits}-bit"
        return f"ClusteredArray(shape={self.shape}, {len(self.centroids)} values, {form} codes)"

    def bit_planes(self):
        """The codes in bit planes (``packed``'s layout), whichever way they
        are stored: the C export's form."""
        if self.packed is not None:
            return self.packed
        return _bit_planes(self.codes(), self.n_code_bits)

    def codes(self, indices=None):
        """The k-means code of every weight, or of ``weights[indices]``."""
        size = int(np.prod(self.shape))
        if self.packed is None:
            codes = _decompress_codes(self.lzma_codes, self.n_code_bits, size)
            codes = codes.reshape(self.shape, order="F").ravel()
            return codes if indices is None else codes[indices]
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


def _bit_planes(codes, n_code_bits):
    """Bit planes of the codes, little-endian: code bit b of weight i is
    bit i of plane b."""
    planes = (codes[None, :] >> np.arange(n_code_bits)[:, None]) & 1
    return np.packbits(planes.astype(np.uint8), axis=1, bitorder="little")


def _lzma_filters():
    """Raw LZMA2 (no container: its header and check would cost ~60 bytes
    per array) at its strongest preset. The codes of a linear model's
    coefficients are far from uniform (47-67% of 20 Newsgroups' 16-value
    codes are the commonest one), and LZMA stores them within 4% of
    their order-0 entropy (benchmarks/VALIDATION.md, "Entropy-coded
    path")."""
    if lzma is None:
        raise ImportError(
            "LZMA-coded weights need Python's lzma module, which this Python was built "
            "without; install liblzma (xz) and rebuild Python, or use another Python."
        )
    return [{"id": lzma.FILTER_LZMA2, "preset": 9 | lzma.PRESET_EXTREME}]


def _compress_codes(codes, n_code_bits):
    """LZMA of the codes, two to a byte when they fit in 4 bits (smaller
    than a byte per code on 20 Newsgroups' coefficients)."""
    codes = np.asarray(codes, dtype=np.uint8)
    if n_code_bits <= 4:
        codes = np.append(codes, np.zeros(len(codes) % 2, dtype=np.uint8))
        codes = codes[0::2] | (codes[1::2] << 4)
    filters = _lzma_filters()
    return lzma.compress(codes.tobytes(), format=lzma.FORMAT_RAW, filters=filters)


def _decompress_codes(data, n_code_bits, size):
    """The ``size`` codes back. At most the bytes they take are
    decompressed: a damaged or hostile file cannot make this allocate
    more."""
    expected = (size + 1) // 2 if n_code_bits <= 4 else size
    filters = _lzma_filters()  # first: it says why when lzma is missing
    decompressor = lzma.LZMADecompressor(format=lzma.FORMAT_RAW, filters=filters)
    raw = np.frombuffer(decompressor.decompress(data, max_length=expected), np.uint8)
    if len(raw) != expected:
        raise ValueError(
            f"LZMA-coded weights hold {len(raw)} bytes where {expected} were expected: "
            "the model file is damaged; dump the model again."
        )
    if n_code_bits <= 4:
        raw = np.stack([raw & 15, raw >> 4], axis=1).ravel()
    return raw[:size].copy()


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

    def __repr__(self):
        values = type(self.data).__name__
        if isinstance(self.data, np.ndarray):
            values = str(self.data.dtype)
        return f"PrunedMatrix(shape={self.shape}, nnz={self.nnz}, values {values})"

    def _matrix(self, dtype):
        matrix = sp.csc_matrix(
            (np.asarray(self.data, dtype=dtype), self.indices, self.indptr), shape=self.shape
        )
        # scipy's products trust the indices: check them, in O(nnz), as a
        # model loaded from a file (with skops, say) may not have been
        # written by this class.
        matrix.check_format(full_check=True)
        return matrix

    def __array__(self, dtype=None, copy=None):
        return self._matrix(dtype or np.float32).toarray()

    @property
    def nnz(self):
        return len(self.indices)

    def matmul(self, X):
        return np.asarray(X @ self._matrix(X.dtype))


def kmeans_1d(values, n_clusters, max_iter=100, tol=1e-6, init="linear"):
    """Lloyd's k-means on scalars. Deterministic.

    Parameters
    ----------
    values : ndarray of shape (n,)
        The weights.
    n_clusters : int
        At most this many centroids (empty clusters are dropped).
    max_iter : int, default=100
        Most Lloyd iterations.
    tol : float, default=1e-6
        Stop when no centroid moves by more than ``tol`` times the range
        of ``values``.
    init : {"linear", "quantile"}, default="linear"
        A linear grid between the extremes (which keeps the rare large
        weights, as Han et al. 2016 found best), or the quantiles of the
        weights. Linear is the default on measured accuracy after
        re-encoding (``benchmarks/VALIDATION.md``, "k-means
        initialisation").

    Returns
    -------
    centroids : ndarray of float32
    codes : ndarray of uint8
    """
    distinct = np.unique(values)
    if len(distinct) <= n_clusters:
        # Already shared (fine-tuned tied weights): each value its own
        # centroid, stored exactly.
        return distinct.astype(np.float32), np.searchsorted(distinct, values).astype(np.uint8)
    lo, hi = float(values.min()), float(values.max())
    if init == "quantile":
        centroids = np.quantile(values, (np.arange(n_clusters) + 0.5) / n_clusters)
    else:
        centroids = np.linspace(lo, hi, n_clusters)
    for _ in range(max_iter):
        codes = _nearest(values, centroids)
        sums = np.bincount(codes, weights=values, minlength=n_clusters)
        counts = np.bincount(codes, minlength=n_clusters)
        filled = counts > 0
        previous = centroids.copy()
        centroids[filled] = sums[filled] / counts[filled]
        if np.abs(centroids - previous).max() <= tol * (hi - lo):
            break
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


def dense_operand(weights):
    """``(M, scale)``: a float64 matrix and per-column scales (or None) such
    that :func:`matmul` of a float64 ``X`` is ``(X @ M) * scale``, for a
    kernel that multiplies by ``M`` itself. ``M`` holds the values that
    ``matmul`` multiplies by: int8 codes are scaled after the product."""
    if isinstance(weights, QuantizedArray) and len(weights.shape) == 2:
        return weights.codes.astype(np.float64), weights.scale
    return np.asarray(weights, dtype=np.float64), None


def take(weights, indices):
    """``weights[indices]`` for a 1-D weight array in any stored form."""
    if isinstance(weights, np.ndarray):
        return weights[indices]
    return weights.take(indices)


def code_bits(n_clusters):
    """Bits of one k-means code: ``ceil(log2(n_clusters))``, at least 1."""
    return max(1, int(np.ceil(np.log2(n_clusters))))


def bits_per_weight(weight_dtype="float32", weight_clusters=None):
    """Bits one weight costs when stored as ``weight_dtype`` and
    ``weight_clusters`` ask (the scales and centroids aside)."""
    if weight_clusters is not None:
        return code_bits(weight_clusters)
    return 8 * np.dtype(weight_dtype).itemsize


def store_weights(values, weight_dtype="float32", weight_clusters=None, pruned=False):
    """``values`` in the form the estimator's ``weight_dtype`` and
    ``weight_clusters`` ask for; a pruned matrix keeps only its non-zeros."""

    def encode_values(v):
        return encode(v, weight_dtype, weight_clusters)

    if pruned:
        return PrunedMatrix(values, encode_values)
    return encode_values(values)


def store_bias(values, weight_dtype="float32"):
    """Biases are few: float16 when asked for, else float32."""
    return np.asarray(values).astype(np.float16 if weight_dtype == "float16" else np.float32)

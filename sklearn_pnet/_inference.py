"""Numpy-only inference: every kernel that prediction runs.

- the hashed projection of dense or CSR input (:func:`hashed_projection`),
  which :class:`~sklearn_pnet.LSHProjector` thresholds into bits;
- the forward pass of a ReLU MLP stored in any compact form
  (:func:`forward`) and the softmax;
- HashedNets' layers (:func:`hashed_matmul`, :func:`hashed_forward`).

Matrices that are defined by a hash (a projection's rows, a hashed layer's
virtual weights) are formed a block of rows at a time and, for sparse
input, only for the columns present, so memory stays bounded whatever the
number of input features. Nothing here imports torch.
"""

# SPDX-License-Identifier: BSD-3-Clause

import contextvars
import functools
import os
import threading
from contextlib import contextmanager

import numpy as np
import scipy.sparse as sp

from ._hashing import hashed_buckets, projection_structure
from ._storage import ClusteredArray, dense_operand, matmul, take

try:  # built at install time (setup.py); without a C compiler, numpy
    from ._kernels import project_csr, project_csr_product, sparse_entries
except ImportError:  # does the same sums in the same order
    project_csr = project_csr_product = sparse_entries = None

# Entries of a computed matrix (a projection's or a hashed layer's rows)
# formed at once: 2 MB of float64, plus the hashing's temporaries.
BLOCK_ENTRIES = 2**18
# Operations (for the projection, non-zeros x slots) a thread of a
# prediction kernel must have to be worth starting: about 0.5 ms of the
# projection's work, ten times a thread's cost.
MIN_OPERATIONS_PER_THREAD = 2**20
# Stored entries (non-zeros, or the values of dense rows) a thread of a
# whole prediction (rows_in_threads) must have to be worth starting; 20
# Newsgroups' test tf-idf has 1.1 million.
MIN_ENTRIES_PER_THREAD = 2**18
# A cap on prediction_threads (thread_cap): within a fit, and within the
# threads of a whole prediction.
_THREAD_CAP = contextvars.ContextVar("sklearn_pnet_thread_cap", default=None)
# project_csr_product's weights have a multiple of this many columns.
PRODUCT_COLUMNS = 8
# Row ranges a thread: with several, the threads share the work as their
# cores allow (a core that another process also runs gets fewer).
CHUNKS_PER_THREAD = 4


def present_columns(X):
    """The columns a CSR matrix uses, and the matrix renumbered on them.

    Returns ``(features, X_present)``: the sorted column indices present and
    ``X`` restricted to them, as CSR with columns ``0 .. u-1`` (sharing
    ``X``'s data). For many non-zeros, a mask of the columns costs one byte
    per column, not a sort of the non-zeros; for a few (one row at a time),
    sorting them is cheaper than a pass over every column.
    """
    X = sp.csr_matrix(X)
    if 16 * X.nnz < X.shape[1]:
        features, columns = np.unique(X.indices, return_inverse=True)
        columns = columns.astype(np.int32)
    else:
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


def projection_entries(seed, features, n_bits, n_slots, weights, n_features):
    """Bits (None when dense) and values of the projection rows of
    ``features``: hashed signs, times the shared weights if trained."""
    n_weights = None if weights is None else weights.shape[0]
    if n_slots is not None and sparse_entries is not None:
        # The same entries in one compiled pass, a sixth of the memory: the
        # weights decoded once, then each slot's sign times its weight.
        decoded = None if weights is None else np.asarray(weights)
        if decoded is None or decoded.dtype in (np.float32, np.float16):
            return _compiled_entries(seed, features, n_bits, n_slots, decoded, n_features)
    bits, values, buckets = projection_structure(
        seed, features, n_bits, n_slots, n_weights, n_features
    )
    if weights is not None:
        values = values * take(weights, buckets)
    return bits, values


def _compiled_entries(seed, features, n_bits, n_slots, weights, n_features):
    """:func:`projection_entries` of a sparse projection by the kernel, from
    the weights decoded to float16 or float32 (None: a ±1 projection)."""
    features = np.ascontiguousarray(features, dtype=np.int64).ravel()
    shape = (len(features), n_slots)
    bits = np.empty(shape, dtype=np.uint16 if n_bits <= 2**16 else np.int32)
    values = np.empty(shape, dtype=np.float32)
    weights = (
        np.zeros(0, np.float32) if weights is None else np.ascontiguousarray(weights, np.float32)
    )

    def hash_rows(start, stop):
        sparse_entries(
            features[start:stop],
            weights,
            bits[start:stop],
            values[start:stop],
            int(seed),
            int(n_bits),
            int(n_slots),
            len(weights),
            int(n_features),
        )

    n_threads = threads_for(len(features), bits.size, MIN_OPERATIONS_PER_THREAD)
    run_in_threads(hash_rows, np.arange(len(features) + 1), n_threads)
    return bits, values


def projection_entries_of_all(seed, n_features, n_bits, n_slots, weights=None):
    """The whole sparse projection's structure, for ``structure=`` of
    :func:`hashed_projection`, in its compact form: ``(bits, values,
    table)``, arrays of shape (n_features, n_slots).

    The bits are uint8 up to 256 bits (uint16 beyond). Where the values
    take few distinct float32 values (the random projection's ±1, weights
    shared among at most 128 k-means values) ``values`` holds uint8 codes
    into ``table``, 256 float32 values; else ``values`` is float32 and
    ``table`` None. The compact form is a quarter of the memory that each
    non-zero of a prediction reads (20 Newsgroups: 8 MB against 33 MB for
    130,107 words x 32 slots), and the same numbers: ``table[code]`` is the
    product that :func:`projection_entries` makes.
    """
    n_weights = None if weights is None else weights.shape[0]
    bits, signs, buckets = projection_structure(
        seed, np.arange(n_features), n_bits, n_slots, n_weights, n_features
    )
    bits = bits.astype(np.uint8 if n_bits <= 256 else np.uint16)
    negative = signs < 0
    if weights is None:
        shared, codes = np.ones(1, dtype=np.float32), np.zeros(signs.shape, dtype=np.uint8)
    elif isinstance(weights, ClusteredArray) and len(weights.centroids) <= 128:
        shared, codes = weights.centroids, weights.codes(buckets)
    else:
        values = signs * take(weights, buckets)
        return bits, np.ascontiguousarray(values), None
    # Codes 0..k-1 are the k values, k..2k-1 their negatives (negation is
    # exact in floating point); the rest of the 256 is never used.
    k = len(shared)
    table = np.zeros(256, dtype=np.float32)
    table[:k], table[k : 2 * k] = shared, -shared
    codes = (codes + k * negative).astype(np.uint8)
    return bits, codes, table


def entry_values(values, table):
    """The float values of a structure's entries (decoding ``table`` codes)."""
    return values if table is None else table[values]


def hashed_projection(X, seed, n_bits, n_slots, weights=None, structure=None):
    """Project ``X`` on the hashed directions, before thresholding.

    Parameters
    ----------
    X : {ndarray, csr_matrix} of shape (n_samples, n_features)
        Numeric input.
    seed : int
        Seed of the hash, in ``[0, 2**32)``.
    n_bits : int
        Number of projections.
    n_slots : int or None
        Bits each feature is added to (sparse projection), or None for the
        dense projection.
    weights : ndarray of shape (n_weights,) or a compact form, default=None
        Shared weights multiplying the ±1 entries (a trained projection);
        None for the random ±1 projection. Any form of
        :mod:`sklearn_pnet._storage` (float16, int8, k-means) works.
    structure : tuple of ndarray, default=None
        For a sparse projection, the result of
        :func:`projection_entries_of_all` for these arguments, kept by the
        caller so that repeated calls do not hash again; None hashes the
        features used.

    Returns
    -------
    Z : ndarray of shape (n_samples, n_bits)
        ``Z[i, k] = <X[i], p_k>``.
    """
    n_features = X.shape[1]
    if n_slots is None:
        # Dense: rows computed a block of features at a time, and for sparse
        # input only for the columns present, so that a 1M-column input
        # with few distinct columns costs no more than a small one.
        if sp.issparse(X):
            features, X = present_columns(X)
        else:
            features = np.arange(n_features)
        return blockwise_matmul(
            X,
            features,
            lambda rows: projection_entries(seed, rows, n_bits, None, weights, n_features)[1],
            n_bits,
        )
    if not sp.issparse(X):
        bits, values, table = structure or projection_entries_of_all(
            seed, n_features, n_bits, n_slots, weights
        )
        values = entry_values(values, table)
        block = sp.csr_matrix(
            (values.ravel(), bits.ravel(), np.arange(0, values.size + 1, n_slots)),
            shape=(n_features, n_bits),
        )
        return np.asarray(X @ block)
    X, structure = sparse_structure_of(X, seed, n_bits, n_slots, weights, structure)
    return sparse_projection(X, *structure, n_bits)


def sparse_structure_of(X, seed, n_bits, n_slots, weights, structure):
    """``(X, structure)`` for the sparse kernels: ``X`` as CSR and the
    given structure, or, where none is kept, ``X``'s present columns and
    their hashed entries (:func:`present_columns`)."""
    X = sp.csr_matrix(X)
    if structure is None:
        n_features = X.shape[1]
        features, X = present_columns(X)
        bits, values = projection_entries(seed, features, n_bits, n_slots, weights, n_features)
        structure = bits, values, None
    return X, structure


def _kernel_arguments(X, bits, values, table):
    """``(indptr, arrays, table)`` for the compiled projection kernels of a
    CSR ``X``: indptr, the arrays that follow it, and the table argument
    (empty or one array); None where the kernels cannot take them."""
    # Every stored form of the weights decodes to float32 (a float64 array
    # set by hand would make float64 sums: numpy's path).
    kernel_values = (table is None and values.dtype == np.float32) or (
        table is not None and values.dtype == np.uint8 and table.shape == (256,)
    )
    if project_csr is None or not kernel_values:
        return None
    indptr, indices = X.indptr, X.indices
    if indptr.dtype != indices.dtype:
        indptr, indices = indptr.astype(np.int64), indices.astype(np.int64)
    data = X.data if X.data.dtype in (np.float32, np.float64) else X.data.astype(np.float64)
    if bits.dtype not in (np.uint8, np.uint16):
        bits = bits.astype(np.int32, copy=False)
    extra = () if table is None else (np.ascontiguousarray(table, dtype=np.float32),)
    arrays = (indices, data, np.ascontiguousarray(bits), np.ascontiguousarray(values))
    return indptr, arrays, extra


def sparse_projection(X, bits, values, table, n_bits):
    """``Z[i, bits[j, s]] += x_ij * v[j, s]`` over the non-zeros of a CSR
    ``X`` and the slots of each, in float32; ``v`` is ``values``, or
    ``table[values]`` with a table (see :func:`projection_entries_of_all`).

    The compiled kernel (``sklearn_pnet._kernels``) and the numpy code below
    add the same float32 products in the same order, row by row, non-zero by
    non-zero, slot by slot, so their results are identical to the bit.
    """
    arguments = _kernel_arguments(X, bits, values, table)
    if arguments is not None:
        indptr, arrays, extra = arguments
        Z = np.empty((X.shape[0], n_bits), dtype=np.float32)
        csr_kernel_in_threads(
            project_csr, indptr, arrays, Z, (bits.shape[1], n_bits, *extra), X.nnz * bits.shape[1]
        )
        return Z
    # Each non-zero x_ij becomes n_slots entries x_ij * value in the bits of
    # feature j; densifying that CSR matrix sums the entries of each bit, so
    # the whole projection costs O(nnz * n_slots) with no matrix product.
    # float32 and int32 halve the memory traffic of these nnz * n_slots
    # arrays, which is what the time goes to. scipy's kernels trust the
    # indices: the bits are in range(n_bits) by construction (fast_range),
    # and indptr is scaled in int64, where int32 would wrap beyond 2**31
    # entries.
    n_slots = bits.shape[1]
    values = X.data.astype(np.float32)[:, None] * entry_values(values[X.indices], table)
    indptr = X.indptr.astype(np.int64) * n_slots  # scipy narrows it again if it fits
    Z = sp.csr_matrix(
        (values.ravel(), bits[X.indices].astype(np.int32).ravel(), indptr),
        shape=(X.shape[0], n_bits),
    )
    return Z.toarray()


def sparse_bits_product(X, bits, values, table, threshold, weights):
    """``(sparse_projection(X, ...) > threshold) @ weights``, in float64, as
    :func:`forward`'s first layer computes it for any stored form of
    ``weights``, by one compiled pass over the rows (no ``n_rows x n_bits``
    arrays); None where the compiled kernel cannot run.

    The projection, so the bits, is :func:`sparse_projection`'s; the
    product adds each set bit's row of weights in the order of the bits,
    as an exported model does. Where a sum of weights is not exact in
    float64 that may differ from BLAS's order in the last place.
    """
    arguments = _kernel_arguments(X, bits, values, table)
    if arguments is None or project_csr_product is None:
        return None
    indptr, arrays, extra = arguments
    n_bits = threshold.shape[0]
    operand, scale = dense_operand(weights)
    # The kernel adds vectors of PRODUCT_COLUMNS columns: zero columns pad
    # the last (their sums are not written).
    n_out = operand.shape[1]
    padded = np.zeros((n_bits, -(-n_out // PRODUCT_COLUMNS) * PRODUCT_COLUMNS))
    padded[:, :n_out] = operand
    out = np.empty((X.shape[0], n_out))
    csr_kernel_in_threads(
        project_csr_product,
        indptr,
        (*arrays, np.ascontiguousarray(threshold, dtype=np.float32), padded),
        out,
        (bits.shape[1], n_bits, *extra),
        X.nnz * bits.shape[1],
    )
    if scale is not None:
        out *= scale
    return out


def openmp_threads(only_physical_cores=True):
    """As many threads as scikit-learn's own OpenMP code would use
    (``threadpoolctl``'s limits, ``OMP_NUM_THREADS``, the CPUs this process
    may run on; with ``only_physical_cores``, scikit-learn's default, its
    physical cores, which joblib counts once a process with ``lscpu``)."""
    try:
        from sklearn.utils._openmp_helpers import _openmp_effective_n_threads
    except ImportError:  # a scikit-learn that moved it: one thread
        return 1
    return max(1, _openmp_effective_n_threads(only_physical_cores=only_physical_cores))


def prediction_threads():
    """Threads a prediction may use: :func:`openmp_threads`, within the cap
    of :func:`thread_cap`."""
    n_threads = openmp_threads()
    cap = _THREAD_CAP.get()
    return n_threads if cap is None else min(n_threads, cap)


@contextmanager
def thread_cap(n_threads):
    """Within the block (in this thread), :func:`prediction_threads` is at
    most ``n_threads`` (None: no cap)."""
    token = _THREAD_CAP.set(n_threads)
    try:
        yield
    finally:
        _THREAD_CAP.reset(token)


def training_thread_cap():
    """The threads a fit keeps to: one, unless ``OMP_NUM_THREADS`` says
    otherwise (None: then OpenMP's own count, which reads it).

    Mini-batches of a few hundred rows gain little from a second thread,
    and torch's OpenMP threads spin while they wait: on a machine where
    another process keeps a core busy, a two-thread fit ran up to 9 times
    slower than a one-thread fit (``benchmarks/SPEED.md``, "Threads").
    """
    return None if "OMP_NUM_THREADS" in os.environ else 1


def fit_threads():
    """Within a fit, the kernels it calls (the projection of the training
    set, the linear path's scores) keep to :func:`training_thread_cap`."""
    return thread_cap(training_thread_cap())


def threads_for(n_rows, n_operations, min_operations):
    """Threads for ``n_operations`` of work on ``n_rows`` rows: one for each
    ``min_operations`` (below that a thread costs more than it saves), at
    most one a row and :func:`prediction_threads`."""
    n_threads = min(n_rows, n_operations // min_operations)
    if n_threads > 1:  # (a one-row prediction does not even ask OpenMP)
        n_threads = min(n_threads, prediction_threads())
    return max(n_threads, 1)


def run_in_threads(work, indptr, n_threads):
    """``work(start, stop)`` on ranges of rows, in ``n_threads`` threads.

    For ``work`` that releases the GIL and writes each row on its own (the
    compiled kernels): every row is computed as on one thread, so the
    result does not depend on the number of threads. ``indptr`` gives the
    work before each row (a CSR matrix's, or ``arange`` for rows of equal
    work). The rows are cut into ``CHUNKS_PER_THREAD`` ranges a thread, of
    about equal work, which the threads take in turn: a thread on a core
    that another process shares takes fewer. Threads are started and
    joined at each call: nothing is left running (a forked child has no
    threads).
    """
    n_rows = len(indptr) - 1
    if n_threads <= 1:
        work(0, n_rows)
        return
    n_chunks = min(n_rows, CHUNKS_PER_THREAD * n_threads)
    targets = np.linspace(indptr[0], indptr[-1], n_chunks + 1)[1:-1]
    bounds = [0, *np.searchsorted(indptr, targets).tolist(), n_rows]
    chunks = iter(list(zip(bounds[:-1], bounds[1:])))
    lock = threading.Lock()
    errors = []

    def run():
        while not errors:
            with lock:
                chunk = next(chunks, None)
            if chunk is None:
                return
            try:
                work(*chunk)
            except BaseException as error:  # raised again in the caller's thread
                errors.append(error)

    threads = [threading.Thread(target=run, daemon=True) for _ in range(n_threads - 1)]
    for thread in threads:
        thread.start()
    run()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def csr_kernel_in_threads(kernel, indptr, args, out, more_args, n_operations):
    """``kernel(indptr, *args, out, *more_args)``, a compiled kernel of CSR
    rows that writes row ``i`` of ``out`` from row ``i`` of the matrix, on
    ranges of rows in threads (:func:`run_in_threads`). indptr's offsets
    index the whole indices and data: a range of rows needs only a slice of
    indptr and of ``out``."""

    def rows(start, stop):
        kernel(indptr[start : stop + 1], *args, out[start:stop], *more_args)

    n_threads = threads_for(len(indptr) - 1, n_operations, MIN_OPERATIONS_PER_THREAD)
    run_in_threads(rows, indptr, n_threads)


def rows_in_threads(compute, X):
    """``compute(X)``, a 2-d array whose row ``i`` depends on row ``i`` of
    ``X`` alone (a classifier's logits), on ranges of rows in threads.

    The whole computation is split, not only its compiled kernels: the
    threads would otherwise wait on the parts between the kernels, and
    share the cores with BLAS's threads, which spin after each call (on 20
    Newsgroups, two threads of the kernels alone took a prediction to
    0.6-0.9 of its one-thread time, run to run; the whole prediction split,
    to 0.6-0.65). So within the threads the kernels run on their thread and
    BLAS on one thread. The result is that of one call.
    """
    n_rows = X.shape[0]
    entries = X.nnz if sp.issparse(X) else X.size
    n_threads = threads_for(n_rows, entries, MIN_ENTRIES_PER_THREAD)
    if n_threads <= 1:
        return compute(X)
    if sp.issparse(X):
        X = sp.csr_matrix(X)
        indptr = X.indptr
    else:
        indptr = np.arange(n_rows + 1)
    parts = {}

    def work(start, stop):
        with thread_cap(1):
            parts[start] = compute(X[start:stop])

    with _blas_controller().limit(limits=1, user_api="blas"):
        run_in_threads(work, indptr, n_threads)
    return np.concatenate([parts[start] for start in sorted(parts)])


@functools.cache
def _blas_controller():
    """threadpoolctl's view of the BLAS libraries loaded (numpy's, loaded
    with it), made once: making one takes about 0.3 ms, using it 6 us."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def forward(X, coefs, intercepts, first=None):
    """Logits of a ReLU MLP given as scikit-learn-style weight lists.

    Computed in float64 whatever the stored form, so that a row's output
    does not depend on which other rows share the call. ``first``, where
    given, is ``X @ coefs[0]`` computed already (:func:`sparse_bits_product`),
    and ``X`` is not read.
    """
    if first is None:
        first = matmul(np.asarray(X, dtype=np.float64), coefs[0])
    activation = first
    last = len(coefs) - 1
    for i, (coef, intercept) in enumerate(zip(coefs, intercepts)):
        if i > 0:
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

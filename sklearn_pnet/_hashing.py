"""The one definition of "the projection": seeded hashes of (feature, bit).

Nothing of a random projection is ever stored. Every entry is recomputed
from ``(seed, feature index, bit index)`` by the integer hash below, so a
model's size does not depend on the number of input features, and a device
can rebuild exactly the same projection from the seed alone.

The hash is MurmurHash3's 64-bit finaliser (``fmix64``), applied to integer
keys built from the seed, a *stream* number (so that unrelated uses of the
same seed never share values) and the indices. All arithmetic is on
unsigned 64-bit integers modulo 2**64, so the values are identical on every
platform. The C version of everything in this module is
``sklearn_pnet/export/c/pnet_hash.c``: the file that every C export compiles
and that DEVICE.md shows (``tests/test_export_c.py`` checks both against
these functions). When the package's kernels are built, the structure
of a sparse projection is computed by that very C file
(``sklearn_pnet._kernels.sparse_structure``), and these functions remain the
definition it is tested against.

The dense projection takes 64 signs from each hash, so building the block
for ``u`` features and ``n_bits`` bits costs ``u * ceil(n_bits / 64)``
hashes, not ``u * n_bits``.
"""

# SPDX-License-Identifier: BSD-3-Clause

import numpy as np

try:
    # The same values from the C hash that exported models compile: the
    # numpy code below makes several passes over (features x slots) uint64
    # arrays, most of an uncached prediction's time at 128 slots.
    from ._kernels import sparse_structure as _compiled_sparse_structure
except ImportError:  # built without a C compiler: numpy computes them
    _compiled_sparse_structure = None

STREAM_DENSE = 1
STREAM_SPARSE = 2
STREAM_HASHED = 3
STREAM_PROJECTION_WEIGHT = 4
STREAM_LINEAR = 5

_M1 = np.uint64(0xFF51AFD7ED558CCD)
_M2 = np.uint64(0xC4CEB9FE1A85EC53)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_COLUMN = np.uint64(0xD6E8FEB86659FD93)
_S33 = np.uint64(33)
_S32 = np.uint64(32)

MAX_SEED = 2**32 - 1


def fmix64(z):
    """MurmurHash3's 64-bit finaliser, in place on a ``uint64`` array."""
    # Wrap-around multiplication is the point: silence numpy's warning.
    with np.errstate(over="ignore"):
        z ^= z >> _S33
        z *= _M1
        z ^= z >> _S33
        z *= _M2
        z ^= z >> _S33
    return z


def row_keys(seed, stream, rows):
    """Per-row keys: ``fmix64(fmix64(seed ^ stream * GOLDEN) ^ row * GOLDEN)``.

    Parameters
    ----------
    seed : int
        Seed in ``[0, 2**32)``.
    stream : int
        Which use of the seed (``STREAM_DENSE``, ``STREAM_SPARSE``, ...).
    rows : array-like of int
        Non-negative row indices (input features for a projection).

    Returns
    -------
    keys : ndarray of uint64, shape (len(rows),)
    """
    with np.errstate(over="ignore"):
        seed_key = np.array([seed], dtype=np.uint64) ^ (np.uint64(stream) * _GOLDEN)
        seed_key = fmix64(seed_key)
        keys = np.asarray(rows, dtype=np.uint64) * _GOLDEN
    keys ^= seed_key
    return fmix64(keys)


def pair_hashes(seed, stream, rows, n_cols):
    """Hashes of every pair ``(row, col)`` for ``col`` in ``range(n_cols)``.

    Returns
    -------
    hashes : ndarray of uint64, shape (len(rows), n_cols)
    """
    with np.errstate(over="ignore"):
        col_keys = (np.arange(n_cols, dtype=np.uint64) + np.uint64(1)) * _COLUMN
    hashes = row_keys(seed, stream, rows)[:, None] ^ col_keys[None, :]
    return fmix64(hashes)


def fast_range(hashes, n):
    """Map 64-bit hashes to ``[0, n)`` with Lemire's multiply-shift on the
    high 32 bits (no modulo bias worth the name for ``n < 2**32``).

    For ``1 <= n < 2**32``, ``(h >> 32) * n < 2**64`` does not wrap, so
    every result is in ``range(n)``: the indices that the projection and
    the hashed layers write through (scipy's unchecked sparse kernels
    among them) are in range by construction.
    """
    if not 1 <= n < 2**32:
        raise ValueError(f"fast_range maps to [0, n) for 1 <= n < 2**32, got n={n}.")
    return (((hashes >> _S32) * np.uint64(n)) >> _S32).astype(np.intp)


def hash_signs(hashes):
    """The lowest bit of each hash as a float32 sign: 1 -> +1, 0 -> -1."""
    return (hashes & np.uint64(1)).astype(np.float32) * 2.0 - 1.0


def dense_signs(seed, features, n_bits):
    """Dense ±1 projection rows for the given input features.

    Parameters
    ----------
    seed : int
        Seed in ``[0, 2**32)``.
    features : array-like of int
        Input feature (column) indices.
    n_bits : int
        Number of output bits.

    Returns
    -------
    block : ndarray of float32, shape (len(features), n_bits)
        Entry ``(i, k)`` is bit ``k % 64`` of
        ``pair_hash(seed, STREAM_DENSE, features[i], k // 64)``, mapped to
        ``{-1, +1}``.
    """
    features = np.asarray(features)
    n_words = -(-n_bits // 64)
    words = pair_hashes(seed, STREAM_DENSE, features, n_words)
    # Little-endian byte order and bit order make bit k of word w land at
    # position 64 * w + k on every platform.
    as_bytes = words.astype("<u8", copy=False).view(np.uint8)
    bits = np.unpackbits(as_bytes, axis=1, bitorder="little")[:, :n_bits]
    block = bits.astype(np.float32)
    block *= 2.0
    block -= 1.0
    return block


def sparse_slots(seed, features, n_bits, n_slots):
    """Bits and signs that each input feature adds itself to.

    Parameters
    ----------
    seed : int
        Seed in ``[0, 2**32)``.
    features : array-like of int
        Input feature indices.
    n_bits : int
        Number of output bits.
    n_slots : int
        Number of (bit, sign) slots per feature; two slots may share a bit.

    Returns
    -------
    bits : ndarray of intp, shape (len(features), n_slots)
        Output bit index of each slot, uniform over ``range(n_bits)``.
    signs : ndarray of float32, shape (len(features), n_slots)
        ``+1`` or ``-1`` for each slot.
    """
    hashes = pair_hashes(seed, STREAM_SPARSE, np.asarray(features), n_slots)
    return fast_range(hashes, n_bits), hash_signs(hashes)


def projection_structure(seed, features, n_bits, n_slots, n_weights=None, n_features=None):
    """Where the projection rows of ``features`` put their entries.

    Parameters
    ----------
    seed : int
        Seed in ``[0, 2**32)``.
    features : array-like of int
        Input feature indices.
    n_bits : int
        Number of output bits.
    n_slots : int or None
        Bits touched per feature (sparse projection), or None (dense).
    n_weights : int or None
        Number of trained weights, or None for a ±1 projection.
    n_features : int or None
        Number of input features (needed with ``n_weights``): with at least
        one weight per entry (``n_weights >= n_features * m``), entry ``c``
        of feature ``j`` gets weight ``j * m + c``, unshared.

    Returns
    -------
    bits : ndarray of intp, shape (len(features), n_slots), or None
        Bit of each slot; None for the dense projection, whose column
        ``k`` is bit ``k``.
    signs : ndarray of float32, shape (len(features), n_slots or n_bits)
        ``+1`` or ``-1`` of each entry.
    buckets : ndarray of intp, same shape as ``signs``, or None
        Index of the shared weight of each entry (None without weights).
    """
    features = np.asarray(features)
    if n_slots is not None and _compiled_sparse_structure is not None:
        return _compiled_structure(seed, features, n_bits, n_slots, n_weights, n_features)
    if n_slots is None:
        bits, signs, n_cols = None, dense_signs(seed, features, n_bits), n_bits
    else:
        (bits, signs), n_cols = sparse_slots(seed, features, n_bits, n_slots), n_slots
    buckets = None
    if n_weights is not None and n_weights >= n_features * n_cols:
        buckets = features[:, None].astype(np.intp) * n_cols + np.arange(n_cols)
    elif n_weights is not None:
        hashes = pair_hashes(seed, STREAM_PROJECTION_WEIGHT, features, n_cols)
        buckets = fast_range(hashes, n_weights)
    return bits, signs, buckets


def _compiled_structure(seed, features, n_bits, n_slots, n_weights, n_features):
    """:func:`projection_structure` of a sparse projection, by the kernel."""
    features = np.ascontiguousarray(features, dtype=np.int64).ravel()
    shape = (len(features), n_slots)
    bits, signs = np.empty(shape, dtype=np.int64), np.empty(shape, dtype=np.float32)
    buckets = None if n_weights is None else np.empty(shape, dtype=np.int64)
    _compiled_sparse_structure(
        features,
        bits,
        signs,
        bytearray() if buckets is None else buckets,
        int(seed),
        int(n_bits),
        int(n_slots),
        0 if n_weights is None else int(n_weights),
        1 if n_features is None else int(n_features),
    )
    return (
        bits.astype(np.intp, copy=False),
        signs,
        None if buckets is None else buckets.astype(np.intp, copy=False),
    )


def projection_entries(n_features, n_bits, n_slots):
    """Non-zero entries of a projection: ``n_features`` times ``n_slots``,
    or ``n_bits`` when dense (``n_slots`` None)."""
    return n_features * (n_bits if n_slots is None else n_slots)


def projection_n_weights(n_weights, n_features, n_bits, n_slots):
    """Weights a trained projection keeps: ``n_weights``, or fewer when the
    projection has fewer entries (:func:`projection_entries`): then each
    entry has its own weight and :func:`projection_structure` does not
    hash them."""
    return min(n_weights, projection_entries(n_features, n_bits, n_slots))


def hashed_buckets(seed, rows, n_cols, n_buckets, stream=STREAM_HASHED):
    """HashedNets' two hashes for every pair ``(row, col)`` (of ``stream``:
    ``STREAM_LINEAR`` folds input features into the linear path's buckets).

    Returns
    -------
    buckets : ndarray of intp, shape (len(rows), n_cols)
        ``h(i, j)`` in ``range(n_buckets)``.
    signs : ndarray of float32, shape (len(rows), n_cols)
        ``xi(i, j)`` in ``{-1, +1}``.
    """
    hashes = pair_hashes(seed, stream, np.asarray(rows), n_cols)
    return fast_range(hashes, n_buckets), hash_signs(hashes)

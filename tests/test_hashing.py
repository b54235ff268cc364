"""The hash that defines every projection: pinned values and the spec."""

import numpy as np
import pytest

from sklearn_pnet import _hashing

MASK = 2**64 - 1


def fmix64_reference(z):
    """The C code of the module docstring, with Python integers."""
    z ^= z >> 33
    z = (z * 0xFF51AFD7ED558CCD) & MASK
    z ^= z >> 33
    z = (z * 0xC4CEB9FE1A85EC53) & MASK
    z ^= z >> 33
    return z


def pair_hash_reference(seed, stream, row, col):
    seed_key = fmix64_reference(seed ^ ((stream * 0x9E3779B97F4A7C15) & MASK))
    row_key = fmix64_reference(seed_key ^ ((row * 0x9E3779B97F4A7C15) & MASK))
    return fmix64_reference(row_key ^ (((col + 1) * 0xD6E8FEB86659FD93) & MASK))


def test_pinned_values():
    # A change of any of these values changes every model ever fitted:
    # the projection of a saved model would no longer match its weights.
    hashes = _hashing.pair_hashes(12345, 1, np.array([0, 1, 999999]), 2)
    assert hashes.tolist() == [
        [16903912719485121517, 2376331758212477279],
        [9183787355858596430, 11560897423792089201],
        [5951462604667989763, 8155386207739442385],
    ]


@pytest.mark.parametrize("seed", [0, 1, 2**32 - 1])
@pytest.mark.parametrize("stream", [1, 2, 3])
def test_pair_hashes_follow_the_documented_c_code(seed, stream):
    rows = np.array([0, 5, 2**20, 2**40 + 3])
    hashes = _hashing.pair_hashes(seed, stream, rows, 3)
    for i, row in enumerate(rows.tolist()):
        for col in range(3):
            assert int(hashes[i, col]) == pair_hash_reference(seed, stream, row, col)


def test_dense_signs_take_bit_k_of_word_k_over_64():
    seed, features, n_bits = 7, np.array([3, 11]), 130
    block = _hashing.dense_signs(seed, features, n_bits)
    assert block.shape == (2, n_bits) and block.dtype == np.float32
    for i, feature in enumerate(features.tolist()):
        for k in range(n_bits):
            word = pair_hash_reference(seed, _hashing.STREAM_DENSE, feature, k // 64)
            assert block[i, k] == (1.0 if (word >> (k % 64)) & 1 else -1.0)


def test_dense_signs_are_balanced_and_seed_dependent():
    block = _hashing.dense_signs(0, np.arange(2000), 256)
    assert abs(block.mean()) < 0.01
    # Columns (bits) are nearly uncorrelated.
    corr = np.corrcoef(block.T)
    assert np.abs(corr[np.triu_indices(256, 1)]).max() < 0.15
    other = _hashing.dense_signs(1, np.arange(2000), 256)
    assert (block != other).mean() == pytest.approx(0.5, abs=0.01)


def test_sparse_slots_follow_the_documented_c_code():
    bits, signs = _hashing.sparse_slots(9, [4, 8], 100, 3)
    for i, feature in enumerate([4, 8]):
        for r in range(3):
            h = pair_hash_reference(9, _hashing.STREAM_SPARSE, feature, r)
            assert bits[i, r] == ((h >> 32) * 100) >> 32
            assert signs[i, r] == (1.0 if h & 1 else -1.0)


def test_sparse_slots_cover_the_bits_uniformly():
    bits, signs = _hashing.sparse_slots(0, np.arange(100_000), 64, 1)
    counts = np.bincount(bits.ravel(), minlength=64)
    assert counts.min() > 0.9 * 100_000 / 64 and counts.max() < 1.1 * 100_000 / 64
    assert abs(signs.mean()) < 0.01


def test_projection_structure_buckets_follow_the_documented_c_code():
    bits, signs, buckets = _hashing.projection_structure(
        2, np.array([6]), 50, 4, n_weights=1000, n_features=300
    )
    assert bits.shape == signs.shape == buckets.shape == (1, 4)
    for r in range(4):
        h = pair_hash_reference(2, _hashing.STREAM_PROJECTION_WEIGHT, 6, r)
        assert buckets[0, r] == ((h >> 32) * 1000) >> 32
    bits, signs, buckets = _hashing.projection_structure(2, [6], 50, None)
    assert bits is None and buckets is None and signs.shape == (1, 50)
    # As many weights as entries: each entry has its own, no hash.
    _, _, buckets = _hashing.projection_structure(
        2, np.array([0, 6]), 50, 4, n_weights=40, n_features=10
    )
    assert buckets.tolist() == [[0, 1, 2, 3], [24, 25, 26, 27]]


def test_hashed_buckets_range_and_sign_balance():
    buckets, signs = _hashing.hashed_buckets(5, np.arange(300), 300, 1000)
    assert buckets.min() == 0 and buckets.max() == 999
    counts = np.bincount(buckets.ravel(), minlength=1000)
    assert counts.std() < 2 * np.sqrt(counts.mean())
    assert abs(signs.mean()) < 0.01

/* sklearn-pnet hash, format version 1. All arithmetic is on unsigned 64-bit
 * integers modulo 2**64, so the values are the same on every platform.
 * SPDX-License-Identifier: BSD-3-Clause */
#include "pnet_hash.h"

#define PNET_GOLDEN 0x9e3779b97f4a7c15ULL
#define PNET_COLUMN 0xd6e8feb86659fd93ULL

/* MurmurHash3's 64-bit finaliser. */
uint64_t pnet_fmix64(uint64_t z)
{
    z ^= z >> 33;
    z *= 0xff51afd7ed558ccdULL;
    z ^= z >> 33;
    z *= 0xc4ceb9fe1a85ec53ULL;
    z ^= z >> 33;
    return z;
}

/* Key of one row (input feature) of one stream of one seed. */
uint64_t pnet_row_key(uint32_t seed, uint64_t stream, uint64_t row)
{
    uint64_t seed_key = pnet_fmix64((uint64_t)seed ^ (stream * PNET_GOLDEN));
    return pnet_fmix64(seed_key ^ (row * PNET_GOLDEN));
}

/* Hash of (row, col) from the row's key: a row's key is computed once. */
uint64_t pnet_col_hash(uint64_t row_key, uint64_t col)
{
    return pnet_fmix64(row_key ^ ((col + 1) * PNET_COLUMN));
}

uint64_t pnet_pair_hash(uint32_t seed, uint64_t stream, uint64_t row, uint64_t col)
{
    return pnet_col_hash(pnet_row_key(seed, stream, row), col);
}

/* Lemire's multiply-shift on the high 32 bits: a hash to [0, n). */
uint32_t pnet_fast_range(uint64_t h, uint32_t n)
{
    return (uint32_t)(((h >> 32) * (uint64_t)n) >> 32);
}

/* Dense projection: entry (feature j, bit k) is +1 or -1, 64 signs a hash. */
int pnet_dense_sign(uint32_t seed, uint64_t j, uint64_t k)
{
    uint64_t word = pnet_pair_hash(seed, PNET_STREAM_DENSE, j, k / 64);
    return ((word >> (k % 64)) & 1u) ? +1 : -1;
}

/* Sparse projection: feature j adds sign * x_j to bit `bit`, once per slot
 * r = 0 .. n_slots-1 (two slots may land on the same bit). */
void pnet_sparse_slot(uint32_t seed, uint64_t j, uint64_t r, uint32_t n_bits,
                      uint32_t *bit, int *sign)
{
    uint64_t h = pnet_pair_hash(seed, PNET_STREAM_SPARSE, j, r);
    *bit = pnet_fast_range(h, n_bits);
    *sign = (h & 1u) ? +1 : -1;
}

/* Trained projection: entry c of feature j (bit k of the dense projection,
 * or slot r of the sparse one; m such entries a feature) is multiplied by
 * w[bucket], one of n_weights trained weights. They are shared through the
 * hash only when the n_features * m entries outnumber them; otherwise each
 * entry has its own. weight_key = pnet_row_key(seed,
 * PNET_STREAM_PROJECTION_WEIGHT, j). */
uint32_t pnet_bucket_keyed(uint64_t weight_key, uint64_t j, uint64_t c, uint64_t m,
                           uint64_t n_features, uint32_t n_weights)
{
    if ((uint64_t)n_weights >= n_features * m) {
        return (uint32_t)(j * m + c);
    }
    return pnet_fast_range(pnet_col_hash(weight_key, c), n_weights);
}

uint32_t pnet_projection_bucket(uint32_t seed, uint64_t j, uint64_t c, uint64_t m,
                                uint64_t n_features, uint32_t n_weights)
{
    uint64_t key = pnet_row_key(seed, PNET_STREAM_PROJECTION_WEIGHT, j);
    return pnet_bucket_keyed(key, j, c, m, n_features, n_weights);
}

/* Hashed weights (HashedNets): virtual entry (i, j) of a layer is
 * sign * w[bucket], with w the layer's n_buckets real weights; row n_in
 * holds the hashed biases. */
void pnet_hashed_entry(uint32_t seed, uint64_t i, uint64_t j, uint32_t n_buckets,
                       uint32_t *bucket, int *sign)
{
    uint64_t h = pnet_pair_hash(seed, PNET_STREAM_HASHED, i, j);
    *bucket = pnet_fast_range(h, n_buckets);
    *sign = (h & 1u) ? +1 : -1;
}

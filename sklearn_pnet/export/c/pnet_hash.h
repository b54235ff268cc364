/* sklearn-pnet: the seeded hash that defines every projection and hashed
 * layer (sklearn_pnet/_hashing.py computes the same values with numpy).
 * SPDX-License-Identifier: BSD-3-Clause */
#ifndef PNET_HASH_H
#define PNET_HASH_H

#include <stdint.h>

/* Streams: unrelated uses of one seed never share hash values. */
#define PNET_STREAM_DENSE 1u
#define PNET_STREAM_SPARSE 2u
#define PNET_STREAM_HASHED 3u
#define PNET_STREAM_PROJECTION_WEIGHT 4u
#define PNET_STREAM_LINEAR 5u

uint64_t pnet_fmix64(uint64_t z);
uint64_t pnet_row_key(uint32_t seed, uint64_t stream, uint64_t row);
uint64_t pnet_col_hash(uint64_t row_key, uint64_t col);
uint64_t pnet_pair_hash(uint32_t seed, uint64_t stream, uint64_t row, uint64_t col);
uint32_t pnet_fast_range(uint64_t h, uint32_t n);
int pnet_dense_sign(uint32_t seed, uint64_t j, uint64_t k);
void pnet_sparse_slot(uint32_t seed, uint64_t j, uint64_t r, uint32_t n_bits,
                      uint32_t *bit, int *sign);
uint32_t pnet_bucket_keyed(uint64_t weight_key, uint64_t j, uint64_t c, uint64_t m,
                           uint64_t n_features, uint32_t n_weights);
uint32_t pnet_projection_bucket(uint32_t seed, uint64_t j, uint64_t c, uint64_t m,
                                uint64_t n_features, uint32_t n_weights);
void pnet_hashed_entry(uint32_t seed, uint64_t i, uint64_t j, uint32_t n_buckets,
                       uint32_t *bucket, int *sign);

#endif /* PNET_HASH_H */

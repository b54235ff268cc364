/* sklearn-pnet text front end: the row HashingVectorizer's defaults give
 * (lowercase, token_pattern r"(?u)\b\w\w+\b", unigrams, MurmurHash3_x86_32
 * with seed 0, alternate_sign, norm, binary), for UTF-8 text, and the
 * sublinear counts and norm of a TfidfTransformer(use_idf=False), or of
 * FunctionTransformer(np.log1p) and a Normalizer, after it.
 *
 * ASCII is exact. Other bytes (>= 0x80) count as word characters and are
 * hashed as they are, not lowercased: exact for lowercase letters of any
 * script; uppercase non-ASCII letters, and non-ASCII spaces, punctuation or
 * symbols, give other tokens than Python's Unicode-aware regex and lower().
 * SPDX-License-Identifier: BSD-3-Clause */
#include <math.h>

#include "pnet_runtime.h"

static int pnet_word_byte(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           c == '_' || c >= 0x80;
}

static uint32_t pnet_lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (uint32_t)c + 32u : (uint32_t)c;
}

static uint32_t pnet_rotl32(uint32_t x, int r)
{
    return (x << r) | (x >> (32 - r));
}

/* MurmurHash3_x86_32 (Austin Appleby, public domain) of the lowercased
 * bytes, seed 0: sklearn.utils.murmurhash3_32(token, positive=False). */
static int32_t pnet_murmur3_lower(const unsigned char *s, size_t len)
{
    const uint32_t c1 = 0xcc9e2d51u, c2 = 0x1b873593u;
    uint32_t h = 0, k;
    size_t i, tail = len & ~(size_t)3;
    for (i = 0; i < tail; i += 4) {
        k = pnet_lower(s[i]) | pnet_lower(s[i + 1]) << 8 | pnet_lower(s[i + 2]) << 16 |
            pnet_lower(s[i + 3]) << 24;
        k *= c1;
        k = pnet_rotl32(k, 15);
        k *= c2;
        h ^= k;
        h = pnet_rotl32(h, 13);
        h = h * 5u + 0xe6546b64u;
    }
    k = 0;
    switch (len & 3) {
    case 3:
        k ^= pnet_lower(s[tail + 2]) << 16; /* fall through */
    case 2:
        k ^= pnet_lower(s[tail + 1]) << 8; /* fall through */
    case 1:
        k ^= pnet_lower(s[tail]);
        k *= c1;
        k = pnet_rotl32(k, 15);
        k *= c2;
        h ^= k;
        break;
    default:
        break;
    }
    h ^= (uint32_t)len;
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    /* Two's complement reinterpretation, without implementation-defined casts. */
    return h < 0x80000000u ? (int32_t)h : -(int32_t)(0xffffffffu - h) - 1;
}

/* The column and sign of one token: its bytes (UTF-8), hashed lowercased. */
static void pnet_text_token(const pnet_text *t, const unsigned char *s, size_t len,
                            uint32_t *index, double *value)
{
    int32_t h = pnet_murmur3_lower(s, len);
    /* abs(h) % n_features, with sklearn's value for h = -2**31. */
    *index = h == INT32_MIN ? (uint32_t)((2147483647u - (t->n_features - 1u)) % t->n_features)
                            : (uint32_t)(h < 0 ? -(int64_t)h : h) % t->n_features;
    *value = (t->alternate_sign && h < 0) ? -1.0 : 1.0;
}

/* Sorts indices[lo, hi) ascending, moving values with them: a quicksort
 * (Hoare's partition, which splits runs of equal indices evenly: a word
 * repeated throughout a text costs no more than others), recursing into
 * the smaller part so that the stack stays O(log n), and an insertion sort
 * of the short parts. */
static void pnet_text_sort(uint32_t *indices, double *values, size_t lo, size_t hi)
{
    while (hi - lo > 16) {
        uint32_t pivot = indices[lo + (hi - lo) / 2], idx;
        double val;
        size_t i = lo, j = hi - 1;
        for (;;) {
            while (indices[i] < pivot) {
                i++;
            }
            while (indices[j] > pivot) {
                j--;
            }
            if (i >= j) {
                break;
            }
            idx = indices[i];
            indices[i] = indices[j];
            indices[j] = idx;
            val = values[i];
            values[i] = values[j];
            values[j] = val;
            i++;
            j--;
        }
        /* [lo, j] <= pivot <= [j + 1, hi) */
        if (j + 1 - lo < hi - (j + 1)) {
            pnet_text_sort(indices, values, lo, j + 1);
            lo = j + 1;
        } else {
            pnet_text_sort(indices, values, j + 1, hi);
            hi = j + 1;
        }
    }
    for (size_t k = lo + 1; k < hi; k++) {
        uint32_t idx = indices[k];
        double val = values[k];
        size_t m = k;
        for (; m > lo && indices[m - 1] > idx; m--) {
            indices[m] = indices[m - 1];
            values[m] = values[m - 1];
        }
        indices[m] = idx;
        values[m] = val;
    }
}

/* scipy's sum_duplicates of one row: sorts it by index, then adds equal
 * indices' values, which are +-1, so their order does not matter. Returns
 * the number of distinct indices, which it leaves first. */
static size_t pnet_text_sum_duplicates(uint32_t *indices, double *values, size_t n)
{
    size_t k, out = 0;
    pnet_text_sort(indices, values, 0, n);
    for (k = 0; k < n; k++) {
        if (out > 0 && indices[out - 1] == indices[k]) {
            values[out - 1] += values[k];
        } else {
            indices[out] = indices[k];
            values[out] = values[k];
            out++;
        }
    }
    return out;
}

long pnet_text_features(const pnet_text *t, const char *text, size_t len, uint32_t *indices,
                        double *values, size_t capacity)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0, n = 0, out, k;
    double norm = 0.0;
    while (i < len) {
        size_t start = i, n_chars = 0;
        if (!pnet_word_byte(s[i])) {
            i++;
            continue;
        }
        for (; i < len && pnet_word_byte(s[i]); i++) {
            n_chars += (s[i] & 0xc0u) != 0x80u; /* UTF-8 continuation bytes are no characters */
        }
        if (n_chars < 2) {
            continue;
        }
        if (n == capacity) {
            return PNET_ERR_CAPACITY;
        }
        pnet_text_token(t, s + start, i - start, indices + n, values + n);
        n++;
    }
    out = pnet_text_sum_duplicates(indices, values, n);
    for (k = 0; k < out; k++) {
        if (t->binary) {
            values[k] = 1.0;
        }
        if (t->sublinear == 1) {
            values[k] = log(values[k]) + 1.0; /* as TfidfTransformer: log, then += 1 */
        } else if (t->sublinear == 2) {
            /* numpy's log1p of an integer count c is log(1 + c), 1 + c exact:
             * libm's log1p can differ in the last bit. */
            values[k] = log(1.0 + values[k]);
        }
        norm += t->norm == 2 ? values[k] * values[k] : fabs(values[k]);
    }
    if (t->norm != 0 && norm != 0.0) {
        norm = t->norm == 2 ? sqrt(norm) : norm;
        for (k = 0; k < out; k++) {
            values[k] /= norm;
        }
    }
    return (long)out;
}

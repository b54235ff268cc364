/* sklearn-pnet runtime (format version 1). Every sum follows the order and
 * precision of sklearn_pnet's numpy predict, so that bits and labels are
 * the same as in Python (DEVICE.md, "Numerics").
 * SPDX-License-Identifier: BSD-3-Clause */
#include <math.h>
#include <string.h>

#include "pnet_runtime.h"

/* IEEE half to float, exactly. */
static float pnet_half(uint16_t h)
{
    int exponent = (h >> 10) & 31;
    double mantissa = (double)(h & 1023u);
    double v;
    if (exponent == 0) {
        v = ldexp(mantissa, -24);
    } else if (exponent == 31) {
        v = (h & 1023u) ? NAN : INFINITY;
    } else {
        v = ldexp(mantissa + 1024.0, exponent - 25);
    }
    return (float)((h & 0x8000u) ? -v : v);
}

static uint32_t pnet_code(const pnet_values *v, uint32_t i)
{
    uint32_t code = 0, b;
    for (b = 0; b < v->n_code_bits; b++) {
        code |= (uint32_t)((v->planes[b * v->plane_bytes + (i >> 3)] >> (i & 7u)) & 1u) << b;
    }
    return code;
}

/* Value i in float32, as numpy's decoding gives it (int8: code * scale
 * rounded to float32). */
float pnet_value(const pnet_values *v, uint32_t i)
{
    switch (v->form) {
    case PNET_F16:
        return pnet_half(v->f16[i]);
    case PNET_INT8: {
        float scale = v->f32[v->n_cols ? i % v->n_cols : i / PNET_SCALE_BLOCK];
        float value = (float)v->i8[i] * scale;
        return value;
    }
    case PNET_KMEANS:
        return v->f32[pnet_code(v, i)];
    default:
        return v->f32[i];
    }
}

/* ---- projection -------------------------------------------------------- */

/* Entry (feature j, column c) times the trained weight, in float32: a
 * column is a bit (dense) or a slot (sparse), m columns a feature. */
static float pnet_weighted(const pnet_projection *p, uint64_t weight_key, uint32_t j, uint32_t c,
                           uint32_t m, int sign)
{
    float value = sign > 0 ? 1.0f : -1.0f;
    if (p->trained) {
        uint32_t bucket = pnet_bucket_keyed(weight_key, j, c, m, p->n_features, p->weights.size);
        value = value * pnet_value(&p->weights, bucket);
    }
    return value;
}

static uint64_t pnet_weight_key(const pnet_projection *p, uint32_t j)
{
    return p->trained ? pnet_row_key(p->seed, PNET_STREAM_PROJECTION_WEIGHT, j) : 0;
}

/* z += x * (row j of the projection), in double. */
static void pnet_add_row(const pnet_projection *p, uint32_t j, double x, double *z)
{
    uint64_t weight_key = pnet_weight_key(p, j);
    uint32_t k;
    if (p->n_slots == 0) {
        uint64_t key = pnet_row_key(p->seed, PNET_STREAM_DENSE, j), word = 0;
        for (k = 0; k < p->n_bits; k++) {
            if (k % 64 == 0) {
                word = pnet_col_hash(key, k / 64);
            }
            z[k] += x * (double)pnet_weighted(p, weight_key, j, k, p->n_bits,
                                              ((word >> (k % 64)) & 1u) ? 1 : -1);
        }
    } else {
        uint64_t key = pnet_row_key(p->seed, PNET_STREAM_SPARSE, j);
        for (k = 0; k < p->n_slots; k++) {
            uint64_t h = pnet_col_hash(key, k);
            z[pnet_fast_range(h, p->n_bits)] +=
                x * (double)pnet_weighted(p, weight_key, j, k, p->n_slots, (h & 1u) ? 1 : -1);
        }
    }
}

/* Sparse input on a sparse projection: numpy forms float32 products and
 * sums them in float32, in the order of the input's non-zeros. */
static void pnet_add_slots_f32(const pnet_projection *p, uint32_t j, double x, float *z)
{
    uint64_t weight_key = pnet_weight_key(p, j);
    uint64_t key = pnet_row_key(p->seed, PNET_STREAM_SPARSE, j);
    float xf = (float)x;
    uint32_t r;
    for (r = 0; r < p->n_slots; r++) {
        uint64_t h = pnet_col_hash(key, r);
        uint32_t bit = pnet_fast_range(h, p->n_bits);
        float product = xf * pnet_weighted(p, weight_key, j, r, p->n_slots, (h & 1u) ? 1 : -1);
        z[bit] = z[bit] + product;
    }
}

/* Bits of one sample, as 0.0 / 1.0 in out[n_bits]; z is n_bits doubles of
 * scratch. Input: dense x, or (indices, values, nnz). */
static int pnet_bits(const pnet_projection *p, const double *x, const uint32_t *indices,
                     const double *values, size_t nnz, double *out, double *z)
{
    uint32_t j, k;
    size_t n;
    if (x == NULL) {
        for (n = 0; n < nnz; n++) {
            if (indices[n] >= p->n_features) {
                return PNET_ERR_INDEX;
            }
        }
    }
    if (x == NULL && p->n_slots > 0) {
        float *zf = (float *)z;
        for (k = 0; k < p->n_bits; k++) {
            zf[k] = 0.0f;
        }
        for (n = 0; n < nnz; n++) {
            pnet_add_slots_f32(p, indices[n], values[n], zf);
        }
        for (k = 0; k < p->n_bits; k++) {
            out[k] = zf[k] > p->threshold[k] ? 1.0 : 0.0;
        }
        return 0;
    }
    for (k = 0; k < p->n_bits; k++) {
        z[k] = 0.0;
    }
    if (x != NULL) {
        for (j = 0; j < p->n_features; j++) {
            /* Zeros add nothing; skipping them is what makes images fast. */
            if (x[j] != 0.0) {
                pnet_add_row(p, j, x[j], z);
            }
        }
    } else {
        for (n = 0; n < nnz; n++) {
            pnet_add_row(p, indices[n], values[n], z);
        }
    }
    for (k = 0; k < p->n_bits; k++) {
        out[k] = z[k] > (double)p->threshold[k] ? 1.0 : 0.0;
    }
    return 0;
}

/* ---- layers -------------------------------------------------------------- */

static void pnet_finish(const pnet_values *bias, uint32_t n_out, int relu, double *out)
{
    uint32_t j;
    for (j = 0; j < n_out; j++) {
        if (bias != NULL) {
            out[j] += (double)pnet_value(bias, j);
        }
        if (relu && out[j] < 0.0) {
            out[j] = 0.0;
        }
    }
}

static void pnet_dense_forward(const pnet_dense_layer *L, const double *in, double *out, int relu)
{
    uint32_t i, j;
    for (j = 0; j < L->n_out; j++) {
        out[j] = 0.0;
    }
    if (L->indptr != NULL) { /* pruned: column j's non-zeros, in stored order */
        for (j = 0; j < L->n_out; j++) {
            uint32_t k;
            for (k = L->indptr[j]; k < L->indptr[j + 1]; k++) {
                uint32_t row = L->rows16 != NULL ? L->rows16[k] : L->rows32[k];
                out[j] += (double)pnet_value(&L->w, k) * in[row];
            }
        }
    } else if (L->w.form == PNET_INT8) {
        /* Sum code * input, then scale the column: integers on bits, exact. */
        for (i = 0; i < L->n_in; i++) {
            if (in[i] != 0.0) {
                const int8_t *codes = L->w.i8 + (size_t)i * L->n_out;
                for (j = 0; j < L->n_out; j++) {
                    out[j] += in[i] * (double)codes[j];
                }
            }
        }
        for (j = 0; j < L->n_out; j++) {
            out[j] *= (double)L->w.f32[j];
        }
    } else {
        for (i = 0; i < L->n_in; i++) {
            if (in[i] != 0.0) {
                for (j = 0; j < L->n_out; j++) {
                    out[j] += in[i] * (double)pnet_value(&L->w, i * L->n_out + j);
                }
            }
        }
    }
    pnet_finish(&L->bias, L->n_out, relu, out);
}

/* out += x * (virtual row i of a hashed layer). */
static void pnet_hashed_row(const pnet_hashed_layer *L, uint32_t i, double x, double *out)
{
    uint64_t key = pnet_row_key(L->seed, PNET_STREAM_HASHED, i);
    uint32_t j;
    for (j = 0; j < L->n_out; j++) {
        uint64_t h = pnet_col_hash(key, j);
        float value = pnet_value(&L->w, pnet_fast_range(h, L->w.size));
        out[j] += x * (double)((h & 1u) ? value : -value);
    }
}

static int pnet_hashed_forward(const pnet_hashed_layer *L, const double *x,
                               const uint32_t *indices, const double *values, size_t nnz,
                               double *out, int relu)
{
    uint32_t i;
    size_t n;
    for (i = 0; i < L->n_out; i++) {
        out[i] = 0.0;
    }
    if (x != NULL) {
        for (i = 0; i < L->n_in; i++) {
            if (x[i] != 0.0) {
                pnet_hashed_row(L, i, x[i], out);
            }
        }
    } else {
        for (n = 0; n < nnz; n++) {
            if (indices[n] >= L->n_in) {
                return PNET_ERR_INDEX;
            }
            pnet_hashed_row(L, indices[n], values[n], out);
        }
    }
    if (L->hashed_bias) {
        pnet_hashed_row(L, L->n_in, 1.0, out); /* the constant input's row */
    }
    pnet_finish(L->hashed_bias ? NULL : &L->bias, L->n_out, relu, out);
    return 0;
}

/* ---- models -------------------------------------------------------------- */

/* The linear path's scores, times its scale, added to the logits; z holds
 * n_buckets doubles. In the order of sklearn_pnet._linear_path: folded
 * buckets, times idf, their L2 norm summed in bucket order, then each
 * score's sum in bucket order. */
static int pnet_add_linear(const pnet_linear *L, uint32_t n_features, const double *x,
                           const uint32_t *indices, const double *values, size_t nnz, double *z,
                           double *logits)
{
    /* z: n_buckets doubles, then n_scores for the sums. Buckets a sample
     * leaves at zero are skipped: multiplied by the idf, divided by the
     * norm or times a coefficient they stay zero and add zero, so each sum
     * is the same, in the same (increasing bucket) order. */
    double norm = 0.0, *sums = z + L->n_buckets;
    size_t k, n = x != NULL ? n_features : nnz;
    uint32_t b, s;
    memset(z, 0, (L->n_buckets + L->n_scores) * sizeof(double));
    for (k = 0; k < n; k++) {
        uint32_t j = x != NULL ? (uint32_t)k : indices[k];
        double v = x != NULL ? x[k] : values[k];
        uint64_t h;
        if (j >= n_features) {
            return PNET_ERR_INDEX;
        }
        if (v == 0.0) {
            continue;
        }
        h = pnet_pair_hash(L->seed, PNET_STREAM_LINEAR, j, 0);
        z[pnet_fast_range(h, L->n_buckets)] += (h & 1u) ? v : -v;
    }
    for (b = 0; b < L->n_buckets; b++) {
        if (z[b] != 0.0) {
            z[b] *= (double)pnet_value(&L->idf, b);
            norm += z[b] * z[b];
        }
    }
    /* A norm that underflows to zero leaves the buckets as they are. */
    norm = norm > 0.0 ? sqrt(norm) : 1.0;
    for (b = 0; b < L->n_buckets; b++) {
        if (z[b] != 0.0) {
            z[b] /= norm;
            for (s = 0; s < L->n_scores; s++) {
                sums[s] += z[b] * (double)pnet_value(&L->coef, s * L->n_buckets + b);
            }
        }
    }
    for (s = 0; s < L->n_scores; s++) {
        double score = sums[s] + (double)pnet_value(&L->intercept, s);
        logits[L->n_scores == 1 ? 1 : s] += L->scale * score;
    }
    return 0;
}

/* Logits into the scratch; returns a pointer to them, or NULL with *err. */
static const double *pnet_forward(const pnet_model *m, const double *x, const uint32_t *indices,
                                  const double *values, size_t nnz, double *scratch, int *err)
{
    uint32_t path = m->linear != NULL ? m->linear->n_buckets + m->linear->n_scores : 0;
    uint32_t width = (m->scratch_doubles - path - (m->kind == PNET_PROJECTION_NET
                                                   ? m->projection->n_bits : 0)) / 2;
    double *a = scratch, *b = scratch + width, *t;
    uint32_t l;
    *err = 0;
    if (m->kind == PNET_HASHED_NET) {
        *err = pnet_hashed_forward(&m->hashed_layers[0], x, indices, values, nnz, a,
                                   m->n_layers > 1);
        for (l = 1; l < m->n_layers && *err == 0; l++) {
            *err = pnet_hashed_forward(&m->hashed_layers[l], a, NULL, NULL, 0, b,
                                       l + 1 < m->n_layers);
            t = a, a = b, b = t;
        }
        return *err ? NULL : a;
    }
    if (m->kind != PNET_PROJECTION_NET) {
        *err = PNET_ERR_KIND;
        return NULL;
    }
    *err = pnet_bits(m->projection, x, indices, values, nnz, a, scratch + 2 * width);
    for (l = 0; l < m->n_layers && *err == 0; l++) {
        pnet_dense_forward(&m->layers[l], a, b, l + 1 < m->n_layers);
        t = a, a = b, b = t;
    }
    if (*err == 0 && m->linear != NULL) {
        *err = pnet_add_linear(m->linear, m->n_features, x, indices, values, nnz,
                               scratch + 2 * width + m->projection->n_bits, a);
    }
    return *err ? NULL : a;
}

static int pnet_argmax(const double *z, uint32_t n)
{
    uint32_t j, best = 0;
    for (j = 1; j < n; j++) {
        if (z[j] > z[best]) {
            best = j;
        }
    }
    return (int)best;
}

static void pnet_softmax(const double *z, uint32_t n, double *proba)
{
    double top = z[0], total = 0.0;
    uint32_t j;
    for (j = 1; j < n; j++) {
        top = z[j] > top ? z[j] : top;
    }
    for (j = 0; j < n; j++) {
        proba[j] = exp(z[j] - top);
        total += proba[j];
    }
    for (j = 0; j < n; j++) {
        proba[j] /= total;
    }
}

static int pnet_predict(const pnet_model *m, const double *x, const uint32_t *indices,
                        const double *values, size_t nnz, double *proba, double *scratch)
{
    int err;
    const double *logits = pnet_forward(m, x, indices, values, nnz, scratch, &err);
    if (logits == NULL) {
        return err;
    }
    if (proba != NULL) {
        pnet_softmax(logits, m->n_outputs, proba);
    }
    return pnet_argmax(logits, m->n_outputs);
}

int pnet_predict_dense(const pnet_model *m, const double *x, double *proba, double *scratch)
{
    return pnet_predict(m, x, NULL, NULL, 0, proba, scratch);
}

int pnet_predict_sparse(const pnet_model *m, const uint32_t *indices, const double *values,
                        size_t nnz, double *proba, double *scratch)
{
    return pnet_predict(m, NULL, indices, values, nnz, proba, scratch);
}

static int pnet_logits(const pnet_model *m, const double *x, const uint32_t *indices,
                       const double *values, size_t nnz, double *logits, double *scratch)
{
    int err;
    const double *z = pnet_forward(m, x, indices, values, nnz, scratch, &err);
    if (z != NULL) {
        memcpy(logits, z, m->n_outputs * sizeof(double));
    }
    return err;
}

int pnet_logits_dense(const pnet_model *m, const double *x, double *logits, double *scratch)
{
    return pnet_logits(m, x, NULL, NULL, 0, logits, scratch);
}

int pnet_logits_sparse(const pnet_model *m, const uint32_t *indices, const double *values,
                       size_t nnz, double *logits, double *scratch)
{
    return pnet_logits(m, NULL, indices, values, nnz, logits, scratch);
}

static int pnet_transform(const pnet_model *m, const double *x, const uint32_t *indices,
                          const double *values, size_t nnz, uint8_t *bits, double *scratch)
{
    uint32_t n_bits, k;
    int err;
    if (m->projection == NULL) {
        return PNET_ERR_KIND;
    }
    n_bits = m->projection->n_bits;
    err = pnet_bits(m->projection, x, indices, values, nnz, scratch, scratch + n_bits);
    for (k = 0; k < n_bits && err == 0; k++) {
        bits[k] = scratch[k] > 0.5 ? 1u : 0u;
    }
    return err;
}

int pnet_transform_dense(const pnet_model *m, const double *x, uint8_t *bits, double *scratch)
{
    return pnet_transform(m, x, NULL, NULL, 0, bits, scratch);
}

int pnet_transform_sparse(const pnet_model *m, const uint32_t *indices, const double *values,
                          size_t nnz, uint8_t *bits, double *scratch)
{
    return pnet_transform(m, NULL, indices, values, nnz, bits, scratch);
}

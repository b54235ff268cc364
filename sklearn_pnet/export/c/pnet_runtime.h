/* sklearn-pnet runtime: inference of an exported model, C99, no allocation,
 * no mutable global state; the model is a const struct (see DEVICE.md).
 * SPDX-License-Identifier: BSD-3-Clause */
#ifndef PNET_RUNTIME_H
#define PNET_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#include "pnet_hash.h"

/* Bumped whenever an array's meaning or layout changes. */
#define PNET_FORMAT_VERSION 1

/* int8 arrays of one dimension have one scale per this many values. */
#define PNET_SCALE_BLOCK 256u

/* Error codes (negative returns). */
#define PNET_ERR_INDEX (-1)    /* a sparse index >= n_features */
#define PNET_ERR_KIND (-2)     /* e.g. predict on a projector */
#define PNET_ERR_CAPACITY (-3) /* text: more tokens than the arrays hold */

/* Storage forms of an array of weights. */
enum pnet_form {
    PNET_F32 = 0,   /* f32[i] */
    PNET_F16 = 1,   /* IEEE half bits f16[i] */
    PNET_INT8 = 2,  /* i8[i] * f32[scale index] */
    PNET_KMEANS = 3 /* f32[code i], codes in bit planes */
};

typedef struct {
    int form;             /* enum pnet_form */
    uint32_t size;        /* number of values */
    uint32_t n_cols;      /* PNET_INT8: scales per column of a row-major matrix with
                             n_cols columns; 0: one per PNET_SCALE_BLOCK values */
    const float *f32;     /* F32: values; INT8: scales; KMEANS: centroids */
    const uint16_t *f16;  /* F16: values */
    const int8_t *i8;     /* INT8: codes */
    const uint8_t *planes; /* KMEANS: n_code_bits planes of plane_bytes bytes;
                              code bit b of value i = bit i%8 of planes[b*plane_bytes + i/8] */
    uint32_t n_code_bits;
    uint32_t plane_bytes;
} pnet_values;

/* A fully connected layer of a ProjectionNet student. */
typedef struct {
    uint32_t n_in, n_out;
    pnet_values w;          /* dense: n_in * n_out row-major; pruned: the non-zeros */
    const uint32_t *indptr; /* pruned (CSC): n_out + 1 offsets; NULL when dense */
    const uint16_t *rows16; /* pruned: row of each non-zero (one of the two is set) */
    const uint32_t *rows32;
    pnet_values bias;       /* n_out values (F32 or F16) */
} pnet_dense_layer;

/* A HashedNets layer: virtual entry (i, j) = sign * w[bucket] (pnet_hash.c). */
typedef struct {
    uint32_t n_in, n_out, seed;
    pnet_values w;          /* the layer's shared weights */
    int hashed_bias;        /* 1: bias j is virtual entry (n_in, j) */
    pnet_values bias;       /* n_out values when not hashed */
} pnet_hashed_layer;

/* The hashed projection to bits (LSHProjector). */
typedef struct {
    uint32_t seed, n_features, n_bits;
    uint32_t n_slots;       /* bits touched by a feature; 0: dense projection */
    int trained;            /* 1: entries multiplied by shared weights */
    pnet_values weights;
    const float *threshold; /* n_bits */
} pnet_projection;

/* A linear path beside a ProjectionNet student (linear_buckets > 0): input
 * feature j adds sign * x_j to bucket pnet_fast_range(h, n_buckets), h =
 * pnet_pair_hash(seed, PNET_STREAM_LINEAR, j, 0), sign +1 where h is odd;
 * the buckets, times idf and L2-normalised, times coef (n_scores x n_buckets,
 * row-major) plus intercept, times scale, are added to the logits (one
 * score for two classes: the second class's). */
typedef struct {
    uint32_t seed, n_buckets, n_scores;
    pnet_values idf, coef, intercept;
    double scale;
} pnet_linear;

/* HashingVectorizer in front of the model (word tokens, MurmurHash3),
 * optionally followed by stateless steps on its raw counts c:
 * TfidfTransformer(use_idf=False) (sublinear = 1 with sublinear_tf: 1 +
 * log(c)), or FunctionTransformer(np.log1p) (sublinear = 2: log(1 + c)) and
 * an optional Normalizer; norm is then the last step's norm. */
typedef struct {
    uint32_t n_features;
    int alternate_sign;
    int norm;               /* 0: none, 1: l1, 2: l2 */
    int binary;
    int sublinear;          /* 0: counts, 1: 1 + log(c), 2: log(1 + c); before the norm */
} pnet_text;

enum pnet_kind { PNET_PROJECTION_NET = 0, PNET_LSH = 1, PNET_HASHED_NET = 2 };

typedef struct {
    uint32_t format_version;
    int kind;                        /* enum pnet_kind */
    uint32_t n_features;
    uint32_t n_outputs;              /* classes, or bits for PNET_LSH */
    const pnet_projection *projection;        /* PROJECTION_NET, LSH */
    uint32_t n_layers;
    const pnet_dense_layer *layers;           /* PROJECTION_NET */
    const pnet_hashed_layer *hashed_layers;   /* HASHED_NET */
    const pnet_text *text;                    /* NULL without a text front end */
    uint32_t scratch_doubles;        /* doubles the scratch buffer must hold */
    const pnet_linear *linear;       /* PROJECTION_NET: NULL without a linear path */
} pnet_model;

float pnet_value(const pnet_values *v, uint32_t i);

/* Classifiers: class index in classes_ (>= 0) or an error code; fills
 * proba[n_outputs] with the probabilities when proba is not NULL. */
int pnet_predict_dense(const pnet_model *m, const double *x, double *proba, double *scratch);
int pnet_predict_sparse(const pnet_model *m, const uint32_t *indices, const double *values,
                        size_t nnz, double *proba, double *scratch);
/* Logits (decision values before the softmax), logits[n_outputs]. */
int pnet_logits_dense(const pnet_model *m, const double *x, double *logits, double *scratch);
int pnet_logits_sparse(const pnet_model *m, const uint32_t *indices, const double *values,
                       size_t nnz, double *logits, double *scratch);

/* Projectors (and the bits of a ProjectionNet): bits[n_bits] of 0 or 1. */
int pnet_transform_dense(const pnet_model *m, const double *x, uint8_t *bits, double *scratch);
int pnet_transform_sparse(const pnet_model *m, const uint32_t *indices, const double *values,
                          size_t nnz, uint8_t *bits, double *scratch);

/* Text front end: the sparse row HashingVectorizer gives for a UTF-8
 * string, indices ascending. Returns nnz, or PNET_ERR_CAPACITY when more
 * than `capacity` tokens; PNET_TEXT_CAPACITY(len) always suffices. */
#define PNET_TEXT_CAPACITY(len) (((len) + 1) / 3)
long pnet_text_features(const pnet_text *t, const char *text, size_t len, uint32_t *indices,
                        double *values, size_t capacity);

#endif /* PNET_RUNTIME_H */

/* Compiled kernels, built at install time (setup.py).
 *
 * project_csr: the sparse hashed projection of CSR input, the step that
 * dominates a prediction on text (sklearn_pnet._inference.hashed_projection).
 * train_projection / train_projection_grad: the same projection while its
 * shared weights train, and their gradient (sklearn_pnet._torch_pnet).
 * column_std, straight_through_grad: the straight-through gradient of the
 * projection's bits and its scale.
 * adam_moments, adam_update: Adam's step on a parameter, in two passes
 * around torch's square root (sklearn_pnet._training.DenseAdam).
 * sparse_structure, sparse_entries: the hashed bits, signs and weight
 * indices of a sparse projection's rows (sklearn_pnet._hashing.
 * projection_structure), or its bits and signed weights for a prediction
 * (sklearn_pnet._inference.projection_entries), with the very hash
 * functions that exported C models compile (export/c/pnet_hash.c).
 * linear_scores: the scores of a linear path (sklearn_pnet._linear_path),
 * in the order and precision of the exported C runtime's pnet_add_linear.
 * dense_product: a dense training batch times the trained projection's
 * rows, and its gradient, over the batch's non-zeros.
 * student_epoch (_student_epoch.c): the default student's whole training
 * steps on dense rows (sklearn_pnet._training.Trainer).
 * hash_documents: HashingVectorizer's word counts, with the exported C
 * runtime's text front end (export/c/pnet_text.c; sklearn_pnet._text).
 *
 * Each but dense_product and student_epoch computes exactly what the code
 * it replaces computes, in the same order and precision: the training
 * kernels what torch computes (see each one), project_csr what the numpy
 * path of prediction computes, so the bits are identical whichever runs.
 * dense_product replaces torch's matrix products, whose order of additions
 * depends on the CPU and the BLAS, and student_epoch a whole step: they add
 * in fixed orders of their own, so a dense fit is the same on every build
 * that has them. The projection
 * kernel's order:
 *
 *     Z[i, bits[f, s]] += (float)x_ij * values[f, s]   (float32, f = column j)
 *
 * for the non-zeros of each row in storage order, and the slots of each
 * non-zero in order (scipy's csr_todense sums duplicates in that order).
 * Contraction into fused multiply-adds would round differently from numpy,
 * hence FP_CONTRACT OFF here and -ffp-contract=off in setup.py (GCC ignores
 * the pragma). The module uses the buffer protocol only: no numpy headers
 * at build time. If it cannot be built, prediction uses numpy and training
 * torch, with the same results.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The hash functions and text front end of exported models, compiled into
 * this module. Hidden:
 * a shared library's visible functions may be replaced at load time, so
 * the compiler would call them instead of inlining them (hashing a
 * prediction's entries took 29 ms instead of 19 on 20 Newsgroups' test
 * words, and calls to pnet_fmix64 were a tenth of the linear path's time). */
#if defined(__GNUC__) || defined(__clang__)
#pragma GCC visibility push(hidden)
#endif
#include "export/c/pnet_hash.c"
#include "export/c/pnet_text.c"
#if defined(__GNUC__) || defined(__clang__)
#pragma GCC visibility pop
#endif

/* Loops whose operations are the same whatever the vector width (each
 * element on its own, or additions in a fixed order) are compiled for the
 * widest instructions of the CPU, chosen when the module loads (GCC's
 * function multi-versioning; other compilers build one version). */
#ifndef WIDEST_VECTORS /* (a test builds the module with -DWIDEST_VECTORS= : one version) */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__GLIBC__)
/* (glibc: the versions are chosen by an ifunc, which musl lacks) */
#define WIDEST_VECTORS __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define WIDEST_VECTORS
#endif
#endif

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

/* Loops start on a 64-byte line: the projection's slot loop is a few
 * instructions, and when an edit elsewhere moved it across a line,
 * project_csr took 22.2-23.4 ms on 20 Newsgroups' test set instead of
 * 18.3-19.7 (benchmarks/SPEED.md, "Tenth session"). GCC's pragma (clang
 * aligns loops to 16 bytes and takes no such pragma). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("align-loops=64")
#endif

/* The value of slot K of the structure: a float32 (PLAIN), or a byte code
 * into a table of 256 float32 values (CODED: a compact structure, a quarter
 * of the memory traffic; the table has 256 entries, so any code is in it). */
#define PLAIN(K) values[K]
#define CODED(K) table[codes[K]]

/* The structure rows of the non-zeros a few ahead are fetched while this
 * one is added: a feature's row is a random place in a structure of
 * megabytes (8 MB for 20 Newsgroups), and waiting for it took a third of
 * the time (27.5 -> 18.8 ms on 20 Newsgroups' test set, benchmarks/
 * kernel_speed.py; six ahead was the best of 3, 6, 10 and 16). A prefetch
 * changes no result. */
#define PREFETCH_AHEAD 6
#if defined(__GNUC__) || defined(__clang__)
#define PREFETCH(P) __builtin_prefetch(P)
#else
#define PREFETCH(P) ((void)(P))
#endif

/* One row of project_csr_product: the row's bits (z > threshold) times
 * weight (n_bits x n_cols, float64, n_cols a multiple of 8: the first
 * n_out columns, then zeros), bit after bit, each set bit adding its row of
 * weights, in the order (and so to the same doubles) that an exported
 * model's first dense layer adds them (export/c/pnet_runtime.c,
 * pnet_dense_forward: in[i] * w with in[i] = 1.0). Up to 32 sums are kept
 * in registers (GCC's vector extensions, as dense_product's blocks) while
 * the set bits are added; the last block has as many vectors of 8 as the
 * columns left need (20 columns, 20 Newsgroups' test set: 2.0 ms in 24
 * sums, 2.4 in 32, in a harness; a sum at a time in memory added 4.3 ms to
 * this kernel). */
#define PRODUCT_COLUMNS 8
#if defined(__GNUC__) || defined(__clang__)
typedef double double8v __attribute__((vector_size(64)));

#define SUM_ROWS(NAME, N_VECTORS)                                                     \
    WIDEST_VECTORS static void NAME(const int32_t *restrict set, Py_ssize_t n_set,     \
                                    const double *restrict weight, Py_ssize_t n_cols,  \
                                    double *restrict out)                              \
    {                                                                                  \
        double8v sums[N_VECTORS];                                                      \
        for (int v = 0; v < N_VECTORS; v++) {                                          \
            sums[v] = (double8v){0};                                                   \
        }                                                                              \
        for (Py_ssize_t k = 0; k < n_set; k++) {                                       \
            const double *w = weight + (Py_ssize_t)set[k] * n_cols;                    \
            for (int v = 0; v < N_VECTORS; v++) {                                      \
                double8v row;                                                          \
                memcpy(&row, w + 8 * v, sizeof row);                                   \
                sums[v] += row;                                                        \
            }                                                                          \
        }                                                                              \
        memcpy(out, sums, sizeof sums);                                                \
    }

SUM_ROWS(sum_rows_1, 1)
SUM_ROWS(sum_rows_2, 2)
SUM_ROWS(sum_rows_3, 3)
SUM_ROWS(sum_rows_4, 4)
#endif

/* The set bits of a row (z > threshold), in order, without a branch:
 * whether a bit is set is a coin toss, and mispredicted branches took more
 * time than the sums. */
static Py_ssize_t
set_bits_from(const float *z, const float *threshold, Py_ssize_t first, Py_ssize_t n_bits,
              int32_t *set, Py_ssize_t n_set)
{
    for (Py_ssize_t b = first; b < n_bits; b++) {
        set[n_set] = (int32_t)b;
        n_set += z[b] > threshold[b];
    }
    return n_set;
}

static Py_ssize_t
set_bits(const float *z, const float *threshold, Py_ssize_t n_bits, int32_t *set)
{
    return set_bits_from(z, threshold, 0, n_bits, set, 0);
}

static void
bits_product(const int32_t *set, Py_ssize_t n_set, const double *restrict weight,
             Py_ssize_t n_cols, Py_ssize_t n_out, double *restrict out)
{
    for (Py_ssize_t first = 0; first < n_out; first += 32) {
        const Py_ssize_t width = n_out - first < 32 ? n_out - first : 32;
#if defined(__GNUC__) || defined(__clang__)
        double sums[32];
        const double *w = weight + first;
        switch ((width + 7) / 8) {
        case 1: sum_rows_1(set, n_set, w, n_cols, sums); break;
        case 2: sum_rows_2(set, n_set, w, n_cols, sums); break;
        case 3: sum_rows_3(set, n_set, w, n_cols, sums); break;
        default: sum_rows_4(set, n_set, w, n_cols, sums); break;
        }
        memcpy(out + first, sums, sizeof(double) * (size_t)width);
#else
        for (Py_ssize_t j = first; j < first + width; j++) {
            double sum = 0.0;
            for (Py_ssize_t k = 0; k < n_set; k++) {
                sum += weight[(Py_ssize_t)set[k] * n_cols + j];
            }
            out[j] = sum;
        }
#endif
    }
}

/* What one call of project_csr or project_csr_product reads and writes:
 * the arguments of project_rows, checked, for the row loops below. */
struct rows_job {
    const void *indptr, *indices, *data, *bits;
    const float *values;  /* float32 values (PLAIN) */
    const uint8_t *codes; /* or byte codes into table (CODED) */
    const float *table;
    float *out;     /* project_csr: n_rows x n_bits, zeroed */
    double *product; /* project_csr_product: n_rows x n_out */
    const float *threshold;
    const double *weight;
    float *scratch; /* project_csr_product: one row's projection */
    int32_t *set;   /* and its set bits */
    Py_ssize_t n_rows, n_bits, n_slots, n_cols, n_out;
    int64_t n_features, n_nonzero, value_size;
};

/* The job's fields as locals: the loops store floats through pointers, and
 * locals spare the compiler reloading what those stores cannot change. */
#define JOB_LOCALS                                                                    \
    const void *indptr = job->indptr, *indices = job->indices, *data = job->data;     \
    const void *bits = job->bits;                                                     \
    const float *values = job->values, *table = job->table;                           \
    const uint8_t *codes = job->codes;                                                \
    const char *value_bytes = job->values != NULL ? (const char *)job->values         \
                                                  : (const char *)job->codes;         \
    float *out = job->out, *scratch = job->scratch;                                   \
    double *product = job->product;                                                   \
    const Py_ssize_t n_rows = job->n_rows, n_bits = job->n_bits;                      \
    const Py_ssize_t n_slots = job->n_slots;                                          \
    const int64_t n_features = job->n_features, n_nonzero = job->n_nonzero;           \
    const int64_t value_size = job->value_size;                                       \
    (void)values, (void)table, (void)codes, (void)out, (void)scratch;

/* The non-zeros of row i, each adding the terms of its slots to row
 * (ADD_SLOTS, with x, b and first defined). A malformed CSR matrix (indptr
 * past the non-zeros, a column past the structure's rows) stops the loop
 * with bad = 1 instead of reading out of bounds; the caller raises. */
#define ROW_TERMS(INDEX, VALUE, BIT, ADD_SLOTS)                                       \
    {                                                                                 \
        const int64_t start = (int64_t)((const INDEX *)indptr)[i];                    \
        const int64_t end = (int64_t)((const INDEX *)indptr)[i + 1];                  \
        if (start < 0 || end < start || end > n_nonzero) {                            \
            bad = 1;                                                                  \
            break;                                                                    \
        }                                                                             \
        for (int64_t jj = start; jj < end; jj++) {                                    \
            const float x = (float)((const VALUE *)data)[jj];                         \
            const int64_t f = (int64_t)((const INDEX *)indices)[jj];                  \
            if (f < 0 || f >= n_features) {                                           \
                bad = 1;                                                              \
                break;                                                                \
            }                                                                         \
            if (jj + PREFETCH_AHEAD < n_nonzero) {                                    \
                const int64_t g = (int64_t)((const INDEX *)indices)[jj + PREFETCH_AHEAD]; \
                if (g >= 0 && g < n_features) {                                       \
                    PREFETCH((const BIT *)bits + g * n_slots);                        \
                    PREFETCH(value_bytes + g * n_slots * value_size);                 \
                }                                                                     \
            }                                                                         \
            const BIT *b = (const BIT *)bits + f * n_slots;                           \
            const int64_t first = f * n_slots;                                        \
            ADD_SLOTS                                                                 \
        }                                                                             \
    }

/* Each slot's product, then its sum, one slot at a time (from slot START). */
#define SLOTS_FROM(LOOKUP, START)                                                     \
    for (Py_ssize_t s = (START); s < n_slots; s++) {                                  \
        const float term = x * LOOKUP(first + s);                                     \
        row[b[s]] += term;                                                            \
    }
#define SLOTS(LOOKUP) SLOTS_FROM(LOOKUP, 0)

/* Where project_csr_product goes on with row i: its bits times the weights. */
#define ROW_PRODUCT(SET_BITS)                                                         \
    if (product != NULL && !bad) {                                                    \
        const Py_ssize_t n_set = SET_BITS(scratch, job->threshold, n_bits, job->set);   \
        bits_product(job->set, n_set, job->weight, job->n_cols, job->n_out,           \
                     product + i * job->n_out);                                       \
    }

#define ROW_START                                                                     \
    float *row = product != NULL ? scratch : out + i * n_bits;                        \
    if (product != NULL) {                                                            \
        memset(scratch, 0, sizeof(float) * (size_t)n_bits);                          \
    }

#define ROWS_FUNCTION(NAME, INDEX, VALUE, BIT, LOOKUP)                                \
    static int NAME(const struct rows_job *job)                                       \
    {                                                                                 \
        JOB_LOCALS                                                                    \
        int bad = 0;                                                                  \
        for (Py_ssize_t i = 0; i < n_rows && !bad; i++) {                             \
            ROW_START                                                                 \
            ROW_TERMS(INDEX, VALUE, BIT, SLOTS(LOOKUP))                               \
            ROW_PRODUCT(set_bits)                                                     \
        }                                                                             \
        return bad;                                                                   \
    }

typedef int (*rows_function)(const struct rows_job *);

/* One function a layout: index type, data type, bit type, values or codes. */
#define ROWS_OF_BITS(PREFIX, DEFINE, INDEX, VALUE, BIT)                               \
    DEFINE(PREFIX##_##INDEX##_##VALUE##_##BIT##_plain, INDEX, VALUE, BIT, PLAIN)     \
    DEFINE(PREFIX##_##INDEX##_##VALUE##_##BIT##_coded, INDEX, VALUE, BIT, CODED)
#define ROWS_OF_DATA(PREFIX, DEFINE, BIT)                                             \
    ROWS_OF_BITS(PREFIX, DEFINE, int32_t, float, BIT)                                 \
    ROWS_OF_BITS(PREFIX, DEFINE, int32_t, double, BIT)                                \
    ROWS_OF_BITS(PREFIX, DEFINE, int64_t, float, BIT)                                 \
    ROWS_OF_BITS(PREFIX, DEFINE, int64_t, double, BIT)
/* [wide index][wide data][coded] */
#define ROWS_TABLE(PREFIX, BIT)                                                       \
    {{{PREFIX##_int32_t_float_##BIT##_plain, PREFIX##_int32_t_float_##BIT##_coded},   \
      {PREFIX##_int32_t_double_##BIT##_plain, PREFIX##_int32_t_double_##BIT##_coded}}, \
     {{PREFIX##_int64_t_float_##BIT##_plain, PREFIX##_int64_t_float_##BIT##_coded},   \
      {PREFIX##_int64_t_double_##BIT##_plain, PREFIX##_int64_t_double_##BIT##_coded}}}

ROWS_OF_DATA(rows, ROWS_FUNCTION, uint8_t)
ROWS_OF_DATA(rows, ROWS_FUNCTION, uint16_t)
ROWS_OF_DATA(rows, ROWS_FUNCTION, int32_t)

/* [bits of 1, 2 or 4 bytes] */
static const rows_function one_slot_rows[3][2][2][2] = {
    ROWS_TABLE(rows, uint8_t), ROWS_TABLE(rows, uint16_t), ROWS_TABLE(rows, int32_t)};

/* Sixteen slots' products at a time (AVX-512), then their sums one by one:
 * the products no longer take a load of the code and of the table each
 * between the sums (project_csr on 20 Newsgroups' test set, default model,
 * one thread: 11.8-12.3 ms against 18.3-18.4 a slot at a time, both in one
 * process, benchmarks/SPEED.md "Tenth session"). The same products
 * (a float32 multiplication each, the table's value or the float32
 * value), added to the same sums in the same order: the same bits. A
 * vector holds 32 values of the table (k-means with up to 16 values, the
 * random projection's two): a row with a code beyond them is added again
 * one slot at a time. The slots past the last 16 go one at a time. */
#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
#include <immintrin.h>
#define HAVE_WIDE_SLOTS 1

#define WIDE_PLAIN(K) _mm512_loadu_ps(values + (K))
#define WIDE_CODED(K) table_value(codes + (K), table_low, table_high, &beyond)

__attribute__((target("avx512f"))) static inline __m512
table_value(const uint8_t *codes, __m512 low, __m512 high, __mmask16 *beyond)
{
    const __m512i index = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)codes));
    *beyond |= _mm512_cmpge_epu32_mask(index, _mm512_set1_epi32(32));
    return _mm512_permutex2var_ps(low, index, high);
}

#define WIDE_SLOTS(LOOKUP)                                                            \
    {                                                                                 \
        const __m512 xs = _mm512_set1_ps(x);                                          \
        Py_ssize_t s0 = 0;                                                            \
        for (; s0 + 16 <= n_slots; s0 += 16) {                                        \
            float terms[16] __attribute__((aligned(64)));                             \
            _mm512_store_ps(terms, _mm512_mul_ps(xs, WIDE_##LOOKUP(first + s0)));     \
            _Pragma("GCC unroll 16") for (int s = 0; s < 16; s++)                     \
            {                                                                         \
                row[b[s0 + s]] += terms[s];                                           \
            }                                                                         \
        }                                                                             \
        SLOTS_FROM(LOOKUP, s0)                                                        \
    }

/* set_bits sixteen bits at a time: each vector's set bits compressed into
 * set (which has 16 ints to spare). The same bits in the same order. */
__attribute__((target("avx512f"))) static Py_ssize_t
wide_set_bits(const float *z, const float *threshold, Py_ssize_t n_bits, int32_t *set)
{
    Py_ssize_t n_set = 0, b = 0;
    __m512i index = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    for (; b + 16 <= n_bits; b += 16) {
        const __mmask16 above =
            _mm512_cmp_ps_mask(_mm512_loadu_ps(z + b), _mm512_loadu_ps(threshold + b), _CMP_GT_OQ);
        _mm512_storeu_si512(set + n_set, _mm512_maskz_compress_epi32(above, index));
        n_set += __builtin_popcount(above);
        index = _mm512_add_epi32(index, _mm512_set1_epi32(16));
    }
    return set_bits_from(z, threshold, b, n_bits, set, n_set);
}

#define WIDE_ROWS_FUNCTION(NAME, INDEX, VALUE, BIT, LOOKUP)                           \
    __attribute__((target("avx512f"))) static int NAME(const struct rows_job *job)    \
    {                                                                                 \
        JOB_LOCALS                                                                    \
        int bad = 0;                                                                  \
        __m512 table_low = _mm512_setzero_ps(), table_high = _mm512_setzero_ps();     \
        if (table != NULL) {                                                          \
            table_low = _mm512_loadu_ps(table);                                       \
            table_high = _mm512_loadu_ps(table + 16);                                 \
        }                                                                             \
        (void)table_low, (void)table_high;                                            \
        for (Py_ssize_t i = 0; i < n_rows && !bad; i++) {                             \
            ROW_START                                                                 \
            __mmask16 beyond = 0;                                                     \
            ROW_TERMS(INDEX, VALUE, BIT, WIDE_SLOTS(LOOKUP))                          \
            if (beyond && !bad) {                                                     \
                memset(row, 0, sizeof(float) * (size_t)n_bits);                       \
                ROW_TERMS(INDEX, VALUE, BIT, SLOTS(LOOKUP))                           \
            }                                                                         \
            ROW_PRODUCT(wide_set_bits)                                                \
        }                                                                             \
        return bad;                                                                   \
    }

ROWS_OF_DATA(wide_rows, WIDE_ROWS_FUNCTION, uint8_t)
ROWS_OF_DATA(wide_rows, WIDE_ROWS_FUNCTION, uint16_t)

/* [bits of 1 or 2 bytes] */
static const rows_function wide_slot_rows[2][2][2][2] = {ROWS_TABLE(wide_rows, uint8_t),
                                                        ROWS_TABLE(wide_rows, uint16_t)};
#else
#define HAVE_WIDE_SLOTS 0
#endif

/* Whether the row loops take sixteen slots at a time: -1 until the CPU is
 * asked (AVX-512), then 0 or 1; wide_products() turns it off for tests. */
static int wide_slots = -1;

static int
cpu_has_wide_slots(void)
{
#if HAVE_WIDE_SLOTS
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") != 0;
#else
    return 0;
#endif
}

static int
run_rows(const struct rows_job *job, int wide_index, int wide_value, Py_ssize_t bit_size)
{
    const int coded = job->codes != NULL;
    if (wide_slots < 0) {
        wide_slots = cpu_has_wide_slots();
    }
#if HAVE_WIDE_SLOTS
    if (wide_slots && bit_size <= 2) {
        return wide_slot_rows[bit_size - 1][wide_index][wide_value][coded](job);
    }
#endif
    return one_slot_rows[bit_size == 1 ? 0 : bit_size == 2 ? 1 : 2][wide_index][wide_value][coded](
        job);
}

/* wide_products([enable]): whether the projection kernels take sixteen
 * slots' products at a time; with an argument, turn that on (where the
 * CPU has AVX-512) or off first. Both ways give the same numbers: the
 * tests compare them. */
static PyObject *
wide_products(PyObject *self, PyObject *args)
{
    (void)self;
    int enable = -1;
    if (!PyArg_ParseTuple(args, "|p", &enable)) {
        return NULL;
    }
    if (enable >= 0) {
        wide_slots = enable && cpu_has_wide_slots();
    } else if (wide_slots < 0) {
        wide_slots = cpu_has_wide_slots();
    }
    return PyBool_FromLong(wide_slots);
}

static int
check_buffer(const Py_buffer *view, const char *name, Py_ssize_t itemsize, Py_ssize_t alt)
{
    if (view->itemsize != itemsize && view->itemsize != alt) {
        PyErr_Format(PyExc_TypeError, "%s has items of %zd bytes", name, view->itemsize);
        return -1;
    }
    return 0;
}

/* project_csr(indptr, indices, data, bits, values, out, n_slots, n_bits[, table])
 *
 * indptr, indices: int32 or int64 (both the same); data: float32 or
 * float64; bits: uint8, uint16 or int32 (n_structure_rows, n_slots);
 * values: float32 of the same shape, or, with table (256 float32), uint8
 * codes into it; out: float32 (n_rows, n_bits), overwritten. The CSR arrays
 * are checked here, against each other and the structure's rows; the bits
 * are trusted to lie in range(n_bits), as the hash makes them
 * (sklearn_pnet._hashing.fast_range) and as scipy's csr_todense trusted.
 *
 * project_csr_product(indptr, indices, data, bits, values, threshold,
 *                     weight, out, n_slots, n_bits[, table])
 *
 * The same projection, thresholded and multiplied by a student's first
 * layer row by row: out (float64, n_rows x n_out) = (Z > threshold) @
 * weight[:, :n_out], with threshold float32 (n_bits) and weight float64
 * (n_bits x n_cols, n_cols a multiple of 8, at least n_out). Each row's
 * projection is made in a scratch row, so a prediction writes no
 * n_rows x n_bits arrays (on 20 Newsgroups' test set, 25 MB of float32
 * projections, bits and their float64 copy: a prediction on one thread
 * took 21.0-21.7 ms against 24.1-24.6). Both run project_rows.
 */
static PyObject *
project_rows(PyObject *args, int with_product)
{
    Py_buffer b_indptr, b_indices, b_data, b_bits, b_values, b_out;
    Py_buffer b_table = {0}, b_threshold = {0}, b_weight = {0};
    Py_ssize_t n_slots, n_bits;
    int parsed = with_product
        ? PyArg_ParseTuple(args, "y*y*y*y*y*y*y*w*nn|y*", &b_indptr, &b_indices, &b_data, &b_bits,
                           &b_values, &b_threshold, &b_weight, &b_out, &n_slots, &n_bits, &b_table)
        : PyArg_ParseTuple(args, "y*y*y*y*y*w*nn|y*", &b_indptr, &b_indices, &b_data, &b_bits,
                           &b_values, &b_out, &n_slots, &n_bits, &b_table);
    if (!parsed) {
        return NULL;
    }
    PyObject *result = NULL;
    float *scratch = NULL; /* project_csr_product's row, and its set bits */
    int32_t *set = NULL;
    const int coded = b_table.buf != NULL;
    if (check_buffer(&b_indptr, "indptr", 4, 8) || check_buffer(&b_data, "data", 4, 8) ||
        (b_bits.itemsize != 1 && check_buffer(&b_bits, "bits", 2, 4)) ||
        check_buffer(&b_values, "values", coded ? 1 : 4, coded ? 1 : 4) ||
        check_buffer(&b_out, "out", with_product ? 8 : 4, with_product ? 8 : 4) ||
        (coded && check_buffer(&b_table, "table", 4, 4)) ||
        (with_product && (check_buffer(&b_threshold, "threshold", 4, 4) ||
                          check_buffer(&b_weight, "weight", 8, 8)))) {
        goto done;
    }
    if (coded && b_table.len != 256 * (Py_ssize_t)sizeof(float)) {
        PyErr_SetString(PyExc_ValueError, "table does not have 256 values");
        goto done;
    }
    if (b_indices.itemsize != b_indptr.itemsize) {
        PyErr_SetString(PyExc_TypeError, "indptr and indices differ in type");
        goto done;
    }
    Py_ssize_t n_rows = b_indptr.len / b_indptr.itemsize - 1;
    Py_ssize_t n_out = n_bits, n_cols = 0;
    if (with_product) {
        if (n_bits <= 0 || b_threshold.len != (Py_ssize_t)sizeof(float) * n_bits ||
            b_weight.len % ((Py_ssize_t)sizeof(double) * n_bits)) {
            PyErr_SetString(PyExc_ValueError,
                            "threshold is not n_bits floats, or weight not n_bits rows");
            goto done;
        }
        n_cols = b_weight.len / ((Py_ssize_t)sizeof(double) * n_bits);
        n_out = n_rows > 0 ? b_out.len / ((Py_ssize_t)sizeof(double) * n_rows) : 0;
        if (n_cols % PRODUCT_COLUMNS || n_out > n_cols) {
            PyErr_SetString(PyExc_ValueError,
                            "weight's columns are not a multiple of 8, or fewer than out's");
            goto done;
        }
    }
    if (n_rows < 0 || n_bits <= 0 || b_out.len != b_out.itemsize * n_rows * n_out) {
        PyErr_SetString(PyExc_ValueError, with_product ? "out does not have n_rows x n_out doubles"
                                                       : "out does not have n_rows x n_bits floats");
        goto done;
    }
    const Py_ssize_t bit_size = b_bits.itemsize;
    const Py_ssize_t n_entries = b_bits.len / bit_size;
    if (n_slots <= 0 || b_values.len / b_values.itemsize != n_entries || n_entries % n_slots) {
        PyErr_SetString(PyExc_ValueError, "bits and values are not n_features x n_slots");
        goto done;
    }
    const int64_t n_features = n_entries / n_slots;
    const int64_t n_nonzero = b_indices.len / b_indices.itemsize;
    if (b_data.len / b_data.itemsize < n_nonzero) {
        PyErr_SetString(PyExc_ValueError, "data is shorter than indices");
        goto done;
    }
    if (with_product) {
        scratch = malloc(sizeof(float) * (size_t)n_bits);
        set = malloc(sizeof(int32_t) * (size_t)(n_bits + 16)); /* wide_set_bits' spare */
        if (scratch == NULL || set == NULL) {
            PyErr_NoMemory();
            goto done;
        }
    }
    const struct rows_job job = {
        .indptr = b_indptr.buf,
        .indices = b_indices.buf,
        .data = b_data.buf,
        .bits = b_bits.buf,
        .values = coded ? NULL : b_values.buf,
        .codes = coded ? b_values.buf : NULL,
        .table = coded ? b_table.buf : NULL,
        .out = with_product ? NULL : b_out.buf,
        .product = with_product ? b_out.buf : NULL,
        .threshold = b_threshold.buf,
        .weight = b_weight.buf,
        .scratch = scratch,
        .set = set,
        .n_rows = n_rows,
        .n_bits = n_bits,
        .n_slots = n_slots,
        .n_cols = n_cols,
        .n_out = n_out,
        .n_features = n_features,
        .n_nonzero = n_nonzero,
        .value_size = b_values.itemsize,
    };
    int bad;
    Py_BEGIN_ALLOW_THREADS
    if (job.out != NULL) {
        memset(job.out, 0, sizeof(float) * (size_t)n_rows * (size_t)n_bits);
    }
    bad = run_rows(&job, b_indptr.itemsize == 8, b_data.itemsize == 8, bit_size);
    Py_END_ALLOW_THREADS
    if (bad) {
        PyErr_SetString(PyExc_ValueError,
                        "malformed CSR matrix: indptr or a column index is out of range");
        goto done;
    }
    result = Py_None;
    Py_INCREF(result);
done:
    free(scratch);
    free(set);
    PyBuffer_Release(&b_indptr);
    PyBuffer_Release(&b_indices);
    PyBuffer_Release(&b_data);
    PyBuffer_Release(&b_bits);
    PyBuffer_Release(&b_values);
    PyBuffer_Release(&b_out);
    if (b_table.buf != NULL) {
        PyBuffer_Release(&b_table);
    }
    if (b_threshold.buf != NULL) {
        PyBuffer_Release(&b_threshold);
    }
    if (b_weight.buf != NULL) {
        PyBuffer_Release(&b_weight);
    }
    return result;
}

static PyObject *
project_csr(PyObject *self, PyObject *args)
{
    (void)self;
    return project_rows(args, 0);
}

static PyObject *
project_csr_product(PyObject *self, PyObject *args)
{
    (void)self;
    return project_rows(args, 1);
}

/* The buffers of the trained projection's kernels, checked once. */
typedef struct {
    Py_buffer indptr, rows, data, bits, signs, buckets, weight, dense;
    Py_ssize_t n_batch, n_nonzero, n_structure, n_slots, n_bits, n_weights;
} Training;

static void
release_training(Training *t)
{
    Py_buffer *views[] = {&t->indptr, &t->rows,   &t->data,   &t->bits,
                          &t->signs,  &t->buckets, &t->weight, &t->dense};
    for (size_t k = 0; k < sizeof(views) / sizeof(views[0]); k++) {
        if (views[k]->buf != NULL) {
            PyBuffer_Release(views[k]);
        }
    }
}

/* Parse (indptr, rows, data, bits, signs, buckets, weight, dense, n_slots,
 * n_bits): indptr and rows int64 (rows: the structure row of each
 * non-zero), data float32, bits and buckets int32 and signs int8 of shape
 * (n_structure, n_slots), weight float32 (n_weights), dense float32
 * (n_batch, n_bits), written (the projection) or read (its gradient). */
static int
parse_training(PyObject *args, Training *t, int dense_writable)
{
    memset(t, 0, sizeof(*t));
    /* The projection writes dense and reads weight; the gradient writes
     * weight (the weights' gradient) and reads dense (the output's). */
    const char *format = dense_writable ? "y*y*y*y*y*y*y*w*nn" : "y*y*y*y*y*y*w*y*nn";
    if (!PyArg_ParseTuple(args, format, &t->indptr, &t->rows, &t->data, &t->bits, &t->signs,
                          &t->buckets, &t->weight, &t->dense, &t->n_slots, &t->n_bits)) {
        return -1;
    }
    if (check_buffer(&t->indptr, "indptr", 8, 8) || check_buffer(&t->rows, "rows", 8, 8) ||
        check_buffer(&t->data, "data", 4, 4) || check_buffer(&t->bits, "bits", 4, 4) ||
        check_buffer(&t->signs, "signs", 1, 1) || check_buffer(&t->buckets, "buckets", 4, 4) ||
        check_buffer(&t->weight, "weight", 4, 4) || check_buffer(&t->dense, "dense", 4, 4)) {
        return -1;
    }
    t->n_batch = t->indptr.len / 8 - 1;
    t->n_nonzero = t->rows.len / 8;
    t->n_weights = t->weight.len / 4;
    if (t->n_slots <= 0 || t->n_bits <= 0 || t->n_batch < 0 || t->data.len / 4 != t->n_nonzero ||
        t->bits.len / 4 % t->n_slots || t->signs.len != t->bits.len / 4 ||
        t->buckets.len != t->bits.len || t->dense.len != 4 * t->n_batch * t->n_bits) {
        PyErr_SetString(PyExc_ValueError, "inconsistent shapes of the trained projection");
        return -1;
    }
    t->n_structure = t->bits.len / 4 / t->n_slots;
    const int64_t *indptr = t->indptr.buf, *rows = t->rows.buf;
    if (t->n_batch >= 0 && (indptr[0] != 0 || indptr[t->n_batch] != t->n_nonzero)) {
        PyErr_SetString(PyExc_ValueError, "indptr does not span the non-zeros");
        return -1;
    }
    for (Py_ssize_t i = 0; i < t->n_batch; i++) {
        if (indptr[i + 1] < indptr[i]) {
            PyErr_SetString(PyExc_ValueError, "indptr decreases");
            return -1;
        }
    }
    for (Py_ssize_t k = 0; k < t->n_nonzero; k++) {
        if (rows[k] < 0 || rows[k] >= t->n_structure) {
            PyErr_SetString(PyExc_ValueError, "a structure row is out of range");
            return -1;
        }
    }
    return 0;
}

/* The loop of both training kernels: for the non-zeros k of batch row i in
 * order (r = rows[k], the structure row of its column) and their slots s
 * in order, each product rounded to float32 before it is added:
 *
 *   projection: dense[i, bits[r, s]] += (data[k] * signs[r, s]) * weight[buckets[r, s]]
 *   gradient:   weight[buckets[r, s]] += dense[i, bits[r, s]] * (data[k] * signs[r, s])
 *
 * the order of the torch expression the projection replaces
 * (zeros.index_add(0, flat, (data * signs) * weight[buckets])) and of
 * autograd's gradient through it (index_add's gradient gathered, times the
 * signed data, added into the weights by index_select's backward). The
 * written buffer starts from zero. The bits and weight indices are checked
 * as they are read (a pass over a whole cached structure would cost more
 * than a batch): one out of range stops the loops, and the caller raises.
 */
/* What the training kernels' row loops read and write, from a checked
 * Training. */
struct training_job {
    const int64_t *indptr, *rows;
    const float *data;
    const int32_t *bits, *buckets;
    const int8_t *signs;
    float *weight, *dense;
    Py_ssize_t n_batch, n_nonzero, n_slots, n_bits, n_weights;
    int gradient;
};

/* Slots from..n_slots of the non-zero x whose structure row starts at
 * first, one at a time: the projection adds each slot's product to its bit
 * of row, the gradient each slot's product with row's bit to its weight.
 * Returns 1 at an index out of range. */
static inline int
training_slots_from(const struct training_job *job, float *restrict row, Py_ssize_t first,
                    float x, Py_ssize_t from)
{
    for (Py_ssize_t s = from; s < job->n_slots; s++) {
        const int32_t bit = job->bits[first + s], bucket = job->buckets[first + s];
        if (bit < 0 || bit >= job->n_bits || bucket < 0 || bucket >= job->n_weights) {
            return 1;
        }
        const float signed_x = x * (float)job->signs[first + s];
        if (job->gradient) {
            job->weight[bucket] += row[bit] * signed_x;
        } else {
            row[bit] += signed_x * job->weight[bucket];
        }
    }
    return 0;
}

/* The structure rows of the non-zeros a few ahead, fetched (see
 * PREFETCH_AHEAD; parse_training checked every structure row). */
static inline void
prefetch_training_rows(const struct training_job *job, int64_t k)
{
    if (k + PREFETCH_AHEAD < job->n_nonzero) {
        const Py_ssize_t ahead = (Py_ssize_t)job->rows[k + PREFETCH_AHEAD] * job->n_slots;
        PREFETCH(job->bits + ahead);
        PREFETCH(job->buckets + ahead);
        PREFETCH(job->signs + ahead);
    }
}

static int
training_rows(const struct training_job *job)
{
    for (Py_ssize_t i = 0; i < job->n_batch; i++) {
        float *row = job->dense + i * job->n_bits;
        for (int64_t k = job->indptr[i]; k < job->indptr[i + 1]; k++) {
            prefetch_training_rows(job, k);
            const Py_ssize_t first = (Py_ssize_t)job->rows[k] * job->n_slots;
            if (training_slots_from(job, row, first, job->data[k], 0)) {
                return 1;
            }
        }
    }
    return 0;
}

#if HAVE_WIDE_SLOTS
/* training_rows with sixteen slots' products at a time, as the prediction
 * kernels take them (WIDE_SLOTS): the weights (or the gradient's bits)
 * gathered, the products made in one vector, then added one by one in
 * slot order. The same products added in the same order: the same
 * numbers. */
__attribute__((target("avx512f"))) static int
wide_training_rows(const struct training_job *job)
{
    const __m512i n_bits = _mm512_set1_epi32((int32_t)job->n_bits);
    const __m512i n_weights = _mm512_set1_epi32((int32_t)job->n_weights);
    for (Py_ssize_t i = 0; i < job->n_batch; i++) {
        float *row = job->dense + i * job->n_bits;
        for (int64_t k = job->indptr[i]; k < job->indptr[i + 1]; k++) {
            prefetch_training_rows(job, k);
            const Py_ssize_t first = (Py_ssize_t)job->rows[k] * job->n_slots;
            const int32_t *bits = job->bits + first, *buckets = job->buckets + first;
            const __m512 xs = _mm512_set1_ps(job->data[k]);
            Py_ssize_t s0 = 0;
            for (; s0 + 16 <= job->n_slots; s0 += 16) {
                const __m512i bit = _mm512_loadu_si512(bits + s0);
                const __m512i bucket = _mm512_loadu_si512(buckets + s0);
                /* Unsigned: a negative index is out of range too. */
                if (_mm512_cmpge_epu32_mask(bit, n_bits) |
                    _mm512_cmpge_epu32_mask(bucket, n_weights)) {
                    return 1;
                }
                const __m128i signs = _mm_loadu_si128((const __m128i *)(job->signs + first + s0));
                const __m512 signed_x =
                    _mm512_mul_ps(xs, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(signs)));
                float terms[16] __attribute__((aligned(64)));
                if (job->gradient) {
                    const __m512 grad = _mm512_i32gather_ps(bit, row, 4);
                    _mm512_store_ps(terms, _mm512_mul_ps(grad, signed_x));
                    _Pragma("GCC unroll 16") for (int s = 0; s < 16; s++)
                    {
                        job->weight[buckets[s0 + s]] += terms[s];
                    }
                } else {
                    const __m512 weight = _mm512_i32gather_ps(bucket, job->weight, 4);
                    _mm512_store_ps(terms, _mm512_mul_ps(signed_x, weight));
                    _Pragma("GCC unroll 16") for (int s = 0; s < 16; s++)
                    {
                        row[bits[s0 + s]] += terms[s];
                    }
                }
            }
            if (training_slots_from(job, row, first, job->data[k], s0)) {
                return 1;
            }
        }
    }
    return 0;
}
#endif

static PyObject *
run_training_kernel(PyObject *args, int gradient)
{
    Training t;
    if (parse_training(args, &t, !gradient)) {
        release_training(&t);
        return NULL;
    }
    const struct training_job job = {
        .indptr = t.indptr.buf,
        .rows = t.rows.buf,
        .data = t.data.buf,
        .bits = t.bits.buf,
        .buckets = t.buckets.buf,
        .signs = t.signs.buf,
        .weight = t.weight.buf,
        .dense = t.dense.buf,
        .n_batch = t.n_batch,
        .n_nonzero = t.n_nonzero,
        .n_slots = t.n_slots,
        .n_bits = t.n_bits,
        .n_weights = t.n_weights,
        .gradient = gradient,
    };
    if (wide_slots < 0) {
        wide_slots = cpu_has_wide_slots();
    }
    int bad;
    Py_BEGIN_ALLOW_THREADS
    memset(gradient ? (void *)job.weight : (void *)job.dense, 0,
           (size_t)(gradient ? t.weight.len : t.dense.len));
#if HAVE_WIDE_SLOTS
    bad = wide_slots ? wide_training_rows(&job) : training_rows(&job);
#else
    bad = training_rows(&job);
#endif
    Py_END_ALLOW_THREADS
    release_training(&t);
    if (bad) {
        PyErr_SetString(PyExc_ValueError, "a bit or a weight index is out of range");
        return NULL;
    }
    Py_RETURN_NONE;
}

/* train_projection(indptr, rows, data, bits, signs, buckets, weight, out,
 *                  n_slots, n_bits)
 *
 * The trained projection of a CSR batch into out (n_batch x n_bits).
 */
static PyObject *
train_projection(PyObject *self, PyObject *args)
{
    (void)self;
    return run_training_kernel(args, 0);
}

/* train_projection_grad(indptr, rows, data, bits, signs, buckets,
 *                       grad_weight, grad_out, n_slots, n_bits)
 *
 * The gradient of train_projection's output with respect to weight, from
 * the gradient of that output.
 */
static PyObject *
train_projection_grad(PyObject *self, PyObject *args)
{
    (void)self;
    return run_training_kernel(args, 1);
}

/* One row of column_std's recurrence, each column on its own: the same
 * numbers in vectors of any width. */
WIDEST_VECTORS static void
welford_row(const float *restrict row, double n, Py_ssize_t n_cols, double *restrict mean,
            double *restrict m2)
{
    for (Py_ssize_t j = 0; j < n_cols; j++) {
        const double x = (double)row[j];
        const double delta = x - mean[j];
        const double new_mean = mean[j] + delta / n;
        m2[j] = m2[j] + delta * (x - new_mean);
        mean[j] = new_mean;
    }
}

/* column_std(z, out, n_rows, n_cols)
 *
 * The population standard deviation of each column of z (float32, C order,
 * n_rows x n_cols) into out (float32, n_cols): the scale of the trained
 * projection's straight-through gradient, at every training step
 * (sklearn_pnet._torch_pnet.straight_through_bits). Bit for bit what
 * torch's std(dim=0, correction=0) returns on the CPU: its Welford
 * recurrence in double, each column's rows in order, then the square root
 * in double rounded to float32. Torch runs that recurrence one element at
 * a time with strided loads (0.24 ms for 200 x 256, an eighth of a TREC
 * step); here the same operations run a row at a time across the columns.
 */
static PyObject *
column_std(PyObject *self, PyObject *args)
{
    (void)self;
    Py_buffer b_z, b_out;
    Py_ssize_t n_rows, n_cols;
    if (!PyArg_ParseTuple(args, "y*w*nn", &b_z, &b_out, &n_rows, &n_cols)) {
        return NULL;
    }
    PyObject *result = NULL;
    double *mean = NULL, *m2 = NULL;
    if (check_buffer(&b_z, "z", 4, 4) || check_buffer(&b_out, "out", 4, 4)) {
        goto done;
    }
    if (n_rows <= 0 || n_cols <= 0 || b_z.len != (Py_ssize_t)sizeof(float) * n_rows * n_cols ||
        b_out.len != (Py_ssize_t)sizeof(float) * n_cols) {
        PyErr_SetString(PyExc_ValueError, "z is not n_rows x n_cols, or out not n_cols");
        goto done;
    }
    mean = PyMem_Calloc((size_t)n_cols, sizeof(double));
    m2 = PyMem_Calloc((size_t)n_cols, sizeof(double));
    if (mean == NULL || m2 == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    const float *z = b_z.buf;
    float *out = b_out.buf;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n_rows; i++) {
        welford_row(z + i * n_cols, (double)(i + 1), n_cols, mean, m2);
    }
    for (Py_ssize_t j = 0; j < n_cols; j++) {
        out[j] = (float)sqrt(m2[j] / (double)n_rows);
    }
    Py_END_ALLOW_THREADS
    result = Py_None;
    Py_INCREF(result);
done:
    PyMem_Free(mean);
    PyMem_Free(m2);
    PyBuffer_Release(&b_z);
    PyBuffer_Release(&b_out);
    return result;
}

/* straight_through_grad(z, scale, grad, out, n_rows, n_cols)
 *
 * out = grad * (|z / scale| <= 1) / scale, scale broadcast over the rows
 * (all float32, C order): the straight-through gradient of
 * sklearn_pnet._torch_pnet.straight_through_bits, each operation rounded
 * as torch's elementwise kernels round it, in one pass instead of five.
 */
static PyObject *
straight_through_grad(PyObject *self, PyObject *args)
{
    (void)self;
    Py_buffer b_z, b_scale, b_grad, b_out;
    Py_ssize_t n_rows, n_cols;
    if (!PyArg_ParseTuple(args, "y*y*y*w*nn", &b_z, &b_scale, &b_grad, &b_out, &n_rows,
                          &n_cols)) {
        return NULL;
    }
    PyObject *result = NULL;
    const Py_ssize_t size = (Py_ssize_t)sizeof(float) * n_rows * n_cols;
    if (check_buffer(&b_z, "z", 4, 4) || check_buffer(&b_scale, "scale", 4, 4) ||
        check_buffer(&b_grad, "grad", 4, 4) || check_buffer(&b_out, "out", 4, 4)) {
        goto done;
    }
    if (n_rows < 0 || n_cols <= 0 || b_z.len != size || b_grad.len != size || b_out.len != size ||
        b_scale.len != (Py_ssize_t)sizeof(float) * n_cols) {
        PyErr_SetString(PyExc_ValueError, "z, grad and out are not n_rows x n_cols");
        goto done;
    }
    const float *restrict z = b_z.buf, *restrict scale = b_scale.buf, *restrict grad = b_grad.buf;
    float *restrict out = b_out.buf;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n_rows; i++) {
        for (Py_ssize_t j = 0; j < n_cols; j++) {
            const Py_ssize_t k = i * n_cols + j;
            const float inside = fabsf(z[k] / scale[j]) <= 1.0f ? 1.0f : 0.0f;
            out[k] = grad[k] * inside / scale[j];
        }
    }
    Py_END_ALLOW_THREADS
    result = Py_None;
    Py_INCREF(result);
done:
    PyBuffer_Release(&b_z);
    PyBuffer_Release(&b_scale);
    PyBuffer_Release(&b_grad);
    PyBuffer_Release(&b_out);
    return result;
}

/* adam_moments(exp_avg, exp_avg_sq, grad, n, weight1, beta2, weight2)
 * adam_update(param, exp_avg, root, n, bias_correction2_sqrt, eps, step)
 *
 * One step of torch.optim.Adam (defaults: no weight decay, no AMSGrad) on
 * one float32 parameter of n elements, in two passes around torch's square
 * root (sklearn_pnet._training.DenseAdam), each operation rounded as
 * torch's CPU kernels round it:
 *
 *     exp_avg.lerp_(grad, weight1)           fma(weight1, g - m, m)  (weight1 < 0.5)
 *     exp_avg_sq.mul_(beta2)                 v * beta2
 *       .addcmul_(grad, grad, value=weight2) fma(weight2 * g, g, v * beta2)
 *     root = exp_avg_sq.sqrt()               (torch: its square root is not the
 *                                             C library's in the last bit)
 *     denom = root / bias_correction2_sqrt + eps
 *     param.addcdiv_(exp_avg, denom, value=step)   p + (step * m) / denom
 *
 * Torch runs each line as a pass over the tensor, with Python in between:
 * on TREC's 58,368 projection weights, the step of every batch took more
 * time than the projection's kernels (benchmarks/SPEED.md, "Eleventh
 * session"). fmaf is exact on every CPU (the compiler emits the instruction
 * where the CPU has it), so every build gives torch's numbers.
 */
WIDEST_VECTORS static void
moments_loop(float *restrict m, float *restrict v, const float *restrict g, Py_ssize_t n,
             float weight1, float beta2, float weight2)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        const float gi = g[i];
        m[i] = fmaf(weight1, gi - m[i], m[i]);
        v[i] = fmaf(weight2 * gi, gi, v[i] * beta2);
    }
}

WIDEST_VECTORS static void
update_loop(float *restrict p, const float *restrict m, const float *restrict root, Py_ssize_t n,
            float bias_correction2_sqrt, float eps, float step)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        const float denom = root[i] / bias_correction2_sqrt + eps;
        p[i] = p[i] + (step * m[i]) / denom;
    }
}

static int
check_floats(const Py_buffer *views, const char *const *names, int n_views, Py_ssize_t n)
{
    for (int k = 0; k < n_views; k++) {
        if (check_buffer(&views[k], names[k], 4, 4)) {
            return -1;
        }
        if (views[k].len != (Py_ssize_t)sizeof(float) * n) {
            PyErr_Format(PyExc_ValueError, "%s does not hold n float32 values", names[k]);
            return -1;
        }
    }
    return 0;
}

/* adam_moments and adam_update: three float32 buffers of n values (the
 * first two written by adam_moments, the first by adam_update) and three
 * scalars. */
static PyObject *
run_adam(PyObject *args, int update)
{
    static const char *const names[2][3] = {{"exp_avg", "exp_avg_sq", "grad"},
                                            {"param", "exp_avg", "root"}};
    Py_buffer views[3];
    Py_ssize_t n;
    float a, b, c;
    if (!PyArg_ParseTuple(args, update ? "w*y*y*nfff" : "w*w*y*nfff", &views[0], &views[1],
                          &views[2], &n, &a, &b, &c)) {
        return NULL;
    }
    PyObject *result = NULL;
    if (check_floats(views, names[update], 3, n)) {
        goto done;
    }
    if (!update && !(a < 0.5f)) { /* torch's lerp takes another formula there */
        PyErr_SetString(PyExc_ValueError, "adam_moments: weight1 must be below 0.5");
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    if (update) {
        update_loop(views[0].buf, views[1].buf, views[2].buf, n, a, b, c);
    } else {
        moments_loop(views[0].buf, views[1].buf, views[2].buf, n, a, b, c);
    }
    Py_END_ALLOW_THREADS
    result = Py_None;
    Py_INCREF(result);
done:
    for (int k = 0; k < 3; k++) {
        PyBuffer_Release(&views[k]);
    }
    return result;
}

static PyObject *
adam_moments(PyObject *self, PyObject *args)
{
    (void)self;
    return run_adam(args, 0);
}

static PyObject *
adam_update(PyObject *self, PyObject *args)
{
    (void)self;
    return run_adam(args, 1);
}

/* sparse_structure(features, bits, signs, buckets, seed, n_bits, n_slots,
 *                  n_weights, n_features)
 *
 * For each feature j of features (int64, >= 0) and slot r < n_slots, as
 * _hashing.projection_structure computes them: bits (int64) the slot's bit,
 * signs (float32) its sign, and, when n_weights > 0, buckets (int64) the
 * index of its trained weight (unshared, j * n_slots + r, when the
 * n_features * n_slots entries do not outnumber the weights). Integer
 * arithmetic only: the values are those of the numpy code on any platform.
 *
 * sparse_entries(features, weights, bits, values, seed, n_bits, n_slots,
 *                n_weights, n_features)
 *
 * What prediction needs of the same rows, without the intermediate arrays:
 * bits (uint16, or int32 beyond 65,536 bits) and values (float32), each
 * slot's value being its sign times weights[bucket] (weights: the n_weights
 * trained weights, decoded to float32), or the sign alone when n_weights is
 * 0. A sign times a weight is exact, so the values are those of
 * _inference.projection_entries.
 *
 * Both run hash_slots, which checks the buffers and loops once.
 */
static PyObject *
hash_slots(PyObject *args, int entries)
{
    Py_buffer b_features = {0}, b_weights = {0}, b_bits = {0}, b_out = {0}, b_buckets = {0};
    unsigned long long seed;
    Py_ssize_t n_bits, n_slots, n_weights, n_features;
    const int parsed =
        entries ? PyArg_ParseTuple(args, "y*y*w*w*Knnnn", &b_features, &b_weights, &b_bits, &b_out,
                                   &seed, &n_bits, &n_slots, &n_weights, &n_features)
                : PyArg_ParseTuple(args, "y*w*w*w*Knnnn", &b_features, &b_bits, &b_out, &b_buckets,
                                   &seed, &n_bits, &n_slots, &n_weights, &n_features);
    if (!parsed) {
        return NULL;
    }
    PyObject *result = NULL;
    const Py_ssize_t n_rows = b_features.len / 8;
    const Py_ssize_t n_entries = n_rows * n_slots;
    /* Bits as the compact structure holds them (entries) or as intp. */
    const Py_ssize_t bit_size = !entries ? 8 : n_bits <= 65536 ? 2 : 4;
    const int weighted = n_weights > 0;
    if (check_buffer(&b_features, "features", 8, 8) ||
        check_buffer(&b_bits, "bits", bit_size, bit_size) ||
        check_buffer(&b_out, entries ? "values" : "signs", 4, 4) ||
        (weighted && !entries && check_buffer(&b_buckets, "buckets", 8, 8)) ||
        (weighted && entries && check_buffer(&b_weights, "weights", 4, 4))) {
        goto done;
    }
    if (seed > 0xFFFFFFFFULL || n_bits < 1 || n_bits > 0xFFFFFFFFLL || n_slots < 1 ||
        n_weights < 0 || n_weights > 0xFFFFFFFFLL || n_features < 1) {
        PyErr_SetString(PyExc_ValueError, "seed, n_bits, n_slots, n_weights or n_features out of range");
        goto done;
    }
    if (b_bits.len != bit_size * n_entries || b_out.len != 4 * n_entries ||
        (weighted && !entries && b_buckets.len != 8 * n_entries) ||
        (entries && b_weights.len != 4 * n_weights)) {
        PyErr_SetString(PyExc_ValueError,
                        "the outputs are not len(features) x n_slots, or weights not n_weights");
        goto done;
    }
    const int64_t *features = b_features.buf;
    const float *weights = b_weights.buf;
    float *out = b_out.buf;
    int64_t *buckets = b_buckets.buf;
    int bad = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n_rows && !bad; i++) {
        const int64_t j = features[i];
        /* Past n_features, an unshared weight index would be past the
         * weights (and past 32 bits); no caller passes such a feature. */
        if (j < 0 || (weighted && j >= n_features)) {
            bad = 1;
            break;
        }
        const uint64_t slot_key = pnet_row_key((uint32_t)seed, PNET_STREAM_SPARSE, (uint64_t)j);
        const uint64_t weight_key =
            weighted ? pnet_row_key((uint32_t)seed, PNET_STREAM_PROJECTION_WEIGHT, (uint64_t)j) : 0;
        for (Py_ssize_t r = 0; r < n_slots; r++) {
            const Py_ssize_t k = i * n_slots + r;
            const uint64_t h = pnet_col_hash(slot_key, (uint64_t)r);
            const uint32_t bit = pnet_fast_range(h, (uint32_t)n_bits);
            const uint32_t bucket =
                weighted ? pnet_bucket_keyed(weight_key, (uint64_t)j, (uint64_t)r, (uint64_t)n_slots,
                                             (uint64_t)n_features, (uint32_t)n_weights)
                         : 0;
            const float magnitude = entries && weighted ? weights[bucket] : 1.0f;
            out[k] = (h & 1u) ? magnitude : -magnitude;
            if (bit_size == 2) {
                ((uint16_t *)b_bits.buf)[k] = (uint16_t)bit;
            } else if (bit_size == 4) {
                ((int32_t *)b_bits.buf)[k] = (int32_t)bit;
            } else {
                ((int64_t *)b_bits.buf)[k] = bit;
            }
            if (weighted && !entries) {
                buckets[k] = bucket;
            }
        }
    }
    Py_END_ALLOW_THREADS
    if (bad) {
        PyErr_SetString(PyExc_ValueError, "a feature index is negative, or past n_features");
        goto done;
    }
    result = Py_None;
    Py_INCREF(result);
done:
    PyBuffer_Release(&b_features);
    PyBuffer_Release(&b_weights);
    PyBuffer_Release(&b_bits);
    PyBuffer_Release(&b_out);
    PyBuffer_Release(&b_buckets);
    return result;
}

static PyObject *
sparse_structure(PyObject *self, PyObject *args)
{
    (void)self;
    return hash_slots(args, 0);
}

static PyObject *
sparse_entries(PyObject *self, PyObject *args)
{
    (void)self;
    return hash_slots(args, 1);
}

/* Sort a row's touched buckets in increasing order: a radix sort of a byte
 * a pass (two passes below 65,536 buckets), or an insertion sort for few.
 * qsort's comparison calls took a third of the path's time. */
static void
sort_buckets(uint32_t *a, size_t n, uint32_t *scratch, unsigned n_passes)
{
    if (n < 48) {
        for (size_t i = 1; i < n; i++) {
            const uint32_t v = a[i];
            size_t j = i;
            for (; j > 0 && a[j - 1] > v; j--) {
                a[j] = a[j - 1];
            }
            a[j] = v;
        }
        return;
    }
    uint32_t *from = a, *to = scratch;
    for (unsigned pass = 0; pass < n_passes; pass++) {
        const unsigned shift = 8 * pass;
        size_t count[256] = {0};
        for (size_t i = 0; i < n; i++) {
            count[(from[i] >> shift) & 255u]++;
        }
        size_t total = 0;
        for (unsigned d = 0; d < 256; d++) {
            const size_t c = count[d];
            count[d] = total;
            total += c;
        }
        for (size_t i = 0; i < n; i++) {
            to[count[(from[i] >> shift) & 255u]++] = from[i];
        }
        uint32_t *swap = from;
        from = to;
        to = swap;
    }
    if (from != a) {
        memcpy(a, from, n * sizeof(uint32_t));
    }
}

/* linear_scores(indptr, indices, data, idf, coef_t, intercept, out, seed, n_buckets[, table])
 *
 * indptr, indices: int32 or int64 (both the same); data: float64; idf:
 * float64 (n_buckets); coef_t: float64 (n_buckets, n_scores), row-major,
 * or with table (256 float64), uint8 codes into it (an eighth of the
 * memory kept for prediction: 0.9 MB instead of 6.9 at 43,000 buckets and
 * 20 classes);
 * intercept: float64 (n_scores); out: float64 (n_rows, n_scores),
 * overwritten. For each row: the non-zeros folded into their hashed bucket
 * with their hashed sign (in storage order), times the idf, divided by the
 * row's L2 norm, then each score the sum of bucket times coefficient in
 * increasing bucket order, plus the intercept: pnet_add_linear's
 * operations (export/c/pnet_runtime.c), so that Python and an exported
 * model score alike. Only the buckets a row touches are visited (pnet_add_
 * linear visits all, adding zeros), and a bucket's coefficients are read
 * together, which changes no sum: each is still in bucket order.
 */
static PyObject *
linear_scores(PyObject *self, PyObject *args)
{
    (void)self;
    Py_buffer b_indptr, b_indices, b_data, b_idf, b_coef, b_intercept, b_out;
    Py_buffer b_table = {0};
    unsigned long long seed;
    Py_ssize_t n_buckets;
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*y*w*Kn|y*", &b_indptr, &b_indices, &b_data, &b_idf,
                          &b_coef, &b_intercept, &b_out, &seed, &n_buckets, &b_table)) {
        return NULL;
    }
    const int coded = b_table.buf != NULL;
    const Py_ssize_t coef_size = coded ? 1 : 8;
    PyObject *result = NULL;
    double *z = NULL, *sums = NULL;
    uint32_t *touched = NULL, *scratch = NULL;
    unsigned char *seen = NULL;
    const Py_ssize_t n_scores = b_intercept.len / 8;
    const Py_ssize_t index_size = b_indptr.itemsize;
    const Py_ssize_t n_rows = b_indptr.len / index_size - 1;
    const int64_t n_nonzero = b_indices.len / index_size;
    if (check_buffer(&b_indptr, "indptr", 4, 8) ||
        check_buffer(&b_indices, "indices", index_size, index_size) ||
        check_buffer(&b_data, "data", 8, 8) || check_buffer(&b_idf, "idf", 8, 8) ||
        check_buffer(&b_coef, "coef_t", coef_size, coef_size) ||
        check_buffer(&b_intercept, "intercept", 8, 8) || check_buffer(&b_out, "out", 8, 8) ||
        (coded && check_buffer(&b_table, "table", 8, 8))) {
        goto done;
    }
    if (coded && b_table.len != 8 * 256) {
        PyErr_SetString(PyExc_ValueError, "linear_scores: the table needs 256 values");
        goto done;
    }
    if (seed > 0xFFFFFFFFULL || n_buckets < 1 || n_buckets > 0xFFFFFFFFLL || n_rows < 0 ||
        n_scores < 1 || b_data.len / 8 != n_nonzero || b_idf.len != 8 * n_buckets ||
        b_coef.len != coef_size * n_buckets * n_scores || b_out.len != 8 * n_rows * n_scores) {
        PyErr_SetString(PyExc_ValueError, "linear_scores: inconsistent shapes");
        goto done;
    }
    z = calloc((size_t)n_buckets, sizeof(double));
    seen = calloc((size_t)n_buckets, 1);
    touched = malloc((size_t)n_buckets * sizeof(uint32_t));
    scratch = malloc((size_t)n_buckets * sizeof(uint32_t));
    sums = malloc((size_t)n_scores * sizeof(double));
    if (z == NULL || seen == NULL || touched == NULL || scratch == NULL || sums == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    const double *data = b_data.buf, *idf = b_idf.buf, *coef = b_coef.buf, *table = b_table.buf;
    const uint8_t *codes = b_coef.buf;
    const double *intercept = b_intercept.buf;
    double *out = b_out.buf;
    int bad = 0;
    unsigned n_passes = 1; /* bytes in the largest bucket, n_buckets - 1 */
    while (n_passes < 4 && ((uint64_t)(n_buckets - 1) >> (8 * n_passes)) != 0) {
        n_passes++;
    }
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n_rows && !bad; i++) {
        const int64_t start = index_size == 4 ? ((const int32_t *)b_indptr.buf)[i]
                                              : ((const int64_t *)b_indptr.buf)[i];
        const int64_t end = index_size == 4 ? ((const int32_t *)b_indptr.buf)[i + 1]
                                            : ((const int64_t *)b_indptr.buf)[i + 1];
        size_t n_touched = 0;
        double norm = 0.0;
        if (start < 0 || end < start || end > n_nonzero) {
            bad = 1;
            break;
        }
        for (int64_t k = start; k < end; k++) {
            const int64_t j = index_size == 4 ? ((const int32_t *)b_indices.buf)[k]
                                              : ((const int64_t *)b_indices.buf)[k];
            const double v = data[k];
            if (j < 0 || j > 0xFFFFFFFFLL) {
                bad = 1;
                break;
            }
            if (v == 0.0) {
                continue;
            }
            const uint64_t h = pnet_pair_hash((uint32_t)seed, PNET_STREAM_LINEAR, (uint64_t)j, 0);
            const uint32_t bucket = pnet_fast_range(h, (uint32_t)n_buckets);
            if (!seen[bucket]) {
                seen[bucket] = 1;
                touched[n_touched++] = bucket;
            }
            z[bucket] += (h & 1u) ? v : -v;
        }
        sort_buckets(touched, n_touched, scratch, n_passes);
        for (size_t t = 0; t < n_touched; t++) {
            const uint32_t b = touched[t];
            z[b] *= idf[b];
            norm += z[b] * z[b];
        }
        if (norm > 0.0) {
            norm = sqrt(norm);
            for (size_t t = 0; t < n_touched; t++) {
                z[touched[t]] /= norm;
            }
        }
        for (Py_ssize_t s = 0; s < n_scores; s++) {
            sums[s] = 0.0;
        }
        for (size_t t = 0; t < n_touched; t++) {
            const uint32_t b = touched[t];
            if (z[b] != 0.0 && coded) {
                const uint8_t *row = codes + (size_t)b * n_scores;
                for (Py_ssize_t s = 0; s < n_scores; s++) {
                    sums[s] += z[b] * table[row[s]];
                }
            } else if (z[b] != 0.0) {
                const double *row = coef + (size_t)b * n_scores;
                for (Py_ssize_t s = 0; s < n_scores; s++) {
                    sums[s] += z[b] * row[s];
                }
            }
            z[b] = 0.0;
            seen[b] = 0;
        }
        for (Py_ssize_t s = 0; s < n_scores; s++) {
            out[i * n_scores + s] = sums[s] + intercept[s];
        }
    }
    Py_END_ALLOW_THREADS
    if (bad) {
        PyErr_SetString(PyExc_ValueError, "linear_scores: a malformed CSR matrix");
        goto done;
    }
    result = Py_None;
    Py_INCREF(result);
done:
    free(z);
    free(seen);
    free(touched);
    free(scratch);
    free(sums);
    PyBuffer_Release(&b_indptr);
    PyBuffer_Release(&b_indices);
    PyBuffer_Release(&b_data);
    PyBuffer_Release(&b_idf);
    PyBuffer_Release(&b_coef);
    PyBuffer_Release(&b_intercept);
    PyBuffer_Release(&b_out);
    PyBuffer_Release(&b_table);
    return result;
}

/* The product of a dense batch and the trained projection's dense rows,
 * and its gradient, skipping the batch's zeros (MNIST's pixels are four
 * fifths zeros):
 *
 *   transpose = 0:  out[r, :] = sum over t of a[r, t] * b[t, :]
 *   transpose = 1:  out[r, :] = sum over t of a[t, r] * b[t, :]
 *
 * over the non-zero a entries in increasing t, each product rounded to
 * float32 before it is added, from zero. The order is fixed and does not
 * depend on the vector width the compiler chose, so every build computes
 * the same numbers (a BLAS matrix product would not: its blocking changes
 * the order with the CPU). A row of out is built 256 columns at a time in
 * sixteen vectors of sixteen floats; GCC's vector extensions keep them in
 * registers, and with target_clones the widest instructions the CPU has
 * are chosen when the module loads. */

#if defined(__GNUC__) || defined(__clang__)
typedef float float16v __attribute__((vector_size(64)));
#define BLOCK_COLUMNS 256 /* sixteen vectors; then a vector at a time */

/* out[r] = (start ? start[r] : init) + sum over e < n, in order, of
 * coef[e] * rows[index[e] * row_size + r] for r < 16 * N: N vectors of sums
 * kept in registers while the entries are added. start may be out: a sum
 * carried on from earlier entries. dense_product's blocks take a row's
 * non-zeros; _student_epoch.c's combine_rows a batch's lanes. */
#define COMBINE_BLOCK(NAME, N)                                                              \
    static inline __attribute__((always_inline)) void NAME(                                \
        float *out, const float *start, const float *rows, Py_ssize_t row_size,            \
        const int32_t *index, const float *coef, Py_ssize_t n, float init)                 \
    {                                                                                      \
        float16v acc[N];                                                                   \
        for (int i = 0; i < N; i++) {                                                      \
            if (start != NULL) {                                                           \
                memcpy(&acc[i], start + 16 * i, sizeof acc[i]);                            \
            } else {                                                                       \
                acc[i] = (float16v){0} + init;                                             \
            }                                                                              \
        }                                                                                  \
        for (Py_ssize_t e = 0; e < n; e++) {                                               \
            const float *row = rows + (Py_ssize_t)index[e] * row_size;                     \
            const float w = coef[e];                                                       \
            for (int i = 0; i < N; i++) {                                                  \
                float16v v;                                                                \
                memcpy(&v, row + 16 * i, sizeof v);                                        \
                acc[i] += w * v;                                                           \
            }                                                                              \
        }                                                                                  \
        memcpy(out, acc, sizeof acc);                                                      \
    }

COMBINE_BLOCK(combine1, 1)
COMBINE_BLOCK(combine16, 16)

/* out[0:256] (add_block) or out[0:16] (add_vector) from the listed
 * non-zeros of a row, as above, compiled for the widest vectors. */
WIDEST_VECTORS static void
add_block(const int32_t *restrict index, const float *restrict value, Py_ssize_t n_nonzero,
          const float *restrict b, Py_ssize_t n_cols, float *restrict out)
{
    combine16(out, NULL, b, n_cols, index, value, n_nonzero, 0.0f);
}

WIDEST_VECTORS static void
add_vector(const int32_t *restrict index, const float *restrict value, Py_ssize_t n_nonzero,
           const float *restrict b, Py_ssize_t n_cols, float *restrict out)
{
    combine1(out, NULL, b, n_cols, index, value, n_nonzero, 0.0f);
}
#else
#define BLOCK_COLUMNS 0
#endif

static void
dense_rows(const float *restrict a, Py_ssize_t row_step, Py_ssize_t inner_step,
           Py_ssize_t n_rows, Py_ssize_t n_inner, const float *restrict b, Py_ssize_t n_cols,
           float *restrict out, int32_t *restrict index, float *restrict value)
{
    for (Py_ssize_t r = 0; r < n_rows; r++) {
        /* The non-zeros of the row, without a branch: a zero is written
         * and then overwritten (a branch would be mispredicted often). */
        Py_ssize_t n_nonzero = 0;
        for (Py_ssize_t t = 0; t < n_inner; t++) {
            const float v = a[r * row_step + t * inner_step];
            index[n_nonzero] = (int32_t)t;
            value[n_nonzero] = v;
            n_nonzero += v != 0.0f;
        }
        float *o = out + r * n_cols;
        Py_ssize_t c0 = 0;
#if BLOCK_COLUMNS
        for (; c0 + BLOCK_COLUMNS <= n_cols; c0 += BLOCK_COLUMNS) {
            add_block(index, value, n_nonzero, b + c0, n_cols, o + c0);
        }
        for (; c0 + 16 <= n_cols; c0 += 16) {
            add_vector(index, value, n_nonzero, b + c0, n_cols, o + c0);
        }
#endif
        for (Py_ssize_t c = c0; c < n_cols; c++) {
            float acc = 0.0f;
            for (Py_ssize_t q = 0; q < n_nonzero; q++) {
                acc += value[q] * b[(Py_ssize_t)index[q] * n_cols + c];
            }
            o[c] = acc;
        }
    }
}

/* dense_product(a, b, out, n_a_rows, n_a_cols, n_cols, transpose)
 *
 * a float32 (n_a_rows, n_a_cols), b float32 (n_inner, n_cols) and out
 * float32, all C order; n_inner is n_a_cols (out = a @ b, n_a_rows rows)
 * or, with transpose, n_a_rows (out = a.T @ b, n_a_cols rows).
 */
static PyObject *
dense_product(PyObject *self, PyObject *args)
{
    (void)self;
    Py_buffer b_a, b_b, b_out;
    Py_ssize_t n_a_rows, n_a_cols, n_cols;
    int transpose;
    if (!PyArg_ParseTuple(args, "y*y*w*nnnp", &b_a, &b_b, &b_out, &n_a_rows, &n_a_cols, &n_cols,
                          &transpose)) {
        return NULL;
    }
    PyObject *result = NULL;
    int32_t *index = NULL;
    float *value = NULL;
    if (check_buffer(&b_a, "a", 4, 4) || check_buffer(&b_b, "b", 4, 4) ||
        check_buffer(&b_out, "out", 4, 4)) {
        goto done;
    }
    const Py_ssize_t n_rows = transpose ? n_a_cols : n_a_rows;
    const Py_ssize_t n_inner = transpose ? n_a_rows : n_a_cols;
    if (n_a_rows < 0 || n_a_cols < 0 || n_cols < 0 || n_inner > INT32_MAX ||
        b_a.len != 4 * n_a_rows * n_a_cols || b_b.len != 4 * n_inner * n_cols ||
        b_out.len != 4 * n_rows * n_cols) {
        PyErr_SetString(PyExc_ValueError, "dense_product: inconsistent shapes");
        goto done;
    }
    index = malloc(sizeof(int32_t) * (size_t)(n_inner + 1));
    value = malloc(sizeof(float) * (size_t)(n_inner + 1));
    if (index == NULL || value == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    if (transpose) {
        dense_rows(b_a.buf, 1, n_a_cols, n_rows, n_inner, b_b.buf, n_cols, b_out.buf, index, value);
    } else {
        dense_rows(b_a.buf, n_a_cols, 1, n_rows, n_inner, b_b.buf, n_cols, b_out.buf, index, value);
    }
    Py_END_ALLOW_THREADS
    result = Py_None;
    Py_INCREF(result);
done:
    free(index);
    free(value);
    PyBuffer_Release(&b_a);
    PyBuffer_Release(&b_b);
    PyBuffer_Release(&b_out);
    return result;
}

/* A growing row store of hash_documents: int64 indptr, uint32 indices,
 * float64 values. */
typedef struct {
    int64_t *indptr;
    uint32_t *indices;
    double *values;
    size_t n_values, capacity;
} text_rows;

static int
reserve_values(text_rows *rows, size_t more)
{
    if (rows->n_values + more <= rows->capacity) {
        return 0;
    }
    size_t capacity = rows->capacity * 2 > rows->n_values + more ? rows->capacity * 2
                                                                : rows->n_values + more;
    uint32_t *indices = realloc(rows->indices, capacity * sizeof(uint32_t));
    if (indices != NULL) {
        rows->indices = indices;
    }
    double *values = realloc(rows->values, capacity * sizeof(double));
    if (values != NULL) {
        rows->values = values;
    }
    if (indices == NULL || values == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    rows->capacity = capacity;
    return 0;
}

/* The counts of one document's tokens, a list of str (the analyzer's
 * output), hashed from their UTF-8 bytes, into rows at n_values. */
static int
hash_tokens(const pnet_text *t, PyObject *tokens, text_rows *rows)
{
    PyObject *seq = PySequence_Fast(tokens, "a document is a str or a list of tokens");
    if (seq == NULL) {
        return -1;
    }
    const Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    if (reserve_values(rows, (size_t)n)) {
        Py_DECREF(seq);
        return -1;
    }
    uint32_t *indices = rows->indices + rows->n_values;
    double *values = rows->values + rows->n_values;
    for (Py_ssize_t k = 0; k < n; k++) {
        Py_ssize_t len;
        const char *bytes = PyUnicode_Check(PySequence_Fast_GET_ITEM(seq, k))
                                ? PyUnicode_AsUTF8AndSize(PySequence_Fast_GET_ITEM(seq, k), &len)
                                : NULL;
        if (bytes == NULL) {
            if (!PyErr_Occurred()) {
                PyErr_SetString(PyExc_TypeError, "a token is not a str");
            }
            Py_DECREF(seq);
            return -1;
        }
        pnet_text_token(t, (const unsigned char *)bytes, (size_t)len, indices + k, values + k);
    }
    Py_DECREF(seq);
    rows->n_values += pnet_text_sum_duplicates(indices, values, (size_t)n);
    return 0;
}

/* hash_documents(documents, n_features, alternate_sign)
 *
 * documents: a list whose items are an ASCII str (tokenised here: the words
 * of two or more word characters, lowercased) or a list of str tokens (the
 * analyzer's tokens of any other document, hashed as they are). Returns
 * (indptr, indices, values): bytearrays of int64, uint32 and float64, the
 * rows of HashingVectorizer(norm=None)'s counts with their indices sorted
 * and summed, as FeatureHasher's sum_duplicates leaves them. ASCII text is
 * exact here (tests/test_text.py); the caller sends other text as tokens.
 */
static PyObject *
hash_documents(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *documents;
    Py_ssize_t n_features;
    int alternate_sign;
    if (!PyArg_ParseTuple(args, "O!np", &PyList_Type, &documents, &n_features, &alternate_sign)) {
        return NULL;
    }
    if (n_features < 1 || n_features > INT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "n_features is not in [1, 2**31 - 1]");
        return NULL;
    }
    const pnet_text t = {(uint32_t)n_features, alternate_sign, 0, 0, 0};
    const Py_ssize_t n_docs = PyList_GET_SIZE(documents);
    text_rows rows = {malloc(((size_t)n_docs + 1) * sizeof(int64_t)), NULL, NULL, 0, 0};
    PyObject *result = NULL;
    if (rows.indptr == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    rows.indptr[0] = 0;
    for (Py_ssize_t i = 0; i < n_docs; i++) {
        PyObject *doc = PyList_GET_ITEM(documents, i);
        if (PyUnicode_CheckExact(doc) && PyUnicode_IS_ASCII(doc)) {
            const size_t len = (size_t)PyUnicode_GET_LENGTH(doc);
            if (reserve_values(&rows, PNET_TEXT_CAPACITY(len))) {
                goto done;
            }
            long n = pnet_text_features(&t, (const char *)PyUnicode_DATA(doc), len,
                                        rows.indices + rows.n_values,
                                        rows.values + rows.n_values, PNET_TEXT_CAPACITY(len));
            if (n < 0) { /* cannot happen: PNET_TEXT_CAPACITY(len) suffices */
                PyErr_SetString(PyExc_RuntimeError, "too many tokens for the text buffer");
                goto done;
            }
            rows.n_values += (size_t)n;
        } else if (PyUnicode_Check(doc)) { /* (a str is a sequence of characters) */
            PyErr_SetString(PyExc_TypeError, "text beyond ASCII goes as a list of tokens");
            goto done;
        } else if (hash_tokens(&t, doc, &rows)) {
            goto done;
        }
        rows.indptr[i + 1] = (int64_t)rows.n_values;
    }
    result = Py_BuildValue(
        "(NNN)",
        PyByteArray_FromStringAndSize((const char *)rows.indptr,
                                      (Py_ssize_t)(((size_t)n_docs + 1) * sizeof(int64_t))),
        PyByteArray_FromStringAndSize((const char *)rows.indices,
                                      (Py_ssize_t)(rows.n_values * sizeof(uint32_t))),
        PyByteArray_FromStringAndSize((const char *)rows.values,
                                      (Py_ssize_t)(rows.n_values * sizeof(double))));
done:
    free(rows.indptr);
    free(rows.indices);
    free(rows.values);
    return result;
}

/* GCC's vector extensions, __builtin_shuffle included (clang spells it
 * otherwise): elsewhere training keeps the torch steps. */
#if BLOCK_COLUMNS && defined(__GNUC__) && !defined(__clang__)
#define HAVE_STUDENT_EPOCH 1
#include "_student_epoch.c"
#endif

static PyMethodDef methods[] = {
    {"project_csr", project_csr, METH_VARARGS,
     "project_csr(indptr, indices, data, bits, values, out, n_slots, n_bits[, table])\n\n"
     "The sparse hashed projection of a CSR matrix into out (float32)."},
    {"project_csr_product", project_csr_product, METH_VARARGS,
     "project_csr_product(indptr, indices, data, bits, values, threshold, weight, out, n_slots, "
     "n_bits[, table])\n\n(projection > threshold) @ weight of a CSR matrix into out (float64)."},
    {"wide_products", wide_products, METH_VARARGS,
     "wide_products([enable])\n\nWhether the projection kernels take sixteen slots' products at "
     "a time (AVX-512); the argument turns that on (where the CPU can) or off."},
    {"train_projection", train_projection, METH_VARARGS,
     "train_projection(indptr, rows, data, bits, signs, buckets, weight, out, n_slots, "
     "n_bits)\n\nThe trained projection of a CSR batch into out (float32)."},
    {"train_projection_grad", train_projection_grad, METH_VARARGS,
     "train_projection_grad(indptr, rows, data, bits, signs, buckets, grad_weight, grad_out, "
     "n_slots, n_bits)\n\nThe gradient of train_projection with respect to weight."},
    {"straight_through_grad", straight_through_grad, METH_VARARGS,
     "straight_through_grad(z, scale, grad, out, n_rows, n_cols)\n\n"
     "The straight-through gradient grad * (|z / scale| <= 1) / scale."},
    {"adam_moments", adam_moments, METH_VARARGS,
     "adam_moments(exp_avg, exp_avg_sq, grad, n, weight1, beta2, weight2)\n\n"
     "Adam's two moments updated in place, as torch's lerp_, mul_ and addcmul_ round them."},
    {"adam_update", adam_update, METH_VARARGS,
     "adam_update(param, exp_avg, root, n, bias_correction2_sqrt, eps, step)\n\n"
     "param += (step * exp_avg) / (root / bias_correction2_sqrt + eps), as torch rounds it."},
    {"dense_product", dense_product, METH_VARARGS,
     "dense_product(a, b, out, n_a_rows, n_a_cols, n_cols, transpose)\n\n"
     "a @ b (or a.T @ b) over a's non-zeros, in a fixed order (float32)."},
#ifdef HAVE_STUDENT_EPOCH
#ifdef STUDENT_EPOCH_TIMERS
    {"student_epoch_phases", student_epoch_phases, METH_NOARGS,
     "student_epoch_phases()\n\nSeconds of each phase of student_epoch since the last call."},
#endif
    {"student_epoch", student_epoch, METH_VARARGS,
     "student_epoch(X, order, y, sample_weight, bits, signs, buckets, weight, threshold, W, "
     "bias, moments, sums, batch_size, first_step, lr_projection, lr_linear, beta1, beta2, eps, "
     "loss_weight, between[, n_threads])\n\nThe default student's training steps on dense rows, "
     "in one pass."},
    {"student_epoch_helped", student_epoch_helped, METH_NOARGS,
     "student_epoch_helped()\n\nTasks of student_epoch that its helper threads have taken."},
#endif
    {"column_std", column_std, METH_VARARGS,
     "column_std(z, out, n_rows, n_cols)\n\n"
     "Each column's population standard deviation, as torch's CPU std(dim=0)."},
    {"sparse_structure", sparse_structure, METH_VARARGS,
     "sparse_structure(features, bits, signs, buckets, seed, n_bits, n_slots, n_weights, "
     "n_features)\n\nThe hashed bits, signs and weight indices of a sparse projection's rows."},
    {"linear_scores", linear_scores, METH_VARARGS,
     "Scores of a linear path on CSR rows, as an exported model computes them."},
    {"sparse_entries", sparse_entries, METH_VARARGS,
     "sparse_entries(features, weights, bits, values, seed, n_bits, n_slots, n_weights, "
     "n_features)\n\nThe bits and signed weights of a sparse projection's rows."},
    {"hash_documents", hash_documents, METH_VARARGS,
     "hash_documents(documents, n_features, alternate_sign)\n\n"
     "HashingVectorizer's counts of ASCII str documents and of token lists, as CSR bytes."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_kernels", "Compiled kernels of sklearn-pnet (prediction and training).", -1,
    methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__kernels(void)
{
    return PyModule_Create(&module);
}

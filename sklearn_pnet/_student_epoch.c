/* student_epoch: the default student's training steps on dense input, all
 * of them in one compiled pass (included by _kernels.c, whose helpers and
 * float16v vectors it uses).
 *
 * A step of the default student (a trained projection with slots, its bits,
 * one linear layer, the cross-entropy, Adam) costs little arithmetic on a
 * small dense set: 200 digits of 64 pixels are 0.4 million products in the
 * projection and 0.5 million in each of the linear layer's three products.
 * Run as a dozen torch operations and two compiled kernels, a step took
 * 350 us, most of it in the operations' fixed costs, and 200 epochs of
 * digits 0.5 s where scikit-learn's MLPClassifier fits in 0.09 s
 * (benchmarks/SPEED.md, "Twelfth session"). Here the whole step runs in C,
 * in the layout that suits a batch of 200: its rows side by side as lanes,
 * so that every loop runs along the lanes, with the sums of sixteen lanes
 * or of a few rows kept in vector registers. Where a second core helps,
 * a step's work is shared among threads, with the same numbers (see
 * "Threads" below).
 *
 * The numbers are its own, not torch's: the products add in the order
 * below, the softmax uses its own exp (lanes_exp; the C library's logf for
 * the reported loss), Adam the correctly rounded square root. Every
 * operation either acts on each lane alone or sums lanes in sixteen
 * accumulators reduced by a fixed tree (lanes_total, transposed_totals), so
 * every build (AVX-512, AVX2, SSE2) gives the same model to the bit
 * (tests/test_training.py builds the SSE2 one to check). For one step (B
 * rows, lanes padded to a multiple of 16 with zero rows):
 *
 *     z[k, r]  = sum over features f in order, slots s in order, with
 *                bits[f, s] = k, of (signs[f, s] * weight[buckets[f, s]]) * x[r, f]
 *                (features that are 0 in every row of the batch left out)
 *     scale[k] = sqrt(mean_r (z[k, r] - mean_r z[k, r])**2), 1 where it is 0
 *     z[k, r] -= threshold[k];   bit[k, r] = z[k, r] > 0
 *     logit[c, r] = bias[c] + sum over k in order of W[c, k] * bit[k, r]
 *     loss = sum_r w_r * lw * (logsumexp_c logit[c, r] - logit[y_r, r]) / sum_r w_r
 *
 * and its gradient: g[c, r] = (softmax - onehot) * (w_r * lw / sum w); the
 * bias's, the sum of g over lanes; W's, the lanes' dot product of g and
 * the bits; the bits', the sum over c in order of W[c, k] * g[c, r]; z's,
 * the bits' times 1 / scale where |z| <= scale, else 0 (the clipped
 * straight-through estimator of _torch_pnet.straight_through_bits); the
 * threshold's, minus the sum of z's over lanes; a shared weight's, the sum,
 * over the slots that use it (bit by bit, then in slot order), of sign
 * times the lanes' dot product of x[:, f] and z's gradient at the slot's
 * bit. Then Adam on the four parameters, as _training.DenseAdam rounds it
 * but for the square root.
 */

#define LANES 16

/* Vectors passed by value between inlined functions: no ABI is crossed. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

typedef int32_t int16v __attribute__((vector_size(64)));

/* Where a step's time goes (benchmarks/student_epoch_phases.py): built with
 * -DSTUDENT_EPOCH_TIMERS, the kernel adds each phase's seconds to
 * phase_seconds, which student_epoch_phases() returns and clears. The
 * installed module has no timers. */
enum {
    PHASE_GATHER, PHASE_ENTRIES, PHASE_PROJECTION, PHASE_SCALE_BITS, PHASE_LOGITS,
    PHASE_SOFTMAX, PHASE_LINEAR_GRAD, PHASE_BITS_GRAD, PHASE_THRESHOLD_GRAD,
    PHASE_WEIGHT_GRAD, PHASE_ADAM, PHASE_STEPS, N_PHASES
};
#ifdef STUDENT_EPOCH_TIMERS
#include <time.h>
static double phase_seconds[N_PHASES];
static double
phase_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}
#define PHASE_START() double phase_clock = phase_now()
#define PHASE_RESTART() (phase_clock = phase_now())
#define PHASE_END(I)                               \
    do {                                           \
        const double phase_then = phase_now();     \
        phase_seconds[I] += phase_then - phase_clock; \
        phase_clock = phase_then;                  \
    } while (0)
#else
#define PHASE_START() ((void)0)
#define PHASE_RESTART() ((void)0)
#define PHASE_END(I) ((void)0)
#endif

/* Sixteen partial sums reduced in a fixed order (transposed_totals' tree). */
static inline __attribute__((always_inline)) float
lanes_total(const float16v *acc)
{
    float half[8], quarter[4];
    for (int i = 0; i < 8; i++) {
        half[i] = (*acc)[i] + (*acc)[i + 8];
    }
    for (int i = 0; i < 4; i++) {
        quarter[i] = half[i] + half[i + 4];
    }
    return (quarter[0] + quarter[2]) + (quarter[1] + quarter[3]);
}

/* Lane i of the result: the sum of the lanes of acc[i], by the same fixed
 * tree for every i (halves, quarters, eighths, pairs), the sixteen sums
 * at once with two-vector shuffles. */
static inline __attribute__((always_inline)) float16v
transposed_totals(float16v *acc)
{
    const int16v halves_lo = {0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23};
    const int16v halves_hi = {8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31};
    const int16v quarters_lo = {0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27};
    const int16v quarters_hi = {4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31};
    const int16v eighths_lo = {0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29};
    const int16v eighths_hi = {2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 22, 23, 26, 27, 30, 31};
    const int16v pairs_lo = {0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30};
    const int16v pairs_hi = {1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31};
    float16v v[8], w[4], x[2];
    for (int i = 0; i < 8; i++) {
        v[i] = __builtin_shuffle(acc[2 * i], acc[2 * i + 1], halves_lo) +
               __builtin_shuffle(acc[2 * i], acc[2 * i + 1], halves_hi);
    }
    for (int i = 0; i < 4; i++) {
        w[i] = __builtin_shuffle(v[2 * i], v[2 * i + 1], quarters_lo) +
               __builtin_shuffle(v[2 * i], v[2 * i + 1], quarters_hi);
    }
    for (int i = 0; i < 2; i++) {
        x[i] = __builtin_shuffle(w[2 * i], w[2 * i + 1], eighths_lo) +
               __builtin_shuffle(w[2 * i], w[2 * i + 1], eighths_hi);
    }
    return __builtin_shuffle(x[0], x[1], pairs_lo) + __builtin_shuffle(x[0], x[1], pairs_hi);
}

/* out[i] = the lanes' dot product of b and row index[i] of rows (rows of
 * `lanes` floats), for i < 16. */
static inline __attribute__((always_inline)) void
sixteen_dots(const float *b, const float *rows, const int32_t *index, Py_ssize_t lanes,
             float *out)
{
    const float *row[16];
    float16v acc[16];
    for (int i = 0; i < 16; i++) {
        row[i] = rows + (Py_ssize_t)index[i] * lanes;
        acc[i] = (float16v){0};
    }
    for (Py_ssize_t r = 0; r < lanes; r += LANES) {
        float16v vb;
        memcpy(&vb, b + r, sizeof vb);
        for (int i = 0; i < 16; i++) {
            float16v va;
            memcpy(&va, row[i] + r, sizeof va);
            acc[i] += va * vb;
        }
    }
    float16v totals = transposed_totals(acc);
    memcpy(out, &totals, sizeof totals);
}

/* out[i] = the lanes' dot product of row a_index[i] of a_rows and row
 * b_index[i] of b_rows, for i < 16. */
static inline __attribute__((always_inline)) void
sixteen_pair_dots(const float *a_rows, const int32_t *a_index, const float *b_rows,
                  const int32_t *b_index, Py_ssize_t lanes, float *out)
{
    const float *a[16], *b[16];
    float16v acc[16];
    for (int i = 0; i < 16; i++) {
        a[i] = a_rows + (Py_ssize_t)a_index[i] * lanes;
        b[i] = b_rows + (Py_ssize_t)b_index[i] * lanes;
        acc[i] = (float16v){0};
    }
    for (Py_ssize_t r = 0; r < lanes; r += LANES) {
        for (int i = 0; i < 16; i++) {
            float16v va, vb;
            memcpy(&va, a[i] + r, sizeof va);
            memcpy(&vb, b[i] + r, sizeof vb);
            acc[i] += va * vb;
        }
    }
    float16v totals = transposed_totals(acc);
    memcpy(out, &totals, sizeof totals);
}

/* The lanes' dot product of a[0:n] and b[0:n], n a multiple of 16. */
static inline __attribute__((always_inline)) float
lanes_dot(const float *a, const float *b, Py_ssize_t n)
{
    float16v acc = {0};
    for (Py_ssize_t i = 0; i < n; i += LANES) {
        float16v va, vb;
        memcpy(&va, a + i, sizeof va);
        memcpy(&vb, b + i, sizeof vb);
        acc += va * vb;
    }
    return lanes_total(&acc);
}

/* combine1 and combine16 are _kernels.c's (dense_product's blocks). */
COMBINE_BLOCK(combine2, 2)
COMBINE_BLOCK(combine3, 3)
COMBINE_BLOCK(combine4, 4)
COMBINE_BLOCK(combine5, 5)
COMBINE_BLOCK(combine6, 6)
COMBINE_BLOCK(combine7, 7)
COMBINE_BLOCK(combine8, 8)
COMBINE_BLOCK(combine9, 9)
COMBINE_BLOCK(combine10, 10)
COMBINE_BLOCK(combine11, 11)
COMBINE_BLOCK(combine12, 12)
COMBINE_BLOCK(combine13, 13)
COMBINE_BLOCK(combine14, 14)
COMBINE_BLOCK(combine15, 15)

/* out[0:width] = init (or start[0:width]) + sum over e of coef[e] *
 * rows[index[e]][0:width], rows `stride` floats apart, width a multiple of
 * 16: all of up to 256 lanes in one pass over the entries (a block for
 * each number of vectors: the sums stay in registers, and no chain of
 * additions waits on another). Each lane adds the entries in order, so
 * how the lanes are cut into spans does not change a sum. */
static inline __attribute__((always_inline)) void
combine_span(float *out, const float *start, const float *rows, Py_ssize_t stride,
             Py_ssize_t width, const int32_t *index, const float *coef, Py_ssize_t n, float init)
{
    Py_ssize_t r = 0;
    for (; r + 16 * LANES <= width; r += 16 * LANES) {
        combine16(out + r, start ? start + r : NULL, rows + r, stride, index, coef, n, init);
    }
    switch ((width - r) / LANES) {
#define COMBINE_CASE(N)                                                                   \
    case N:                                                                               \
        combine##N(out + r, start ? start + r : NULL, rows + r, stride, index, coef, n, init); \
        break;
        COMBINE_CASE(1)
        COMBINE_CASE(2)
        COMBINE_CASE(3)
        COMBINE_CASE(4)
        COMBINE_CASE(5)
        COMBINE_CASE(6)
        COMBINE_CASE(7)
        COMBINE_CASE(8)
        COMBINE_CASE(9)
        COMBINE_CASE(10)
        COMBINE_CASE(11)
        COMBINE_CASE(12)
        COMBINE_CASE(13)
        COMBINE_CASE(14)
        COMBINE_CASE(15)
#undef COMBINE_CASE
    default:
        break;
    }
}

/* The four trained parameters, in this order. */
enum { SHARED_WEIGHTS, THRESHOLDS, LINEAR_WEIGHTS, LINEAR_BIAS, N_PARAMS };

/* Bits are computed and differentiated sixteen at a time, so that their
 * rows of lanes (13 KB for a batch of 200) are still in the first-level
 * cache for every use: row after row over whole matrices of 200 lanes,
 * the step moved ten times as many bytes and took twice as long. A block
 * of bits is also the share of work a thread takes at a time. */
#define BIT_BLOCK 16
/* Features a thread gathers at a time: sixteen floats of a row are one
 * cache line. */
#define FEATURE_BLOCK 16

struct student_job {
    _Alignas(64) const float *X; /* n_samples x n_features, C order */
    const int64_t *y;
    const float *sample_weight;
    const int8_t *signs; /* n_features x n_slots */
    const int32_t *buckets;
    Py_ssize_t n_features, n_slots, n_bits, n_classes;
    float *param[N_PARAMS], *m[N_PARAMS], *v[N_PARAMS], *grad[N_PARAMS];
    Py_ssize_t size[N_PARAMS];
    double lr[N_PARAMS];
    double beta1, beta2, eps;
    float loss_weight;
    /* The slots of each bit, in the order of (feature, slot): slot_start
     * (n_bits + 1), slot_of and slot_feature (n_features * n_slots). */
    const int32_t *slot_start, *slot_of, *slot_feature;
    const int32_t *iota; /* 0, 1, 2, ...: n_bits + n_classes + 16 */
    /* Work space for a batch of up to `lanes` rows. */
    float *x;              /* (n_features + 1) x lanes: a feature a row, then zeros */
    float *z, *bit, *gz;   /* (n_bits + 1) x lanes: the last row zeros */
    float *logit, *glogit; /* n_classes x lanes */
    float *ones;           /* lanes */
    float *scale;          /* n_bits */
    float *W_t;            /* n_bits x n_classes: W transposed */
    double *row_loss, *row_correct; /* lanes: each row's weighted loss, and its weight if right */
    /* The slots of this batch's active features, bit by bit: bit k's
     * entry_count[k] of them from slot_start[k] on, in entry_feature,
     * entry_slot and entry_value; entry_dot, the weights' gradient's
     * products (all n_features * n_slots long). */
    int32_t *entry_count, *entry_feature, *entry_slot;
    float *entry_value;
    float *entry_dot;
    unsigned char *active; /* n_features: non-zero somewhere in the batch */
    /* The batch of the step: its rows, their number, the lanes (a
     * multiple of 16), and 1 / the sum of their weights. */
    const int64_t *rows;
    Py_ssize_t n_rows, lanes;
    float inverse_weight;
    /* The batch that gather_task gathers (this one, or the next one while
     * this one's sums and Adam run), and its lanes. */
    const int64_t *gather_rows;
    Py_ssize_t gather_n_rows, gather_lanes;
    /* The lanes' share of a task of logits_task: spans of 16 * span_chunks. */
    Py_ssize_t span_chunks;
    /* (The threads read the job all along: nothing else on its lines.) */
    _Alignas(64) char end[1];
};

/* A block of features of the rows to gather, as lanes (the zero lanes
 * beyond the rows too), and which of them are non-zero somewhere in them:
 * sixteen rows at a time, a line of lanes written whole while sixteen rows
 * are read in step. */
WIDEST_VECTORS static void
gather_task(const struct student_job *job, Py_ssize_t task)
{
    const Py_ssize_t F = job->n_features, lanes = job->gather_lanes, n_rows = job->gather_n_rows;
    const int64_t *rows = job->gather_rows;
    const Py_ssize_t f0 = task * FEATURE_BLOCK;
    const Py_ssize_t f1 = f0 + FEATURE_BLOCK < F ? f0 + FEATURE_BLOCK : F;
    for (Py_ssize_t r0 = 0; r0 < lanes; r0 += LANES) {
        const float *src[LANES];
        for (int i = 0; i < LANES; i++) {
            src[i] = r0 + i < n_rows ? job->X + rows[r0 + i] * F : NULL;
        }
        for (Py_ssize_t f = f0; f < f1; f++) {
            float *dst = job->x + f * lanes + r0;
            for (int i = 0; i < LANES; i++) {
                dst[i] = src[i] != NULL ? src[i][f] : 0.0f;
            }
        }
    }
    for (Py_ssize_t f = f0; f < f1; f++) {
        const float *xf = job->x + f * lanes;
        int any = 0;
        for (Py_ssize_t r = 0; r < lanes; r++) {
            any |= xf[r] != 0.0f;
        }
        job->active[f] = (unsigned char)any;
    }
}

/* Row indices k0, k0 + 1, ... of a block of sixteen, the missing ones
 * pointing at the zero row `pad`. */
static inline __attribute__((always_inline)) void
block_index(int32_t *index, Py_ssize_t k0, Py_ssize_t n, Py_ssize_t pad)
{
    for (int i = 0; i < 16; i++) {
        index[i] = (int32_t)(k0 + i < n ? k0 + i : pad);
    }
}

/* The forward pass of a block of bits: each bit's slots of the batch's
 * active features with their signed weights, z (the projection minus the
 * threshold), each bit's scale, and the bits. */
WIDEST_VECTORS static void
forward_task(const struct student_job *job, Py_ssize_t task)
{
    const Py_ssize_t K = job->n_bits, lanes = job->lanes, n_rows = job->n_rows;
    const Py_ssize_t k0 = task * BIT_BLOCK, k1 = k0 + BIT_BLOCK < K ? k0 + BIT_BLOCK : K;
    const float *threshold = job->param[THRESHOLDS], *weight = job->param[SHARED_WEIGHTS];
    PHASE_START();
    for (Py_ssize_t k = k0; k < k1; k++) {
        /* Written whatever the feature, kept (n moves on) if it is active:
         * no branch to mispredict on MNIST's 25,088 slots. */
        const Py_ssize_t first = job->slot_start[k];
        Py_ssize_t n = first;
        for (Py_ssize_t q = first; q < job->slot_start[k + 1]; q++) {
            const int32_t e = job->slot_of[q], f = job->slot_feature[q];
            job->entry_feature[n] = f;
            job->entry_slot[n] = e;
            job->entry_value[n] = (float)job->signs[e] * weight[job->buckets[e]];
            n += job->active[f];
        }
        job->entry_count[k] = (int32_t)(n - first);
    }
    PHASE_END(PHASE_ENTRIES);
    for (Py_ssize_t k = k0; k < k1; k++) {
        const Py_ssize_t first = job->slot_start[k];
        combine_span(job->z + k * lanes, NULL, job->x, lanes, lanes, job->entry_feature + first,
                     job->entry_value + first, job->entry_count[k], 0.0f);
    }
    PHASE_END(PHASE_PROJECTION);
    /* The scale, from z before the threshold (the same spread). The zero
     * lanes add nothing to the means, and are masked out of the squares. */
    float16v mask;
    const Py_ssize_t full = n_rows / LANES * LANES;
    for (int i = 0; i < LANES; i++) {
        mask[i] = full + i < n_rows ? 1.0f : 0.0f;
    }
    int32_t index[16];
    float dots[16];
    block_index(index, k0, K, K);
    sixteen_dots(job->ones, job->z, index, lanes, dots);
    float16v mean, acc[16];
    memcpy(&mean, dots, sizeof mean);
    mean /= (float)n_rows;
    for (int i = 0; i < 16; i++) {
        const float *zk = job->z + (Py_ssize_t)index[i] * lanes;
        acc[i] = (float16v){0};
        for (Py_ssize_t r = 0; r < lanes; r += LANES) {
            float16v d;
            memcpy(&d, zk + r, sizeof d);
            d -= mean[i];
            if (r >= full) {
                d *= mask;
            }
            acc[i] += d * d;
        }
    }
    const float16v variance = transposed_totals(acc) / (float)n_rows;
    for (Py_ssize_t k = k0; k < k1; k++) {
        const float s = sqrtf(variance[k - k0]);
        job->scale[k] = s > 0.0f ? s : 1.0f;
        float *restrict zk = job->z + k * lanes;
        float *restrict bk = job->bit + k * lanes;
        const float t = threshold[k];
        for (Py_ssize_t r = 0; r < lanes; r++) {
            zk[r] -= t;
            bk[r] = zk[r] > 0.0f ? 1.0f : 0.0f;
        }
    }
    PHASE_END(PHASE_SCALE_BITS);
}

/* exp(x) of each lane, for x <= 0 (a logit minus the largest): Cephes'
 * expf (Moshier), about 1 ulp, in vectors so that the softmax does not
 * call the C library's expf lane by lane (a tenth of a step). Below -87
 * the result is that of -87 (1.6e-38), as good as 0 next to exp(0) = 1. */
static inline __attribute__((always_inline)) float16v
lanes_exp(const float16v *argument)
{
    float16v x = *argument;
    const float16v floor_x = (float16v){0} - 87.0f;
    const int16v low = x < floor_x;
    x = (float16v)((low & (int16v)floor_x) | (~low & (int16v)x));
    /* n = round(x / ln 2), by the 1.5 * 2**23 trick (round to nearest). */
    const float magic = 12582912.0f;
    float16v n = (x * 1.44269504088896341f + magic) - magic;
    float16v r = (x - n * 0.693359375f) - n * -2.12194440e-4f;
    float16v p = 1.9875691500e-4f * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = (p * (r * r) + r) + 1.0f;
    const int16v power = (__builtin_convertvector(n, int16v) + 127) << 23;
    return p * (float16v)power;
}

/* The logits of a span of lanes (every bit in order, the bias first), then
 * their softmax: each row's loss times its weight into row_loss, its
 * weight into row_correct if its largest logit is its class, and the
 * gradient of the logits (zero on the zero lanes). */
WIDEST_VECTORS static void
logits_task(const struct student_job *job, Py_ssize_t task)
{
    const Py_ssize_t K = job->n_bits, C = job->n_classes, lanes = job->lanes;
    const Py_ssize_t n_rows = job->n_rows;
    const Py_ssize_t r_start = task * job->span_chunks * LANES;
    const Py_ssize_t r_stop = r_start + job->span_chunks * LANES < lanes
                                  ? r_start + job->span_chunks * LANES
                                  : lanes;
    const float *W = job->param[LINEAR_WEIGHTS], *bias = job->param[LINEAR_BIAS];
    PHASE_START();
    /* A block of bits at a time, its rows in the first-level cache for
     * every class, each sum carried on from the block before. */
    for (Py_ssize_t k0 = 0; k0 < K; k0 += BIT_BLOCK) {
        const Py_ssize_t k1 = k0 + BIT_BLOCK < K ? k0 + BIT_BLOCK : K;
        for (Py_ssize_t c = 0; c < C; c++) {
            float *lc = job->logit + c * lanes + r_start;
            combine_span(lc, k0 == 0 ? NULL : lc, job->bit + r_start, lanes, r_stop - r_start,
                         job->iota + k0, W + c * K + k0, k1 - k0, bias[c]);
        }
    }
    PHASE_END(PHASE_LOGITS);
    const float inverse = job->inverse_weight;
    for (Py_ssize_t r0 = r_start; r0 < r_stop; r0 += LANES) {
        float16v top, coef;
        int16v label;
        memcpy(&top, job->logit + r0, sizeof top);
        for (Py_ssize_t c = 1; c < C; c++) {
            float16v l;
            memcpy(&l, job->logit + c * lanes + r0, sizeof l);
            const int16v above = l > top;
            top = (float16v)((above & (int16v)l) | (~above & (int16v)top));
        }
        for (int i = 0; i < LANES; i++) {
            const int in_batch = r0 + i < n_rows;
            label[i] = in_batch ? (int32_t)job->y[job->rows[r0 + i]] : 0;
            coef[i] = in_batch ? job->sample_weight[job->rows[r0 + i]] * job->loss_weight * inverse
                               : 0.0f;
        }
        float16v total = {0};
        for (Py_ssize_t c = 0; c < C; c++) {
            float16v l;
            memcpy(&l, job->logit + c * lanes + r0, sizeof l);
            const float16v shifted = l - top;
            const float16v e = lanes_exp(&shifted);
            memcpy(job->glogit + c * lanes + r0, &e, sizeof e);
            total += e;
        }
        for (int i = 0; i < LANES && r0 + i < n_rows; i++) {
            const float w = job->sample_weight[job->rows[r0 + i]];
            const float lse = top[i] + logf(total[i]);
            const float mine = job->logit[label[i] * lanes + r0 + i];
            job->row_loss[r0 + i] = (double)w * (double)(lse - mine);
            job->row_correct[r0 + i] = mine == top[i] ? (double)w : 0.0;
        }
        const float16v share = 1.0f / total;
        for (Py_ssize_t c = 0; c < C; c++) {
            float16v e, one;
            memcpy(&e, job->glogit + c * lanes + r0, sizeof e);
            one = (float16v)((label == (int32_t)c) & (int16v)((float16v){0} + 1.0f));
            const float16v g = (e * share - one) * coef;
            memcpy(job->glogit + c * lanes + r0, &g, sizeof g);
        }
    }
    PHASE_END(PHASE_SOFTMAX);
}

/* out[slot[i]] = the lanes' dot product of the slot's feature and z's
 * gradient at bit_of[i], for i < n (n <= 16; x's and gz's zero rows
 * pad). */
static inline __attribute__((always_inline)) void
pair_dots_of(const struct student_job *job, const int32_t *slot, const int32_t *bit_of, int n,
             float *out)
{
    int32_t a_index[16], b_index[16];
    float dots[16];
    for (int i = 0; i < 16; i++) {
        a_index[i] = i < n ? job->entry_feature[slot[i]] : (int32_t)job->n_features;
        b_index[i] = i < n ? bit_of[i] : (int32_t)job->n_bits;
    }
    sixteen_pair_dots(job->x, a_index, job->gz, b_index, job->lanes, dots);
    for (int i = 0; i < n; i++) {
        out[slot[i]] = dots[i];
    }
}

/* The gradients of a block of bits from that of the logits: the linear
 * layer's weights of those bits, the bits' (through the straight-through
 * estimator), the thresholds', and the products of the shared weights'
 * (entry_dot; step_gradients adds them up). */
WIDEST_VECTORS static void
backward_task(const struct student_job *job, Py_ssize_t task)
{
    const Py_ssize_t K = job->n_bits, C = job->n_classes, lanes = job->lanes;
    const Py_ssize_t k0 = task * BIT_BLOCK, k1 = k0 + BIT_BLOCK < K ? k0 + BIT_BLOCK : K;
    const float *W = job->param[LINEAR_WEIGHTS];
    float *g_threshold = job->grad[THRESHOLDS], *g_W = job->grad[LINEAR_WEIGHTS];
    int32_t index[16];
    float dots[16];
    PHASE_START();
    block_index(index, k0, K, K);
    /* The linear layer's: each class's gradient dotted with the bits. */
    for (Py_ssize_t c = 0; c < C; c++) {
        sixteen_dots(job->glogit + c * lanes, job->bit, index, lanes, dots);
        for (Py_ssize_t k = k0; k < k1; k++) {
            g_W[c * K + k] = dots[k - k0];
        }
    }
    PHASE_END(PHASE_LINEAR_GRAD);
    /* The bits', then z's through the straight-through estimator:
     * |z / s| <= 1 as |z| <= s, and a product with 1 / s. */
    for (Py_ssize_t k = k0; k < k1; k++) {
        for (Py_ssize_t c = 0; c < C; c++) {
            job->W_t[k * C + c] = W[c * K + k];
        }
        float *restrict gk = job->gz + k * lanes;
        const float *restrict zk = job->z + k * lanes;
        const float s = job->scale[k], inverse = 1.0f / s;
        combine_span(gk, NULL, job->glogit, lanes, lanes, job->iota, job->W_t + k * C, C, 0.0f);
        for (Py_ssize_t r = 0; r < lanes; r++) {
            gk[r] = fabsf(zk[r]) <= s ? gk[r] * inverse : 0.0f;
        }
    }
    PHASE_END(PHASE_BITS_GRAD);
    /* The thresholds': minus the sums of z's gradient. */
    sixteen_dots(job->ones, job->gz, index, lanes, dots);
    for (Py_ssize_t k = k0; k < k1; k++) {
        g_threshold[k] = -dots[k - k0];
    }
    PHASE_END(PHASE_THRESHOLD_GRAD);
    /* The shared weights' products: each slot's feature dotted with z's
     * gradient at its bit. A bit with sixteen slots or more has its
     * gradient row read once for sixteen of them; the rest are taken
     * sixteen at a time across the block's bits (x's zero row pads the
     * last). */
    int32_t pending[16], bit_of[16];
    int n_pending = 0;
    for (Py_ssize_t k = k0; k < k1; k++) {
        Py_ssize_t q = job->slot_start[k];
        const Py_ssize_t end = q + job->entry_count[k];
        for (; q + 16 <= end; q += 16) {
            sixteen_dots(job->gz + k * lanes, job->x, job->entry_feature + q, lanes,
                         job->entry_dot + q);
        }
        for (; q < end; q++) {
            pending[n_pending] = (int32_t)q;
            bit_of[n_pending] = (int32_t)k;
            if (++n_pending == 16) {
                pair_dots_of(job, pending, bit_of, 16, job->entry_dot);
                n_pending = 0;
            }
        }
    }
    if (n_pending > 0) {
        pair_dots_of(job, pending, bit_of, n_pending, job->entry_dot);
    }
    PHASE_END(PHASE_WEIGHT_GRAD);
}

/* What a step adds up on one thread once the tasks are done: the batch's
 * loss and right rows into sums (row by row, as one loop would), the
 * bias's gradient, and the shared weights': their products added bit by
 * bit, then in the order of the slots. */
WIDEST_VECTORS static void
step_sums(const struct student_job *job, double *sums)
{
    double loss = 0.0, correct = 0.0;
    for (Py_ssize_t r = 0; r < job->n_rows; r++) {
        loss += job->row_loss[r];
        correct += job->row_correct[r];
    }
    /* The batch's mean loss, times its weight, as the epoch's mean adds it. */
    sums[0] += (double)job->loss_weight * loss;
    sums[2] += correct;
    for (Py_ssize_t c = 0; c < job->n_classes; c++) {
        job->grad[LINEAR_BIAS][c] = lanes_dot(job->glogit + c * job->lanes, job->ones, job->lanes);
    }
    float *g_weight = job->grad[SHARED_WEIGHTS];
    memset(g_weight, 0, sizeof(float) * (size_t)job->size[SHARED_WEIGHTS]);
    for (Py_ssize_t k = 0; k < job->n_bits; k++) {
        const Py_ssize_t first = job->slot_start[k], end = first + job->entry_count[k];
        for (Py_ssize_t q = first; q < end; q++) {
            const int32_t e = job->entry_slot[q];
            g_weight[job->buckets[e]] += (float)job->signs[e] * job->entry_dot[q];
        }
    }
}

/* Adam's step on one parameter: DenseAdam's moments (torch's lerp_ and
 * addcmul_ roundings), then the update with the correctly rounded square
 * root (torch's differs from it in the last bit for some values). */
WIDEST_VECTORS static void
adam_lanes(float *restrict p, float *restrict m, float *restrict v, const float *restrict g,
           Py_ssize_t n, float weight1, float beta2, float weight2, float bias_correction2_sqrt,
           float eps, float step)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        const float gi = g[i];
        m[i] = fmaf(weight1, gi - m[i], m[i]);
        v[i] = fmaf(weight2 * gi, gi, v[i] * beta2);
        const float denom = sqrtf(v[i]) / bias_correction2_sqrt + eps;
        p[i] = p[i] + (step * m[i]) / denom;
    }
}

static void
adam_all(const struct student_job *job, long long step_count)
{
    /* As DenseAdam computes them, in double, then rounded to float32 as
     * its float arguments are. */
    const double t = (double)step_count;
    const double bias_correction1 = 1.0 - pow(job->beta1, t);
    const double bias_correction2_sqrt = sqrt(1.0 - pow(job->beta2, t));
    for (int i = 0; i < N_PARAMS; i++) {
        adam_lanes(job->param[i], job->m[i], job->v[i], job->grad[i], job->size[i],
                   (float)(1.0 - job->beta1), (float)job->beta2, (float)(1.0 - job->beta2),
                   (float)bias_correction2_sqrt, (float)job->eps,
                   (float)(-(job->lr[i] / bias_correction1)));
    }
}

/* Threads. A step's phases are cut into tasks (blocks of features, of
 * bits, spans of lanes) that write apart from one another, and a thread
 * takes the next task left: every number is computed as on one thread,
 * so the model does not depend on the number of threads. The calling
 * thread runs the step and takes tasks too; helpers only take tasks.
 *
 * The helpers are started once and kept (a fit calls student_epoch once
 * an epoch, and starting and joining a thread at each call cost 50 us, a
 * sixth of a digits epoch): between calls a helper spins a while, then
 * yields its core at each look, then sleeps until the next phase opens.
 * One word says which phase is open (its generation), how many tasks it
 * has and the next one to take, so that a helper late for a phase cannot
 * take a task of the next. On a machine where another process keeps a
 * core busy, waiting must not take that core's time: a waiting thread
 * yields after a few microseconds, a call whose phases keep waiting long
 * for a helper finishes on its own thread, and the steps go without the
 * helpers where that is faster (pace_choose). */
#if defined(__unix__) || defined(__APPLE__)
#define STUDENT_EPOCH_THREADS 1
#endif

typedef void (*task_fn)(const struct student_job *, Py_ssize_t);

#ifdef STUDENT_EPOCH_THREADS
#include <pthread.h>
#include <sched.h>
#include <time.h>

#define MAX_HELPERS 7
/* How long a waiting thread spins before it yields at each look, and how
 * long an idle helper yields before it sleeps (seconds). */
#define SPIN_SECONDS 20e-6
#define IDLE_SECONDS 500e-6
/* Phases in which the calling thread had to yield while a helper finished
 * a task, before it does the rest of the call alone. */
#define SLOW_PHASES_BEFORE_ALONE 16

/* The word that waiting threads read, the count that the calling thread
 * reads and the rest each on a cache line of their own: a thread that
 * writes one does not take the others' lines away from the readers. */
static struct team {
    _Alignas(64) uint64_t word; /* generation << 32 | tasks << 16 | next task */
    _Alignas(64) uint32_t done; /* tasks of the open phase finished */
    _Alignas(64) task_fn fn;    /* the open phase's */
    const struct student_job *job;
    int n_active;  /* helpers 0 .. n_active - 1 take tasks in this call */
    int sleepers;  /* helpers asleep on `wake` */
    int n_started; /* helpers running (in this process) */
    uint32_t generation; /* the calling thread's count */
    int slow_phases;
    _Alignas(64) char end[1];
} team;
/* Tasks the helpers have taken (for the tests: student_epoch_helped). */
static struct {
    _Alignas(64) uint64_t tasks;
    _Alignas(64) char end[1];
} helped;
/* Held by the call that uses the helpers (another call at the same time
 * runs on its own thread). */
static pthread_mutex_t team_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t sleep_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;

static double
team_clock(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static inline uint32_t
open_generation(void)
{
    return (uint32_t)(__atomic_load_n(&team.word, __ATOMIC_SEQ_CST) >> 32);
}

/* One look of a waiting thread that has waited since `since`. */
static inline void
team_pause(double since, unsigned *looks)
{
    if ((++*looks & 63) == 0 && team_clock() - since > SPIN_SECONDS) {
        sched_yield();
        return;
    }
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* Take and run tasks of phase `generation`, the next one left each time,
 * until none is left; the number taken. (Taking them from the two ends,
 * the calling thread from the first and the helpers from the last, so
 * that each thread would find its blocks' rows in its own cache in the
 * next phase, made a digits step twice as long: benchmarks/SPEED.md,
 * "Thirteenth session".) */
static int
team_take(uint32_t generation)
{
    uint64_t word = __atomic_load_n(&team.word, __ATOMIC_ACQUIRE);
    int taken = 0;
    for (;;) {
        if ((uint32_t)(word >> 32) != generation || (word & 0xffff) >= ((word >> 16) & 0xffff)) {
            return taken;
        }
        if (__atomic_compare_exchange_n(&team.word, &word, word + 1, 0, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE)) {
            /* The phase stays open until this task is done: fn is its. */
            const task_fn fn = __atomic_load_n(&team.fn, __ATOMIC_RELAXED);
            fn(team.job, (Py_ssize_t)(word & 0xffff));
            taken++;
            __atomic_fetch_add(&team.done, 1, __ATOMIC_RELEASE);
            word = __atomic_load_n(&team.word, __ATOMIC_ACQUIRE);
        }
    }
}

static void *
team_helper(void *argument)
{
    const int me = (int)(intptr_t)argument;
    uint32_t seen = open_generation();
    for (;;) {
        const double since = team_clock();
        unsigned looks = 0;
        while (open_generation() == seen) {
            team_pause(since, &looks);
            if ((looks & 63) == 0 && team_clock() - since > IDLE_SECONDS) {
                pthread_mutex_lock(&sleep_lock);
                __atomic_fetch_add(&team.sleepers, 1, __ATOMIC_SEQ_CST);
                while (open_generation() == seen) {
                    pthread_cond_wait(&wake, &sleep_lock);
                }
                __atomic_fetch_sub(&team.sleepers, 1, __ATOMIC_SEQ_CST);
                pthread_mutex_unlock(&sleep_lock);
            }
        }
        seen = open_generation();
        if (me < __atomic_load_n(&team.n_active, __ATOMIC_ACQUIRE)) {
            __atomic_fetch_add(&helped.tasks, team_take(seen), __ATOMIC_RELAXED);
        }
    }
    return NULL;
}

/* A forked child has none of its parent's helpers. */
static void
team_forget(void)
{
    team.n_started = team.n_active = team.sleepers = 0;
    pthread_mutex_init(&team_lock, NULL);
    pthread_mutex_init(&sleep_lock, NULL);
    pthread_cond_init(&wake, NULL);
}

/* Enlist up to n_helpers helpers for this call (starting those not yet
 * running), if no other call has them: the number enlisted. */
static int
team_start(const struct student_job *job, int n_helpers)
{
    static int atfork_done = 0;
    n_helpers = n_helpers < MAX_HELPERS ? n_helpers : MAX_HELPERS;
    if (n_helpers <= 0 || pthread_mutex_trylock(&team_lock) != 0) {
        return 0;
    }
    if (!atfork_done) {
        atfork_done = pthread_atfork(NULL, NULL, team_forget) == 0;
    }
    for (; team.n_started < n_helpers; team.n_started++) {
        pthread_t thread;
        pthread_attr_t attributes;
        pthread_attr_init(&attributes);
        pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
        const int failed = pthread_create(&thread, &attributes, team_helper,
                                          (void *)(intptr_t)team.n_started);
        pthread_attr_destroy(&attributes);
        if (failed) {
            break;
        }
    }
    team.job = job;
    team.slow_phases = 0;
    const int n = n_helpers < team.n_started ? n_helpers : team.n_started;
    __atomic_store_n(&team.n_active, n, __ATOMIC_RELEASE);
    if (n == 0) {
        pthread_mutex_unlock(&team_lock);
    }
    return n;
}

static void
team_stop(int n_enlisted)
{
    if (n_enlisted > 0) {
        __atomic_store_n(&team.n_active, 0, __ATOMIC_RELEASE);
        pthread_mutex_unlock(&team_lock);
    }
}

/* Open a phase of n_tasks tasks for the helpers to take: 1, or 0 where
 * the call runs alone (or the phase has one task), and team_finish runs
 * them all. */
static int
team_open(int n_enlisted, task_fn fn, Py_ssize_t n_tasks)
{
    if (n_enlisted == 0 || __atomic_load_n(&team.n_active, __ATOMIC_RELAXED) == 0 || n_tasks <= 1 ||
        n_tasks > 0xffff) {
        return 0;
    }
    const uint32_t generation = ++team.generation;
    __atomic_store_n(&team.fn, fn, __ATOMIC_RELAXED);
    __atomic_store_n(&team.done, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&team.word, ((uint64_t)generation << 32) | ((uint64_t)n_tasks << 16),
                     __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&team.sleepers, __ATOMIC_SEQ_CST) > 0) {
        pthread_mutex_lock(&sleep_lock);
        pthread_cond_broadcast(&wake);
        pthread_mutex_unlock(&sleep_lock);
    }
    return 1;
}

/* Take the tasks of the phase that are left (all of them where it was not
 * opened), and wait for the helpers' to be done. */
static void
team_finish(const struct student_job *job, int opened, task_fn fn, Py_ssize_t n_tasks)
{
    if (!opened) {
        for (Py_ssize_t t = 0; t < n_tasks; t++) {
            fn(job, t);
        }
        return;
    }
    team_take(team.generation);
    const double since = team_clock();
    unsigned looks = 0;
    while (__atomic_load_n(&team.done, __ATOMIC_ACQUIRE) != (uint32_t)n_tasks) {
        team_pause(since, &looks);
    }
    if (looks > 0 && team_clock() - since > SPIN_SECONDS &&
        ++team.slow_phases >= SLOW_PHASES_BEFORE_ALONE) {
        /* The rest of the call on this thread alone. */
        __atomic_store_n(&team.n_active, 0, __ATOMIC_RELEASE);
    }
}

/* Whether the helpers help: a second core is not always a second core's
 * worth (another process may run on it, a virtual machine's two cores
 * may share one, their caches pass rows between them), and a step's
 * numbers do not depend on it, so the steps are timed both ways and go
 * the faster one, by the time a lane took in the recent steps of each
 * way. The last PACE_PROBE steps of every PACE_PERIOD go the other way,
 * the first period ending after PACE_FIRST_TRIAL steps (a fit whose
 * second core was taken ran 250 steps on it before its first trial);
 * a way's first PACE_SETTLE steps after a change are not counted (its
 * rows are in the other core's caches, or its helpers asleep: a single
 * step with the helpers after thirty without them took twice as long as
 * the steps after it). The count carries on from call to call (a fit
 * calls once an epoch) and starts anew, with the helpers, for a model of
 * another shape. (The steps of two fits at once share it: they only
 * choose worse.) */
#define PACE_PERIOD 256
#define PACE_PROBE 8
#define PACE_SETTLE 4
#define PACE_FIRST_TRIAL 24
/* The weight left to the older steps at each new one. */
#define PACE_MEMORY 0.75
static struct pace {
    double seconds[2], lanes[2]; /* alone, with the helpers */
    long long steps;
    int faster;     /* 1: with the helpers */
    int last, run;  /* the last step's way, and the steps in a row it went */
    Py_ssize_t shape[3]; /* n_features, n_bits, n_classes */
} pace;

static void
pace_shape(Py_ssize_t n_features, Py_ssize_t n_bits, Py_ssize_t n_classes)
{
    if (pace.shape[0] != n_features || pace.shape[1] != n_bits || pace.shape[2] != n_classes) {
        memset(&pace, 0, sizeof pace);
        pace.faster = 1;
        pace.shape[0] = n_features;
        pace.shape[1] = n_bits;
        pace.shape[2] = n_classes;
    }
}

/* Where the steps taken so far end in the period. */
static int
pace_position(void)
{
    return (int)((pace.steps + PACE_PERIOD - PACE_FIRST_TRIAL) % PACE_PERIOD);
}

static int
pace_choose(int n_enlisted)
{
    if (n_enlisted == 0 || __atomic_load_n(&team.n_active, __ATOMIC_RELAXED) == 0) {
        return 0;
    }
    return pace_position() >= PACE_PERIOD - PACE_PROBE ? !pace.faster : pace.faster;
}

static void
pace_add(int with_team, double seconds, Py_ssize_t lanes)
{
    pace.run = with_team == pace.last ? pace.run + 1 : 1;
    pace.last = with_team;
    if (pace.run > PACE_SETTLE) {
        pace.seconds[with_team] = PACE_MEMORY * pace.seconds[with_team] + seconds;
        pace.lanes[with_team] = PACE_MEMORY * pace.lanes[with_team] + (double)lanes;
    }
    pace.steps++;
    const int in_period = pace_position();
    /* Decided at the end of a trial of the other way, and along the
     * counted steps of the faster one. */
    if (pace.lanes[0] > 0 && pace.lanes[1] > 0 &&
        (in_period == 0 || (in_period > PACE_SETTLE && in_period <= PACE_PERIOD - PACE_PROBE))) {
        pace.faster = pace.seconds[1] * pace.lanes[0] < pace.seconds[0] * pace.lanes[1];
    }
}
#else
/* One thread (no POSIX threads here): no helpers are ever enlisted, so no
 * phase is opened or timed, and team_finish runs every task in order. */
#define team_clock() 0.0
#define pace_shape(n_features, n_bits, n_classes) ((void)(n_features), (void)(n_bits), (void)(n_classes))
#define pace_choose(n_enlisted) ((void)(n_enlisted), 0)
#define pace_add(with_team, seconds, lanes) ((void)(with_team), (void)(seconds), (void)(lanes))
#define team_start(job, n_helpers) ((void)(job), (void)(n_helpers), 0)
#define team_stop(n_enlisted) ((void)(n_enlisted))
#define team_open(n_enlisted, fn, n_tasks) ((void)(n_enlisted), (void)(n_tasks), 0)

static void
team_finish(const struct student_job *job, int opened, task_fn fn, Py_ssize_t n_tasks)
{
    (void)opened;
    for (Py_ssize_t t = 0; t < n_tasks; t++) {
        fn(job, t);
    }
}
#endif

/* fn(job, task) for every task < n_tasks, on the enlisted threads; back
 * when all are done. */
static void
team_run(const struct student_job *job, int n_enlisted, task_fn fn, Py_ssize_t n_tasks)
{
    team_finish(job, team_open(n_enlisted, fn, n_tasks), fn, n_tasks);
}

/* student_epoch(X, order, y, sample_weight, bits, signs, buckets,
 *               weight, threshold, W, bias, moments, sums,
 *               batch_size, first_step, lr_projection, lr_linear,
 *               beta1, beta2, eps, loss_weight, between[, n_threads])
 *
 * Training steps on the rows order[0:batch_size], order[batch_size:...],
 * ...: X float32 (n_samples x n_features, C order); y int64 class indices
 * and sample_weight float32 (n_samples); the projection's structure bits,
 * buckets int32 and signs int8 (n_features x n_slots); the parameters
 * (float32, written): weight (the shared weights), threshold (n_bits), W
 * (n_classes x n_bits), bias (n_classes); moments, a sequence of the
 * eight Adam moments (float32, written), first and second of each
 * parameter in that order; sums (4 float64, added to): each batch's mean
 * loss times its weight, the weight, the weight of the rows predicted
 * right, and the number of steps taken. The steps are numbered from
 * first_step + 1, Adam's step count. between, a callable or None, is
 * called before each batch, with the GIL: if it raises, the steps stop
 * there and its exception is raised (sums says how many were taken).
 * n_threads (default 1): the threads to share each step's work, the
 * calling one included; the numbers do not depend on it. Returns whether
 * every parameter is finite after the steps.
 */
#ifdef STUDENT_EPOCH_TIMERS
/* student_epoch_phases(): the seconds of each phase since the last call
 * (in the order of the PHASE_ names), and the steps taken. */
static PyObject *
student_epoch_phases(PyObject *self, PyObject *args)
{
    (void)self;
    (void)args;
    PyObject *phases = PyList_New(N_PHASES);
    for (int i = 0; phases != NULL && i < N_PHASES; i++) {
        PyList_SET_ITEM(phases, i, PyFloat_FromDouble(phase_seconds[i]));
    }
    memset(phase_seconds, 0, sizeof phase_seconds);
    return phases;
}
#endif

/* student_epoch_helped(): the tasks the helper threads have taken since
 * the module was loaded (0 where there are none). */
static PyObject *
student_epoch_helped(PyObject *self, PyObject *args)
{
    (void)self;
    (void)args;
#ifdef STUDENT_EPOCH_THREADS
    return PyLong_FromUnsignedLongLong(__atomic_load_n(&helped.tasks, __ATOMIC_RELAXED));
#else
    return PyLong_FromLong(0);
#endif
}

static PyObject *
student_epoch(PyObject *self, PyObject *args)
{
    (void)self;
    Py_buffer b_X = {0}, b_order = {0}, b_y = {0}, b_sw = {0}, b_bits = {0}, b_signs = {0};
    Py_buffer b_buckets = {0}, b_sums = {0}, b_param[N_PARAMS] = {{0}}, b_moment[2 * N_PARAMS] = {{0}};
    PyObject *moments, *between;
    Py_ssize_t batch_size;
    long long first_step;
    double lr_projection, lr_linear, beta1, beta2, eps;
    float loss_weight;
    int n_threads = 1;
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*y*y*w*w*w*w*Ow*nLdddddfO|i", &b_X, &b_order, &b_y,
                          &b_sw, &b_bits, &b_signs, &b_buckets, &b_param[0], &b_param[1],
                          &b_param[2], &b_param[3], &moments, &b_sums, &batch_size, &first_step,
                          &lr_projection, &lr_linear, &beta1, &beta2, &eps, &loss_weight,
                          &between, &n_threads)) {
        return NULL;
    }
    PyObject *result = NULL;
    struct student_job job;
    memset(&job, 0, sizeof job);
    void *work = NULL;
    Py_ssize_t n_moments = 0;
    if (n_threads < 1) {
        PyErr_SetString(PyExc_ValueError, "n_threads must be at least 1");
        goto done;
    }
    if (between != Py_None && !PyCallable_Check(between)) {
        PyErr_SetString(PyExc_TypeError, "between must be callable or None");
        goto done;
    }
    if (!PySequence_Check(moments) || PySequence_Size(moments) != 2 * N_PARAMS) {
        PyErr_SetString(PyExc_TypeError, "moments must be a sequence of 8 buffers");
        goto done;
    }
    for (; n_moments < 2 * N_PARAMS; n_moments++) {
        PyObject *item = PySequence_GetItem(moments, n_moments);
        if (item == NULL) {
            goto done;
        }
        int failed = PyObject_GetBuffer(item, &b_moment[n_moments], PyBUF_WRITABLE | PyBUF_FORMAT);
        Py_DECREF(item);
        if (failed) {
            goto done;
        }
    }
    if (check_buffer(&b_X, "X", 4, 4) || check_buffer(&b_order, "order", 8, 8) ||
        check_buffer(&b_y, "y", 8, 8) || check_buffer(&b_sw, "sample_weight", 4, 4) ||
        check_buffer(&b_bits, "bits", 4, 4) || check_buffer(&b_signs, "signs", 1, 1) ||
        check_buffer(&b_buckets, "buckets", 4, 4) || check_buffer(&b_sums, "sums", 8, 8)) {
        goto done;
    }
    for (int i = 0; i < N_PARAMS; i++) {
        if (check_buffer(&b_param[i], "a parameter", 4, 4) ||
            check_buffer(&b_moment[2 * i], "a moment", 4, 4) ||
            check_buffer(&b_moment[2 * i + 1], "a moment", 4, 4)) {
            goto done;
        }
        job.param[i] = b_param[i].buf;
        job.m[i] = b_moment[2 * i].buf;
        job.v[i] = b_moment[2 * i + 1].buf;
        job.size[i] = b_param[i].len / 4;
        if (b_moment[2 * i].len != b_param[i].len || b_moment[2 * i + 1].len != b_param[i].len) {
            PyErr_SetString(PyExc_ValueError, "a moment is not the size of its parameter");
            goto done;
        }
    }
    const Py_ssize_t n_samples = b_y.len / 8, n_rows = b_order.len / 8;
    const Py_ssize_t n_bits = job.size[THRESHOLDS], n_classes = job.size[LINEAR_BIAS];
    const Py_ssize_t n_weights = job.size[SHARED_WEIGHTS];
    if (n_samples == 0 || n_bits == 0 || n_classes == 0 || b_X.len % (4 * n_samples) != 0 ||
        b_sw.len != 4 * n_samples || job.size[LINEAR_WEIGHTS] != n_bits * n_classes ||
        b_sums.len != 4 * 8 || batch_size <= 0) {
        PyErr_SetString(PyExc_ValueError, "student_epoch: inconsistent sizes");
        goto done;
    }
    const Py_ssize_t n_features = b_X.len / 4 / n_samples;
    if (n_features == 0 || b_bits.len % (4 * n_features) != 0 || b_signs.len * 4 != b_bits.len ||
        b_buckets.len != b_bits.len) {
        PyErr_SetString(PyExc_ValueError, "student_epoch: the structure is not n_features rows");
        goto done;
    }
    const Py_ssize_t n_slots = b_bits.len / 4 / n_features;
    const int64_t *order = b_order.buf, *y = b_y.buf;
    const int32_t *bits = b_bits.buf, *buckets = b_buckets.buf;
    for (Py_ssize_t i = 0; i < n_rows; i++) {
        if (order[i] < 0 || order[i] >= n_samples) {
            PyErr_SetString(PyExc_ValueError, "student_epoch: a row of order is out of range");
            goto done;
        }
    }
    for (Py_ssize_t i = 0; i < n_samples; i++) {
        if (y[i] < 0 || y[i] >= n_classes) {
            PyErr_SetString(PyExc_ValueError, "student_epoch: a class index is out of range");
            goto done;
        }
    }
    for (Py_ssize_t e = 0; e < n_features * n_slots; e++) {
        if (bits[e] < 0 || bits[e] >= n_bits || buckets[e] < 0 || buckets[e] >= n_weights) {
            PyErr_SetString(PyExc_ValueError, "student_epoch: a bit or weight index is out of range");
            goto done;
        }
    }
    job.X = b_X.buf;
    job.y = y;
    job.sample_weight = b_sw.buf;
    job.signs = b_signs.buf;
    job.buckets = buckets;
    job.n_features = n_features;
    job.n_slots = n_slots;
    job.n_bits = n_bits;
    job.n_classes = n_classes;
    job.lr[SHARED_WEIGHTS] = job.lr[THRESHOLDS] = lr_projection;
    job.lr[LINEAR_WEIGHTS] = job.lr[LINEAR_BIAS] = lr_linear;
    job.beta1 = beta1;
    job.beta2 = beta2;
    job.eps = eps;
    job.loss_weight = loss_weight;
    const Py_ssize_t most = batch_size < n_rows ? batch_size : n_rows;
    const Py_ssize_t L = (most + LANES - 1) / LANES * LANES, E = n_features * n_slots;
    const Py_ssize_t n_iota = n_bits + n_classes + 16;
    /* Two rows of doubles first (4 * L floats' room, on the cache line). */
    const size_t n_floats = (size_t)(4 * L + (n_features + 1) * L + 3 * (n_bits + 1) * L +
                                     2 * n_classes * L + L + n_bits + n_bits * n_classes + 2 * E +
                                     n_weights + n_bits + n_classes * n_bits + n_classes);
    const size_t n_ints = (size_t)(2 * n_bits + 1 + 4 * E + n_iota);
    /* 64 bytes more, to start the rows of lanes on a cache line: a
     * vector that straddles two lines costs two loads (a step took 20%
     * longer in a process whose block was not aligned so). Not zeroed
     * (that was a tenth of a digits epoch): every array is written before
     * it is read, but for the counts and the rows of zeros below. */
    work = PyMem_Malloc(n_floats * sizeof(float) + n_ints * sizeof(int32_t) +
                        (size_t)n_features + 64);
    if (work == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    float *next = (float *)(((uintptr_t)work + 63) & ~(uintptr_t)63);
#define TAKE(N) (next += (N), next - (N))
    job.row_loss = (double *)TAKE(2 * L);
    job.row_correct = (double *)TAKE(2 * L);
    job.x = TAKE((n_features + 1) * L);
    job.z = TAKE((n_bits + 1) * L);
    job.bit = TAKE((n_bits + 1) * L);
    job.gz = TAKE((n_bits + 1) * L);
    job.logit = TAKE(n_classes * L);
    job.glogit = TAKE(n_classes * L);
    job.ones = TAKE(L);
    job.scale = TAKE(n_bits);
    job.W_t = TAKE(n_bits * n_classes);
    job.entry_value = TAKE(E);
    job.entry_dot = TAKE(E);
    job.grad[SHARED_WEIGHTS] = TAKE(n_weights);
    job.grad[THRESHOLDS] = TAKE(n_bits);
    job.grad[LINEAR_WEIGHTS] = TAKE(n_classes * n_bits);
    job.grad[LINEAR_BIAS] = TAKE(n_classes);
#undef TAKE
    int32_t *ints = (int32_t *)next;
    int32_t *slot_start = ints, *slot_of = ints + n_bits + 1, *slot_feature = slot_of + E;
    int32_t *iota = slot_feature + E;
    memset(slot_start, 0, sizeof(int32_t) * (size_t)(n_bits + 1));
    job.entry_count = iota + n_iota;
    job.entry_feature = job.entry_count + n_bits;
    job.entry_slot = job.entry_feature + E;
    job.active = (unsigned char *)(job.entry_slot + E);
    for (Py_ssize_t r = 0; r < L; r++) {
        job.ones[r] = 1.0f;
    }
    for (Py_ssize_t i = 0; i < n_iota; i++) {
        iota[i] = (int32_t)i;
    }
    /* Each bit's slots in the order of (feature, slot): a counting sort. */
    for (Py_ssize_t e = 0; e < E; e++) {
        slot_start[bits[e] + 1]++;
    }
    for (Py_ssize_t k = 0; k < n_bits; k++) {
        slot_start[k + 1] += slot_start[k];
    }
    int32_t *cursor = job.entry_count; /* free until the first step */
    memcpy(cursor, slot_start, sizeof(int32_t) * (size_t)n_bits);
    for (Py_ssize_t e = 0; e < E; e++) {
        const int32_t q = cursor[bits[e]]++;
        slot_of[q] = (int32_t)e;
        slot_feature[q] = (int32_t)(e / n_slots);
    }
    job.slot_start = slot_start;
    job.slot_of = slot_of;
    job.slot_feature = slot_feature;
    job.iota = iota;
    double *sums = b_sums.buf;
    int stopped = 0;
    long long step = first_step;
    const int n_enlisted = team_start(&job, n_threads - 1);
    if (n_enlisted > 0) {
        pace_shape(n_features, n_bits, n_classes);
    }
    for (Py_ssize_t start = 0; start < n_rows; start += batch_size) {
        /* Python's say before each batch (an interrupt stops here). */
        if (between != Py_None) {
            PyObject *answer = PyObject_CallNoArgs(between);
            Py_XDECREF(answer);
            if (answer == NULL) {
                stopped = 1;
                break;
            }
        }
        const Py_ssize_t n = n_rows - start < batch_size ? n_rows - start : batch_size;
        job.rows = order + start;
        job.n_rows = n;
        job.lanes = (n + LANES - 1) / LANES * LANES;
        double weight_sum = 0.0;
        for (Py_ssize_t r = 0; r < n; r++) {
            weight_sum += job.sample_weight[job.rows[r]];
        }
        job.inverse_weight = (float)(1.0 / weight_sum);
        /* The rows of zeros that pad blocks of sixteen, at this batch's stride. */
        const size_t row_bytes = sizeof(float) * (size_t)job.lanes;
        memset(job.x + n_features * job.lanes, 0, row_bytes);
        memset(job.z + n_bits * job.lanes, 0, row_bytes);
        memset(job.bit + n_bits * job.lanes, 0, row_bytes);
        memset(job.gz + n_bits * job.lanes, 0, row_bytes);
        const int helpers = pace_choose(n_enlisted) ? n_enlisted : 0;
        /* As many spans of lanes as threads (each gets one). */
        const Py_ssize_t n_chunks = job.lanes / LANES, n_team = (Py_ssize_t)helpers + 1;
        job.span_chunks = (n_chunks + n_team - 1) / n_team;
        const Py_ssize_t n_spans = (n_chunks + job.span_chunks - 1) / job.span_chunks;
        const Py_ssize_t n_bit_blocks = (n_bits + BIT_BLOCK - 1) / BIT_BLOCK;
        const Py_ssize_t n_gather = (n_features + FEATURE_BLOCK - 1) / FEATURE_BLOCK;
        const Py_ssize_t next = start + batch_size;
        Py_BEGIN_ALLOW_THREADS
        const double step_start = n_enlisted > 0 ? team_clock() : 0.0;
        PHASE_START();
        if (start == 0) { /* (the later ones are gathered during the step before) */
            job.gather_rows = job.rows;
            job.gather_n_rows = n;
            job.gather_lanes = job.lanes;
            team_run(&job, helpers, gather_task, n_gather);
        }
        PHASE_END(PHASE_GATHER);
        team_run(&job, helpers, forward_task, n_bit_blocks);
        team_run(&job, helpers, logits_task, n_spans);
        team_run(&job, helpers, backward_task, n_bit_blocks);
        /* x is free: the next batch's rows are gathered by the helpers while
         * this thread adds up this one's gradients and takes Adam's step. */
        int opened = 0;
        if (next < n_rows) {
            job.gather_rows = order + next;
            job.gather_n_rows = n_rows - next < batch_size ? n_rows - next : batch_size;
            job.gather_lanes = (job.gather_n_rows + LANES - 1) / LANES * LANES;
            opened = team_open(helpers, gather_task, n_gather);
        }
        PHASE_RESTART();
        step_sums(&job, sums);
        sums[1] += weight_sum;
        adam_all(&job, ++step);
        PHASE_END(PHASE_ADAM);
        if (next < n_rows) {
            team_finish(&job, opened, gather_task, n_gather);
            PHASE_END(PHASE_GATHER);
        }
        if (n_enlisted > 0) {
            pace_add(helpers > 0, team_clock() - step_start, job.lanes);
        }
#ifdef STUDENT_EPOCH_TIMERS
        phase_seconds[PHASE_STEPS] += 1.0;
#endif
        Py_END_ALLOW_THREADS
        sums[3] += 1.0;
    }
    team_stop(n_enlisted);
    if (stopped) {
        goto done; /* with between's exception */
    }
    /* Whether every parameter is finite (the trainer checks it at every
     * epoch; here it costs a pass over a few thousand floats). */
    int finite = 1;
    for (int i = 0; i < N_PARAMS; i++) {
        for (Py_ssize_t j = 0; j < job.size[i]; j++) {
            finite &= isfinite(job.param[i][j]) != 0;
        }
    }
    result = PyBool_FromLong(finite);
done:
    PyMem_Free(work);
    PyBuffer_Release(&b_X);
    PyBuffer_Release(&b_order);
    PyBuffer_Release(&b_y);
    PyBuffer_Release(&b_sw);
    PyBuffer_Release(&b_bits);
    PyBuffer_Release(&b_signs);
    PyBuffer_Release(&b_buckets);
    PyBuffer_Release(&b_sums);
    for (int i = 0; i < N_PARAMS; i++) {
        PyBuffer_Release(&b_param[i]);
    }
    for (Py_ssize_t i = 0; i < n_moments; i++) {
        PyBuffer_Release(&b_moment[i]);
    }
    return result;
}

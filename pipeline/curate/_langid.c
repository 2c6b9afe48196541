/* Language identification in C: the twin of `langid.py`'s py3langid path, equal results (lang and probability).
 *
 *   Model(nextmove, rows, outputs, ptc, pc, log1p, nfc_stable, classes, aliases, variant)
 *   Model.detect(text, max_chars) -> (lang, prob) | None
 *
 * The model arrays come from the installed py3langid at run time (langid.py passes them as buffers; nothing of
 * the model lives in this file). `detect` does what `LanguageId.detect` does with py3langid's
 * `LanguageIdentifier(norm_probs=True).classify`:
 *   1. sample = text[:max_chars]; no alphabetic character in sample[:2000] -> ("und", 0.0);
 *   2. py3langid's `_encode`: lower() when sample.isupper(), NFC, UTF-8 with surrogatepass;
 *   3. the byte DFA (`tk_nextmove` rows, `tk_output`), counting features in first-seen order (Counter's order);
 *   4. naive Bayes: log1p(counts) @ nb_ptc[features] + nb_pc, in float32;
 *   5. softmax at temperature sqrt(bytes), aliased labels folded, argmax, clip to [0, 1].
 * Steps 4-5 are float32 arithmetic done op for op as numpy does them on this machine, so the results are equal to
 * the bit, not merely close (one ulp in a raw score moves a probability by ~1e-6):
 *   - the matrix-vector product is numpy's `vector @ matrix`, i.e. OpenBLAS sgemv_n; its summation order depends
 *     on the kernel OpenBLAS picked for the CPU. `variant` selects which kernel to mirror (SkylakeX / Haswell and
 *     Zen families, each with a fused or unfused loop for the last M % 4 rows); langid.py tries each against numpy
 *     at load time and uses the one that reproduces it, or the Python path when none does;
 *   - np.exp on float32 is numpy's own SIMD routine (Cody-Waite + rational polynomial), transcribed below;
 *   - np.log1p comes as a table computed by numpy (`log1p[c]` for a count c); np.sum is numpy's pairwise sum.
 * `detect` returns None (the caller then runs the Python path) when a feature count is past the log1p table.
 * Text is read in place for the usual case (not all upper case, already NFC: decided with per-code-point tables);
 * otherwise lower()/NFC/encode go through Python's own functions. The GIL is released while the bytes are walked
 * and scored. Memory: the model copies the transition table (~40 MB, for huge pages) and keeps a feature tally
 * (~0.4 MB); a call allocates scratch proportional to min(bytes, 16 KiB, features) plus 10 rows of classes.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#ifndef __STDC_NO_ATOMICS__
#include <stdatomic.h>
#endif
#if defined(__linux__)
#include <sys/mman.h>
#endif

/* a*b+c must stay two roundings wherever numpy's are two: GCC in ISO C mode (-std=c11, as setup.py builds) does
 * not fuse; clang and GCC's GNU modes would. */
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__) && !defined(__STRICT_ANSI__)
#pragma GCC optimize("fp-contract=off")
#endif

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define HAVE_X86_DISPATCH 1
#endif

#if defined(__GNUC__) || defined(__clang__)
#define ALWAYS_INLINE inline __attribute__((always_inline))
#define PREFETCH(p) __builtin_prefetch(p)
#else
#define ALWAYS_INLINE inline
#define PREFETCH(p) ((void)(p))
#endif

/* OpenBLAS sgemv_n kernels mirrored (bit 0) and how the last M % 4 rows accumulate (bit 1). */
enum {
    VARIANT_SKYLAKEX = 0,
    VARIANT_HASWELL = 1,
    VARIANT_UNFUSED_TAIL = 2,
    N_VARIANTS = 4,
};
#define MAX_CLASSES 4095 /* one NBMAX block of OpenBLAS's sgemv_n; py3langid has 142 */
#define ALPHA_SCAN 2000  /* LanguageId looks for a letter in sample[:2000] */

/* ---------------------------------------------------------------- code point properties */

enum { P_ALPHA = 1, P_LOWER_OR_TITLE = 2, P_UPPER = 4 };
static uint8_t bmp_props[0x10000]; /* str.isalpha / islower|istitle / isupper of each BMP code point */

static inline unsigned props_of(Py_UCS4 c) {
    if (c < 0x10000) return bmp_props[c];
    return (Py_UNICODE_ISALPHA(c) ? P_ALPHA : 0) |
           (Py_UNICODE_ISLOWER(c) || Py_UNICODE_ISTITLE(c) ? P_LOWER_OR_TITLE : 0) |
           (Py_UNICODE_ISUPPER(c) ? P_UPPER : 0);
}

static void init_props(void) {
    for (Py_UCS4 c = 0; c < 0x10000; c++) {
        bmp_props[c] = (uint8_t)((Py_UNICODE_ISALPHA(c) ? P_ALPHA : 0) |
                                 (Py_UNICODE_ISLOWER(c) || Py_UNICODE_ISTITLE(c) ? P_LOWER_OR_TITLE : 0) |
                                 (Py_UNICODE_ISUPPER(c) ? P_UPPER : 0));
    }
}

/* ---------------------------------------------------------------- numpy's float32 arithmetic */

static ALWAYS_INLINE float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu, bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (mant << 13);
    } else if (exp != 0) {
        bits = sign | ((exp + 112) << 23) | (mant << 13);
    } else if (mant == 0) {
        bits = sign;
    } else { /* subnormal half: normal float */
        exp = 113;
        while (!(mant & 0x400u)) {
            mant <<= 1;
            exp--;
        }
        bits = sign | (exp << 23) | ((mant & 0x3ffu) << 13);
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* numpy's float32 exp (simd_exp_FLOAT, the AVX2/AVX512F kernel: max error 2.52 ulp, so libm's expf differs). */
static ALWAYS_INLINE float numpy_expf(float x) {
    if (isnan(x)) return x;
    if (x >= 88.72283935546875f) return INFINITY;
    if (x <= -103.97208404541015625f) return 0.0f;
    float quadrant = x * 1.442695040888963407359924681001892137f; /* NPY_LOG2Ef */
    quadrant = quadrant + 0x1.800000p+23f;                        /* round to nearest, as numpy does */
    quadrant = quadrant - 0x1.800000p+23f;
    x = fmaf(quadrant, -6.93145752e-1f, x); /* Cody-Waite, ln 2 high part */
    x = fmaf(quadrant, -1.42860677e-6f, x); /* low part */
    x = fmaf(quadrant, 0.0f, x);
    float num = fmaf(5.082762527590693718096e-04f, x, 6.757896990527504603057e-03f);
    num = fmaf(num, x, 5.114512081637298353406e-02f);
    num = fmaf(num, x, 2.473615434895520810817e-01f);
    num = fmaf(num, x, 7.257664613233124478488e-01f);
    num = fmaf(num, x, 9.999999999980870924916e-01f);
    float den = fmaf(2.159509375685829852307e-02f, x, -2.742335390411667452936e-01f);
    den = fmaf(den, x, 1.000000000000000000000e+00f);
    /* poly * 2^quadrant: exact unless the result is subnormal (then within rounding of numpy's scalef) */
    const int q = (int)quadrant;
    if (q < -125 || q > 127) return ldexpf(num / den, q);
    const uint32_t bits = (uint32_t)(q + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return (num / den) * scale;
}

/* numpy's pairwise summation of a contiguous float32 array (np.sum / np.add.reduce). */
static float pairwise_sum(const float *a, Py_ssize_t n) {
    if (n < 8) {
        float res = -0.0f;
        for (Py_ssize_t i = 0; i < n; i++) res += a[i];
        return res;
    }
    if (n <= 128) {
        float r[8];
        for (int j = 0; j < 8; j++) r[j] = a[j];
        Py_ssize_t i;
        for (i = 8; i < n - (n % 8); i += 8) {
            for (int j = 0; j < 8; j++) r[j] += a[i + j];
        }
        float res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; i++) res += a[i];
        return res;
    }
    Py_ssize_t n2 = n / 2;
    n2 -= n2 % 8;
    return pairwise_sum(a, n2) + pairwise_sum(a + n2, n - n2);
}

/* ---------------------------------------------------------------- x @ nb_ptc[features], as OpenBLAS does it */

/* numpy turns `vector @ matrix` into OpenBLAS sgemv_n (m = M classes, n = K features, A column-major), whose
 * order of operations depends on the kernel (kernel/x86_64/sgemv_n_4.c, sgemv_n_microk_haswell-4.c,
 * sgemv_n_microk_skylakex-8.c):
 *   - SkylakeX, K <= 48 and K != 4 (sgemv_kernel_n_128): per class one fused chain over the features;
 *   - otherwise blocks of 8 features (sgemv_kernel_4x8), then 4 (4x4), 2, 1. In the 8- and 4-blocks the first
 *     H classes of the NB = M - M % 4 are summed with two accumulators, the others with one; the 2-block is fused
 *     (SkylakeX, sgemv_kernel_n_64) or not (Haswell's SSE kernel); the last M % 4 classes are a C loop
 *     `temp += a * x` over all features, fused or not as the compiler that built OpenBLAS chose.
 * All element-wise, so any vector width gives the same bits. */
#define ROW_PREFETCH 16 /* features ahead: a row is 284 scattered bytes of a ~28 MB table */

static ALWAYS_INLINE void prefetch_rows(const uint16_t *ptc, Py_ssize_t M, const uint32_t *feat, Py_ssize_t from,
                                        Py_ssize_t to) {
    for (Py_ssize_t k = from; k < to; k++) {
        const char *row = (const char *)(ptc + (size_t)feat[k] * (size_t)M);
        for (Py_ssize_t off = 0; off < 2 * M; off += 64) PREFETCH(row + off);
        PREFETCH(row + 2 * M - 1);
    }
}

typedef struct {
    const uint16_t *ptc; /* float16 bits, features x classes */
    Py_ssize_t M, NB, H; /* classes; classes in the 4-row kernels; of those, the two-accumulator ones */
    int unfused_tail;
} Gemv;

static Gemv gemv_shape(const uint16_t *ptc, Py_ssize_t M, int variant) {
    const Py_ssize_t NB = M - (M & 3), h4 = NB & 4;
    return (Gemv){ptc, M, NB, h4 + ((NB - h4) & 8), (variant & VARIANT_UNFUSED_TAIL) != 0};
}

/* dst[j * M + r] = ptc[feat[j]][r] as floats, for j < nrows. */
static void load_rows_generic(float *dst, const Gemv *g, const uint32_t *feat, int nrows) {
    for (int j = 0; j < nrows; j++) {
        const uint16_t *src = g->ptc + (size_t)feat[j] * (size_t)g->M;
        for (Py_ssize_t r = 0; r < g->M; r++) dst[j * g->M + r] = half_to_float(src[r]);
    }
}

typedef void (*load_rows_fn)(float *dst, const Gemv *g, const uint32_t *feat, int nrows);

static ALWAYS_INLINE void tail_rows(const Gemv *g, const float *blk, const float *x, int nrows, float *temp) {
    for (int j = 0; j < nrows; j++) {
        for (Py_ssize_t r = g->NB; r < g->M; r++) {
            const float a = blk[j * g->M + r];
            temp[r - g->NB] = g->unfused_tail ? temp[r - g->NB] + a * x[j] : fmaf(a, x[j], temp[r - g->NB]);
        }
    }
}

/* The 8-feature blocks over rows loaded into blk (8 * M floats). */
static ALWAYS_INLINE void blocks8_body(const Gemv *g, const uint32_t *feat, const float *x, Py_ssize_t K8, float *y,
                                       float *temp, float *blk, load_rows_fn load) {
    const Py_ssize_t M = g->M, NB = g->NB, H = g->H;
    const float *a0 = blk, *a1 = blk + M, *a2 = blk + 2 * M, *a3 = blk + 3 * M;
    const float *a4 = blk + 4 * M, *a5 = blk + 5 * M, *a6 = blk + 6 * M, *a7 = blk + 7 * M;
    for (Py_ssize_t k = 0; k < K8; k += 8) {
        if (k + ROW_PREFETCH < K8) prefetch_rows(g->ptc, M, feat, k + ROW_PREFETCH, k + ROW_PREFETCH + 8);
        load(blk, g, feat + k, 8);
        const float x0 = x[k], x1 = x[k + 1], x2 = x[k + 2], x3 = x[k + 3];
        const float x4 = x[k + 4], x5 = x[k + 5], x6 = x[k + 6], x7 = x[k + 7];
        for (Py_ssize_t r = 0; r < H; r++) {
            float t4 = a0[r] * x0, t5 = a1[r] * x1;
            t4 = fmaf(a2[r], x2, t4);
            t5 = fmaf(a3[r], x3, t5);
            t4 = fmaf(a4[r], x4, t4);
            t5 = fmaf(a5[r], x5, t5);
            t4 = fmaf(a6[r], x6, t4);
            t5 = fmaf(a7[r], x7, t5);
            y[r] = y[r] + (t5 + t4);
        }
        for (Py_ssize_t r = H; r < NB; r++) {
            float t = a0[r] * x0;
            t = fmaf(a1[r], x1, t);
            t = fmaf(a2[r], x2, t);
            t = fmaf(a3[r], x3, t);
            t = fmaf(a4[r], x4, t);
            t = fmaf(a5[r], x5, t);
            t = fmaf(a6[r], x6, t);
            t = fmaf(a7[r], x7, t);
            y[r] = y[r] + t;
        }
        tail_rows(g, blk, x + k, 8, temp);
    }
}

typedef void (*blocks8_fn)(const Gemv *g, const uint32_t *feat, const float *x, Py_ssize_t K8, float *y, float *temp,
                           float *blk);

/* y = x @ ptc[feat] for K features; blk holds 8 * M floats. */
static ALWAYS_INLINE void gemv_body(const Gemv *g, int variant, const uint32_t *feat, const float *x, Py_ssize_t K,
                                    float *y, float *blk, load_rows_fn load, blocks8_fn blocks8) {
    const Py_ssize_t M = g->M, NB = g->NB, H = g->H;
    const int haswell = variant & VARIANT_HASWELL;
    prefetch_rows(g->ptc, M, feat, 0, K < ROW_PREFETCH ? K : ROW_PREFETCH);
    for (Py_ssize_t r = 0; r < M; r++) y[r] = 0.0f;
    if (!haswell && K <= 48 && K != 4) { /* sgemv_kernel_n_128 */
        for (Py_ssize_t k = 0; k < K; k++) {
            load(blk, g, feat + k, 1);
            const float xk = x[k];
            for (Py_ssize_t r = 0; r < M; r++) y[r] = fmaf(blk[r], xk, y[r]);
        }
        for (Py_ssize_t r = 0; r < M; r++) y[r] = y[r] + 0.0f;
        return;
    }
    const float *a0 = blk, *a1 = blk + M, *a2 = blk + 2 * M, *a3 = blk + 3 * M;
    float temp[3] = {0.0f, 0.0f, 0.0f};
    Py_ssize_t k = K & ~(Py_ssize_t)7;
    blocks8(g, feat, x, k, y, temp, blk);
    if (K & 4) { /* sgemv_kernel_4x4 */
        load(blk, g, feat + k, 4);
        const float x0 = x[k], x1 = x[k + 1], x2 = x[k + 2], x3 = x[k + 3];
        for (Py_ssize_t r = 0; r < H; r++) {
            float t4 = a0[r] * x0, t5 = a1[r] * x1;
            t4 = fmaf(a2[r], x2, t4);
            t5 = fmaf(a3[r], x3, t5);
            y[r] = y[r] + (t5 + t4);
        }
        for (Py_ssize_t r = H; r < NB; r++) {
            float t = a0[r] * x0;
            t = fmaf(a1[r], x1, t);
            t = fmaf(a2[r], x2, t);
            t = fmaf(a3[r], x3, t);
            y[r] = y[r] + t;
        }
        tail_rows(g, blk, x + k, 4, temp);
        k += 4;
    }
    if (K & 2) {
        load(blk, g, feat + k, 2);
        const float x0 = x[k], x1 = x[k + 1];
        if (haswell) {
            for (Py_ssize_t r = 0; r < NB; r++) y[r] = (y[r] + a0[r] * x0) + a1[r] * x1;
        } else {
            for (Py_ssize_t r = 0; r < NB; r++) y[r] = y[r] + fmaf(a1[r], x1, a0[r] * x0);
        }
        tail_rows(g, blk, x + k, 2, temp);
        k += 2;
    }
    if (K & 1) {
        load(blk, g, feat + k, 1);
        const float x0 = x[k];
        for (Py_ssize_t r = 0; r < NB; r++) y[r] = y[r] + a0[r] * x0;
        tail_rows(g, blk, x + k, 1, temp);
    }
    for (Py_ssize_t r = NB; r < M; r++) y[r] = y[r] + temp[r - NB];
}

/* py3langid's `_decide` + `classify` after the counts, norm_probs=True: returns the winning class, sets *prob.
 * `s` holds the scores x @ ptc (ignored when K == 0), `e` M floats of room. */
static ALWAYS_INLINE Py_ssize_t decide_body(const float *pc, Py_ssize_t M, const int (*alias)[2], Py_ssize_t nalias,
                                            float *s, Py_ssize_t K, Py_ssize_t nbytes, float *e, double *prob) {
    if (K > 0) {
        for (Py_ssize_t r = 0; r < M; r++) s[r] = s[r] + pc[r];
    } else { /* no features: uniform scores, without nb_pc */
        for (Py_ssize_t r = 0; r < M; r++) s[r] = 0.0f;
    }
    const float scale = (float)(1.0 / sqrt((double)(nbytes ? nbytes : 1)));
    float mx = -INFINITY;
    for (Py_ssize_t r = 0; r < M; r++) {
        s[r] = s[r] * scale;
        if (s[r] > mx) mx = s[r];
    }
    for (Py_ssize_t r = 0; r < M; r++) e[r] = numpy_expf(s[r] - mx);
    const float total = pairwise_sum(e, M);
    for (Py_ssize_t r = 0; r < M; r++) e[r] = e[r] / total;
    for (Py_ssize_t i = 0; i < nalias; i++) {
        e[alias[i][0]] = e[alias[i][0]] + e[alias[i][1]];
        e[alias[i][1]] = 0.0f;
    }
    Py_ssize_t best = 0;
    for (Py_ssize_t r = 1; r < M; r++) {
        if (e[r] > e[best]) best = r;
    }
    const double p = (double)e[best];
    *prob = p > 1.0 ? 1.0 : (p < 0.0 ? 0.0 : p);
    return best;
}

typedef struct {
    Gemv gemv;
    const float *pc;
    const int (*alias)[2];
    Py_ssize_t nalias;
    int variant;
} Scorer;

static void blocks8_generic(const Gemv *g, const uint32_t *feat, const float *x, Py_ssize_t K8, float *y,
                            float *temp, float *blk) {
    blocks8_body(g, feat, x, K8, y, temp, blk, load_rows_generic);
}

static void scores_generic(const Scorer *sc, const uint32_t *feat, const float *x, Py_ssize_t K, float *y,
                           float *blk) {
    gemv_body(&sc->gemv, sc->variant, feat, x, K, y, blk, load_rows_generic, blocks8_generic);
}

static Py_ssize_t decide_generic(const Scorer *sc, float *s, Py_ssize_t K, Py_ssize_t nbytes, float *e,
                                 double *prob) {
    return decide_body(sc->pc, sc->gemv.M, sc->alias, sc->nalias, s, K, nbytes, e, prob);
}

#ifdef HAVE_X86_DISPATCH
#define TARGET_FMA __attribute__((target("avx2,fma,f16c")))
#define HALF8(row, r) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((row) + (r))))
#define HALF4(row, r) _mm_cvtph_ps(_mm_loadl_epi64((const __m128i *)((row) + (r))))
#define HALF1(row, r) _cvtsh_ss((row)[r])

TARGET_FMA static void load_rows_f16c(float *dst, const Gemv *g, const uint32_t *feat, int nrows) {
    for (int j = 0; j < nrows; j++) {
        const uint16_t *src = g->ptc + (size_t)feat[j] * (size_t)g->M;
        float *out = dst + j * g->M;
        Py_ssize_t r = 0;
        for (; r + 8 <= g->M; r += 8) _mm256_storeu_ps(out + r, HALF8(src, r));
        for (; r < g->M; r++) out[r] = HALF1(src, r);
    }
}

/* blocks8_body with the float16 rows converted inside the arithmetic, 8 classes a vector: same operations on each
 * element in the same order, so the same bits, at a fraction of the loads and stores. */
TARGET_FMA static void blocks8_f16c(const Gemv *g, const uint32_t *feat, const float *x, Py_ssize_t K8, float *y,
                                    float *temp, float *blk) {
    (void)blk;
    const Py_ssize_t M = g->M, NB = g->NB, H = g->H;
    for (Py_ssize_t k = 0; k < K8; k += 8) {
        if (k + ROW_PREFETCH < K8) prefetch_rows(g->ptc, M, feat, k + ROW_PREFETCH, k + ROW_PREFETCH + 8);
        const uint16_t *a[8];
        __m256 X[8];
        for (int j = 0; j < 8; j++) {
            a[j] = g->ptc + (size_t)feat[k + j] * (size_t)M;
            X[j] = _mm256_set1_ps(x[k + j]);
        }
        const float *xs = x + k;
        Py_ssize_t r = 0;
        for (; r + 8 <= H; r += 8) {
            __m256 t4 = _mm256_mul_ps(HALF8(a[0], r), X[0]), t5 = _mm256_mul_ps(HALF8(a[1], r), X[1]);
            for (int j = 2; j < 8; j += 2) {
                t4 = _mm256_fmadd_ps(HALF8(a[j], r), X[j], t4);
                t5 = _mm256_fmadd_ps(HALF8(a[j + 1], r), X[j + 1], t5);
            }
            _mm256_storeu_ps(y + r, _mm256_add_ps(_mm256_loadu_ps(y + r), _mm256_add_ps(t5, t4)));
        }
        for (; r + 4 <= H; r += 4) {
            __m128 t4 = _mm_mul_ps(HALF4(a[0], r), _mm256_castps256_ps128(X[0]));
            __m128 t5 = _mm_mul_ps(HALF4(a[1], r), _mm256_castps256_ps128(X[1]));
            for (int j = 2; j < 8; j += 2) {
                t4 = _mm_fmadd_ps(HALF4(a[j], r), _mm256_castps256_ps128(X[j]), t4);
                t5 = _mm_fmadd_ps(HALF4(a[j + 1], r), _mm256_castps256_ps128(X[j + 1]), t5);
            }
            _mm_storeu_ps(y + r, _mm_add_ps(_mm_loadu_ps(y + r), _mm_add_ps(t5, t4)));
        }
        for (; r < H; r++) {
            float t4 = HALF1(a[0], r) * xs[0], t5 = HALF1(a[1], r) * xs[1];
            for (int j = 2; j < 8; j += 2) {
                t4 = fmaf(HALF1(a[j], r), xs[j], t4);
                t5 = fmaf(HALF1(a[j + 1], r), xs[j + 1], t5);
            }
            y[r] = y[r] + (t5 + t4);
        }
        for (; r + 8 <= NB; r += 8) {
            __m256 t = _mm256_mul_ps(HALF8(a[0], r), X[0]);
            for (int j = 1; j < 8; j++) t = _mm256_fmadd_ps(HALF8(a[j], r), X[j], t);
            _mm256_storeu_ps(y + r, _mm256_add_ps(_mm256_loadu_ps(y + r), t));
        }
        for (; r + 4 <= NB; r += 4) {
            __m128 t = _mm_mul_ps(HALF4(a[0], r), _mm256_castps256_ps128(X[0]));
            for (int j = 1; j < 8; j++) t = _mm_fmadd_ps(HALF4(a[j], r), _mm256_castps256_ps128(X[j]), t);
            _mm_storeu_ps(y + r, _mm_add_ps(_mm_loadu_ps(y + r), t));
        }
        for (; r < NB; r++) {
            float t = HALF1(a[0], r) * xs[0];
            for (int j = 1; j < 8; j++) t = fmaf(HALF1(a[j], r), xs[j], t);
            y[r] = y[r] + t;
        }
        for (int j = 0; j < 8; j++) {
            for (r = NB; r < M; r++) {
                const float v = HALF1(a[j], r);
                temp[r - NB] = g->unfused_tail ? temp[r - NB] + v * xs[j] : fmaf(v, xs[j], temp[r - NB]);
            }
        }
    }
}

TARGET_FMA static void scores_fma(const Scorer *sc, const uint32_t *feat, const float *x, Py_ssize_t K, float *y,
                                  float *blk) {
    gemv_body(&sc->gemv, sc->variant, feat, x, K, y, blk, load_rows_f16c, blocks8_f16c);
}

TARGET_FMA static Py_ssize_t decide_fma(const Scorer *sc, float *s, Py_ssize_t K, Py_ssize_t nbytes, float *e,
                                        double *prob) {
    return decide_body(sc->pc, sc->gemv.M, sc->alias, sc->nalias, s, K, nbytes, e, prob);
}
#endif

/* fmaf without hardware FMA is a (correct, slow) libm call: the CPU check picks the inlined kind when it can. */
static void (*scores_impl)(const Scorer *, const uint32_t *, const float *, Py_ssize_t, float *, float *) =
    scores_generic;
static Py_ssize_t (*decide_impl)(const Scorer *, float *, Py_ssize_t, Py_ssize_t, float *, double *) =
    decide_generic;

static void init_dispatch(void) {
#ifdef HAVE_X86_DISPATCH
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c")) {
        scores_impl = scores_fma;
        decide_impl = decide_fma;
    }
#endif
}

/* ---------------------------------------------------------------- the model */

typedef struct {
    uint32_t rowbase; /* first table index of the state's transition row */
    int32_t output;   /* feature emitted on entering the state, or -1 */
} State;

typedef struct {
    PyObject_HEAD
    Py_buffer ptc_buf, pc_buf, log1p_buf, nfc_buf;
    uint32_t *table; /* [rows * 256] py3langid's nextmove: next state; on huge pages where the OS gives them */
    void *table_map;
    size_t table_map_size;
    State *states;
    const float *log1p;
    const uint8_t *nfc_stable; /* bit c: code point c leaves a text NFC (quick check YES, combining class 0) */
    Py_ssize_t nfeat, ntab;
    Scorer scorer;
    int (*alias)[2];
    PyObject *classes; /* tuple of str, one per column */
    uint32_t *tally;   /* [features + 1] counts of the call that holds tally_busy; zero between calls */
#ifndef __STDC_NO_ATOMICS__
    atomic_int tally_busy;
#endif
} Model;

static PyObject *normalize_func, *nfc_name, *lower_name, *und_str;

/* Features seen, in first-seen order (so the sum runs in Counter's order), with their counts. Counted in the
 * model's tally (one slot per feature, no branch on seen / not seen) by the one call that holds it, otherwise
 * through an open-addressing table of indices. */
typedef struct {
    uint32_t *tally;   /* the model's, or NULL */
    uint32_t nfeat;    /* tally[nfeat]: where "no feature" is counted, never 0 */
    uint32_t *slots;   /* 0: empty, else 1 + index into feat/cnt */
    uint32_t *feat, *cnt;
    uint32_t mask;
    int shift;
    Py_ssize_t k;
} Counter;

static ALWAYS_INLINE void counter_add(Counter *c, uint32_t f) {
    uint32_t h = (uint32_t)(f * 0x9E3779B1u) >> c->shift;
    for (;;) {
        uint32_t s = c->slots[h];
        if (s == 0) {
            c->feat[c->k] = f;
            c->cnt[c->k] = 1;
            c->slots[h] = (uint32_t)++c->k;
            return;
        }
        if (c->feat[s - 1] == f) {
            c->cnt[s - 1]++;
            return;
        }
        h = (h + 1) & c->mask;
    }
}

static void count_outputs(Counter *c, const int32_t *emit, Py_ssize_t n) {
    if (c->tally) {
        uint32_t *tally = c->tally, *feat = c->feat;
        Py_ssize_t k = c->k;
        for (Py_ssize_t i = 0; i < n; i++) {
            const uint32_t f = (uint32_t)emit[i] < c->nfeat ? (uint32_t)emit[i] : c->nfeat;
            const uint32_t seen = tally[f];
            tally[f] = seen + 1;
            feat[k] = f; /* feat has one spare slot */
            k += seen == 0;
        }
        c->k = k;
    } else {
        for (Py_ssize_t i = 0; i < n; i++) {
            if (emit[i] >= 0) counter_add(c, (uint32_t)emit[i]);
        }
    }
}

/* Moves the tally's counts to cnt and leaves the tally zeroed for the next call. */
static void counter_finish(Counter *c) {
    if (!c->tally) return;
    for (Py_ssize_t i = 0; i < c->k; i++) {
        c->cnt[i] = c->tally[c->feat[i]];
        c->tally[c->feat[i]] = 0;
    }
}

/* ---------------------------------------------------------------- the byte walk */

/* The walk is one dependent load per byte from a ~40 MB table, so it waits on memory. Cutting a segment into
 * WALK_CHUNKS pieces walked in lockstep keeps that many loads in flight. Chunk c >= 1 starts from state 0
 * WARMUP bytes before its first counted byte (py3langid's automaton is an Aho-Corasick trie of n-grams of at most
 * 6 bytes: its state depends on the last few bytes only); if it arrives at its first byte in another state than
 * the chunk before it ended in, it is walked again from that state, so the features are always exactly the
 * sequential walk's, in the sequential walk's order. */
#define WALK_CHUNKS 8
#define WARMUP 8
#define MIN_CHUNK 32
#define SEGMENT 16384 /* bytes encoded and walked at a time: bounds the scratch for long texts */

typedef struct {
    const uint32_t *table;
    const State *states;
} Dfa;

static ALWAYS_INLINE uint32_t next_state(const Dfa *d, uint32_t state, unsigned char byte) {
    return d->table[d->states[state].rowbase + byte];
}

/* Walks p[0, n) from `state`, writing each position's output (or -1) to emit[0, n); returns the end state. */
static uint32_t walk_seq(const Dfa *d, const unsigned char *p, Py_ssize_t n, uint32_t state, int32_t *emit) {
    for (Py_ssize_t i = 0; i < n; i++) {
        state = next_state(d, state, p[i]);
        emit[i] = d->states[state].output;
    }
    return state;
}

/* Walks p[0, n) from *state and counts the features in the sequential walk's order; emit has room for n. */
static void walk_segment(const Dfa *d, const unsigned char *p, Py_ssize_t n, uint32_t *state, int32_t *emit,
                         Counter *ctr) {
    const Py_ssize_t len = n / WALK_CHUNKS;
    if (len < MIN_CHUNK) {
        *state = walk_seq(d, p, n, *state, emit);
    } else {
        uint32_t c[WALK_CHUNKS], first[WALK_CHUNKS];
        c[0] = *state;
        for (int j = 1; j < WALK_CHUNKS; j++) c[j] = 0;
        for (Py_ssize_t i = 0; i < WARMUP; i++) {
            for (int j = 1; j < WALK_CHUNKS; j++) c[j] = next_state(d, c[j], p[j * len - WARMUP + i]);
        }
        for (int j = 0; j < WALK_CHUNKS; j++) first[j] = c[j];
        for (Py_ssize_t i = 0; i < len; i++) {
            for (int j = 0; j < WALK_CHUNKS; j++) {
                c[j] = next_state(d, c[j], p[j * len + i]);
                emit[j * len + i] = d->states[c[j]].output;
            }
        }
        const int last = WALK_CHUNKS - 1;
        c[last] = walk_seq(d, p + WALK_CHUNKS * len, n - WALK_CHUNKS * len, c[last], emit + WALK_CHUNKS * len);
        for (int j = 1; j < WALK_CHUNKS; j++) {
            if (first[j] == c[j - 1]) continue;
            const Py_ssize_t end = j == last ? n : (j + 1) * len;
            c[j] = walk_seq(d, p + j * len, end - j * len, c[j - 1], emit + j * len);
        }
        *state = c[last];
    }
    count_outputs(ctr, emit, n);
}

static void walk_bytes(const Dfa *d, const unsigned char *p, Py_ssize_t n, int32_t *emit, Counter *ctr) {
    uint32_t state = 0;
    for (Py_ssize_t at = 0; at < n; at += SEGMENT) {
        walk_segment(d, p + at, n - at < SEGMENT ? n - at : SEGMENT, &state, emit, ctr);
    }
}

/* The UTF-8 of text[0, n) (surrogates as 3 bytes, like errors="surrogatepass"), SEGMENT bytes at a time through
 * buf (room for SEGMENT + 3). */
static ALWAYS_INLINE void walk_kind(const Dfa *d, int kind, const void *data, Py_ssize_t n, unsigned char *buf,
                                    int32_t *emit, Counter *ctr) {
    uint32_t state = 0;
    Py_ssize_t i = 0;
    while (i < n) {
        Py_ssize_t len = 0;
        for (; i < n && len < SEGMENT; i++) {
            const Py_UCS4 ch = PyUnicode_READ(kind, data, i);
            if (ch < 0x80) {
                buf[len++] = (unsigned char)ch;
            } else if (ch < 0x800) {
                buf[len++] = (unsigned char)(0xc0 | (ch >> 6));
                buf[len++] = (unsigned char)(0x80 | (ch & 0x3f));
            } else if (ch < 0x10000) {
                buf[len++] = (unsigned char)(0xe0 | (ch >> 12));
                buf[len++] = (unsigned char)(0x80 | ((ch >> 6) & 0x3f));
                buf[len++] = (unsigned char)(0x80 | (ch & 0x3f));
            } else {
                buf[len++] = (unsigned char)(0xf0 | (ch >> 18));
                buf[len++] = (unsigned char)(0x80 | ((ch >> 12) & 0x3f));
                buf[len++] = (unsigned char)(0x80 | ((ch >> 6) & 0x3f));
                buf[len++] = (unsigned char)(0x80 | (ch & 0x3f));
            }
        }
        walk_segment(d, buf, len, &state, emit, ctr);
    }
}

static void walk_str(const Dfa *d, int kind, const void *data, Py_ssize_t n, unsigned char *buf, int32_t *emit,
                     Counter *ctr) {
    switch (kind) {
    case PyUnicode_1BYTE_KIND:
        walk_kind(d, PyUnicode_1BYTE_KIND, data, n, buf, emit, ctr);
        break;
    case PyUnicode_2BYTE_KIND:
        walk_kind(d, PyUnicode_2BYTE_KIND, data, n, buf, emit, ctr);
        break;
    default:
        walk_kind(d, PyUnicode_4BYTE_KIND, data, n, buf, emit, ctr);
    }
}

typedef struct {
    Py_ssize_t nbytes; /* UTF-8 length (surrogatepass) */
    int has_alpha;     /* in the first ALPHA_SCAN code points */
    int is_upper;      /* str.isupper() */
    int nfc_stable;    /* unicodedata.normalize("NFC", s) is s */
} Scan;

static ALWAYS_INLINE void scan_kind(const Model *m, int kind, const void *data, Py_ssize_t n, Scan *out) {
    Py_ssize_t nbytes = 0;
    unsigned seen = 0, alpha = 0, unstable = 0;
    const Py_ssize_t alpha_n = n < ALPHA_SCAN ? n : ALPHA_SCAN;
    for (Py_ssize_t i = 0; i < n; i++) {
        const Py_UCS4 ch = PyUnicode_READ(kind, data, i);
        nbytes += 1 + (ch >= 0x80) + (ch >= 0x800) + (ch >= 0x10000);
        const unsigned p = props_of(ch);
        seen |= p;
        if (i < alpha_n) alpha |= p;
        unstable |= !((m->nfc_stable[ch >> 3] >> (ch & 7)) & 1);
    }
    out->nbytes = nbytes;
    out->has_alpha = (alpha & P_ALPHA) != 0;
    if (n == 1) { /* str.isupper's one-character shortcut */
        out->is_upper = Py_UNICODE_ISUPPER(PyUnicode_READ(kind, data, 0)) != 0;
    } else {
        out->is_upper = !(seen & P_LOWER_OR_TITLE) && (seen & P_UPPER);
    }
    out->nfc_stable = !unstable;
}

static void scan_str(const Model *m, int kind, const void *data, Py_ssize_t n, Scan *out) {
    switch (kind) {
    case PyUnicode_1BYTE_KIND:
        scan_kind(m, PyUnicode_1BYTE_KIND, data, n, out);
        break;
    case PyUnicode_2BYTE_KIND:
        scan_kind(m, PyUnicode_2BYTE_KIND, data, n, out);
        break;
    default:
        scan_kind(m, PyUnicode_4BYTE_KIND, data, n, out);
    }
}

/* Scratch for one call, one allocation: counter table, features, counts, x, 8 rows of classes, scores, exp, the
 * output at each byte of a segment, the UTF-8 of a segment. Only the counter table needs zeroing. */
typedef struct {
    void *block;
    Counter counter;
    float *x, *blk, *s, *e;
    int32_t *emit;
    unsigned char *utf8;
} Scratch;

static int scratch_alloc(Scratch *sc, Py_ssize_t nbytes, Py_ssize_t nfeat, Py_ssize_t ncls) {
    Py_ssize_t kmax = nbytes < nfeat ? nbytes : nfeat;
    if (kmax < 1) kmax = 1;
    int bits = 4;
    while (((Py_ssize_t)1 << bits) < 2 * kmax) bits++;
    const size_t cap = (size_t)1 << bits;
    /* a segment is the whole text, or SEGMENT bytes plus at most 3 of a code point's UTF-8 */
    const size_t seg = (size_t)(nbytes <= SEGMENT ? nbytes : SEGMENT + 3);
    const size_t n32 = cap + 3 * (size_t)kmax + 1 + 10 * (size_t)ncls + seg;
    sc->block = PyMem_RawMalloc(n32 * sizeof(uint32_t) + seg);
    if (!sc->block) return -1;
    uint32_t *p = sc->block;
    sc->counter.tally = NULL;
    sc->counter.slots = p;
    sc->counter.feat = p + cap;
    sc->counter.cnt = sc->counter.feat + kmax + 1;
    sc->counter.mask = (uint32_t)(cap - 1);
    sc->counter.shift = 32 - bits;
    sc->counter.k = 0;
    sc->x = (float *)(sc->counter.cnt + kmax);
    sc->blk = sc->x + kmax;
    sc->s = sc->blk + 8 * ncls;
    sc->e = sc->s + ncls;
    sc->emit = (int32_t *)(sc->e + ncls);
    sc->utf8 = (unsigned char *)(sc->emit + seg);
    return 0;
}

/* Counts -> class index and probability; -1 when a count is past the log1p table. */
static Py_ssize_t score_counts(const Model *m, Scratch *sc, Py_ssize_t nbytes, double *prob) {
    const Counter *c = &sc->counter;
    for (Py_ssize_t i = 0; i < c->k; i++) {
        if ((Py_ssize_t)c->cnt[i] >= m->ntab) return -1;
        sc->x[i] = m->log1p[c->cnt[i]];
    }
    if (c->k > 0) scores_impl(&m->scorer, c->feat, sc->x, c->k, sc->s, sc->blk);
    return decide_impl(&m->scorer, sc->s, c->k, nbytes, sc->e, prob);
}

/* Walk `bytes` (bytes object) or the first n code points of `text`; returns the class or -1 / -2 (error). */
static Py_ssize_t classify(Model *m, PyObject *text, Py_ssize_t n, PyObject *bytes, Py_ssize_t nbytes,
                           double *prob) {
    Scratch sc;
    if (scratch_alloc(&sc, nbytes, m->nfeat, m->scorer.gemv.M) < 0) {
        PyErr_NoMemory();
        return -2;
    }
    const Dfa d = {m->table, m->states};
    Py_ssize_t best;
    Py_BEGIN_ALLOW_THREADS;
#ifndef __STDC_NO_ATOMICS__
    if (!atomic_exchange_explicit(&m->tally_busy, 1, memory_order_acquire)) {
        sc.counter.tally = m->tally;
        sc.counter.nfeat = (uint32_t)m->nfeat;
    }
#endif
    if (!sc.counter.tally) memset(sc.counter.slots, 0, ((size_t)sc.counter.mask + 1) * sizeof(uint32_t));
    if (bytes) {
        walk_bytes(&d, (const unsigned char *)PyBytes_AS_STRING(bytes), nbytes, sc.emit, &sc.counter);
    } else if (PyUnicode_IS_ASCII(text)) {
        walk_bytes(&d, PyUnicode_1BYTE_DATA(text), n, sc.emit, &sc.counter);
    } else {
        walk_str(&d, PyUnicode_KIND(text), PyUnicode_DATA(text), n, sc.utf8, sc.emit, &sc.counter);
    }
    counter_finish(&sc.counter);
#ifndef __STDC_NO_ATOMICS__
    if (sc.counter.tally) atomic_store_explicit(&m->tally_busy, 0, memory_order_release);
#endif
    best = score_counts(m, &sc, nbytes, prob);
    Py_END_ALLOW_THREADS;
    PyMem_RawFree(sc.block);
    return best;
}

/* py3langid's `_encode` on text[:n] through Python: lower() if upper case, NFC, UTF-8 with surrogatepass. */
static PyObject *encode_slow(PyObject *text, Py_ssize_t n, int is_upper) {
    PyObject *sample = PyUnicode_Substring(text, 0, n);
    if (!sample) return NULL;
    if (is_upper) {
        Py_SETREF(sample, PyObject_CallMethodNoArgs(sample, lower_name));
        if (!sample) return NULL;
    }
    Py_SETREF(sample, PyObject_CallFunctionObjArgs(normalize_func, nfc_name, sample, NULL));
    if (!sample) return NULL;
    PyObject *bytes = PyUnicode_AsEncodedString(sample, "utf-8", "surrogatepass");
    Py_DECREF(sample);
    return bytes;
}

static int check_ready(const Model *self) {
    if (self->table) return 0;
    PyErr_SetString(PyExc_RuntimeError, "Model is not initialised");
    return -1;
}

static PyObject *Model_detect(Model *self, PyObject *const *args, Py_ssize_t nargs) {
    if (check_ready(self) < 0) return NULL;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "detect(text, max_chars) takes 2 arguments");
        return NULL;
    }
    PyObject *text = args[0];
    if (!PyUnicode_Check(text)) {
        PyErr_Format(PyExc_TypeError, "detect() needs a str, not %.100s", Py_TYPE(text)->tp_name);
        return NULL;
    }
#if PY_VERSION_HEX < 0x030C0000
    if (PyUnicode_READY(text) < 0) return NULL;
#endif
    const Py_ssize_t max_chars = PyLong_AsSsize_t(args[1]);
    if (max_chars == -1 && PyErr_Occurred()) return NULL;
    const Py_ssize_t len = PyUnicode_GET_LENGTH(text);
    Py_ssize_t n = max_chars >= 0 ? (max_chars < len ? max_chars : len) : len + max_chars; /* text[:max_chars] */
    if (n < 0) n = 0;

    Scan scan;
    scan_str(self, PyUnicode_KIND(text), PyUnicode_DATA(text), n, &scan);
    if (!scan.has_alpha) return Py_BuildValue("(Od)", und_str, 0.0);
    if ((size_t)scan.nbytes >= UINT32_MAX / 2) Py_RETURN_NONE; /* counts must fit the 32-bit counter */

    double prob = 0.0;
    Py_ssize_t best;
    if (scan.is_upper || !scan.nfc_stable) {
        PyObject *bytes = encode_slow(text, n, scan.is_upper);
        if (!bytes) return NULL;
        best = classify(self, NULL, 0, bytes, PyBytes_GET_SIZE(bytes), &prob);
        Py_DECREF(bytes);
    } else {
        best = classify(self, text, n, NULL, scan.nbytes, &prob);
    }
    if (best == -2) return NULL;
    if (best == -1) Py_RETURN_NONE;
    return Py_BuildValue("(Od)", PyTuple_GET_ITEM(self->classes, best), prob);
}

/* Calibration hook: x @ ptc[feat] for uint32 features and counts, as float32 bytes (langid.py compares it with
 * numpy's own product to choose `variant`). */
static PyObject *Model_raw_scores(Model *self, PyObject *args) {
    Py_buffer fb, cb;
    if (check_ready(self) < 0) return NULL;
    if (!PyArg_ParseTuple(args, "y*y*:raw_scores", &fb, &cb)) return NULL;
    PyObject *result = NULL;
    const Py_ssize_t K = fb.len / 4, M = self->scorer.gemv.M;
    if (fb.len % 4 || cb.len != fb.len) {
        PyErr_SetString(PyExc_ValueError, "raw_scores needs uint32 features and counts of equal length");
        goto done;
    }
    const uint32_t *feat = fb.buf, *cnt = cb.buf;
    for (Py_ssize_t i = 0; i < K; i++) {
        if ((Py_ssize_t)feat[i] >= self->nfeat || cnt[i] == 0 || (Py_ssize_t)cnt[i] >= self->ntab) {
            PyErr_SetString(PyExc_ValueError, "feature or count out of range");
            goto done;
        }
    }
    float *buf = PyMem_Calloc((size_t)(K + 10 * M + 1), sizeof(float));
    if (!buf) {
        PyErr_NoMemory();
        goto done;
    }
    float *x = buf, *y = buf + K, *blk = y + M;
    for (Py_ssize_t i = 0; i < K; i++) x[i] = self->log1p[cnt[i]];
    scores_impl(&self->scorer, feat, x, K, y, blk);
    result = PyBytes_FromStringAndSize((const char *)y, M * (Py_ssize_t)sizeof(float));
    PyMem_Free(buf);
done:
    PyBuffer_Release(&fb);
    PyBuffer_Release(&cb);
    return result;
}

/* The transition table is walked one dependent load per byte, spread over ~40 MB: on 4 KiB pages most steps also
 * miss the TLB. Placed on 2 MiB pages (Linux THP, madvise mode) it needs ~20 TLB entries. */
static uint32_t *alloc_table(Model *self, size_t n) {
    const size_t bytes = n * sizeof(uint32_t);
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    const size_t huge = (size_t)2 << 20;
    const size_t size = bytes + huge;
    void *map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map != MAP_FAILED) {
        uintptr_t aligned = ((uintptr_t)map + huge - 1) & ~(uintptr_t)(huge - 1);
        (void)madvise((void *)aligned, (bytes + huge - 1) & ~(huge - 1), MADV_HUGEPAGE);
        self->table_map = map;
        self->table_map_size = size;
        return (uint32_t *)aligned;
    }
#endif
    return PyMem_Malloc(bytes ? bytes : 1);
}

static int get_buffer(PyObject *obj, Py_buffer *view, Py_ssize_t itemsize, const char *name) {
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS) < 0) return -1;
    if (view->len % itemsize) {
        PyErr_Format(PyExc_ValueError, "%s: buffer of %zd bytes is not whole items of %zd bytes", name, view->len,
                     itemsize);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

static void model_clear(Model *self) {
    Py_buffer *bufs[] = {&self->ptc_buf, &self->pc_buf, &self->log1p_buf, &self->nfc_buf};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) {
        if (bufs[i]->obj) PyBuffer_Release(bufs[i]);
        bufs[i]->obj = NULL;
    }
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (self->table_map) {
        munmap(self->table_map, self->table_map_size);
        self->table = NULL;
    }
    self->table_map = NULL;
#endif
    PyMem_Free(self->table);
    self->table = NULL;
    PyMem_Free(self->states);
    self->states = NULL;
    PyMem_Free(self->alias);
    self->alias = NULL;
    PyMem_Free(self->tally);
    self->tally = NULL;
    Py_CLEAR(self->classes);
}

static void Model_dealloc(Model *self) {
    model_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* Checks py3langid's automaton (nextmove rows, each state's row and output) and copies it. */
static int build_automaton(Model *self, const uint32_t *nextmove, Py_ssize_t nnext, const uint32_t *row,
                           const int32_t *out, Py_ssize_t nstates) {
    const Py_ssize_t nrows = nnext / 256;
    if (nnext % 256 || nrows < 1 || nrows > UINT32_MAX / 256) {
        PyErr_SetString(PyExc_ValueError, "nextmove is not whole rows of 256 transitions");
        return -1;
    }
    self->states = PyMem_Malloc((size_t)nstates * sizeof(State));
    self->table = alloc_table(self, (size_t)nnext);
    if (!self->states || !self->table) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t s = 0; s < nstates; s++) {
        if ((Py_ssize_t)row[s] >= nrows) {
            PyErr_Format(PyExc_ValueError, "rows[%zd] = %u is past nextmove", s, row[s]);
            return -1;
        }
        if (out[s] >= (Py_ssize_t)self->nfeat) {
            PyErr_Format(PyExc_ValueError, "outputs[%zd] = %d is not a feature", s, out[s]);
            return -1;
        }
        self->states[s].rowbase = row[s] << 8;
        self->states[s].output = out[s] < 0 ? -1 : out[s];
    }
    for (Py_ssize_t i = 0; i < nnext; i++) { /* every transition checked once, so the walk needs no bounds checks */
        if ((Py_ssize_t)nextmove[i] >= nstates) {
            PyErr_Format(PyExc_ValueError, "nextmove[%zd] = %u is not a state", i, nextmove[i]);
            return -1;
        }
        self->table[i] = nextmove[i];
    }
    return 0;
}

/* Model(nextmove uint32[rows * 256], rows uint32[states], outputs int32[states], ptc float16[features * classes],
 *       pc float32[classes], log1p float32[n], nfc_stable uint8[0x110000 / 8], classes tuple[str],
 *       aliases tuple[(int, int)], variant int) */
static int Model_init(Model *self, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"nextmove", "rows",    "outputs", "ptc",     "pc",
                             "log1p",    "nfc_stable", "classes", "aliases", "variant", NULL};
    PyObject *nextmove, *rows, *outputs, *ptc, *pc, *log1p, *nfc, *classes, *aliases;
    int variant;
    if (self->table) {
        PyErr_SetString(PyExc_RuntimeError, "Model is already initialised");
        return -1;
    }
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OOOOOOOO!O!i:Model", kwlist, &nextmove, &rows, &outputs, &ptc,
                                     &pc, &log1p, &nfc, &PyTuple_Type, &classes, &PyTuple_Type, &aliases, &variant)) {
        return -1;
    }
    if (variant < 0 || variant >= N_VARIANTS) {
        PyErr_Format(PyExc_ValueError, "variant must be in [0, %d)", N_VARIANTS);
        return -1;
    }
    Py_buffer next_buf = {0}, rows_buf = {0}, out_buf = {0};
    int rc = -1;
    if (get_buffer(ptc, &self->ptc_buf, 2, "ptc") < 0 || get_buffer(pc, &self->pc_buf, 4, "pc") < 0 ||
        get_buffer(log1p, &self->log1p_buf, 4, "log1p") < 0 || get_buffer(nfc, &self->nfc_buf, 1, "nfc_stable") < 0 ||
        get_buffer(nextmove, &next_buf, 4, "nextmove") < 0 || get_buffer(rows, &rows_buf, 4, "rows") < 0 ||
        get_buffer(outputs, &out_buf, 4, "outputs") < 0) {
        goto done;
    }
    const Py_ssize_t ncls = self->pc_buf.len / 4, nstates = rows_buf.len / 4;
    if (ncls < 1 || ncls > MAX_CLASSES || PyTuple_GET_SIZE(classes) != ncls || self->ptc_buf.len / 2 % ncls ||
        self->ptc_buf.len / 2 / ncls >= ((Py_ssize_t)1 << 28) ||
        nstates < 1 || nstates > UINT32_MAX || out_buf.len != rows_buf.len || self->nfc_buf.len != 0x110000 / 8 ||
        self->log1p_buf.len < 8) {
        PyErr_SetString(PyExc_ValueError, "model arrays have inconsistent sizes");
        goto done;
    }
    for (Py_ssize_t i = 0; i < ncls; i++) {
        if (!PyUnicode_Check(PyTuple_GET_ITEM(classes, i))) {
            PyErr_SetString(PyExc_TypeError, "classes must be str");
            goto done;
        }
    }
    self->nfeat = self->ptc_buf.len / 2 / ncls;
    self->log1p = self->log1p_buf.buf;
    self->ntab = self->log1p_buf.len / 4;
    self->nfc_stable = self->nfc_buf.buf;
    if (build_automaton(self, next_buf.buf, next_buf.len / 4, rows_buf.buf, out_buf.buf, nstates) < 0) goto done;
    const Py_ssize_t nalias = PyTuple_GET_SIZE(aliases);
    self->alias = PyMem_Calloc((size_t)nalias + 1, sizeof *self->alias);
    if (!self->alias) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < nalias; i++) {
        int a, b;
        if (!PyArg_ParseTuple(PyTuple_GET_ITEM(aliases, i), "ii:aliases", &a, &b)) goto done;
        if (a < 0 || b < 0 || a >= ncls || b >= ncls) {
            PyErr_SetString(PyExc_ValueError, "alias column out of range");
            goto done;
        }
        self->alias[i][0] = a;
        self->alias[i][1] = b;
    }
    self->scorer = (Scorer){
        .gemv = gemv_shape(self->ptc_buf.buf, ncls, variant),
        .pc = self->pc_buf.buf,
        .alias = (const int(*)[2])self->alias,
        .nalias = nalias,
        .variant = variant,
    };
    self->tally = PyMem_Calloc((size_t)self->nfeat + 1, sizeof(uint32_t));
    if (!self->tally) {
        PyErr_NoMemory();
        goto done;
    }
    self->tally[self->nfeat] = 1;
#ifndef __STDC_NO_ATOMICS__
    atomic_init(&self->tally_busy, 0);
#endif
    self->classes = Py_NewRef(classes);
    rc = 0;
done:
    if (next_buf.obj) PyBuffer_Release(&next_buf);
    if (rows_buf.obj) PyBuffer_Release(&rows_buf);
    if (out_buf.obj) PyBuffer_Release(&out_buf);
    if (rc < 0) model_clear(self); /* a failed init leaves a model that detect() refuses */
    return rc;
}

static PyObject *Model_new(PyTypeObject *type, PyObject *Py_UNUSED(args), PyObject *Py_UNUSED(kwds)) {
    return type->tp_alloc(type, 0); /* zeroed: no buffers held yet */
}

static PyObject *Model_get_variant(Model *self, void *Py_UNUSED(closure)) {
    return PyLong_FromLong(self->scorer.variant);
}

/* Choosing the variant on a built model spares langid.py building the 40 MB automaton once per variant it tries.
 * Set it before the model is shared: detect() reads it without a lock. */
static int Model_set_variant(Model *self, PyObject *value, void *Py_UNUSED(closure)) {
    if (value == NULL) {
        PyErr_SetString(PyExc_AttributeError, "variant cannot be deleted");
        return -1;
    }
    const long variant = PyLong_AsLong(value);
    if (variant == -1 && PyErr_Occurred()) return -1;
    if (variant < 0 || variant >= N_VARIANTS) {
        PyErr_Format(PyExc_ValueError, "variant must be in [0, %d)", N_VARIANTS);
        return -1;
    }
    if (!self->table) {
        PyErr_SetString(PyExc_RuntimeError, "Model is not initialised");
        return -1;
    }
    const Py_ssize_t ncls = self->pc_buf.len / 4;
    self->scorer.gemv = gemv_shape(self->ptc_buf.buf, ncls, (int)variant);
    self->scorer.variant = (int)variant;
    return 0;
}

static PyGetSetDef Model_getset[] = {
    {"variant", (getter)Model_get_variant, (setter)Model_set_variant,
     "the OpenBLAS sgemv_n kernel mirrored (see langid.py); set it before the model is shared", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMethodDef Model_methods[] = {
    {"detect", (PyCFunction)(void (*)(void))Model_detect, METH_FASTCALL,
     "detect(text, max_chars) -> (lang, prob), or None where the Python path must answer."},
    {"raw_scores", (PyCFunction)Model_raw_scores, METH_VARARGS,
     "raw_scores(features, counts) -> bytes: float32 log1p(counts) @ ptc[features], in this model's variant."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject ModelType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "lmforge.pipeline.curate._langid.Model",
    .tp_basicsize = sizeof(Model),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "py3langid's classifier over its own arrays (see _langid.c).",
    .tp_new = Model_new,
    .tp_init = (initproc)Model_init,
    .tp_dealloc = (destructor)Model_dealloc,
    .tp_methods = Model_methods,
    .tp_getset = Model_getset,
};

/* Calibration hook: numpy_expf over float32 bytes. */
static PyObject *mod_expf(PyObject *Py_UNUSED(self), PyObject *args) {
    Py_buffer b;
    if (!PyArg_ParseTuple(args, "y*:expf", &b)) return NULL;
    PyObject *result = NULL;
    if (b.len % 4) {
        PyErr_SetString(PyExc_ValueError, "expf needs float32 bytes");
    } else {
        result = PyBytes_FromStringAndSize(NULL, b.len);
        if (result) {
            float *out = (float *)PyBytes_AS_STRING(result);
            const float *in = b.buf;
            for (Py_ssize_t i = 0; i < b.len / 4; i++) out[i] = numpy_expf(in[i]);
        }
    }
    PyBuffer_Release(&b);
    return result;
}

static PyMethodDef module_methods[] = {
    {"expf", mod_expf, METH_VARARGS, "expf(float32 bytes) -> bytes: numpy's float32 exp, element by element."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    .m_base = PyModuleDef_HEAD_INIT,
    .m_name = "_langid",
    .m_doc = "C twin of lmforge's py3langid language identification (see langid.py).",
    .m_size = -1,
    .m_methods = module_methods,
};

PyMODINIT_FUNC PyInit__langid(void) {
    PyObject *unicodedata = PyImport_ImportModule("unicodedata");
    if (!unicodedata) return NULL;
    normalize_func = PyObject_GetAttrString(unicodedata, "normalize");
    Py_DECREF(unicodedata);
    if (!normalize_func) return NULL;
    nfc_name = PyUnicode_InternFromString("NFC");
    lower_name = PyUnicode_InternFromString("lower");
    und_str = PyUnicode_InternFromString("und");
    if (!nfc_name || !lower_name || !und_str) return NULL;
    init_props();
    init_dispatch();
    if (PyType_Ready(&ModelType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    if (PyModule_AddObjectRef(m, "Model", (PyObject *)&ModelType) < 0 ||
        PyModule_AddIntConstant(m, "N_VARIANTS", N_VARIANTS) < 0 ||
        PyModule_AddIntConstant(m, "ALPHA_SCAN", ALPHA_SCAN) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}

/* The hot loops of gilfree's array statistics, in C so that they run at SIMD width.
 *
 * Called from ext/_arrays_c.pyx inside `with nogil:`. The order of every floating-point
 * operation is the one documented in src/gilfree/_stats.py and followed step by step by the
 * pure-Python twin (src/gilfree/_arrays_py.py): element i of a block goes to lane i % 8; lane
 * j keeps its own running sum, minimum (v < lo ? v : lo), maximum (v > hi ? v : hi) and sum of
 * squared deviations. SIMD changes no result: each lane is still one sequence of IEEE
 * operations, SSE2's minpd/maxpd compute exactly those comparisons, and the build turns FMA
 * contraction off.
 *
 * On x86-64 (SSE2 is part of the base architecture) the loops use SSE2 intrinsics: GCC does not
 * vectorize the min/max lanes on its own and spills 24 scalar accumulators, which measured 3x
 * slower. Elsewhere a plain C loop with the same lanes is used.
 *
 * x may sit at any byte address (see _unaligned.h): the SIMD loops use unaligned loads (loadu),
 * and every scalar read goes through gilfree_load_f64.
 */
#ifndef GILFREE_LANES_H
#define GILFREE_LANES_H

#include <math.h>
#include <stddef.h>

#include "_unaligned.h"

#define GILFREE_LANES 8

#if defined(__SSE2__) || defined(_M_X64) || (defined(_M_IX86_FP) && _M_IX86_FP >= 2)
#define GILFREE_SSE2 1
#include <emmintrin.h>
#endif

/* The tail of a block (m % 8 elements): element full + j goes to lane j. */
static void gilfree_lanes_tail(const double *x, ptrdiff_t full, ptrdiff_t m, double *s,
                               double *lo, double *hi)
{
    ptrdiff_t j;
    for (j = 0; j < m - full; j++) {
        double v = gilfree_load_f64(x + full + j);
        s[j] += v;
        lo[j] = v < lo[j] ? v : lo[j];
        hi[j] = v > hi[j] ? v : hi[j];
    }
}

/* First pass over one block: lane sums, lane minima and lane maxima. NaN never enters a lane
 * minimum or maximum (a comparison with NaN is false); the caller checks for NaN separately. */
static void gilfree_lanes_sum_min_max_base(const double *x, ptrdiff_t m, double *sums,
                                           double *lows, double *highs)
{
    ptrdiff_t i, full = m - m % GILFREE_LANES;
#ifdef GILFREE_SSE2
    __m128d s0 = _mm_setzero_pd(), s1 = s0, s2 = s0, s3 = s0;
    __m128d l0 = _mm_set1_pd(INFINITY), l1 = l0, l2 = l0, l3 = l0;
    __m128d h0 = _mm_set1_pd(-INFINITY), h1 = h0, h2 = h0, h3 = h0;
    for (i = 0; i < full; i += GILFREE_LANES) {
        __m128d v0 = _mm_loadu_pd(x + i), v1 = _mm_loadu_pd(x + i + 2);
        __m128d v2 = _mm_loadu_pd(x + i + 4), v3 = _mm_loadu_pd(x + i + 6);
        s0 = _mm_add_pd(s0, v0); s1 = _mm_add_pd(s1, v1);
        s2 = _mm_add_pd(s2, v2); s3 = _mm_add_pd(s3, v3);
        /* minpd(a, b) is a < b ? a : b, maxpd(a, b) is a > b ? a : b, lane by lane. */
        l0 = _mm_min_pd(v0, l0); l1 = _mm_min_pd(v1, l1);
        l2 = _mm_min_pd(v2, l2); l3 = _mm_min_pd(v3, l3);
        h0 = _mm_max_pd(v0, h0); h1 = _mm_max_pd(v1, h1);
        h2 = _mm_max_pd(v2, h2); h3 = _mm_max_pd(v3, h3);
    }
    _mm_storeu_pd(sums, s0); _mm_storeu_pd(sums + 2, s1);
    _mm_storeu_pd(sums + 4, s2); _mm_storeu_pd(sums + 6, s3);
    _mm_storeu_pd(lows, l0); _mm_storeu_pd(lows + 2, l1);
    _mm_storeu_pd(lows + 4, l2); _mm_storeu_pd(lows + 6, l3);
    _mm_storeu_pd(highs, h0); _mm_storeu_pd(highs + 2, h1);
    _mm_storeu_pd(highs + 4, h2); _mm_storeu_pd(highs + 6, h3);
#else
    int j;
    for (j = 0; j < GILFREE_LANES; j++) {
        sums[j] = 0.0;
        lows[j] = INFINITY;
        highs[j] = -INFINITY;
    }
    for (i = 0; i < full; i += GILFREE_LANES) {
        for (j = 0; j < GILFREE_LANES; j++) {
            double v = gilfree_load_f64(x + i + j);
            sums[j] += v;
            lows[j] = v < lows[j] ? v : lows[j];
            highs[j] = v > highs[j] ? v : highs[j];
        }
    }
#endif
    gilfree_lanes_tail(x, full, m, sums, lows, highs);
}

/* Second pass over the same block (now in L1 cache): lane sums of squared deviations. */
static void gilfree_lanes_squares_base(const double *x, ptrdiff_t m, double mean, double *squares)
{
    ptrdiff_t i, j, full = m - m % GILFREE_LANES;
#ifdef GILFREE_SSE2
    __m128d q0 = _mm_setzero_pd(), q1 = q0, q2 = q0, q3 = q0, mu = _mm_set1_pd(mean);
    for (i = 0; i < full; i += GILFREE_LANES) {
        __m128d d0 = _mm_sub_pd(_mm_loadu_pd(x + i), mu);
        __m128d d1 = _mm_sub_pd(_mm_loadu_pd(x + i + 2), mu);
        __m128d d2 = _mm_sub_pd(_mm_loadu_pd(x + i + 4), mu);
        __m128d d3 = _mm_sub_pd(_mm_loadu_pd(x + i + 6), mu);
        q0 = _mm_add_pd(q0, _mm_mul_pd(d0, d0)); q1 = _mm_add_pd(q1, _mm_mul_pd(d1, d1));
        q2 = _mm_add_pd(q2, _mm_mul_pd(d2, d2)); q3 = _mm_add_pd(q3, _mm_mul_pd(d3, d3));
    }
    _mm_storeu_pd(squares, q0); _mm_storeu_pd(squares + 2, q1);
    _mm_storeu_pd(squares + 4, q2); _mm_storeu_pd(squares + 6, q3);
#else
    for (j = 0; j < GILFREE_LANES; j++) {
        squares[j] = 0.0;
    }
    for (i = 0; i < full; i += GILFREE_LANES) {
        for (j = 0; j < GILFREE_LANES; j++) {
            double d = gilfree_load_f64(x + i + j) - mean;
            squares[j] += d * d;
        }
    }
#endif
    for (j = 0; j < m - full; j++) {
        double d = gilfree_load_f64(x + full + j) - mean;
        squares[j] += d * d;
    }
}

/* AVX2: the same eight lanes in two 256-bit registers per accumulator, half the instructions.
 * Chosen at run time when the CPU has it (GCC and Clang on x86-64), as numpy does for its own
 * loops; the SSE2 code above stays the baseline that every x86-64 CPU runs. */
#if defined(GILFREE_SSE2) && (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__) \
    && !defined(GILFREE_NO_AVX2)
#define GILFREE_AVX2 1
#include <immintrin.h>
#include "_cpu_features.h"

__attribute__((target("avx2"))) static void
gilfree_lanes_sum_min_max_avx2(const double *x, ptrdiff_t m, double *sums, double *lows,
                               double *highs)
{
    ptrdiff_t i, full = m - m % GILFREE_LANES;
    __m256d s0 = _mm256_setzero_pd(), s1 = s0;
    __m256d l0 = _mm256_set1_pd(INFINITY), l1 = l0;
    __m256d h0 = _mm256_set1_pd(-INFINITY), h1 = h0;
    for (i = 0; i < full; i += GILFREE_LANES) {
        __m256d v0 = _mm256_loadu_pd(x + i), v1 = _mm256_loadu_pd(x + i + 4);
        s0 = _mm256_add_pd(s0, v0); s1 = _mm256_add_pd(s1, v1);
        l0 = _mm256_min_pd(v0, l0); l1 = _mm256_min_pd(v1, l1);
        h0 = _mm256_max_pd(v0, h0); h1 = _mm256_max_pd(v1, h1);
    }
    _mm256_storeu_pd(sums, s0); _mm256_storeu_pd(sums + 4, s1);
    _mm256_storeu_pd(lows, l0); _mm256_storeu_pd(lows + 4, l1);
    _mm256_storeu_pd(highs, h0); _mm256_storeu_pd(highs + 4, h1);
    gilfree_lanes_tail(x, full, m, sums, lows, highs);
}

__attribute__((target("avx2"))) static void
gilfree_lanes_squares_avx2(const double *x, ptrdiff_t m, double mean, double *squares)
{
    ptrdiff_t i, j, full = m - m % GILFREE_LANES;
    __m256d q0 = _mm256_setzero_pd(), q1 = q0, mu = _mm256_set1_pd(mean);
    for (i = 0; i < full; i += GILFREE_LANES) {
        __m256d d0 = _mm256_sub_pd(_mm256_loadu_pd(x + i), mu);
        __m256d d1 = _mm256_sub_pd(_mm256_loadu_pd(x + i + 4), mu);
        q0 = _mm256_add_pd(q0, _mm256_mul_pd(d0, d0));
        q1 = _mm256_add_pd(q1, _mm256_mul_pd(d1, d1));
    }
    _mm256_storeu_pd(squares, q0); _mm256_storeu_pd(squares + 4, q1);
    for (j = 0; j < m - full; j++) {
        double d = gilfree_load_f64(x + full + j) - mean;
        squares[j] += d * d;
    }
}

#endif

static void gilfree_lanes_sum_min_max(const double *x, ptrdiff_t m, double *sums, double *lows,
                                      double *highs)
{
#ifdef GILFREE_AVX2
    if (gilfree_has_avx2()) {
        gilfree_lanes_sum_min_max_avx2(x, m, sums, lows, highs);
        return;
    }
#endif
    gilfree_lanes_sum_min_max_base(x, m, sums, lows, highs);
}

static void gilfree_lanes_squares(const double *x, ptrdiff_t m, double mean, double *squares)
{
#ifdef GILFREE_AVX2
    if (gilfree_has_avx2()) {
        gilfree_lanes_squares_avx2(x, m, mean, squares);
        return;
    }
#endif
    gilfree_lanes_squares_base(x, m, mean, squares);
}

#endif

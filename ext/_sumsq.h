/* The hot loop of sum_squares: sum of i * i for lo <= i < hi < 2**32, in 64-bit arithmetic.
 *
 * The caller (ext/_cpu_c.pyx) guarantees that the whole sum fits in 64 bits, so every partial
 * sum does too and the order of the additions cannot change the result: integer addition
 * modulo 2**64 is exact and associative. That leaves the loop free to run in SIMD lanes.
 * GCC does not vectorize this widening multiply-accumulate by itself on x86-64, so the lanes
 * are written out: SSE2 (every x86-64 CPU) multiplies two 32-bit indices into two 64-bit
 * squares per instruction, AVX2 (chosen at run time where present) four.
 */
#ifndef GILFREE_SUMSQ_H
#define GILFREE_SUMSQ_H

#include <stdint.h>

#if defined(__SSE2__) || defined(_M_X64)
#define GILFREE_SUMSQ_SSE2 1
#include <emmintrin.h>
#endif
#if defined(GILFREE_SUMSQ_SSE2) && (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__) \
    && !defined(GILFREE_NO_AVX2)
#define GILFREE_SUMSQ_AVX2 1
#include <immintrin.h>
#include "_cpu_features.h"
#endif

static uint64_t gilfree_sumsq_scalar(uint32_t i, uint32_t hi, uint64_t s)
{
    for (; i < hi; i++) {
        s += (uint64_t)i * i;
    }
    return s;
}

#ifdef GILFREE_SUMSQ_SSE2
static uint64_t gilfree_sumsq_sse2(uint32_t lo, uint32_t hi)
{
    uint64_t lanes[2], s = 0;
    uint32_t i = lo;
    if (hi - lo >= 8) {
        /* Four vectors of two 64-bit lanes hold indices i .. i+7 (each below 2**32). */
        __m128i v0 = _mm_set_epi64x((long long)lo + 1, (long long)lo);
        __m128i two = _mm_set_epi64x(2, 2), eight = _mm_set_epi64x(8, 8);
        __m128i v1 = _mm_add_epi64(v0, two), v2 = _mm_add_epi64(v1, two), v3 = _mm_add_epi64(v2, two);
        __m128i a0 = _mm_setzero_si128(), a1 = a0, a2 = a0, a3 = a0;
        for (; hi - i >= 8; i += 8) {
            a0 = _mm_add_epi64(a0, _mm_mul_epu32(v0, v0));
            a1 = _mm_add_epi64(a1, _mm_mul_epu32(v1, v1));
            a2 = _mm_add_epi64(a2, _mm_mul_epu32(v2, v2));
            a3 = _mm_add_epi64(a3, _mm_mul_epu32(v3, v3));
            v0 = _mm_add_epi64(v0, eight);
            v1 = _mm_add_epi64(v1, eight);
            v2 = _mm_add_epi64(v2, eight);
            v3 = _mm_add_epi64(v3, eight);
        }
        a0 = _mm_add_epi64(_mm_add_epi64(a0, a1), _mm_add_epi64(a2, a3));
        _mm_storeu_si128((__m128i *)lanes, a0);
        s = lanes[0] + lanes[1];
    }
    return gilfree_sumsq_scalar(i, hi, s);
}
#endif

#ifdef GILFREE_SUMSQ_AVX2
__attribute__((target("avx2"))) static uint64_t gilfree_sumsq_avx2(uint32_t lo, uint32_t hi)
{
    uint64_t lanes[4], s = 0;
    uint32_t i = lo;
    if (hi - lo >= 16) {
        __m256i v0 = _mm256_set_epi64x((long long)lo + 3, (long long)lo + 2, (long long)lo + 1,
                                       (long long)lo);
        __m256i four = _mm256_set1_epi64x(4), sixteen = _mm256_set1_epi64x(16);
        __m256i v1 = _mm256_add_epi64(v0, four), v2 = _mm256_add_epi64(v1, four);
        __m256i v3 = _mm256_add_epi64(v2, four);
        __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
        for (; hi - i >= 16; i += 16) {
            a0 = _mm256_add_epi64(a0, _mm256_mul_epu32(v0, v0));
            a1 = _mm256_add_epi64(a1, _mm256_mul_epu32(v1, v1));
            a2 = _mm256_add_epi64(a2, _mm256_mul_epu32(v2, v2));
            a3 = _mm256_add_epi64(a3, _mm256_mul_epu32(v3, v3));
            v0 = _mm256_add_epi64(v0, sixteen);
            v1 = _mm256_add_epi64(v1, sixteen);
            v2 = _mm256_add_epi64(v2, sixteen);
            v3 = _mm256_add_epi64(v3, sixteen);
        }
        a0 = _mm256_add_epi64(_mm256_add_epi64(a0, a1), _mm256_add_epi64(a2, a3));
        _mm256_storeu_si256((__m256i *)lanes, a0);
        s = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
    }
    return gilfree_sumsq_scalar(i, hi, s);
}
#endif

/* Sum of i * i for lo <= i < hi; the caller guarantees hi < 2**32 and that the sum fits. */
static uint64_t gilfree_sumsq_u64(uint32_t lo, uint32_t hi)
{
#ifdef GILFREE_SUMSQ_AVX2
    if (gilfree_has_avx2()) {
        return gilfree_sumsq_avx2(lo, hi);
    }
#endif
#ifdef GILFREE_SUMSQ_SSE2
    return gilfree_sumsq_sse2(lo, hi);
#else
    return gilfree_sumsq_scalar(lo, hi, 0);
#endif
}

/* Between 2**28 and 2**32 too few squares fit in a 64-bit sum, so the low and high 32-bit
 * halves of each square are summed apart: fewer than 2**31 terms (the caller's limit) keep both
 * half-sums below 2**63. *sum_lo and *sum_hi receive the two half-sums. */
static void gilfree_sumsq_halves_scalar(uint32_t i, uint32_t hi, uint64_t *sum_lo, uint64_t *sum_hi)
{
    uint64_t a = *sum_lo, b = *sum_hi;
    for (; i < hi; i++) {
        uint64_t x = (uint64_t)i * i;
        a += x & 0xFFFFFFFFu;
        b += x >> 32;
    }
    *sum_lo = a;
    *sum_hi = b;
}

#ifdef GILFREE_SUMSQ_SSE2
static void gilfree_sumsq_halves_sse2(uint32_t lo, uint32_t hi, uint64_t *sum_lo, uint64_t *sum_hi)
{
    uint64_t l[2], h[2];
    uint32_t i = lo;
    *sum_lo = 0;
    *sum_hi = 0;
    if (hi - lo >= 4) {
        __m128i v0 = _mm_set_epi64x((long long)lo + 1, (long long)lo);
        __m128i v1 = _mm_add_epi64(v0, _mm_set_epi64x(2, 2)), four = _mm_set_epi64x(4, 4);
        __m128i mask = _mm_set_epi64x(0xFFFFFFFFLL, 0xFFFFFFFFLL);
        __m128i lo0 = _mm_setzero_si128(), lo1 = lo0, hi0 = lo0, hi1 = lo0;
        for (; hi - i >= 4; i += 4) {
            __m128i x0 = _mm_mul_epu32(v0, v0), x1 = _mm_mul_epu32(v1, v1);
            lo0 = _mm_add_epi64(lo0, _mm_and_si128(x0, mask));
            lo1 = _mm_add_epi64(lo1, _mm_and_si128(x1, mask));
            hi0 = _mm_add_epi64(hi0, _mm_srli_epi64(x0, 32));
            hi1 = _mm_add_epi64(hi1, _mm_srli_epi64(x1, 32));
            v0 = _mm_add_epi64(v0, four);
            v1 = _mm_add_epi64(v1, four);
        }
        _mm_storeu_si128((__m128i *)l, _mm_add_epi64(lo0, lo1));
        _mm_storeu_si128((__m128i *)h, _mm_add_epi64(hi0, hi1));
        *sum_lo = l[0] + l[1];
        *sum_hi = h[0] + h[1];
    }
    gilfree_sumsq_halves_scalar(i, hi, sum_lo, sum_hi);
}
#endif

static void gilfree_sumsq_halves(uint32_t lo, uint32_t hi, uint64_t *sum_lo, uint64_t *sum_hi)
{
#ifdef GILFREE_SUMSQ_SSE2
    gilfree_sumsq_halves_sse2(lo, hi, sum_lo, sum_hi);
#else
    *sum_lo = 0;
    *sum_hi = 0;
    gilfree_sumsq_halves_scalar(lo, hi, sum_lo, sum_hi);
#endif
}

#endif

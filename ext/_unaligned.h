/* Loads and stores of one double at any byte address.
 *
 * A float64 buffer handed to a kernel need not be 8-byte aligned: numpy.frombuffer at an odd
 * offset, a slice of an mmap or of SharedMemory.buf cast to 'd'. The pure twins accept such
 * buffers, so the kernels must too, and in C a load or store through a misaligned double * is
 * undefined behaviour (UBSan reports it; a vectorizing compiler may emit an aligned SIMD access
 * that faults). memcpy of 8 bytes is the portable unaligned access, and compilers turn it into
 * the one plain load or store an aligned pointer would get. The pointer parameters are void *
 * on purpose: a compiler may take the alignment of a double * argument for granted in memcpy.
 */
#ifndef GILFREE_UNALIGNED_H
#define GILFREE_UNALIGNED_H

#include <string.h>

static inline double gilfree_load_f64(const void *p)
{
    double v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void gilfree_store_f64(void *p, double v)
{
    memcpy(p, &v, sizeof v);
}

#endif

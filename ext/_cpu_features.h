/* Run-time CPU feature checks shared by the SIMD headers (GCC and Clang on x86-64).
 * __builtin_cpu_supports reads flags that libgcc fills in at load time: cheap, and free of
 * data races, so any thread may call it. */
#ifndef GILFREE_CPU_FEATURES_H
#define GILFREE_CPU_FEATURES_H

static int gilfree_has_avx2(void)
{
    return __builtin_cpu_supports("avx2") ? 1 : 0;
}

#endif

/*
 * fnn_runtime.h -- OpenMP shim and CPU feature detection.
 *
 * The shim lets every kernel call omp_get_max_threads() & co. whether or
 * not the extension was built with OpenMP (a serial build returns 1).
 */
#ifndef FNN_RUNTIME_H
#define FNN_RUNTIME_H

#ifdef _OPENMP
#include <omp.h>
#define FNN_HAVE_OPENMP 1
#else
#define FNN_HAVE_OPENMP 0
static inline int omp_get_max_threads(void) { return 1; }
static inline int omp_get_thread_num(void) { return 0; }
static inline void omp_set_num_threads(int n) { (void)n; }
#endif

/* --- CPU features -------------------------------------------------------- */
#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__) || defined(_M_IX86)
#define FNN_X86 1
#else
#define FNN_X86 0
#endif

#if FNN_X86 && defined(_MSC_VER) && !defined(__clang__)
#include <intrin.h>
#include <immintrin.h>
static int fnn_cpu_has_avx2(void) {
    int r[4]; __cpuid(r, 0); if (r[0] < 7) return 0;
    __cpuid(r, 1);
    int fma = (r[2] >> 12) & 1, osxsave = (r[2] >> 27) & 1, avx = (r[2] >> 28) & 1, f16c = (r[2] >> 29) & 1;
    if (!(fma && osxsave && avx && f16c)) return 0;
    if ((_xgetbv(0) & 0x6) != 0x6) return 0;            /* OS saves XMM+YMM */
    __cpuidex(r, 7, 0);
    return (r[1] >> 5) & 1;                              /* AVX2 */
}
static int fnn_cpu_has_avx512(void) {
    int r[4];
    if (!fnn_cpu_has_avx2()) return 0;
    if ((_xgetbv(0) & 0xe6) != 0xe6) return 0;           /* OS saves opmask+ZMM */
    __cpuidex(r, 7, 0);
    int f = (r[1] >> 16) & 1, dq = (r[1] >> 17) & 1, bw = (r[1] >> 30) & 1, vl = (r[1] >> 31) & 1;
    return f && dq && bw && vl;
}
#elif FNN_X86 && (defined(__GNUC__) || defined(__clang__))
/* __builtin_cpu_supports also checks that the OS saves the wide registers. */
static int fnn_cpu_has_avx2(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("avx");
}
static int fnn_cpu_has_avx512(void) {
    __builtin_cpu_init();
    return fnn_cpu_has_avx2() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq")
        && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
}
#else
static int fnn_cpu_has_avx2(void) { return 0; }
static int fnn_cpu_has_avx512(void) { return 0; }
#endif

#endif /* FNN_RUNTIME_H */

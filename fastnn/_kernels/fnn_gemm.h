/*
 * fnn_gemm.h -- fastnn's single-threaded GEMM: packed panels and a
 * register-blocked microkernel (the BLIS / oneDNN scheme).
 *
 *   fnn_gemm_f32 / fnn_gemm_f64(trans_a, trans_b, M, N, K, alpha, A, lda,
 *                               B, ldb, beta, C, ldc)
 *
 * computes the row-major C (M, N) = alpha op(A) op(B) + beta C, op(X) = X^T
 * when trans_x, like BLAS (beta == 0: C is written, never read; alpha == 0 or
 * K == 0: C = beta C, A and B are not read).  One call runs on the calling
 * thread only: fastnn's OpenMP loops give each thread whole blocks of C.
 *
 * Scheme (docs/gemm.md has the measurements):
 *   for each block of MC rows of C, for each slice of KC of the K axis:
 *     pack op(A)[rows, slice] into MR-row panels (a copy, never a transpose:
 *       A untransposed is kept row by row, stride KCS; A transposed is kept
 *       k by k, MR values per k);
 *     for each block of NC columns of C:
 *       pack op(B)[slice, columns] into NR-column panels, k by k (zero past N);
 *       for each MR-row panel of A (held in L1 across the next loop):
 *         for each NR-column panel of B (streamed from L2):
 *           microkernel: the MR x NR tile of C in MR*NV vector registers,
 *           per k one load of NV vectors of B and MR broadcasts of A.
 * A tile that hangs over the edge of C is computed whole into a scratch tile
 * (the panels are zero-padded) and its valid part added to C.
 *
 * Every C element is accumulated in the order k = 0, 1, ..., K-1 inside each
 * KC slice, slices in order, whatever the position of the element in the
 * tile: the result depends only on the shape of the call, never on how many
 * threads run the caller's loop.
 *
 * The vector width and tile come from the compile target (one build per SIMD
 * target, see setup.py): AVX-512 14 x 32 floats / 14 x 16 doubles (28 of the
 * 32 zmm registers accumulate), AVX2+FMA 6 x 16 / 6 x 8 (12 of 16 ymm), any
 * other target 4 x 2 vectors of 16 bytes (SSE2, NEON); compilers without GNU
 * vector extensions get a scalar 4 x 4 tile.  FNN_GEMM_VBYTES / FNN_GEMM_MR
 * may be defined before inclusion to build another tile (the tests compile
 * the AVX-512 tile on AVX2 this way).
 *
 * Packing buffers: one per thread (thread-local, allocated by the C runtime
 * on a thread's first call), FNN_GEMM_WS_BYTES bytes, whatever the shape.
 */
#ifndef FNN_GEMM_H
#define FNN_GEMM_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__GNUC__) || defined(__clang__)
#define FNN_GEMM_GNU 1
#define FNN_GEMM_INLINE static inline __attribute__((always_inline))
#define FNN_GEMM_RESTRICT __restrict__
#define FNN_GEMM_TLS __thread
#else
#define FNN_GEMM_GNU 0
#define FNN_GEMM_INLINE static __forceinline
#define FNN_GEMM_RESTRICT __restrict
#define FNN_GEMM_TLS __declspec(thread)
#endif

#ifndef FNN_GEMM_VBYTES
#if !FNN_GEMM_GNU
#define FNN_GEMM_VBYTES 0          /* scalar */
#elif defined(__AVX512F__)
#define FNN_GEMM_VBYTES 64
#elif defined(__AVX__)
#define FNN_GEMM_VBYTES 32
#else
#define FNN_GEMM_VBYTES 16
#endif
#endif

#ifndef FNN_GEMM_MR
#if FNN_GEMM_VBYTES == 64
#define FNN_GEMM_MR 14
#elif FNN_GEMM_VBYTES == 32 && defined(__FMA__)
#define FNN_GEMM_MR 6
#else
#define FNN_GEMM_MR 4              /* no FMA: a product register per update */
#endif
#endif

/* K slice (floats; doubles take half, so a slice has the same bytes) and
 * columns of B per packed block: the B block (KC x NC) stays in L2, an A
 * panel (MR x KC) in L1. */
#if FNN_GEMM_VBYTES == 64
#define FNN_GEMM_KC 256
#define FNN_GEMM_NC 512
#else
#define FNN_GEMM_KC 256
#define FNN_GEMM_NC 256
#endif
/* rows ahead that the packing of B prefetches */
#define FNN_GEMM_PF 8
/* rows of A per packed block (a multiple of MR) */
#define FNN_GEMM_MC (FNN_GEMM_MR * (288 / FNN_GEMM_MR))

/* row stride of a packed untransposed A panel: KC plus one cache line, so
 * the MR rows of a panel do not all fall into one L1 set */
#define FNN_GEMM_KCS(kc, T) ((kc) + 64 / (ptrdiff_t)sizeof(T))

#define FNN_GEMM_ALIGN 64
#define FNN_GEMM_WS_BYTES \
    ((size_t)FNN_GEMM_MC * (FNN_GEMM_KC + 16) * 4 + (size_t)FNN_GEMM_KC * FNN_GEMM_NC * 4 + 2 * FNN_GEMM_ALIGN)

static FNN_GEMM_TLS unsigned char fnn_gemm_ws[FNN_GEMM_WS_BYTES];

static inline unsigned char *fnn_gemm_workspace(void) {
    uintptr_t p = (uintptr_t)fnn_gemm_ws;
    return (unsigned char *)((p + FNN_GEMM_ALIGN - 1) & ~(uintptr_t)(FNN_GEMM_ALIGN - 1));
}

/* ---- float32 ---- */
#define FNN_T float
#define FNN_N(x) x##_f32
#if FNN_GEMM_VBYTES
typedef float fnn_gemm_vf32 __attribute__((vector_size(FNN_GEMM_VBYTES)));
#define FNN_VT fnn_gemm_vf32
#define FNN_VL (FNN_GEMM_VBYTES / 4)
#else
#define FNN_VT float
#define FNN_VL 1
#endif
#define FNN_KCT FNN_GEMM_KC
#include "fnn_gemm_impl.h"
#undef FNN_T
#undef FNN_N
#undef FNN_VT
#undef FNN_VL
#undef FNN_KCT

/* ---- float64 ---- */
#define FNN_T double
#define FNN_N(x) x##_f64
#if FNN_GEMM_VBYTES
typedef double fnn_gemm_vf64 __attribute__((vector_size(FNN_GEMM_VBYTES)));
#define FNN_VT fnn_gemm_vf64
#define FNN_VL (FNN_GEMM_VBYTES / 8)
#else
#define FNN_VT double
#define FNN_VL 1
#endif
#define FNN_KCT (FNN_GEMM_KC / 2)
#include "fnn_gemm_impl.h"
#undef FNN_T
#undef FNN_N
#undef FNN_VT
#undef FNN_VL
#undef FNN_KCT

/* tile of the build, for tests and documentation: MR, NR (floats) */
static inline int fnn_gemm_mr(void) { return FNN_GEMM_MR; }
static inline int fnn_gemm_nr_f32(void) { return FNN_GEMM_VBYTES ? 2 * FNN_GEMM_VBYTES / 4 : 4; }
static inline int fnn_gemm_nr_f64(void) { return FNN_GEMM_VBYTES ? 2 * FNN_GEMM_VBYTES / 8 : 4; }
static inline int fnn_gemm_kc_f32(void) { return FNN_GEMM_KC; }
static inline int fnn_gemm_kc_f64(void) { return FNN_GEMM_KC / 2; }

/* The target's float32 multiply-add peak: n rounds of MR x NR independent
 * multiply-adds on registers (MR * NV chains, enough to cover the FMA
 * latency on every target here), nothing loaded.  2 * MR * NR * n flops;
 * returns a sum of the results so the loop is kept. */
static double fnn_gemm_peak_f32(ptrdiff_t n) {
#if FNN_GEMM_VBYTES
    const int nv = 2, vl = FNN_GEMM_VBYTES / 4;
    fnn_gemm_vf32 acc[FNN_GEMM_MR][2], x = (fnn_gemm_vf32){0}, y = (fnn_gemm_vf32){0};
#else
    const int nv = 4, vl = 1;
    float acc[FNN_GEMM_MR][4], x = 0, y = 0;
#endif
    double total = 0;
    ptrdiff_t r;
    int i, v, l;
    x += (float)0.999999;
    y += (float)1e-7;
    for (i = 0; i < FNN_GEMM_MR; i++)
        for (v = 0; v < nv; v++)
            acc[i][v] = x * (float)(i + v);
    for (r = 0; r < n; r++) {
#pragma GCC unroll 16
        for (i = 0; i < FNN_GEMM_MR; i++)
#pragma GCC unroll 4
            for (v = 0; v < 2; v++)
                acc[i][v] = acc[i][v] * x + y;
#if !FNN_GEMM_VBYTES
        for (i = 0; i < FNN_GEMM_MR; i++)
            for (v = 2; v < 4; v++)
                acc[i][v] = acc[i][v] * x + y;
#endif
    }
    for (i = 0; i < FNN_GEMM_MR; i++)
        for (v = 0; v < nv; v++)
            for (l = 0; l < vl; l++)
                total += ((float *)&acc[i][v])[l];
    return total;
}

#endif /* FNN_GEMM_H */

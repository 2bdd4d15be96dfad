/*
 * fnn_stream.h -- non-temporal ("streaming") stores for big outputs.
 *
 * A plain store to memory that is not in cache first reads the line
 * (write-allocate), so writing an output array costs two memory transfers.
 * Streaming stores skip that read.  Kernels compute a block into an
 * L1-resident scratch buffer, then copy it out with fnn_stream_copy_*.
 * Used only for outputs larger than the last-level cache would keep
 * (STREAM_MIN_BYTES in the kernels); the widest store of the target ISA
 * is chosen at compile time, so each SIMD build gets its own.
 */
#ifndef FNN_STREAM_H
#define FNN_STREAM_H

#include <stdint.h>
#include <string.h>
#include <stddef.h>

#if defined(__SSE2__) || defined(_M_X64) || (defined(_M_IX86_FP) && _M_IX86_FP >= 2)
#include <immintrin.h>
#define FNN_HAVE_STREAM 1
#else
#define FNN_HAVE_STREAM 0
#endif

#if defined(__AVX512F__)
#define FNN_STREAM_ALIGN 64
#elif defined(__AVX__)
#define FNN_STREAM_ALIGN 32
#else
#define FNN_STREAM_ALIGN 16
#endif

/* One vector of a streaming copy: sfx is ps (float) or pd (double). */
#if defined(__AVX512F__)
#define FNN_STREAM_VEC(sfx, dst, src) _mm512_stream_##sfx(dst, _mm512_loadu_##sfx(src))
#elif defined(__AVX__)
#define FNN_STREAM_VEC(sfx, dst, src) _mm256_stream_##sfx(dst, _mm256_loadu_##sfx(src))
#else
#define FNN_STREAM_VEC(sfx, dst, src) _mm_stream_##sfx(dst, _mm_loadu_##sfx(src))
#endif

/* fnn_stream_copy_<name>(dst, src, n) for elements of type T: scalar stores up to the first
 * FNN_STREAM_ALIGN boundary of dst, then whole vectors streamed (when dst is aligned to T),
 * then memcpy for the rest. */
#if FNN_HAVE_STREAM
#define FNN_STREAM_COPY(name, T, sfx)                                                        \
static inline void fnn_stream_copy_##name(T *dst, const T *src, ptrdiff_t n) {                \
    const ptrdiff_t lanes = FNN_STREAM_ALIGN / (ptrdiff_t)sizeof(T);                          \
    while (n > 0 && ((uintptr_t)dst & (FNN_STREAM_ALIGN - 1))) { *dst++ = *src++; n--; }    \
    if (((uintptr_t)dst & (sizeof(T) - 1)) == 0) {                                            \
        for (; n >= lanes; n -= lanes, dst += lanes, src += lanes) FNN_STREAM_VEC(sfx, dst, src); \
    }                                                                                         \
    if (n > 0) memcpy(dst, src, (size_t)n * sizeof(T));                                       \
}
#else
#define FNN_STREAM_COPY(name, T, sfx)                                                        \
static inline void fnn_stream_copy_##name(T *dst, const T *src, ptrdiff_t n) {                \
    if (n > 0) memcpy(dst, src, (size_t)n * sizeof(T));                                       \
}
#endif

FNN_STREAM_COPY(f32, float, ps)
FNN_STREAM_COPY(f64, double, pd)

/* Make this thread's streaming stores visible before others read the data. */
static inline void fnn_stream_fence(void) {
#if FNN_HAVE_STREAM
    _mm_sfence();
#endif
}

#endif /* FNN_STREAM_H */

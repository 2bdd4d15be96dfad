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

static inline void fnn_stream_copy_f32(float *dst, const float *src, ptrdiff_t n) {
#if FNN_HAVE_STREAM
    while (n > 0 && ((uintptr_t)dst & (FNN_STREAM_ALIGN - 1))) { *dst++ = *src++; n--; }
    if (((uintptr_t)dst & 3) == 0) {
#if defined(__AVX512F__)
        for (; n >= 16; n -= 16, dst += 16, src += 16) _mm512_stream_ps(dst, _mm512_loadu_ps(src));
#elif defined(__AVX__)
        for (; n >= 8; n -= 8, dst += 8, src += 8) _mm256_stream_ps(dst, _mm256_loadu_ps(src));
#else
        for (; n >= 4; n -= 4, dst += 4, src += 4) _mm_stream_ps(dst, _mm_loadu_ps(src));
#endif
    }
#endif
    if (n > 0) memcpy(dst, src, (size_t)n * sizeof(float));
}

static inline void fnn_stream_copy_f64(double *dst, const double *src, ptrdiff_t n) {
#if FNN_HAVE_STREAM
    while (n > 0 && ((uintptr_t)dst & (FNN_STREAM_ALIGN - 1))) { *dst++ = *src++; n--; }
    if (((uintptr_t)dst & 7) == 0) {
#if defined(__AVX512F__)
        for (; n >= 8; n -= 8, dst += 8, src += 8) _mm512_stream_pd(dst, _mm512_loadu_pd(src));
#elif defined(__AVX__)
        for (; n >= 4; n -= 4, dst += 4, src += 4) _mm256_stream_pd(dst, _mm256_loadu_pd(src));
#else
        for (; n >= 2; n -= 2, dst += 2, src += 2) _mm_stream_pd(dst, _mm_loadu_pd(src));
#endif
    }
#endif
    if (n > 0) memcpy(dst, src, (size_t)n * sizeof(double));
}

/* Make this thread's streaming stores visible before others read the data. */
static inline void fnn_stream_fence(void) {
#if FNN_HAVE_STREAM
    _mm_sfence();
#endif
}

#endif /* FNN_STREAM_H */

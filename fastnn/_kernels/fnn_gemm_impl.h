/*
 * fnn_gemm_impl.h -- body of fnn_gemm.h, included once per element type with
 * FNN_T (element), FNN_VT (vector of FNN_VL elements, or the element itself),
 * FNN_N(name) (suffixed name) and FNN_KCT (K slice) defined.  See fnn_gemm.h.
 */
#define FNN_MR FNN_GEMM_MR
#define FNN_NV (FNN_GEMM_VBYTES ? 2 : 4)
#define FNN_NR (FNN_VL * FNN_NV)

/* MR x (nv vectors) tile += over kc:  acc[i][:] += a(i, k) * b[k][:].
 * a(i, k) is a[i * ai + k * ak]: (ai, ak) = (KCS, 1) for a row-kept panel,
 * (1, MR) for a k-kept one (constants at each call, so the addresses are
 * immediate offsets).  b: kc rows of NR, aligned to the vector, of which the
 * first nv vectors are used (nv = NV; 1 for a last panel of at most one
 * vector of columns).  Then C = alpha acc + beta C (beta == 0: C not read). */
FNN_GEMM_INLINE void FNN_N(fnn_gemm_tile)(ptrdiff_t kc, const int nv, const FNN_T *FNN_GEMM_RESTRICT a,
                                          const ptrdiff_t ai, const ptrdiff_t ak,
                                          const FNN_T *FNN_GEMM_RESTRICT b,
                                          FNN_T *FNN_GEMM_RESTRICT c, ptrdiff_t ldc,
                                          FNN_T alpha, FNN_T beta) {
    FNN_VT acc[FNN_MR][FNN_NV];
    ptrdiff_t k;
    int i, v;
#pragma GCC unroll 16
    for (i = 0; i < FNN_MR; i++)
#pragma GCC unroll 4
        for (v = 0; v < nv; v++)
            acc[i][v] = (FNN_VT){0};
    for (k = 0; k < kc; k++) {
        FNN_VT bv[FNN_NV];
#pragma GCC unroll 4
        for (v = 0; v < nv; v++)
            bv[v] = *(const FNN_VT *)(b + v * FNN_VL);
#pragma GCC unroll 16
        for (i = 0; i < FNN_MR; i++) {
            const FNN_T av = a[i * ai];
#pragma GCC unroll 4
            for (v = 0; v < nv; v++)
                acc[i][v] += av * bv[v];
        }
        a += ak;
        b += FNN_NR;
    }
    if (beta == (FNN_T)0) {
#pragma GCC unroll 16
        for (i = 0; i < FNN_MR; i++)
#pragma GCC unroll 4
            for (v = 0; v < nv; v++) {
                FNN_VT r = alpha * acc[i][v];
                memcpy(c + i * ldc + v * FNN_VL, &r, sizeof r);
            }
    } else {
#pragma GCC unroll 16
        for (i = 0; i < FNN_MR; i++)
#pragma GCC unroll 4
            for (v = 0; v < nv; v++) {
                FNN_VT r;
                memcpy(&r, c + i * ldc + v * FNN_VL, sizeof r);
                r = beta * r + alpha * acc[i][v];
                memcpy(c + i * ldc + v * FNN_VL, &r, sizeof r);
            }
    }
}

/* The two panel layouts of A, each a function of its own so the offsets are
 * constants: rows kept (untransposed A) and k kept (transposed A). */
static void FNN_N(fnn_gemm_tile_rows)(ptrdiff_t kc, const FNN_T *a, const FNN_T *b, FNN_T *c,
                                       ptrdiff_t ldc, FNN_T alpha, FNN_T beta) {
    FNN_N(fnn_gemm_tile)(kc, FNN_NV, a, FNN_GEMM_KCS(FNN_KCT, FNN_T), 1, b, c, ldc, alpha, beta);
}

static void FNN_N(fnn_gemm_tile_ks)(ptrdiff_t kc, const FNN_T *a, const FNN_T *b, FNN_T *c,
                                     ptrdiff_t ldc, FNN_T alpha, FNN_T beta) {
    FNN_N(fnn_gemm_tile)(kc, FNN_NV, a, 1, FNN_MR, b, c, ldc, alpha, beta);
}

/* the same on the first vector of the panel only (a last panel of <= VL columns) */
static void FNN_N(fnn_gemm_tile1_rows)(ptrdiff_t kc, const FNN_T *a, const FNN_T *b, FNN_T *c,
                                        ptrdiff_t ldc) {
    FNN_N(fnn_gemm_tile)(kc, 1, a, FNN_GEMM_KCS(FNN_KCT, FNN_T), 1, b, c, ldc, 1, 0);
}

static void FNN_N(fnn_gemm_tile1_ks)(ptrdiff_t kc, const FNN_T *a, const FNN_T *b, FNN_T *c,
                                      ptrdiff_t ldc) {
    FNN_N(fnn_gemm_tile)(kc, 1, a, 1, FNN_MR, b, c, ldc, 1, 0);
}

/* op(A)[i0:i0+mc, p0:p0+kc] into ceil(mc/MR) panels of MR * KCS elements;
 * rows past mc are zeros.  Memory is read in its own order (row by row). */
static void FNN_N(fnn_gemm_pack_a)(int ta, const FNN_T *A, ptrdiff_t lda, ptrdiff_t mc,
                                    ptrdiff_t kc, FNN_T *ap) {
    const ptrdiff_t kcs = FNN_GEMM_KCS(FNN_KCT, FNN_T);
    const ptrdiff_t np = (mc + FNN_MR - 1) / FNN_MR;
    ptrdiff_t r0, i, k;
    if (!ta) {              /* rows of A: copies into rows of the panels */
        for (i = 0; i < np * FNN_MR; i++) {
            FNN_T *dst = ap + (i / FNN_MR) * FNN_MR * kcs + (i % FNN_MR) * kcs;
            if (i < mc)
                memcpy(dst, A + i * lda, (size_t)kc * sizeof(FNN_T));
            else
                memset(dst, 0, (size_t)kc * sizeof(FNN_T));
        }
        return;
    }
    /* A is (K, M): row k of A holds op(A)[:, k], cut into the panels' k rows */
    for (k = 0; k < kc; k++) {
        const FNN_T *src = A + k * lda;
        for (r0 = 0; r0 < np * FNN_MR; r0 += FNN_MR) {
            FNN_T *dst = ap + r0 * kcs + k * FNN_MR;
            if (r0 + FNN_MR <= mc) {
                memcpy(dst, src + r0, FNN_MR * sizeof(FNN_T));
            } else {
                for (i = 0; i < FNN_MR; i++)
                    dst[i] = r0 + i < mc ? src[r0 + i] : (FNN_T)0;
            }
        }
    }
}

/* op(B)[p0:p0+kc, j0:j0+nc] into ceil(nc/NR) panels of kc rows of NR;
 * columns past nc are zeros.  Memory is read in its own order. */
static void FNN_N(fnn_gemm_pack_b)(int tb, const FNN_T *B, ptrdiff_t ldb, ptrdiff_t kc,
                                    ptrdiff_t nc, FNN_T *bp) {
    const ptrdiff_t nf = nc / FNN_NR * FNN_NR;     /* columns in full panels */
    ptrdiff_t c0, j, k;
    if (!tb) {              /* row k of B, cut into the panels' k rows */
        for (k = 0; k < kc; k++) {
            const FNN_T *src = B + k * ldb;
#if FNN_GEMM_GNU
            /* rows of B are apart in memory: fetch a later row while this one is copied */
            if (k + FNN_GEMM_PF < kc)
                for (j = 0; j < nc; j += 64 / (ptrdiff_t)sizeof(FNN_T))
                    __builtin_prefetch(src + FNN_GEMM_PF * ldb + j, 0, 3);
#endif
            for (c0 = 0; c0 < nf; c0 += FNN_NR)
                memcpy(bp + c0 * kc + k * FNN_NR, src + c0, FNN_NR * sizeof(FNN_T));
            if (nf < nc) {
                FNN_T *dst = bp + nf * kc + k * FNN_NR;
                for (j = 0; j < FNN_NR; j++)
                    dst[j] = nf + j < nc ? src[nf + j] : (FNN_T)0;
            }
        }
        return;
    }
    /* B is (N, K): row j of B holds op(B)[:, j], a column of its panel */
    for (c0 = 0; c0 < nc; c0 += FNN_NR) {
        FNN_T *dst = bp + c0 * kc;
        for (j = 0; j < FNN_NR; j++) {
            if (c0 + j < nc) {
                const FNN_T *src = B + (c0 + j) * ldb;
                for (k = 0; k < kc; k++)
                    dst[k * FNN_NR + j] = src[k];
            } else {
                for (k = 0; k < kc; k++)
                    dst[k * FNN_NR + j] = 0;
            }
        }
    }
}

/* One row of C from an untransposed B: c = alpha a B + beta c, B read in its
 * own order (no packing: each element of B is used once), in strips of
 * 4 vectors whose sums stay in registers, k in order for every element. */
static void FNN_N(fnn_gemm_row)(ptrdiff_t N, ptrdiff_t K, FNN_T alpha, const FNN_T *a,
                                ptrdiff_t as, const FNN_T *B, ptrdiff_t ldb, FNN_T beta,
                                FNN_T *c) {
    const ptrdiff_t W = 4 * FNN_VL;
    ptrdiff_t j0, j, k;
    int v;
    for (j0 = 0; j0 + W <= N; j0 += W) {
        FNN_VT acc[4];
#pragma GCC unroll 4
        for (v = 0; v < 4; v++)
            acc[v] = (FNN_VT){0};
        for (k = 0; k < K; k++) {
            const FNN_T ak = a[k * as];
            const FNN_T *b = B + k * ldb + j0;
#pragma GCC unroll 4
            for (v = 0; v < 4; v++) {
                FNN_VT bv;
                memcpy(&bv, b + v * FNN_VL, sizeof bv);
                acc[v] += ak * bv;
            }
        }
#pragma GCC unroll 4
        for (v = 0; v < 4; v++) {
            FNN_VT r;
            if (beta == (FNN_T)0) {
                r = alpha * acc[v];
            } else {
                memcpy(&r, c + j0 + v * FNN_VL, sizeof r);
                r = beta * r + alpha * acc[v];
            }
            memcpy(c + j0 + v * FNN_VL, &r, sizeof r);
        }
    }
    for (j = j0; j < N; j++) {
        FNN_T acc = 0;
        for (k = 0; k < K; k++)
            acc += a[k * as] * B[k * ldb + j];
        c[j] = beta == (FNN_T)0 ? alpha * acc : beta * c[j] + alpha * acc;
    }
}

static void FNN_N(fnn_gemm)(int ta, int tb, ptrdiff_t M, ptrdiff_t N, ptrdiff_t K, FNN_T alpha,
                            const FNN_T *A, ptrdiff_t lda, const FNN_T *B, ptrdiff_t ldb,
                            FNN_T beta, FNN_T *C, ptrdiff_t ldc) {
    const ptrdiff_t kcs = FNN_GEMM_KCS(FNN_KCT, FNN_T);
    FNN_T *ap, *bp;
    ptrdiff_t i0, p0, j0, ir, jr, i, j;
    FNN_T tile[FNN_MR * FNN_NR];
    if (M <= 0 || N <= 0)
        return;
    if (K <= 0 || alpha == (FNN_T)0) {
        for (i = 0; i < M; i++)
            for (j = 0; j < N; j++)
                C[i * ldc + j] = beta == (FNN_T)0 ? (FNN_T)0 : beta * C[i * ldc + j];
        return;
    }
    if (M == 1 && !tb) {
        FNN_N(fnn_gemm_row)(N, K, alpha, A, ta ? lda : 1, B, ldb, beta, C);
        return;
    }
    ap = (FNN_T *)fnn_gemm_workspace();
    bp = (FNN_T *)((unsigned char *)ap + (((size_t)FNN_GEMM_MC * kcs * sizeof(FNN_T)
                                           + FNN_GEMM_ALIGN - 1) & ~(size_t)(FNN_GEMM_ALIGN - 1)));
    for (i0 = 0; i0 < M; i0 += FNN_GEMM_MC) {
        const ptrdiff_t mc = M - i0 < FNN_GEMM_MC ? M - i0 : FNN_GEMM_MC;
        for (p0 = 0; p0 < K; p0 += FNN_KCT) {
            const ptrdiff_t kc = K - p0 < FNN_KCT ? K - p0 : FNN_KCT;
            const FNN_T bet = p0 == 0 ? beta : (FNN_T)1;
            FNN_N(fnn_gemm_pack_a)(ta, ta ? A + p0 * lda + i0 : A + i0 * lda + p0, lda, mc, kc, ap);
            for (j0 = 0; j0 < N; j0 += FNN_GEMM_NC) {
                const ptrdiff_t nc = N - j0 < FNN_GEMM_NC ? N - j0 : FNN_GEMM_NC;
                FNN_N(fnn_gemm_pack_b)(tb, tb ? B + j0 * ldb + p0 : B + p0 * ldb + j0, ldb, kc, nc, bp);
                for (ir = 0; ir < mc; ir += FNN_MR) {
                    const ptrdiff_t mr = mc - ir < FNN_MR ? mc - ir : FNN_MR;
                    const FNN_T *a = ap + ir * kcs;
                    for (jr = 0; jr < nc; jr += FNN_NR) {
                        const ptrdiff_t nr = nc - jr < FNN_NR ? nc - jr : FNN_NR;
                        const FNN_T *b = bp + jr * kc;
                        FNN_T *c = C + (i0 + ir) * ldc + j0 + jr;
                        if (mr == FNN_MR && nr == FNN_NR) {
                            if (ta)
                                FNN_N(fnn_gemm_tile_ks)(kc, a, b, c, ldc, alpha, bet);
                            else
                                FNN_N(fnn_gemm_tile_rows)(kc, a, b, c, ldc, alpha, bet);
                        } else {
                            if (nr <= FNN_VL && FNN_NV > 1) {
                                if (ta)
                                    FNN_N(fnn_gemm_tile1_ks)(kc, a, b, tile, FNN_NR);
                                else
                                    FNN_N(fnn_gemm_tile1_rows)(kc, a, b, tile, FNN_NR);
                            } else if (ta) {
                                FNN_N(fnn_gemm_tile_ks)(kc, a, b, tile, FNN_NR, 1, 0);
                            } else {
                                FNN_N(fnn_gemm_tile_rows)(kc, a, b, tile, FNN_NR, 1, 0);
                            }
                            for (i = 0; i < mr; i++)
                                for (j = 0; j < nr; j++) {
                                    FNN_T *cij = c + i * ldc + j;
                                    *cij = bet == (FNN_T)0 ? alpha * tile[i * FNN_NR + j]
                                                           : bet * *cij + alpha * tile[i * FNN_NR + j];
                                }
                        }
                    }
                }
            }
        }
    }
}

/* Convolution as an implicit GEMM (no im2col matrix): for the output pixels
 * q < P of one image and every filter f < F,
 *     out[f * P + q] = bias[f] + sum over k < K of wp(k, f) * xp[base[q] + off[k]]
 * xp: the image, zero-padded; base[q]: where pixel q's window starts in xp;
 * off[k]: where tap k (channel, filter row, filter column) sits from there.
 * wp: the filters as B panels (fnn_gemm_pack_b of W^T: panel p holds K rows
 * of NR filters p*NR ..; zeros past F).  A tile is MR pixels x NR filters,
 * the accumulators in registers; the MR window starts are pointers of their
 * own, so a tile may cross an output row.
 * Blocking as in fnn_gemm: per block of pixels and K slice (KCT taps), each
 * filter panel's slice (KCT x NR, in L1) serves every tile of the block.  The
 * tiles go to `stage` (block pixels x Fp, Fp = F rounded up to NR; `cap`
 * elements, at least MR * Fp), the first slice stored, the next ones added; the
 * block is then written to out filter by filter, in runs of whole cache lines
 * (rows of out are P apart, often a multiple of 4 KiB: scattered stores would all
 * land in one cache set), plus the bias (added to out's values when `accumulate`).
 * The sums run over k in order within a slice, slices in order: the same bits
 * for any thread count.
 * The filter gradient is the same product with the roles of the tables swapped:
 * "pixels" are taps (base = tap offsets), the sum runs over output pixels (off =
 * window starts), wp holds dout transposed (pixels x filters, in panels). */
static void FNN_N(fnn_gemm_conv)(const FNN_T *FNN_GEMM_RESTRICT xp, const ptrdiff_t *base,
                                 const ptrdiff_t *off, ptrdiff_t K,
                                 const FNN_T *FNN_GEMM_RESTRICT wp, ptrdiff_t F,
                                 const FNN_T *bias, FNN_T *FNN_GEMM_RESTRICT out, ptrdiff_t P,
                                 FNN_T *FNN_GEMM_RESTRICT stage, ptrdiff_t cap, int accumulate) {
    const ptrdiff_t Fp = (F + FNN_NR - 1) / FNN_NR * FNN_NR;
    ptrdiff_t nb = cap / Fp / FNN_MR * FNN_MR;
    ptrdiff_t qb, q, jp, k, f, p0;
    int r, v;
    if (nb < FNN_MR)
        nb = FNN_MR;
    for (qb = 0; qb < P; qb += nb) {
        const ptrdiff_t qe = P - qb < nb ? P : qb + nb;
        for (p0 = 0; p0 < K; p0 += FNN_KCT) {
            const ptrdiff_t kc = K - p0 < FNN_KCT ? K - p0 : FNN_KCT;
            const ptrdiff_t *offs = off + p0;
            for (jp = 0; jp < F; jp += FNN_NR) {
                const FNN_T *bs = wp + jp * K + p0 * FNN_NR;
                for (q = qb; q < qe; q += FNN_MR) {
                    const FNN_T *pr[FNN_MR];
                    const FNN_T *b = bs;
                    FNN_T *st = stage + (q - qb) * Fp + jp;
                    FNN_VT acc[FNN_MR][FNN_NV];
#pragma GCC unroll 16
                    for (r = 0; r < FNN_MR; r++)
                        pr[r] = xp + base[q + r < qe ? q + r : q];
#pragma GCC unroll 16
                    for (r = 0; r < FNN_MR; r++)
#pragma GCC unroll 4
                        for (v = 0; v < FNN_NV; v++)
                            acc[r][v] = (FNN_VT){0};
                    for (k = 0; k < kc; k++) {
                        const ptrdiff_t o = offs[k];
                        FNN_VT bv[FNN_NV];
#pragma GCC unroll 4
                        for (v = 0; v < FNN_NV; v++)
                            memcpy(&bv[v], b + v * FNN_VL, sizeof bv[v]);
#pragma GCC unroll 16
                        for (r = 0; r < FNN_MR; r++) {
                            const FNN_T av = pr[r][o];
#pragma GCC unroll 4
                            for (v = 0; v < FNN_NV; v++)
                                acc[r][v] += av * bv[v];
                        }
                        b += FNN_NR;
                    }
                    /* rows past the block's end repeat its first pixel: stage has room
                     * for them (nb is a multiple of MR), they are not copied out */
#pragma GCC unroll 16
                    for (r = 0; r < FNN_MR; r++)
#pragma GCC unroll 4
                        for (v = 0; v < FNN_NV; v++) {
                            FNN_VT t = acc[r][v];
                            if (p0) {
                                FNN_VT u;
                                memcpy(&u, st + r * Fp + v * FNN_VL, sizeof u);
                                t = u + t;
                            }
                            memcpy(st + r * Fp + v * FNN_VL, &t, sizeof t);
                        }
                }
            }
        }
        for (f = 0; f < F; f++) {
            const FNN_T bf = bias[f];
            FNN_T *o = out + f * P;
            if (accumulate)
                for (q = qb; q < qe; q++)
                    o[q] += stage[(q - qb) * Fp + f] + bf;
            else
                for (q = qb; q < qe; q++)
                    o[q] = stage[(q - qb) * Fp + f] + bf;
        }
    }
}

#undef FNN_MR
#undef FNN_NV
#undef FNN_NR

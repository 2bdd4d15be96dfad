"""Convolution workloads for bench/compare.py (--groups conv).

Rows: conv forward+backward (dx, dw, db) and forward only, float32, on the
course's three-layer convnet layer and a VGG-style layer, with the default
algorithm ("auto"); then the 3x3 layers of the Winograd targets
(docs/convolution.md) once per algorithm ("im2col", "winograd").  The "reference"
column is the vectorised NumPy im2col conv (fastnn.reference.conv_forward_im2col:
stride tricks + one batched matmul), not the loop oracle.  GFLOP/s counts
2*N*F*C*HH*WW*Ho*Wo per GEMM (forward; backward adds dw and dx: 3x).
"""
import functools

import numpy as np

from fastnn.benchmarks import harness
from fastnn import ops, reference

# (label, N, C, F, HH, WW, H, W, stride, pad, target fwd+bwd, target fwd)
SHAPES = [
    ("three-layer convnet N=50 3->32 7x7 pad 3 32x32", 50, 3, 32, 7, 7, 32, 32, 1, 3, 1.0, 1.0),
    ("VGG-style N=64 64->64 3x3 pad 1 32x32", 64, 64, 64, 3, 3, 32, 32, 1, 1, 1.3, 1.3),
]


def _flops(N, C, F, HH, WW, Ho, Wo):
    return 2.0 * N * F * C * HH * WW * Ho * Wo


def _make(N, C, F, HH, WW, H, W, stride, pad, backward, algorithm="auto"):
    def setup(torch):
        rng = np.random.default_rng(0)
        x = rng.standard_normal((N, C, H, W), dtype=np.float32)
        w = (rng.standard_normal((F, C, HH, WW), dtype=np.float32) / np.sqrt(C * HH * WW)).astype(np.float32)
        b = rng.standard_normal(F, dtype=np.float32)
        Ho = (H + 2 * pad - HH) // stride + 1
        Wo = (W + 2 * pad - WW) // stride + 1
        dout = rng.standard_normal((N, F, Ho, Wo), dtype=np.float32)

        def lib(fwd, bwd):
            def step():
                out, cache = fwd(x, w, b, stride, pad)
                if not backward:
                    return (out,)
                return (out,) + tuple(bwd(dout, cache))
            return step

        fwd = functools.partial(ops.conv_forward, algorithm=algorithm)
        steps = {"fastnn": lib(fwd, ops.conv_backward),
                 "reference": lib(reference.conv_forward_im2col, reference.conv_backward_im2col)}
        if torch is not None:
            F_ = torch.nn.functional
            tx = torch.from_numpy(x.copy()).requires_grad_(backward)
            tw = torch.from_numpy(w.copy()).requires_grad_(backward)
            tb = torch.from_numpy(b.copy()).requires_grad_(backward)
            tg = torch.from_numpy(dout)

            def tstep():
                if not backward:
                    with torch.no_grad():
                        return (F_.conv2d(tx, tw, tb, stride, pad),)
                tx.grad = tw.grad = tb.grad = None
                out = F_.conv2d(tx, tw, tb, stride, pad)
                out.backward(tg)
                return (out.detach(), tx.grad, tw.grad, tb.grad)
            steps["torch"] = tstep
        return steps
    return setup


WORKLOADS = []
for label, N, C, F, HH, WW, H, W, s, p, t_fb, t_f in SHAPES:
    Ho, Wo = (H + 2 * p - HH) // s + 1, (W + 2 * p - WW) // s + 1
    fl = _flops(N, C, F, HH, WW, Ho, Wo)
    WORKLOADS.append(harness.Workload(
        label=f"conv fwd+bwd {label}", setup=_make(N, C, F, HH, WW, H, W, s, p, True),
        target=t_fb, ref_speedup=3.0, work=3 * fl, unit="GFLOP/s",
        check=harness.allclose_check(rtol=1e-3, atol=1e-4)))
    WORKLOADS.append(harness.Workload(
        label=f"conv fwd {label}", setup=_make(N, C, F, HH, WW, H, W, s, p, False),
        target=t_f, ref_speedup=3.0, work=fl, unit="GFLOP/s",
        check=harness.allclose_check(rtol=1e-3, atol=1e-4)))

# (label, N, C, F, H, W, target fwd+bwd, target fwd or None): 3x3, stride 1, pad 1, per algorithm
ALGORITHM_SHAPES = [
    ("N=64 64->64 3x3 pad 1 32x32", 64, 64, 64, 32, 32, 0.7, 0.6),
    ("N=64 128->128 3x3 pad 1 16x16", 64, 128, 128, 16, 16, 0.8, None),
    ("N=64 256->256 3x3 pad 1 8x8", 64, 256, 256, 8, 8, 0.9, None),
]

def _algorithm_workloads():
    """The 3x3 rows of ALGORITHM_SHAPES, once per forced algorithm."""
    rows = []
    for algorithm in ("im2col", "winograd"):
        for label, N, C, F, H, W, t_fb, t_f in ALGORITHM_SHAPES:
            fl = _flops(N, C, F, 3, 3, H, W)
            rows.append(harness.Workload(
                label=f"conv fwd+bwd {algorithm} {label}",
                setup=_make(N, C, F, 3, 3, H, W, 1, 1, True, algorithm),
                target=t_fb, ref_speedup=3.0, work=3 * fl, unit="GFLOP/s",
                check=harness.allclose_check(rtol=1e-3, atol=1e-3)))
            if t_f is not None:
                rows.append(harness.Workload(
                    label=f"conv fwd {algorithm} {label}",
                    setup=_make(N, C, F, 3, 3, H, W, 1, 1, False, algorithm),
                    target=t_f, ref_speedup=3.0, work=fl, unit="GFLOP/s",
                    check=harness.allclose_check(rtol=1e-3, atol=1e-3)))
    return rows


WORKLOADS += _algorithm_workloads()

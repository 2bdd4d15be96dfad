"""Pooling workloads for bench/compare.py (--groups pooling): forward+backward,
float32 64x64x32x32.  The reference is fastnn.reference's loop-over-output-pixels
NumPy twin.  GB/s counts the bytes a pass must move: x, out, dout, dx (and the
uint8 argmax indices, written and read, for max pool).
"""
import numpy as np

from fastnn.benchmarks import harness
from fastnn import ops, reference

SHAPE = (64, 64, 32, 32)


def _pool(kind, ph, pw, s):
    def setup(torch):
        rng = np.random.default_rng(0)
        x = rng.standard_normal(SHAPE, dtype=np.float32)
        N, C, H, W = SHAPE
        if kind == "global":
            oshape = (N, C)
        else:
            oshape = (N, C, (H - ph) // s + 1, (W - pw) // s + 1)
        dout = rng.standard_normal(oshape, dtype=np.float32)

        def lib(mod):
            fwd = getattr(mod, f"{kind}_pool_forward" if kind != "global" else "global_avg_pool_forward")
            bwd = getattr(mod, f"{kind}_pool_backward" if kind != "global" else "global_avg_pool_backward")

            def step():
                out, cache = fwd(x) if kind == "global" else fwd(x, ph, pw, s)
                return out, bwd(dout, cache)
            return step

        steps = {"fastnn": lib(ops), "reference": lib(reference)}
        if torch is not None:
            F = torch.nn.functional

            def forward(tx):
                if kind == "max":
                    return F.max_pool2d(tx, (ph, pw), s)
                if kind == "avg":
                    return F.avg_pool2d(tx, (ph, pw), s)
                return tx.mean(dim=(2, 3))
            steps["torch"] = harness.torch_input_grad_step(torch, x, forward, dout)
        return steps
    return setup


def _bytes(kind, ph, pw, s):
    N, C, H, W = SHAPE
    n_in = N * C * H * W
    n_out = N * C if kind == "global" else N * C * ((H - ph) // s + 1) * ((W - pw) // s + 1)
    b = 4 * (2 * n_in + 2 * n_out)
    return b + (2 * n_out if kind == "max" else 0)


WORKLOADS = [
    harness.Workload(label="max pool 2x2 stride 2 fwd+bwd 64x64x32x32", setup=_pool("max", 2, 2, 2),
                     target=0.25, work=_bytes("max", 2, 2, 2), unit="GB/s",
                     check=harness.allclose_check()),
    harness.Workload(label="max pool 3x3 stride 2 fwd+bwd 64x64x32x32", setup=_pool("max", 3, 3, 2),
                     work=_bytes("max", 3, 3, 2), unit="GB/s", check=harness.allclose_check()),
    harness.Workload(label="avg pool 2x2 stride 2 fwd+bwd 64x64x32x32", setup=_pool("avg", 2, 2, 2),
                     work=_bytes("avg", 2, 2, 2), unit="GB/s", check=harness.allclose_check()),
    harness.Workload(label="global avg pool fwd+bwd 64x64x32x32", setup=_pool("global", 0, 0, 1),
                     work=_bytes("global", 0, 0, 1), unit="GB/s", check=harness.allclose_check()),
]

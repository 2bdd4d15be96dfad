"""Dropout and DropConnect workloads for bench/compare.py (group "dropout").

The masks of fastnn and of its reference are identical for a seed (checked
exactly); PyTorch draws its own mask, so its row is checked by structure:
every output is 0 or x / (1 - p), dx follows the same mask, and the kept
fraction is 1 - p within 4 standard deviations.
"""
import numpy as np

from fastnn.benchmarks import harness
from fastnn import ops, reference

N_DROPOUT = 4 << 20          # 4M elements
P = 0.5


def _as_np(a):
    return np.asarray(a.detach().numpy() if hasattr(a, "detach") else a)


def _dropout_check(x, g, p):
    scale = np.float32(1 / (1 - p))

    def check(results):
        f_out, f_dx = (_as_np(a) for a in results["fastnn"])
        r_out, r_dx = (_as_np(a) for a in results["reference"])
        if not (np.array_equal(f_out, r_out) and np.array_equal(f_dx, r_dx)):
            return "fastnn differs from the reference (same seed, same mask expected)"
        for lib, (out, dx) in results.items():
            out, dx = _as_np(out), _as_np(dx)
            kept = out != 0
            if not np.array_equal(out[kept], x[kept] * scale) or not np.array_equal(dx[kept], g[kept] * scale):
                return f"{lib}: kept values are not x / (1 - p)"
            if np.any(dx[~kept] != 0):
                return f"{lib}: gradient flows through dropped units"
            n = x.size
            if abs(kept.sum() - n * (1 - p)) > 4 * np.sqrt(n * p * (1 - p)):
                return f"{lib}: kept fraction {kept.mean():.4f} is not 1 - p"
        return None
    return check


def _dropout_setup(torch):
    rng = np.random.default_rng(0)
    x = rng.uniform(0.5, 1.5, N_DROPOUT).astype(np.float32)     # no zeros: out == 0 <=> dropped
    g = rng.uniform(0.5, 1.5, N_DROPOUT).astype(np.float32)

    def fastnn_step():
        out, cache = ops.dropout_forward(x, P, seed=1)
        return out, ops.dropout_backward(g, cache)

    def reference_step():
        out, cache = reference.dropout_forward(x, P, seed=1)
        return out, reference.dropout_backward(g, cache)

    steps = {"fastnn": fastnn_step, "reference": reference_step}
    if torch is not None:
        F = torch.nn.functional
        steps["torch"] = harness.torch_input_grad_step(
            torch, x, lambda tx: F.dropout(tx, P, training=True), g)
    return steps


_DC = (256, 1024, 1024)      # N, D, M


def _dropconnect_check(results):
    f = [_as_np(a) for a in results["fastnn"]]
    r = [_as_np(a) for a in results["reference"]]
    for i, (a, e) in enumerate(zip(f, r)):
        if not np.allclose(a, e, rtol=1e-4, atol=1e-4 * max(1.0, float(np.abs(e).max()))):
            return f"fastnn output {i} differs from the reference"
    if "torch" in results:
        t = [_as_np(a) for a in results["torch"]]
        if [a.shape for a in t] != [a.shape for a in f]:
            return "torch: shapes differ"
    return None


def _dropconnect_setup(torch):
    N, D, M = _DC
    rng = np.random.default_rng(1)
    x = rng.standard_normal((N, D)).astype(np.float32)
    w = (rng.standard_normal((D, M)) * 0.03).astype(np.float32)
    b = rng.standard_normal(M).astype(np.float32)
    g = rng.standard_normal((N, M)).astype(np.float32)

    def fastnn_step():
        out, cache = ops.dropconnect_forward(x, w, b, P, seed=2)
        return (out,) + ops.dropconnect_backward(g, cache)

    def reference_step():
        out, cache = reference.dropconnect_forward(x, w, b, P, seed=2)
        return (out,) + reference.dropconnect_backward(g, cache)

    steps = {"fastnn": fastnn_step, "reference": reference_step}
    if torch is not None:
        F = torch.nn.functional
        tx = torch.from_numpy(x.copy()).requires_grad_()
        tw = torch.from_numpy(w.copy()).requires_grad_()
        tb = torch.from_numpy(b.copy()).requires_grad_()
        tg = torch.from_numpy(g)

        def torch_step():
            tx.grad = tw.grad = tb.grad = None
            out = tx @ F.dropout(tw, P, training=True) + tb
            out.backward(tg)
            return out, tx.grad, tw.grad, tb.grad
        steps["torch"] = torch_step
    return steps


def _dropout_workload():
    n = N_DROPOUT
    rng = np.random.default_rng(0)
    x = rng.uniform(0.5, 1.5, n).astype(np.float32)
    g = rng.uniform(0.5, 1.5, n).astype(np.float32)
    return harness.Workload(
        label="dropout p=0.5 train fwd+bwd 4M float32",
        setup=_dropout_setup, target=0.1, ref_speedup=3.0,
        work=18.0 * n, unit="GB/s",      # fwd: x 4n + out 4n + mask n; bwd: g 4n + mask n + dx 4n
        check=_dropout_check(x, g, P),
        note="torch: F.dropout forward + backward(dout); fastnn keeps a uint8 mask "
             "(SplitMix64, counter-based: same mask for any thread count)")


N, D, M = _DC
WORKLOADS = [
    _dropout_workload(),
    harness.Workload(
        label=f"dropconnect p=0.5 train fwd+bwd {N}x{D} @ {D}x{M} float32",
        setup=_dropconnect_setup, work=3 * 2.0 * N * D * M, unit="GFLOP/s",
        check=_dropconnect_check,
        note="torch: x @ F.dropout(w) + b (no DropConnect op); three GEMMs dominate"),
]


def measure_threshold():
    """One vs two threads for the raw dropout forward kernel: where the "dropout" parallel
    threshold (fastnn.set_parallel_threshold) belongs.

        python -m fastnn.benchmarks.cases_dropout
    """
    import time
    import fastnn
    from fastnn import _dispatch
    from fastnn._kernels import _runtime
    K = _dispatch.kernels.dropout
    old = fastnn.set_parallel_threshold("dropout", 0)
    old_stream = _runtime._set_stream_min_bytes(1 << 62)
    print("| elements | 1 thread us | 2 threads us | speed-up |\n| ---: | ---: | ---: | ---: |")
    try:
        for n in [2048, 4096, 8192, 16384, 32768, 65536, 131072, 262144]:
            x = np.random.default_rng(0).standard_normal(n).astype(np.float32)
            out, mask = np.empty_like(x), np.empty(n, np.uint8)
            t = {}
            for nt in (1, 2):
                reps = max(50, int(2e7 // n))
                for _ in range(20):
                    K.dropout_forward(x, out, mask, 1, 1 << 31, 2.0, nt)
                meds = []
                for _ in range(7):
                    t0 = time.perf_counter()
                    for _ in range(reps):
                        K.dropout_forward(x, out, mask, 1, 1 << 31, 2.0, nt)
                    meds.append((time.perf_counter() - t0) / reps * 1e6)
                t[nt] = float(np.median(meds))
            print(f"| {n} | {t[1]:.2f} | {t[2]:.2f} | {t[1] / t[2]:.2f} |")
    finally:
        fastnn.set_parallel_threshold("dropout", old)
        _runtime._set_stream_min_bytes(old_stream)


if __name__ == "__main__":
    measure_threshold()

"""Loss workloads for bench/compare.py (group "losses"): loss + gradient in one call.

Torch side: the functional loss forward + ``.backward()`` giving d(scores).
svm: ``F.multi_margin_loss`` (which divides by C) times C, the same value.
"""
import numpy as np

from fastnn.benchmarks import harness
from fastnn import ops, reference

ROWS = (1024, 1000)          # N, C of the softmax workload
ELEMS = 4 << 20              # elementwise losses


def _library_steps(name, *args):
    """The fastnn and reference steps of the loss ``name`` on ``args``: (loss, gradient)."""
    f, r = getattr(ops, name), getattr(reference, name)
    return {"fastnn": lambda: tuple(np.asarray(a) for a in f(*args)),
            "reference": lambda: tuple(np.asarray(a) for a in r(*args))}


def _row_setup(name):
    def setup(torch):
        N, C = ROWS
        rng = np.random.default_rng(0)
        s = (rng.standard_normal((N, C)) * 2).astype(np.float32)
        y = rng.integers(0, C, N)
        steps = _library_steps(name, s, y)
        if torch is not None:
            F = torch.nn.functional
            ty = torch.from_numpy(y)

            def loss(ts):
                if name == "softmax_loss":
                    return F.cross_entropy(ts, ty)
                return F.multi_margin_loss(ts, ty) * C
            steps["torch"] = harness.torch_input_grad_step(torch, s, loss)
        return steps
    return setup


def _elem_setup(name):
    def setup(torch):
        rng = np.random.default_rng(0)
        x = (rng.standard_normal(ELEMS) * 3).astype(np.float32)
        t = (rng.random(ELEMS) if name == "bce_with_logits_loss"
             else rng.standard_normal(ELEMS)).astype(np.float32)
        steps = _library_steps(name, x, t)
        if torch is not None:
            F = torch.nn.functional
            tt = torch.from_numpy(t)
            fn = F.binary_cross_entropy_with_logits if name == "bce_with_logits_loss" else F.mse_loss
            steps["torch"] = harness.torch_input_grad_step(torch, x, lambda tx: fn(tx, tt))
        return steps
    return setup


N, C = ROWS
WORKLOADS = [
    harness.Workload(label=f"softmax loss + grad {N}x{C} float32", setup=_row_setup("softmax_loss"),
                     target=1.0, ref_speedup=3.0, work=8.0 * N * C, unit="GB/s",
                     check=harness.allclose_check(rtol=1e-4, atol=1e-6),
                     note="torch: F.cross_entropy(scores, y) + backward()"),
    harness.Workload(label=f"svm loss + grad {N}x{C} float32", setup=_row_setup("svm_loss"),
                     ref_speedup=3.0, work=8.0 * N * C, unit="GB/s",
                     check=harness.allclose_check(rtol=1e-4, atol=1e-6),
                     note="torch: F.multi_margin_loss(scores, y) * C + backward()"),
    harness.Workload(label="bce_with_logits loss + grad 4M float32",
                     setup=_elem_setup("bce_with_logits_loss"), ref_speedup=3.0,
                     work=12.0 * ELEMS, unit="GB/s",
                     check=harness.allclose_check(rtol=1e-4, atol=1e-6)),
    harness.Workload(label="mse loss + grad 4M float32", setup=_elem_setup("mse_loss"),
                     ref_speedup=3.0, work=12.0 * ELEMS, unit="GB/s",
                     check=harness.allclose_check(rtol=1e-4, atol=1e-6)),
]


def measure_threshold():
    """One vs two threads for softmax/SVM rows (C = 1000) and BCE/MSE elements: where the
    "losses.*" parallel thresholds (fastnn.set_parallel_threshold) belong.

        python -m fastnn.benchmarks.cases_losses
    """
    import fastnn
    from fastnn import _dispatch
    K = _dispatch.kernels.losses
    names = ("losses.transcendental", "losses.cheap")
    old = [fastnn.set_parallel_threshold(name, 0) for name in names]

    def med(f, n):
        return harness.median_us(f, reps=max(20, int(1e7 // n)), warmup=10)

    rng = np.random.default_rng(0)
    print("| elements | softmax 1 thr us | 2 thr us | speed-up | svm 1 thr us | 2 thr us | speed-up "
          "| bce 1 thr us | 2 thr us | speed-up | mse 1 thr us | 2 thr us | speed-up |")
    print("| ---: |" + " ---: |" * 12)
    try:
        for rows in [2, 4, 8, 16, 32, 64, 128, 256]:
            n = rows * 1000
            s = rng.standard_normal((rows, 1000)).astype(np.float32)
            y = rng.integers(0, 1000, rows)
            ds, rl = np.empty_like(s), np.empty(rows)
            x = s.reshape(-1)
            tt = rng.random(n).astype(np.float32)
            d, bl = np.empty_like(x), np.empty(K.block_count(n))
            cells = []
            for f in (lambda nt: K.softmax_loss(s, y, ds, rl, nt),
                      lambda nt: K.svm_loss(s, y, ds, rl, 1.0, nt),
                      lambda nt: K.bce_with_logits_loss(x, tt, d, bl, nt),
                      lambda nt: K.mse_loss(x, tt, d, bl, 2.0 / n, nt)):
                t1, t2 = med(lambda: f(1), n), med(lambda: f(2), n)
                cells += [f"{t1:.2f}", f"{t2:.2f}", f"{t1 / t2:.2f}"]
            print(f"| {n} | " + " | ".join(cells) + " |")
    finally:
        for name, value in zip(names, old):
            fastnn.set_parallel_threshold(name, value)


if __name__ == "__main__":
    measure_threshold()

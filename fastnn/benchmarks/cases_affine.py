"""Bench row: affine forward + backward (three GEMMs, bias add, db), float32, with its performance target."""
import numpy as np

from fastnn.benchmarks import harness
from fastnn import ops, reference


def _setup(N, D, M):
    def setup(torch):
        rng = np.random.default_rng(0)
        x = rng.standard_normal((N, D), dtype=np.float32)
        w = (rng.standard_normal((D, M), dtype=np.float32) / np.sqrt(D)).astype(np.float32)
        b = rng.standard_normal(M, dtype=np.float32)
        g = rng.standard_normal((N, M), dtype=np.float32)

        def lib_step(m):
            def step():
                out, cache = m.affine_forward(x, w, b)
                return (out,) + tuple(m.affine_backward(g, cache))
            return step

        steps = {"fastnn": lib_step(ops), "reference": lib_step(reference)}
        if torch is not None:
            tx = torch.from_numpy(x).requires_grad_()
            tw = torch.from_numpy(np.ascontiguousarray(w.T)).requires_grad_()   # torch's (M, D)
            tb = torch.from_numpy(b.copy()).requires_grad_()
            tdout = torch.from_numpy(g)

            def tstep():
                tx.grad = tw.grad = tb.grad = None
                y = torch.nn.functional.linear(tx, tw, tb)
                y.backward(tdout)
                return y, tx.grad, tw.grad.T, tb.grad
            steps["torch"] = tstep
        return steps
    return setup


WORKLOADS = [
    harness.Workload("affine fwd+bwd 256x3072 -> 1024", _setup(256, 3072, 1024), target=1.05,
                     work=3 * 2.0 * 256 * 3072 * 1024, unit="GFLOP/s",
                     check=harness.allclose_check(rtol=1e-3, atol=1e-4)),
]

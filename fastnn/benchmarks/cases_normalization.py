"""Bench rows: batch norm (spatial and per feature), layer norm, group norm; train mode,
forward + backward, float32, with their performance targets."""
import numpy as np

from fastnn.benchmarks import harness
from fastnn import ops, reference


def _setup(shape, kind, groups=8):
    def setup(torch):
        rng = np.random.default_rng(0)
        x = rng.standard_normal(shape, dtype=np.float32)
        g = rng.standard_normal(shape, dtype=np.float32)
        pshape = shape[1:] if kind == "layernorm" else (shape[1],)
        gamma = rng.uniform(0.5, 1.5, pshape).astype(np.float32)
        beta = rng.standard_normal(pshape).astype(np.float32)
        C = shape[1]

        def lib_step(m):
            rm, rv = np.zeros(C, np.float32), np.ones(C, np.float32)

            def step():
                if kind == "batchnorm":
                    out, cache = m.batchnorm_forward(x, gamma, beta, rm, rv, training=True)
                    return (out,) + m.batchnorm_backward(g, cache)
                if kind == "layernorm":
                    out, cache = m.layernorm_forward(x, gamma, beta)
                    return (out,) + m.layernorm_backward(g, cache)
                out, cache = m.groupnorm_forward(x, gamma, beta, groups)
                return (out,) + m.groupnorm_backward(g, cache)
            return step

        steps = {"fastnn": lib_step(ops), "reference": lib_step(reference)}
        if torch is not None:
            F = torch.nn.functional
            tx = torch.from_numpy(x).requires_grad_()
            tg, tb = (torch.from_numpy(a.copy()).requires_grad_() for a in (gamma, beta))
            tdout = torch.from_numpy(g)
            trm, trv = torch.zeros(C), torch.ones(C)

            def tstep():
                tx.grad = tg.grad = tb.grad = None
                if kind == "batchnorm":
                    y = F.batch_norm(tx, trm, trv, tg, tb, training=True)
                elif kind == "layernorm":
                    y = F.layer_norm(tx, pshape, tg, tb)
                else:
                    y = F.group_norm(tx, groups, tg, tb)
                y.backward(tdout)
                return y, tx.grad, tg.grad, tb.grad
            steps["torch"] = tstep
        return steps
    return setup


def _bytes(shape):
    # forward reads x, writes y; backward reads dout and x, writes dx
    return 5 * 4 * float(np.prod(shape))


WORKLOADS = [
    harness.Workload("batchnorm2d train fwd+bwd 64x64x32x32", _setup((64, 64, 32, 32), "batchnorm"),
                     target=0.5, ref_speedup=3.0, work=_bytes((64, 64, 32, 32)), unit="GB/s",
                     check=harness.allclose_check(rtol=1e-3, atol=1e-4)),
    harness.Workload("batchnorm1d train fwd+bwd 256x1024", _setup((256, 1024), "batchnorm"),
                     target=1.0, ref_speedup=3.0, work=_bytes((256, 1024)), unit="GB/s",
                     check=harness.allclose_check(rtol=1e-3, atol=1e-4)),
    harness.Workload("layernorm fwd+bwd 256x1024", _setup((256, 1024), "layernorm"),
                     ref_speedup=3.0, work=_bytes((256, 1024)), unit="GB/s",
                     check=harness.allclose_check(rtol=1e-3, atol=1e-4)),
    harness.Workload("groupnorm G=8 fwd+bwd 64x64x32x32", _setup((64, 64, 32, 32), "groupnorm"),
                     ref_speedup=3.0, work=_bytes((64, 64, 32, 32)), unit="GB/s",
                     check=harness.allclose_check(rtol=1e-3, atol=1e-4)),
]

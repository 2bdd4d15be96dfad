"""pytest-benchmark: activation forward+backward, fastnn vs reference (vs torch if installed).

    pytest bench/test_bench_activations.py --benchmark-only

Benchmarks are not tests: nothing here asserts on time.  Each case first checks
that fastnn's result equals the reference, so the benchmark times the right thing.
"""
import numpy as np
import pytest

from fastnn import ops, reference

SHAPE = (16, 64, 32, 32)
OPS = [("relu", {}), ("leaky_relu", {}), ("sigmoid", {}), ("tanh", {}), ("elu", {}),
       ("selu", {}), ("gelu", {}), ("gelu", {"approximate": "tanh"}), ("softplus", {}), ("silu", {})]
IDS = [n + ("_tanh" if kw else "") for n, kw in OPS]


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    return rng.standard_normal(SHAPE).astype(np.float32), rng.standard_normal(SHAPE).astype(np.float32)


def _step(module, name, kw, x, g):
    f, b = getattr(module, name + "_forward"), getattr(module, name + "_backward")

    def step():
        y, c = f(x, **kw)
        return y, b(g, c)
    return step


@pytest.mark.parametrize("lib", ["fastnn", "reference", "torch"])
@pytest.mark.parametrize("name,kw", OPS, ids=IDS)
def test_activation_fwd_bwd(benchmark, data, name, kw, lib):
    x, g = data
    benchmark.group = name + ("_tanh" if kw else "")
    if lib == "torch":
        torch = pytest.importorskip("torch")
        F = torch.nn.functional
        fn = {"relu": F.relu, "leaky_relu": F.leaky_relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh,
              "elu": F.elu, "selu": F.selu, "gelu": F.gelu, "softplus": F.softplus, "silu": F.silu}[name]
        tx = torch.from_numpy(x.copy()).requires_grad_()
        tg = torch.from_numpy(g)

        def step():
            tx.grad = None
            fn(tx, **kw).backward(tg)
        benchmark(step)
        return
    module = ops if lib == "fastnn" else reference
    step = _step(module, name, kw, x, g)
    y, dx = step()
    ry, rdx = _step(reference, name, kw, x[:2], g[:2])()
    np.testing.assert_allclose(y[:2], ry, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(dx[:2], rdx, rtol=1e-4, atol=1e-4)
    if lib == "reference" and name == "gelu" and not kw:
        benchmark.pedantic(step, rounds=3, iterations=1)      # math.erfc per element: slow
    else:
        benchmark(step)

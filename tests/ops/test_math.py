"""Accuracy of fastnn's float32 vector maths (fnn_math.h) on a dense grid, every SIMD target.

Each function is reached through the op that uses it, on ~1e6 float32 values,
and measured in ulps of the float32 result against the float64 reference.
The bounds below are the documented accuracy (README, fnn_math.h).
"""
import numpy as np
import pytest

from fastnn import _dispatch, ops, reference


def _grid():
    a = np.linspace(-100, 100, 400001)
    b = np.linspace(-4, 4, 400001)
    c = np.geomspace(1e-30, 1.0, 2001)
    return np.unique(np.concatenate([a, b, c, -c]).astype(np.float32))


GRID = _grid()


TINY = float(np.finfo(np.float32).tiny)   # smallest normal float32


def _ulps(got, ref):
    """|got - ref| in units of the float32 spacing at ref, over normal results only
    (subnormal results carry few significant bits in any float32 library)."""
    keep = np.abs(ref) >= TINY
    ref32 = ref[keep].astype(np.float32)
    spacing = np.spacing(np.abs(ref32)).astype(np.float64)
    return np.abs(got[keep].astype(np.float64) - ref[keep]) / spacing


# op name, kwargs, max ulp forward, and the x range checked (the rest is checked by tolerances)
CASES = [
    ("sigmoid", {}, 3.0),
    ("tanh", {}, 7.0),
    ("elu", {}, 2.0),        # expm1 for x < 0
    ("softplus", {}, 4.0),   # log1p(exp(-|x|)) + max(x, 0)
    ("silu", {}, 4.0),
]


@pytest.mark.parametrize("target", _dispatch.supported_targets())
@pytest.mark.parametrize("name,kw,max_ulp", CASES, ids=[c[0] for c in CASES])
def test_float32_ulp_bounds(target, name, kw, max_ulp):
    x = GRID
    if name == "silu":
        # below -87 sigmoid(x) is subnormal, and x * sigmoid(x) inherits its
        # lost bits (PyTorch returns -0 there: its exp(-x) overflows)
        x = x[x >= -87]
    with _dispatch.use_target(target):
        out, _ = getattr(ops, name + "_forward")(x, **kw)
    ref, _ = getattr(reference, name + "_forward")(x.astype(np.float64), **kw)
    err = _ulps(out, ref)
    assert np.max(err) <= max_ulp, f"{name} on {target}: {np.max(err):.2f} ulp"


@pytest.mark.parametrize("target", _dispatch.supported_targets())
def test_gelu_exact_relative_accuracy_including_left_tail(target):
    """erfc-based Phi keeps relative accuracy where 1 + erf(x) would cancel
    (PyTorch's float32 gelu is 0 below x ~ -5.9).  The error grows like z^2 eps
    in the far left tail, from rounding inside exp(-z^2): documented bounds."""
    x = GRID[(GRID > -12) & (GRID < 12)]
    x = x[np.abs(x) > 1e-20]
    with _dispatch.use_target(target):
        out, _ = ops.gelu_forward(x)
    ref, _ = reference.gelu_forward(x.astype(np.float64))
    rel = np.abs(out - ref) / np.abs(ref)
    assert np.max(rel[x > -2]) < 1e-6
    assert np.max(rel[x > -4]) < 2e-6
    assert np.max(rel) < 2e-5


@pytest.mark.parametrize("target", _dispatch.supported_targets())
def test_subnormal_results(target):
    x = np.array([-100.0, -95.0, -90.0, -87.5], np.float32)
    with _dispatch.use_target(target):
        s, _ = ops.sigmoid_forward(x)
    ref = np.exp(x.astype(np.float64)) / (1 + np.exp(x.astype(np.float64)))
    assert np.all(s > 0)
    # subnormal spacing is constant (2^-149): allow 2 steps of it
    step = float(np.finfo(np.float32).smallest_subnormal)
    assert np.max(np.abs(s.astype(np.float64) - ref)) <= 2 * step + 4e-7 * ref.max()


@pytest.mark.parametrize("target", _dispatch.supported_targets())
def test_tanh_and_sigmoid_stay_in_range(target):
    with _dispatch.use_target(target):
        t, _ = ops.tanh_forward(GRID)
        s, _ = ops.sigmoid_forward(GRID)
    assert np.all(np.abs(t) <= 1) and np.all((s >= 0) & (s <= 1))
    assert t[0] == -1 and t[-1] == 1 and 0 < s[0] < 1e-43 and s[-1] == 1


@pytest.mark.parametrize("target", _dispatch.supported_targets())
def test_gelu_exact_gradient_accuracy(target):
    """Phi(x) + x phi(x), both from one erfc/exp evaluation: error relative to the size of
    its terms (the sum cancels near x = -0.75), growing like z^2 eps in the left tail."""
    from scipy.special import erfc
    x = GRID[(GRID > -12) & (GRID < 12)]
    with _dispatch.use_target(target):
        _, cache = ops.gelu_forward(x)
        dx = ops.gelu_backward(np.ones_like(x), cache)
    xd = x.astype(np.float64)
    phi = 0.5 * erfc(-xd / np.sqrt(2))
    pdf = np.exp(-0.5 * xd * xd) / np.sqrt(2 * np.pi)
    err = np.abs(dx - (phi + xd * pdf)) / (phi + np.abs(xd) * pdf)
    assert np.max(err[x > -4]) < 2e-6
    assert np.max(err) < 2e-5

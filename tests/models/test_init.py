"""Initialisers: statistics against theory, fans of fastnn's layouts, gains, in-place fill."""
import math

import numpy as np
import pytest

from fastnn import init


def test_fans_affine_and_conv():
    assert init.fans((784, 100)) == (784, 100)          # affine w (D, M): NOT PyTorch's (M, D)
    assert init.fans((64, 3, 5, 7)) == (3 * 35, 64 * 35)  # conv w (F, C, HH, WW)
    assert init.fans(np.empty((8, 2, 3))) == (6, 24)
    with pytest.raises(ValueError, match="fans: a weight needs at least 2 dimensions"):
        init.fans((10,))


def test_calculate_gain_matches_torch():
    expected = {"linear": 1.0, "conv2d": 1.0, "sigmoid": 1.0, "tanh": 5 / 3,
                "relu": math.sqrt(2), "selu": 0.75}
    for name, g in expected.items():
        assert init.calculate_gain(name) == pytest.approx(g, rel=1e-15)
    assert init.calculate_gain("leaky_relu") == pytest.approx(math.sqrt(2 / (1 + 0.01 ** 2)))
    assert init.calculate_gain("leaky_relu", 0.2) == pytest.approx(math.sqrt(2 / 1.04))
    torch = pytest.importorskip("torch")
    for name in ["linear", "tanh", "relu", "selu", "sigmoid"]:
        assert init.calculate_gain(name) == pytest.approx(torch.nn.init.calculate_gain(name))
    assert init.calculate_gain("leaky_relu", 0.3) == pytest.approx(
        torch.nn.init.calculate_gain("leaky_relu", 0.3))
    with pytest.raises(ValueError, match="calculate_gain: unknown nonlinearity 'swishy'"):
        init.calculate_gain("swishy")


BIG = (1000, 600)        # 600k draws: sample std within ~0.2% of the truth
CONV = (64, 32, 5, 5)    # fan_in 800, fan_out 1600; 51k draws


@pytest.mark.parametrize("shape", [BIG, CONV], ids=["affine", "conv"])
def test_std_matches_theory(shape, rng):
    fi, fo = init.fans(shape)
    cases = [
        (lambda w: init.normal(w, rng), 0.01),
        (lambda w: init.xavier_normal(w, rng), math.sqrt(2 / (fi + fo))),
        (lambda w: init.xavier_normal(w, rng, mode="fan_in"), 1 / math.sqrt(fi)),
        (lambda w: init.xavier_uniform(w, rng, gain=2.0), 2 * math.sqrt(2 / (fi + fo))),
        (lambda w: init.kaiming_normal(w, rng), math.sqrt(2 / fi)),
        (lambda w: init.kaiming_normal(w, rng, mode="fan_out"), math.sqrt(2 / fo)),
        (lambda w: init.kaiming_normal(w, rng, a=0.2, nonlinearity="leaky_relu"),
         math.sqrt(2 / (1.04 * fi))),
        (lambda w: init.kaiming_uniform(w, rng), math.sqrt(2 / fi)),
        (lambda w: init.kaiming_normal(w, rng, nonlinearity="tanh"), 5 / 3 / math.sqrt(fi)),
        (lambda w: init.lecun_normal(w, rng), 1 / math.sqrt(fi)),
    ]
    for fill, std in cases:
        w = np.empty(shape, np.float32)
        out = fill(w)
        assert out is w
        assert abs(w.std() / std - 1) < 0.02, (std, w.std())
        assert abs(w.mean()) < 0.02 * std


def test_uniform_bounds(rng):
    w = np.empty((300, 200))
    init.xavier_uniform(w, rng)
    a = math.sqrt(6 / 500)
    assert w.max() <= a and w.min() >= -a and w.max() > 0.99 * a
    init.kaiming_uniform(w, rng)
    b = math.sqrt(6 / 300)
    assert w.max() <= b and w.min() >= -b and w.max() > 0.99 * b


@pytest.mark.parametrize("shape", [(50, 20), (20, 50), (16, 3, 3, 3)])
def test_orthogonal(shape, rng, dtype):
    w = np.empty(shape, dtype)
    init.orthogonal(w, rng, gain=2.0)
    m = w.reshape(shape[0], -1).astype(np.float64) / 2.0
    k = min(m.shape)
    gram = m.T @ m if m.shape[0] >= m.shape[1] else m @ m.T
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(gram, np.eye(k), atol=tol)


def test_zeros_constant_relu_bias(rng):
    w = np.ones((3, 4))
    assert init.zeros(w) is w and not w.any()
    init.constant(w, 0.5)
    assert (w == 0.5).all()
    b = np.zeros(7, np.float32)
    init.relu_bias(b)
    assert (b == np.float32(0.01)).all()
    init.relu_bias(b, 0.1)
    assert (b == np.float32(0.1)).all()


def test_reproducible_from_generator():
    a, b = np.empty((20, 30)), np.empty((20, 30))
    init.kaiming_normal(a, np.random.default_rng(7))
    init.kaiming_normal(b, np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)
    np.random.seed(0)
    init.xavier_normal(a, np.random.default_rng(1))
    np.random.seed(1)
    init.xavier_normal(b, np.random.default_rng(1))
    np.testing.assert_array_equal(a, b)          # the global state plays no part


class _L:
    def __init__(self, **p):
        self.params = p


def test_zero_residual_branch():
    conv1 = _L(w=np.ones((4, 4, 3, 3)), b=np.ones(4))
    relu = _L()
    conv2 = _L(w=np.ones((4, 4, 3, 3)), b=np.ones(4))
    out = init.zero_residual_branch([conv1, relu, conv2, _L()])
    assert out is conv2.params
    assert not conv2.params["w"].any() and not conv2.params["b"].any()
    assert conv1.params["w"].all()
    bn = _L(gamma=np.ones(4), beta=np.full(4, 0.5))
    init.zero_residual_branch([conv1, bn])
    assert not bn.params["gamma"].any() and (bn.params["beta"] == 0.5).all()
    with pytest.raises(ValueError, match="no layer of the branch has parameters"):
        init.zero_residual_branch([relu])


def test_errors(rng):
    w = np.empty((3, 4))
    with pytest.raises(TypeError, match="xavier_normal: rng must be a numpy.random.Generator"):
        init.xavier_normal(w, np.random.RandomState(0))
    with pytest.raises(TypeError, match="kaiming_normal: w must be a numpy array"):
        init.kaiming_normal([[1.0]], rng)
    with pytest.raises(TypeError, match="normal: w must be a float array"):
        init.normal(np.zeros(3, np.int32), rng)
    with pytest.raises(ValueError, match="kaiming_normal: mode must be"):
        init.kaiming_normal(w, rng, mode="fan_sideways")
    with pytest.raises(ValueError, match="orthogonal: w needs at least 2 dimensions"):
        init.orthogonal(np.empty(3), rng)
    ro = np.zeros((2, 2))
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="zeros: w is read-only"):
        init.zeros(ro)

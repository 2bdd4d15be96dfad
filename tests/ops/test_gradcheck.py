"""Numerical gradients against known derivatives; model checks, float32 casting, restore."""
import numpy as np
import pytest

from fastnn import gradcheck


def test_eval_numerical_gradient_known(rng):
    x = rng.standard_normal((3, 4))
    x0 = x.copy()
    grad = gradcheck.eval_numerical_gradient(lambda a: np.sum(np.sin(a) * a), x)
    np.testing.assert_allclose(grad, np.cos(x0) * x0 + np.sin(x0), rtol=1e-8, atol=1e-9)
    np.testing.assert_array_equal(x, x0)          # x restored exactly


def test_eval_numerical_gradient_verbose(capsys):
    x = np.array([1.0, 2.0])
    gradcheck.eval_numerical_gradient(lambda a: float(a @ a), x, verbose=True)
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 and out[0].startswith("(0,)")


def test_eval_numerical_gradient_array(rng):
    x = rng.standard_normal((4, 5))
    W = rng.standard_normal((5, 3))
    df = rng.standard_normal((4, 3))
    grad = gradcheck.eval_numerical_gradient_array(lambda a: np.tanh(a @ W), x, df)
    analytic = (df * (1 - np.tanh(x @ W) ** 2)) @ W.T
    assert gradcheck.rel_error(grad, analytic) < 1e-7
    with pytest.raises(ValueError, match=r"f\(x\) has shape \(4, 3\) but df has shape \(2,\)"):
        gradcheck.eval_numerical_gradient_array(lambda a: a @ W, x, np.zeros(2))


def test_rel_error():
    assert gradcheck.rel_error(np.array([1.0, 2.0]), np.array([1.0, 2.0])) == 0.0
    assert gradcheck.rel_error(np.array([1.0]), np.array([3.0])) == pytest.approx(0.5)
    assert gradcheck.rel_error(np.array([0.0]), np.array([1e-9])) == pytest.approx(0.1)
    assert gradcheck.rel_error(np.zeros(0), np.zeros(0)) == 0.0
    with pytest.raises(ValueError, match="rel_error: shapes differ"):
        gradcheck.rel_error(np.zeros(2), np.zeros(3))


class TwoLayer:
    """affine - tanh - affine - softmax, computing in its parameters' dtype."""

    def __init__(self, rng, dtype=np.float64, wrong=False):
        self.params = {"W1": (0.5 * rng.standard_normal((4, 6))).astype(dtype),
                       "b1": (0.1 * rng.standard_normal(6)).astype(dtype),
                       "W2": (0.5 * rng.standard_normal((6, 3))).astype(dtype),
                       "b2": np.zeros(3, dtype)}
        self.wrong = wrong
        self.seen_dtypes = set()

    def loss(self, X, y=None):
        p = self.params
        self.seen_dtypes.add(p["W1"].dtype)
        h = np.tanh(X @ p["W1"] + p["b1"])
        s = h @ p["W2"] + p["b2"]
        if y is None:
            return s
        s = s - s.max(axis=1, keepdims=True)
        e = np.exp(s)
        prob = e / e.sum(axis=1, keepdims=True)
        N = len(X)
        loss = -np.mean(np.log(prob[np.arange(N), y]))
        ds = prob.copy()
        ds[np.arange(N), y] -= 1
        ds /= N
        dh = ds @ p["W2"].T
        dz = dh * (1 - h * h)
        grads = {"W2": h.T @ ds, "b2": ds.sum(0), "W1": X.T @ dz, "b1": dz.sum(0)}
        if self.wrong:
            grads["b1"] = grads["b1"] * 1.1
        return loss, grads


def test_check_model_gradients(rng):
    m = TwoLayer(rng)
    X, y = rng.standard_normal((5, 4)), rng.integers(0, 3, 5)
    errs = gradcheck.check_model_gradients(m, X, y)
    assert set(errs) == {"W1", "b1", "W2", "b2"}
    # W1 has entries ~5e-5: rounding in the differences limits their relative error
    assert max(errs.values()) < 1e-6
    bad = gradcheck.check_model_gradients(TwoLayer(rng, wrong=True), X, y)
    assert bad["b1"] > 1e-2 and bad["W1"] < 1e-6


def test_check_model_gradients_float32_cast_and_restore(rng):
    m = TwoLayer(rng, np.float32)
    before = {k: v for k, v in m.params.items()}
    snapshot = {k: v.copy() for k, v in m.params.items()}
    X, y = rng.standard_normal((5, 4)).astype(np.float32), rng.integers(0, 3, 5)
    errs = gradcheck.check_model_gradients(m, X, y)
    assert max(errs.values()) < 1e-6                 # checked in float64 (float32: ~1e-2)
    assert np.dtype(np.float64) in m.seen_dtypes
    for k in before:                                  # the same arrays, unchanged, are back
        assert m.params[k] is before[k]
        np.testing.assert_array_equal(m.params[k], snapshot[k])
    errs32 = gradcheck.check_model_gradients(TwoLayer(rng, np.float32), X, y,
                                             cast_float64=False, h=1e-2)
    assert max(errs32.values()) < 0.5                # float32 is only roughly checkable


def test_check_model_gradients_sampled(rng):
    m = TwoLayer(rng)
    X, y = rng.standard_normal((5, 4)), rng.integers(0, 3, 5)
    errs = gradcheck.check_model_gradients(m, X, y, num_checks=3)
    assert max(errs.values()) < 1e-6
    bad = gradcheck.check_model_gradients(TwoLayer(rng, wrong=True), X, y, num_checks=4)
    assert bad["b1"] > 1e-2


def test_check_model_gradients_errors(rng):
    with pytest.raises(TypeError, match="model must have a params dict and a loss"):
        gradcheck.check_model_gradients(object(), None, None)
    m = TwoLayer(rng)
    orig = m.loss
    m.loss = lambda X, y=None: (orig(X, y)[0], {"W1": np.zeros((4, 6))})
    with pytest.raises(ValueError, match=r"loss returned no gradient for \['W2', 'b1', 'b2'\]"):
        gradcheck.check_model_gradients(m, rng.standard_normal((2, 4)), np.array([0, 1]))

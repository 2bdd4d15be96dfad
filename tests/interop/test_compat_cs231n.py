"""The CS231n assignment-2 sanity checks, run through fastnn.compat.cs231n only.

Written from the assignment's published descriptions: forward values on
``np.linspace`` inputs (the expected numbers are hard-coded, computed with
plain NumPy loops / formulas), numerical gradient checks with the course's
``eval_numerical_gradient`` semantics (fastnn.gradcheck's helpers, which follow them),
running statistics in test mode, dropout keep-ratio means, the loss at
initialisation and overfitting 50 samples.
"""
import importlib
import math
import sys

import numpy as np
import pytest

from fastnn import reference
from fastnn.compat import cs231n
from fastnn.compat.cs231n import fast_layers as FL
from fastnn.compat.cs231n import layer_utils as LU
from fastnn.compat.cs231n import layers as LY
from fastnn.compat.cs231n import optim as OPT
from fastnn.compat.cs231n.classifiers.cnn import ThreeLayerConvNet
from fastnn.compat.cs231n.classifiers.fc_net import FullyConnectedNet, TwoLayerNet
from fastnn.compat.cs231n.solver import Solver
from fastnn.gradcheck import eval_numerical_gradient, eval_numerical_gradient_array, rel_error


# ---------------------------------------------------------------- the course's gradient check

def assert_gradient(num, grad, name, tol=1e-5):
    """The course's check, rel_error(num, grad) < tol; entries at the size of the loss's rounding
    noise over 2h (|error| < 1e-8) pass on their absolute error."""
    err = rel_error(num, grad)
    assert err < tol or np.abs(num - grad).max() < 1e-8, (name, err, np.abs(num - grad).max())


@pytest.fixture(autouse=True)
def _seed():
    np.random.seed(231)


# ---------------------------------------------------------------- forward values on linspace

def test_affine_forward_linspace():
    x = np.linspace(-0.1, 0.5, num=2 * 120).reshape(2, 4, 5, 6)
    w = np.linspace(-0.2, 0.3, num=120 * 3).reshape(120, 3)
    b = np.linspace(-0.3, 0.1, num=3)
    out, _ = LY.affine_forward(x, w, b)
    correct = np.array([[1.4983496696, 1.7066013217, 1.9148529737],
                        [3.2555319868, 3.5141327024, 3.772733418]])
    assert out.dtype == np.float64
    assert rel_error(out, correct) < 1e-9


def test_relu_forward_linspace():
    x = np.linspace(-0.5, 0.5, num=12).reshape(3, 4)
    out, _ = LY.relu_forward(x)
    correct = np.array([[0., 0., 0., 0.],
                        [0., 0., 0.0454545455, 0.1363636364],
                        [0.2272727273, 0.3181818182, 0.4090909091, 0.5]])
    assert rel_error(out, correct) < 5e-8


CONV_CORRECT = np.array([[[[-0.0875980861, -0.1098778064], [-0.1838719176, -0.2109216047]],
                          [[0.210270887, 0.216610968], [0.2284762606, 0.2300463747]],
                          [[0.5081398601, 0.5430997424], [0.6408244387, 0.6710143541]]],
                         [[[-0.9805358852, -1.0314354067], [-1.1912889216, -1.24695841]],
                          [[0.691083548, 0.6688038278], [0.5948097166, 0.5677600294]],
                          [[2.3627029812, 2.3690430622], [2.3809083548, 2.3824784689]]]])


@pytest.mark.parametrize("forward", [LY.conv_forward_naive, FL.conv_forward_fast,
                                     FL.conv_forward_im2col, FL.conv_forward_strides])
def test_conv_forward_linspace(forward):
    x = np.linspace(-0.1, 0.5, num=2 * 3 * 4 * 4).reshape(2, 3, 4, 4)
    w = np.linspace(-0.2, 0.3, num=3 * 3 * 4 * 4).reshape(3, 3, 4, 4)
    b = np.linspace(-0.1, 0.2, num=3)
    out, _ = forward(x, w, b, {"stride": 2, "pad": 1})
    assert out.shape == (2, 3, 2, 2)
    assert rel_error(out, CONV_CORRECT) < 1e-8


@pytest.mark.parametrize("forward", [LY.max_pool_forward_naive, FL.max_pool_forward_fast,
                                     FL.max_pool_forward_reshape, FL.max_pool_forward_im2col])
def test_max_pool_forward_linspace(forward):
    x = np.linspace(-0.3, 0.4, num=2 * 3 * 4 * 4).reshape(2, 3, 4, 4)
    out, _ = forward(x, {"pool_width": 2, "pool_height": 2, "stride": 2})
    correct = np.array([[[[-0.2631578947, -0.2484210526], [-0.2042105263, -0.1894736842]],
                         [[-0.1452631579, -0.1305263158], [-0.0863157895, -0.0715789474]],
                         [[-0.0273684211, -0.0126315789], [0.0315789474, 0.0463157895]]],
                        [[[0.0905263158, 0.1052631579], [0.1494736842, 0.1642105263]],
                         [[0.2084210526, 0.2231578947], [0.2673684211, 0.2821052632]],
                         [[0.3263157895, 0.3410526316], [0.3852631579, 0.4]]]])
    assert rel_error(out, correct) < 1e-8


# ---------------------------------------------------------------- gradient checks of the layers

def test_affine_backward_gradcheck():
    x, w, b = np.random.randn(10, 2, 3), np.random.randn(6, 5), np.random.randn(5)
    dout = np.random.randn(10, 5)
    dx_num = eval_numerical_gradient_array(lambda x: LY.affine_forward(x, w, b)[0], x, dout)
    dw_num = eval_numerical_gradient_array(lambda w: LY.affine_forward(x, w, b)[0], w, dout)
    db_num = eval_numerical_gradient_array(lambda b: LY.affine_forward(x, w, b)[0], b, dout)
    dx, dw, db = LY.affine_backward(dout, LY.affine_forward(x, w, b)[1])
    assert dx.shape == x.shape
    assert rel_error(dx, dx_num) < 1e-8
    assert rel_error(dw, dw_num) < 1e-8
    assert rel_error(db, db_num) < 1e-8


def test_relu_backward_gradcheck():
    x = np.random.randn(10, 10)
    dout = np.random.randn(*x.shape)
    dx_num = eval_numerical_gradient_array(lambda x: LY.relu_forward(x)[0], x, dout)
    dx = LY.relu_backward(dout, LY.relu_forward(x)[1])
    assert rel_error(dx, dx_num) < 1e-8


@pytest.mark.parametrize("loss_fn, expected", [(LY.svm_loss, 9.0), (LY.softmax_loss, math.log(10))])
def test_losses_at_small_scores_and_gradients(loss_fn, expected):
    num_classes, num_inputs = 10, 50
    x = 0.001 * np.random.randn(num_inputs, num_classes)
    y = np.random.randint(num_classes, size=num_inputs)
    loss, dx = loss_fn(x, y)
    assert abs(loss - expected) < 0.01
    dx_num = eval_numerical_gradient(lambda x: loss_fn(x, y)[0], x)
    assert rel_error(dx, dx_num) < 1e-7


def test_affine_relu_sandwich_gradcheck():
    x, w, b = np.random.randn(2, 3, 4), np.random.randn(12, 10), np.random.randn(10)
    dout = np.random.randn(2, 10)
    out, cache = LU.affine_relu_forward(x, w, b)
    dx, dw, db = LU.affine_relu_backward(dout, cache)
    f = lambda _: LU.affine_relu_forward(x, w, b)[0]  # noqa: E731
    assert rel_error(dx, eval_numerical_gradient_array(f, x, dout)) < 1e-8
    assert rel_error(dw, eval_numerical_gradient_array(f, w, dout)) < 1e-8
    assert rel_error(db, eval_numerical_gradient_array(f, b, dout)) < 1e-8


@pytest.mark.parametrize("forward", [LY.conv_forward_naive, FL.conv_forward_fast])
def test_conv_backward_gradcheck(forward):
    x = np.random.randn(4, 3, 5, 5)
    w = np.random.randn(2, 3, 3, 3)
    b = np.random.randn(2)
    dout = np.random.randn(4, 2, 5, 5)
    conv_param = {"stride": 1, "pad": 1}
    f = lambda _: forward(x, w, b, conv_param)[0]  # noqa: E731
    out, cache = forward(x, w, b, conv_param)
    backward = LY.conv_backward_naive if forward is LY.conv_forward_naive else FL.conv_backward_fast
    dx, dw, db = backward(dout, cache)
    # the course's bar ("around e-8 or less"): the central difference itself is only that
    # accurate here (1.6e-8 for dx on the baseline SIMD target, 8e-9 on AVX2)
    assert rel_error(dx, eval_numerical_gradient_array(f, x, dout)) < 5e-8
    assert rel_error(dw, eval_numerical_gradient_array(f, w, dout)) < 5e-8
    assert rel_error(db, eval_numerical_gradient_array(f, b, dout)) < 5e-8
    # and the exact gradients: fastnn's float64 reference
    _, ref_cache = reference.conv_forward(x, w, b, stride=1, pad=1)
    for got, want in zip((dx, dw, db), reference.conv_backward(dout, ref_cache)):
        assert rel_error(got, want) < 1e-12


def test_conv_fast_matches_a_plain_loop():
    x = np.random.randn(2, 3, 7, 7)
    w = np.random.randn(4, 3, 3, 3)
    b = np.random.randn(4)
    out, _ = FL.conv_forward_fast(x, w, b, {"stride": 2, "pad": 1})
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    want = np.empty((2, 4, 4, 4))
    for i in range(4):
        for j in range(4):
            patch = xp[:, :, 2 * i:2 * i + 3, 2 * j:2 * j + 3]
            want[:, :, i, j] = np.tensordot(patch, w, axes=([1, 2, 3], [1, 2, 3])) + b
    assert rel_error(out, want) < 1e-10


@pytest.mark.parametrize("backward_pair", [
    (LY.max_pool_forward_naive, LY.max_pool_backward_naive),
    (FL.max_pool_forward_fast, FL.max_pool_backward_fast)])
def test_max_pool_backward_gradcheck(backward_pair):
    forward, backward = backward_pair
    x = np.random.randn(3, 2, 8, 8)
    dout = np.random.randn(3, 2, 4, 4)
    pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}
    dx_num = eval_numerical_gradient_array(lambda x: forward(x, pool_param)[0], x, dout)
    dx = backward(dout, forward(x, pool_param)[1])
    assert rel_error(dx, dx_num) < 1e-8


def test_conv_relu_and_conv_relu_pool_gradcheck():
    x = np.random.randn(2, 3, 8, 8)
    w = np.random.randn(3, 3, 3, 3)
    b = np.random.randn(3)
    conv_param = {"stride": 1, "pad": 1}
    pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}
    for fwd, bwd, args, shape in (
            (LU.conv_relu_forward, LU.conv_relu_backward, (conv_param,), (2, 3, 8, 8)),
            (LU.conv_relu_pool_forward, LU.conv_relu_pool_backward, (conv_param, pool_param),
             (2, 3, 4, 4))):
        dout = np.random.randn(*shape)
        out, cache = fwd(x, w, b, *args)
        dx, dw, db = bwd(dout, cache)
        f = lambda _: fwd(x, w, b, *args)[0]  # noqa: E731
        assert rel_error(dx, eval_numerical_gradient_array(f, x, dout)) < 1e-6
        assert rel_error(dw, eval_numerical_gradient_array(f, w, dout)) < 1e-6
        assert rel_error(db, eval_numerical_gradient_array(f, b, dout)) < 1e-6


# ---------------------------------------------------------------- batch norm

def test_batchnorm_train_forward_means_and_stds():
    N, D1, D2, D3 = 200, 50, 60, 3
    X = np.random.randn(N, D1)
    a = np.maximum(0, X @ np.random.randn(D1, D2)) @ np.random.randn(D2, D3)
    # integer gamma and beta: the course's NumPy code accepts them
    out, _ = LY.batchnorm_forward(a, np.asarray([1, 2, 3]), np.asarray([11, 12, 13]),
                                  {"mode": "train"})
    assert out.dtype == np.float64
    np.testing.assert_allclose(out.mean(axis=0), [11, 12, 13], atol=1e-9)
    np.testing.assert_allclose(out.std(axis=0), [1, 2, 3], rtol=1e-5)


def test_batchnorm_running_average_is_the_course_convention():
    x = np.random.randn(20, 4) * 3 + 1
    bn_param = {"mode": "train", "momentum": 0.8}
    LY.batchnorm_forward(x, np.ones(4), np.zeros(4), bn_param)
    # start at zeros, running = momentum * running + (1 - momentum) * batch, biased variance
    np.testing.assert_allclose(bn_param["running_mean"], 0.2 * x.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(bn_param["running_var"], 0.2 * x.var(axis=0), rtol=1e-12)
    x2 = np.random.randn(20, 4)
    LY.batchnorm_forward(x2, np.ones(4), np.zeros(4), bn_param)
    np.testing.assert_allclose(bn_param["running_mean"],
                               0.8 * 0.2 * x.mean(axis=0) + 0.2 * x2.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(bn_param["running_var"],
                               0.8 * 0.2 * x.var(axis=0) + 0.2 * x2.var(axis=0), rtol=1e-12)
    # test mode normalises with them
    bn_param["mode"] = "test"
    out, _ = LY.batchnorm_forward(x2, np.full(4, 2.0), np.ones(4), bn_param)
    want = 2.0 * (x2 - bn_param["running_mean"]) / np.sqrt(bn_param["running_var"] + 1e-5) + 1.0
    np.testing.assert_allclose(out, want, rtol=1e-10)


def test_batchnorm_running_statistics_in_test_mode():
    N, D1, D2, D3 = 200, 50, 60, 3
    W1, W2 = np.random.randn(D1, D2), np.random.randn(D2, D3)
    bn_param = {"mode": "train"}
    gamma, beta = np.ones(D3), np.zeros(D3)
    for _ in range(50):
        a = np.maximum(0, np.random.randn(N, D1) @ W1) @ W2
        LY.batchnorm_forward(a, gamma, beta, bn_param)
    bn_param["mode"] = "test"
    a = np.maximum(0, np.random.randn(N, D1) @ W1) @ W2
    out, _ = LY.batchnorm_forward(a, gamma, beta, bn_param)
    assert np.all(np.abs(out.mean(axis=0)) < 0.25)
    assert np.all(np.abs(out.std(axis=0) - 1) < 0.15)


@pytest.mark.parametrize("backward", [LY.batchnorm_backward, LY.batchnorm_backward_alt])
def test_batchnorm_backward_gradcheck(backward):
    N, D = 4, 5
    x = 5 * np.random.randn(N, D) + 12
    gamma, beta = np.random.randn(D), np.random.randn(D)
    dout = np.random.randn(N, D)
    bn_param = {"mode": "train"}
    f = lambda _: LY.batchnorm_forward(x, gamma, beta, bn_param)[0]  # noqa: E731
    dx_num = eval_numerical_gradient_array(f, x, dout)
    da_num = eval_numerical_gradient_array(f, gamma, dout)
    db_num = eval_numerical_gradient_array(f, beta, dout)
    dx, dgamma, dbeta = backward(dout, LY.batchnorm_forward(x, gamma, beta, bn_param)[1])
    assert rel_error(dx, dx_num) < 1e-7
    assert rel_error(dgamma, da_num) < 1e-7
    assert rel_error(dbeta, db_num) < 1e-7


def test_bn_param_errors_name_the_problem():
    with pytest.raises(ValueError, match='invalid bn_param\\["mode"\\]'):
        LY.batchnorm_forward(np.ones((3, 2)), np.ones(2), np.zeros(2), {"mode": "eval"})
    with pytest.raises(KeyError, match="bn_param has no 'mode'"):
        LY.batchnorm_forward(np.ones((3, 2)), np.ones(2), np.zeros(2), {})
    with pytest.raises(ValueError, match=r'bn_param\["momentum"\] .* in \[0, 1\], got 1.5'):
        LY.batchnorm_forward(np.ones((3, 2)), np.ones(2), np.zeros(2),
                             {"mode": "train", "momentum": 1.5})
    with pytest.raises(ValueError, match=r'dropout_param\["p"\] \(the probability of KEEPING'):
        LY.dropout_forward(np.ones((3, 2)), {"mode": "train", "p": 1.5})
    with pytest.raises(TypeError, match="affine_forward: w must be an array of real numbers"):
        LY.affine_forward(np.ones((3, 2)), np.ones((2, 2), complex), np.zeros(2))


def test_spatial_batchnorm_forward_and_test_mode():
    N, C, H, W = 10, 4, 11, 12
    x = 4 * np.random.randn(N, C, H, W) + 10
    gamma, beta = np.asarray([3, 4, 5, 6]), np.asarray([6, 7, 8, 9])
    bn_param = {"mode": "train"}
    out, _ = LY.spatial_batchnorm_forward(x, gamma, beta, bn_param)
    np.testing.assert_allclose(out.mean(axis=(0, 2, 3)), beta, atol=1e-9)
    np.testing.assert_allclose(out.std(axis=(0, 2, 3)), gamma, rtol=1e-4)
    for _ in range(50):
        LY.spatial_batchnorm_forward(2.3 * np.random.randn(N, C, H, W) + 13, np.ones(C),
                                     np.zeros(C), bn_param)
    bn_param["mode"] = "test"
    out, _ = LY.spatial_batchnorm_forward(2.3 * np.random.randn(N, C, H, W) + 13, np.ones(C),
                                          np.zeros(C), bn_param)
    assert np.all(np.abs(out.mean(axis=(0, 2, 3))) < 0.1)
    assert np.all(np.abs(out.std(axis=(0, 2, 3)) - 1) < 0.1)


def test_spatial_batchnorm_backward_gradcheck():
    N, C, H, W = 2, 3, 4, 5
    x = 5 * np.random.randn(N, C, H, W) + 12
    gamma, beta = np.random.randn(C), np.random.randn(C)
    dout = np.random.randn(N, C, H, W)
    bn_param = {"mode": "train"}
    f = lambda _: LY.spatial_batchnorm_forward(x, gamma, beta, bn_param)[0]  # noqa: E731
    dx, dgamma, dbeta = LY.spatial_batchnorm_backward(
        dout, LY.spatial_batchnorm_forward(x, gamma, beta, bn_param)[1])
    assert rel_error(dx, eval_numerical_gradient_array(f, x, dout)) < 1e-6
    assert rel_error(dgamma, eval_numerical_gradient_array(f, gamma, dout)) < 1e-7
    assert rel_error(dbeta, eval_numerical_gradient_array(f, beta, dout)) < 1e-7


def _check_bn_sandwich(grads, inputs, f, dout):
    for i, (g, p) in enumerate(zip(grads, inputs)):
        num = eval_numerical_gradient_array(f, p, dout)
        if i == 2:      # the bias before batch norm: its gradient is zero (the mean removes it)
            np.testing.assert_allclose(g, 0, atol=1e-12)
            np.testing.assert_allclose(num, 0, atol=1e-8)
        else:
            assert rel_error(g, num) < 1e-6


def test_affine_bn_relu_and_conv_bn_relu_gradcheck():
    x, w, b = np.random.randn(4, 5), np.random.randn(5, 6), np.random.randn(6)
    gamma, beta = np.random.randn(6), np.random.randn(6)
    dout = np.random.randn(4, 6)
    f = lambda _: LU.affine_bn_relu_forward(x, w, b, gamma, beta, {"mode": "train"})[0]  # noqa
    grads = LU.affine_bn_relu_backward(dout, LU.affine_bn_relu_forward(
        x, w, b, gamma, beta, {"mode": "train"})[1])
    _check_bn_sandwich(grads, (x, w, b, gamma, beta), f, dout)
    x, w, b = np.random.randn(2, 3, 6, 6), np.random.randn(3, 3, 3, 3), np.random.randn(3)
    gamma, beta = np.random.randn(3), np.random.randn(3)
    dout = np.random.randn(2, 3, 6, 6)
    cp = {"stride": 1, "pad": 1}
    f = lambda _: LU.conv_bn_relu_forward(x, w, b, gamma, beta, cp, {"mode": "train"})[0]  # noqa
    grads = LU.conv_bn_relu_backward(dout, LU.conv_bn_relu_forward(
        x, w, b, gamma, beta, cp, {"mode": "train"})[1])
    _check_bn_sandwich(grads, (x, w, b, gamma, beta), f, dout)


# ---------------------------------------------------------------- layer norm, group norm

def test_layernorm_forward_and_gradcheck():
    N, D = 4, 7
    x = 3 * np.random.randn(N, D) + 5
    gamma, beta = np.asarray([1.0, 2.0, 3.0, 1.0, 2.0, 3.0, 1.0]), np.zeros(D)
    out, _ = LY.layernorm_forward(x, np.ones(D), beta, {})
    np.testing.assert_allclose(out.mean(axis=1), 0, atol=1e-9)
    np.testing.assert_allclose(out.std(axis=1), 1, rtol=1e-5)
    dout = np.random.randn(N, D)
    f = lambda _: LY.layernorm_forward(x, gamma, beta, {"eps": 1e-5})[0]  # noqa: E731
    dx, dgamma, dbeta = LY.layernorm_backward(dout, LY.layernorm_forward(x, gamma, beta, {})[1])
    assert rel_error(dx, eval_numerical_gradient_array(f, x, dout)) < 1e-7
    assert rel_error(dgamma, eval_numerical_gradient_array(f, gamma, dout)) < 1e-7
    assert rel_error(dbeta, eval_numerical_gradient_array(f, beta, dout)) < 1e-7


def test_spatial_groupnorm_course_shapes_values_and_gradcheck():
    N, C, H, W, G = 2, 6, 4, 5, 2
    x = 4 * np.random.randn(N, C, H, W) + 10
    gamma = np.ones((1, C, 1, 1))
    beta = np.zeros((1, C, 1, 1))
    out, _ = LY.spatial_groupnorm_forward(x, gamma, beta, G, {})
    groups = out.reshape(N, G, -1)
    np.testing.assert_allclose(groups.mean(axis=2), 0, atol=1e-9)
    np.testing.assert_allclose(groups.std(axis=2), 1, rtol=1e-4)
    gamma, beta = np.random.randn(1, C, 1, 1), np.random.randn(1, C, 1, 1)
    dout = np.random.randn(N, C, H, W)
    f = lambda _: LY.spatial_groupnorm_forward(x, gamma, beta, G, {"eps": 1e-5})[0]  # noqa: E731
    dx, dgamma, dbeta = LY.spatial_groupnorm_backward(
        dout, LY.spatial_groupnorm_forward(x, gamma, beta, G, {})[1])
    assert dgamma.shape == dbeta.shape == (1, C, 1, 1)
    assert rel_error(dx, eval_numerical_gradient_array(f, x, dout)) < 1e-7
    assert rel_error(dgamma, eval_numerical_gradient_array(f, gamma, dout)) < 1e-7
    assert rel_error(dbeta, eval_numerical_gradient_array(f, beta, dout)) < 1e-7


# ---------------------------------------------------------------- dropout

@pytest.mark.parametrize("p", [0.25, 0.4, 0.7])
def test_dropout_keep_ratio_means(p):
    x = np.random.randn(500, 500) + 10
    out, _ = LY.dropout_forward(x, {"mode": "train", "p": p})
    out_test, _ = LY.dropout_forward(x, {"mode": "test", "p": p})
    assert abs(out.mean() - x.mean()) < 0.02 * x.mean()          # inverted: E[out] = x
    assert abs(np.mean(out == 0) - (1 - p)) < 0.01                # drop fraction 1 - p
    np.testing.assert_array_equal(out_test, x)
    kept = out != 0
    np.testing.assert_allclose(out[kept], x[kept] / p, rtol=1e-12)


def test_dropout_seed_gives_the_same_mask_and_gradcheck():
    x = np.random.randn(10, 10) + 10
    dout = np.random.randn(*x.shape)
    param = {"mode": "train", "p": 0.2, "seed": 123}
    a, _ = LY.dropout_forward(x, param)
    b, cache = LY.dropout_forward(x, param)
    np.testing.assert_array_equal(a, b)
    dx = LY.dropout_backward(dout, cache)
    dx_num = eval_numerical_gradient_array(lambda x: LY.dropout_forward(x, param)[0], x, dout)
    assert rel_error(dx, dx_num) < 1e-9


def test_dropout_without_seed_follows_numpy_global_seed():
    x = np.ones((30, 30))
    np.random.seed(5)
    a, _ = LY.dropout_forward(x, {"mode": "train", "p": 0.5})
    b, _ = LY.dropout_forward(x, {"mode": "train", "p": 0.5})
    np.random.seed(5)
    c, _ = LY.dropout_forward(x, {"mode": "train", "p": 0.5})
    assert not np.array_equal(a, b)
    np.testing.assert_array_equal(a, c)


# ---------------------------------------------------------------- update rules

def test_update_rules_one_step_against_the_formulas():
    N, D = 4, 5
    w = np.linspace(-0.4, 0.6, num=N * D).reshape(N, D)
    dw = np.linspace(-0.6, 0.4, num=N * D).reshape(N, D)
    v = np.linspace(0.6, 0.9, num=N * D).reshape(N, D)
    next_w, config = OPT.sgd_momentum(w, dw, {"learning_rate": 1e-3, "velocity": v})
    np.testing.assert_allclose(config["velocity"], 0.9 * v - 1e-3 * dw, rtol=1e-12)
    np.testing.assert_allclose(next_w, w + 0.9 * v - 1e-3 * dw, rtol=1e-12)
    cache = np.linspace(0.7, 0.5, num=N * D).reshape(N, D)
    next_w, config = OPT.rmsprop(w, dw, {"learning_rate": 1e-2, "cache": cache})
    c2 = 0.99 * cache + 0.01 * dw ** 2
    np.testing.assert_allclose(config["cache"], c2, rtol=1e-12)
    np.testing.assert_allclose(next_w, w - 1e-2 * dw / (np.sqrt(c2) + 1e-8), rtol=1e-12)
    m = np.linspace(0.6, 0.9, num=N * D).reshape(N, D)
    v = np.linspace(0.7, 0.5, num=N * D).reshape(N, D)
    next_w, config = OPT.adam(w, dw, {"learning_rate": 1e-2, "m": m, "v": v, "t": 5})
    m2, v2 = 0.9 * m + 0.1 * dw, 0.999 * v + 0.001 * dw ** 2
    assert config["t"] == 6
    want = w - 1e-2 * (m2 / (1 - 0.9 ** 6)) / (np.sqrt(v2 / (1 - 0.999 ** 6)) + 1e-8)
    np.testing.assert_allclose(next_w, want, rtol=1e-12)
    next_w, _ = OPT.sgd(w, dw)
    np.testing.assert_allclose(next_w, w - 1e-2 * dw, rtol=1e-12)


# ---------------------------------------------------------------- models

TWO_LAYER_SCORES = np.array([
    [11.5316510824, 12.2917343956, 13.0518177088, 13.811901022, 14.5719843352, 15.3320676484,
     16.0921509616],
    [12.0576909768, 12.7461410521, 13.4345911275, 14.1230412029, 14.8114912783, 15.4999413536,
     16.188391429],
    [12.5837308711, 13.2005477086, 13.8173645462, 14.4341813837, 15.0509982213, 15.6678150588,
     16.2846318964]])


def test_two_layer_net_course_check():
    N, D, H, C = 3, 5, 50, 7
    std = 1e-3
    model = TwoLayerNet(input_dim=D, hidden_dim=H, num_classes=C, weight_scale=std)
    assert all(p.dtype == np.float64 for p in model.params.values())
    assert abs(model.params["W1"].std() - std) < std / 10
    assert abs(model.params["W2"].std() - std) < std / 10
    assert np.all(model.params["b1"] == 0) and np.all(model.params["b2"] == 0)
    model.params["W1"] = np.linspace(-0.7, 0.3, num=D * H).reshape(D, H)
    model.params["b1"] = np.linspace(-0.1, 0.9, num=H)
    model.params["W2"] = np.linspace(-0.3, 0.4, num=H * C).reshape(H, C)
    model.params["b2"] = np.linspace(-0.9, 0.1, num=C)
    X = np.linspace(-5.5, 4.5, num=N * D).reshape(D, N).T
    assert rel_error(model.loss(X), TWO_LAYER_SCORES) < 1e-9
    y = np.asarray([0, 5, 1])
    loss, grads = model.loss(X, y)
    assert abs(loss - 3.4702243555953918) < 1e-10
    model.reg = 1.0
    loss, grads = model.loss(X, y)
    assert abs(loss - 26.594842695238583) < 1e-10
    for reg in (0.0, 0.7):
        model.reg = reg
        loss, grads = model.loss(X, y)
        for name in sorted(grads):
            num = eval_numerical_gradient(lambda _: model.loss(X, y)[0], model.params[name])
            assert_gradient(num, grads[name], name, tol=1e-7)


def test_weights_follow_numpy_global_seed_in_the_course_order():
    np.random.seed(0)
    model = FullyConnectedNet([6, 4], input_dim=5, num_classes=3, weight_scale=0.1,
                              normalization="batchnorm", dtype=np.float64)
    np.random.seed(0)
    W1 = 0.1 * np.random.randn(5, 6)
    W2 = 0.1 * np.random.randn(6, 4)
    W3 = 0.1 * np.random.randn(4, 3)
    np.testing.assert_array_equal(model.params["W1"], W1)
    np.testing.assert_array_equal(model.params["W2"], W2)
    np.testing.assert_array_equal(model.params["W3"], W3)
    assert sorted(model.params) == sorted(["W1", "b1", "gamma1", "beta1", "W2", "b2", "gamma2",
                                           "beta2", "W3", "b3"])
    np.testing.assert_array_equal(model.params["gamma2"], np.ones(4))
    np.random.seed(0)
    conv = ThreeLayerConvNet(input_dim=(3, 8, 8), num_filters=4, filter_size=3, hidden_dim=5,
                             weight_scale=0.1)
    np.random.seed(0)
    np.testing.assert_array_equal(conv.params["W1"],
                                  (0.1 * np.random.randn(4, 3, 3, 3)).astype(np.float32))
    np.testing.assert_array_equal(conv.params["W2"],
                                  (0.1 * np.random.randn(4 * 4 * 4, 5)).astype(np.float32))


def test_model_dtypes_are_the_course_defaults():
    assert TwoLayerNet(input_dim=4, hidden_dim=3, num_classes=2).params["W1"].dtype == np.float64
    assert FullyConnectedNet([3], input_dim=4).params["W1"].dtype == np.float32
    assert FullyConnectedNet([3], input_dim=4, dtype=np.float64).params["W1"].dtype == np.float64
    assert ThreeLayerConvNet(input_dim=(1, 4, 4), num_filters=2, filter_size=3,
                             hidden_dim=3).params["W1"].dtype == np.float32


def test_params_assignment_casts_and_checks_the_shape():
    model = FullyConnectedNet([3], input_dim=4, num_classes=2, dtype=np.float32)
    w = model.params["W1"]
    model.params["W1"] = np.full((4, 3), 0.1, np.float64)
    assert model.params["W1"] is w and w.dtype == np.float32
    np.testing.assert_array_equal(w, np.float32(0.1))
    model.params["b1"] = np.array([1, 2, 3])                 # integers
    np.testing.assert_array_equal(model.params["b1"], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match=r"model.params\['W1'\]: the parameter has shape \(4, 3\)"):
        model.params["W1"] = np.zeros((3, 4))
    with pytest.raises(TypeError, match="real numbers"):
        model.params["W1"] = np.zeros((4, 3), complex)


@pytest.mark.parametrize("normalization", [None, "batchnorm", "layernorm"])
@pytest.mark.parametrize("reg", [0.0, 3.14])
def test_fully_connected_net_gradcheck(normalization, reg):
    # batch norm over 2 samples is nearly a sign function (huge curvature): use 6
    N, D, H1, H2, C = 6 if normalization == "batchnorm" else 2, 15, 20, 30, 10
    X = np.random.randn(N, D)
    y = np.random.randint(C, size=(N,))
    model = FullyConnectedNet([H1, H2], input_dim=D, num_classes=C, reg=reg, weight_scale=5e-2,
                              dtype=np.float64, normalization=normalization)
    loss, grads = model.loss(X, y)
    for name in sorted(grads):
        num = eval_numerical_gradient(lambda _: model.loss(X, y)[0], model.params[name])
        if normalization == "batchnorm" and name in ("b1", "b2"):
            # a bias before batch norm: zero gradient (the batch mean removes it)
            np.testing.assert_allclose(grads[name], 0, atol=1e-12)
            np.testing.assert_allclose(num, 0, atol=1e-8)
        else:
            assert_gradient(num, grads[name], name)


def test_fully_connected_net_dropout_gradcheck_with_seed():
    N, D, H1, H2, C = 2, 15, 20, 30, 10
    X = np.random.randn(N, D)
    y = np.random.randint(C, size=(N,))
    for keep in (0.25, 0.5):
        model = FullyConnectedNet([H1, H2], input_dim=D, num_classes=C, weight_scale=5e-2,
                                  dtype=np.float64, dropout_keep_ratio=keep, seed=123)
        assert model.use_dropout
        l1, grads = model.loss(X, y)
        assert model.loss(X, y)[0] == l1                # the same masks on every call
        for name in sorted(grads):
            num = eval_numerical_gradient(lambda _: model.loss(X, y)[0], model.params[name])
            assert_gradient(num, grads[name], name)


def test_fully_connected_net_bn_params_hold_the_running_statistics():
    model = FullyConnectedNet([5], input_dim=4, num_classes=3, normalization="batchnorm",
                              dtype=np.float64)
    (bn,) = model.bn_params
    np.testing.assert_array_equal(bn["running_var"], 0)     # the course starts at zeros
    X = np.random.randn(8, 4)
    model.loss(X, np.zeros(8, int))
    h = X @ model.params["W1"] + model.params["b1"]
    np.testing.assert_allclose(bn["running_mean"], 0.1 * h.mean(axis=0), rtol=1e-9)
    np.testing.assert_allclose(bn["running_var"], 0.1 * h.var(axis=0), rtol=1e-9)


def test_three_layer_convnet_initial_loss_and_gradcheck():
    num_inputs, input_dim, C = 2, (3, 10, 10), 10
    X = np.random.randn(num_inputs, *input_dim)
    y = np.random.randint(C, size=num_inputs)
    model = ThreeLayerConvNet(num_filters=3, filter_size=3, input_dim=input_dim, hidden_dim=7,
                              dtype=np.float64)
    loss, _ = model.loss(X, y)
    assert abs(loss - math.log(C)) < 0.01
    model.reg = 0.5
    assert model.loss(X, y)[0] > loss
    for name, w in model.params.items():         # weights big enough to keep off the ReLU kinks
        if name.startswith("W"):
            model.params[name] = 0.3 * np.random.randn(*w.shape)
    loss, grads = model.loss(X, y)
    for name in sorted(grads):
        num = eval_numerical_gradient(lambda _: model.loss(X, y)[0], model.params[name], h=1e-6)
        assert_gradient(num, grads[name], name)


# ---------------------------------------------------------------- the Solver

def _data(num_train=50, D=20, C=5, num_val=30):
    return {"X_train": np.random.randn(num_train, D), "y_train": np.random.randint(C, size=num_train),
            "X_val": np.random.randn(num_val, D), "y_val": np.random.randint(C, size=num_val)}


def test_initial_loss_is_log_c():
    data = _data(num_train=200, D=30, C=10)
    model = FullyConnectedNet([40, 40], input_dim=30, num_classes=10, weight_scale=1e-3,
                              dtype=np.float64)
    loss, _ = model.loss(data["X_train"], data["y_train"])
    assert abs(loss - math.log(10)) < 0.01


def test_solver_overfits_50_samples(capsys):
    data = _data(num_train=50, D=20, C=5)
    model = FullyConnectedNet([100, 100], input_dim=20, num_classes=5, weight_scale=1e-1,
                              dtype=np.float64)
    solver = Solver(model, data, print_every=10, num_epochs=20, batch_size=25,
                    update_rule="sgd_momentum", optim_config={"learning_rate": 5e-2},
                    verbose=True)
    solver.train()
    assert solver.train_acc_history[-1] == 1.0
    assert len(solver.loss_history) == 40
    assert len(solver.train_acc_history) == len(solver.val_acc_history) == 21
    assert solver.loss_history[-1] < 0.2 * solver.loss_history[0]
    assert set(solver.best_params) == set(model.params)
    assert "(Iteration 1 / 40) loss:" in capsys.readouterr().out


def test_solver_is_repeatable_from_numpy_seed_and_uses_the_fused_optimiser():
    def run():
        np.random.seed(7)
        data = _data()
        model = FullyConnectedNet([10], input_dim=20, num_classes=5, normalization="batchnorm")
        solver = Solver(model, data, update_rule=OPT.adam, optim_config={"learning_rate": 1e-3},
                        lr_decay=0.5, num_epochs=3, batch_size=10, num_train_samples=20,
                        verbose=False)
        solver.train()
        return solver
    a, b = run(), run()
    assert a.loss_history == b.loss_history
    assert a.train_acc_history == b.train_acc_history
    assert a._fused and a.update_rule == "adam"
    np.testing.assert_allclose(a.optim_configs["W1"]["learning_rate"], 1e-3 * 0.5 ** 3)
    assert a.optim_configs["W1"]["t"] == 15


def test_solver_with_a_plain_dict_model_and_a_custom_rule():
    """The course's model contract (params dict + loss) and a rule function of one's own."""
    class Linear:
        def __init__(self):
            self.params = {"W": np.zeros((20, 5))}

        def loss(self, X, y=None):
            scores = X @ self.params["W"]
            if y is None:
                return scores
            loss, dscores = LY.softmax_loss(scores, y)
            return loss, {"W": X.T @ dscores}

    def my_sgd(w, dw, config=None):
        config = config or {}
        return w - config.get("learning_rate", 1e-2) * dw, config

    data = _data()
    model = Linear()
    solver = Solver(model, data, update_rule=my_sgd, optim_config={"learning_rate": 0.5},
                    num_epochs=5, batch_size=10, verbose=False)
    solver.train()
    assert not solver._fused
    assert solver.loss_history[-1] < solver.loss_history[0]


# ---------------------------------------------------------------- install()

def _forget(prefix):
    for k in [k for k in sys.modules if k == prefix or k.startswith(prefix + ".")]:
        del sys.modules[k]


def test_install_without_the_course_package():
    try:
        pkg = cs231n.install("cs231n_fastnn_test")
        layers = importlib.import_module("cs231n_fastnn_test.layers")
        from cs231n_fastnn_test.classifiers.fc_net import FullyConnectedNet as F  # noqa: N813
        assert layers is LY and F is FullyConnectedNet and pkg is cs231n
    finally:
        _forget("cs231n_fastnn_test")


def test_install_keeps_the_course_packages_other_modules(tmp_path, monkeypatch):
    course = tmp_path / "cs231n_course_test"
    (course / "classifiers").mkdir(parents=True)
    (course / "__init__.py").write_text("")
    (course / "classifiers" / "__init__.py").write_text("")
    (course / "layers.py").write_text("raise ImportError('the course file must not load')\n")
    (course / "data_utils.py").write_text("SOURCE = 'course'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        cs231n.install("cs231n_course_test")
        from cs231n_course_test import data_utils
        from cs231n_course_test.layers import affine_forward
        from cs231n_course_test.solver import Solver as S  # noqa: N813
        assert data_utils.SOURCE == "course"
        assert affine_forward is LY.affine_forward and S is Solver
    finally:
        _forget("cs231n_course_test")


# ---------------------------------------------------------------- the fastnn op parameter

def test_fastnn_batchnorm_unbiased_running_var_flag():
    from fastnn import ops
    x = np.random.randn(6, 3)
    for unbiased, factor in ((True, 6 / 5), (False, 1.0)):
        rm, rv = np.zeros(3), np.ones(3)
        ops.batchnorm_forward(x, np.ones(3), np.zeros(3), rm, rv, momentum=0.25,
                              unbiased_running_var=unbiased)
        np.testing.assert_allclose(rm, 0.25 * x.mean(0), rtol=1e-12)
        np.testing.assert_allclose(rv, 0.75 + 0.25 * factor * x.var(0), rtol=1e-12)
    with pytest.raises(TypeError, match="unbiased_running_var must be True or False"):
        ops.batchnorm_forward(x, np.ones(3), np.zeros(3), np.zeros(3), np.ones(3),
                              unbiased_running_var="no")


def test_reference_reshape_pooling_twin_matches_compat_fast_pooling():
    from fastnn import reference
    x = np.random.randn(3, 2, 8, 6)
    dout = np.random.randn(3, 2, 4, 3)
    pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}
    out, cache = FL.max_pool_forward_fast(x, pool_param)
    ref_out, ref_cache = reference.max_pool_forward_reshape(x, 2, 2, 2)
    np.testing.assert_array_equal(out, ref_out)
    np.testing.assert_allclose(FL.max_pool_backward_fast(dout, cache),
                               reference.max_pool_backward_reshape(dout, ref_cache), rtol=1e-15)
    # tied maxima share the gradient in the reshape algorithm
    _, c = reference.max_pool_forward_reshape(np.ones((1, 1, 2, 2)), 2, 2, 2)
    np.testing.assert_array_equal(reference.max_pool_backward_reshape(np.ones((1, 1, 1, 1)), c),
                                  np.full((1, 1, 2, 2), 0.25))
    with pytest.raises(ValueError, match="square tiling windows"):
        reference.max_pool_forward_reshape(np.ones((1, 1, 5, 5)), 2, 2, 2)


def test_mixed_and_integer_inputs_compute_as_numpy_would():
    x32 = np.arange(6, dtype=np.float32).reshape(2, 3)
    w = np.linspace(-1, 1, 12).reshape(3, 4)
    out, _ = LY.affine_forward(x32, w, np.zeros(4))        # float32 with float64: float64
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, x32.astype(np.float64) @ w, rtol=1e-12)
    out, _ = LY.relu_forward(np.array([[-2, 3]]))           # integers: float64
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, [[0.0, 3.0]])
    out32, _ = LY.relu_forward(np.array([[-2, 3]], np.float32))
    assert out32.dtype == np.float32

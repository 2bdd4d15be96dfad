"""Losses: reference agreement, PyTorch agreement, gradients, NaN/inf, labels, threads, errors."""
import numpy as np
import pytest

import fastnn
from fastnn import _dispatch, ops, reference
from fastnn._dispatch import kernels
from fastnn.gradcheck import eval_numerical_gradient_array, rel_error

from helpers import needs_openmp
from opinfo import tol

_TRANS = fastnn.get_parallel_threshold("losses.transcendental")
_CHEAP = fastnn.get_parallel_threshold("losses.cheap")
_MIN = max(_TRANS, _CHEAP)
_BLOCK = kernels.losses.BLOCK_SIZE
# (N, C) around the SIMD/lane width (16) and both sides of both threading thresholds
ROW_SHAPES = [(1, 1), (1, 2), (3, 5), (7, 16), (5, 17), (33, 1000)] + [
    (t // 1000 + d, 1000) for t in (_TRANS, _CHEAP) for d in (-1, 3)] + [(300, 129)]
# element counts for the elementwise losses: lanes, blocks, thresholds
ELEM_SIZES = [1, 15, 16, 33, _BLOCK - 1, _BLOCK + 7, _TRANS - 3, _TRANS + 5, _CHEAP - 1,
              _CHEAP + 9, 3 * _BLOCK + 19]

ROW_LOSSES = ["softmax_loss", "svm_loss"]
ELEM_LOSSES = ["bce_with_logits_loss", "mse_loss"]


def _row_inputs(rng, N, C, dtype):
    s = np.asarray(rng.standard_normal((N, C)) * 3, dtype)
    y = rng.integers(0, C, N)
    return s, y


def _elem_inputs(rng, n, dtype, name):
    x = np.asarray(rng.standard_normal(n) * 4, dtype)
    t = rng.random(n) if name == "bce_with_logits_loss" else rng.standard_normal(n)
    return x, np.asarray(t, dtype)


def _loss_tol(dtype):
    return dict(rel=1e-6 if dtype == np.float32 else 1e-12, abs=1e-7 if dtype == np.float32 else 1e-14)


@pytest.mark.parametrize("N,C", ROW_SHAPES)
@pytest.mark.parametrize("name", ROW_LOSSES)
def test_row_losses_match_reference(name, N, C, dtype, rng):
    s, y = _row_inputs(rng, N, C, dtype)
    loss, d = getattr(ops, name)(s, y)
    rloss, rd = getattr(reference, name)(s.astype(np.float64), y)
    assert isinstance(loss, float)
    assert d.dtype == dtype and d.shape == s.shape
    assert loss == pytest.approx(rloss, **_loss_tol(dtype))
    np.testing.assert_allclose(d, rd, **tol(dtype, backward=True))


@pytest.mark.parametrize("n", ELEM_SIZES)
@pytest.mark.parametrize("name", ELEM_LOSSES)
def test_elementwise_losses_match_reference(name, n, dtype, rng):
    x, t = _elem_inputs(rng, n, dtype, name)
    loss, d = getattr(ops, name)(x, t)
    rloss, rd = getattr(reference, name)(x.astype(np.float64), t.astype(np.float64))
    assert isinstance(loss, float)
    assert d.dtype == dtype and d.shape == x.shape
    assert loss == pytest.approx(rloss, **_loss_tol(dtype))
    scale = float(np.abs(rd).max())
    np.testing.assert_allclose(d, rd, rtol=tol(dtype, True)["rtol"], atol=1e-6 * scale)


@pytest.mark.parametrize("name", ELEM_LOSSES)
def test_elementwise_losses_any_shape(name, dtype, rng):
    x, t = _elem_inputs(rng, 2 * 3 * 5 * 7, dtype, name)
    x, t = x.reshape(2, 3, 5, 7), t.reshape(2, 3, 5, 7)
    loss, d = getattr(ops, name)(x, t)
    rloss, rd = getattr(reference, name)(x, t)
    assert d.shape == x.shape
    assert loss == pytest.approx(rloss, rel=1e-5)
    np.testing.assert_allclose(d, rd, rtol=1e-5, atol=1e-7)


def test_mse_sum_reduction(dtype, rng):
    p, t = _elem_inputs(rng, 1001, dtype, "mse_loss")
    loss, d = ops.mse_loss(p, t, reduction="sum")
    rloss, rd = reference.mse_loss(p.astype(np.float64), t.astype(np.float64), reduction="sum")
    assert loss == pytest.approx(rloss, rel=1e-6)
    np.testing.assert_allclose(d, rd, **tol(dtype, backward=True))
    mloss, md = ops.mse_loss(p, t)
    assert mloss == pytest.approx(loss / 1001, rel=1e-12)
    np.testing.assert_allclose(md * 1001, d, rtol=1e-5)


@pytest.mark.parametrize("margin", [1.0, 0.5, 0.0])
def test_svm_margin(margin, dtype, rng):
    s, y = _row_inputs(rng, 9, 11, dtype)
    loss, d = ops.svm_loss(s, y, margin=margin)
    rloss, rd = reference.svm_loss(s.astype(np.float64), y, margin=margin)
    assert loss == pytest.approx(rloss, rel=1e-6)
    np.testing.assert_allclose(d, rd, **tol(dtype, backward=True))


def test_svm_known_values():
    """CS231n's worked example: scores (3.2, 5.1, -1.7), class 0 -> loss 2.9."""
    s = np.array([[3.2, 5.1, -1.7], [1.3, 4.9, 2.0], [2.2, 2.5, -3.1]])
    y = np.array([0, 1, 2])
    loss, d = ops.svm_loss(s, y)
    assert loss == pytest.approx((2.9 + 0 + 12.9) / 3, rel=1e-12)
    np.testing.assert_allclose(d[0], [-1 / 3, 1 / 3, 0], rtol=1e-15)
    np.testing.assert_allclose(d[2], [1 / 3, 1 / 3, -2 / 3], rtol=1e-15)


def test_softmax_known_values():
    s = np.zeros((4, 10))
    loss, d = ops.softmax_loss(s, np.arange(4))
    assert loss == pytest.approx(np.log(10), rel=1e-15)          # the lecture's sanity check
    expect = np.full((4, 10), 0.1 / 4)
    expect[np.arange(4), np.arange(4)] -= 0.25
    np.testing.assert_allclose(d, expect, rtol=1e-14)


# ---------------------------------------------------------------- gradients (float64)

def _grad_check(f, x):
    loss, d = f(x)
    num = eval_numerical_gradient_array(lambda v: np.array(f(v)[0]), x.copy(), np.array(1.0))
    return rel_error(d, num)


def test_gradient_check_softmax(rng):
    # moderate scores: every probability >= ~0.03, so no gradient entry is lost in the
    # centred differences' rounding noise (~1e-10)
    s = rng.uniform(-1, 1, (4, 7))
    y = rng.integers(0, 7, 4)
    assert _grad_check(lambda v: ops.softmax_loss(v, y), s) < 1e-7


def test_gradient_check_svm(rng):
    s, y = _row_inputs(rng, 6, 9, np.float64)
    m = s - s[np.arange(6), y][:, None] + 1
    s[np.abs(m) < 1e-3] += 0.01                       # keep away from the hinge's kinks
    assert _grad_check(lambda v: ops.svm_loss(v, y), s) < 1e-7


def test_gradient_check_bce(rng):
    x = rng.standard_normal((5, 7)) * 3
    t = rng.random((5, 7))
    assert _grad_check(lambda v: ops.bce_with_logits_loss(v, t), x) < 1e-7


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_gradient_check_mse(reduction, rng):
    p = rng.standard_normal((5, 7))
    t = rng.standard_normal((5, 7))
    assert _grad_check(lambda v: ops.mse_loss(v, t, reduction), p) < 1e-7


# ---------------------------------------------------------------- PyTorch

def _torch_loss(name, a, b, torch):
    F = torch.nn.functional
    x = torch.from_numpy(a).requires_grad_()
    if name == "softmax_loss":
        loss = F.cross_entropy(x, torch.from_numpy(b))
    elif name == "svm_loss":
        loss = F.multi_margin_loss(x, torch.from_numpy(b)) * a.shape[1]
    elif name == "bce_with_logits_loss":
        loss = F.binary_cross_entropy_with_logits(x, torch.from_numpy(b))
    else:
        loss = F.mse_loss(x, torch.from_numpy(b))
    loss.backward()
    return float(loss.detach()), x.grad.numpy()


@pytest.mark.parametrize("name", ROW_LOSSES + ELEM_LOSSES)
def test_matches_torch(name, dtype, rng):
    torch = pytest.importorskip("torch")
    if name in ROW_LOSSES:
        a, b = _row_inputs(rng, 37, 101, dtype)
    else:
        a, b = _elem_inputs(rng, 37 * 101, dtype, name)
        a, b = a.reshape(37, 101), b.reshape(37, 101)
    loss, d = getattr(ops, name)(a, b)
    tloss, td = _torch_loss(name, a, b, torch)
    rel = 1e-5 if dtype == np.float32 else 1e-12
    assert loss == pytest.approx(tloss, rel=rel)
    np.testing.assert_allclose(d, td, rtol=rel * 10, atol=rel * float(np.abs(td).max()))


def test_softmax_special_values_like_torch():
    """NaN poisons the loss and its row only; -inf scores get probability 0; large scores do not overflow."""
    torch = pytest.importorskip("torch")
    s = np.array([[1.0, 2.0, 3.0],
                  [1e4, -1e4, 0.0],          # stable: exp never overflows
                  [-np.inf, 0.0, 1.0],       # -inf off the label: finite loss, zero probability
                  [np.nan, 0.0, 1.0]], np.float32)
    y = np.array([2, 0, 1, 1])
    loss, d = ops.softmax_loss(s, y)
    tloss, td = _torch_loss("softmax_loss", s, y, torch)
    assert np.isnan(loss) and np.isnan(tloss)
    np.testing.assert_allclose(d, td, rtol=1e-6, atol=1e-7, equal_nan=True)
    assert np.all(np.isnan(d[3])) and np.all(np.isfinite(d[:3]))
    loss3, d3 = ops.softmax_loss(s[:3], y[:3])
    tloss3, _ = _torch_loss("softmax_loss", s[:3], y[:3], torch)
    assert np.isfinite(loss3) and loss3 == pytest.approx(tloss3, rel=1e-6)
    assert d3[2, 0] == 0
    # -inf at the label: infinite loss, as in torch
    loss_inf, _ = ops.softmax_loss(np.array([[-np.inf, 0.0]]), np.array([0]))
    assert loss_inf == np.inf


@pytest.mark.parametrize("name", ROW_LOSSES + ELEM_LOSSES)
def test_nan_gives_nan_loss(name, dtype, rng):
    if name in ROW_LOSSES:
        a, b = _row_inputs(rng, 4, 40, dtype)
        a[2, 7] = np.nan
        b[2] = 3
    else:
        a, b = _elem_inputs(rng, 100, dtype, name)
        a[50] = np.nan
    loss, d = getattr(ops, name)(a, b)
    assert np.isnan(loss)
    assert np.isnan(d.reshape(a.shape)[2, 7] if a.ndim == 2 else d[50])
    if name in ROW_LOSSES:
        assert np.all(np.isfinite(d[[0, 1, 3]]))          # other rows untouched
        assert np.isnan(d[2, 3])                           # the label's gradient sees the NaN
    else:
        assert np.count_nonzero(np.isnan(d)) == 1


def test_bce_extreme_logits_are_stable(dtype):
    x = np.array([-200.0, -30.0, 0.0, 30.0, 200.0], dtype)
    t = np.array([0.0, 1.0, 0.5, 0.0, 1.0], dtype)
    loss, d = ops.bce_with_logits_loss(x, t)
    rloss, rd = reference.bce_with_logits_loss(x.astype(np.float64), t.astype(np.float64))
    assert np.isfinite(loss) and loss == pytest.approx(rloss, rel=1e-6)
    np.testing.assert_allclose(d, rd, rtol=1e-6, atol=1e-9)


# ---------------------------------------------------------------- labels, threads, errors

@pytest.mark.parametrize("ldtype", [np.uint8, np.int16, np.int32, np.uint64, np.int64])
@pytest.mark.parametrize("name", ROW_LOSSES)
def test_any_integer_label_dtype(name, ldtype, rng):
    s, y = _row_inputs(rng, 6, 10, np.float64)
    loss, d = getattr(ops, name)(s, y.astype(ldtype))
    loss2, d2 = getattr(ops, name)(s, list(y))
    assert loss == loss2
    np.testing.assert_array_equal(d, d2)


@needs_openmp
@pytest.mark.parametrize("name", ROW_LOSSES + ELEM_LOSSES)
def test_threads_bit_identical(name, dtype, rng, restore_threads):
    if name in ROW_LOSSES:
        a, b = _row_inputs(rng, 3 * _MIN // 1000, 1000, dtype)
    else:
        a, b = _elem_inputs(rng, 3 * _MIN + 11, dtype, name)
    res = []
    for t in (1, 2):
        fastnn.set_num_threads(t)
        res.append(getattr(ops, name)(a, b))
    assert res[0][0] == res[1][0]
    np.testing.assert_array_equal(res[0][1], res[1][1])


@pytest.mark.parametrize("name", ROW_LOSSES + ELEM_LOSSES)
def test_every_simd_target_agrees(name, rng):
    if name in ROW_LOSSES:
        a, b = _row_inputs(rng, 20, 123, np.float32)
    else:
        a, b = _elem_inputs(rng, 2000, np.float32, name)
    rloss, rd = getattr(reference, name)(a.astype(np.float64), b.astype(np.float64) if name in ELEM_LOSSES else b)
    for target in _dispatch.supported_targets():
        with _dispatch.use_target(target):
            loss, d = getattr(ops, name)(a, b)
        assert loss == pytest.approx(rloss, rel=1e-6)
        np.testing.assert_allclose(d, rd, rtol=1e-5, atol=1e-6 * float(np.abs(rd).max()))


def test_empty_batch(dtype):
    for name in ROW_LOSSES:
        loss, d = getattr(ops, name)(np.zeros((0, 5), dtype), np.zeros(0, np.int64))
        assert np.isnan(loss) and d.shape == (0, 5)
    for name in ELEM_LOSSES:
        loss, d = getattr(ops, name)(np.zeros((0, 3), dtype), np.zeros((0, 3), dtype))
        assert np.isnan(loss) and d.shape == (0, 3)
    loss, _ = ops.mse_loss(np.zeros(0, dtype), np.zeros(0, dtype), reduction="sum")
    assert loss == 0.0


@pytest.mark.parametrize("name", ROW_LOSSES)
def test_label_errors(name):
    f = getattr(ops, name)
    s = np.zeros((3, 4))
    with pytest.raises(TypeError, match=f"{name}: y must be an integer array of class labels, got dtype float64"):
        f(s, np.array([0.0, 1.0, 2.0]))
    with pytest.raises(TypeError, match="got dtype bool"):
        f(s, np.array([True, False, True]))
    with pytest.raises(ValueError, match=rf"{name}: label y\[1\] = 4 is out of range for C = 4 classes "
                                         r"\(labels must be in \[0, 4\)\)"):
        f(s, np.array([0, 4, 1]))
    with pytest.raises(ValueError, match=r"label y\[2\] = -1 is out of range"):
        f(s, np.array([0, 1, -1]))
    with pytest.raises(ValueError, match=rf"{name}: y must have shape \(3,\)"):
        f(s, np.array([0, 1]))
    with pytest.raises(ValueError, match=rf"{name}: scores must have shape \(N, C\), got shape \(4,\)"):
        f(np.zeros(4), np.array([0]))
    with pytest.raises(TypeError, match=f"{name}: scores must be a float32 or float64 array"):
        f(np.zeros((3, 4), np.int64), np.array([0, 1, 2]))


def test_other_errors():
    with pytest.raises(ValueError, match="svm_loss: margin must be a finite number"):
        ops.svm_loss(np.zeros((2, 3)), np.array([0, 1]), margin=np.nan)
    with pytest.raises(TypeError, match="bce_with_logits_loss: y must be a float array, got dtype int64"):
        ops.bce_with_logits_loss(np.zeros(3), np.array([0, 1, 1]))
    with pytest.raises(ValueError, match=r"bce_with_logits_loss: y must have the input's shape \(3,\)"):
        ops.bce_with_logits_loss(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match=r"mse_loss: target must have the input's shape \(2, 2\)"):
        ops.mse_loss(np.zeros((2, 2)), np.zeros(4))
    with pytest.raises(ValueError, match="mse_loss: reduction must be 'mean' or 'sum', got 'none'"):
        ops.mse_loss(np.zeros(2), np.zeros(2), reduction="none")

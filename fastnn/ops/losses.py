"""Losses: each returns ``(loss, dscores)`` from one fused pass over its input.

Common behaviour:

* ``loss`` is a Python float, accumulated in float64 whatever the input dtype
  (PyTorch returns a 0-d tensor of the input's dtype; for float32 the values
  agree to float32 rounding).  The partial sums are combined in a fixed order,
  so the loss is bit-identical for any thread count;
* ``dscores`` is d(loss)/d(input), a new array of the input's dtype and shape;
* class labels ``y`` are an integer array (any integer dtype) of shape (N,)
  with values in [0, C); float or bool labels, a wrong shape or a label out
  of range raise an error naming the first bad label;
* targets of the elementwise losses (BCE, MSE) are float arrays of the input's
  shape, converted to the input's dtype;
* NaN in the input gives a NaN loss (and NaN in the affected gradients), as in
  PyTorch; an empty batch gives a NaN mean (PyTorch's convention).
"""
import numpy as np

from fastnn import _dispatch
from fastnn._kernels import _buffers
from fastnn.ops._common import c_aligned, float_array, num_threads, real_number

__all__ = ["softmax_loss", "svm_loss", "bce_with_logits_loss", "mse_loss"]


def _scores_and_labels(scores, y, fn):
    """``(s, labels)``: scores as a float (N, C) array and y as a contiguous int64 array of
    shape (N,) with values in [0, C)."""
    s = float_array(scores, "scores", fn)
    if s.ndim != 2:
        raise ValueError(f"{fn}: scores must have shape (N, C), got shape {s.shape}")
    N, C = s.shape
    a = np.asarray(y)
    if a.dtype.kind not in "iu":
        raise TypeError(f"{fn}: y must be an integer array of class labels, got dtype {a.dtype}")
    if a.shape != (N,):
        raise ValueError(f"{fn}: y must have shape ({N},) (one label per row of scores), "
                         f"got shape {a.shape}")
    if N:
        bad = np.flatnonzero((a < 0) | (a >= C))
        if bad.size:
            i = int(bad[0])
            raise ValueError(f"{fn}: label y[{i}] = {a[i]} is out of range for C = {C} classes "
                             f"(labels must be in [0, {C}))")
    return s, c_aligned(np.asarray(a, dtype=np.int64))


def _targets(target, shape, dtype, name, fn):
    t = np.asarray(target)
    if t.dtype.kind != "f":
        raise TypeError(f"{fn}: {name} must be a float array, got dtype {t.dtype}")
    if t.shape != shape:
        raise ValueError(f"{fn}: {name} must have the input's shape {shape}, got shape {t.shape}")
    return c_aligned(np.asarray(t, dtype=dtype))


def softmax_loss(scores, y, label_smoothing=0.0):
    """Softmax cross-entropy, mean over the batch
    (``F.cross_entropy(scores, y, label_smoothing=...)``).

    loss = mean_i [log sum_j exp(s_ij) - s_i,y_i], computed with the stable
    log-sum-exp (the row maximum is subtracted first);
    dscores = (softmax(s) - onehot(y)) / N.

    With ``label_smoothing = eps`` the target is ``q = (1 - eps) onehot(y) +
    eps / C`` (PyTorch's definition): loss = mean_i [logsumexp(s_i) -
    sum_j q_ij s_ij], dscores = (softmax(s) - q) / N.

    Parameters
    ----------
    scores : array_like of float32 or float64, shape (N, C)
    y : array_like of int, shape (N,), values in [0, C)
    label_smoothing : float in [0, 1], default 0

    Returns
    -------
    loss : float
    dscores : ndarray, shape (N, C), dtype of scores

    Shape
    -----
    scores: (N, C); y: (N,); dscores: (N, C).
    """
    fn = "softmax_loss"
    eps = real_number(label_smoothing, "label_smoothing", fn)
    if not 0.0 <= eps <= 1.0:
        raise ValueError(f"{fn}: label_smoothing must be in [0, 1], got {eps}")
    s, labels = _scores_and_labels(scores, y, fn)
    N = s.shape[0]
    ds = _buffers.empty_like(s)
    if N == 0:
        return float("nan"), ds
    K = _dispatch.kernels.losses
    if eps:
        loss = K.softmax_loss_smoothed(s, labels, ds, np.empty(N), eps, num_threads())
    else:
        loss = K.softmax_loss(s, labels, ds, np.empty(N), num_threads())
    return float(loss), ds


def svm_loss(scores, y, margin=1.0):
    """Multiclass SVM (hinge) loss of CS231n, mean over the batch.

    loss = mean_i sum_{j != y_i} max(0, s_ij - s_i,y_i + margin);
    dscores_ij = [s_ij - s_i,y_i + margin > 0] / N for j != y_i and
    dscores_i,y_i = -(number of positive margins in row i) / N.

    Unlike ``F.multi_margin_loss`` there is no division by C (that loss is
    this one divided by C).  A NaN margin gives a NaN loss and a NaN gradient
    for that score and the row's correct class.

    Parameters
    ----------
    scores : array_like of float32 or float64, shape (N, C)
    y : array_like of int, shape (N,), values in [0, C)
    margin : float, default 1.0

    Returns
    -------
    loss : float
    dscores : ndarray, shape (N, C), dtype of scores

    Shape
    -----
    scores: (N, C); y: (N,); dscores: (N, C).
    """
    fn = "svm_loss"
    s, labels = _scores_and_labels(scores, y, fn)
    N = s.shape[0]
    m = real_number(margin, "margin", fn)
    ds = _buffers.empty_like(s)
    if N == 0:
        return float("nan"), ds
    loss = _dispatch.kernels.losses.svm_loss(s, labels, ds, np.empty(N), m, num_threads())
    return float(loss), ds


def bce_with_logits_loss(logits, y):
    """Sigmoid binary cross-entropy on logits, mean over all elements
    (``F.binary_cross_entropy_with_logits``).

    ``loss = mean(max(x, 0) - x y + log(1 + exp(-|x|)))``, the stable form of
    ``-[y log sigmoid(x) + (1 - y) log(1 - sigmoid(x))]``;
    ``dlogits = (sigmoid(x) - y) / n``, ``n = logits.size``.  Targets are not
    restricted to {0, 1} (soft labels work), as in PyTorch.

    Parameters
    ----------
    logits : array_like of float32 or float64, any shape
    y : array_like of float, the shape of logits

    Returns
    -------
    loss : float
    dlogits : ndarray, shape and dtype of logits

    Shape
    -----
    logits: any; y: same; dlogits: same.
    """
    fn = "bce_with_logits_loss"
    x = float_array(logits, "logits", fn)
    t = _targets(y, x.shape, x.dtype, "y", fn)
    d = _buffers.empty_like(x)
    if x.size == 0:
        return float("nan"), d
    K = _dispatch.kernels.losses
    loss = K.bce_with_logits_loss(x.reshape(-1), t.reshape(-1), d.reshape(-1),
                                  np.empty(K.block_count(x.size)), num_threads())
    return float(loss), d


def mse_loss(pred, target, reduction="mean"):
    """Mean squared error (``F.mse_loss``).

    reduction="mean": loss = mean((pred - target)^2), dpred = 2 (pred - target) / n;
    reduction="sum":  loss = sum((pred - target)^2),  dpred = 2 (pred - target).

    Parameters
    ----------
    pred : array_like of float32 or float64, any shape
    target : array_like of float, the shape of pred
    reduction : {"mean", "sum"}

    Returns
    -------
    loss : float
    dpred : ndarray, shape and dtype of pred

    Shape
    -----
    pred: any; target: same; dpred: same.
    """
    fn = "mse_loss"
    if reduction not in ("mean", "sum"):
        raise ValueError(f"{fn}: reduction must be 'mean' or 'sum', got {reduction!r}")
    p = float_array(pred, "pred", fn)
    t = _targets(target, p.shape, p.dtype, "target", fn)
    d = _buffers.empty_like(p)
    n = p.size
    if n == 0:
        return (float("nan") if reduction == "mean" else 0.0), d
    K = _dispatch.kernels.losses
    grad_scale = 2.0 / n if reduction == "mean" else 2.0
    total = K.mse_loss(p.reshape(-1), t.reshape(-1), d.reshape(-1), np.empty(K.block_count(n)),
                       grad_scale, num_threads())
    return float(total / n if reduction == "mean" else total), d

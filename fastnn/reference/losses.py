"""NumPy twins of fastnn.ops.losses: the textbook formulas, computed in the input's dtype.

Each returns ``(loss, dscores)`` with loss a Python float.
"""
import numpy as np

__all__ = ["softmax_loss", "svm_loss", "bce_with_logits_loss", "mse_loss"]


def softmax_loss(scores, y, label_smoothing=0.0):
    """Softmax cross-entropy, mean over N, stable log-sum-exp.

    ``label_smoothing = eps``: the target is ``(1 - eps) onehot(y) + eps / C``.
    """
    N, C = scores.shape
    shifted = scores - scores.max(axis=1, keepdims=True)
    sumexp = np.exp(shifted).sum(axis=1, keepdims=True)
    log_probs = shifted - np.log(sumexp)
    target = np.zeros_like(scores)
    target[np.arange(N), y] = 1
    if label_smoothing:
        target = target * scores.dtype.type(1 - label_smoothing) + scores.dtype.type(
            label_smoothing / C)
    loss = -(target * log_probs).sum(dtype=np.float64) / N
    dscores = (np.exp(log_probs) - target) / scores.dtype.type(N)
    return float(loss), dscores


def svm_loss(scores, y, margin=1.0):
    """Multiclass hinge loss (CS231n), mean over N."""
    N = scores.shape[0]
    rows = np.arange(N)
    correct = scores[rows, y][:, None]
    margins = np.maximum(0, scores - correct + scores.dtype.type(margin))
    margins[rows, y] = 0
    loss = margins.sum(dtype=np.float64) / N
    positive = (margins > 0).astype(scores.dtype)
    positive[rows, y] = -positive.sum(axis=1)
    return float(loss), positive / N


def bce_with_logits_loss(logits, y):
    """Sigmoid binary cross-entropy on logits, mean over all elements (stable form)."""
    x = logits
    n = x.size
    losses = np.maximum(x, 0) - x * y + np.log1p(np.exp(-np.abs(x)))
    sig = np.where(x >= 0, 1 / (1 + np.exp(-np.abs(x))), np.exp(-np.abs(x)) / (1 + np.exp(-np.abs(x))))
    return float(losses.sum(dtype=np.float64) / n), (sig - y) / x.dtype.type(n)


def mse_loss(pred, target, reduction="mean"):
    """Mean (or sum) of squared errors."""
    diff = pred - target
    total = float((diff.astype(np.float64) ** 2).sum())
    if reduction == "sum":
        return total, 2 * diff
    n = pred.size
    return total / n, diff * pred.dtype.type(2.0 / n)

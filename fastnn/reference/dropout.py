"""NumPy twins of fastnn.ops.dropout: the same mask, bit for bit, from the same seed.

The mask generator is written out in NumPy uint64 arithmetic (which wraps
modulo 2**64): element i is kept when the high 32 bits of the i-th SplitMix64
output, ``mix64(key + (i + 1) * GAMMA)`` with ``key = mix64(seed)``, are
``>= round(p * 2**32)``.
"""
import numpy as np

__all__ = [
    "dropout_mask",
    "dropout_forward", "dropout_backward",
    "dropconnect_forward", "dropconnect_backward",
]

GAMMA = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _mix64(z):
    """SplitMix64's output function on a uint64 array (wrapping arithmetic)."""
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def dropout_mask(shape, p, seed):
    """Boolean keep-mask of `shape` for drop probability p (< 1) and integer seed."""
    n = int(np.prod(shape))
    key = _mix64(np.array([seed], dtype=np.uint64))[0]
    i = np.arange(1, n + 1, dtype=np.uint64)
    u = _mix64(key + i * GAMMA) >> np.uint64(32)
    threshold = min(int(round(p * 2.0 ** 32)), 2 ** 32 - 1)
    return (u >= np.uint64(threshold)).reshape(shape)


def dropout_forward(x, p=0.5, training=True, seed=0):
    """out = x * mask / (1 - p) in training, x in evaluation; p = probability of dropping."""
    x = np.asarray(x)
    if not training:
        return x, (None, 1.0)
    if p == 1.0:
        mask = np.zeros(x.shape, dtype=bool)
        scale = x.dtype.type(0)
    else:
        mask = dropout_mask(x.shape, p, seed)
        scale = x.dtype.type(1.0 / (1.0 - p))
    with np.errstate(invalid="ignore"):          # a dropped inf gives NaN, as in PyTorch
        out = x * (mask.astype(x.dtype) * scale)
    return out, (mask, scale)


def dropout_backward(dout, cache):
    """``dx = dout * mask / (1 - p)`` (``dout`` itself in eval mode)."""
    mask, scale = cache
    if mask is None:
        return dout
    return dout * (mask.astype(dout.dtype) * scale)


def dropconnect_forward(x, w, b, p=0.5, training=True, seed=0):
    """out = x @ (w * mask / (1 - p)) + b in training, x @ w + b in evaluation."""
    N = x.shape[0]
    x2 = x.reshape(N, -1)
    w_eff, wcache = dropout_forward(w, p, training, seed)
    out = x2 @ w_eff + b
    return out, (x2, x.shape, w_eff, wcache)


def dropconnect_backward(dout, cache):
    """``(dx, dw, db)`` of :func:`dropconnect_forward`; ``dw`` is masked like the weights."""
    x2, x_shape, w_eff, wcache = cache
    dx = (dout @ w_eff.T).reshape(x_shape)
    dw = dropout_backward(x2.T @ dout, wcache)
    db = dout.sum(axis=0)
    return dx, dw, db

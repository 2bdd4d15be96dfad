"""NumPy twin of :mod:`fastnn.ops.affine`."""

__all__ = ["affine_forward", "affine_backward"]


def affine_forward(x, w, b):
    """out = x.reshape(N, D) @ w + b"""
    out = x.reshape(x.shape[0], w.shape[0]) @ w + b
    return out, (x, w)


def affine_backward(dout, cache):
    """dx = dout @ w.T (x's shape), dw = x.T @ dout, db = sum over N"""
    x, w = cache
    x2 = x.reshape(x.shape[0], w.shape[0])
    dx = (dout @ w.T).reshape(x.shape)
    dw = x2.T @ dout
    db = dout.sum(axis=0)
    return dx, dw, db

"""Regularisation by random dropping: inverted dropout and DropConnect.

``p`` is the probability of DROPPING a unit (PyTorch's meaning, not the
"keep probability" of the original paper and of CS231n's assignment).

The random mask is reproducible from one integer seed:

* element ``i`` of the flattened array is kept when
  ``mix64(mix64(seed) + (i + 1) * 0x9e3779b97f4a7c15) >> 32 >= round(p * 2**32)``,
  the high half of the i-th output of a SplitMix64 generator (``mix64`` is its
  output function, all arithmetic modulo 2**64).  So the mask depends only on
  (seed, i): the same seed gives the same mask on any thread count and any
  SIMD target, and :mod:`fastnn.reference.dropout` reproduces it bit for bit;
* ``p`` is resolved to multiples of 2**-32 (the drop probability is exactly
  ``round(p * 2**32) / 2**32``);
* ``seed=None`` draws a fresh 64-bit seed from NumPy's OS entropy
  (``np.random.SeedSequence().entropy``) and records it as ``cache.seed``, so a
  run can be replayed; a given seed gives the same mask on every call, so pass
  a different seed at every training step (e.g. ``seed=base + step``);
* the mask is kept as one byte per element (``cache.mask``, uint8, 1 = kept).

``p = 1`` is allowed and, as in PyTorch, drops everything: the output and the
gradient are all zeros (no division by zero).  ``p`` outside [0, 1] raises.
"""
import numpy as np

from fastnn import _dispatch
from fastnn._kernels import _buffers
from fastnn.ops.affine import affine_backward, affine_forward
from fastnn.ops._common import (Cache, cache_array, cache_bool, cache_dtype, cache_for,
                                cache_real, cache_shape, check_dout, float_array, param_array,
                                probability, num_threads)

__all__ = [
    "dropout_forward", "dropout_backward",
    "dropconnect_forward", "dropconnect_backward",
]

_U64 = (1 << 64) - 1


def _probability(p, fn):
    return probability(p, fn, " (the probability of dropping a unit)")


def _training(training, fn):
    if not isinstance(training, (bool, np.bool_)):
        raise TypeError(f"{fn}: training must be True or False, got {training!r}")
    return bool(training)


def _seed(seed, fn):
    """The 64-bit seed: seed itself, or fresh OS entropy when None."""
    if seed is None:
        return int(np.random.SeedSequence().entropy) & _U64
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"{fn}: seed must be an int or None, got {seed!r}")
    seed = int(seed)
    if not 0 <= seed <= _U64:
        raise ValueError(f"{fn}: seed must be in [0, 2**64), got {seed}")
    return seed


def _threshold(p):
    """round(p * 2^32) as a uint32 (p < 1): u < threshold drops the unit."""
    return min(int(round(p * 4294967296.0)), 4294967295)


def dropout_forward(x, p=0.5, training=True, seed=None):
    """Inverted dropout: zero each unit with probability p, scale the kept ones by 1/(1-p).

    Parameters
    ----------
    x : array_like of float32 or float64, any shape
    p : float in [0, 1]
        Probability of DROPPING a unit (PyTorch's ``F.dropout`` meaning).  p = 1
        drops everything (all-zero output, like PyTorch).
    training : bool
        False: evaluation mode, the identity (``x`` itself is returned, no copy,
        like ``F.dropout(x, training=False)``).
    seed : int in [0, 2**64) or None
        The same seed gives the same mask on any thread count.  None draws a
        fresh seed from OS entropy; it is recorded as ``cache.seed``.

    Returns
    -------
    out : ndarray, shape and dtype of x
        ``x * mask / (1 - p)`` computed as a multiply, so a dropped NaN or inf
        gives NaN, as in PyTorch.
    cache : Cache
        For :func:`dropout_backward`: ``cache.mask`` (uint8, shape of x, 1 =
        kept; None in evaluation mode), ``cache.seed``, ``cache.p``.

    Shape
    -----
    x: any; out: same as x.
    """
    fn = "dropout_forward"
    x = float_array(x, "x", fn)
    p = _probability(p, fn)
    training = _training(training, fn)
    seed = _seed(seed, fn)
    if not training:
        return x, Cache("dropout", mask=None, seed=seed, p=p, training=False,
                        shape=x.shape, dtype=x.dtype)
    if p == 1.0:
        out = np.zeros_like(x)
        mask = np.zeros(x.shape, dtype=np.uint8)
        return out, Cache("dropout", mask=mask, seed=seed, p=p, training=True, scale=0.0,
                          shape=x.shape, dtype=x.dtype)
    scale = 1.0 / (1.0 - p)
    out = _buffers.empty_like(x)
    mask = np.empty(x.shape, dtype=np.uint8)
    K = _dispatch.kernels.dropout
    K.dropout_forward(x.reshape(-1), out.reshape(-1), mask.reshape(-1), K.mix64(seed),
                      _threshold(p), scale, num_threads())
    return out, Cache("dropout", mask=mask, seed=seed, p=p, training=True, scale=scale,
                      shape=x.shape, dtype=x.dtype)


def dropout_backward(dout, cache):
    """dx = dout * mask / (1 - p) with the forward mask; dx = dout in evaluation mode.

    Parameters
    ----------
    dout : array_like of float, shape of the forward output
    cache : Cache from :func:`dropout_forward`

    Returns
    -------
    dx : ndarray, forward dtype.  In evaluation mode ``dout`` itself (converted
        to the forward dtype if needed), as PyTorch's identity passes it on.

    Shape
    -----
    dout, dx: the forward input's shape.
    """
    fn = "dropout_backward"
    c = cache_for(cache, "dropout", fn)
    shape = cache_shape(c, "shape", fn)
    g = check_dout(dout, shape, cache_dtype(c, "dtype", fn), fn)
    if not cache_bool(c, "training", fn):
        return g
    mask = cache_array(c, "mask", fn, shape=shape, dtype=np.uint8)
    dx = _buffers.empty_like(g)
    _dispatch.kernels.dropout.dropout_backward(g.reshape(-1), mask.reshape(-1), dx.reshape(-1),
                                               cache_real(c, "scale", fn), num_threads())
    return dx


def dropconnect_forward(x, w, b, p=0.5, training=True, seed=None):
    """DropConnect: an affine layer whose WEIGHTS are dropped, out = x @ (w * mask / (1-p)) + b.

    The mask covers w (one draw per weight, same generator and seed rules as
    :func:`dropout_forward`, element i of ``w.ravel()``); the bias is not
    dropped.  In evaluation mode the layer is the plain affine ``x @ w + b``
    (the "mean" approximation: the expected value of the masked, rescaled
    weights is w).  The GEMMs are :func:`fastnn.ops.affine_forward`'s on the masked weights.

    Parameters
    ----------
    x : array_like of float32 or float64, shape (N, d1, ..., dk); flattened to (N, D)
    w : array_like, shape (D, M), D = d1 * ... * dk, dtype of x
    b : array_like, shape (M,), dtype of x
    p : float in [0, 1]
        Probability of dropping a weight.  p = 1 drops every weight (out = b).
    training : bool
    seed : int in [0, 2**64) or None (see :func:`dropout_forward`)

    Returns
    -------
    out : ndarray, shape (N, M)
    cache : Cache
        For :func:`dropconnect_backward`; ``cache.mask`` is the uint8 mask of
        w (shape (D, M), None in evaluation mode), ``cache.seed`` the seed.

    Shape
    -----
    x: (N, d1, ..., dk); w: (D, M); b: (M,); out: (N, M).
    """
    fn = "dropconnect_forward"
    x = float_array(x, "x", fn)
    if x.ndim < 2:
        raise ValueError(f"{fn}: x must have shape (N, d1, ...) with at least 2 dimensions, "
                         f"got shape {x.shape}")
    w = param_array(w, "w", x.dtype, fn)
    b = param_array(b, "b", x.dtype, fn)
    D = int(np.prod(x.shape[1:]))
    if w.ndim != 2 or w.shape[0] != D:
        raise ValueError(f"{fn}: w must have shape (D, M) with D = {D} (x's features per "
                         f"sample, x shape {x.shape}), got shape {w.shape}")
    M = w.shape[1]
    if b.shape != (M,):
        raise ValueError(f"{fn}: b must have shape ({M},) (w's columns), got shape {b.shape}")
    p = _probability(p, fn)
    training = _training(training, fn)
    seed = _seed(seed, fn)
    if not training:
        out, acache = affine_forward(x, w, b)
        return out, Cache("dropconnect", affine=acache, mask=None, scale=1.0, seed=seed, p=p,
                          training=False)
    if p == 1.0:
        mask = np.zeros(w.shape, dtype=np.uint8)
        w_eff = np.zeros_like(w)
        scale = 0.0
    else:
        scale = 1.0 / (1.0 - p)
        mask = np.empty(w.shape, dtype=np.uint8)
        w_eff = np.empty_like(w)
        K = _dispatch.kernels.dropout
        K.dropout_forward(w.reshape(-1), w_eff.reshape(-1), mask.reshape(-1), K.mix64(seed),
                          _threshold(p), scale, num_threads())
    out, acache = affine_forward(x, w_eff, b)
    return out, Cache("dropconnect", affine=acache, mask=mask, scale=scale, seed=seed, p=p,
                      training=True)


def dropconnect_backward(dout, cache):
    """Gradients of :func:`dropconnect_forward`.

    dx = dout @ w_eff.T,  dw = (x.T @ dout) * mask / (1 - p),  db = dout.sum(0),
    with w_eff the masked, rescaled weights of the forward pass (w itself in
    evaluation mode, where dw = x.T @ dout).

    Returns
    -------
    dx : ndarray, shape of the forward x
    dw : ndarray, shape (D, M)
    db : ndarray, shape (M,)

    Shape
    -----
    dout: (N, M).
    """
    fn = "dropconnect_backward"
    c = cache_for(cache, "dropconnect", fn)
    a = c.__dict__.get("affine")
    if not isinstance(a, Cache) or a.op != "affine":
        raise ValueError(f"{fn}: cache.affine must be the affine_forward cache that "
                         f"dropconnect_forward stored, got {type(a).__name__} (pass the cache "
                         "dropconnect_forward returned, unmodified)")
    x2 = cache_array(a, "x", fn, ndim=2, floating=True)
    w = cache_array(a, "w", fn, ndim=2, dtype=x2.dtype)
    g = check_dout(dout, (x2.shape[0], w.shape[1]), x2.dtype, fn)
    dx, dw, db = affine_backward(g, a)          # checks the affine cache
    if cache_bool(c, "training", fn):
        mask = cache_array(c, "mask", fn, shape=dw.shape, dtype=np.uint8)
        _dispatch.kernels.dropout.dropout_backward(dw.reshape(-1), mask.reshape(-1),
                                                   dw.reshape(-1), cache_real(c, "scale", fn),
                                                   num_threads())
    return dx, dw, db

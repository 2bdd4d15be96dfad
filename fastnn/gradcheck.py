"""Gradient checking: centred-difference numerical gradients, as in CS231n.

* :func:`eval_numerical_gradient` -- gradient of a scalar function ``f(x)``.
* :func:`eval_numerical_gradient_array` -- gradient of ``sum(f(x) * df)`` for
  an array-valued ``f`` (checks a backward pass given its upstream ``df``).
* :func:`rel_error` -- ``max |a - b| / max(1e-8, |a| + |b|)``.
* :func:`check_model_gradients` -- relative error per parameter of a whole
  model's analytic gradients.
* :func:`check_layer_gradients` -- relative error of a layer's ``dx`` and of
  each parameter gradient (random layers are rewound to the same stream
  before every forward, so dropout masks stay fixed).

Each perturbs ``x`` in place (``x[i] += h``), evaluates, and restores it, so
``f`` must read the array it is given (not a copy made earlier).  Use float64:
in float32 the rounding error of ``f`` divided by ``2h`` swamps the result.
"""
import numpy as np

__all__ = ["eval_numerical_gradient", "eval_numerical_gradient_array", "rel_error",
           "check_model_gradients", "check_layer_gradients"]


def _array(x, fn):
    if not isinstance(x, np.ndarray) or x.dtype.kind != "f":
        raise TypeError(f"{fn}: x must be a float numpy array (perturbed in place), "
                        f"got {getattr(x, 'dtype', type(x).__name__)}")
    if not x.flags.writeable:
        raise ValueError(f"{fn}: x is read-only; it is perturbed in place")
    return x


def _centred(x, index, f, h):
    """``(f(x + h e_index), f(x - h e_index))``: x perturbed in place, then restored."""
    old = x[index]
    x[index] = old + h
    pos = f(x)
    x[index] = old - h
    neg = f(x)
    x[index] = old
    return pos, neg


def eval_numerical_gradient(f, x, verbose=False, h=1e-5):
    """Numerical gradient of a scalar function at x: ``(f(x + h e_i) - f(x - h e_i)) / 2h``.

    Parameters
    ----------
    f : callable
        ``f(x) -> float``.
    x : ndarray
        Point of evaluation; perturbed in place and restored.
    verbose : bool
        Print every index and its gradient.
    h : float

    Returns
    -------
    ndarray, same shape as x (float64)
    """
    _array(x, "eval_numerical_gradient")
    grad = np.zeros(x.shape, np.float64)
    it = np.nditer(x, flags=["multi_index"], op_flags=["readwrite"])
    while not it.finished:
        ix = it.multi_index
        fxph, fxmh = _centred(x, ix, lambda v: float(f(v)), h)
        grad[ix] = (fxph - fxmh) / (2 * h)
        if verbose:
            print(ix, grad[ix])
        it.iternext()
    return grad


def eval_numerical_gradient_array(f, x, df, h=1e-5):
    """Numerical gradient of ``sum(f(x) * df)`` at x (f array-valued, df its upstream gradient).

    Shape
    -----
    x any shape; ``df`` the shape of ``f(x)``; the result the shape of x.
    """
    _array(x, "eval_numerical_gradient_array")
    df = np.asarray(df, np.float64)
    grad = np.zeros(x.shape, np.float64)
    it = np.nditer(x, flags=["multi_index"], op_flags=["readwrite"])
    while not it.finished:
        ix = it.multi_index
        # copies: f may return a view or reuse a buffer
        pos, neg = _centred(x, ix, lambda v: np.array(f(v), np.float64), h)
        if pos.shape != df.shape:
            raise ValueError(f"eval_numerical_gradient_array: f(x) has shape {pos.shape} "
                             f"but df has shape {df.shape}")
        grad[ix] = np.sum((pos - neg) * df) / (2 * h)
        it.iternext()
    return grad


def rel_error(x, y):
    """CS231n relative error: ``max |x - y| / max(1e-8, |x| + |y|)`` (0.0 for empty arrays)."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if x.shape != y.shape:
        raise ValueError(f"rel_error: shapes differ: {x.shape} and {y.shape}")
    if x.size == 0:
        return 0.0
    return float(np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y))))


def check_model_gradients(model, X, y, h=1e-5, num_checks=None, seed=0, cast_float64=True,
                          verbose=False):
    """Relative error between a model's analytic and numerical gradients, per parameter.

    Requirements on the model: ``model.params``, a dict name -> float array,
    and ``model.loss(X, y) -> (loss, grads)`` with ``grads`` a dict of the same
    keys, computed from the arrays currently in ``model.params`` and
    deterministic (no dropout noise that changes between calls: fix its seed or
    switch it off).

    float32 models: with ``cast_float64=True`` (default) every parameter and X
    are temporarily replaced by float64 copies -- this needs a model whose
    ``loss`` computes in the dtype of its parameters/inputs (true of NumPy
    models and of fastnn's ops, which follow their input's dtype); a model
    with a ``dtype`` attribute has it set to float64 for the duration.  The
    original arrays (the same objects) are put back afterwards, even on error.
    With ``cast_float64=False`` the check runs in the model's dtype (expect
    errors around 1e-2 in float32).

    Parameters
    ----------
    model : object with ``params`` and ``loss``
    X, y : the batch (keep it small: every checked element costs two losses)
    h : float, default 1e-5
        Step.  The relative error of an element whose gradient is tiny (say
        1e-5) is dominated by rounding: expect ~1e-7 there even when correct.
    num_checks : int, optional
        Check this many random elements per parameter instead of all of them.
    seed : int
        Seed of the element sampling.
    verbose : bool
        Print each parameter's error.

    Returns
    -------
    dict name -> float
        ``rel_error`` of each parameter (over the checked elements).
    """
    params = getattr(model, "params", None)
    if not isinstance(params, dict) or not callable(getattr(model, "loss", None)):
        raise TypeError("check_model_gradients: model must have a params dict and a "
                        f"loss(X, y) method, got {type(model).__name__}")
    originals = dict(params)
    had_dtype = hasattr(model, "dtype")
    old_dtype = getattr(model, "dtype", None)
    rng = np.random.default_rng(seed)
    try:
        if cast_float64:
            for k, v in originals.items():
                params[k] = np.array(v, np.float64)
            X = np.asarray(X)
            if X.dtype.kind == "f":
                X = X.astype(np.float64)
            if had_dtype:
                model.dtype = np.float64

        def f(_):
            return model.loss(X, y)[0]

        _, grads = model.loss(X, y)
        missing = set(params) - set(grads)
        if missing:
            raise ValueError(f"check_model_gradients: loss returned no gradient for "
                             f"{sorted(missing)}")
        errors = {}
        for name in params:
            p = params[name]
            analytic = np.asarray(grads[name], np.float64).copy()
            if analytic.shape != p.shape:
                raise ValueError(f"check_model_gradients: gradient of {name!r} has shape "
                                 f"{analytic.shape}, expected {p.shape}")
            if num_checks is None or num_checks >= p.size:
                numeric = eval_numerical_gradient(f, p, h=h)
                errors[name] = rel_error(numeric, analytic)
            else:
                flat = p.reshape(-1)     # a view: params are contiguous after the cast
                if not np.shares_memory(flat, p):
                    raise ValueError(f"check_model_gradients: {name!r} must be contiguous")
                idx = rng.choice(p.size, size=num_checks, replace=False)
                num = np.empty(num_checks)
                for j, i in enumerate(idx):
                    fp, fm = _centred(flat, i, lambda _: float(f(p)), h)
                    num[j] = (fp - fm) / (2 * h)
                errors[name] = rel_error(num, analytic.reshape(-1)[idx])
            if verbose:
                print(f"{name} relative error: {errors[name]:.3e}")
        return errors
    finally:
        for k, v in originals.items():
            params[k] = v
        if had_dtype:
            model.dtype = old_dtype


def check_layer_gradients(layer, x, dout=None, h=1e-5, seed=0):
    """Relative errors of a layer's backward pass against centred differences.

    The layer is run in training mode; ``sum(forward(x) * dout)`` is the
    scalar checked, so ``dx`` and every parameter gradient are compared with
    their numerical values.  Build the layer in float64 (its parameters) and
    pass a float64 ``x``.  Generators inside the layer (dropout, stochastic
    depth) are rewound before every forward, so each evaluation sees the same
    random masks.

    Returns
    -------
    dict
        ``"x"`` and each parameter name -> ``rel_error``.
    """
    from fastnn.layers import generators
    x = _array(x, "check_layer_gradients")
    streams = {k: g.bit_generator.state for k, g in generators(layer).items()}
    gens = generators(layer)

    def forward(_=None):
        for k, state in streams.items():
            gens[k].bit_generator.state = state
        return layer.forward(x)

    layer.train()
    out = forward()
    if dout is None:
        dout = np.random.default_rng(seed).standard_normal(out.shape).astype(out.dtype)
    layer.zero_grad()
    dx = layer.backward(dout)
    errors = {"x": rel_error(eval_numerical_gradient_array(forward, x, dout, h=h), dx)}
    analytic = {k: np.array(g, np.float64) for k, g in layer.grads.items()}
    for name, p in layer.params.items():
        num = eval_numerical_gradient_array(forward, p, dout, h=h)
        errors[name] = rel_error(num, analytic[name])
    return errors

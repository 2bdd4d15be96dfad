"""Argument translation shared by the cs231n compatibility modules (no maths here).

The course's NumPy code accepts integer arrays and mixes float32 with float64
(NumPy promotes); fastnn's ops take one float dtype.  :func:`floats` converts
the arrays of one call to the dtype NumPy's arithmetic would give them.
"""
import numpy as np

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def floats(fn, **arrays):
    """The arrays converted to one float dtype, in the order given.

    The dtype is NumPy's promotion of the float arrays among them (float32
    with float64 gives float64), float64 when none is float (integer and bool
    arrays, lists of ints), and float64 for other float widths.  Arrays
    already of that dtype are not copied.  Complex, object or string input
    raises TypeError naming the function and the argument.
    """
    arrs = {}
    for name, a in arrays.items():
        a = np.asarray(a)
        if a.dtype.kind not in "fiub":
            raise TypeError(f"{fn}: {name} must be an array of real numbers, got dtype {a.dtype}")
        arrs[name] = a
    float_dtypes = [a.dtype for a in arrs.values() if a.dtype.kind == "f"]
    dt = np.result_type(*float_dtypes) if float_dtypes else np.dtype(np.float64)
    if dt not in _FLOATS:
        dt = np.dtype(np.float64)
    out = [a if a.dtype == dt else a.astype(dt) for a in arrs.values()]
    return out if len(out) > 1 else out[0]


def param(d, key, fn, name, default=None, required=False):
    """``d[key]`` of a course parameter dict (``conv_param``, ``bn_param``, ...)."""
    if not isinstance(d, dict):
        raise TypeError(f"{fn}: {name} must be a dict, got {type(d).__name__}")
    if key in d:
        return d[key]
    if required:
        raise KeyError(f"{fn}: {name} has no {key!r} entry (keys: {sorted(d)})")
    return default


def mode(d, fn, name):
    """``d['mode']``: True for "train", False for "test"; anything else raises ValueError."""
    m = param(d, "mode", fn, name, required=True)
    if m not in ("train", "test"):
        raise ValueError(f'{fn}: invalid {name}["mode"] {m!r}; expected "train" or "test"')
    return m == "train"

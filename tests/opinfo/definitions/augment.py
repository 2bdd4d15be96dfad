"""OpInfo definitions: the functional augmentations of fastnn.data.augment."""
import numpy as np

from fastnn.data import augment as A
from fastnn.reference import augment as RA

from ..core import TOL_REDUCE, ErrorInput, OpInfo, Sample, dtype_errors


def _augment_ops():
    """The functional augmentations of fastnn.data.augment: forward only (new array out)."""
    shapes = {"tiny": (2, 3, 4, 4), "small": (3, 3, 7, 6), "large": (64, 3, 32, 32),
              "empty": (0, 3, 5, 5)}
    specs = [
        # name, kwargs, extra error inputs (args after X, kwargs, exc, regex)
        ("random_crop", {"padding": 2, "size": (5, 4)}, [
            ((), {"padding": -1}, ValueError, "padding must be a non-negative int"),
            ((), {"padding": 1.5}, TypeError, "padding must be a non-negative int"),
            ((), {"size": (20, 4)}, ValueError, r"crop 20x4 does not fit the padded image"),
            ((), {"size": (0, 4)}, ValueError, "size must be positive ints"),
            ((), {"size": "big"}, TypeError, "size must be None, an int or a pair"),
        ]),
        ("random_resized_crop", {"scale": (0.2, 1.0), "size": (6, 5)}, [
            ((), {"scale": (0.0, 1.0)}, ValueError, "scale must be positive"),
            ((), {"scale": (0.5, 1.5)}, ValueError, r"scale must lie in \(0, 1\]"),
            ((), {"scale": (0.9, 0.1)}, ValueError, "scale must have low <= high"),
            ((), {"ratio": (2.0, 0.5)}, ValueError, "ratio must have low <= high"),
            ((), {"ratio": 1.0}, TypeError, r"ratio must be a pair \(low, high\)"),
            ((), {"scale": (0.5, float("nan"))}, ValueError, "scale must be a finite number"),
        ]),
        ("hflip", {"p": 0.5}, [
            ((), {"p": 1.5}, ValueError, r"p must be in \[0, 1\]"),
            ((), {"p": -0.1}, ValueError, r"p must be in \[0, 1\]"),
            ((), {"p": float("nan")}, ValueError, "p must be a finite number"),
            ((), {"p": "half"}, TypeError, "p must be a real number"),
        ]),
        ("color_jitter", {"brightness": 0.4, "contrast": 0.4, "saturation": 0.4}, [
            ((), {"brightness": -0.1}, ValueError, "brightness must be >= 0"),
            ((), {"contrast": float("inf")}, ValueError, "contrast must be a finite number"),
            ((), {"saturation": None}, TypeError, "saturation must be a real number"),
            ((), {"clip": (1.0, 0.0)}, ValueError, "clip must have low <= high"),
            ((), {"clip": 1.0}, TypeError, "clip must be a pair"),
        ]),
        ("cutout", {"size": 3}, [
            ((), {"size": -2}, ValueError, "size must be a non-negative int"),
            ((), {"size": 2.5}, TypeError, "size must be a non-negative int"),
        ]),
        ("mixup", {"alpha": 0.4}, [
            ((None,), {}, ValueError, "y is required"),
            ((np.zeros(2, int),), {}, ValueError, r"y must have one label per sample \(4\)"),
            ((A.MixedLabels(np.zeros(4), np.zeros(4), 0.5),), {}, ValueError,
             "y is already a MixedLabels"),
            ((np.zeros(4, int),), {"alpha": 0.0}, ValueError, "alpha must be > 0"),
            ((np.zeros(4, int),), {"alpha": -1.0}, ValueError, "alpha must be > 0"),
        ]),
    ]
    result = []
    for name, kwargs, extra in specs:
        fn, rfn = getattr(A, name), getattr(RA, name)
        mix = name == "mixup"

        def forward(X, *args, _fn=fn, _mix=mix, **kw):
            out = _fn(X, *args, **kw)
            return (out[0] if _mix else out), None

        def ref_forward(X, *args, _fn=rfn, _mix=mix, **kw):
            out = _fn(X, *args, **kw)
            return (out[0] if _mix else out), None

        def gen(rng, dtype, size, _kw=kwargs, _mix=mix):
            X = rng.uniform(0, 1, shapes[size]).astype(dtype)
            args = (X, rng.integers(0, 10, X.shape[0])) if _mix else (X,)
            return Sample(args, {**_kw, "seed": 42}, size)

        def errors(_fn=fn, _name=name, _extra=extra, _mix=mix):
            X = np.random.default_rng(0).uniform(0, 1, (4, 3, 5, 5))
            lead = (np.zeros(4, int),) if _mix else ()
            e = dtype_errors(_fn, (X,) + lead, {"seed": 0}, "X")
            e.append(ErrorInput(_fn, (np.ones((3, 5, 5)),) + lead, {}, ValueError,
                                rf"{_name}: X must be a 4-d \(N, C, H, W\) batch", "X 3-d"))
            e += [ErrorInput(_fn, (X,) + lead, {"seed": v}, exc, rf"{_name}: seed must be", f"seed={v!r}")
                  for v, exc in ((-1, ValueError), (1.5, TypeError), (True, TypeError),
                                 ("7", TypeError))]
            for args, kw, exc, pat in _extra:
                e.append(ErrorInput(_fn, (X,) + (args if args else lead), {"seed": 0, **kw}, exc,
                                    rf"{_name}: {pat}", f"{kw or args}"))
            if _name == "color_jitter":
                e.append(ErrorInput(_fn, (np.ones((2, 2, 4, 4)),), {"saturation": 0.5}, ValueError,
                                    "saturation needs 1 or 3 channels", "saturation with C=2"))
            return e

        result.append(OpInfo(name=name, forward=forward, backward=None, ref_forward=ref_forward,
                             ref_backward=None, sample_inputs=gen, error_inputs=errors,
                             grad_args=(), tol=TOL_REDUCE, gradcheck=False))
    return result


OPS = _augment_ops()

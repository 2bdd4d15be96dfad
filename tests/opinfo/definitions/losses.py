"""OpInfo definitions: the losses (softmax, SVM, BCE with logits, MSE)."""
import numpy as np

from fastnn import ops

from ..core import ErrorInput, Sample, dtype_errors, loss_op, rand, scalar_errors


def _class_samples(rng, dtype, size, large):
    N, C = {"tiny": (4, 3), "small": (6, 5), "large": large, "empty": (0, 5)}[size]
    return rand(rng, (N, C), dtype, 2.0), rng.integers(0, C, N)


def _softmax_samples(rng, dtype, size):
    s, y = _class_samples(rng, dtype, size, (1000, 40))
    return Sample((s, y), {}, size)


def _svm_samples(rng, dtype, size):
    s, y = _class_samples(rng, dtype, size, (1100, 128))
    return Sample((s, y), {"margin": 1.0}, size)


def _elementwise_loss_samples(large, prob_target):
    def gen(rng, dtype, size):
        shape = {"tiny": (3, 4), "small": (7, 13), "large": large, "empty": (0, 5)}[size]
        t = rng.uniform(0, 1, shape) if prob_target else rng.standard_normal(shape)
        return Sample((rand(rng, shape, dtype, 2.0), t.astype(dtype)), {}, size)
    return gen


def _label_errors(fn, s, kwargs):
    return [
        ErrorInput(fn, (s, np.array([0, 1, 2.0, 0])), kwargs, TypeError,
                   "y must be an integer array of class labels, got dtype float64", "y float"),
        ErrorInput(fn, (s, np.array([True, False, True, False])), kwargs, TypeError,
                   "y must be an integer array of class labels", "y bool"),
        ErrorInput(fn, (s, np.array([0, 1, 2])), kwargs, ValueError, r"y must have shape \(4,\)",
                   "y too short"),
        ErrorInput(fn, (s, np.zeros((4, 1), int)), kwargs, ValueError, r"y must have shape \(4,\)",
                   "y 2-d"),
        ErrorInput(fn, (s, np.array([0, 1, 3, 0])), kwargs, ValueError,
                   r"label y\[2\] = 3 is out of range for C = 3 classes", "label = C"),
        ErrorInput(fn, (s, np.array([0, -1, 2, 0])), kwargs, ValueError,
                   r"label y\[1\] = -1 is out of range", "negative label"),
        ErrorInput(fn, (np.ones(4), np.zeros(4, int)), kwargs, ValueError,
                   r"scores must have shape \(N, C\)", "scores 1-d"),
        ErrorInput(fn, (np.ones((2, 2, 2)), np.zeros(2, int)), kwargs, ValueError,
                   r"scores must have shape \(N, C\)", "scores 3-d"),
    ] + dtype_errors(fn, (s, np.zeros(4, int)), kwargs, "scores")


def _softmax_errors():
    return _label_errors(ops.softmax_loss, np.ones((4, 3)), {})


def _svm_errors():
    s = np.ones((4, 3))
    return (_label_errors(ops.svm_loss, s, {})
            + scalar_errors(ops.svm_loss, (s, np.zeros(4, int)), {}, "margin"))


def _target_errors(fn, first, second):
    x = np.ones((3, 4))
    e = dtype_errors(fn, (x, np.zeros((3, 4))), {}, first)
    e += [
        ErrorInput(fn, (x, np.zeros((3, 4), int)), {}, TypeError,
                   f"{second} must be a float array, got dtype int64", f"{second} int"),
        ErrorInput(fn, (x, np.zeros((4, 3))), {}, ValueError,
                   rf"{second} must have the input's shape \(3, 4\), got shape \(4, 3\)",
                   f"{second} wrong shape"),
        ErrorInput(fn, (x, np.zeros(4)), {}, ValueError, rf"{second} must have the input's shape",
                   f"{second} broadcastable"),
    ]
    return e


def _bce_errors():
    return _target_errors(ops.bce_with_logits_loss, "logits", "y")


def _mse_errors():
    e = _target_errors(ops.mse_loss, "pred", "target")
    x = np.ones((3, 4))
    e += [ErrorInput(ops.mse_loss, (x, x), {"reduction": v}, ValueError,
                     r"reduction must be 'mean' or 'sum'", f"reduction={v!r}")
          for v in ("none", "MEAN", None)]
    return e


OPS = [
    loss_op("softmax_loss", _softmax_samples, _softmax_errors),
    # documented: a NaN margin gives a NaN gradient for that score and the row's correct
    # class; the reference (and PyTorch's multi_margin_loss) give 0 there: only the loss
    # is compared under NaN/inf
    loss_op("svm_loss", _svm_samples, _svm_errors, nan_results=(0,)),
    loss_op("bce_with_logits_loss", _elementwise_loss_samples((200, 210), True), _bce_errors,
            float_args=(0, 1)),
    loss_op("mse_loss", _elementwise_loss_samples((400, 350), False), _mse_errors,
            float_args=(0, 1)),
]

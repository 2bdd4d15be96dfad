"""A backward pass given an edited cache raises ValueError naming the function and the field.

Every field a backward kernel loops over or indexes with is tampered in turn (truncated or
reshaped arrays, another dtype, a non-contiguous view, a changed group count or geometry,
out-of-range indices); an unchecked one would make the kernel read or write out of bounds
(a crash, or silent corruption).  The untouched cache must still work afterwards.
"""
import numpy as np
import pytest

from fastnn import ops

RNG = np.random.default_rng(0)


def _x(*shape, dtype=np.float64):
    return RNG.standard_normal(shape).astype(dtype)


def _fwd(name):
    """(backward function, forward output, cache) of one op on small inputs."""
    if name == "relu":
        out, c = ops.relu_forward(_x(3, 4))
        return ops.relu_backward, out, c
    if name == "sigmoid":
        out, c = ops.sigmoid_forward(_x(3, 4))
        return ops.sigmoid_backward, out, c
    if name == "prelu":
        out, c = ops.prelu_forward(_x(2, 3, 4), np.full(3, 0.1))
        return ops.prelu_backward, out, c
    if name == "maxout":
        out, c = ops.maxout_forward(_x(5, 6), _x(3, 6, 4), _x(3, 4))
        return ops.maxout_backward, out, c
    if name == "affine":
        out, c = ops.affine_forward(_x(5, 2, 3), _x(6, 4), _x(4))
        return ops.affine_backward, out, c
    if name == "dropout":
        out, c = ops.dropout_forward(_x(4, 5), p=0.5, seed=1)
        return ops.dropout_backward, out, c
    if name == "dropconnect":
        out, c = ops.dropconnect_forward(_x(5, 6), _x(6, 4), _x(4), p=0.5, seed=1)
        return ops.dropconnect_backward, out, c
    if name == "batchnorm":
        out, c = ops.batchnorm_forward(_x(6, 3, 2, 2), np.ones(3), np.zeros(3), None, None)
        return ops.batchnorm_backward, out, c
    if name == "layernorm":
        out, c = ops.layernorm_forward(_x(4, 3, 5), np.ones(5), np.zeros(5))
        return ops.layernorm_backward, out, c
    if name == "groupnorm":
        out, c = ops.groupnorm_forward(_x(2, 6, 3, 3), np.ones(6), np.zeros(6), 3)
        return ops.groupnorm_backward, out, c
    if name == "max_pool":
        out, c = ops.max_pool_forward(_x(2, 3, 6, 6), 2, 2, 2)
        return ops.max_pool_backward, out, c
    if name == "max_pool_big":                  # windows over 255 elements: int32 indices
        out, c = ops.max_pool_forward(_x(1, 2, 17, 17), 16, 16, 1)
        return ops.max_pool_backward, out, c
    if name == "avg_pool":
        out, c = ops.avg_pool_forward(_x(2, 3, 6, 6), 2, 2, 2)
        return ops.avg_pool_backward, out, c
    if name == "global_avg_pool":
        out, c = ops.global_avg_pool_forward(_x(2, 3, 4, 4))
        return ops.global_avg_pool_backward, out, c
    if name == "conv":
        out, c = ops.conv_forward(_x(2, 4, 7, 7), _x(6, 2, 3, 3), _x(6), stride=2, pad=1,
                                  groups=2)
        return ops.conv_backward, out, c
    raise AssertionError(name)


def _truncate(a):
    return a.reshape(-1)[:-1].copy() if a.size else a


def _first_row(a):
    return a[:1].copy()


def _wrong_dtype(a):
    return a.astype(np.float32 if a.dtype != np.float32 else np.float64)


def _strided(a):
    b = np.repeat(a[..., None], 2, axis=-1)[..., 0]
    assert not b.flags.c_contiguous or a.size <= 1
    return b


def _set(field, value):
    return lambda c: setattr(c, field, value)


def _edit(field, how):
    return lambda c: setattr(c, field, how(getattr(c, field)))


def _poke(field, value, at=0):
    def f(c):
        a = getattr(c, field).copy()
        a.reshape(-1)[at] = value
        setattr(c, field, a)
    return f


CASES = [
    ("relu", "saved", _edit("saved", _truncate)),
    ("relu", "saved", _set("saved", [1.0, 2.0])),
    ("relu", "a", _set("a", "x")),
    ("relu", "kernel_op", _set("kernel_op", "nonsense")),
    ("sigmoid", "saved", _edit("saved", _strided)),
    ("prelu", "alpha", _edit("alpha", _truncate)),
    ("prelu", "alpha", _edit("alpha", _wrong_dtype)),
    ("prelu", "x", _edit("x", _first_row)),
    ("prelu", "C", _set("C", 7)),
    ("prelu", "S", _set("S", 1000)),
    ("maxout", "idx", _poke("idx", 3)),             # k = 3: 3 is one past the last piece
    ("maxout", "idx", _poke("idx", -1)),
    ("maxout", "idx", _poke("idx", 2**31 - 1, at=-1)),
    ("maxout", "idx", _edit("idx", _truncate)),
    ("maxout", "idx", _edit("idx", lambda a: a.astype(np.int64))),
    ("maxout", "k", _set("k", 4)),
    ("maxout", "w_cat", _edit("w_cat", _first_row)),
    ("maxout", "x", _edit("x", _first_row)),
    ("affine", "x", _edit("x", _first_row)),
    ("affine", "w", _edit("w", _first_row)),
    ("affine", "w", _edit("w", _wrong_dtype)),
    ("affine", "x_shape", _set("x_shape", (5, 2, 4))),
    ("dropout", "mask", _edit("mask", _truncate)),
    ("dropout", "mask", _edit("mask", _first_row)),
    ("dropout", "mask", _edit("mask", lambda a: a.astype(bool))),
    ("dropout", "mask", _edit("mask", _strided)),
    ("dropout", "mask", _set("mask", None)),
    ("dropout", "shape", _set("shape", (4, 6))),
    ("dropout", "shape", _set("shape", "4x5")),
    ("dropout", "training", _set("training", "yes")),
    ("dropout", "scale", _set("scale", None)),
    ("dropconnect", "mask", _edit("mask", _truncate)),
    ("dropconnect", "mask", _edit("mask", lambda a: a.T.copy())),
    ("dropconnect", "x", lambda c: setattr(c.affine, "x", _first_row(c.affine.x))),
    ("dropconnect", "affine", _set("affine", None)),
    ("batchnorm", "mean", _edit("mean", _truncate)),
    ("batchnorm", "invstd", _edit("invstd", _truncate)),
    ("batchnorm", "invstd", _edit("invstd", lambda a: a.astype(np.float32))),
    ("batchnorm", "gamma", _edit("gamma", _truncate)),
    ("batchnorm", "x", _edit("x", lambda a: a[:, :2].copy())),
    ("batchnorm", "batch_stats", _set("batch_stats", 1)),
    ("layernorm", "mean", _edit("mean", _truncate)),
    ("layernorm", "invstd", _edit("invstd", _first_row)),
    ("layernorm", "gamma", _edit("gamma", _truncate)),
    ("layernorm", "x_shape", _set("x_shape", (4, 3, 6))),
    ("layernorm", "x", _edit("x", lambda a: a.reshape(-1, 3).copy())),
    ("groupnorm", "groups", _set("groups", 6)),       # mean/invstd are (N, 3)
    ("groupnorm", "groups", _set("groups", 4)),       # does not divide C = 6
    ("groupnorm", "groups", _set("groups", 0)),
    ("groupnorm", "groups", _set("groups", 1.5)),
    ("groupnorm", "mean", _edit("mean", _truncate)),
    ("groupnorm", "invstd", _edit("invstd", lambda a: a[:, :2].copy())),
    ("groupnorm", "gamma", _edit("gamma", _truncate)),
    ("max_pool", "idx", _poke("idx", 4)),             # 2x2 window: 0..3
    ("max_pool", "idx", _poke("idx", 255, at=-1)),
    ("max_pool", "idx", _edit("idx", _truncate)),
    ("max_pool", "idx", _edit("idx", lambda a: a.astype(np.int32))),
    ("max_pool", "x_shape", _set("x_shape", (2, 3, 12, 12))),
    ("max_pool", "x_shape", _set("x_shape", (2, 3, 6))),
    ("max_pool", "pool", _set("pool", (2, 2, 1))),
    ("max_pool", "pool", _set("pool", (3, 3, 2))),
    ("max_pool", "pool", _set("pool", (2, 2, 0))),
    ("max_pool", "dtype", _set("dtype", np.int64)),
    ("max_pool_big", "idx", _poke("idx", 256)),       # 16x16 window: 0..255
    ("max_pool_big", "idx", _poke("idx", -5, at=-1)),
    ("avg_pool", "x_shape", _set("x_shape", (2, 3, 12, 12))),
    ("avg_pool", "out_shape", _set("out_shape", (2, 3, 6, 6))),
    ("avg_pool", "pool", _set("pool", (2, 2, 1))),
    ("global_avg_pool", "x_shape", _set("x_shape", (2, 3, -1, 4))),
    ("global_avg_pool", "dtype", _set("dtype", "int8")),
    ("conv", "x", _edit("x", lambda a: a[:, :, :5, :5].copy())),
    ("conv", "x", _edit("x", lambda a: a[:, :2].copy())),
    ("conv", "w", _edit("w", lambda a: a[:, :1].copy())),
    ("conv", "w", _edit("w", lambda a: a[:, :, :, :, None].copy())),
    ("conv", "w", _edit("w", _wrong_dtype)),
    ("conv", "geom", _set("geom", (1, 1, 1))),
    ("conv", "geom", _set("geom", (2, 10**30, 1))),
    ("conv", "groups", _set("groups", 1)),
    ("conv", "groups", _set("groups", 4)),
    ("conv", "out_hw", _set("out_hw", (7, 7))),
    ("conv", "path", _set("path", "other")),
]


# tampered fields refused through a check on another field or on dout (all before the kernel)
EXPECTED_ELSEWHERE = {
    "relu": ("saved",), "prelu": ("alpha", "x"), "maxout": ("k", "x"), "dropout": ("shape",),
    "dropconnect": ("x",), "batchnorm": ("x",), "groupnorm": ("groups",),
    "max_pool": ("x_shape", "pool"), "avg_pool": ("x_shape", "pool"),
    "conv": ("x", "w", "geom", "groups"),
}


@pytest.mark.parametrize("op, field, tamper", CASES,
                         ids=[f"{op}-{field}-{i}" for i, (op, field, _) in enumerate(CASES)])
def test_tampered_cache_raises_naming_the_field(op, field, tamper):
    backward, out, cache = _fwd(op)
    before = backward(np.ones_like(out), cache)       # the untouched cache works
    assert before is not None
    tamper(cache)
    fn = backward.__name__
    with pytest.raises(ValueError) as info:
        backward(np.ones_like(out), cache)
    msg = str(info.value)
    assert msg.startswith(fn + ":"), msg
    # the field, or another one it no longer agrees with (a truncated x and an intact mask:
    # either may be the edited one), or dout no longer matching the cached output shape
    assert "cache." in msg or "dout has shape" in msg, msg
    if f"cache.{field}" not in msg:
        assert field in EXPECTED_ELSEWHERE.get(op, ()), msg


@pytest.mark.parametrize("op", ["max_pool", "max_pool_big", "maxout"])
def test_index_checks_accept_every_valid_index(op):
    """The range check accepts the extreme valid values (0 and bound - 1)."""
    backward, out, cache = _fwd(op)
    bound = {"max_pool": 4, "max_pool_big": 256, "maxout": 3}[op]
    cache.idx.reshape(-1)[0] = 0
    cache.idx.reshape(-1)[-1] = bound - 1
    backward(np.ones_like(out), cache)


def test_maxout_backward_routes_to_a_changed_but_valid_index():
    """An in-range edit is honoured (the check does not overreach): dz lands on the piece
    the index names."""
    backward, out, cache = _fwd("maxout")
    cache.idx[...] = 2
    dx, dw, db = backward(np.ones_like(out), cache)
    np.testing.assert_array_equal(db[:2], 0)
    np.testing.assert_array_equal(db[2], np.full(4, 5.0))

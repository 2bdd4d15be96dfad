"""Property tests: hypothesis draws shapes, strides and values (tiny to large magnitudes) for
every op of the OpInfo registry and checks fastnn against its NumPy reference.

Each op runs ``MAX_EXAMPLES`` examples (fixed, derandomised: the same examples on every
run).  The number of examples actually run is printed at the end of the module
("hypothesis examples run: N").
"""
import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

import opinfo  # noqa: E402
from opinfo import OPS, Sample, run  # noqa: E402

MAX_EXAMPLES = 25
SETTINGS = settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True,
                    suppress_health_check=list(HealthCheck), database=None)

COUNT = {"examples": 0}


@pytest.fixture(scope="module", autouse=True)
def _report_count(request):
    yield
    line = f"hypothesis examples run: {COUNT['examples']} ({len(OPS)} ops)"
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capman = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capman is not None:
        with capman.global_and_fixture_disabled():
            reporter.write_line("\n" + line)


# ----------------------------------------------------------------- value strategies

@st.composite
def values(draw, shape, dtype, lo=-3, hi=3, positive=False):
    """An array of shape: unit-range values times 10**k, k drawn in [lo, hi]; sometimes
    laid out with a stride (a slice of a bigger array)."""
    width = 32 if dtype == np.float32 else 64
    unit = draw(hnp.arrays(dtype, shape, elements=st.floats(
        0.0 if positive else -1.0, 1.0, width=width, allow_subnormal=False)))
    scale = dtype(10.0) ** draw(st.integers(lo, hi))
    a = (unit * scale).astype(dtype)
    if a.ndim and draw(st.booleans()):
        step = draw(st.integers(2, 3))
        big = np.zeros(a.shape[:-1] + (a.shape[-1] * step,), dtype)
        big[..., ::step] = a
        a = big[..., ::step]
    return a


def dims(lo, hi):
    return st.integers(lo, hi)


# ----------------------------------------------------------------- per-op samples

@st.composite
def elementwise(draw, op, dtype):
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=7))
    x = draw(values(shape, dtype, -4, 4))
    kw = dict(op.sample_inputs(np.random.default_rng(0), dtype, "tiny").kwargs)
    if op.name.startswith("dropout"):
        kw["p"] = draw(st.sampled_from([0.0, 0.1, 0.5, 0.9, 1.0]))
        kw["seed"] = draw(st.integers(0, 2**64 - 1))
    return Sample((x,), kw)


@st.composite
def prelu(draw, op, dtype):
    shape = draw(hnp.array_shapes(min_dims=2, max_dims=4, min_side=1, max_side=6))
    C = draw(st.sampled_from([1, shape[1]]))
    return Sample((draw(values(shape, dtype)), draw(values((C,), dtype, -1, 0))))


def _quarters(draw, shape, dtype, scale):
    """Multiples of scale/4 in [-2, 2] * scale (scale a power of two)."""
    q = draw(hnp.arrays(np.int8, shape, elements=st.integers(-8, 8)))
    return (q.astype(np.float64) * (scale / 4)).astype(dtype)


@st.composite
def maxout(draw, op, dtype):
    """Pieces that are exact in float32 whatever the GEMM's blocking, with exact ties on purpose.

    x, w and b are multiples of a quarter (times a power of two) and D <= 8, so every
    x @ w_j + b_j is computed without rounding by any summation order: which piece wins
    then depends on the tie rule alone (the first maximal piece, as in the reference's
    argmax), never on how the BLAS kernel rounded.  Some pieces are copies of others, so
    exact ties occur in most examples.
    """
    N, D, k, M = draw(dims(1, 6)), draw(dims(1, 8)), draw(dims(1, 4)), draw(dims(1, 6))
    sx, sw = (2.0 ** draw(st.integers(-6, 6)) for _ in range(2))
    x = _quarters(draw, (N, D), dtype, sx)
    w = _quarters(draw, (k, D, M), dtype, sw)
    b = _quarters(draw, (k, M), dtype, sx * sw)
    for dst, src in draw(st.lists(st.tuples(dims(0, k - 1), dims(0, k - 1)), max_size=k)):
        w[dst], b[dst] = w[src], b[src]
    return Sample((x, w, b))


@st.composite
def affine(draw, op, dtype):
    N, M = draw(dims(1, 8)), draw(dims(1, 8))
    rest = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=5))
    D = int(np.prod(rest))
    s = Sample((draw(values((N,) + rest, dtype)), draw(values((D, M), dtype, -1, 1)),
                draw(values((M,), dtype))))
    if op.name == "dropconnect":
        s.kwargs = {"p": draw(st.sampled_from([0.0, 0.3, 0.7, 1.0])),
                    "seed": draw(st.integers(0, 2**64 - 1))}
    return s


@st.composite
def batchnorm(draw, op, dtype):
    training = "train" in op.name
    spatial = "spatial" in op.name
    N = draw(dims(2 if training else 1, 7))
    C = draw(dims(1, 5))
    shape = (N, C) + ((draw(dims(1, 4)), draw(dims(1, 4))) if spatial else ())
    x = draw(values(shape, dtype))
    rm = draw(values((C,), dtype, -1, 0)).copy()
    rv = (draw(values((C,), dtype, -1, 1, positive=True)) + dtype(0.1)).astype(dtype)
    return Sample((x, draw(values((C,), dtype, -1, 0)), draw(values((C,), dtype, -1, 0)), rm, rv),
                  {"training": training, "momentum": draw(st.floats(0, 1)),
                   "eps": draw(st.sampled_from([1e-5, 1e-3, 0.1]))})


@st.composite
def layernorm(draw, op, dtype):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=6))
    k = draw(st.integers(1, len(shape)))
    gs = shape[len(shape) - k:]
    return Sample((draw(values(shape, dtype)), draw(values(gs, dtype, -1, 0)),
                   draw(values(gs, dtype, -1, 0))), {"eps": draw(st.sampled_from([1e-5, 1e-2]))})


@st.composite
def groupnorm(draw, op, dtype):
    N, G, Cg = draw(dims(1, 4)), draw(dims(1, 3)), draw(dims(1, 3))
    spatial = draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=1, max_side=4))
    C = G * Cg
    return Sample((draw(values((N, C) + spatial, dtype)), draw(values((C,), dtype, -1, 0)),
                   draw(values((C,), dtype, -1, 0)), G), {"eps": 1e-5})


@st.composite
def class_loss(draw, op, dtype):
    N, C = draw(dims(1, 9)), draw(dims(1, 7))
    y = draw(hnp.arrays(np.int64, (N,), elements=st.integers(0, C - 1)))
    kw = {"margin": draw(st.sampled_from([0.0, 0.5, 1.0, 1.75]))} if op.name == "svm_loss" \
        else {}
    return Sample((draw(values((N, C), dtype)), y), kw)


@st.composite
def target_loss(draw, op, dtype):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=7))
    if op.name == "bce_with_logits_loss":
        t = draw(values(shape, dtype, 0, 0, positive=True))
    else:
        t = draw(values(shape, dtype))
    kw = {"reduction": draw(st.sampled_from(["mean", "sum"]))} if op.name == "mse_loss" else {}
    return Sample((draw(values(shape, dtype)), t), kw)


@st.composite
def _geometry(draw):
    N, C = draw(dims(1, 3)), draw(dims(1, 4))
    HH, WW = draw(dims(1, 3)), draw(dims(1, 3))
    stride, pad, dil = draw(dims(1, 3)), draw(dims(0, 2)), draw(dims(1, 2))
    H = draw(dims(max(1, dil * (HH - 1) + 1 - 2 * pad), 8))
    W = draw(dims(max(1, dil * (WW - 1) + 1 - 2 * pad), 8))
    return (N, C, H, W), HH, WW, {"stride": stride, "pad": pad, "dilation": dil}


@st.composite
def conv(draw, op, dtype):
    xs, HH, WW, kw = draw(_geometry())
    groups = draw(st.sampled_from([g for g in (1, 2, 3, 4) if xs[1] % g == 0]))
    F = groups * draw(dims(1, 3))
    w = draw(values((F, xs[1] // groups, HH, WW), dtype, -1, 0))
    return Sample((draw(values(xs, dtype)), w, draw(values((F,), dtype))), {**kw, "groups": groups})


@st.composite
def im2col(draw, op, dtype):
    xs, HH, WW, kw = draw(_geometry())
    if op.name == "im2col":
        return Sample((draw(values(xs, dtype)), HH, WW), kw)
    cshape = opinfo.ops.im2col(np.zeros(xs), HH, WW, **kw).shape
    return Sample((draw(values(cshape, dtype)), xs, HH, WW), kw)


@st.composite
def pool(draw, op, dtype):
    N, C, H, W = draw(dims(1, 3)), draw(dims(1, 3)), draw(dims(1, 8)), draw(dims(1, 8))
    x = draw(values((N, C, H, W), dtype))
    if op.name == "global_avg_pool":
        return Sample((x,))
    return Sample((x,), {"pool_height": draw(dims(1, H)), "pool_width": draw(dims(1, W)),
                         "stride": draw(dims(1, 3))})


@st.composite
def optimiser(draw, op, dtype):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=9))
    kw = dict(op.sample_inputs(np.random.default_rng(0), dtype, "tiny").kwargs)
    w = draw(values(shape, dtype)).copy()          # parameters are updated in place: contiguous
    return Sample((w, draw(values(shape, dtype))), kw)


@st.composite
def augmentation(draw, op, dtype):
    N, C, H, W = draw(dims(1, 4)), draw(st.sampled_from([1, 3])), draw(dims(1, 9)), draw(dims(1, 9))
    X = draw(values((N, C, H, W), dtype, -1, 1, positive=True))
    kw = {"seed": draw(st.integers(0, 2**32))}
    args = (X,)
    if op.name == "random_crop":
        pad = draw(dims(0, 3))
        kw.update(padding=pad, size=(draw(dims(1, H + 2 * pad)), draw(dims(1, W + 2 * pad))))
    elif op.name == "random_resized_crop":
        kw.update(scale=(draw(st.sampled_from([0.05, 0.3, 1.0])), 1.0),
                  size=(draw(dims(1, 9)), draw(dims(1, 9))))
    elif op.name == "hflip":
        kw["p"] = draw(st.sampled_from([0.0, 0.5, 1.0]))
    elif op.name == "color_jitter":
        for k in ("brightness", "contrast", "saturation"):
            kw[k] = draw(st.sampled_from([0.0, 0.2, 0.8]))
        kw["clip"] = draw(st.sampled_from([None, (0.0, 1.0)]))
    elif op.name == "cutout":
        kw["size"] = draw(dims(0, max(H, W)))
    elif op.name == "mixup":
        kw["alpha"] = draw(st.sampled_from([0.2, 1.0]))
        args = (X, draw(hnp.arrays(np.int64, (N,), elements=st.integers(0, 9))))
    return Sample(args, kw)


STRATEGIES = {
    "prelu": prelu, "maxout": maxout, "affine": affine, "dropconnect": affine,
    "layernorm": layernorm, "groupnorm": groupnorm,
    "softmax_loss": class_loss, "svm_loss": class_loss,
    "bce_with_logits_loss": target_loss, "mse_loss": target_loss,
    "conv": conv, "conv_im2col": conv, "conv_direct": conv, "im2col": im2col, "col2im": im2col,
    "max_pool": pool, "avg_pool": pool, "global_avg_pool": pool,
    **{n: augmentation for n in ("random_crop", "random_resized_crop", "hflip", "color_jitter",
                                 "cutout", "mixup")},
}


def strategy_for(op):
    if op.kind == "optim":
        return optimiser
    if "batchnorm" in op.name:
        return batchnorm
    return STRATEGIES.get(op.name, elementwise)


def test_every_op_has_a_strategy():
    for op in OPS:
        assert strategy_for(op) is not elementwise or op.backward is None or \
            op.forward.__module__.endswith(("activations", "dropout")), op.name


def _check(op, sample, dtype):
    with np.errstate(all="ignore"):
        got = run(op, sample)
        want = run(op, sample, "reference")
    for i, (a, b) in enumerate(zip(got, want)):
        tol = op.result_tol(dtype, i)
        a = np.asarray(a, np.float64)
        with np.errstate(all="ignore"):
            b = np.asarray(b).astype(dtype).astype(np.float64)   # the reference rounded to dtype
        assert a.shape == b.shape, f"{op.name} result {i}: {a.shape} != {b.shape}"
        fin = np.isfinite(b)
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b), err_msg=f"{op.name} result {i}")
        np.testing.assert_array_equal(a[~fin & ~np.isnan(b)], b[~fin & ~np.isnan(b)])
        if op.tol is opinfo.TOL_ELEMENTWISE:
            atol = tol["atol"]
        else:   # sums: error relative to the largest magnitude involved
            atol = tol["atol"] * max(1.0, float(np.max(np.abs(b[fin]), initial=0)))
        np.testing.assert_allclose(a[fin], b[fin], rtol=tol["rtol"], atol=atol,
                                   err_msg=f"{op.name} result {i}")


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("op", OPS, ids=[op.name for op in OPS])
def test_matches_reference(op, dtype):
    @SETTINGS
    @given(data=st.data())
    def prop(data):
        sample = data.draw(strategy_for(op)(op, dtype))
        COUNT["examples"] += 1
        _check(op, sample, dtype)
    prop()

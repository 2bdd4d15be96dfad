"""Update rules (hand-computed values), fused optimiser objects (= the rules, = torch.optim),
the params contract, schedules and errors."""
import math

import numpy as np
import pytest

import fastnn
from fastnn import _dispatch, optim
from helpers import needs_openmp

from fastnn._dispatch import kernels

# The optimiser thresholds in force for this module's tests (the autouse fixture below):
# sizes on both sides of both, odd tails, small enough that the float32 rule comparison's
# tolerance holds for every element drawn.
_SGD, _ADAPTIVE = 65536, 32768
PMIN = max(_SGD, _ADAPTIVE)
SIZES = [7, _ADAPTIVE - 1, _SGD - 1, 3 * PMIN + 5]


@pytest.fixture(autouse=True)
def _optim_thresholds():
    old = (fastnn.set_parallel_threshold("optim.sgd", _SGD),
           fastnn.set_parallel_threshold("optim.adaptive", _ADAPTIVE))
    yield
    fastnn.set_parallel_threshold("optim.sgd", old[0])
    fastnn.set_parallel_threshold("optim.adaptive", old[1])


def _arr(*v):
    return np.array(v, np.float64)


# ------------------------------------------------------ rules, hand-computed

W0 = _arr(1.0, 2.0, 3.0)
DW = _arr(0.5, -1.0, 2.0)


def test_sgd_by_hand():
    w, cfg = optim.sgd(W0.copy(), DW, {"learning_rate": 0.1})
    np.testing.assert_allclose(w, [0.95, 2.1, 2.8], rtol=1e-15)
    assert cfg == {"learning_rate": 0.1}


def test_sgd_momentum_by_hand():
    cfg = {"learning_rate": 0.1, "momentum": 0.9, "velocity": _arr(1.0, 0.0, -1.0)}
    w, cfg = optim.sgd_momentum(W0.copy(), DW, cfg)
    # v = 0.9 [1, 0, -1] - 0.1 [0.5, -1, 2] = [0.85, 0.1, -1.1]
    np.testing.assert_allclose(cfg["velocity"], [0.85, 0.1, -1.1], rtol=1e-14)
    np.testing.assert_allclose(w, [1.85, 2.1, 1.9], rtol=1e-14)


def test_nesterov_by_hand():
    cfg = {"learning_rate": 0.1, "momentum": 0.9, "velocity": _arr(1.0, 0.0, -1.0)}
    w, cfg = optim.nesterov(W0.copy(), DW, cfg)
    # v = [0.85, 0.1, -1.1];  w += -0.9 v_prev + 1.9 v = [0.715, 0.19, -1.19]
    np.testing.assert_allclose(cfg["velocity"], [0.85, 0.1, -1.1], rtol=1e-14)
    np.testing.assert_allclose(w, [1.715, 2.19, 1.81], rtol=1e-14)


def test_rmsprop_by_hand():
    w, cfg = optim.rmsprop(W0.copy(), DW, {"learning_rate": 0.01})
    # cache = 0.01 dw^2 = [0.0025, 0.01, 0.04]; sqrt = [0.05, 0.1, 0.2]; step = 0.01 dw / sqrt
    np.testing.assert_allclose(cfg["cache"], [0.0025, 0.01, 0.04], rtol=1e-14)
    np.testing.assert_allclose(w, [0.9, 2.1, 2.9], rtol=1e-7)
    assert cfg["decay_rate"] == 0.99 and cfg["epsilon"] == 1e-8


def test_adam_by_hand():
    w, cfg = optim.adam(W0.copy(), DW, None)
    # t = 1: m/(1-b1) = dw, v/(1-b2) = dw^2, step = lr sign(dw)
    assert cfg["t"] == 1
    np.testing.assert_allclose(cfg["m"], 0.1 * DW, rtol=1e-14)
    np.testing.assert_allclose(cfg["v"], 0.001 * DW ** 2, rtol=1e-13)
    np.testing.assert_allclose(w, [0.999, 2.001, 2.999], rtol=1e-9)
    w, cfg = optim.adam(w, DW, cfg)
    # t = 2: m = 0.19 dw, 1 - b1^2 = 0.19; v = 0.001999 dw^2, 1 - b2^2 = 0.001999
    assert cfg["t"] == 2
    np.testing.assert_allclose(cfg["m"], 0.19 * DW, rtol=1e-14)
    np.testing.assert_allclose(w, [0.998, 2.002, 2.998], rtol=1e-9)


def test_rule_defaults_and_input_untouched():
    w = W0.copy()
    for name, expected in [("sgd", {"learning_rate": 1e-2}),
                           ("sgd_momentum", {"learning_rate": 1e-2, "momentum": 0.9}),
                           ("nesterov", {"learning_rate": 1e-2, "momentum": 0.9}),
                           ("rmsprop", {"learning_rate": 1e-2, "decay_rate": 0.99, "epsilon": 1e-8}),
                           ("adam", {"learning_rate": 1e-3, "beta1": 0.9, "beta2": 0.999,
                                     "epsilon": 1e-8})]:
        _, cfg = optim.RULES[name](w, DW)
        for k, v in expected.items():
            assert cfg[k] == v, (name, k)
        np.testing.assert_array_equal(w, W0)        # rules return a new array
    assert optim.adam(w, DW, {})[1]["t"] == 1


def test_rule_weight_decay():
    w, _ = optim.sgd(W0.copy(), DW, {"learning_rate": 0.1, "weight_decay": 0.5})
    np.testing.assert_allclose(w, W0 - 0.1 * (DW + 0.5 * W0), rtol=1e-15)


def test_rule_errors():
    with pytest.raises(ValueError, match=r"sgd: dw has shape \(2,\), expected \(3,\)"):
        optim.sgd(W0, DW[:2])
    with pytest.raises(TypeError, match="adam: config must be a dict"):
        optim.adam(W0, DW, [1])


# ------------------------------------------- fused objects equal the rules

CASES = [
    (optim.SGD, dict(lr=0.1), "sgd", {"learning_rate": 0.1}),
    (optim.SGD, dict(lr=0.1, momentum=0.9), "sgd_momentum", {"learning_rate": 0.1}),
    (optim.SGD, dict(lr=0.05, momentum=0.8, nesterov=True), "nesterov",
     {"learning_rate": 0.05, "momentum": 0.8}),
    (optim.RMSProp, dict(lr=0.01, decay_rate=0.9), "rmsprop",
     {"learning_rate": 0.01, "decay_rate": 0.9}),
    (optim.Adam, dict(lr=0.01, beta1=0.8), "adam", {"learning_rate": 0.01, "beta1": 0.8}),
]
CASE_IDS = ["sgd", "momentum", "nesterov", "rmsprop", "adam"]


@pytest.mark.parametrize("wd", [0.0, 0.1])
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("cls,kw,rule,cfg", CASES, ids=CASE_IDS)
def test_fused_equals_rule(cls, kw, rule, cfg, n, wd, dtype, rng):
    w = rng.standard_normal(n).astype(dtype)
    grads = [rng.standard_normal(n).astype(dtype) for _ in range(3)]
    w_fused, g = w.copy(), np.empty_like(w)
    opt = cls([(w_fused, g)], weight_decay=wd, **kw)
    w_rule, config = w.copy(), dict(cfg, weight_decay=wd)
    for gi in grads:
        g[...] = gi
        opt.step()
        w_rule, config = optim.RULES[rule](w_rule, gi, config)
    assert w_fused.dtype == dtype
    # same operations in the same order; FMA contraction in the SIMD builds may
    # differ from NumPy by an ulp or so per step
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(w_fused, w_rule, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("target", _dispatch.supported_targets())
def test_every_simd_target_equals_rule(target, dtype, rng):
    n = PMIN + 4099
    w = rng.standard_normal(n).astype(dtype)
    g = rng.standard_normal(n).astype(dtype)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    with _dispatch.use_target(target):
        for cls, kw, rule, cfg in CASES:
            wf = w.copy()
            opt = cls([(wf, g)], weight_decay=0.01, **kw)
            wr, config = w.copy(), dict(cfg, weight_decay=0.01)
            for _ in range(2):
                opt.step()
                wr, config = optim.RULES[rule](wr, g, config)
            np.testing.assert_allclose(wf, wr, rtol=rtol, atol=rtol, err_msg=f"{target} {rule}")


@pytest.mark.parametrize("cls,kw,rule,cfg", CASES, ids=CASE_IDS)
def test_fused_state_matches_rule_config(cls, kw, rule, cfg, rng):
    w = rng.standard_normal(50)
    g = rng.standard_normal(50)
    opt = cls([(w.copy(), g)], **kw)
    opt.step()
    opt.step()
    _, config = optim.RULES[rule](w, g, dict(cfg))
    _, config = optim.RULES[rule](w, g, config)
    state = opt.state["0"]
    for key, ckey in [("velocity", "velocity"), ("cache", "cache"), ("m", "m"), ("v", "v"),
                      ("t", "t")]:
        if ckey in config:
            np.testing.assert_allclose(state[key], config[ckey], rtol=1e-12)


@needs_openmp
@pytest.mark.parametrize("cls,kw,rule,cfg", CASES, ids=CASE_IDS)
def test_one_vs_two_threads(cls, kw, rule, cfg, dtype, rng, restore_threads):
    n = 3 * PMIN + 5
    w = rng.standard_normal(n).astype(dtype)
    g = rng.standard_normal(n).astype(dtype)
    out = []
    for nt in (1, 2):
        fastnn.set_num_threads(nt)
        wi = w.copy()
        opt = cls([(wi, g)], weight_decay=0.01, **kw)
        opt.step()
        opt.step()
        out.append(wi)
    np.testing.assert_array_equal(out[0], out[1])


def test_nan_inf_propagate():
    w = np.array([np.inf, 1.0, np.nan, 2.0])
    g = np.array([1.0, np.inf, 0.0, 0.0])
    optim.SGD([(w, g)], lr=0.1).step()
    # no weight decay: an inf weight stays inf (never 0 * inf = NaN)
    assert w[0] == np.inf and w[1] == -np.inf and np.isnan(w[2]) and w[3] == 2.0
    w = np.array([np.inf, 1.0])
    g = np.array([1.0, np.nan])
    opt = optim.SGD([(w, g)], lr=0.1, momentum=0.9)
    opt.step()
    assert w[0] == np.inf and np.isnan(w[1])
    assert np.isnan(opt.state["0"]["velocity"][1])


def test_empty_parameter():
    w, g = np.empty((0, 3)), np.empty((0, 3))
    opt = optim.Adam([(w, g)])
    opt.step()
    assert opt.state["0"]["t"] == 1 and opt.state["0"]["m"].shape == (0, 3)


# ------------------------------------------------------- against torch.optim

def _torch_run(torch, make_opt, w, grads):
    tw = torch.nn.Parameter(torch.from_numpy(w.copy()))
    opt = make_opt([tw])
    for g in grads:
        tw.grad = torch.from_numpy(g.copy())
        opt.step()
    return tw.detach().numpy()


@pytest.mark.parametrize("wd", [0.0, 0.05])
@pytest.mark.parametrize("name", ["sgd", "momentum", "nesterov", "rmsprop", "adam"])
def test_matches_torch(name, wd, dtype, rng):
    torch = pytest.importorskip("torch")
    n = 1000
    w = rng.standard_normal(n).astype(dtype)
    grads = [rng.standard_normal(n).astype(dtype) for _ in range(5)]
    to = torch.optim
    make = {
        "sgd": (lambda p: to.SGD(p, lr=0.1, weight_decay=wd),
                lambda p: optim.SGD(p, lr=0.1, weight_decay=wd)),
        "momentum": (lambda p: to.SGD(p, lr=0.1, momentum=0.9, weight_decay=wd),
                     lambda p: optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=wd)),
        "nesterov": (lambda p: to.SGD(p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=wd),
                     lambda p: optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True,
                                         weight_decay=wd)),
        "rmsprop": (lambda p: to.RMSprop(p, lr=0.01, alpha=0.99, eps=1e-8, weight_decay=wd),
                    lambda p: optim.RMSProp(p, lr=0.01, decay_rate=0.99, eps=1e-8,
                                            weight_decay=wd)),
        "adam": (lambda p: to.Adam(p, lr=0.01, betas=(0.9, 0.999), eps=1e-8, weight_decay=wd),
                 lambda p: optim.Adam(p, lr=0.01, weight_decay=wd)),
    }[name]
    expected = _torch_run(torch, make[0], w, grads)
    wf, g = w.copy(), np.empty_like(w)
    opt = make[1]([(wf, g)])
    for gi in grads:
        g[...] = gi
        opt.step()
    rtol = 2e-5 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(wf, expected, rtol=rtol, atol=rtol)


# ------------------------------------------------------- the params contract

class Layer:
    def __init__(self, rng, shapes):
        self.params = {k: rng.standard_normal(s) for k, s in shapes.items()}
        self.grads = {k: np.zeros(s) for k, s in shapes.items()}


def test_params_forms(rng):
    layer = Layer(rng, {"w": (3, 4), "b": (4,)})
    layer.grads["w"][...] = 1.0
    layer.grads["b"][...] = 2.0
    w0 = layer.params["w"].copy()
    opt = optim.SGD(layer, lr=0.5)
    assert opt.param_names() == ["w", "b"]
    opt.step()
    np.testing.assert_allclose(layer.params["w"], w0 - 0.5)
    opt.zero_grad()
    assert not layer.grads["w"].any() and not layer.grads["b"].any()
    # a layer may replace its gradient array: looked up at every step
    layer.grads["w"] = np.full((3, 4), 4.0)
    opt.step()
    np.testing.assert_allclose(layer.params["w"], w0 - 0.5 - 2.0)

    l1, l2 = Layer(rng, {"w": (2,)}), Layer(rng, {"w": (3,)})
    assert optim.Adam([l1, l2]).param_names() == ["0.w", "1.w"]

    params = {"W1": rng.standard_normal((2, 2)), "b1": np.zeros(2)}
    p0 = {k: v.copy() for k, v in params.items()}
    grads = {"W1": np.ones((2, 2)), "b1": np.ones(2)}
    opt = optim.SGD(params, lr=0.1)              # CS231n model: grads given to step()
    opt.step(grads)
    np.testing.assert_allclose(params["W1"], p0["W1"] - 0.1)
    with pytest.raises(TypeError, match=r"pass the gradients: step\(grads\)"):
        opt.step()
    opt = optim.SGD(params, lr=0.1, grads=grads)
    opt.step()
    np.testing.assert_allclose(params["b1"], p0["b1"] - 0.2)
    opt.zero_grad()
    assert not grads["W1"].any()


def test_params_errors(rng):
    w = np.zeros((2, 3))
    with pytest.raises(ValueError, match="SGD: parameters '0' and '1' are the same array"):
        optim.SGD([(w, w.copy()), (w, w.copy())])
    with pytest.raises(ValueError, match="nesterov=True needs momentum > 0"):
        optim.SGD([(w, w.copy())], nesterov=True)
    with pytest.raises(ValueError, match=r"momentum must be in \[0, 1\)"):
        optim.SGD([(w, w.copy())], momentum=1.0)
    with pytest.raises(ValueError, match="lr must be >= 0"):
        optim.Adam([(w, w.copy())], lr=-1)
    with pytest.raises(ValueError, match="Adam: params is empty"):
        optim.Adam([])
    with pytest.raises(TypeError, match=r"params\[0\] must be a \(param, grad\) pair"):
        optim.Adam([w])
    with pytest.raises(TypeError, match="Adam: params must be"):
        optim.Adam(w)
    with pytest.raises(ValueError, match=r"gradient of '0' has shape \(3,\), expected \(2, 3\)"):
        optim.SGD([(w, np.zeros(3))]).step()
    with pytest.raises(TypeError, match="gradient of '0' has dtype float32, expected float64"):
        optim.SGD([(w, np.zeros((2, 3), np.float32))]).step()
    with pytest.raises(ValueError, match="must be a C-contiguous, writeable"):
        optim.SGD([(w.T, np.zeros((3, 2)))]).step()
    with pytest.raises(TypeError, match="must be a float32 or float64 array"):
        optim.SGD([(np.zeros(3, np.int64), np.zeros(3, np.int64))]).step()
    with pytest.raises(KeyError, match="grads has no entry for parameter 'b'"):
        optim.SGD({"w": np.zeros(2), "b": np.zeros(2)}).step({"w": np.zeros(2)})


def test_lr_setter_and_non_contiguous_grad(rng):
    w = rng.standard_normal((3, 4))
    g = np.asfortranarray(rng.standard_normal((3, 4)))
    w0 = w.copy()
    opt = optim.SGD([(w, g)], lr=0.1)
    opt.lr = 0.2
    opt.step()
    np.testing.assert_allclose(w, w0 - 0.2 * g, rtol=1e-15)


# ------------------------------------------------------------- LR schedules

class _HasLR:
    lr = 0.1


def test_step_lr():
    s = optim.StepLR(_HasLR(), step_size=3, gamma=0.5)
    lrs = [s.step() for _ in range(7)]
    np.testing.assert_allclose(lrs, [0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025])


def test_exponential_lr(rng):
    opt = optim.SGD([(np.zeros(2), np.zeros(2))], lr=0.1)
    s = optim.ExponentialLR(opt, gamma=0.9)
    s.step()
    s.step()
    assert opt.lr == pytest.approx(0.1 * 0.81, rel=1e-15)


def test_cosine_lr():
    s = optim.CosineAnnealingLR(_HasLR(), T_max=4, eta_min=0.01)
    assert s.lr_at(0) == pytest.approx(0.1)
    assert s.lr_at(2) == pytest.approx(0.055)              # halfway: the mean
    assert s.lr_at(4) == pytest.approx(0.01)
    assert s.lr_at(1) == pytest.approx(0.01 + 0.09 * (1 + math.cos(math.pi / 4)) / 2)


def test_schedules_match_torch():
    torch = pytest.importorskip("torch")
    for make_t, make_f in [
        (lambda o: torch.optim.lr_scheduler.StepLR(o, 2, 0.3),
         lambda o: optim.StepLR(o, 2, 0.3)),
        (lambda o: torch.optim.lr_scheduler.ExponentialLR(o, 0.7),
         lambda o: optim.ExponentialLR(o, 0.7)),
        (lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, 5, 0.001),
         lambda o: optim.CosineAnnealingLR(o, 5, 0.001)),
    ]:
        topt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
        ts = make_t(topt)
        fs = make_f(_HasLR())
        for _ in range(5):
            topt.step()
            ts.step()
            assert fs.step() == pytest.approx(topt.param_groups[0]["lr"], rel=1e-12)


def test_schedule_errors():
    with pytest.raises(ValueError, match="StepLR: step_size must be an integer >= 1"):
        optim.StepLR(_HasLR(), 0)
    with pytest.raises(TypeError, match="optimizer must have an lr attribute"):
        optim.ExponentialLR(object(), 0.9)


def test_state_dict_round_trip_through_a_checkpoint(tmp_path, rng):
    from fastnn import checkpoint
    layer = Layer(rng, {"w": (3, 4), "b": (4,)})
    for g in layer.grads.values():
        g[...] = rng.standard_normal(g.shape)
    opt = optim.Adam(layer, lr=0.01)
    opt.step()
    opt.step()
    path = checkpoint.save_params(tmp_path / "opt.npz", opt.state_dict())
    snapshot = {k: v.copy() for k, v in layer.params.items()}

    opt2 = optim.Adam(layer, lr=0.5)
    opt2.load_state_dict(checkpoint.load_params(path)[0])
    assert opt2.lr == 0.01 and opt2.state["w"]["t"] == 2
    opt.step()
    expected = {k: v.copy() for k, v in layer.params.items()}
    for k in layer.params:
        layer.params[k][...] = snapshot[k]
    opt2.step()
    for k in layer.params:
        np.testing.assert_array_equal(layer.params[k], expected[k])

    small = Layer(rng, {"w": (2, 2), "b": (4,)})
    with pytest.raises(ValueError, match=r"state 'm' of 'w' is float64 \(3, 4\), the parameter "
                                         r"is float64 \(2, 2\)"):
        optim.Adam(small).load_state_dict(opt.state_dict())
    with pytest.raises(ValueError, match="state for unknown parameter 'w'"):
        optim.Adam(Layer(rng, {"W1": (3, 4)})).load_state_dict(opt.state_dict())


# ------------------------------------------------ multi-tensor (one call per dtype)

@pytest.mark.parametrize("cls,kw,rule,cfg", CASES, ids=CASE_IDS)
def test_many_parameters_mixed_sizes_and_dtypes(cls, kw, rule, cfg, rng, restore_threads):
    block = kernels.optim.BLOCK_SIZE
    shapes = [(3, 5), (0,), (block,), (block + 1,), (7, 2 * block - 3), (1,), (PMIN + 17,), (0, 4)]
    dtypes = [np.float32, np.float64]
    ws = [rng.standard_normal(s).astype(dtypes[i % 2]) for i, s in enumerate(shapes)]
    gs = [rng.standard_normal(s).astype(w.dtype) for s, w in zip(shapes, ws)]
    for nt in (1, 2):
        fastnn.set_num_threads(nt)
        fused = [w.copy() for w in ws]
        opt = cls(list(zip(fused, gs)), weight_decay=0.01, **kw)
        expected = [w.copy() for w in ws]
        configs = [dict(cfg, weight_decay=0.01) for _ in ws]
        for _ in range(3):
            opt.step()
            for i in range(len(ws)):
                expected[i], configs[i] = optim.RULES[rule](expected[i], gs[i], configs[i])
        for f, e in zip(fused, expected):
            rtol = 1e-5 if f.dtype == np.float32 else 1e-12
            assert f.dtype == e.dtype
            np.testing.assert_allclose(f, e, rtol=rtol, atol=rtol)


def test_adam_parameters_at_different_steps(rng):
    a, b = rng.standard_normal(10), rng.standard_normal(20)
    ga, gb = rng.standard_normal(10), rng.standard_normal(20)
    opt = optim.Adam([(a, ga)], lr=0.01)
    for _ in range(4):
        opt.step()
    ca = {"learning_rate": 0.01, "m": opt.state["0"]["m"].copy(),
          "v": opt.state["0"]["v"].copy(), "t": 4}
    # a second optimiser over both: a continues at t = 5, b starts at t = 1
    opt2 = optim.Adam([(a, ga), (b, gb)], lr=0.01)
    sd = opt.state_dict()
    opt2.load_state_dict(sd)
    ea, _ = optim.adam(a.copy(), ga, ca)
    eb, _ = optim.adam(b.copy(), gb, {"learning_rate": 0.01})
    opt2.step()
    assert opt2.state["0"]["t"] == 5 and opt2.state["1"]["t"] == 1
    np.testing.assert_allclose(a, ea, rtol=1e-12)
    np.testing.assert_allclose(b, eb, rtol=1e-12)


def test_overlapping_parameters_refused():
    buf = np.zeros(10)
    with pytest.raises(ValueError, match="parameters '0' and '1' overlap in memory"):
        optim.SGD([(buf[:6], np.ones(6)), (buf[4:], np.ones(6))]).step()
    # disjoint views of one buffer are fine
    optim.SGD([(buf[:5], np.ones(5)), (buf[5:], np.ones(5))], lr=1.0).step()
    np.testing.assert_array_equal(buf, -np.ones(10))


def test_new_state_arrays_are_picked_up(rng):
    w, g = rng.standard_normal(8), rng.standard_normal(8)
    opt = optim.SGD([(w, g)], lr=0.1, momentum=0.9)
    opt.step()
    opt.state["0"]["velocity"] = np.zeros(8)        # replaced by the user: the table is rebuilt
    w0 = w.copy()
    opt.step()
    np.testing.assert_allclose(w, w0 - 0.1 * g, rtol=1e-15)
    np.testing.assert_allclose(opt.state["0"]["velocity"], -0.1 * g, rtol=1e-15)


def test_adam_step_that_raises_leaves_the_step_count():
    """A bad gradient anywhere in the step: no parameter's state advances (t stays)."""
    import fastnn.optim as O
    w1, w2 = np.ones(4, np.float32), np.ones(3, np.float32)
    opt = O.Adam({"a": w1, "b": w2}, lr=0.1)
    opt.step({"a": np.ones(4, np.float32), "b": np.ones(3, np.float32)})
    assert opt.state["a"]["t"] == opt.state["b"]["t"] == 1
    before = (w1.copy(), w2.copy())
    with pytest.raises(ValueError):
        opt.step({"a": np.ones(4, np.float32), "b": np.ones(5, np.float32)})
    assert opt.state["a"]["t"] == opt.state["b"]["t"] == 1
    np.testing.assert_array_equal(w1, before[0])
    np.testing.assert_array_equal(w2, before[1])

"""Training on the fused optimisers: the Solver's one optimiser path against the rule twins,
AdamW / Adagrad / clipping / label smoothing against their NumPy twins and PyTorch, the
learning-rate schedules against PyTorch's values, callbacks, TensorBoard event files, and the
trips a new user reported (config aliases, Sequential models, defaults)."""
import math
import os
import signal
import struct

import numpy as np
import pytest

from fastnn import Solver, callbacks, ops, optim, reference, schedules
from fastnn import layers as L
from fastnn.models import Model, make_model
from fastnn.reference import optim as ref_optim


def small_data(seed=0, N=64, Nval=32, D=(1, 8, 8), C=4):
    rng = np.random.default_rng(seed)
    return {"X_train": rng.standard_normal((N, *D)), "y_train": rng.integers(0, C, N),
            "X_val": rng.standard_normal((Nval, *D)), "y_val": rng.integers(0, C, Nval)}


def mlp(seed=0, dtype=np.float64, **kw):
    return make_model("mlp", (1, 8, 8), 4, hidden_dims=(16, 8), seed=seed, dtype=dtype,
                      head_init="init", **kw)


# ---------------------------------------------------------------- one optimiser path

RULE_CONFIGS = [("sgd", {"learning_rate": 0.1}),
                ("sgd_momentum", {"learning_rate": 0.05, "momentum": 0.8}),
                ("nesterov", {"learning_rate": 0.05, "momentum": 0.9, "weight_decay": 1e-3}),
                ("rmsprop", {"learning_rate": 1e-3, "decay_rate": 0.9}),
                ("adam", {"learning_rate": 1e-3, "beta1": 0.8}),
                ("adamw", {"learning_rate": 1e-3, "weight_decay": 0.1}),
                ("adagrad", {"learning_rate": 1e-2, "lr_decay": 0.01})]


@pytest.mark.parametrize("rule,cfg", RULE_CONFIGS, ids=[r for r, _ in RULE_CONFIGS])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_solver_follows_the_twin_trajectory(rule, cfg, dtype):
    """A named rule trains through the fused optimiser; the rule twin as a callable (the slow
    path) gives the same run: same losses, same parameters, to float tolerance."""
    data = {k: (v.astype(dtype) if v.dtype.kind == "f" else v) for k, v in small_data().items()}
    kw = dict(optim_config=cfg, batch_size=16, num_epochs=3, verbose=False, seed=1,
              lr_decay=0.9)
    # (no batch norm: a bias before it has a zero gradient up to rounding, which an adaptive
    # rule turns into steps of its own; dropout keeps the layer generators in the comparison)
    fused_model, twin_model = mlp(dtype=dtype, dropout=0.2), mlp(dtype=dtype, dropout=0.2)
    fused = Solver(fused_model, data, update_rule=rule, **kw)
    twin = Solver(twin_model, data, update_rule=getattr(ref_optim, rule), **kw)
    assert fused._fused and isinstance(fused.optimizer, optim.Optimizer)
    assert not twin._fused
    fused.train()
    twin.train()
    tol = 1e-10 if dtype == np.float64 else 2e-4
    np.testing.assert_allclose(fused.loss_history, twin.loss_history, rtol=tol, atol=tol)
    for k in fused_model.params:
        np.testing.assert_allclose(fused_model.params[k], twin_model.params[k], rtol=tol,
                                   atol=tol, err_msg=k)
    # the course's view of the optimiser state matches the twin's config
    for k, c in twin.optim_configs.items():
        f = fused.optim_configs[k]
        for key, v in c.items():
            if isinstance(v, np.ndarray):
                np.testing.assert_allclose(f[key], v, rtol=tol * 10, atol=tol, err_msg=key)
            else:
                assert f[key] == pytest.approx(v, rel=1e-12), key


def test_fused_path_copies_no_gradient_and_no_parameter():
    model = mlp()
    params = dict(model.params)
    s = Solver(model, small_data(), update_rule="adam", batch_size=16, num_epochs=1,
               verbose=False, seed=0)
    seen = []

    class Spy(callbacks.Callback):
        def on_update_begin(self, solver, grads):
            seen.append(grads)

    s.callbacks.append(Spy())
    s._hooks["on_update_begin"].append(s.callbacks[-1])
    s.train()
    assert seen and all(g is model.grads for g in seen)        # the layers' own arrays
    for k, w in params.items():
        assert model.params[k] is w                            # updated in place
        assert s.optimizer.state[k]["m"].shape == w.shape


def test_user_rule_function_still_works():
    calls = []

    def rule(w, dw, config):
        calls.append(config["learning_rate"])
        return w - config["learning_rate"] * dw, config

    s = Solver(mlp(), small_data(), update_rule=rule, lr=0.1,
               batch_size=16, num_epochs=2, verbose=False, seed=0)
    s.train()
    assert len(calls) == 2 * 4 * 6
    assert s.loss_history[-1] < s.loss_history[0]


def test_rules_importable_from_fastnn_optim_unchanged():
    for name in ("sgd", "sgd_momentum", "nesterov", "rmsprop", "adam", "adamw", "adagrad"):
        assert getattr(optim, name) is getattr(ref_optim, name)
        assert optim.RULES[name] is getattr(ref_optim, name)
    w, dw = np.array([1.0, -2.0]), np.array([0.5, 0.5])
    nw, cfg = optim.sgd(w, dw, {"learning_rate": 0.1})
    np.testing.assert_array_equal(nw, [0.95, -2.05])
    np.testing.assert_array_equal(w, [1.0, -2.0])              # w not modified


def test_backward_without_input_grad_gives_the_same_parameter_gradients():
    rng = np.random.default_rng(5)
    X = rng.standard_normal((6, 1, 8, 8))
    nets = [L.Sequential([L.Flatten(), L.Linear(64, 5, dtype=np.float64, seed=np.random.default_rng(0)),
                          L.ReLU(), L.Linear(5, 3, dtype=np.float64, seed=np.random.default_rng(1))])
            for _ in range(2)]
    dout = rng.standard_normal((6, 3))
    for net in nets:
        net.zero_grad()
        net.forward(X)
    dx = nets[0].backward(dout)
    assert dx.shape == X.shape
    assert nets[1].backward(dout, need_input_grad=False) is None
    for a, b in zip(nets[0].layers, nets[1].layers):
        for k in a.grads:
            np.testing.assert_array_equal(a.grads[k], b.grads[k])
    out, cache = ops.affine_forward(X, nets[0].layers[1].params["w"], nets[0].layers[1].params["b"])
    dx1, dw1, db1 = ops.affine_backward(np.ones_like(out), cache)
    dx2, dw2, db2 = ops.affine_backward(np.ones_like(out), cache, need_dx=False)
    assert dx2 is None
    np.testing.assert_array_equal(dw1, dw2)
    np.testing.assert_array_equal(db1, db2)


# ---------------------------------------------------------------- config trips

def test_lr_alias_and_unknown_keys():
    s = Solver(mlp(), small_data(), update_rule="sgd", optim_config={"lr": 10.0},
               verbose=False)
    assert s.optimizer.lr == 10.0
    assert s.optim_configs["W1"]["learning_rate"] == 10.0
    with pytest.raises(ValueError, match=r"optim_config key\(s\) \['learnig_rate'\] are not used "
                                         r"by 'adam'; accepted: \['learning_rate', 'beta1'"):
        Solver(mlp(), small_data(), update_rule="adam", optim_config={"learnig_rate": 1e-3})
    with pytest.raises(ValueError, match="both 'lr' and 'learning_rate'"):
        Solver(mlp(), small_data(), optim_config={"lr": 1.0, "learning_rate": 1.0})
    with pytest.raises(ValueError, match=r"\['momentum'\] are not used by 'rmsprop'"):
        Solver(mlp(), small_data(), update_rule="rmsprop", optim_config={"momentum": 0.9})


def test_solver_accepts_a_sequential():
    net = L.Sequential([L.Flatten(), L.Linear(64, 16, dtype=np.float64), L.ReLU(),
                        L.Linear(16, 4, dtype=np.float64)])
    w_before = net.layers[1].params["w"].copy()
    s = Solver(net, small_data(), update_rule="adam", lr=1e-2,
               num_epochs=2, batch_size=16, verbose=False, seed=0)
    assert isinstance(s.model, Model) and s.model.net is net
    s.train()
    assert not np.array_equal(net.layers[1].params["w"], w_before)   # the user's layers trained


def test_fastnn_attributes():
    import importlib
    fn = importlib.import_module("fastnn")
    assert fn.models.make_model is make_model
    assert fn.optim.AdamW is optim.AdamW and fn.schedules.OneCycleLR is schedules.OneCycleLR


def test_batchnorm_rank_errors():
    with pytest.raises(ValueError, match=r"BatchNorm1d: expected \(N, D\) or \(N, D, L\) input.*"
                                         r"4-D.*use BatchNorm2d"):
        L.BatchNorm1d(3).forward(np.zeros((2, 3, 4, 4), np.float32))
    with pytest.raises(ValueError, match=r"BatchNorm2d: expected \(N, C, H, W\).*2-D.*BatchNorm1d"):
        L.BatchNorm2d(3).forward(np.zeros((2, 3), np.float32))
    assert L.BatchNorm1d(3).forward(np.ones((4, 3, 5), np.float32)).shape == (4, 3, 5)


def test_default_model_starts_at_log_c_and_passes_the_monitor():
    from fastnn.commands.train import RUN_DEFAULTS, build_run
    from fastnn.monitor import Monitor
    from fastnn.cli import build_parser
    args = build_parser()[0].parse_args(["train"])
    from fastnn.commands.train import RUN_KEYS
    cfg = {k: getattr(args, k) for k in RUN_KEYS + tuple(RUN_DEFAULTS)}
    cfg["hidden"] = None
    model, split, _, kw = build_run(cfg)
    reg = model.reg
    model.reg = 0.0
    X, y = split["X_train"][:500], split["y_train"][:500]
    assert model.loss(X, y)[0] == pytest.approx(math.log(10), abs=1e-6)
    model.reg = reg
    assert math.log(10) < model.loss(X, y)[0] < math.log(10) + 0.05   # reg raises it, a little
    kw.update(num_epochs=1, verbose=False)
    s = Solver(model, split, **kw)
    s.train()
    first = s.monitor.history[0]
    assert "too high" not in Monitor.summary(first) and "too low" not in Monitor.summary(first)
    ratios = [v["update_ratio"] for k, v in first["params"].items()
              if k.startswith("W") and v["update_ratio"] is not None]
    assert ratios and max(ratios) < 1e-2


def test_validation_loss_recorded():
    s = Solver(mlp(), small_data(), update_rule="adam", lr=1e-2,
               num_epochs=3, batch_size=16, verbose=False, seed=0, num_val_samples=None)
    s.train()
    assert len(s.val_loss_history) == len(s.val_acc_history) == 4
    scores = s.model.loss(s.X_val)                  # the model holds the best epoch's params
    expected, _ = reference.softmax_loss(np.asarray(scores, np.float64), s.y_val)
    assert all(np.isfinite(s.val_loss_history))
    assert s.history()["val_loss_history"] == s.val_loss_history
    best = int(np.argmax(s.val_acc_history))
    assert s.val_loss_history[best] == pytest.approx(expected, rel=1e-9)


def test_shuffle_sampling_is_one_pass_per_epoch():
    seen = []

    def spy(X, y, seed):
        seen.append(X[:, 0, 0, 0].copy())
        return X, y

    data = small_data(N=60)
    data["X_train"][:, 0, 0, 0] = np.arange(60)
    s = Solver(mlp(), data, update_rule="sgd", batch_size=16, num_epochs=2, sampling="shuffle",
               augment=[spy], verbose=False, seed=0)
    s.train()
    per_epoch = 60 // 16
    assert len(seen) == 2 * per_epoch
    for e in range(2):
        ids = np.concatenate(seen[e * per_epoch:(e + 1) * per_epoch]).astype(int)
        assert len(set(ids)) == len(ids) == per_epoch * 16             # no sample twice
    assert not np.array_equal(np.concatenate(seen[:per_epoch]),
                              np.concatenate(seen[per_epoch:]))        # a fresh permutation
    with pytest.raises(ValueError, match="sampling must be 'random' or 'shuffle'"):
        Solver(mlp(), data, sampling="epoch")


# ---------------------------------------------------------------- AdamW, Adagrad, clipping

def _pairs(rng, dtype, sizes=(7, 5000, 70000)):
    ws = [rng.standard_normal(n).astype(dtype) for n in sizes]
    gs = [rng.standard_normal(n).astype(dtype) for n in sizes]
    return ws, gs


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["adamw", "adagrad"])
def test_new_optimisers_equal_their_twins(name, dtype):
    rng = np.random.default_rng(0)
    ws, gs = _pairs(rng, dtype)
    if name == "adamw":
        opt = optim.AdamW(list(zip(ws, gs)), lr=1e-2, weight_decay=0.1)
        cfg0 = {"learning_rate": 1e-2, "weight_decay": 0.1}
    else:
        opt = optim.Adagrad(list(zip(ws, gs)), lr=0.1, lr_decay=0.01, weight_decay=0.01)
        cfg0 = {"learning_rate": 0.1, "lr_decay": 0.01, "weight_decay": 0.01}
    twins = [(w.copy(), dict(cfg0)) for w in ws]
    for step in range(5):
        for g in gs:
            g[...] = rng.standard_normal(g.shape)
        opt.step()
        twins = [getattr(ref_optim, name)(w, g, c) for (w, c), g in zip(twins, gs)]
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for w, (tw, _) in zip(ws, twins):
        np.testing.assert_allclose(w, tw, rtol=tol, atol=tol)


@pytest.mark.parametrize("name", ["adamw", "adagrad"])
def test_new_optimisers_equal_torch(name):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    w = rng.standard_normal(1000)
    g = np.zeros_like(w)
    p = torch.nn.Parameter(torch.tensor(w.copy()))
    if name == "adamw":
        opt = optim.AdamW([(w, g)], lr=1e-2, beta1=0.85, weight_decay=0.2)
        topt = torch.optim.AdamW([p], lr=1e-2, betas=(0.85, 0.999), weight_decay=0.2)
    else:
        opt = optim.Adagrad([(w, g)], lr=0.1, lr_decay=0.05, weight_decay=0.01,
                            initial_accumulator_value=0.1)
        topt = torch.optim.Adagrad([p], lr=0.1, lr_decay=0.05, weight_decay=0.01,
                                   initial_accumulator_value=0.1)
    for _ in range(6):
        g[...] = rng.standard_normal(g.shape)
        p.grad = torch.tensor(g.copy())
        opt.step()
        topt.step()
    np.testing.assert_allclose(w, p.detach().numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_clip_grad_norm_equals_twin_and_torch(dtype):
    rng = np.random.default_rng(2)
    gs = [rng.standard_normal(n).astype(dtype) for n in (3, 5000, 70000)]
    before = [g.copy() for g in gs]
    expected, total = ref_optim.clip_grad_norm(before, 10.0)
    norm = optim.clip_grad_norm(gs, 10.0)
    assert norm == pytest.approx(total, rel=1e-12)
    assert norm == pytest.approx(math.sqrt(sum(float(np.sum(b.astype(np.float64) ** 2))
                                               for b in before)), rel=1e-12)
    tol = 1e-6 if dtype == np.float32 else 1e-13
    for g, e in zip(gs, expected):
        np.testing.assert_allclose(g, e, rtol=tol, atol=tol)
    total_after = math.sqrt(sum(float(np.sum(g.astype(np.float64) ** 2)) for g in gs))
    assert total_after == pytest.approx(10.0, rel=1e-5)
    # a norm below max_norm leaves the gradients alone
    small = [g / 1000 for g in gs]
    kept = [g.copy() for g in small]
    optim.clip_grad_norm(small, 10.0)
    for a, b in zip(small, kept):
        np.testing.assert_array_equal(a, b)
    torch = pytest.importorskip("torch")
    ps = [torch.nn.Parameter(torch.zeros(len(b), dtype=torch.float64)) for b in before]
    for p, b in zip(ps, before):
        p.grad = torch.tensor(b.astype(np.float64))
    tnorm = torch.nn.utils.clip_grad_norm_(ps, 10.0)
    assert norm == pytest.approx(float(tnorm), rel=1e-6)
    for g, p in zip(gs, ps):
        np.testing.assert_allclose(g, p.grad.numpy(), rtol=max(tol, 1e-12), atol=tol)


def test_clip_grad_value_and_errors():
    g = np.array([-3.0, -0.5, 0.0, 0.7, 5.0, np.nan])
    layer = L.Linear(3, 2, dtype=np.float64)
    layer.grads["w"][...] = [[4, -4], [0.1, 0.2], [9, 0]]
    optim.clip_grad_value([g], 1.0)
    np.testing.assert_array_equal(g[:5], [-1.0, -0.5, 0.0, 0.7, 1.0])
    assert np.isnan(g[5])
    optim.clip_grad_value(layer, 0.5)
    np.testing.assert_array_equal(layer.grads["w"], [[0.5, -0.5], [0.1, 0.2], [0.5, 0]])
    np.testing.assert_array_equal(g[:5], ref_optim.clip_grad_value([g[:5]], 1.0)[0])
    with pytest.raises(ValueError, match="clip_grad_norm: max_norm must be > 0"):
        optim.clip_grad_norm([g], 0.0)
    with pytest.raises(TypeError, match="clip_grad_value: gradient 0 must be a float32"):
        optim.clip_grad_value([np.arange(3)], 1.0)


def test_solver_clips_gradients():
    s = Solver(mlp(), small_data(), update_rule="sgd", lr=0.1,
               clip_grad_norm=1e-3, num_epochs=1, batch_size=16, verbose=False, seed=0)
    w0 = {k: v.copy() for k, v in s.model.params.items()}
    s.train()
    assert len(s.grad_norm_history) == 4 and min(s.grad_norm_history) > 1e-3
    step = math.sqrt(sum(float(np.sum((s.model.params[k] - w0[k]) ** 2)) for k in w0))
    assert step <= 4 * 0.1 * 1e-3 * (1 + 1e-6)            # each update moved at most lr * 1e-3


# ---------------------------------------------------------------- label smoothing

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("eps", [0.0, 0.1, 1.0])
def test_label_smoothing_equals_twin(dtype, eps):
    rng = np.random.default_rng(3)
    s = (3 * rng.standard_normal((300, 11))).astype(dtype)
    y = rng.integers(0, 11, 300)
    loss, d = ops.softmax_loss(s, y, label_smoothing=eps)
    rloss, rd = reference.softmax_loss(s, y, label_smoothing=eps)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    assert loss == pytest.approx(rloss, rel=tol)
    np.testing.assert_allclose(d, rd, rtol=tol, atol=tol)


def test_label_smoothing_equals_torch_and_gradcheck():
    rng = np.random.default_rng(4)
    s = rng.standard_normal((40, 7))
    y = rng.integers(0, 7, 40)
    loss, d = ops.softmax_loss(s, y, label_smoothing=0.2)
    h = 1e-6
    num = np.zeros_like(s)
    for idx in np.ndindex(*s.shape):
        sp, sm = s.copy(), s.copy()
        sp[idx] += h
        sm[idx] -= h
        num[idx] = (ops.softmax_loss(sp, y, 0.2)[0] - ops.softmax_loss(sm, y, 0.2)[0]) / (2 * h)
    np.testing.assert_allclose(d, num, rtol=1e-5, atol=1e-9)
    with pytest.raises(ValueError, match=r"softmax_loss: label_smoothing must be in \[0, 1\]"):
        ops.softmax_loss(s, y, label_smoothing=1.5)
    torch = pytest.importorskip("torch")
    t = torch.tensor(s, requires_grad=True)
    tl = torch.nn.functional.cross_entropy(t, torch.tensor(y), label_smoothing=0.2)
    tl.backward()
    assert loss == pytest.approx(tl.item(), rel=1e-12)
    np.testing.assert_allclose(d, t.grad.numpy(), rtol=1e-10, atol=1e-14)


# ---------------------------------------------------------------- schedules

# torch.optim.lr_scheduler's rates for these settings (SGD lr=0.1, momentum=0.9), generated
# once with torch 2.13 and pasted here; rate at step 0, 1, ..., n
TORCH_LR = {
    "step": [0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025, 0.025, 0.0125, 0.0125, 0.0125, 0.00625],
    "multistep": [0.1, 0.1, 0.03, 0.03, 0.03, 0.009, 0.009, 0.009, 0.009, 0.0026999999999999997, 0.0026999999999999997, 0.0026999999999999997, 0.0026999999999999997],
    "exponential": [0.1, 0.09000000000000001, 0.08100000000000002, 0.07290000000000002, 0.06561000000000002, 0.05904900000000002, 0.05314410000000002, 0.04782969000000002, 0.043046721000000024, 0.03874204890000002, 0.03486784401000002, 0.03138105960900001, 0.028242953648100012],
    "cosine": [0.1, 0.09757729755661011, 0.0905463412215599, 0.07959536998847742, 0.0657963412215599, 0.0505, 0.03520365877844011, 0.02140463001152259, 0.010453658778440109, 0.0034227024433899004, 0.001, 0.0034227024433899004, 0.01045365877844014, 0.02140463001152267, 0.035203658778440255],
    "linear": [0.025, 0.043750000000000004, 0.06250000000000001, 0.08125000000000002, 0.10000000000000002, 0.10000000000000002, 0.10000000000000002, 0.10000000000000002, 0.10000000000000002],
    "warmup_cosine": [0.010000000000000002, 0.04, 0.07, 0.1, 0.09619397662556434, 0.08535533905932738, 0.0691341716182545, 0.05, 0.030865828381745515, 0.014644660940672627, 0.0038060233744356634, 0.0, 0.0038060233744356634],
    "warmup_step": [0.010000000000000002, 0.04, 0.07, 0.1, 0.1, 0.05, 0.05, 0.025, 0.025, 0.0125, 0.0125],
    "onecycle": [0.020000000000000018, 0.06583592135001265, 0.18583592135001265, 0.3341640786499874, 0.45416407864998737, 0.5, 0.49373200311754367, 0.47524231600673683, 0.445458088785525, 0.40587282697488153, 0.3584715008956504, 0.30563101096814466, 0.250001, 0.19437098903185537, 0.14153049910434962, 0.09412917302511849, 0.05454391121447502, 0.024759683993263143, 0.006269996882456277, 2e-06, 0.006269996882456277],
    "onecycle_linear3": [0.02, 0.13999999999999999, 0.26, 0.38, 0.5, 0.38, 0.26, 0.14, 0.020000000000000018, 0.018182, 0.016364, 0.014546, 0.012728, 0.01091, 0.009092, 0.007273999999999999, 0.005455999999999999, 0.003637999999999999, 0.0018199999999999987, 1.9999999999985307e-06, -0.0018160000000000016],
    "plateau_min": [0.1, 0.1, 0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.05, 0.025, 0.025, 0.025, 0.025, 0.025, 0.025, 0.025, 0.0125, 0.0125, 0.0125, 0.0125, 0.01],
    "plateau_max": [0.1, 0.1, 0.1, 0.020000000000000004, 0.020000000000000004, 0.004000000000000001, 0.004000000000000001, 0.0008000000000000003, 0.0008000000000000003, 0.00016000000000000007, 0.00016000000000000007, 3.200000000000001e-05, 3.200000000000001e-05, 6.400000000000003e-06, 6.400000000000003e-06, 1.2800000000000007e-06, 1.2800000000000007e-06, 2.560000000000001e-07, 2.560000000000001e-07, 5.120000000000003e-08, 5.120000000000003e-08],
    "onecycle_momentum": [0.95, 0.9404508497187474, 0.9154508497187474, 0.8845491502812526, 0.8595491502812526, 0.85, 0.8512536043909088, 0.854951556604879, 0.8609084258765984, 0.8688255099070633, 0.878305813044122, 0.8888739533021842, 0.8999999999999999, 0.9111260466978157, 0.9216941869558779, 0.9311744900929366, 0.9390915741234015, 0.945048443395121, 0.9487463956090911, 0.95, 0.9487463956090911],
}
PLATEAU_METRICS = [1.0, 0.9, 0.95, 0.96, 0.97, 0.8, 0.85, 0.86, 0.87, 0.88, 0.89, 0.9, 0.7, 0.71,
                   0.72, 0.73, 0.74, 0.75, 0.76, 0.77]


def _fastnn_schedules():
    S = schedules
    return {
        "step": S.StepLR(step_size=3, gamma=0.5),
        "multistep": S.MultiStepLR(milestones=[2, 5, 9], gamma=0.3),
        "exponential": S.ExponentialLR(gamma=0.9),
        "cosine": S.CosineAnnealingLR(T_max=10, eta_min=0.001),
        "linear": S.LinearLR(start_factor=0.25, total_iters=4),
        "warmup_cosine": S.warmup(S.CosineAnnealingLR(T_max=8), 3, start_factor=0.1),
        "warmup_step": S.warmup(S.StepLR(step_size=2, gamma=0.5), 3, start_factor=0.1),
        "onecycle": S.OneCycleLR(max_lr=0.5, total_steps=20),
        "onecycle_linear3": S.OneCycleLR(max_lr=0.5, total_steps=20, anneal_strategy="linear",
                                         three_phase=True, pct_start=0.25),
        "plateau_min": S.ReduceLROnPlateau(mode="min", factor=0.5, patience=2, cooldown=1,
                                           min_lr=0.01),
        "plateau_max": S.ReduceLROnPlateau(mode="max", factor=0.2, patience=1, threshold=0.01,
                                           threshold_mode="abs"),
    }


def _run_fastnn(name, sched):
    opt = optim.SGD([(np.zeros(1), np.zeros(1))], lr=0.1, momentum=0.9)
    sched.bind(opt)
    out = [opt.lr]
    for i in range(len(TORCH_LR[name]) - 1):
        if name.startswith("plateau"):
            sched.step(PLATEAU_METRICS[i])
        else:
            sched.step()
        out.append(opt.lr)
    return out, opt


@pytest.mark.parametrize("name", sorted(_fastnn_schedules()))
def test_schedule_values_equal_torch(name):
    out, _ = _run_fastnn(name, _fastnn_schedules()[name])
    n = len(out)
    if name.startswith("onecycle"):      # the rate after the last of total_steps steps is unused
        n -= 1
        assert out[-1] == out[-2]
    np.testing.assert_allclose(out[:n], TORCH_LR[name][:n], rtol=1e-13, atol=0)


def test_onecycle_cycles_momentum_like_torch():
    sched = schedules.OneCycleLR(max_lr=0.5, total_steps=20)
    opt = optim.SGD([(np.zeros(1), np.zeros(1))], lr=0.1, momentum=0.9)
    sched.bind(opt)
    moms = [opt.momentum]
    for _ in range(20):
        sched.step()
        moms.append(opt.momentum)
    np.testing.assert_allclose(moms[:20], TORCH_LR["onecycle_momentum"][:20], rtol=1e-13)
    with pytest.raises(ValueError, match="cycle_momentum needs an optimiser with momentum"):
        schedules.OneCycleLR(optim.RMSProp([(np.zeros(1), np.zeros(1))]), max_lr=0.1,
                             total_steps=5)
    with pytest.raises(ValueError, match="past total_steps"):
        for _ in range(2):
            sched.step()


@pytest.mark.parametrize("make, length", [
    (lambda: schedules.CosineAnnealingLR(), "T_max"),
    (lambda: schedules.OneCycleLR(max_lr=0.5), "total_steps"),
])
def test_schedule_length_left_as_none_is_filled_from_the_run(make, length):
    opt = optim.SGD([(np.zeros(1), np.zeros(1))], lr=0.1)
    sched = make()
    with pytest.raises(ValueError, match=rf"^{type(sched).__name__}: {length} is None; give "
                                         rf"{length} or let the Solver fill it$"):
        sched.bind(opt)
    assert make().bind(opt, total_steps=12).__dict__[length] == 12
    assert make().bind(opt, total_steps=0).__dict__[length] == 1


def test_schedules_cross_check_torch():
    """The same comparison computed live, for more settings, when torch is importable."""
    torch = pytest.importorskip("torch")
    T = torch.optim.lr_scheduler
    S = schedules
    cases = [(lambda o: T.CosineAnnealingLR(o, T_max=7), S.CosineAnnealingLR(T_max=7), 30),
             (lambda o: T.StepLR(o, 4, gamma=0.7), S.StepLR(step_size=4, gamma=0.7), 20),
             (lambda o: T.OneCycleLR(o, max_lr=1.0, total_steps=37, pct_start=0.4,
                                     div_factor=10, final_div_factor=100),
              S.OneCycleLR(max_lr=1.0, total_steps=37, pct_start=0.4, div_factor=10,
                           final_div_factor=100), 37),
             (lambda o: T.SequentialLR(o, [T.LinearLR(o, start_factor=0.5, total_iters=5),
                                           T.ExponentialLR(o, 0.8)], milestones=[5]),
              S.warmup(S.ExponentialLR(gamma=0.8), 5, start_factor=0.5), 15)]
    for make, ours, n in cases:
        p = torch.nn.Parameter(torch.zeros(1))
        o = torch.optim.SGD([p], lr=0.3, momentum=0.9)
        t = make(o)
        ref = [o.param_groups[0]["lr"]]
        for _ in range(n):
            o.step()
            t.step()
            ref.append(o.param_groups[0]["lr"])
        opt = optim.SGD([(np.zeros(1), np.zeros(1))], lr=0.3, momentum=0.9)
        ours.bind(opt)
        got = [opt.lr] + [ours.step() for _ in range(n)]
        m = n if isinstance(ours, S.OneCycleLR) else n + 1
        np.testing.assert_allclose(got[:m], ref[:m], rtol=1e-12)


def test_schedule_errors():
    with pytest.raises(RuntimeError, match="not bound to an optimiser"):
        schedules.StepLR(step_size=2).step()
    with pytest.raises(ValueError, match="T_max is None"):
        schedules.CosineAnnealingLR(optim.SGD([(np.zeros(1), np.zeros(1))]))
    with pytest.raises(ValueError, match="interval must be 'epoch' or 'iteration'"):
        schedules.StepLR(step_size=2, interval="batch")
    with pytest.raises(ValueError, match="metric must be"):
        schedules.ReduceLROnPlateau(metric="accuracy")


def test_solver_cosine_per_iteration_and_lr_decay_unchanged():
    kw = dict(update_rule="sgd", lr=0.1, batch_size=16, num_epochs=3,
              verbose=False, seed=0)
    seen = []

    class LR(callbacks.Callback):
        def on_iteration_end(self, solver, iteration, loss):
            seen.append(solver.optimizer.lr)

    s = Solver(mlp(), small_data(), lr_schedule=schedules.CosineAnnealingLR(
        interval="iteration"), callbacks=[LR()], **kw)
    s.train()
    n = 3 * 4
    expected = [0.05 * (1 + math.cos(math.pi * (i + 1) / n)) for i in range(n)]
    np.testing.assert_allclose(seen, expected, rtol=1e-13, atol=1e-15)
    d = Solver(mlp(), small_data(), lr_decay=0.5, **kw)
    d.train()
    assert d.optimizer.lr == 0.1 * 0.5 * 0.5 * 0.5
    assert d.lr_history == [0.1, 0.1, 0.05, 0.025]          # the rate each epoch trained with
    with pytest.raises(ValueError, match="give lr_decay or lr_schedule, not both"):
        Solver(mlp(), small_data(), lr_decay=0.5, lr_schedule=schedules.StepLR(step_size=1))


def test_solver_plateau_on_val_acc():
    s = Solver(mlp(), small_data(), update_rule="sgd", lr=1e-4,
               lr_schedule=schedules.ReduceLROnPlateau(metric="val_acc", patience=0,
                                                       factor=0.5),
               batch_size=16, num_epochs=6, verbose=False, seed=0)
    s.train()
    # replay torch's rule on the recorded val accuracies
    lr, best, expected = 1e-4, -math.inf, []
    for acc in s.val_acc_history[1:]:
        if acc > best * (1 + 1e-4):
            best = acc
        else:
            lr *= 0.5
        expected.append(lr)
    assert s.lr_history[1:] == pytest.approx([1e-4] + expected[:-1], rel=1e-15)
    assert s.optimizer.lr == pytest.approx(expected[-1], rel=1e-15)
    assert min(expected) < 1e-4                              # it did reduce


# ---------------------------------------------------------------- callbacks

class Recorder(callbacks.Callback):
    name = "recorder"

    def __init__(self, stop_at=None):
        self.events, self.stop_at, self.count = [], stop_at, 0

    def on_train_begin(self, solver):
        self.events.append("begin")

    def on_iteration_end(self, solver, iteration, loss):
        self.events.append(("it", iteration))
        assert loss == solver.loss_history[-1]

    def on_epoch_end(self, solver, epoch, logs):
        self.count += 1
        self.events.append(("epoch", epoch, sorted(logs)))
        if self.stop_at == epoch:
            solver.stop_training = True

    def on_train_end(self, solver):
        self.events.append("end")

    def state_dict(self):
        return {"count": self.count}

    def load_state_dict(self, state):
        self.count = state["count"]


def test_callback_hooks_and_stop():
    rec = Recorder(stop_at=2)
    s = Solver(mlp(), small_data(), update_rule="sgd", batch_size=16, num_epochs=5,
               callbacks=[rec], verbose=False, seed=0)
    s.train()
    keys = ["loss", "lr", "train_acc", "val_acc", "val_loss"]
    assert rec.events[0] == "begin" and rec.events[-1] == "end"
    assert rec.events[1:6] == [("it", 0), ("it", 1), ("it", 2), ("it", 3), ("epoch", 1, keys)]
    assert rec.events[-2] == ("epoch", 2, keys)
    assert s.stopped_early and s.epoch == 2 and len(s.loss_history) == 8


def test_builtin_features_are_callbacks(tmp_path):
    s = Solver(mlp(), small_data(), patience=2, monitor=True, lr_decay=0.9,
               checkpoint_name=str(tmp_path / "c"), callbacks=[Recorder()], verbose=False)
    kinds = [type(cb) for cb in s.callbacks]
    assert kinds == [callbacks.LRScheduler, callbacks.MonitorCallback, callbacks.EarlyStopping,
                     Recorder, callbacks.Checkpoint]


def _interrupt_at(n):
    calls = [0]

    def aug(X, y, seed):
        calls[0] += 1
        if calls[0] == n:                    # every run has it: it draws from the Solver's stream
            os.kill(os.getpid(), signal.SIGINT)
        return X, y
    return aug


@pytest.mark.parametrize("schedule", ["warmup_cosine", "plateau", "onecycle"])
def test_interrupt_resume_bit_exact_with_schedule_callbacks_and_shuffle(tmp_path, schedule):
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        def make(aug=None, rec=None):
            S = schedules
            sched = {"warmup_cosine": lambda: S.warmup(S.CosineAnnealingLR(interval="iteration"),
                                                       5),
                     "plateau": lambda: S.ReduceLROnPlateau(metric="val_loss", patience=0,
                                                            factor=0.5),
                     "onecycle": lambda: S.OneCycleLR(max_lr=1e-2)}[schedule]()
            model = mlp(dtype=np.float32, normalization="batchnorm", dropout=0.3)
            data = {k: (v.astype(np.float32) if v.dtype.kind == "f" else v)
                    for k, v in small_data().items()}
            return Solver(model, data, update_rule="adam", lr=1e-2,
                          lr_schedule=sched, batch_size=16, num_epochs=4, patience=3,
                          sampling="shuffle", seed=3, verbose=False,
                          augment=[aug or _interrupt_at(None)], callbacks=[rec or Recorder()],
                          interrupt_checkpoint=str(tmp_path / "int.npz"))
        full = make()
        full.train()
        part = make(_interrupt_at(7))
        with pytest.raises(KeyboardInterrupt):
            part.train()
        rec = Recorder()
        resumed = make(rec=rec)
        resumed.load(tmp_path / "int.npz")
        assert rec.count == 1                                 # the user callback's state
        resumed.train()
        assert resumed.loss_history == full.loss_history
        assert resumed.val_loss_history == full.val_loss_history
        assert resumed.lr_history == full.lr_history
        assert resumed.optimizer.lr == full.optimizer.lr
        for k in full.model.params:
            np.testing.assert_array_equal(resumed.model.params[k], full.model.params[k])
    finally:
        signal.signal(signal.SIGINT, previous)


def test_load_refuses_an_optimiser_state_the_fused_optimiser_cannot_hold(tmp_path):
    from fastnn.checkpoint import CheckpointError, load_params, save_params
    s = Solver(mlp(), small_data(), update_rule="adam", lr=1e-2,
               batch_size=16, num_epochs=1, verbose=False, seed=0)
    s.train()
    path = s.save(tmp_path / "s.npz")
    arrays, meta = load_params(path)
    for change, message in [(lambda c: c["W1"].update(learning_rate=0.5), "differs between"),
                            (lambda c: c["W1"].update(momentum=0.9), "does not use"),
                            (lambda c: c["b1"].update(beta1=2.0), "beta1")]:
        bad_meta = __import__("copy").deepcopy(meta)
        change(bad_meta["optim_configs"])
        save_params(tmp_path / "bad.npz", arrays, bad_meta)
        fresh = Solver(mlp(seed=3), small_data(), update_rule="adam", verbose=False)
        before = {k: v.copy() for k, v in fresh.model.params.items()}
        with pytest.raises(CheckpointError, match=message):
            fresh.load(tmp_path / "bad.npz")
        for k, v in before.items():                          # nothing was restored
            np.testing.assert_array_equal(fresh.model.params[k], v)


def test_early_stopping_callback_on_val_loss():
    stop = callbacks.EarlyStopping(patience=1, monitor="val_loss")
    s = Solver(mlp(), small_data(), update_rule="sgd", lr=5.0,
               batch_size=16, num_epochs=20, callbacks=[stop], verbose=False, seed=0)
    try:
        s.train()
    except FloatingPointError:
        pytest.skip("diverged before stopping")
    assert s.stopped_early
    losses = s.val_loss_history[1:]
    assert losses[-1] >= min(losses[:-1])


# ---------------------------------------------------------------- TensorBoard

def _read_events(logdir):
    """(tag, step, value) of every scalar and tag -> histogram bucket counts, read back."""
    try:
        from tensorboard.backend.event_processing import event_accumulator
    except ImportError:
        event_accumulator = None
    if event_accumulator is not None:
        acc = event_accumulator.EventAccumulator(str(logdir), size_guidance={
            event_accumulator.SCALARS: 0, event_accumulator.HISTOGRAMS: 0})
        acc.Reload()
        scalars = [(tag, e.step, e.value) for tag in acc.Tags()["scalars"]
                   for e in acc.Scalars(tag)]
        hists = {tag: acc.Histograms(tag)[-1].histogram_value.bucket
                 for tag in acc.Tags()["histograms"]}
        return scalars, hists
    from tensorboardX.proto import event_pb2                   # the TFRecord frames by hand
    scalars, hists = [], {}
    for name in sorted(os.listdir(logdir)):
        data = open(os.path.join(logdir, name), "rb").read()
        pos = 0
        while pos < len(data):
            (n,) = struct.unpack("<Q", data[pos:pos + 8])
            ev = event_pb2.Event.FromString(data[pos + 12:pos + 12 + n])
            pos += 12 + n + 4
            for v in ev.summary.value:
                if v.HasField("histo"):
                    hists[v.tag] = list(v.histo.bucket)
                else:
                    scalars.append((v.tag, ev.step, v.simple_value))
    return scalars, hists


def test_tensorboard_event_file(tmp_path):
    pytest.importorskip("tensorboardX")
    logdir = tmp_path / "tb"
    s = Solver(mlp(), small_data(), update_rule="adam", lr=1e-2,
               batch_size=16, num_epochs=2, monitor=True, tensorboard=str(logdir),
               verbose=False, seed=0)
    s.train()
    tb = next(cb for cb in s.callbacks if isinstance(cb, callbacks.TensorBoard))
    tb.close()
    scalars, hists = _read_events(logdir)
    by_tag = {}
    for tag, step, value in scalars:
        by_tag.setdefault(tag, []).append((step, value))
    assert [v for _, v in by_tag["epoch/val_acc"]] == pytest.approx(s.val_acc_history[1:])
    assert [v for _, v in by_tag["epoch/val_loss"]] == pytest.approx(s.val_loss_history[1:],
                                                                    rel=1e-6)
    assert [st for st, _ in by_tag["epoch/val_acc"]] == [4, 8]
    assert by_tag["train/loss"][0] == (1, pytest.approx(s.loss_history[0], rel=1e-6))
    assert by_tag["train/lr"][0][1] == pytest.approx(1e-2)
    ratio = s.monitor.history[-1]["params"]["W1"]["update_ratio"]
    assert by_tag["monitor/W1/update_ratio"][-1][1] == pytest.approx(ratio, rel=1e-6)
    act = next(iter(s.monitor.history[-1]["activations"]))
    tag = act.replace(":", "_")
    assert list(hists[f"activations/{tag}"]) == pytest.approx(
        s.monitor.history[-1]["activations"][act]["hist"]["counts"])


# ---------------------------------------------------------------- fastnn train

def _cli(argv, capsys):
    from fastnn.cli import main
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("schedule", ["cosine", "step", "onecycle", "plateau"])
def test_train_schedule_and_warmup(tmp_path, capsys, schedule):
    import json
    out = tmp_path / "run"
    code, stdout, err = _cli(["train", "--output-dir", str(out), "--quiet", "--epochs", "4",
                              "--schedule", schedule, "--warmup", "1", "--no-plots",
                              "--no-monitor"], capsys)
    assert code == 0, err
    hist = json.loads((out / "history.json").read_text())
    lrs = hist["lr_history"]
    assert len(lrs) == 5
    assert lrs[0] == pytest.approx(0.1 * 6e-4)                 # the warm-up's first rate
    assert lrs[0] < lrs[2]                                     # warmed up
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["schedule"] == schedule and cfg["warmup"] == 1
    if schedule in ("cosine", "onecycle"):
        assert lrs[-1] < 0.2 * max(lrs)


def test_train_output_dir_refuses_an_earlier_run(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["train", "--output-dir", str(out), "--quiet", "--epochs", "1", "--no-monitor"]
    assert _cli(args, capsys)[0] == 0
    (out / "monitor.png").write_bytes(b"stale")               # a plot of the earlier run
    code, _, err = _cli(args, capsys)
    assert code != 0 and "holds an earlier run" in err and "--overwrite" in err
    code, _, err = _cli(args + ["--overwrite", "--no-plots"], capsys)
    assert code == 0, err
    assert not (out / "monitor.png").exists()                  # stale plot deleted
    assert (out / "history.json").exists()


def test_train_tensorboard(tmp_path, capsys):
    pytest.importorskip("tensorboardX")
    out, tb = tmp_path / "run", tmp_path / "tb"
    code, _, err = _cli(["train", "--output-dir", str(out), "--quiet", "--epochs", "2",
                         "--no-plots", "--tensorboard", str(tb)], capsys)
    assert code == 0, err
    scalars, hists = _read_events(tb)
    tags = {t for t, _, _ in scalars}
    assert {"train/loss", "epoch/val_acc", "epoch/val_loss", "epoch/lr"} <= tags
    assert any(t.startswith("monitor/W1/") for t in tags) and hists


def test_progress_bar_in_a_notebook_not_in_a_pipe(monkeypatch):
    pytest.importorskip("tqdm")
    import sys
    import fastnn.solver as solver_mod
    s = Solver(mlp(), small_data(), verbose=True)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    monkeypatch.setattr(solver_mod, "_in_notebook", lambda: False)
    assert s._progress_bar(10) is None                       # a pipe or a log: printed lines
    monkeypatch.setattr(solver_mod, "_in_notebook", lambda: True)
    bar = s._progress_bar(10)                                # Jupyter: tqdm.auto's bar
    assert bar is not None and bar.total == 10
    bar.close()
    monkeypatch.undo()
    assert not solver_mod._in_notebook()                     # pytest is no Jupyter kernel

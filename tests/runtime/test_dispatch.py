"""Runtime SIMD dispatch, proven: every compiled path the CPU runs agrees with the reference.

For every target that is both compiled into this installation and supported by
the CPU, a fresh interpreter is started with ``FASTNN_SIMD=<target>`` (the way a
user forces a path, so dispatch happens at import exactly as in production).
It runs every kernel family's ops -- activations, affine, batch/layer/group
norm, dropout, losses, conv, pooling, the fused optimisers and, once present, the
batch augmentations of ``fastnn.data.augment`` -- on fixed inputs
and saves inputs and outputs; this process then runs ``fastnn.reference`` (and
the NumPy optimiser rules) on the same inputs and compares.  The child also
reports ``fastnn.config()`` and the module each family was loaded from, so a
silent fallback to another target fails the test.

This file is both the test module and the child script (``python
test_dispatch.py OUT.npz CASES_JSON``).
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

# float32: fastnn and the reference sum in different orders (BLAS, per-thread
# partial sums, FMA in the SIMD builds); float64: a few ulp through the sums.
TOL = {np.float32: dict(rtol=2e-4, atol=2e-5), np.float64: dict(rtol=1e-9, atol=1e-11)}
DTYPES = {"f32": np.float32, "f64": np.float64}
SEED = 20261122


# ------------------------------------------------------------------ the cases

def make_inputs(dtype):
    """Fixed inputs for every case; sizes are off the SIMD widths (tails) and past
    the threading thresholds for the elementwise families."""
    rng = np.random.default_rng(SEED)

    def a(*shape, scale=1.0):
        return (scale * rng.standard_normal(shape)).astype(dtype)

    N, D, M, C = 37, 131, 29, 11
    x_big = a(70001)                                   # > every elementwise threshold
    x_big[::997] = 0.0                                 # exact zeros (relu/leaky ties)
    return {
        "x": a(N, D, scale=3.0), "x_big": x_big, "dout": a(N, D), "dout_big": a(70001),
        "alpha_c": np.abs(a(D)) * 0.25, "x_nc": a(N, 6, 5, 5), "dout_nc": a(N, 6, 5, 5),
        "alpha_6": np.abs(a(6)) * 0.25,
        "w_maxout": a(3, D, M, scale=0.1), "b_maxout": a(3, M), "dout_nm": a(N, M),
        "w": a(D, M, scale=0.1), "b": a(M),
        "gamma": 1 + 0.1 * a(D), "beta": 0.1 * a(D),
        "gamma6": 1 + 0.1 * a(6), "beta6": 0.1 * a(6),
        "rm": 0.1 * a(D), "rv": 1 + np.abs(a(D)), "rm6": 0.1 * a(6), "rv6": 1 + np.abs(a(6)),
        "scores": a(N, C, scale=2.0), "y": rng.integers(0, C, N).astype(np.int64),
        "targets01": (rng.random((N, C)) < 0.5).astype(dtype), "target": a(N, C),
        "img": a(4, 3, 13, 13), "wconv": a(5, 3, 3, 3, scale=0.3), "bconv": a(5),
        "wconv_g": a(6, 1, 3, 3, scale=0.3), "img6": a(2, 6, 9, 9),
        "pool_in": a(3, 4, 16, 16), "pool_odd": a(2, 3, 9, 9),
        "opt_w": a(5003), "opt_g1": a(5003), "opt_g2": a(5003),
        "opt_w2": a(17, 3), "opt_g21": a(17, 3), "opt_g22": a(17, 3),
        "aug_X": np.abs(a(6, 3, 13, 11)) * 0.3, "aug_y": rng.integers(0, 10, 6).astype(np.int64),
    }


def elementwise_cases():
    """(function name, kwargs) of every elementwise entry of the op registry (tests/opinfo);
    the child interpreter, which runs this file as a script, gets them on its command line."""
    from opinfo import ELEMENTWISE_OPS
    return [(op.forward.__name__.removesuffix("_forward"), op.op_kwargs)
            for op in ELEMENTWISE_OPS]


def run_ops(lib, t, elementwise):
    """Every op of `lib` (fastnn.ops or fastnn.reference) on inputs t -> {case: array};
    `elementwise` lists the (name, kwargs) cases of the activations (elementwise_cases()).
    Forward results and the backward gradients of each op, through lib's own caches."""
    r = {}

    def fb(name, fwd_args, dout, fwd_kw=None):
        out, cache = getattr(lib, name + "_forward")(*fwd_args, **(fwd_kw or {}))
        r[name + str(sorted((fwd_kw or {}).items())) + ":out"] = out
        grads = getattr(lib, name + "_backward")(dout, cache)
        grads = grads if isinstance(grads, tuple) else (grads,)
        for i, g in enumerate(grads):
            if g is not None:
                r[name + str(sorted((fwd_kw or {}).items())) + f":d{i}"] = g

    for name, kw in elementwise:
        fb(name, (t["x"],), t["dout"], kw)
        out, cache = getattr(lib, name + "_forward")(t["x_big"], **kw)
        r[f"{name}{sorted(kw.items())}:big_out"] = out
        r[f"{name}{sorted(kw.items())}:big_dx"] = getattr(lib, name + "_backward")(t["dout_big"], cache)
    fb("prelu", (t["x"], t["alpha_c"]), t["dout"])
    out, cache = lib.prelu_forward(t["x_nc"], t["alpha_6"])
    r["prelu_nchw:out"] = out
    for i, g in enumerate(lib.prelu_backward(t["dout_nc"], cache)):
        r[f"prelu_nchw:d{i}"] = g
    fb("maxout", (t["x"], t["w_maxout"], t["b_maxout"]), t["dout_nm"])
    fb("affine", (t["x"], t["w"], t["b"]), t["dout_nm"])

    # normalisation: training (batch statistics, running stats updated) and eval
    rm, rv = t["rm"].copy(), t["rv"].copy()
    fb("batchnorm", (t["x"], t["gamma"], t["beta"], rm, rv), t["dout"], {"training": True})
    r["batchnorm:running_mean"], r["batchnorm:running_var"] = rm, rv
    out, _ = lib.batchnorm_forward(t["x"], t["gamma"], t["beta"], t["rm"].copy(), t["rv"].copy(),
                                   training=False)
    r["batchnorm:eval_out"] = out
    rm6, rv6 = t["rm6"].copy(), t["rv6"].copy()
    fb("batchnorm", (t["x_nc"], t["gamma6"], t["beta6"], rm6, rv6), t["dout_nc"], {"momentum": 0.3})
    r["batchnorm_spatial:running_var"] = rv6
    fb("layernorm", (t["x"], t["gamma"], t["beta"]), t["dout"])
    fb("groupnorm", (t["x_nc"], t["gamma6"], t["beta6"], 3), t["dout_nc"])

    # dropout: counter-based masks, identical for a seed on every path
    fb("dropout", (t["x_big"],), t["dout_big"], {"p": 0.3, "seed": 7})
    fb("dropconnect", (t["x"], t["w"], t["b"]), t["dout_nm"], {"p": 0.4, "seed": 11})

    for name, args in [("softmax_loss", (t["scores"], t["y"])),
                       ("svm_loss", (t["scores"], t["y"])),
                       ("bce_with_logits_loss", (t["scores"], t["targets01"])),
                       ("mse_loss", (t["scores"], t["target"]))]:
        loss, d = getattr(lib, name)(*args)
        r[name + ":loss"] = np.asarray(loss, np.float64)
        r[name + ":d"] = d

    fb("conv", (t["img"], t["wconv"], t["bconv"]), _conv_dout(t),
       {"stride": 2, "pad": 1})
    fb("conv", (t["img6"], t["wconv_g"]), _conv_dout_g(t), {"groups": 6, "pad": 1, "dilation": 2})
    fb("max_pool", (t["pool_in"],), t["pool_in"][:, :, ::2, ::2] * 0.5)
    fb("max_pool", (t["pool_odd"],), np.ones((2, 3, 3, 3), t["pool_odd"].dtype),
       {"pool_height": 3, "pool_width": 3, "stride": 3})
    fb("avg_pool", (t["pool_in"],), t["pool_in"][:, :, 1::2, 1::2] * 0.5)
    fb("global_avg_pool", (t["pool_in"],), t["pool_in"][:, :, 0, 0])
    return r


def _conv_dout(t):
    # (4, 5, 7, 7): 13x13, 3x3, stride 2, pad 1
    return np.linspace(-1, 1, 4 * 5 * 7 * 7).reshape(4, 5, 7, 7).astype(t["img"].dtype)


def _conv_dout_g(t):
    # (2, 6, 7, 7): 9x9, 3x3 dilated 2 (5x5 extent), pad 1
    return np.linspace(-1, 1, 2 * 6 * 7 * 7).reshape(2, 6, 7, 7).astype(t["img6"].dtype)


def _augment_modules():
    """(compiled, reference) augmentation modules, or None before the augment family exists."""
    try:
        from fastnn.data import augment
        from fastnn.reference import augment as ref_augment
    except ImportError:
        return None
    names = ("random_crop", "random_resized_crop", "hflip", "color_jitter", "cutout", "mixup")
    if not all(hasattr(m, n) for m in (augment, ref_augment) for n in names):
        return None
    return augment, ref_augment


def run_augment(mod, t):
    """Every batch augmentation of `mod` with fixed seeds (same draws on both sides)."""
    X = t["aug_X"]
    r = {"aug_crop": mod.random_crop(X, padding=2, seed=3),
         "aug_crop_size": mod.random_crop(X, padding=1, size=(9, 8), seed=13),
         "aug_resized": mod.random_resized_crop(X, size=(10, 7), seed=4),
         "aug_hflip": mod.hflip(X, p=0.5, seed=5),
         "aug_jitter": mod.color_jitter(X, brightness=0.3, contrast=0.3, saturation=0.3, seed=6),
         "aug_cutout": mod.cutout(X, size=4, seed=7)}
    out, mixed = mod.mixup(X, t["aug_y"], alpha=0.4, seed=8)
    r["aug_mixup"] = out
    r["aug_mixup_yb"] = np.asarray(mixed.y_b)
    r["aug_mixup_lam"] = np.asarray(mixed.lam, np.float64)
    return r


OPT_CASES = [("SGD", dict(lr=0.1, momentum=0.9, weight_decay=0.01), "sgd_momentum",
              {"learning_rate": 0.1, "momentum": 0.9, "weight_decay": 0.01}),
             ("SGD", dict(lr=0.05, momentum=0.8, nesterov=True), "nesterov",
              {"learning_rate": 0.05, "momentum": 0.8}),
             ("SGD", dict(lr=0.1), "sgd", {"learning_rate": 0.1}),
             ("RMSProp", dict(lr=0.01, decay_rate=0.9), "rmsprop",
              {"learning_rate": 0.01, "decay_rate": 0.9}),
             ("Adam", dict(lr=0.01, beta1=0.8, weight_decay=0.1), "adam",
              {"learning_rate": 0.01, "beta1": 0.8, "weight_decay": 0.1})]


def run_fused_optim(t):
    """Two steps of every fused optimiser (compiled kernels) on two parameters."""
    from fastnn import optim
    r = {}
    for cls, kw, rule, _ in OPT_CASES:
        w1, w2 = t["opt_w"].copy(), t["opt_w2"].copy()
        g1, g2 = np.empty_like(w1), np.empty_like(w2)
        opt = getattr(optim, cls)([(w1, g1), (w2, g2)], **kw)
        for s in ("1", "2"):
            g1[...], g2[...] = t["opt_g" + s], t["opt_g2" + s]
            opt.step()
        r[f"optim_{rule}:w1"], r[f"optim_{rule}:w2"] = w1, w2
    return r


def run_rule_optim(t):
    """The same two steps with the NumPy update rules (the optimisers' reference)."""
    from fastnn import optim
    r = {}
    for _, _, rule, cfg in OPT_CASES:
        for key, wname, gname in (("w1", "opt_w", "opt_g"), ("w2", "opt_w2", "opt_g2")):
            w, config = t[wname].copy(), dict(cfg)
            for s in ("1", "2"):
                w, config = optim.RULES[rule](w, t[gname + s], config)
            r[f"optim_{rule}:{key}"] = w
    return r


# ------------------------------------------------------------------ the child

def child(out_path, elementwise):
    """Run in a fresh interpreter with FASTNN_SIMD set: save inputs, outputs, facts."""
    import fastnn
    from fastnn import _dispatch, ops
    saved, facts = {}, {}
    for tag, dtype in DTYPES.items():
        t = make_inputs(dtype)
        res = run_ops(ops, t, elementwise)
        res.update(run_fused_optim(t))
        if _augment_modules():
            res.update(run_augment(_augment_modules()[0], t))
        for k, v in res.items():
            saved[f"{tag}|{k}"] = np.asarray(v)
    c = fastnn.config()
    facts["config"] = {k: c[k] for k in ("simd_active", "simd_forced", "simd_compiled",
                                         "simd_supported")}
    facts["modules"] = {fam: getattr(_dispatch.kernels, fam).__name__ for fam in _dispatch.FAMILIES}
    facts["fastnn_file"] = fastnn.__file__
    np.savez(out_path, **saved)
    with open(out_path + ".json", "w") as f:
        json.dump(facts, f)


def _run_child(target, tmp_path):
    out = str(tmp_path / f"simd_{target}.npz")
    env = dict(os.environ, FASTNN_SIMD=target)
    r = subprocess.run([sys.executable, os.path.abspath(__file__), out,
                        json.dumps(elementwise_cases())], env=env,
                       capture_output=True, text=True, cwd=str(tmp_path), timeout=600)
    assert r.returncode == 0, f"FASTNN_SIMD={target} child failed:\n{r.stderr[-4000:]}"
    with open(out + ".json") as f:
        facts = json.load(f)
    with np.load(out) as z:
        results = {k: z[k] for k in z.files}
    return results, facts


# ------------------------------------------------------------------ the tests

from fastnn import _dispatch  # noqa: E402

TARGETS = _dispatch.supported_targets()


@pytest.mark.parametrize("target", TARGETS)
def test_forced_target_agrees_with_reference(target, tmp_path):
    import fastnn
    from fastnn import reference
    results, facts = _run_child(target, tmp_path)

    # dispatch really used the forced target, for every family
    assert facts["config"]["simd_active"] == target
    assert facts["config"]["simd_forced"] == target
    assert target in facts["config"]["simd_compiled"] and target in facts["config"]["simd_supported"]
    assert facts["modules"] == {fam: f"fastnn._kernels.{fam}_{target}" for fam in _dispatch.FAMILIES}
    # the child imported the same installed package as this process
    assert os.path.realpath(facts["fastnn_file"]) == os.path.realpath(fastnn.__file__)

    checked = 0
    for tag, dtype in DTYPES.items():
        t = make_inputs(dtype)
        ref = run_ops(reference, t, elementwise_cases())
        ref.update(run_rule_optim(t))
        if _augment_modules():
            ref.update(run_augment(_augment_modules()[1], t))
        got_keys = {k.split("|", 1)[1] for k in results if k.startswith(tag + "|")}
        assert got_keys == set(ref), f"cases differ: {sorted(got_keys ^ set(ref))}"
        for k, expected in ref.items():
            got = results[f"{tag}|{k}"]
            expected = np.asarray(expected)
            assert got.shape == expected.shape, f"{target} {tag} {k}: shape"
            if k.startswith("aug_mixup_"):
                pass                                  # mixup's labels and lam, not in x's dtype
            elif k.endswith(":loss") or k.startswith("optim_"):
                assert got.dtype in (dtype, np.float64), f"{target} {tag} {k}: dtype {got.dtype}"
            else:
                assert got.dtype == dtype, f"{target} {tag} {k}: dtype {got.dtype}"
            if k.startswith("aug_mixup_"):
                got, expected = got.astype(np.float64), expected.astype(np.float64)
            np.testing.assert_allclose(got, expected, **TOL[dtype],
                                       err_msg=f"FASTNN_SIMD={target} {tag} {k}")
            checked += 1
    assert checked > 150          # every family contributed (about 90 results per dtype)


def test_every_supported_target_is_tested():
    """Baseline always; on x86-64 the AVX2/AVX-512 builds whenever the CPU has them."""
    assert "baseline" in TARGETS
    compiled = _dispatch.compiled_targets()
    feats = _dispatch._runtime.cpu_features()
    for t in ("avx2", "avx512"):
        if t in compiled and feats[t]:
            assert t in TARGETS


def _python(args, cwd, **env):
    """A fresh interpreter, started outside the source tree (cwd) so that it imports
    the installed fastnn."""
    e = {k: v for k, v in os.environ.items() if k != "FASTNN_SIMD"}
    e.update(env)
    return subprocess.run([sys.executable, *args], env=e, capture_output=True, text=True,
                          cwd=str(cwd), timeout=300)


@pytest.mark.parametrize("value", ["sse9", "neon", "AVX1024"])
def test_unknown_target_is_a_clear_import_error(value, tmp_path):
    r = _python(["-c", "import fastnn"], tmp_path, FASTNN_SIMD=value)
    assert r.returncode != 0
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: FASTNN_SIMD=")
    assert repr(value.lower()) in last and "is unknown: expected one of" in last
    assert "'baseline'" in last


# A CPU without AVX2/AVX-512 is simulated: the runtime module is loaded first and its
# CPU-feature probe replaced, then fastnn is imported with FASTNN_SIMD set.
_NO_AVX = r"""
import glob, importlib.machinery, importlib.util, os, sys
pkg = importlib.util.find_spec("fastnn").submodule_search_locations[0]
path = [p for p in glob.glob(os.path.join(pkg, "_kernels", "_runtime*"))
        if p.endswith((".so", ".pyd"))][0]
loader = importlib.machinery.ExtensionFileLoader("fastnn._kernels._runtime", path)
spec = importlib.util.spec_from_file_location("fastnn._kernels._runtime", path, loader=loader)
rt = importlib.util.module_from_spec(spec)
spec.loader.exec_module(rt)
rt.cpu_features = lambda: {"avx2": False, "avx512": False}
sys.modules["fastnn._kernels._runtime"] = rt
os.environ["FASTNN_SIMD"] = sys.argv[1]
import fastnn
print(fastnn.config()["simd_active"], fastnn.config()["simd_supported"])
"""


def test_unsupported_target_is_a_clear_import_error(tmp_path):
    compiled = _dispatch.compiled_targets()
    if compiled == ["baseline"]:
        pytest.skip("only the baseline target is compiled on this platform")
    target = compiled[0]                      # the widest compiled target
    r = _python(["-c", _NO_AVX, target], tmp_path)
    assert r.returncode != 0
    last = r.stderr.strip().splitlines()[-1]
    assert last == (f"ImportError: FASTNN_SIMD={target!r}: SIMD target {target!r} is not "
                    "supported by this CPU (supported: ['baseline'])"), r.stderr
    # the same simulated CPU still imports, and runs baseline, without FASTNN_SIMD forcing
    r = _python(["-c", _NO_AVX, "baseline"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[0] == "baseline"


if __name__ == "__main__":
    child(sys.argv[1], [(name, kw) for name, kw in json.loads(sys.argv[2])])

"""One vocabulary: PyTorch's and ``fastnn train``'s spellings are accepted; the old spellings
keep working with a DeprecationWarning; giving both spellings is an error naming them."""
import json
import warnings

import numpy as np
import pytest

import fastnn
from fastnn import layers as L
from fastnn import models, tune
from fastnn.cli import _plain, build_parser, main
from fastnn.solver import Solver


def _no_warning(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return fn(*args, **kwargs)


# ---------------------------------------------------------------- layers

def test_conv2d_padding_and_its_deprecated_spelling_pad():
    x = np.random.default_rng(0).standard_normal((2, 3, 6, 6)).astype(np.float32)
    new = _no_warning(L.Conv2d, 3, 4, 3, padding=1, seed=0)
    assert new.conv_param["pad"] == 1 and new.forward(x).shape == (2, 4, 6, 6)
    positional = _no_warning(L.Conv2d, 3, 4, 3, 1, 2, seed=0)        # stride, padding
    assert positional.conv_param["pad"] == 2
    with pytest.warns(DeprecationWarning, match=r"Conv2d: pad= is deprecated, use padding="):
        old = L.Conv2d(3, 4, 3, pad=1, seed=0)
    np.testing.assert_array_equal(old.forward(x), new.forward(x))
    with pytest.raises(TypeError, match=r"Conv2d: got both padding= and pad="):
        L.Conv2d(3, 4, 3, padding=1, pad=1)


@pytest.mark.parametrize("make", [
    lambda **kw: L.Linear(5, 4, **kw),
    lambda **kw: L.Conv2d(2, 3, 3, **kw),
    lambda **kw: L.Maxout(5, 4, k=2, **kw),
    lambda **kw: L.DropConnect(5, 4, p=0.5, **kw),
], ids=["Linear", "Conv2d", "Maxout", "DropConnect"])
def test_seed_seeds_weights_and_rng_is_its_deprecated_spelling(make):
    a, b = _no_warning(make, seed=3), _no_warning(make, seed=3)
    np.testing.assert_array_equal(a.params["w"], b.params["w"])
    assert not np.array_equal(a.params["w"], _no_warning(make, seed=4).params["w"])
    shared = _no_warning(make, seed=np.random.default_rng(3))      # a Generator works too
    np.testing.assert_array_equal(shared.params["w"], a.params["w"])
    with pytest.warns(DeprecationWarning, match=r"rng= is deprecated, use seed="):
        old = make(rng=3)
    np.testing.assert_array_equal(old.params["w"], a.params["w"])
    with pytest.raises(TypeError, match=r"got both seed= and rng="):
        make(seed=3, rng=3)


def test_dropconnect_seed_also_seeds_its_masks():
    x = np.ones((4, 5), np.float32)
    a, b = L.DropConnect(5, 4, p=0.5, seed=1), L.DropConnect(5, 4, p=0.5, seed=1)
    np.testing.assert_array_equal(a.forward(x), b.forward(x))


# ---------------------------------------------------------------- models

def _dropouts(model):
    return [layer.p for layer in model.net.layers if isinstance(layer, L.Dropout)]


def test_fully_connected_net_dropout_and_deprecated_keep_ratio():
    new = _no_warning(models.FullyConnectedNet, [6, 5], input_dim=4, num_classes=3, dropout=0.25,
                      seed=0)
    assert _dropouts(new) == [0.25, 0.25]
    assert _dropouts(_no_warning(models.FullyConnectedNet, [6], input_dim=4, seed=0)) == []
    with pytest.warns(DeprecationWarning, match=r"dropout_keep_ratio= is deprecated, use "
                                                r"dropout= \(dropout = 1 - dropout_keep_ratio"):
        old = models.FullyConnectedNet([6, 5], input_dim=4, num_classes=3,
                                       dropout_keep_ratio=0.75, seed=0)
    assert _dropouts(old) == [0.25, 0.25]
    for k in new.params:
        np.testing.assert_array_equal(old.params[k], new.params[k])
    with pytest.raises(TypeError, match=r"got both dropout= and dropout_keep_ratio="):
        models.FullyConnectedNet([6], input_dim=4, dropout=0.5, dropout_keep_ratio=0.5)
    with pytest.raises(ValueError, match=r"dropout .* must be in \[0, 1\), got 1.0"):
        models.FullyConnectedNet([6], input_dim=4, dropout=1.0)
    with pytest.raises(ValueError, match=r"dropout_keep_ratio must be in \(0, 1\], got 0"):
        models.FullyConnectedNet([6], input_dim=4, dropout_keep_ratio=0)


# ---------------------------------------------------------------- Solver

def _data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((20, 4)).astype(np.float32)
    y = rng.integers(0, 3, 20)
    return {"X_train": X, "y_train": y, "X_val": X[:5], "y_val": y[:5]}


def test_solver_lr():
    model = models.FullyConnectedNet([5], input_dim=4, num_classes=3, seed=0)
    s = Solver(model, _data(), update_rule="adam", lr=3e-3, verbose=False)
    assert s.optimizer_lr() == pytest.approx(3e-3)
    same = Solver(model, _data(), update_rule="adam", optim_config={"learning_rate": 3e-3},
                  verbose=False)
    assert same.optimizer_lr() == s.optimizer_lr()
    for config in ({"learning_rate": 1e-3}, {"lr": 1e-3}):
        with pytest.raises(ValueError, match=r"Solver: got both lr= and optim_config\["):
            Solver(model, _data(), update_rule="adam", lr=3e-3, optim_config=config)


# ---------------------------------------------------------------- search keys

def test_search_keys_spelled_like_train_options():
    fn = tune.make_train_fn("convnet", epochs=1)
    cfg = _no_warning(fn.settings, {"optimizer": "sgd", "filters": 8, "width": 16})
    assert (cfg["optimizer"], cfg["filters"], cfg["hidden"]) == ("sgd", 8, (16, 16))
    assert "update_rule" not in cfg
    for old, new, value in (("update_rule", "optimizer", "sgd"), ("num_filters", "filters", 8),
                            ("hidden_dim", "width", 16)):
        with pytest.warns(DeprecationWarning, match=rf"config key '{old}' is deprecated, use "
                                                    rf"'{new}'"):
            resolved = fn.settings({old: value})
        assert resolved[new] == value if new != "width" else resolved["hidden"] == (16, 16)
        with pytest.raises(ValueError, match=rf"'{old}' is the deprecated spelling of '{new}'"):
            fn.check_space({old: value, new: value})


def test_search_cli_optimizer_flag_and_deprecated_spellings(tmp_path, capsys):
    out = tmp_path / "s"
    code = main(["search", "--model", "mlp", "--trials", "1", "--epochs", "1", "--no-progress",
                 "--update-rule", "sgd", "--space", "hidden_dim=8", "--output-dir", str(out)])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "--update-rule is deprecated, use --optimizer sgd" in err
    assert "config key 'hidden_dim' is deprecated, use 'width'" in err
    trial = json.loads((out / "results.json").read_text())["trials"][0]
    assert trial["config"] == {"hidden_dim": 8} and trial["status"] == "ok"
    code = main(["search", "--optimizer", "sgd", "--update-rule", "sgd", "--output-dir",
                 str(tmp_path / "t")])
    assert code == 2
    assert "--update-rule is the deprecated spelling of --optimizer" in capsys.readouterr().err
    code = main(["search", "--optimizer", "nope", "--output-dir", str(tmp_path / "t")])
    assert code == 2 and "--optimizer must be one of" in capsys.readouterr().err


# ---------------------------------------------------------------- command line and docs

def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"fastnn {fastnn.__version__}"


def test_help_texts_have_no_restructuredtext_markup():
    parser, modules = build_parser()
    texts = {"fastnn": parser.format_help()}
    sub = next(a for a in parser._actions if a.dest == "command")
    for name, p in sub.choices.items():
        texts[name] = p.format_help()
    assert set(texts) == {"fastnn", *modules}
    for name, text in texts.items():
        assert "`" not in text, name
        assert ":func:" not in text and ":class:" not in text and ":mod:" not in text, name


def test_plain():
    assert _plain("a :func:`fastnn.ops.relu_forward`, :class:`~fastnn.tune.TrainFn`, "
                  "``--lr 1e-3`` and `x`") == "a fastnn.ops.relu_forward, TrainFn, --lr 1e-3 and x"


def test_package_docstring_leads_with_the_high_level():
    doc = fastnn.__doc__
    assert doc.index("fastnn train") < doc.index("Solver") < doc.index("fastnn.ops")


def test_optim_star_import_brings_only_its_api():
    ns = {}
    exec("from fastnn.optim import *", ns)
    names = set(ns) - {"__builtins__"}
    assert names == set(fastnn.optim.__all__)
    assert not names & {"np", "math", "Mapping", "real_number", "num_threads", "c_aligned"}

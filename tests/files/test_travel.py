"""Models that travel whole: architecture in the checkpoint, fastnn.load, one naming of
parameters, predict / predict_proba, summary, and the predict / evaluate commands."""
import json

import numpy as np
import pytest

import fastnn
from fastnn import architecture, checkpoint, data, layers as L, models
from fastnn.checkpoint import CheckpointError


def _every_layer_net(rng):
    return L.Sequential(
        L.Conv2d(3, 8, 3, padding=1, seed=rng), L.BatchNorm2d(8), L.ReLU(),
        L.Conv2d(8, 8, (3, 1), stride=1, padding=1, dilation=1, groups=2, bias=False, seed=rng),
        L.GroupNorm(2, 8), L.PReLU(8), L.MaxPool2d(2),
        L.Residual(L.Sequential(L.Conv2d(8, 8, 3, padding=1, seed=rng), L.BatchNorm2d(8)),
                   drop_prob=0.25),
        L.ELU(0.5), L.AvgPool2d((2, 1), stride=1), L.LeakyReLU(0.2),
        L.Flatten(), L.Dropout(0.3), L.Linear(8 * 3 * 6, 24, seed=rng), L.LayerNorm(24),
        L.GELU("tanh"), L.DropConnect(24, 16, p=0.2, seed=rng), L.SELU(), L.Maxout(16, 12, k=3, seed=rng),
        L.SiLU(), L.Linear(12, 10, seed=rng), L.Softplus(beta=2.0), L.Tanh(), L.Sigmoid())


def _randomise(model, rng):
    """Non-trivial weights and running statistics, so a copy that lost any of them differs."""
    for v in checkpoint.model_arrays(model).values():
        v[...] = rng.uniform(0.5, 1.5, v.shape) if "var" in str(v) else rng.standard_normal(v.shape)
    for k, v in model.buffers.items():
        if k.endswith("running_var"):
            v[...] = rng.uniform(0.5, 2.0, v.shape)


def test_describe_build_every_layer_round_trip(rng):
    net = _every_layer_net(rng)
    _randomise(net, rng)
    desc = architecture.describe(net)
    desc2 = json.loads(json.dumps(desc))          # JSON values only
    assert desc2 == desc
    twin = architecture.build(desc2)
    assert architecture.describe(twin) == desc
    assert [type(a) for a in twin.layers] == [type(a) for a in net.layers]
    assert architecture.parameter_count(desc) == sum(
        v.size for v in checkpoint.model_arrays(net).values())
    arrays = checkpoint.model_arrays(net)
    for k, v in checkpoint.model_arrays(twin).items():
        assert v.shape == arrays[k].shape and v.dtype == arrays[k].dtype
        v[...] = arrays[k]
    x = rng.standard_normal((2, 3, 8, 10)).astype(np.float32)
    net.eval(), twin.eval()
    np.testing.assert_array_equal(twin.forward(x), net.forward(x))


def test_build_refuses_unknown_and_ill_typed():
    with pytest.raises(architecture.ArchitectureError, match=r"unknown layer type 'os.system'"):
        architecture.build({"type": "os.system"})
    with pytest.raises(architecture.ArchitectureError,
                       match=r"model.1 \(Linear\): 'in_features' must be int, got '3'"):
        architecture.build({"type": "Sequential", "layers": [
            {"type": "ReLU"}, {"type": "Linear", "in_features": "3", "out_features": 2}]})
    with pytest.raises(architecture.ArchitectureError, match="must be >= 1"):
        architecture.build({"type": "Conv2d", "in_channels": 3, "out_channels": 0,
                            "kernel_size": [3], "stride": 1, "pad": 0, "dilation": 1, "groups": 1})


def test_describe_refuses_user_layers_and_save_model_keeps_weights_only(tmp_path):
    class Mine(L.Layer):
        def forward(self, x):
            return x

    net = L.Sequential(L.Linear(3, 2, seed=0), Mine())
    with pytest.raises(architecture.ArchitectureError, match="cannot describe a Mine"):
        architecture.describe(net)
    path = checkpoint.save_model(tmp_path / "m.npz", net)
    assert checkpoint.load_model(path, L.Sequential(L.Linear(3, 2, seed=1), Mine())) is None
    with pytest.raises(CheckpointError, match="holds weights but no architecture"):
        fastnn.load(path)


@pytest.mark.parametrize("ext", ["npz", "safetensors"])
@pytest.mark.parametrize("make, shape", [
    (lambda: models.TwoLayerNet(input_dim=12, hidden_dim=7, num_classes=4, seed=0), (12,)),
    (lambda: models.FullyConnectedNet([9, 8], input_dim=12, num_classes=4, dropout=0.5,
                                      normalization="batchnorm", seed=0), (12,)),
    (lambda: models.ThreeLayerConvNet((3, 8, 8), num_filters=4, filter_size=3, hidden_dim=6,
                                      num_classes=4, seed=0), (3, 8, 8)),
    (lambda: models.SmallVGG((3, 8, 8), channels=(4, 4, 8, 8), num_classes=4, residual=True,
                             drop_prob=0.2, seed=0), (3, 8, 8)),
    (lambda: models.make_model("convnet", (3, 8, 8), 4, normalization="layernorm",
                               activation="gelu", dropout=0.1, seed=0), (3, 8, 8)),
])
def test_load_returns_a_ready_model(make, shape, ext, tmp_path, rng):
    if ext == "safetensors":
        pytest.importorskip("safetensors")
    model = make()
    _randomise(model, rng)
    X = rng.standard_normal((6,) + shape).astype(np.float32) * 3 + 1
    model.preprocessor = data.make_preprocessor("standardize").fit(X)
    path = model.save(tmp_path / f"m.{ext}", meta={"note": "x"})
    loaded = fastnn.load(path)
    assert isinstance(loaded, models.Model) and not loaded.net.training
    assert loaded.input_shape == shape and loaded.reg == model.reg
    expected = model.loss(model.preprocessor.transform(X))
    np.testing.assert_array_equal(loaded.loss(loaded.preprocessor.transform(X)), expected)
    np.testing.assert_array_equal(loaded.predict(X), np.argmax(expected, axis=1))
    assert checkpoint.load_model(path, make()) == {"note": "x"}


def test_one_naming_model_and_sequential(tmp_path, rng):
    model = models.FullyConnectedNet([5], input_dim=4, num_classes=3, normalization="batchnorm",
                                     seed=0)
    _randomise(model, rng)
    assert sorted(checkpoint.model_arrays(model)) == sorted(checkpoint.model_arrays(model.net))
    assert "0.w" in checkpoint.model_arrays(model) and "W1" in model.params   # course names stay
    # a Model's file loads into the bare Sequential and the other way round
    path = model.save(tmp_path / "model.npz")
    bare = models.FullyConnectedNet([5], input_dim=4, num_classes=3, normalization="batchnorm",
                                    seed=1).net
    checkpoint.load_model(path, bare)
    np.testing.assert_array_equal(bare.params["0.w"], model.params["W1"])
    np.testing.assert_array_equal(bare.buffers["1.running_var"], model.buffers["1.running_var"])
    path2 = checkpoint.save_model(tmp_path / "seq.npz", bare)
    other = models.FullyConnectedNet([5], input_dim=4, num_classes=3, normalization="batchnorm",
                                     seed=2)
    other.load(path2)
    np.testing.assert_array_equal(other.params["gamma1"], model.params["gamma1"])
    # a file with the course names (W1, b1, ..., buffers/...) still loads into a Model
    legacy = dict(model.params, **{f"buffers/{k}": v for k, v in model.buffers.items()})
    path3 = checkpoint.save_params(tmp_path / "legacy.npz", legacy, {"epoch": 3})
    other2 = models.FullyConnectedNet([5], input_dim=4, num_classes=3, normalization="batchnorm",
                                      seed=3)
    assert other2.load(path3) == {"epoch": 3}
    np.testing.assert_array_equal(other2.params["W2"], model.params["W2"])
    # a mismatch names the arrays
    with pytest.raises(CheckpointError, match=r"missing \['2.b', '2.w'\]"):
        checkpoint.load_model(path, models.TwoLayerNet(input_dim=4, hidden_dim=5, num_classes=3))


def test_load_refuses_architecture_larger_than_its_weights(tmp_path):
    net = L.Sequential(L.Linear(3, 2, seed=0))
    path = checkpoint.save_model(tmp_path / "m.npz", net)
    arrays, meta = checkpoint.load_params(path)
    meta["fastnn.model"]["architecture"]["layers"][0].update(in_features=10**6, out_features=10**6)
    checkpoint.save_params(tmp_path / "evil.npz", arrays, meta)
    with pytest.raises(CheckpointError, match=r"declares 1000001000000 parameter values but the "
                                              r"file holds 8"):
        fastnn.load(tmp_path / "evil.npz")
    meta["fastnn.model"]["architecture"]["layers"][0] = {"type": "builtins.eval"}
    checkpoint.save_params(tmp_path / "evil2.npz", arrays, meta)
    with pytest.raises(CheckpointError, match="unknown layer type 'builtins.eval'"):
        fastnn.load(tmp_path / "evil2.npz")


def test_sequential_file_loads_as_model(tmp_path, rng):
    pytest.importorskip("safetensors")
    net = L.Sequential(L.Linear(4, 3, seed=0), L.ReLU(), L.Linear(3, 2, seed=1))
    path = checkpoint.save_model(tmp_path / "s.safetensors", net)
    m = fastnn.load(path)
    x = rng.standard_normal((5, 4)).astype(np.float32)
    np.testing.assert_array_equal(m.loss(x), net.forward(x))
    assert m.input_shape is None and "input (4,)" in m.summary()


def test_predict_and_proba(rng):
    model = models.ThreeLayerConvNet((1, 6, 6), num_filters=3, filter_size=3, hidden_dim=5,
                                     num_classes=4, weight_scale=0.5, seed=0)
    X = rng.standard_normal((11, 1, 6, 6))                  # float64 input, cast to the model's
    scores = model.loss(X.astype(np.float32))
    p = model.predict_proba(X, batch_size=4)
    assert p.shape == (11, 4) and p.dtype == np.float32
    e = np.exp(scores - scores.max(1, keepdims=True))
    np.testing.assert_allclose(p, e / e.sum(1, keepdims=True), rtol=1e-5)
    np.testing.assert_allclose(p.sum(1), 1, rtol=1e-6)
    labels = model.predict(X, batch_size=3)
    assert labels.dtype == np.int64
    np.testing.assert_array_equal(labels, np.argmax(scores, 1))
    np.testing.assert_array_equal(model.predict(X, batch_size=100), labels)
    assert model.predict(X[:0]).shape == (0,) and model.predict_proba(X[:0]).shape == (0, 4)
    assert model.net.training                              # mode restored
    with pytest.raises(ValueError, match="Model.predict: batch_size must be >= 1, got 0"):
        model.predict(X, batch_size=0)


def test_summary_shapes_and_counts():
    model = models.ThreeLayerConvNet((3, 32, 32), num_filters=32, filter_size=7, hidden_dim=100)
    text = model.summary()
    assert "ThreeLayerConvNet: input (3, 32, 32)" in text
    lines = text.splitlines()
    row = {ln.split()[0]: ln for ln in lines if ln[:1].isdigit()}
    assert "Conv2d(3 -> 32, 7x7, pad 3)" in row["0"] and "(32, 32, 32)" in row["0"]
    assert row["0"].endswith("4,736")                      # 32*3*7*7 + 32
    assert "(32, 16, 16)" in row["2"] and "(8192,)" in row["3"]
    assert row["4"].endswith("819,300") and "(10,)" in row["6"]
    total = sum(v.size for v in model.params.values())
    assert f"trainable parameters: {total:,}" in text
    vgg = models.SmallVGG((3, 8, 8), channels=(4, 4, 8, 8), residual=True)
    t2 = vgg.summary()
    assert "Residual(drop_prob=0.0)" in t2 and "3.1    BatchNorm2d(4)" in t2 and "buffers (running statistics): 48" in t2
    with pytest.raises(ValueError, match="pass input_shape"):
        models.Model(L.Sequential(L.Conv2d(1, 2, 3, seed=0))).summary()


def test_cli_train_predict_evaluate(tmp_path, capsys):
    from fastnn.cli import main
    out = tmp_path / "run"
    assert main(["train", "--epochs", "1", "--no-plots", "--quiet", "--no-monitor",
                 "--normalization", "batchnorm", "--output-dir", str(out)]) == 0
    acc = float(capsys.readouterr().out.split("test accuracy:")[1].split()[0])
    model = fastnn.load(out / "model.npz")
    assert model.preprocessor is not None
    d = data.load_builtin("digits")
    np.save(tmp_path / "x.npy", d["X_test"])
    assert np.mean(model.predict(d["X_test"]) == d["y_test"]) == pytest.approx(acc, abs=1e-4)
    assert main(["predict", "--checkpoint", str(out), "--input", str(tmp_path / "x.npy"),
                 "--output", str(tmp_path / "pred.npy")]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "pred.npy"), model.predict(d["X_test"]))
    assert main(["predict", "--checkpoint", str(out / "model.npz"), "--proba",
                 "--input", str(tmp_path / "x.npy"), "--output", str(tmp_path / "p.npy")]) == 0
    np.testing.assert_allclose(np.load(tmp_path / "p.npy"), model.predict_proba(d["X_test"]))
    capsys.readouterr()
    assert main(["evaluate", "--checkpoint", str(out)]) == 0
    text = capsys.readouterr().out
    assert f"accuracy {acc:.4f}" in text.splitlines()[0] and "class 9" in text
    np.save(tmp_path / "y.npy", d["y_test"])
    assert main(["evaluate", "--checkpoint", str(out), "--input", str(tmp_path / "x.npy"),
                 "--labels", str(tmp_path / "y.npy")]) == 0
    assert f"accuracy {acc:.4f}" in capsys.readouterr().out
    assert main(["predict", "--checkpoint", str(tmp_path / "nope"), "--input", "x.npy"]) == 2
    assert "neither a model file nor a folder" in capsys.readouterr().err

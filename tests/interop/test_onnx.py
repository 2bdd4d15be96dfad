"""ONNX export: every layer type checked by onnx.checker (full check) and run in ONNX Runtime
against fastnn's eval-mode output."""
import sys

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from fastnn import layers as L, models  # noqa: E402
from fastnn import onnx as fonnx  # noqa: E402


def _bn(layer, rng):
    """Non-default running statistics and affine parameters."""
    for k, v in layer.buffers.items():
        v[...] = rng.uniform(0.5, 2.0, v.shape) if k.endswith("var") else rng.normal(0, 0.3, v.shape)
    for v in layer.params.values():
        v[...] = rng.normal(1.0 if v is layer.params.get("gamma") else 0.0, 0.3, v.shape)
    return layer


def _cases(rng):
    c = lambda *a, **k: L.Conv2d(*a, seed=rng, **k)  # noqa: E731
    img = (4, 7, 9)
    return {
        "conv": (L.Sequential(c(4, 6, 3)), img),
        "conv stride pad dilation": (L.Sequential(c(4, 6, (3, 2), stride=2, padding=2, dilation=2)), img),
        "conv groups no bias": (L.Sequential(c(4, 8, 3, padding=1, groups=2, bias=False)), img),
        "depthwise": (L.Sequential(c(4, 4, 3, padding=1, groups=4)), img),
        "linear on images (flatten)": (L.Sequential(L.Linear(4 * 7 * 9, 5, seed=rng)), img),
        "linear no bias": (L.Sequential(L.Linear(6, 5, bias=False, seed=rng)), (6,)),
        "dropconnect": (L.Sequential(L.DropConnect(6, 5, p=0.3, seed=rng)), (6,)),
        "batchnorm1d": (L.Sequential(_bn(L.BatchNorm1d(6), rng)), (6,)),
        "batchnorm2d": (L.Sequential(_bn(L.BatchNorm2d(4), rng)), img),
        "layernorm": (L.Sequential(_bn(L.LayerNorm(6), rng)), (6,)),
        "layernorm 3d": (L.Sequential(_bn(L.LayerNorm((7, 9)), rng)), img),
        "groupnorm": (L.Sequential(_bn(L.GroupNorm(2, 4), rng)), img),
        "maxpool": (L.Sequential(L.MaxPool2d(2)), img),
        "maxpool 3x3 s2": (L.Sequential(L.MaxPool2d(3, stride=2)), img),
        "avgpool": (L.Sequential(L.AvgPool2d((2, 3), stride=1)), img),
        "global avg pool": (L.Sequential(L.GlobalAvgPool2d()), img),
        "flatten": (L.Sequential(L.Flatten()), img),
        "dropout": (L.Sequential(L.Dropout(0.5), L.ReLU()), (6,)),
        "relu": (L.Sequential(L.ReLU()), img),
        "leaky relu": (L.Sequential(L.LeakyReLU(0.2)), img),
        "elu": (L.Sequential(L.ELU(0.7)), img),
        "selu": (L.Sequential(L.SELU()), img),
        "sigmoid": (L.Sequential(L.Sigmoid()), img),
        "tanh": (L.Sequential(L.Tanh()), img),
        "gelu": (L.Sequential(L.GELU()), img),
        "gelu tanh": (L.Sequential(L.GELU("tanh")), img),
        "silu": (L.Sequential(L.SiLU()), img),
        "softplus": (L.Sequential(L.Softplus()), img),
        "softplus beta threshold": (L.Sequential(L.Softplus(beta=2.0, threshold=1.5)), img),
        "prelu shared": (L.Sequential(L.PReLU(init=0.3)), img),
        "prelu per channel": (L.Sequential(_bn(L.PReLU(4), rng)), img),
        "prelu per feature": (L.Sequential(_bn(L.PReLU(6), rng)), (6,)),
        "maxout": (L.Sequential(L.Maxout(6, 5, k=3, seed=rng)), (6,)),
        "maxout on images": (L.Sequential(L.Maxout(4 * 7 * 9, 3, k=2, seed=rng)), img),
        "residual": (L.Sequential(L.Residual(L.Sequential(c(4, 4, 3, padding=1), _bn(L.BatchNorm2d(4), rng)))), img),
        "residual stochastic depth": (L.Sequential(L.Residual(c(4, 4, 3, padding=1), drop_prob=0.3)), img),
    }


CASES = sorted(_cases(np.random.default_rng(0)))


def _run(path, x):
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, {"input": x})[0]


@pytest.mark.parametrize("case", CASES)
def test_layer_matches_onnxruntime(case, tmp_path):
    rng = np.random.default_rng(1)
    net, shape = _cases(rng)[case]
    path = fonnx.export(net, tmp_path / "m.onnx", input_shape=shape)
    proto = onnx.load(path)
    onnx.checker.check_model(proto, full_check=True)
    x = rng.standard_normal((3,) + shape).astype(np.float32) * 2
    net.eval()
    expected = net.forward(x)
    got = _run(path, x)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=2e-5)
    # the batch axis is dynamic
    np.testing.assert_allclose(_run(path, x[:1]), expected[:1], rtol=1e-4, atol=2e-5)


@pytest.mark.parametrize("make", [
    lambda: models.TwoLayerNet(input_dim=20, hidden_dim=8, num_classes=4, weight_scale=0.3, seed=0),
    lambda: models.FullyConnectedNet([16, 12], input_dim=20, num_classes=4, weight_scale=0.3,
                                     normalization="batchnorm", dropout=0.5, seed=0),
    lambda: models.ThreeLayerConvNet((3, 8, 8), num_filters=5, filter_size=3, hidden_dim=7,
                                     num_classes=4, weight_scale=0.3, seed=0),
    lambda: models.SmallVGG((3, 8, 8), channels=(4, 4, 8, 8), num_classes=4, residual=True,
                            drop_prob=0.2, classifier_std=0.3, seed=0),
    lambda: models.make_model("mlp", (1, 4, 4), 3, activation="gelu", normalization="layernorm",
                              seed=0),
])
def test_course_models_match_and_opset(make, tmp_path):
    model = make()
    path = fonnx.export(model, tmp_path / "m.onnx")            # input_shape from the model
    x = np.random.default_rng(2).standard_normal((5,) + model.input_shape).astype(np.float32)
    np.testing.assert_allclose(_run(path, x), model.loss(x), rtol=1e-4, atol=1e-5)
    opset = {o.domain: o.version for o in onnx.load(path).opset_import}[""]
    assert opset == fonnx.required_opset(model)
    gelu = any(isinstance(layer, L.GELU) for layer in model.net.layers)
    assert opset == (20 if gelu else 17)


def test_opset_choice_and_errors(tmp_path):
    gn = L.Sequential(L.GroupNorm(2, 4))
    assert fonnx.required_opset(gn) == 21
    assert fonnx.required_opset(L.Sequential(L.GELU(), L.ReLU())) == 20
    with pytest.raises(ValueError, match=r"opset 20 is too low .* needs >= 21"):
        fonnx.export(gn, tmp_path / "g.onnx", input_shape=(4, 3, 3), opset=20)
    path = fonnx.export(L.Sequential(L.ReLU()), tmp_path / "r.onnx", input_shape=(3,), opset=21)
    assert {o.domain: o.version for o in onnx.load(path).opset_import}[""] == 21

    class Mine(L.Layer):
        def forward(self, x):
            return x

    with pytest.raises(ValueError, match=r"layer 1 \(Mine\) is not supported; exportable"):
        fonnx.export(L.Sequential(L.ReLU(), Mine()), tmp_path / "x.onnx", input_shape=(3,))
    with pytest.raises(ValueError, match="pass input_shape"):
        fonnx.export(L.Sequential(L.ReLU()), tmp_path / "x.onnx")


def test_missing_onnx_is_a_clear_import_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ImportError, match=r"pip install fastnn\[onnx\]"):
        fonnx.export(L.Sequential(L.ReLU()), tmp_path / "x.onnx", input_shape=(3,))


def test_cli_export(tmp_path, capsys):
    from fastnn.cli import main
    model = models.ThreeLayerConvNet((1, 8, 8), num_filters=3, filter_size=3, hidden_dim=5,
                                     num_classes=3, seed=0)
    ck = model.save(tmp_path / "m.npz")
    assert main(["export", "--checkpoint", ck, "--output", str(tmp_path / "m.onnx")]) == 0
    assert "opset 17" in capsys.readouterr().out
    x = np.random.default_rng(0).standard_normal((2, 1, 8, 8)).astype(np.float32)
    np.testing.assert_allclose(_run(tmp_path / "m.onnx", x), model.loss(x), rtol=1e-4, atol=1e-5)
    assert main(["export", "--checkpoint", ck, "--output", str(tmp_path / "m.onnx"),
                 "--opset", "5"]) != 0
    assert "opset 5 is too low" in capsys.readouterr().err

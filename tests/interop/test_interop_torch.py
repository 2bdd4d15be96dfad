"""PyTorch weights in and out (fastnn.interop): the committed fixture without torch, and the
PyTorch twins compared in eval mode when torch is installed."""
import pathlib

import numpy as np
import pytest

pytest.importorskip("safetensors")

from safetensors.numpy import load_file  # noqa: E402

from fastnn import interop, layers as L, models  # noqa: E402
from fastnn.checkpoint import CheckpointError  # noqa: E402

DATA = pathlib.Path(__file__).resolve().parent / "fixtures"


def fastnn_twin(dtype=np.float32):
    """The fastnn twin of tests/interop/fixtures/make_torch_fixture.py's torch_twin()."""
    return L.Sequential(
        L.Conv2d(2, 4, 3, padding=1, seed=0, dtype=dtype), L.BatchNorm2d(4, dtype=dtype),
        L.PReLU(4, dtype=dtype), L.MaxPool2d(2),
        L.Conv2d(4, 4, 3, padding=1, groups=2, seed=0, dtype=dtype), L.GroupNorm(2, 4, dtype=dtype),
        L.GELU(), L.AvgPool2d(2), L.Flatten(), L.Linear(4, 6, seed=0, dtype=dtype),
        L.LayerNorm(6, dtype=dtype), L.BatchNorm1d(6, dtype=dtype), L.PReLU(dtype=dtype),
        L.Linear(6, 3, seed=0, dtype=dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fixture_loads_and_matches_torch_logits(dtype):
    io = np.load(DATA / "torch_twin_io.npz")
    net = interop.load_torch(fastnn_twin(dtype), DATA / "torch_twin.safetensors").eval()
    out = net.forward(io["x"].astype(dtype))
    np.testing.assert_allclose(out, io["logits"], rtol=1e-5, atol=1e-5)


def test_fixture_round_trips_through_save_torch(tmp_path):
    net = interop.load_torch(fastnn_twin(), DATA / "torch_twin.safetensors")
    path = interop.save_torch(net, tmp_path / "out.safetensors")
    ours, theirs = load_file(path), load_file(DATA / "torch_twin.safetensors")
    assert sorted(ours) == sorted(theirs)                 # the twin's state_dict names
    for k in theirs:
        assert ours[k].shape == theirs[k].shape and ours[k].dtype == theirs[k].dtype, k
        np.testing.assert_array_equal(ours[k], theirs[k])
    assert interop.torch_names(net)["9.weight"] == (6, 4)


def test_mismatches_name_layer_tensor_and_shapes(tmp_path):
    src = DATA / "torch_twin.safetensors"
    wrong = fastnn_twin()
    wrong.layers[9] = L.Linear(4, 7, seed=0)
    wrong = L.Sequential(wrong.layers[:10] + [L.LayerNorm(7), L.BatchNorm1d(7), L.PReLU(),
                                              L.Linear(7, 3, seed=0)])
    before = wrong.params["0.w"].copy()
    with pytest.raises(CheckpointError, match=r"layer 9 \(Linear\): tensor 9.weight has shape "
                                              r"\(6, 4\) .*expected \(7, 4\) \(PyTorch's \(out, "
                                              r"in\) layout"):
        interop.load_torch(wrong, src)
    np.testing.assert_array_equal(wrong.params["0.w"], before)          # nothing copied
    short = L.Sequential(fastnn_twin().layers[:4])
    with pytest.raises(CheckpointError, match=r"holds 10 modules with tensors .* but the model "
                                              r"has 3 layers with parameters"):
        interop.load_torch(short, src)
    swapped = fastnn_twin()
    swapped.layers[1] = L.LayerNorm(4)
    swapped = L.Sequential(swapped.layers)
    with pytest.raises(CheckpointError, match=r"layer 1 \(LayerNorm\) expects tensors \['bias', "
                                              r"'weight'\] but module '1'"):
        interop.load_torch(swapped, src)
    with pytest.raises(ValueError, match=r"save_torch: layer 0 \(Maxout\) has no PyTorch"):
        interop.save_torch(L.Sequential(L.Maxout(3, 2)), tmp_path / "m.safetensors")
    with pytest.raises(ValueError, match="must end in .safetensors"):
        interop.save_torch(fastnn_twin(), tmp_path / "m.pt")


# ------------------------------------------------------------------ with torch

def _twins(torch, nn):
    """(fastnn model, PyTorch twin) pairs, with random weights on the torch side."""
    fc = models.FullyConnectedNet([20, 16], input_dim=12, num_classes=5,
                                  normalization="batchnorm", dropout=0.2, seed=0)
    fc_t = nn.Sequential(nn.Linear(12, 20), nn.BatchNorm1d(20), nn.ReLU(), nn.Dropout(0.2),
                         nn.Linear(20, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.2),
                         nn.Linear(16, 5))
    conv = models.ThreeLayerConvNet((3, 8, 8), num_filters=6, filter_size=5, hidden_dim=10,
                                    num_classes=4, seed=0)
    conv_t = nn.Sequential(nn.Conv2d(3, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                           nn.Flatten(), nn.Linear(6 * 16, 10), nn.ReLU(), nn.Linear(10, 4))
    vgg = models.SmallVGG((3, 8, 8), channels=(4, 4, 8, 8), num_classes=4, seed=0)
    vgg_t = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
        nn.Conv2d(4, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(4, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32, 4))
    acts = L.Sequential(L.Conv2d(3, 4, 3, stride=2, padding=1, dilation=1, seed=0), L.LeakyReLU(0.1),
                        L.Conv2d(4, 4, 3, padding=2, dilation=2, groups=4, seed=0), L.ELU(0.7),
                        L.GlobalAvgPool2d(), L.Linear(4, 8, seed=0), L.SELU(),
                        L.Linear(8, 8, seed=0), L.GELU(), L.Linear(8, 8, seed=0), L.SiLU(),
                        L.Linear(8, 8, seed=0), L.Tanh(), L.Linear(8, 8, seed=0), L.Sigmoid(),
                        L.Linear(8, 8, seed=0), L.Softplus(), L.Linear(8, 3, bias=False, seed=0))
    acts_t = nn.Sequential(nn.Conv2d(3, 4, 3, stride=2, padding=1), nn.LeakyReLU(0.1),
                           nn.Conv2d(4, 4, 3, padding=2, dilation=2, groups=4), nn.ELU(0.7),
                           nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten()),
                           nn.Linear(4, 8), nn.SELU(),
                           nn.Linear(8, 8), nn.GELU(), nn.Linear(8, 8), nn.SiLU(),
                           nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 8), nn.Sigmoid(),
                           nn.Linear(8, 8), nn.Softplus(), nn.Linear(8, 3, bias=False))
    return [("fc", fc, fc_t, (12,)), ("convnet", conv, conv_t, (3, 8, 8)),
            ("vgg", vgg, vgg_t, (3, 8, 8)), ("activations", acts, acts_t, (3, 8, 8))]


@pytest.mark.parametrize("which", ["fc", "convnet", "vgg", "activations"])
def test_torch_twin_both_directions(which, tmp_path, rng):
    torch = pytest.importorskip("torch")
    from safetensors.torch import load_file as torch_load, save_file
    nn = torch.nn
    torch.manual_seed(0)
    _, model, twin, shape = next(t for t in _twins(torch, nn) if t[0] == which)
    with torch.no_grad():
        for p in twin.parameters():
            p.copy_(torch.randn_like(p) * 0.3)
        for m in twin.modules():
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                m.running_mean.copy_(torch.randn_like(m.running_mean) * 0.2)
                m.running_var.copy_(torch.rand_like(m.running_var) + 0.5)
    twin.eval()
    x = rng.standard_normal((4,) + shape).astype(np.float32)
    with torch.inference_mode():
        expected = twin(torch.from_numpy(x)).numpy()
    # PyTorch -> fastnn
    save_file(twin.state_dict(), str(tmp_path / "t.safetensors"))
    interop.load_torch(model, tmp_path / "t.safetensors")
    model.eval()
    np.testing.assert_allclose(model.forward(x), expected, rtol=1e-4, atol=1e-5)
    # fastnn -> PyTorch: strict load_state_dict into a freshly initialised twin
    interop.save_torch(model, tmp_path / "f.safetensors")
    fresh = twin
    with torch.no_grad():
        for v in fresh.state_dict().values():
            v.zero_()
    fresh.load_state_dict(torch_load(str(tmp_path / "f.safetensors")), strict=True)
    fresh.eval()
    with torch.inference_mode():
        np.testing.assert_allclose(fresh(torch.from_numpy(x)).numpy(), expected, rtol=1e-4,
                                   atol=1e-5)

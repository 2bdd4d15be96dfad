"""Regenerates torch_twin.safetensors and torch_twin_io.npz (run once with torch installed):
a small PyTorch nn.Sequential with every mapped layer kind, its state_dict as safetensors, an
input batch and the eval-mode logits.  tests/test_interop_torch.py builds the fastnn twin
(`fastnn_twin()` there) and checks it against these files without importing torch.

    python tests/data/make_torch_fixture.py
"""
import pathlib

import numpy as np
import torch
from safetensors.torch import save_file
from torch import nn

HERE = pathlib.Path(__file__).resolve().parent


def torch_twin():
    return nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.PReLU(4), nn.MaxPool2d(2),
        nn.Conv2d(4, 4, 3, padding=1, groups=2), nn.GroupNorm(2, 4), nn.GELU(), nn.AvgPool2d(2),
        nn.Flatten(), nn.Linear(4, 6), nn.LayerNorm(6), nn.BatchNorm1d(6), nn.PReLU(),
        nn.Linear(6, 3))


def main():
    torch.manual_seed(0)
    net = torch_twin()
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn_like(p) * 0.5 + (0.3 if p.ndim == 1 else 0.0))
        for m in net.modules():
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                m.running_mean.copy_(torch.randn_like(m.running_mean) * 0.2)
                m.running_var.copy_(torch.rand_like(m.running_var) + 0.5)
    net.eval()
    x = torch.randn(5, 2, 4, 4)
    with torch.no_grad():
        logits = net(x)
    save_file(net.state_dict(), str(HERE / "torch_twin.safetensors"))
    np.savez(HERE / "torch_twin_io.npz", x=x.numpy(), logits=logits.numpy())


if __name__ == "__main__":
    main()

"""Bench rows: one training step (forward + softmax loss + backward + SGD-momentum update),
float32, the same architecture, batch and optimiser in fastnn and PyTorch eager, with their
performance targets.  (No NumPy-reference column: the reference is per op, not per network.)"""
import numpy as np

from fastnn.benchmarks import harness
from fastnn import layers as L
from fastnn import optim


def _torch_net(torch, spec):
    nn = torch.nn
    mods = []
    for kind, *a in spec:
        mods.append({"linear": lambda i, o: nn.Linear(i, o), "relu": lambda: nn.ReLU(),
                     "bn1d": lambda c: nn.BatchNorm1d(c), "bn2d": lambda c: nn.BatchNorm2d(c),
                     "dropout": lambda p: nn.Dropout(p), "flatten": lambda: nn.Flatten(),
                     "conv": lambda i, o, k, p: nn.Conv2d(i, o, k, padding=p),
                     "maxpool": lambda: nn.MaxPool2d(2)}[kind](*a))
    return nn.Sequential(*mods)


def _fastnn_net(spec, rng):
    layers = []
    for kind, *a in spec:
        layers.append({"linear": lambda i, o: L.Linear(i, o, seed=rng), "relu": lambda: L.ReLU(),
                       "bn1d": lambda c: L.BatchNorm1d(c), "bn2d": lambda c: L.BatchNorm2d(c),
                       "dropout": lambda p: L.Dropout(p, seed=0), "flatten": lambda: L.Flatten(),
                       "conv": lambda i, o, k, p: L.Conv2d(i, o, k, padding=p, seed=rng),
                       "maxpool": lambda: L.MaxPool2d(2)}[kind](*a))
    return L.Sequential(layers)


def _setup(spec, xshape, classes, lr=1e-2):
    def setup(torch):
        rng = np.random.default_rng(0)
        x = rng.standard_normal(xshape, dtype=np.float32)
        y = rng.integers(0, classes, xshape[0])
        net = _fastnn_net(spec, rng)
        opt = optim.SGD(net, lr=lr, momentum=0.9)
        steps = {"fastnn": harness.training_step(net, opt, x, y)}
        if torch is not None:
            tnet = _torch_net(torch, spec)
            topt = torch.optim.SGD(tnet.parameters(), lr=lr, momentum=0.9)
            tx, ty = torch.from_numpy(x), torch.from_numpy(y)
            F = torch.nn.functional

            def tstep():
                loss = F.cross_entropy(tnet(tx), ty)
                topt.zero_grad()
                loss.backward()
                topt.step()
                return loss
            steps["torch"] = tstep
        return steps
    return setup


MLP = [("linear", 64, 128), ("relu",), ("linear", 128, 10)]
FC = ([("linear", 3072, 100), ("bn1d", 100), ("relu",), ("dropout", 0.5)]
      + [("linear", 100, 100), ("bn1d", 100), ("relu",), ("dropout", 0.5)] * 3
      + [("linear", 100, 10)])
CONVNET = [("conv", 3, 32, 7, 3), ("relu",), ("maxpool",), ("flatten",), ("linear", 32 * 16 * 16, 100),
           ("relu",), ("linear", 100, 10)]
VGG = ([("conv", 3, 64, 3, 1), ("bn2d", 64), ("relu",), ("conv", 64, 64, 3, 1), ("bn2d", 64), ("relu",),
        ("maxpool",), ("conv", 64, 128, 3, 1), ("bn2d", 128), ("relu",), ("conv", 128, 128, 3, 1),
        ("bn2d", 128), ("relu",), ("maxpool",), ("flatten",), ("linear", 128 * 8 * 8, 10)])

WORKLOADS = [
    harness.Workload("train step MLP 64-128-10, batch 32", _setup(MLP, (32, 64), 10), target=0.5),
    harness.Workload("train step FC 3072-100x4-10 BN+ReLU+dropout, batch 200",
                     _setup(FC, (200, 3072), 10), target=0.8),
    harness.Workload("train step ThreeLayerConvNet 3x32x32, batch 50", _setup(CONVNET, (50, 3, 32, 32), 10),
                     target=1.0),
    harness.Workload("train step small VGG (64,64,128,128)+BN, batch 64", _setup(VGG, (64, 3, 32, 32), 10),
                     target=1.3),
]

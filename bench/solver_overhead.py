"""What does the Solver cost over a hand-written loop, and how does an epoch compare with PyTorch's?

(a) One Solver iteration (sample a batch + forward + loss + backward + fused update, through
    ``Solver._step``) against the hand-written loop doing the same with the same fused
    optimiser (``idx = rng.choice(...)``; ``scores = model.forward(X[idx])``;
    ``softmax_loss``; ``opt.zero_grad()``; ``model.net.backward(dscores,
    need_input_grad=False)``; ``opt.step()``: the loop minus the Solver), Adam, for
    FullyConnectedNet (3072-100x4-10, batch norm, dropout 0.5, batch 200) and
    ThreeLayerConvNet (batch 50).  Target: <= 1.05x.
(b) One epoch of ``Solver.train()`` on 4900 CIFAR-shaped samples (FullyConnectedNet above,
    Adam, batch 200, accuracy on 1000 train + 1000 val samples; the Solver checks accuracy
    after its first iteration and at the epoch end) against the idiomatic PyTorch loop:
    ``DataLoader(TensorDataset(X, y), batch_size=200, shuffle=True)``, the same network
    (Linear-BatchNorm1d-ReLU-Dropout x4, Linear), Adam, ``cross_entropy``, accuracy on the
    same 1000 + 1000 samples once per epoch.  Target: <= 0.6x.

    python bench/solver_overhead.py [--threads 2] [--reps 15]

Float32, the same thread count for fastnn and torch, medians of interleaved repetitions
(the two sides of a comparison alternate rep by rep, so machine noise falls on both alike).
A benchmark, not a test: nothing here asserts a time.
"""
import argparse
import os
import platform

import numpy as np

import fastnn
from fastnn import ops, optim
from fastnn.models import FullyConnectedNet, ThreeLayerConvNet
from fastnn.benchmarks import harness
from fastnn.solver import Solver


def _data(n, shape, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, *shape), dtype=np.float32),
            rng.integers(0, 10, n).astype(np.int64))


def _fcnet(seed=0):
    return FullyConnectedNet([100] * 4, input_dim=3 * 32 * 32, num_classes=10,
                             dropout=0.5, normalization="batchnorm",
                             weight_scale=5e-2, seed=seed)


def iteration_overhead(name, model_fn, X, y, batch, iters, reps):
    data = {"X_train": X, "y_train": y, "X_val": X[:10], "y_val": y[:10]}
    solver = Solver(model_fn(), data, update_rule="adam", optim_config={"lr": 1e-4},
                    batch_size=batch, verbose=False, seed=0)
    model = model_fn()
    opt = optim.Adam(model.params, lr=1e-4, grads=model.grads)
    rng = np.random.default_rng(0)
    N = len(X)

    def hand():
        for _ in range(iters):
            idx = rng.choice(N, batch, replace=False)
            model.train()
            scores = model.forward(X[idx])
            loss, dscores = ops.softmax_loss(scores, y[idx])
            opt.zero_grad()
            model.net.backward(dscores, need_input_grad=False)   # as Model.loss does
            opt.step()

    def solver_steps():
        for t in range(iters):
            solver._step(t)

    hand()
    solver_steps()                                         # warm-up: buffers, tables, caches
    t_hand, t_solver = harness.interleaved_medians([hand, solver_steps], reps)
    return name, t_solver / iters, t_hand / iters


def epoch_vs_torch(X, y, Xv, yv, reps, threads):
    import torch
    torch.set_num_threads(threads)
    batch = 200

    def fastnn_epoch():
        s = Solver(_fcnet(), {"X_train": X, "y_train": y, "X_val": Xv, "y_val": yv},
                   update_rule="adam", optim_config={"lr": 1e-3}, batch_size=batch,
                   num_epochs=1, num_train_samples=1000, verbose=False, seed=0)
        s.train()

    tX, ty = torch.from_numpy(X.reshape(len(X), -1)), torch.from_numpy(y)
    tXv, tyv = torch.from_numpy(Xv.reshape(len(Xv), -1)), torch.from_numpy(yv)
    gen = torch.Generator().manual_seed(0)

    def torch_epoch():
        torch.manual_seed(0)
        layers, d = [], 3072
        for _ in range(4):
            layers += [torch.nn.Linear(d, 100), torch.nn.BatchNorm1d(100), torch.nn.ReLU(),
                       torch.nn.Dropout(0.5)]
            d = 100
        net = torch.nn.Sequential(*layers, torch.nn.Linear(100, 10))
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(tX, ty),
                                             batch_size=batch, shuffle=True, generator=gen)
        net.train()
        for xb, yb in loader:
            loss = torch.nn.functional.cross_entropy(net(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
        net.eval()
        with torch.no_grad():
            idx = torch.randperm(len(tX), generator=gen)[:1000]
            (net(tX[idx]).argmax(1) == ty[idx]).float().mean().item()
            (net(tXv).argmax(1) == tyv).float().mean().item()

    fastnn_epoch()
    torch_epoch()
    t_f, t_t = harness.interleaved_medians([fastnn_epoch, torch_epoch], reps)
    return t_f, t_t


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--skip-torch", action="store_true")
    args = ap.parse_args()
    fastnn.set_num_threads(args.threads)
    print(f"fastnn {fastnn.__version__}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, {args.threads} threads, float32, median of {args.reps} "
          "interleaved reps")
    try:
        from threadpoolctl import threadpool_info
        print("threadpools:", [(p["internal_api"], p["num_threads"]) for p in threadpool_info()])
    except ImportError:
        pass

    X, y = _data(4900, (3, 32, 32))
    print("\n(a) Solver iteration vs hand-written loop, fused Adam (target <= 1.05x)")
    print(f"{'model':<44}{'Solver ms':>11}{'hand ms':>10}{'ratio':>8}")
    for name, fn, batch, iters in [
            ("FullyConnectedNet 3072-100x4-10 BN+dropout, b200", _fcnet, 200, 10),
            ("ThreeLayerConvNet, b50", lambda: ThreeLayerConvNet(seed=0), 50, 3)]:
        _, ts, th = iteration_overhead(name, fn, X, y, batch, iters, args.reps)
        print(f"{name:<44}{ts * 1e3:>11.3f}{th * 1e3:>10.3f}{ts / th:>8.3f}")

    if args.skip_torch:
        return
    try:
        import torch  # noqa: F401
    except ImportError:
        print("\n(b) skipped: torch is not installed")
        return
    Xv, yv = _data(1000, (3, 32, 32), seed=1)
    t_f, t_t = epoch_vs_torch(X, y, Xv, yv, max(5, args.reps // 3), args.threads)
    print("\n(b) one epoch, 4900 CIFAR-shaped samples, FullyConnectedNet, Adam, batch 200 "
          "(target <= 0.6x)")
    print(f"{'':<44}{'fastnn s':>11}{'torch s':>10}{'ratio':>8}")
    print(f"{'Solver.train() vs DataLoader loop':<44}{t_f:>11.3f}{t_t:>10.3f}{t_f / t_t:>8.3f}")


if __name__ == "__main__":
    main()

"""Peak memory of a search on a large training set: 2 workers against one process.

    PYTHONPATH=. python bench/search_memory.py [--n 20000]

Trains an mlp on random (N, 3, 32, 32) float32 images (the user's arrays through
``make_train_fn(data=...)``), one epoch per trial, 4 trials.  Samples, every 20 ms, the
proportional set size (PSS, /proc/PID/smaps_rollup: shared pages split among the processes
that map them) summed over this process and its descendants, and reports the peak for
``n_jobs=1`` and ``n_jobs=2`` (loky workers memory-map the training set written once as
.npy), and what 2 workers with a private copy each would add.  Linux only.
"""
import argparse
import os
import threading
import time

import numpy as np

from fastnn import tune


def _children(pid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == pid:
                out.append(int(d))
    return out


def _tree(pid):
    todo, seen = [pid], []
    while todo:
        p = todo.pop()
        seen.append(p)
        todo += _children(p)
    return seen


def _pss(pid, field="Pss"):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class Peak:
    def __init__(self):
        self.peak, self._stop = 0, False
        self.t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        me = os.getpid()
        self.parts = {}
        while not self._stop:
            tree = _tree(me)
            total = sum(_pss(p) for p in tree)
            if total > self.peak:
                self.peak = total
                self.parts = {"this process": _pss(me),
                              "workers, private": sum(_pss(p, "Pss_Anon") for p in tree[1:]),
                              "workers, shared files": sum(_pss(p, "Pss_File") for p in tree[1:])}
            time.sleep(0.02)

    def __enter__(self):
        self.t.start()
        return self

    def __exit__(self, *exc):
        self._stop = True
        self.t.join()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=20000)
    a = p.parse_args()
    rng = np.random.default_rng(0)
    X = rng.standard_normal((a.n, 3, 32, 32), dtype=np.float32)
    y = rng.integers(0, 10, a.n)
    nv = a.n // 10
    data = {"X_train": X[nv:], "y_train": y[nv:], "X_val": X[:nv], "y_val": y[:nv]}
    size = data["X_train"].nbytes
    fn = tune.make_train_fn("mlp", epochs=1, batch_size=200, data=data, preprocess="none")
    space = {"lr": tune.loguniform(1e-4, 1e-2), "hidden": [64]}
    print(f"training set {size / 2**20:.0f} MiB ({a.n - nv} x 3 x 32 x 32 float32)")
    base = sum(_pss(p) for p in _tree(os.getpid()))
    print(f"before the searches (this process, data loaded): {base / 2**20:.0f} MiB")
    res = {}
    for n_jobs in (1, 2):
        with Peak() as pk:
            tune.random_search(fn, space, 4, seed=0, n_jobs=n_jobs)
        res[n_jobs] = pk.peak
        parts = ", ".join(f"{k} {v / 2**20:.0f}" for k, v in pk.parts.items())
        print(f"n_jobs={n_jobs}: peak PSS of the process tree {pk.peak / 2**20:.0f} MiB ({parts})")
    print(f"2 workers / 1 process: {res[2] / res[1]:.2f}x; a private copy per worker would "
          f"add about {2 * size / 2**20:.0f} MiB more")


if __name__ == "__main__":
    main()

"""ASHA against running every config to the end, and Dask (2 workers) against one process.

    PYTHONPATH=. python bench/search_asha.py [--trials 64] [--epochs 16] [--skip-dask]

On the built-in digits: a space over lr, reg, dropout, hidden width and depth (an mlp),
``--trials`` sampled configs of up to ``--epochs`` epochs, ASHA with eta=3.  Prints the
training epochs and best validation accuracy of the ASHA search and of the same configs
run to the end (same seed: same configs and trial seeds), and the wall time of the ASHA
search on a 2-worker Dask LocalCluster against n_jobs=1.  Records the machine and threads.
"""
import argparse
import os
import platform
import time

from fastnn import tune


def space():
    return {"lr": tune.loguniform(1e-4, 1e-1), "reg": tune.loguniform(1e-6, 1e-2),
            "dropout": tune.uniform(0.0, 0.5), "width": tune.choice([32, 64, 128, 256]),
            "depth": tune.randint(1, 4)}


class SleepTrial:
    """Sleeps 25 ms per epoch (about a digits mlp epoch) instead of training: the wall time of
    a search with it measures the scheduling and the backend, not the cores' contention."""

    epochs = 16

    def run(self, config, seed, until=None, state=None, diverge_factor=3.0):
        end = self.epochs if until is None else until
        time.sleep(0.025 * (end - (state or 0)))
        hist = [config["q"] * (1 - 0.5 ** (e + 1)) for e in range(end)]
        return ({"val_acc": max(hist), "val_acc_history": hist, "epochs_trained": end},
                end if end < self.epochs else None)

    def __call__(self, config, seed):
        return self.run(config, seed)[0]


def summary(r):
    epochs = sum(t["metrics"].get("epochs_trained", 0) for t in r.trials)
    best = r.best_trial["metrics"]["val_acc"]
    return epochs, best


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--trials", type=int, default=64)
    p.add_argument("--epochs", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--skip-dask", action="store_true")
    a = p.parse_args()
    fn = tune.make_train_fn("mlp", epochs=a.epochs, batch_size=50)
    from threadpoolctl import threadpool_info
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"blas: {[(i['internal_api'], i['num_threads']) for i in threadpool_info()]}")
    print(f"digits, mlp, {a.trials} configs, up to {a.epochs} epochs, seed {a.seed}; "
          f"load average {os.getloadavg()[0]:.1f} (2 cores shared with other jobs)")

    t0 = time.perf_counter()
    asha = tune.random_search(fn, space(), a.trials, seed=a.seed, scheduler=tune.ASHA(eta=3))
    t_asha = time.perf_counter() - t0
    t0 = time.perf_counter()
    full = tune.random_search(fn, space(), a.trials, seed=a.seed)
    t_full = time.perf_counter() - t0
    (e_a, b_a), (e_f, b_f) = summary(asha), summary(full)
    n_ok = sum(t["status"] == "ok" for t in asha.trials)
    print(f"{'':24s}{'epochs':>8s}{'best val acc':>14s}{'wall s':>9s}")
    print(f"{'every config to the end':24s}{e_f:8d}{b_f:14.4f}{t_full:9.1f}")
    print(f"{'ASHA eta=3':24s}{e_a:8d}{b_a:14.4f}{t_asha:9.1f}")
    print(f"ASHA / full: {e_a / e_f:.3f}x the epochs, best val acc {100 * (b_a - b_f):+.2f} points "
          f"({n_ok} configs ran to epoch {a.epochs}); same best config: "
          f"{asha.best_trial['trial'] == full.best_trial['trial']}")
    if a.skip_dask:
        return
    from distributed import Client, LocalCluster
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        tune.random_search(fn, {"lr": 1e-3}, 2, seed=1, client=client)     # warm the workers
        sp = {"q": tune.uniform(0, 1)}
        t0 = time.perf_counter()
        tune.random_search(SleepTrial(), sp, a.trials, seed=a.seed, scheduler="asha", client=client)
        t_sleep_dask = time.perf_counter() - t0
        t0 = time.perf_counter()
        dask = tune.random_search(fn, space(), a.trials, seed=a.seed, scheduler=tune.ASHA(eta=3),
                                  client=client)
        t_dask = time.perf_counter() - t0
    same = [(t["trial"], t["status"], t["metrics"]) for t in dask.trials] == \
        [(t["trial"], t["status"], t["metrics"]) for t in asha.trials]
    t0 = time.perf_counter()
    tune.random_search(fn, space(), a.trials, seed=a.seed, scheduler=tune.ASHA(eta=3))
    t_one = time.perf_counter() - t0                   # n_jobs=1 again, right after
    t0 = time.perf_counter()
    tune.random_search(SleepTrial(), sp, a.trials, seed=a.seed, scheduler="asha")
    t_sleep_one = time.perf_counter() - t0
    print(f"ASHA on a 2-worker Dask LocalCluster: {t_dask:.1f} s vs n_jobs=1 {t_asha:.1f} s "
          f"before and {t_one:.1f} s after: {t_dask / min(t_asha, t_one):.2f}x to "
          f"{t_dask / max(t_asha, t_one):.2f}x; identical table: {same}; load average "
          f"{os.getloadavg()[0]:.1f}")
    print(f"the same ASHA schedule with a trial that sleeps 25 ms per epoch (no CPU): Dask "
          f"{t_sleep_dask:.1f} s vs n_jobs=1 {t_sleep_one:.1f} s: {t_sleep_dask / t_sleep_one:.2f}x")


if __name__ == "__main__":
    import sys

    import cloudpickle
    cloudpickle.register_pickle_by_value(sys.modules["__main__"])      # SleepTrial to workers
    main()

"""Hyperparameter search: random search, grid search, coarse-to-fine, early stopping of bad trials.

The lecture's advice as a tool: sample the learning rate and the
regularisation in log space, prefer random search to grid search, search
coarse (many short trials, wide ranges) then fine (fewer, longer trials,
narrower ranges), and watch for a best value on the edge of its range.

    from fastnn import tune
    space = {"lr": tune.loguniform(1e-5, 1e-1), "reg": tune.loguniform(1e-5, 1e-1)}
    train_fn = tune.make_train_fn("convnet", epochs=2)
    result = tune.random_search(train_fn, space, n_trials=50, seed=0, n_jobs=2)
    result.best_config, result.table(top=10)
    result.to_csv("results.csv"); result.plot("plots/")

A **space** is a dict name -> one of :func:`loguniform`, :func:`uniform`,
:func:`choice`, :func:`randint`, :func:`grid`, or a :func:`conditional`
dimension (sampled only when earlier parameters have given values); any other
value is a constant passed to every trial unchanged.  :func:`load_space` reads
one from a TOML or JSON file.

**Early stopping** (``scheduler="asha"`` or ``"median"``, :class:`ASHA`,
:class:`MedianStop`): the epoch is the resource; trials train in segments
between milestones and the bad ones stop there, with decisions that do not
depend on timing (see :mod:`fastnn.tune._schedulers`).  ``sampler="tpe"``
lets Optuna's TPE sampler propose the configs (:mod:`fastnn.tune._samplers`).

A **trial function** is ``train_fn(config, seed) -> dict of metrics`` (the
search maximises ``metric``, ``"val_acc"`` by default).  It must be
picklable to run in worker processes: a module-level function or a small
class such as the one :func:`make_train_fn` returns.

Seeding: trial ``i`` of a search gets ``numpy.random.SeedSequence(seed)``'s
``i``-th spawned child (``SeedSequence([seed, s])``'s for stage s of a
coarse-to-fine search); the child spawns two: its configuration is sampled
from the first, its integer ``seed`` (passed to ``train_fn``) drawn from the
second, so a trial's config and seed depend only on ``(seed, stage, i)``, never
on scheduling order, ``n_jobs`` or the number of trials.

Failure isolation: a trial whose function raises, or whose metrics' loss
history holds a non-finite value or a loss above ``diverge_factor`` (3) times
the first loss, is recorded with ``status="failed"`` and its error text; the
search goes on.

Parallel execution (``n_jobs``, ``backend``, ``client``, ``dask_scheduler``):

* ``n_jobs=1`` (default) runs trials one after another in this process;
* ``n_jobs=N > 1`` runs them in N joblib (loky) worker processes;
* ``backend="dask"``, ``client=<dask.distributed.Client>`` or
  ``dask_scheduler="tcp://host:8786"`` runs them on a Dask cluster with
  ``client.submit`` (results are collected as they complete).  Dask is an
  optional extra (``pip install fastnn[distributed]``), imported only then.

A trial function with ``shared_data()`` (:class:`TrainFn`) has its training
set shared by the workers, not copied into each: memory-mapped ``.npy`` files
for joblib processes, scattered once for Dask (:mod:`fastnn.tune._data`).

In every case each trial runs with fastnn's threads and the BLAS threads
limited to ``max(1, cores // concurrent trials on that machine)`` (set with
:func:`fastnn.set_num_threads` and ``threadpoolctl.threadpool_limits``, and
restored afterwards), so trials never oversubscribe the cores;
``threads_per_trial`` overrides it.  On a Dask worker each trial also undoes,
while it runs, the nanny's ``MALLOC_TRIM_THRESHOLD_=65536`` (which made
glibc mmap every array over 128 KiB afresh, and trials 2x slower).

A trial that kills its worker process is a failed trial on Dask (the
scheduler reports it); with joblib processes it stops the search (joblib's
``TerminatedWorkerError``), the trials finished so far being in the results
file for a resume.

Resume: with ``results_path=`` the search writes its results file (JSON)
after every finished trial; when the file exists at the start, trials it
holds with the same stage, index, config and seed (finished: ``ok``,
``stopped`` or ``failed``) are taken from it and not run again.

Modules: ``_spaces`` (dimensions, files), ``_trials`` (seeds, one trial's
execution), ``_results`` (:class:`SearchResult`), ``_backends`` (this process,
joblib, Dask), ``_data`` (the shared training set), ``_schedulers`` (ASHA, the
median rule), ``_samplers`` (random, TPE), ``_strategies`` (the searches),
``_train`` (:class:`TrainFn`).
"""
from fastnn.tune._results import SearchResult
from fastnn.tune._schedulers import ASHA, MedianStop
from fastnn.tune._spaces import (Space, choice, conditional, grid, load_space, loguniform,
                                 parse_space, randint, space_from_dict, uniform)
from fastnn.tune._strategies import coarse_to_fine, grid_search, random_search
from fastnn.tune._train import TrainFn, make_train_fn

__all__ = ["loguniform", "uniform", "choice", "randint", "grid", "Space",
           "random_search", "grid_search", "coarse_to_fine",
           "SearchResult", "make_train_fn", "TrainFn", "parse_space", "conditional",
           "load_space", "space_from_dict", "ASHA", "MedianStop"]

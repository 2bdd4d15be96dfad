"""fastnn: a fast CPU neural-network library.

Where to start:

* ``fastnn train`` on the command line trains a model on the built-in digits
  (or a CIFAR-10 / MNIST folder) and saves it; ``fastnn --help`` lists the
  other commands (predict, evaluate, lrfind, search, diagnose, bench, ...).
* In Python, build a network with :mod:`fastnn.models` (``make_model``,
  ``ThreeLayerConvNet``, ...) or from :mod:`fastnn.layers` (``Sequential``,
  ``Conv2d``, ``Linear``, ``ReLU``, ...), train it on your NumPy arrays with
  :class:`fastnn.Solver`, save and reload it with :mod:`fastnn.checkpoint`.
* :mod:`fastnn.data` loads datasets and augments batches; :mod:`fastnn.optim`
  and :mod:`fastnn.schedules` hold the optimisers and learning-rate schedules.
* Underneath, :mod:`fastnn.ops` is the functional layer
  (``out, cache = relu_forward(x)``, ``dx = relu_backward(dout, cache)``) over
  compiled Cython + OpenMP kernels with runtime-dispatched SIMD, and
  :mod:`fastnn.reference` their plain NumPy twins.
"""
__version__ = "0.1.0"

import os as _os

# OpenMP wait policy.  libgomp reads it once, when the first kernel module loads it (just
# below).  Its default lets an idle worker spin for a while at every barrier; on a machine
# whose cores are busy with other processes, a spinning thread keeps its core while the
# thread it waits for is not scheduled, and each parallel region can stall for a time slice
# (measured: 2-thread `fastnn train` 50 s spinning vs 2.9 s passive on a loaded 2-core VM).
# Unless the user chose (OMP_WAIT_POLICY or GOMP_SPINCOUNT set), fastnn's runtime starts
# passive; the variable is removed again afterwards, so other libraries and child processes
# see the environment unchanged.  See README, "Threads".
_PASSIVE_BY_FASTNN = not ({"OMP_WAIT_POLICY", "GOMP_SPINCOUNT"} & set(_os.environ))
if _PASSIVE_BY_FASTNN:
    _os.environ["OMP_WAIT_POLICY"] = "passive"
try:
    from fastnn import _dispatch  # noqa: F401  (fails early, with a clear message, if not built)
finally:
    if _PASSIVE_BY_FASTNN:
        _os.environ.pop("OMP_WAIT_POLICY", None)
from fastnn._config import (buffer_cache_info, config, get_num_threads,
                            get_parallel_threshold, parallel_thresholds, set_buffer_cache,
                            set_num_threads, set_parallel_threshold, show_config)
from fastnn import ops, reference
from fastnn import callbacks, layers, models, optim, schedules  # noqa: E402  (fastnn.models etc.)
from fastnn.solver import Solver
from fastnn.models import load
from fastnn import inference

__all__ = ["ops", "reference", "layers", "models", "optim", "schedules", "callbacks", "Solver",
           "load", "inference", "show_config", "config", "get_num_threads",
           "set_num_threads", "set_buffer_cache", "buffer_cache_info", "set_parallel_threshold",
           "get_parallel_threshold", "parallel_thresholds", "__version__"]

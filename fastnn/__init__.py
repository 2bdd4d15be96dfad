"""fastnn: a fast CPU neural-network library.

Compiled Cython + OpenMP kernels (runtime-dispatched SIMD) under a small,
readable Python layer.  Start with ``fastnn.ops`` (functional forward/backward
pairs) and ``fastnn.reference`` (their plain NumPy twins).
"""
__version__ = "0.1.0"

from fastnn import _dispatch  # noqa: F401  (fails early, with a clear message, if not built)
from fastnn._config import (buffer_cache_info, config, get_num_threads, set_buffer_cache,
                            set_num_threads, show_config)
from fastnn import ops, reference
from fastnn.solver import Solver

__all__ = ["ops", "reference", "Solver", "show_config", "config", "get_num_threads",
           "set_num_threads", "set_buffer_cache", "buffer_cache_info", "__version__"]

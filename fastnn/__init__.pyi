from fastnn import ops as ops, reference as reference
from fastnn import (callbacks as callbacks, layers as layers, models as models, optim as optim,
                    schedules as schedules)
from fastnn._config import (buffer_cache_info as buffer_cache_info, config as config,
                            get_num_threads as get_num_threads,
                            get_parallel_threshold as get_parallel_threshold,
                            parallel_thresholds as parallel_thresholds,
                            set_buffer_cache as set_buffer_cache,
                            set_num_threads as set_num_threads,
                            set_parallel_threshold as set_parallel_threshold,
                            show_config as show_config)
from fastnn.solver import Solver as Solver
from fastnn.models import load as load
from fastnn import inference as inference

__all__ = ["ops", "reference", "layers", "models", "optim", "schedules", "callbacks", "Solver",
           "load", "inference", "show_config", "config", "get_num_threads",
           "set_num_threads", "set_buffer_cache", "buffer_cache_info", "set_parallel_threshold",
           "get_parallel_threshold", "parallel_thresholds", "__version__"]

__version__: str

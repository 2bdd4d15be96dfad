from fastnn.data import datasets as datasets
from fastnn.data.datasets import BUILTIN as BUILTIN, DatasetError as DatasetError, load_builtin as load_builtin

# datasets only so far; preprocess, augment and loader are read from their source
__all__ = ["DatasetError", "BUILTIN", "load_builtin"]

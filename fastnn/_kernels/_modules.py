"""The compiled modules of ``fastnn._kernels``: the one list that setup.py builds and
``fastnn._dispatch`` loads.

setup.py reads this file before fastnn is built (``runpy.run_path``, no package import), so
it holds literals only.  Adding a kernel family is one line in ``KERNEL_MODULES``.
"""

#: Kernel families, each compiled once per SIMD target as ``<name>_<target>``.
KERNEL_MODULES = (
    "activations",
    "affine",
    "normalization",
    "dropout",
    "losses",
    "conv",
    "pooling",
    "optim",
    "augment",
    "winograd",
)

#: Compiled once with the baseline flags: they must import on every CPU.
RUNTIME_MODULES = (
    "_runtime",
    "_buffers",
)

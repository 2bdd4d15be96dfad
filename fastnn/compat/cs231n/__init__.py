"""The CS231n assignment-2 modules on fastnn's kernels: a drop-in ``cs231n`` package.

=================  ==========================================================
layers             affine, relu, batch/layer/group norm, dropout, naive conv
                   and pooling, softmax and SVM losses
fast_layers        conv_forward_fast, max_pool_forward_fast, ... (fastnn's kernels)
layer_utils        the sandwich layers (affine_relu_*, conv_relu_pool_*, ...)
optim              the update rules sgd, sgd_momentum, rmsprop, adam
solver             the Solver
classifiers        fc_net (TwoLayerNet, FullyConnectedNet), cnn (ThreeLayerConvNet)
=================  ==========================================================

Import these instead of the course's files (``from fastnn.compat.cs231n.layers
import *``), or call :func:`install` once before the notebook's own imports:
``from cs231n.layers import *`` then loads these modules.  See ``docs/cs231n.md``.
"""
import importlib
import sys

__all__ = ["install", "MODULES"]

#: The course's modules this package provides, relative to the package.
MODULES = ("layers", "fast_layers", "layer_utils", "optim", "solver", "classifiers",
           "classifiers.fc_net", "classifiers.cnn")


def install(name="cs231n"):
    """Make ``import <name>.layers`` (and the other :data:`MODULES`) load fastnn's modules.

    Registers each of :data:`MODULES` in ``sys.modules`` under ``name`` (e.g.
    ``cs231n.layers``) and as an attribute of the ``name`` package.  When a
    package ``name`` can be imported (the course's folder, for its
    ``data_utils``, ``gradient_check``, ...), its other modules stay the
    course's; otherwise this package stands in for it.  Call it before the
    course's modules are imported; returns the ``name`` package.
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"install: name must be a Python identifier, got {name!r}")
    try:
        package = importlib.import_module(name)
    except ImportError:
        package = sys.modules[__name__]
        sys.modules[name] = package
    for sub in MODULES:
        module = importlib.import_module(f"{__name__}.{sub}")
        sys.modules[f"{name}.{sub}"] = module
        parent = f"{name}.{sub.rpartition('.')[0]}" if "." in sub else name
        setattr(sys.modules[parent], sub.rpartition(".")[2], module)
    return package

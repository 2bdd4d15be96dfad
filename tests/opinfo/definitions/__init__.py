"""The OpInfo of every public op, one module per family, gathered in :data:`OPS`.

A new op goes into the module of its family (or a new module listed in ``FAMILIES``);
``tests/ops/test_opinfo.py::test_registry_covers_every_public_op`` fails until every public
forward, loss and augmentation has an entry.
"""
from . import activations, affine, augment, conv, dropout, losses, normalization, optim, pooling

FAMILIES = (activations, affine, normalization, dropout, losses, conv, pooling, optim, augment)

#: every entry of every family, in the order of FAMILIES
OPS = [op for family in FAMILIES for op in family.OPS]

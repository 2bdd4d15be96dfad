"""Compatibility packages: other code bases' APIs running on fastnn's kernels.

=========  =================================================================
cs231n     the CS231n assignment-2 modules (``layers``, ``fast_layers``,
           ``layer_utils``, ``optim``, ``solver``, ``classifiers.fc_net``,
           ``classifiers.cnn``) with the course's names, signatures and
           conventions; see ``docs/cs231n.md``
=========  =================================================================
"""

__all__ = []

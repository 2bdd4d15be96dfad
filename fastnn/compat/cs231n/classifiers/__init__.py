"""The course's ``cs231n.classifiers`` (assignment 2): ``fc_net`` and ``cnn``."""
from fastnn.compat.cs231n.classifiers import cnn, fc_net
from fastnn.compat.cs231n.classifiers.cnn import ThreeLayerConvNet
from fastnn.compat.cs231n.classifiers.fc_net import FullyConnectedNet, TwoLayerNet

__all__ = ["TwoLayerNet", "FullyConnectedNet", "ThreeLayerConvNet", "fc_net", "cnn"]

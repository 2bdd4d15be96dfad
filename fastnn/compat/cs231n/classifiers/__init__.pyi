from fastnn.compat.cs231n.classifiers import cnn as cnn, fc_net as fc_net
from fastnn.compat.cs231n.classifiers.cnn import ThreeLayerConvNet as ThreeLayerConvNet
from fastnn.compat.cs231n.classifiers.fc_net import FullyConnectedNet as FullyConnectedNet, TwoLayerNet as TwoLayerNet

__all__ = ["TwoLayerNet", "FullyConnectedNet", "ThreeLayerConvNet", "fc_net", "cnn"]

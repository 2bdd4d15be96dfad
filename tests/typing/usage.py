"""fastnn's public API used the way README shows it; `.ci/typecheck` runs mypy over it.

Not a test module (pytest does not collect it): it is type-checked, never run.
The annotated assignments pin the types the stubs promise; the
``# type: ignore[...]`` lines are misuses the stubs must reject (mypy runs with
--warn-unused-ignores, so a stub that stopped rejecting one fails the check).
"""
from typing import Any

import numpy as np
from numpy.typing import NDArray

import fastnn
from fastnn import checkpoint, gradcheck, init, ops, optim, reference
from fastnn import layers as L
from fastnn.data import datasets
from fastnn.models import FullyConnectedNet, Model, SmallVGG, ThreeLayerConvNet, TwoLayerNet
from fastnn.models import make_model as models_make
from fastnn.ops import Cache

rng = np.random.default_rng(0)
x = rng.standard_normal((64, 128)).astype(np.float32)

# ---- functional ops (README "Quick start")
out, cache = ops.gelu_forward(x, approximate="tanh")
dx: NDArray[Any] = ops.gelu_backward(np.ones_like(out), cache)
c: Cache = cache
out, cache = ops.prelu_forward(x, alpha=np.full(128, 0.25, np.float32))
dx, dalpha = ops.prelu_backward(np.ones_like(out), cache)
out, cache = ops.relu_forward(x, out=x)

w = rng.standard_normal((128, 10)).astype(np.float32)
b = np.zeros(10, np.float32)
scores, cache = ops.affine_forward(x, w, b)
y = rng.integers(0, 10, 64)
loss, dscores = ops.softmax_loss(scores, y)
lossf: float = loss
dx, dw, db = ops.affine_backward(dscores, cache)
g, bt = np.ones(128, np.float32), np.zeros(128, np.float32)
rm, rv = np.zeros(128, np.float32), np.ones(128, np.float32)
out, cache = ops.batchnorm_forward(x, g, bt, rm, rv, training=True)
dx, dgamma, dbeta = ops.batchnorm_backward(out, cache)
out, cache = ops.dropout_forward(x, p=0.5, training=True, seed=123)
loss, dlogits = ops.bce_with_logits_loss(scores, (scores > 0).astype(np.float32))

img = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
cw = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
out, cache = ops.conv_forward(img, cw, None, stride=1, pad=1, dilation=1, groups=1)
dx, dw, db = ops.conv_backward(out, cache)
out, cache = ops.max_pool_forward(out, pool_height=2, pool_width=2, stride=2)
dx = ops.max_pool_backward(out, cache)
ho_wo: tuple[int, int] = ops.conv_output_shape(img.shape, cw.shape, pad=1)

# reference twins: same signatures, tuple caches
rout, rcache = reference.gelu_forward(x, approximate="tanh")
rdx: NDArray[Any] = reference.gelu_backward(np.ones_like(rout), rcache)

# ---- configuration
fastnn.show_config()
fastnn.set_num_threads(1)
nthreads: int = fastnn.get_num_threads()
conf: dict[str, Any] = fastnn.config()
fastnn.set_buffer_cache(64 << 20)
hits: int = fastnn.buffer_cache_info()["hits"]
version: str = fastnn.__version__

# ---- layers, optimisers and the canonical step (README "Layers, models, training")
xi = rng.standard_normal((64, 3, 32, 32), dtype=np.float32)
net = L.Sequential(L.Conv2d(3, 32, 3, pad=1, rng=rng), L.BatchNorm2d(32), L.ReLU(), L.MaxPool2d(2),
                   L.Flatten(), L.Dropout(0.5, seed=1), L.Linear(32 * 16 * 16, 10, rng=rng))
opt = optim.SGD(net, lr=1e-2, momentum=0.9)
scores = net.forward(xi)
loss, dscores = ops.softmax_loss(scores, y)
opt.zero_grad()
net.backward(dscores)
opt.step()
net = net.train().eval()
first: L.Layer = net[0]
weights: dict[str, NDArray[Any]] = net.params
adam = optim.Adam([(w, dw)], lr=1e-3)
sched = optim.CosineAnnealingLR(adam, T_max=10)
lr: float = sched.step()
state = adam.state_dict()
adam.load_state_dict(state)
next_w, config = optim.adam(w, dw, {"learning_rate": 1e-3})
next_w, config = optim.RULES["sgd"](next_w, dw, config)

# ---- the course's models and the Solver
model = ThreeLayerConvNet(weight_scale=1e-3, reg=1e-3, seed=0)
data = {"X_train": xi, "y_train": y, "X_val": xi, "y_val": y}
solver = fastnn.Solver(model, data, update_rule="adam", optim_config={"learning_rate": 1e-3},
                       batch_size=32, num_epochs=2, seed=0)
solver.train()
acc: float = solver.check_accuracy(xi, y)
best: float = solver.best_val_acc
history: list[float] = solver.loss_history
path: str = model.save("convnet.npz")
meta: dict[str, Any] = model.load("convnet.npz")
model_scores: NDArray[Any] = model.loss(xi)
model_loss, grads = model.loss(xi, y)
models: list[Model] = [TwoLayerNet(seed=0), FullyConnectedNet([100, 100], normalization="batchnorm"),
                       SmallVGG(residual=True, drop_prob=0.1), Model(net, reg=1e-4)]

# ---- init, checkpoints, gradient checks, data
w2 = init.kaiming_normal(np.empty((128, 64), np.float32), rng, nonlinearity="relu")
w2 = init.orthogonal(w2, rng)
gain: float = init.calculate_gain("leaky_relu", 0.2)
saved: str = checkpoint.save_params("params.npz", {"W1": w2}, meta={"epoch": 1})
arrays, meta = checkpoint.load_params("params.npz")
into, meta = checkpoint.load_params("params.npz", into={"W1": w2})
num = gradcheck.eval_numerical_gradient_array(lambda v: ops.relu_forward(v)[0], x, dx)
err: float = gradcheck.rel_error(num, dx)
errors: dict[str, float] = gradcheck.check_model_gradients(TwoLayerNet(), xi[:2], y[:2])
digits = datasets.load_builtin("digits", seed=0)
mlp: Model = models_make("mlp", (1, 8, 8), 10, hidden_dims=(32,), normalization="batchnorm", seed=0)
layer_errors: dict[str, float] = gradcheck.check_layer_gradients(L.Linear(4, 3, dtype=np.float64),
                                                                 rng.standard_normal((2, 4)))
streams: dict[str, np.random.Generator] = L.generators(net)
run: dict[str, Any] = solver.history()
try:
    checkpoint.load_params("missing.npz")
except checkpoint.CheckpointError as exc:
    message: str = str(exc)

# ---- misuses the stubs reject
ops.relu_backward(dx, ("not", "a", "cache"))  # type: ignore[arg-type]
fastnn.set_num_threads("two")  # type: ignore[arg-type]
L.Linear(3, 4, bias="yes")  # type: ignore[arg-type]
fastnn.Solver(model, data, batch_sise=32)  # type: ignore[call-arg]
bad_loss: str = ops.softmax_loss(scores, y)[0]  # type: ignore[assignment]
init.normal(w2, 0)  # type: ignore[arg-type]

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
from fastnn import checkpoint, data, diagnose, gradcheck, init, ops, optim, reference, tune
from fastnn import architecture, inference, interop
from fastnn import onnx as fonnx
from fastnn import layers as L
from fastnn.data import augment as A
from fastnn.data import datasets
from fastnn.data.augment import MixedLabels
from fastnn.models import make_model
from fastnn.monitor import Monitor, activation_stats, iter_layers
from fastnn.plots import plot_history, plot_loss, plot_lrfind, smooth
from fastnn import sanity
from fastnn.lrfind import lrfind, suggest_lr
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
net = L.Sequential(L.Conv2d(3, 32, 3, padding=1, seed=rng), L.BatchNorm2d(32), L.ReLU(), L.MaxPool2d(2),
                   L.Flatten(), L.Dropout(0.5, seed=1), L.Linear(32 * 16 * 16, 10, seed=rng))
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
splits = {"X_train": xi, "y_train": y, "X_val": xi, "y_val": y}
solver = fastnn.Solver(model, splits, update_rule="adam", lr=1e-3,
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

# ---- models that travel (docs/interop.md)
model.preprocessor = data.make_preprocessor("standardize").fit(xi)
st_path: str = model.save("convnet.safetensors")
whole: Model = fastnn.load(st_path)
labels: NDArray[np.int64] = whole.predict(xi, batch_size=64)
proba: NDArray[Any] = whole.predict_proba(xi)
table: str = whole.summary()
shape_known: tuple[int, ...] | None = whole.input_shape
desc: dict[str, Any] = architecture.describe(whole)
rebuilt = architecture.build(desc)
torch_file: str = interop.save_torch(whole, "twin.safetensors")
same_model: Model = interop.load_torch(whole, torch_file)
names: dict[str, tuple[int, ...]] = interop.torch_names(whole)
onnx_path: str = fonnx.export(whole, "model.onnx", input_shape=(3, 32, 32), opset=17)
opset: int = fonnx.required_opset(whole)
fast: inference.InferenceModel = fastnn.inference.optimize(whole)
fast_scores: NDArray[Any] = fast(xi)
fast_labels: NDArray[np.int64] = fast.predict(xi)
whole.predict(xi, batch_size="64")  # type: ignore[arg-type]

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

# ---- data: datasets, preprocessing, augmentation, batches (README "Data")
d = data.load_builtin("digits")
pre = data.Standardize().fit(d["X_train"])
for k in ("X_train", "X_val", "X_test"):
    d[k] = pre.transform(d[k])
xf32: NDArray[np.float32] = pre.transform(xi)
xf64: NDArray[np.float64] = pre.transform(xi.astype(np.float64))
xfl: NDArray[np.floating[Any]] = pre.transform(np.zeros((4, 3, 32, 32), np.uint8))
back: NDArray[np.float32] = pre.inverse_transform(xf32)
pca: data.PCA = data.make_preprocessor("pca", n_components=16, whiten=True)
feats: NDArray[np.float32] = pca.fit_transform(xi)
components: NDArray[np.float64] = pca.components_
zca: data.ZCAWhitening = data.make_preprocessor("whiten", eps=1e-2)
ident: data.Identity = data.make_preprocessor(None)
same_ints: NDArray[np.uint8] = ident.transform(np.zeros((2, 3), np.uint8))
anyprep: data.Preprocessor = data.make_preprocessor("standardize" if nthreads else "pca")
prep_path: str = data.save_preprocessor("prep.npz", pre)
pre2: data.Preprocessor = data.load_preprocessor(prep_path)
state_arrays, state_meta = pre.get_state()
pre3: data.Standardize = data.Standardize.from_state(state_arrays, state_meta)
fitted: bool = pre3.fitted
cnn = make_model("convnet", (1, 8, 8), 10, reg=1e-3, seed=0)
solver = fastnn.Solver(cnn, d, update_rule="adam", lr=1e-3,
                       batch_size=32, num_epochs=20, lr_decay=0.95, seed=0,
                       augment=data.from_spec("crop,flip"), monitor=True)
solver = fastnn.Solver(cnn, d, augment=[A.RandomCrop(padding=None), A.Cutout(4), A.Mixup(0.2)],
                       monitor=Monitor(probe_size=64))
solver.train()
print(solver.check_accuracy(d["X_test"], d["y_test"]))
pngs: list[str] = plot_history(solver.history(), "out/")
loss_png: str = plot_loss(solver.loss_history, "loss.png")
smoothed: NDArray[np.float64] = smooth(solver.loss_history, 10)

Xa: NDArray[np.float32] = A.hflip(A.random_crop(xi, padding=4, seed=1), seed=2)
Xb: NDArray[np.float64] = A.color_jitter(xi.astype(np.float64), 0.4, 0.4, 0.4, seed=3, clip=(0, 1))
Xa = A.random_resized_crop(xi, scale=(0.5, 1.0), size=(24, 24), seed=4)
Xa = A.cutout(xi, size=None, seed=5)
Xm, mixed = A.mixup(xi, y, alpha=0.2, seed=6)
lam: float = mixed.lam
model_loss, grads = model.loss(Xm, mixed)
pipeline = A.from_spec("crop,flip,jitter,cutout")
Xa, ya = A.apply(pipeline, xi, np.zeros(64, np.int64), np.random.default_rng(0))
Xa, no_labels = A.RandomCrop(padding=2)(xi, seed=7)
Xa, y_kept = A.HorizontalFlip(0.5)(xi, y, seed=8)
labels_kept: NDArray[Any] = y_kept
Xa, mixed = A.Mixup(0.4)(xi, y, seed=9)
step_names: list[str] = list(A.SPEC_NAMES)


def my_step(batch: NDArray[Any], labels: Any, seed: int) -> tuple[NDArray[Any], Any]:
    return batch[:, :, ::-1], labels


Xa, ya = A.apply([my_step, A.HorizontalFlip()], xi, y, np.random.default_rng(1))
ref_crop: NDArray[np.float32] = reference.random_crop(xi, padding=4, seed=1)
loader = data.BatchLoader(xi, y, batch_size=16, augment="crop,flip", seed=0)
n_batches: int = len(loader)
for epoch in range(2):
    for Xbatch, ybatch in loader:
        batch: NDArray[Any] = Xbatch
        if isinstance(ybatch, MixedLabels):
            lam = ybatch.lam

# ---- monitor and diagnose (README "Babysitting training")
mon = Monitor()
before = {k: v.copy() for k, v in model.params.items()}
mon.observe_update(model, grads, before)
record = mon.observe_epoch(model, xi, epoch=1)
print(mon.summary(record))
dead: float | None = record["activations"]["3:ReLU"]["dead_fraction"]
ratio: float | None = mon.updates["W1"]["update_ratio"]
history_records: int = len(mon.history)
for path_name, layer in iter_layers(net):
    stats = activation_stats(xi, net.forward(xi), layer)
    act_std: float = stats["std"]
results: dict[str, dict[str, Any]] = diagnose.run("init-tanh", outdir="docs")
tanh = diagnose.init_tanh(seed=0, inits=("xavier", "he"))
print(diagnose.format_result(tanh))
flow = diagnose.gradient_flow(activations=["sigmoid", "relu"], outdir=None)
advice_lines: list[str] = Monitor.advice(record, dead_threshold=0.3)

# ---- sanity checks and the learning-rate range test (docs/babysitting.md)
report = sanity.check(model, splits, update_rule="adam", optim_config={"learning_rate": 1e-3})
report_ok: bool = report.ok
overfit_its: int | None = report.overfit_iterations
first_check: sanity.SanityCheck = report["initial_loss"]
chance: float = sanity.expected_initial_loss(10, "svm")
found = lrfind(model, splits, update_rule="sgd_momentum", num_iter=100, path="lrfind.png")
suggested: float = found.suggested_lr
why: str = found.reason
dead_at_rates: list[float | None] = found.worst_dead()
png_path: str = plot_lrfind(found.to_dict(), "again.png")
lr_pick, lr_reason, lr_info = suggest_lr(found.lrs, found.smoothed, rule="steepest")

# ---- hyperparameter search (README "Hyperparameter search")
space = {"lr": tune.loguniform(1e-5, 1e-1), "reg": tune.loguniform(1e-5, 1e-1)}
train_fn = tune.make_train_fn("convnet", epochs=2)
result = tune.coarse_to_fine(train_fn, space, stages=[(30, 1), (10, 4)], seed=0, n_jobs=2)
print(result.best_config, result.table(top=10))
csv_path: str = result.to_csv("results.csv")
plot_paths: list[str] = result.plot("plots/")
result = tune.random_search(train_fn, space, n_trials=50, seed=0, n_jobs=2,
                            results_path="search.json", progress=True)
result = tune.grid_search(train_fn, {"lr": tune.grid([1e-3, 1e-2]), "epochs": 1})
result = tune.SearchResult.from_json("search.json")
best_run = result.best_trial
if best_run is not None:
    best_status: str = best_run["status"]
    best_metrics: dict[str, Any] = best_run["metrics"]


def my_trial(config: dict[str, Any], seed: int) -> dict[str, float]:
    return {"val_acc": float(config["lr"]) * seed}


result = tune.random_search(my_trial, tune.parse_space(["lr=loguniform:1e-5:1e-1"]), 5,
                            callback=lambda trial: print(trial["trial"]))
metrics = train_fn({"lr": 1e-3}, 0)
val_acc: float = metrics["val_acc"]

# ---- early stopping, conditional spaces, TPE, any data (docs/search.md)
space2 = {"optimizer": tune.choice(["adam", "sgd_momentum"]),
          "momentum": tune.conditional(tune.uniform(0.5, 0.99), optimizer=["sgd_momentum"]),
          "dropout": tune.uniform(0.0, 0.5), "depth": tune.randint(1, 4)}
result = tune.random_search(train_fn, space2, 27, scheduler=tune.ASHA(eta=3), sampler="tpe")
result = tune.coarse_to_fine(train_fn, space, scheduler=["asha", None], dask_scheduler=None)
result = tune.random_search(train_fn, space, 9, scheduler="median", n_jobs=2)
file_space: dict[str, Any] = tune.load_space("space.toml")
seg_metrics, seg_state = train_fn.run({"lr": 1e-3}, 0, until=1)
curve: list[float] = seg_metrics["val_acc_history"]
mine = tune.make_train_fn("mlp", data={"X_train": x, "y_train": y, "X_val": x, "y_val": y})

# ---- misuses the stubs reject
ops.relu_backward(dx, ("not", "a", "cache"))  # type: ignore[arg-type]
fastnn.set_num_threads("two")  # type: ignore[arg-type]
L.Linear(3, 4, bias="yes")  # type: ignore[arg-type]
fastnn.Solver(model, splits, batch_sise=32)  # type: ignore[call-arg]
lrfind(model, splits, rule="fastest")  # type: ignore[arg-type]
sanity.check(model, splits, loss="hinge")  # type: ignore[arg-type]
bad_loss: str = ops.softmax_loss(scores, y)[0]  # type: ignore[assignment]
init.normal(w2, 0)  # type: ignore[arg-type]
tune.random_search(train_fn, space, n_trials=5, n_job=2)  # type: ignore[call-arg]
A.hflip(xi, p="half")  # type: ignore[call-overload]
not_pca: data.Standardize = data.make_preprocessor("pca")  # type: ignore[assignment]
data.BatchLoader(xi, y, augment=42)  # type: ignore[arg-type]

"""fastnn.inference.optimize: eval-only copies with batch norm folded, equal to the eval output."""
import numpy as np
import pytest

from fastnn import data, inference, layers as L, models


def _stats(model, rng):
    for k, v in model.buffers.items():
        v[...] = rng.uniform(0.5, 2.0, v.shape) if k.endswith("var") else rng.normal(0, 0.3, v.shape)
    for k, v in model.params.items():
        if k.startswith(("gamma", "beta")) or ".gamma" in k or ".beta" in k:
            v[...] = rng.normal(1.0 if "gamma" in k else 0.0, 0.3, v.shape)
    return model


CASES = {
    "convnet": (lambda: models.ThreeLayerConvNet((3, 16, 16), num_filters=8, filter_size=5,
                                                 hidden_dim=20, weight_scale=0.1, seed=0), (3, 16, 16)),
    "vgg + BN": (lambda: models.SmallVGG((3, 16, 16), channels=(8, 8, 16, 16), seed=0), (3, 16, 16)),
    "vgg residual": (lambda: models.SmallVGG((3, 8, 8), channels=(4, 4, 8, 8), residual=True,
                                             drop_prob=0.3, seed=0), (3, 8, 8)),
    "fc + BN + dropout": (lambda: models.FullyConnectedNet(
        [30, 20, 10], input_dim=48, normalization="batchnorm", dropout=0.5,
        weight_scale=0.1, seed=0), (48,)),
    "fc + LN": (lambda: models.FullyConnectedNet([30, 20], input_dim=48, normalization="layernorm",
                                                 weight_scale=0.1, seed=0), (48,)),
    "mixed": (lambda: models.Model(L.Sequential(
        L.Conv2d(3, 6, 3, stride=2, padding=1, groups=3, bias=False, seed=0), L.BatchNorm2d(6),
        L.LeakyReLU(0.1), L.Conv2d(6, 6, 3, padding=2, dilation=2, seed=1), L.ELU(0.5),
        L.MaxPool2d(2), L.ReLU(), L.GroupNorm(2, 6), L.PReLU(6), L.AvgPool2d(2),
        L.GlobalAvgPool2d(), L.DropConnect(6, 8, p=0.5, seed=2), L.Tanh(),
        L.Linear(8, 8, bias=False, seed=3), L.BatchNorm1d(8), L.Sigmoid(),
        L.Maxout(8, 5, k=2, seed=4), L.GELU(), L.Linear(5, 4, seed=5)),
        input_shape=(3, 16, 16)), (3, 16, 16)),
    "float64": (lambda: models.make_model("convnet", (2, 8, 8), 3, normalization="batchnorm",
                                          dtype=np.float64, seed=0), (2, 8, 8)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_optimized_equals_eval_output(case, rng):
    make, shape = CASES[case]
    model = _stats(make(), rng)
    fast = inference.optimize(model)
    for n in (1, 3, 7):
        x = rng.standard_normal((n,) + shape).astype(model.dtype)
        expected = model.loss(x)
        got = fast(x)
        assert got.dtype == model.dtype and got.shape == expected.shape
        tol = 1e-10 if model.dtype == np.float64 else 2e-5
        np.testing.assert_allclose(got, expected, rtol=tol * 10, atol=tol * np.abs(expected).max())
    # buffers reused: a second call with the same shape returns a fresh, equal array
    a = fast(x)
    b = fast(x)
    assert a is not b and not np.shares_memory(a, b)
    np.testing.assert_array_equal(a, b)


def test_batch_norm_is_folded_and_model_untouched(rng):
    model = _stats(models.SmallVGG((3, 8, 8), channels=(4, 4, 8, 8), seed=0), rng)
    before = {k: v.copy() for k, v in model.params.items()}
    model.train()
    fast = inference.optimize(model)
    names = [type(s).__name__ for s in fast.steps]
    assert names == ["_Conv", "_Conv", "_MaxPool", "_Conv", "_Conv", "_MaxPool", "_Flatten", "_Affine"]
    assert fast.steps[1].act is None and fast.steps[2].act is not None    # ReLU after the pool
    assert model.net.training                               # the model is left as it was
    for k, v in model.params.items():
        np.testing.assert_array_equal(v, before[k])
    model.params["W1"][...] = 0                             # the copy owns its weights
    x = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
    assert np.abs(fast(x)).max() > 0
    assert "8 steps" in repr(fast)


def test_no_backward_caches(rng):
    model = models.FullyConnectedNet([10], input_dim=6, normalization="layernorm", seed=0)
    fast = inference.optimize(model)
    fast(rng.standard_normal((4, 6)).astype(np.float32))
    for step in fast.steps:
        layer = getattr(step, "layer", None)
        assert layer is None or layer._cache is None


def test_predict_with_preprocessor(rng):
    model = models.ThreeLayerConvNet((1, 6, 6), num_filters=3, filter_size=3, hidden_dim=5,
                                     num_classes=4, weight_scale=0.5, seed=0)
    X = rng.standard_normal((9, 1, 6, 6)) * 5 + 3
    model.preprocessor = data.make_preprocessor("standardize").fit(X)
    fast = inference.optimize(model)
    np.testing.assert_array_equal(fast.predict(X, batch_size=4), model.predict(X))
    np.testing.assert_allclose(fast.predict_proba(X), model.predict_proba(X), rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError, match="InferenceModel.predict: batch_size must be >= 1"):
        fast.predict(X, batch_size=0)
    with pytest.raises(ValueError, match=r"must have shape \(N, ...\)"):
        fast(np.zeros(3, np.float32))


def test_batch_one_conv_slabs(rng):
    """Batch 1 splits the image into slabs of output rows (fixed by the shape) that threads
    take whole: the eval output, bit-identical for any thread count."""
    import fastnn
    before = fastnn.get_num_threads()
    try:
        for cfg in (dict(stride=1, padding=1), dict(stride=2, padding=3), dict(stride=3, dilation=2),
                    dict(padding=2, groups=2)):
            net = L.Sequential(L.Conv2d(4, 6, 3, seed=0, **cfg))
            x = rng.standard_normal((1, 4, 100, 96)).astype(np.float32)
            results = []
            for threads in (1, 2, 3):
                fastnn.set_num_threads(threads)
                fast = inference.optimize(net)
                results.append(fast(x).copy())
                plan = next(iter(fast.steps[0]._bufs.values()))
                parts = plan["slabs"][0].shape[0]
                assert parts >= 2 and plan["nt"] == min(threads, parts), cfg
            np.testing.assert_allclose(results[0], net.eval().forward(x), rtol=1e-5, atol=1e-5)
            for r in results[1:]:
                np.testing.assert_array_equal(r, results[0])
    finally:
        fastnn.set_num_threads(before)

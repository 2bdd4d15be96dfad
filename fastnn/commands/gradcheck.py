"""``fastnn gradcheck``: the lecture's gradient check over every layer (and the models).

Each layer is built in float64 with small random inputs; its backward pass
(``dx`` and every parameter gradient) is compared with centred differences of
``sum(forward(x) * dout)``; the models' whole-loss gradients likewise.  Prints
the relative error per layer and parameter; exits 1 when one exceeds ``--tol``.
"""
import numpy as np

from fastnn.commands import CommandError

HELP = "numerical gradient check of every layer and model; prints the relative errors"


def add_arguments(parser):
    parser.add_argument("--tol", type=float, default=1e-6,
                        help="largest relative error that passes (default: %(default)s)")
    parser.add_argument("--only", default="", metavar="TEXT",
                        help="check only the layers/models whose name contains TEXT")
    parser.add_argument("--no-models", dest="models", action="store_false",
                        help="layers only")
    parser.add_argument("--seed", type=int, default=0, help="default: %(default)s")


def layer_cases(rng):
    """(name, layer, input) for every layer type, float64, small."""
    from fastnn import layers as L
    f64 = np.float64

    def x(*shape):
        return rng.standard_normal(shape)

    kw = dict(seed=rng, dtype=f64)
    acts = [L.ReLU(), L.LeakyReLU(0.1), L.ELU(), L.SELU(), L.Sigmoid(), L.Tanh(), L.GELU(),
            L.GELU("tanh"), L.Softplus(), L.SiLU()]
    cases = [(repr(a), a, x(4, 6)) for a in acts]
    cases += [
        ("PReLU(per channel)", L.PReLU(3, dtype=f64), x(2, 3, 4, 4)),
        ("Linear(6, 5)", L.Linear(6, 5, **kw), x(4, 6)),
        ("Conv2d(3, 4, 3, padding=1)", L.Conv2d(3, 4, 3, padding=1, **kw), x(2, 3, 5, 5)),
        ("Conv2d(2, 4, 3, stride=2, groups=2)", L.Conv2d(2, 4, 3, stride=2, groups=2, **kw),
         x(2, 2, 7, 7)),
        ("MaxPool2d(2, 2)", L.MaxPool2d(2, 2), x(2, 3, 4, 4)),
        ("AvgPool2d(2, 2)", L.AvgPool2d(2, 2), x(2, 3, 4, 4)),
        ("GlobalAvgPool2d()", L.GlobalAvgPool2d(), x(2, 3, 4, 4)),
        ("BatchNorm1d(5)", L.BatchNorm1d(5, dtype=f64), x(6, 5)),
        ("BatchNorm2d(3)", L.BatchNorm2d(3, dtype=f64), x(4, 3, 3, 3)),
        ("LayerNorm(5)", L.LayerNorm(5, dtype=f64), x(4, 5)),
        ("GroupNorm(2, 4)", L.GroupNorm(2, 4, dtype=f64), x(3, 4, 3, 3)),
        ("Dropout(0.3)", L.Dropout(0.3, seed=1), x(4, 6)),
        ("DropConnect(6, 5, 0.3)", L.DropConnect(6, 5, 0.3, seed=rng, dtype=f64), x(4, 6)),
        ("Maxout(6, 4, k=2)", L.Maxout(6, 4, k=2, seed=rng, dtype=f64), x(4, 6)),
        ("Flatten()", L.Flatten(), x(2, 3, 2, 2)),
        ("Residual(Linear-ReLU-Linear)",
         L.Residual(L.Sequential(L.Linear(5, 5, **kw), L.ReLU(), L.Linear(5, 5, **kw))), x(4, 5)),
    ]
    # ties and kinks make a centred difference meaningless; keep inputs away from them
    for _, layer, inp in cases:
        if isinstance(layer, (L.ReLU, L.LeakyReLU, L.PReLU, L.MaxPool2d, L.Maxout)):
            inp += np.sign(inp) * 0.05
    return cases


def model_cases(rng):
    """(name, model, X, y) for the course's models, float64, tiny."""
    from fastnn import models as M
    f64 = np.float64
    X8 = rng.standard_normal((3, 1, 8, 8))
    y = np.array([0, 2, 1])
    return [
        ("TwoLayerNet", M.TwoLayerNet(64, 7, 3, weight_scale=0.3, reg=0.1, dtype=f64, seed=1),
         X8, y),
        ("FullyConnectedNet(batchnorm)",
         M.FullyConnectedNet([6, 5], 64, 3, normalization="batchnorm", reg=0.1, weight_scale=0.3,
                             dtype=f64, seed=2), X8, y),
        ("ThreeLayerConvNet", M.ThreeLayerConvNet((1, 8, 8), 3, 3, 6, 3, weight_scale=0.3,
                                                  reg=0.1, dtype=f64, seed=3), X8, y),
        ("make_model('convnet', layernorm)",
         M.make_model("convnet", (1, 8, 8), 3, hidden_dims=(6,), num_filters=3,
                      normalization="layernorm", reg=0.1, dtype=f64, seed=4), X8, y),
    ]


def run(args):
    from fastnn.gradcheck import check_layer_gradients, check_model_gradients
    if not (np.isfinite(args.tol) and args.tol > 0):
        raise CommandError(f"--tol must be a positive number, got {args.tol}")
    rng = np.random.default_rng(args.seed)
    rows = []
    for name, layer, x in layer_cases(rng):
        if args.only in name:
            rows.append(("layer", name, check_layer_gradients(layer, x, seed=args.seed)))
    if args.models:
        for name, model, X, y in model_cases(rng):
            if args.only in name:
                rows.append(("model", name, check_model_gradients(model, X, y)))
    if not rows:
        raise CommandError(f"--only {args.only!r} matches no layer or model")
    print(f"Gradient check, float64, centred differences (h = 1e-5); pass: relative error "
          f"<= {args.tol:g}\n")
    print(f"{'':6s}{'name':42s}{'worst':>11s}  {'':4s}  per tensor")
    failed = 0
    for kind, name, errors in rows:
        worst = max(errors.values())
        ok = worst <= args.tol
        failed += not ok
        detail = ", ".join(f"{k} {v:.1e}" for k, v in errors.items())
        print(f"{kind:6s}{name:42s}{worst:11.2e}  {'ok' if ok else 'FAIL':4s}  {detail}")
    print(f"\n{len(rows) - failed} of {len(rows)} passed")
    return 1 if failed else 0

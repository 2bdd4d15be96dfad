"""``fastnn evaluate``: accuracy (and per-class accuracy) of a saved model.

``--checkpoint`` is a model file or the output folder of ``fastnn train``.  The
samples are the test split of ``--dataset`` (default: the dataset the model was
trained on, read from the checkpoint's metadata, else ``digits``), or an
``--input X.npy`` with ``--labels y.npy``.  Inputs are raw: the model applies
its own preprocessing.
"""
import numpy as np

from fastnn.commands import CommandError
from fastnn.commands.predict import load_array, load_checkpoint

HELP = "accuracy of a saved model on a dataset's test split or on .npy inputs and labels"


def add_arguments(p):
    p.add_argument("--checkpoint", required=True, metavar="FILE|DIR",
                   help="model file, or the output folder of fastnn train")
    p.add_argument("--dataset", default=None, metavar="NAME|PATH",
                   help="built-in dataset name or CIFAR-10 / MNIST folder (default: the "
                        "training dataset recorded in the checkpoint)")
    p.add_argument("--input", default=None, metavar="X.npy", help="samples instead of a dataset")
    p.add_argument("--labels", default=None, metavar="Y.npy", help="integer labels of --input")
    p.add_argument("--batch-size", type=int, default=256, help="default: %(default)s")


def run(args):
    if args.batch_size < 1:
        raise CommandError(f"--batch-size must be >= 1, got {args.batch_size}")
    if (args.input is None) != (args.labels is None):
        raise CommandError("--input and --labels go together")
    if args.input is not None and args.dataset is not None:
        raise CommandError("give --dataset or --input/--labels, not both")
    model, meta = load_checkpoint(args.checkpoint)
    if args.input is not None:
        X, y = load_array(args.input, "--input"), load_array(args.labels, "--labels")
        source = args.input
    else:
        from fastnn.commands.train import load_dataset
        cfg = (meta or {}).get("config") or {}
        spec = args.dataset or cfg.get("dataset") or "digits"
        data = load_dataset(spec)
        X, y, source = data["X_test"], data["y_test"], f"{spec} (test split)"
    y = np.asarray(y)
    if y.ndim != 1 or y.dtype.kind not in "iu" or len(y) != len(X):
        raise CommandError(f"labels must be {len(X)} integers, got shape {y.shape} of {y.dtype}")
    try:
        pred = model.predict(X, batch_size=args.batch_size)
    except ValueError as exc:
        raise CommandError(f"{source}: {exc}") from None
    acc = float(np.mean(pred == y)) if len(y) else float("nan")
    print(f"{source}: {len(y)} samples, accuracy {acc:.4f}")
    for c in np.unique(y):
        sel = y == c
        print(f"  class {int(c)}: {int(sel.sum())} samples, accuracy {np.mean(pred[sel] == c):.4f}")
    return 0

"""``fastnn predict``: class predictions of a saved model for the samples in a ``.npy`` file.

``--checkpoint`` names a model file written by ``fastnn train`` / ``Model.save``
(``.npz`` or ``.safetensors``) or the output folder of ``fastnn train`` (its
``model.npz``).  The model's own preprocessing is applied to the raw input.
The predictions (int64 labels, or float probabilities with ``--proba``) go to
``--output`` as a ``.npy`` file, or are printed one per line.
"""
import os

import numpy as np

from fastnn.commands import CommandError

HELP = "predict classes (or probabilities) of a saved model for the samples in a .npy file"


def add_arguments(p):
    p.add_argument("--checkpoint", required=True, metavar="FILE|DIR",
                   help="model file, or the output folder of fastnn train")
    p.add_argument("--input", required=True, metavar="FILE.npy", help="samples, shape (N, ...)")
    p.add_argument("--output", default=None, metavar="FILE.npy",
                   help="where the predictions go (default: print them)")
    p.add_argument("--proba", action="store_true", help="class probabilities instead of labels")
    p.add_argument("--batch-size", type=int, default=256, help="default: %(default)s")


def load_checkpoint(spec):
    """``(model, meta)`` of a model file or of a ``fastnn train`` output folder."""
    from fastnn.checkpoint import CheckpointError, load_whole
    path = os.path.join(spec, "model.npz") if os.path.isdir(spec) else spec
    if not os.path.isfile(path):
        raise CommandError(f"--checkpoint: {spec!r} is neither a model file nor a folder "
                           "holding model.npz")
    try:
        return load_whole(path)
    except CheckpointError as exc:
        raise CommandError(f"--checkpoint: {exc}") from None


def load_array(path, what):
    """An ``.npy`` array (never unpickled); a CommandError naming the file if it is not one."""
    try:
        return np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise CommandError(f"{what}: {path}: no such file") from None
    except (OSError, ValueError) as exc:
        raise CommandError(f"{what}: {path}: not a readable .npy array ({exc})") from None


def run(args):
    if args.batch_size < 1:
        raise CommandError(f"--batch-size must be >= 1, got {args.batch_size}")
    model, _ = load_checkpoint(args.checkpoint)
    X = load_array(args.input, "--input")
    fn = model.predict_proba if args.proba else model.predict
    try:
        out = fn(X, batch_size=args.batch_size)
    except ValueError as exc:
        raise CommandError(f"--input {args.input}: {exc}") from None
    if args.output is None:
        for row in out:
            print(" ".join(f"{v:.6g}" for v in row) if args.proba else int(row))
    else:
        np.save(args.output, out)
        print(f"wrote {out.shape[0]} predictions to {args.output}")
    return 0

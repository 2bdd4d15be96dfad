"""``fastnn plot``: plot a history.json written by ``fastnn train``.

Writes loss.png (loss per iteration and its moving average), accuracy.png
(train / validation accuracy per epoch) and, when the history holds monitor
records, monitor.png (per layer over epochs: activation std, dead / saturated
fraction, update/weight ratio against the healthy 1e-3, gradient norms).
"""
import json
import os

from fastnn._files import NotRegularFileError, open_regular
from fastnn.commands import CommandError, output_dir

HELP = "plot a history.json written by fastnn train (loss, accuracy, monitor PNGs)"


def add_arguments(parser):
    parser.add_argument("history", metavar="HISTORY_JSON", help="the history.json to plot")
    parser.add_argument("--output-dir", default=None, metavar="DIR",
                        help="where the PNGs go (default: the folder of HISTORY_JSON)")


def load_history(path):
    """The history dict in ``path``; a CommandError naming the file if it is not one."""
    try:
        with open_regular(path, "r") as f:
            history = json.load(f)
    except FileNotFoundError:
        raise CommandError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise CommandError(f"{path}: is a directory, expected a history.json file") from None
    except NotRegularFileError as exc:
        raise CommandError(f"{path}: not a history.json file: {exc}") from None
    except OSError as exc:
        raise CommandError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CommandError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(history, dict):
        raise CommandError(f"{path}: expected a JSON object with loss_history, got a "
                           f"{type(history).__name__}")
    if "loss_history" not in history:
        raise CommandError(f"{path}: no 'loss_history' key; not a history.json written by "
                           "fastnn train")
    for key in ("loss_history", "train_acc_history", "val_acc_history", "monitor"):
        if key in history and history[key] is not None and not isinstance(history[key], list):
            raise CommandError(f"{path}: '{key}' must be a list, got a "
                               f"{type(history[key]).__name__}")
    for key in ("loss_history", "train_acc_history", "val_acc_history"):
        bad = [v for v in history.get(key) or []
               if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)))]
        if bad:
            raise CommandError(f"{path}: '{key}' must hold numbers, found {bad[0]!r}")
    return history


def run(args):
    from fastnn import plots
    history = load_history(args.history)
    outdir = args.output_dir
    if outdir is None:
        outdir = os.path.dirname(os.path.abspath(args.history))
    output_dir(outdir)
    for path in plots.plot_history(history, outdir):
        print(f"wrote {path}")
    return 0

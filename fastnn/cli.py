"""The ``fastnn`` command line (also ``python -m fastnn``).

    fastnn train       train a model on the built-in dataset (the main job)
    fastnn lrfind      learning-rate range test: a suggested rate, with dead units and update ratio
    fastnn predict     predictions of a saved model for the samples in a .npy file
    fastnn evaluate    accuracy of a saved model (a dataset's test split or .npy inputs)
    fastnn export      a saved model as an ONNX file
    fastnn diagnose    the lecture's initialisation / dead-ReLU / gradient-flow experiments
    fastnn plot        plot a history.json written by ``fastnn train``
    fastnn bench       fastnn vs its NumPy reference vs PyTorch, one side-by-side table
    fastnn gradcheck   numerical gradient check of every layer
    fastnn search      hyperparameter search (random, grid, coarse-to-fine)
    fastnn demo        activation statistics + speed vs the NumPy reference
    fastnn config      build and runtime configuration

``fastnn <command> --help`` lists each command's options.  A bad argument, an
unreadable path or an out-of-range value gets one line on stderr and a
non-zero exit status, never a traceback (``FASTNN_TRACEBACK=1`` shows it).
"""
import argparse
import importlib
import os
import re
import sys

from fastnn.commands import COMMANDS, CommandError

__all__ = ["main", "build_parser"]

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


_ROLE = re.compile(r":[a-z]+:`(~?)([^`<]*?)(?:\s*<[^>]*>)?`")


def _plain(text):
    """A docstring as terminal text: reStructuredText roles and literals without their markup
    (``:func:`fastnn.ops.relu_forward``` -> ``fastnn.ops.relu_forward``, ``:class:`~a.B``` ->
    ``B``, ````--lr```` -> ``--lr``)."""
    if not text:
        return text
    text = _ROLE.sub(lambda m: m.group(2).rsplit(".", 1)[-1] if m.group(1) else m.group(2), text)
    text = text.replace("``", "")
    return re.sub(r"(?<![\w`])`([^`\n]+)`(?![\w`])", r"\1", text)


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line: ``fastnn train: error: ...``."""

    def error(self, message):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser():
    """``(parser, modules)``: the ``fastnn`` argument parser and its command modules by name."""
    from fastnn import __version__
    parser = _Parser(prog="fastnn", description=_plain(__doc__),
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"fastnn {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    modules = {}
    for name, modname in COMMANDS.items():
        mod = importlib.import_module(f"fastnn.commands.{modname}")
        p = sub.add_parser(name, help=_plain(mod.HELP), description=_plain(mod.__doc__),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        mod.add_arguments(p)
        for action in p._actions:
            if action.help and action.help is not argparse.SUPPRESS:
                action.help = _plain(action.help)
        modules[name] = mod
    return parser, modules


def main(argv=None):
    """Run the command line; returns the exit status."""
    parser, modules = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    prog = f"fastnn {args.command}"
    try:
        return int(modules[args.command].run(args) or 0)
    except CommandError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except MemoryError as exc:
        # a size the commands' own estimates let through: one line, like a bad argument
        if os.environ.get("FASTNN_TRACEBACK", "") not in ("", "0"):
            raise
        print(f"{prog}: error: out of memory: {exc or 'MemoryError'}", file=sys.stderr)
        return EXIT_USAGE
    except (OSError, ValueError, TypeError, KeyError, FloatingPointError, OverflowError) as exc:
        # a library error caused by the user's input (a file, a value): one line, no
        # traceback (FASTNN_TRACEBACK=1 shows it, for debugging fastnn itself)
        if os.environ.get("FASTNN_TRACEBACK", "") not in ("", "0"):
            raise
        print(f"{prog}: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

"""The ``fastnn`` subcommands, one module each.

Each module defines ``HELP`` (one line), ``add_arguments(parser)`` and
``run(args) -> int`` (the exit status).  A command reports a bad argument,
an unreadable path or an out-of-range value by raising :class:`CommandError`;
:func:`fastnn.cli.main` prints it as one line and exits non-zero.
"""

import os

__all__ = ["CommandError", "COMMANDS", "output_dir"]

# name -> module under fastnn.commands, in the order ``fastnn --help`` lists them
COMMANDS = {
    "train": "train",
    "lrfind": "lrfind",
    "diagnose": "diagnose",
    "plot": "plot",
    "bench": "bench",
    "gradcheck": "gradcheck",
    "search": "search",
    "demo": "demo",
    "config": "config",
}


class CommandError(Exception):
    """A user error on the command line: printed as one line, exit status 2."""


def output_dir(path):
    """Create the folder ``--output-dir`` names (with its parents) and return it; a path that
    is a file or cannot be created is a CommandError."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise CommandError(f"--output-dir {path} exists and is not a directory")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise CommandError(f"cannot create --output-dir {path}: {exc.strerror or exc}") from None
    return path

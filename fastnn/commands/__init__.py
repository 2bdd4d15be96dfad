"""The ``fastnn`` subcommands, one module each.

Each module defines ``HELP`` (one line), ``add_arguments(parser)`` and
``run(args) -> int`` (the exit status).  A command reports a bad argument,
an unreadable path or an out-of-range value by raising :class:`CommandError`;
:func:`fastnn.cli.main` prints it as one line and exits non-zero.
"""

__all__ = ["CommandError", "COMMANDS"]

# name -> module under fastnn.commands, in the order ``fastnn --help`` lists them
COMMANDS = {
    "train": "train",
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

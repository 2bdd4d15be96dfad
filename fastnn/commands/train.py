"""``fastnn train``: placeholder, filled in by its issue."""
HELP = "(not built yet)"


def add_arguments(parser):
    pass


def run(args):
    from fastnn.commands import CommandError
    raise CommandError("fastnn train is not built yet")

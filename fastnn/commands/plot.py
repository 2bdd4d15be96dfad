"""``fastnn plot``: placeholder, filled in by its issue."""
HELP = "(not built yet)"


def add_arguments(parser):
    pass


def run(args):
    from fastnn.commands import CommandError
    raise CommandError("fastnn plot is not built yet")

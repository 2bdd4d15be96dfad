"""``fastnn config``: print the build and runtime configuration."""
HELP = "print the build and runtime configuration"


def add_arguments(parser):
    pass


def run(args):
    import fastnn
    fastnn.show_config()
    return 0

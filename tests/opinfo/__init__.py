"""OpInfo registry (tests/opinfo/core.py)."""
from .core import *  # noqa: F401,F403

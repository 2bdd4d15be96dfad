"""The side-by-side benchmark table: ``python bench/compare.py --help`` (same as ``fastnn bench``).

The code lives in :mod:`fastnn.benchmarks.compare` so that the installed
``fastnn bench`` command runs exactly the same workloads.
"""
import sys

from fastnn.benchmarks.compare import main

if __name__ == "__main__":
    sys.exit(main())

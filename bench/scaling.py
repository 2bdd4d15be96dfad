"""OpenMP scaling table: ``python bench/scaling.py --help``.

The code lives in :mod:`fastnn.benchmarks.scaling` (same workloads as bench/compare.py).
"""
import sys

from fastnn.benchmarks.scaling import main

if __name__ == "__main__":
    sys.exit(main())

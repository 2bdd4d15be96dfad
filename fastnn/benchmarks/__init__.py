"""The side-by-side benchmark workloads behind ``fastnn bench`` and ``bench/compare.py``."""

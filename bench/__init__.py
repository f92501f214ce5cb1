"""Benchmarks: `python -m bench NAME` (or `make bench BENCH_ARGS=NAME`); each prints ratios
against a baseline measured in the same run."""

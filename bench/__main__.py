"""`python -m bench [NAME ...]`: run benchmarks by name (all when none is given)."""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = {
    "collect": "bench.collect",
    "score": "bench.score",
    "alerts": "bench.alerts",
    "export": "bench.export",
    "service": "bench.service",
    "dashboard": "bench.dashboard",
    "topics": "bench.topics",
    "reception": "bench.reception",
}


def main(argv: list[str]) -> int:
    names = [a for a in argv if not a.startswith("-")] or list(BENCHMARKS)
    options = [a for a in argv if a.startswith("-")]
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s) {unknown}; choose from {sorted(BENCHMARKS)}", file=sys.stderr)
        return 2
    for name in names:
        print(f"== bench {name}", flush=True)
        importlib.import_module(BENCHMARKS[name]).main(options)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

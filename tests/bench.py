"""`make bench`: run every benchmark and print its figures.

Speed and memory targets live here, never in timed tests.
"""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

BENCHMARKS = [
    "bench_api",
    "bench_inbox",
    "bench_ws",
    "bench_import",
    "bench_connections",
    "bench_scale",
    "bench_postgres",
    "bench_metrics",
    "bench_desktop",
    "bench_ui",
    "bench_views",
    "bench_soak",
    "bench_package",
    "bench_reports",
    "bench_trash",
    "bench_team",
]


def main() -> None:
    only = set(sys.argv[1:])
    for name in BENCHMARKS:
        if only and name not in only:
            continue
        module = importlib.import_module(name)
        print(f"== {name}", flush=True)
        started = time.perf_counter()
        module.main()
        print(f"   ({time.perf_counter() - started:.1f} s)\n", flush=True)


if __name__ == "__main__":
    main()

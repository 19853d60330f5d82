"""What counting for /metrics costs: the fan-out row of bench_scale, Tandem against itself with
``--no-metrics``, in the same run (rounds alternate, so drift hits both alike).

    .venv/bin/python tests/bench_metrics.py
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
from pathlib import Path

from tests.bench_scale import Tandem, _setup, ensure_node_modules, row_fanout, settle

ROUNDS = 3
SUBSCRIBERS, RATE = 100, 100.0
AIM = 0.05


def one_round(counting: bool) -> float:
    """One fan-out row on a fresh data folder (the clients' ids repeat from run to run, and
    a server that remembered them would answer from its idempotency ledger)."""
    with tempfile.TemporaryDirectory() as tmp:
        target = Tandem(Path(tmp)) if counting else Tandem(Path(tmp), "--no-metrics")
        target.name = "Tandem" if counting else "Tandem --no-metrics"
        try:
            ((project_id, tasks),) = asyncio.run(_setup(target.ws_url, 1, 20))
            settle(target.pid)
            fan = row_fanout(target, SUBSCRIBERS, RATE, project_id, tasks)
        finally:
            target.stop()
    return float(fan["us_per_event"])


def main() -> None:
    ensure_node_modules()
    figures: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(ROUNDS):
        for counting in (True, False):
            figures[counting].append(one_round(counting))
    counted = statistics.median(figures[True])
    bare = statistics.median(figures[False])
    overhead = counted / bare - 1
    print(
        f"  => metrics on the fan-out ({SUBSCRIBERS} x {RATE:.0f}/s, median of {ROUNDS}): "
        f"{counted:.1f} vs {bare:.1f} us per delivered event without: {overhead:+.1%} "
        f"(aim under {AIM:.0%})"
    )


if __name__ == "__main__":
    main()

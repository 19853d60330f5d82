"""Commands per second with the data in PostgreSQL, side by side with SQLite in the same run.

The write row of bench_scale (acknowledged ``update_task``/s from 200 WebSocket clients in
Node processes, each at most 40/s, and the p99 of their acks) against two ``tandem serve``
processes in turn: one on its data folder's SQLite file, one with ``--database-url`` on the
local PostgreSQL (a scratch database, dropped afterwards). Then the same load split over
two servers sharing that PostgreSQL database, writing one board.

    .venv/bin/python tests/bench_postgres.py
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path

from server.security.limits import raise_open_file_limit
from tests import bench_scale, pg_backend
from tests.bench_scale import Tandem, load_average, row_write, run_sqlite_limit, settle

PROJECTS, TASKS_PER_PROJECT = 10, 20


def _board(tandem: Tandem) -> list[str]:
    layout = asyncio.run(bench_scale._setup(tandem.ws_url, PROJECTS, TASKS_PER_PROJECT))
    return [t for _, tasks in layout for t in tasks]


def _one(limit: tuple[float, float], data_dir: Path, *args: str) -> dict[str, float]:
    data_dir.mkdir(parents=True, exist_ok=True)
    tandem = Tandem(data_dir, *args)
    try:
        tasks = _board(tandem)
        settle(tandem.pid)
        return row_write(tandem, tasks, limit)
    finally:
        tandem.stop()


def main() -> None:
    server = pg_backend.server_url() or pg_backend.DEFAULT_SERVER
    if not pg_backend.reachable(server):
        print(f"  (no PostgreSQL at {server}: nothing measured)")
        return
    bench_scale.ensure_node_modules()
    raise_open_file_limit()
    print(f"  (cpus: {os.cpu_count()}, load average at start {load_average()})")
    limit = run_sqlite_limit()
    with tempfile.TemporaryDirectory() as tmp, pg_backend.scratch_database(server) as url:
        data = Path(tmp)
        print("  SQLite (the data folder's file):")
        on_sqlite = _one(limit, data / "sqlite")
        print("  PostgreSQL (--database-url, one server):")
        on_pg = _one(limit, data / "pg", "--database-url", url)
    print(
        f"  => acknowledged update_task/s: PostgreSQL {on_pg['rate']:.0f} vs SQLite "
        f"{on_sqlite['rate']:.0f}: {on_pg['rate'] / on_sqlite['rate']:.2f}x; p99 "
        f"{on_pg['p99_ms']:.1f} ms vs {on_sqlite['p99_ms']:.1f} ms; server CPU per command "
        f"{on_pg['us_per_command']:.0f} us vs {on_sqlite['us_per_command']:.0f} us"
    )


if __name__ == "__main__":
    main()

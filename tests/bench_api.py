"""Benchmark: task updates over REST against a real `tandem serve` process.

Reports commands per second acknowledged after commit (the server answers a PATCH only after
its transaction committed with synchronous=FULL), and p50/p99 latency of PATCH /api/v1/tasks/{id}.
Run with `make bench`.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

import aiohttp

from tests.fixtures import start_process

SERIAL_REQUESTS = 500
CONCURRENT_CLIENTS = 8
CONCURRENT_SECONDS = 5.0


async def patch(
    session: aiohttp.ClientSession, base: str, task: dict[str, str], title: str
) -> None:
    body = {"task": {"title": title}, "updateMask": "title", "baseVersion": "0"}
    async with session.patch(f"{base}/api/v1/tasks/{task['id']}", json=body) as resp:
        if resp.status != 200:
            raise SystemExit(f"PATCH failed: {resp.status} {await resp.text()}")
        await resp.read()


async def run(base: str) -> dict[str, float]:
    headers = {"Origin": base}
    async with aiohttp.ClientSession(headers=headers) as session:
        async with session.post(
            f"{base}/api/v1/projects", json={"key": "BEN", "name": "Bench"}
        ) as resp:
            project = await resp.json()
        tasks = []
        for i in range(CONCURRENT_CLIENTS):
            async with session.post(
                f"{base}/api/v1/projects/{project['id']}/tasks", json={"title": f"task {i}"}
            ) as resp:
                tasks.append(await resp.json())

        latencies = []
        for i in range(SERIAL_REQUESTS):
            started = time.perf_counter()
            await patch(session, base, tasks[0], f"serial {i}")
            latencies.append((time.perf_counter() - started) * 1000)
        latencies.sort()

        done = 0
        deadline = time.perf_counter() + CONCURRENT_SECONDS

        async def client(task: dict[str, str]) -> None:
            nonlocal done
            i = 0
            while time.perf_counter() < deadline:
                await patch(session, base, task, f"concurrent {i}")
                i += 1
                done += 1

        started = time.perf_counter()
        await asyncio.gather(*(client(t) for t in tasks))
        elapsed = time.perf_counter() - started
    return {
        "p50_ms": statistics.median(latencies),
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1],
        "commands_per_s": done / elapsed,
    }


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        proc, base = start_process(Path(tmp))
        try:
            figures = asyncio.run(run(base))
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    print("REST task updates (real server process, SQLite synchronous=FULL):")
    print(
        f"  PATCH /api/v1/tasks/{{id}} latency, 1 client x {SERIAL_REQUESTS}: "
        f"p50 {figures['p50_ms']:.2f} ms, p99 {figures['p99_ms']:.2f} ms"
    )
    print(
        f"  acknowledged updates/s, {CONCURRENT_CLIENTS} clients x {CONCURRENT_SECONDS:.0f} s: "
        f"{figures['commands_per_s']:.0f}"
    )
    print(f"  (cpus: {os.cpu_count()})")


if __name__ == "__main__":
    main()

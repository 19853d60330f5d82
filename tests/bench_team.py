"""A team server's fan-out: deliveries per second and latency with one instance and with
three, side by side in one run, against the desktop's single process as the reference.

Every setup gets the same subscribers (spread evenly over its instances, in a client
process of their own) and the same editor (on the first instance, EDITOR_RATE commands a
second for RUN_SECONDS). Latency is from the editor sending a command to a subscriber
receiving its event, so on three instances it includes the bus hop and the ordering.

    .venv/bin/python tests/bench_team.py

Needs PostgreSQL (TANDEM_TEST_POSTGRES, default postgresql://postgres@127.0.0.1:5432) and
the nats-server binary (a bus of its own on a free port); says so and stops without them.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from tests.bench_ws import (
    _connect_all,
    percentile,
    proc_cpu_seconds,
    raise_fd_limit,
    receive_events,
)
from tests.fixtures import start_process
from tests.team_support import NATS_SERVER, POSTGRES, running_nats

EDITOR_RATE = 20.0  # commands per second
RUN_SECONDS = 10.0
SUBSCRIBERS = 200
# As in bench_ws: one client process cannot read thousands of frames a second without
# becoming the bottleneck of the latency it measures.
CLIENT_PROCESSES = 2


def subscribers(urls: list[str], project_id: str, count: int, pipe: Connection) -> None:
    raise_fd_limit()
    ws_urls = [url.replace("http", "ws") + "/ws" for url in urls]
    commands = int(RUN_SECONDS * EDITOR_RATE)
    received = receive_events(ws_urls, project_id, count, commands, pipe, RUN_SECONDS)
    pipe.send(asyncio.run(received))


async def edit(url: str, project_pipe: Connection) -> tuple[dict[int, tuple[float, float]], float]:
    """Make the project, wait for "go", then send the commands at EDITOR_RATE."""
    import aiohttp
    from tandem.v1 import commands_pb2, entities_pb2, websocket_pb2

    Msg = websocket_pb2.WebSocketMessage
    async with aiohttp.ClientSession() as session:
        (ws,) = await _connect_all(session, url.replace("http", "ws") + "/ws", 1)
        key = "B" + secrets.token_hex(3).upper()
        create = Msg(
            message_id="p",
            create_project=commands_pb2.CreateProject(
                project=entities_pb2.Project(key=key, name="bench")
            ),
        )
        await ws.send_bytes(create.SerializeToString())
        reply = Msg.FromString((await ws.receive()).data)
        assert reply.HasField("ack"), reply
        project_id = reply.ack.project.id
        project_pipe.send(project_id)
        await asyncio.get_running_loop().run_in_executor(None, project_pipe.recv)  # "go"
        pending: dict[str, float] = {}
        sent: dict[int, tuple[float, float]] = {}
        commands = int(RUN_SECONDS * EDITOR_RATE)

        async def acks() -> None:
            async for m in ws:
                msg = Msg.FromString(m.data)
                if msg.HasField("ack") and msg.message_id in pending:
                    sent[msg.ack.seq] = (pending.pop(msg.message_id), time.perf_counter())
                    if len(sent) == commands:
                        return

        reader = asyncio.create_task(acks())
        began = time.perf_counter()
        for k in range(commands):
            await asyncio.sleep(max(0.0, began + k / EDITOR_RATE - time.perf_counter()))
            mid = f"{key}-{k}"
            cmd = Msg(
                message_id=mid,
                create_task=commands_pb2.CreateTask(
                    project_id=project_id, task=entities_pb2.Task(title=f"task {k}")
                ),
            )
            pending[mid] = time.perf_counter()
            await ws.send_bytes(cmd.SerializeToString())
        async with asyncio.timeout(60):
            await reader
        elapsed = time.perf_counter() - began
        await ws.close()
        return sent, elapsed


def measure(label: str, procs: list[subprocess.Popen[str]], urls: list[str]) -> dict[str, float]:
    project_pipe, project_child = mp.Pipe()
    result: dict[str, Any] = {}

    def run_editor() -> None:
        result["edit"] = asyncio.run(edit(urls[0], project_child))

    import threading

    editor = threading.Thread(target=run_editor)
    editor.start()
    assert project_pipe.poll(60), "the editor did not start"
    project_id = project_pipe.recv()
    clients: list[tuple[mp.Process, Connection]] = []
    for i in range(CLIENT_PROCESSES):
        count = SUBSCRIBERS // CLIENT_PROCESSES + (1 if i < SUBSCRIBERS % CLIENT_PROCESSES else 0)
        parent, child = mp.Pipe()
        client = mp.Process(target=subscribers, args=(urls, project_id, count, child))
        client.start()
        clients.append((client, parent))
    for _, pipe in clients:
        assert pipe.poll(180) and pipe.recv() == "ready"
    cpu0 = sum(proc_cpu_seconds(p.pid) for p in procs)
    project_pipe.send("go")
    for _, pipe in clients:
        # Done receiving: each sends its own CPU while it received (not used here).
        assert pipe.poll(RUN_SECONDS + 90) and isinstance(pipe.recv(), float)
    cpu = sum(proc_cpu_seconds(p.pid) for p in procs) - cpu0
    received: list[tuple[int, float]] = []
    for client, pipe in clients:
        assert pipe.poll(60)
        received += pipe.recv()
        client.join(30)
    editor.join(60)
    sent, elapsed = result["edit"]
    lat = [(at - sent[seq][0]) * 1000 for seq, at in received if seq in sent]
    commit = [(acked - began) * 1000 for began, acked in sent.values()]
    # From the commit's answer on: what the fan-out (and the bus, and the order) adds.
    fanout = [(at - sent[seq][1]) * 1000 for seq, at in received if seq in sent]
    figures = {
        "deliveries": len(received) / elapsed,
        "p50": percentile(lat, 50),
        "p99": percentile(lat, 99),
        "ack_p50": percentile(commit, 50),
        "fan_p50": percentile(fanout, 50),
        "fan_p99": percentile(fanout, 99),
        "cpu_us": cpu / max(1, len(received)) * 1e6,
    }
    print(
        f"{label}: {figures['deliveries']:.0f} deliveries/s, latency p50 {figures['p50']:.1f} ms, "
        f"p99 {figures['p99']:.1f} ms; command acknowledged after p50 {figures['ack_p50']:.1f} ms, "
        f"delivered after its acknowledgement p50 {figures['fan_p50']:.1f} ms, "
        f"p99 {figures['fan_p99']:.1f} ms; servers' CPU {figures['cpu_us']:.1f} us per delivery",
        flush=True,
    )
    return figures


@contextmanager
def instances(
    count: int, root: Path, extra: list[str]
) -> Iterator[tuple[list[subprocess.Popen[str]], list[str]]]:
    started = [start_process(root / f"i{i}", args=extra) for i in range(count)]
    try:
        yield [p for p, _ in started], [u for _, u in started]
    finally:
        for proc, _ in started:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


@contextmanager
def database() -> Iterator[str]:
    import psycopg

    name = f"bus_bench_{secrets.token_hex(4)}"
    with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{POSTGRES}/{name}"
    finally:
        with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    mp.set_start_method("spawn", force=True)
    raise_fd_limit()
    if NATS_SERVER is None:
        print("skipped: needs the nats-server binary")
        return
    try:
        import psycopg

        psycopg.connect(f"{POSTGRES}/postgres", connect_timeout=3).close()
    except Exception as exc:
        print(f"skipped: needs PostgreSQL at {POSTGRES}: {exc}")
        return
    print(
        f"{SUBSCRIBERS} subscribers, editor at {EDITOR_RATE:.0f} commands/s "
        f"for {RUN_SECONDS:.0f} s on the first instance"
    )
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        with instances(1, root / "desktop", []) as (procs, urls):
            ref = measure("desktop (SQLite, one process, no bus)", procs, urls)
        with database() as db, running_nats() as bus:
            team = ["--database-url", db, "--bus-url", f"{bus.url}?prefix=bus_bench"]
            with instances(1, root / "one", team) as (procs, urls):
                one = measure("team server, 1 instance (PostgreSQL + NATS)", procs, urls)
        with database() as db, running_nats() as bus:
            team = ["--database-url", db, "--bus-url", f"{bus.url}?prefix=bus_bench"]
            with instances(3, root / "three", team) as (procs, urls):
                three = measure("team server, 3 instances (PostgreSQL + NATS)", procs, urls)
    print(
        f"3 instances vs 1: deliveries/s x{three['deliveries'] / one['deliveries']:.2f}, "
        f"p99 x{three['p99'] / one['p99']:.2f}, p99 after acknowledgement "
        f"x{three['fan_p99'] / one['fan_p99']:.2f}; 1 instance vs desktop: deliveries/s "
        f"x{one['deliveries'] / ref['deliveries']:.2f}, p99 x{one['p99'] / ref['p99']:.2f}, "
        f"p99 after acknowledgement x{one['fan_p99'] / ref['fan_p99']:.2f}"
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()

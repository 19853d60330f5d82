"""WebSocket fan-out benchmark: throughput, server CPU per message, latency, memory per socket.

Runs the server in one process, the editor in another and the subscribers in two more
(all on loopback), so the server's CPU and memory are its own; the clients' CPU is
reported too, to show whether they, not the server, set the latency. Prints one line
per figure. Bounded: a few minutes at most, and it stops by itself.

    .venv/bin/python tests/bench_ws.py [--client-processes N] [--only idle|fanout]
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import resource
import statistics
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

EDITOR_RATE = 10.0  # commands per second
RUN_SECONDS = 10.0
FANOUT_SIZES = (100, 1000)
IDLE_SIZES = (1000, 10_000)
# On 2 cores one client process cannot read 10,000 frames a second without becoming the
# bottleneck of the latency it measures, so the subscribers are spread over two.
CLIENT_PROCESSES = 2
# How long the subscribers must have received nothing before the measured run starts.
QUIET_SECONDS = 1.0


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, 65_536) if hard != resource.RLIM_INFINITY else 65_536
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


# --- server process ----------------------------------------------------------------------


def serve(data_dir: str, pipe: Connection) -> None:
    raise_fd_limit()
    from aiohttp import web

    from server.app import create_app
    from server.config import ServerConfig

    async def run() -> None:
        config = ServerConfig(
            data_dir=Path(data_dir), heartbeat_seconds=60.0, send_queue_limit=4096
        )
        runner = web.AppRunner(create_app(config), handle_signals=False, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=4096)
        await site.start()
        pipe.send(runner.addresses[0][1])
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, pipe.recv)  # any message: stop
        await runner.cleanup()

    asyncio.run(run())


def proc_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime + stime


def proc_rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


# --- client processes ----------------------------------------------------------------------


def idle_clients(port: int, pipe: Connection) -> None:
    raise_fd_limit()
    pipe.send(asyncio.run(_idle_clients(port, pipe)))


def _hello() -> bytes:
    from tandem.v1 import commands_pb2, websocket_pb2

    return websocket_pb2.WebSocketMessage(
        message_id="h", hello=commands_pb2.Hello(protocol_version=1, client_id="bench")
    ).SerializeToString()


async def _connect_all(session: Any, url: str, count: int) -> list[Any]:
    hello = _hello()

    async def connect() -> Any:
        ws = await session.ws_connect(url, autoping=True, max_msg_size=0)
        await ws.send_bytes(hello)
        await ws.receive()
        return ws

    out: list[Any] = []
    for start in range(0, count, 200):
        out += await asyncio.gather(*(connect() for _ in range(start, min(count, start + 200))))
    return out


async def _idle_clients(port: int, pipe: Connection) -> dict[str, Any]:
    import aiohttp

    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    try:
        # Grow to each size in turn; the parent reads the server's RSS at each step.
        sockets: list[Any] = []
        for size in IDLE_SIZES:
            sockets += await _connect_all(session, f"ws://127.0.0.1:{port}/ws", size - len(sockets))
            pipe.send(size)
            await asyncio.get_running_loop().run_in_executor(None, pipe.recv)
        await asyncio.gather(*(ws.close() for ws in sockets))
        return {}
    finally:
        await session.close()


def subscribers(port: int, project_id: str, count: int, commands: int, pipe: Connection) -> None:
    """``count`` subscribers of one project; returns (seq, received at) for each delivery."""
    raise_fd_limit()
    url = f"ws://127.0.0.1:{port}/ws"
    pipe.send(asyncio.run(receive_events([url], project_id, count, commands, pipe, RUN_SECONDS)))


async def receive_events(
    urls: list[str], project_id: str, count: int, commands: int, pipe: Connection, seconds: float
) -> list[tuple[int, float]]:
    """``count`` subscribers of one project, spread over the servers at ``urls``: "ready" on
    ``pipe`` once every one has its snapshot and the joins' frames are over, then their own
    CPU while receiving ``commands`` events each; returns (seq, received at) per delivery."""
    import aiohttp
    from tandem.v1 import commands_pb2, websocket_pb2

    Msg = websocket_pb2.WebSocketMessage
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    try:
        sockets: list[Any] = []
        for i, url in enumerate(urls):
            share = count // len(urls) + (1 if i < count % len(urls) else 0)
            sockets += await _connect_all(session, url, share)
        frame = Msg(
            message_id="s", subscribe=commands_pb2.Subscribe(project_id=project_id)
        ).SerializeToString()
        for ws in sockets:
            await ws.send_bytes(frame)
        received: list[tuple[int, float]] = []
        ready = asyncio.Event()
        snapshots = 0
        last_frame_at = time.perf_counter()

        async def read(ws: Any) -> None:
            nonlocal snapshots, last_frame_at
            seen = 0
            async for m in ws:
                now = last_frame_at = time.perf_counter()
                msg = Msg.FromString(m.data)
                if msg.HasField("snapshot"):
                    snapshots += 1
                    if snapshots == len(sockets):
                        ready.set()
                elif msg.HasField("task_created"):
                    received.append((msg.task_created.seq, now))
                    seen += 1
                    if seen >= commands:
                        return

        readers = [asyncio.create_task(read(ws)) for ws in sockets]
        async with asyncio.timeout(120):
            await ready.wait()  # every subscriber has its snapshot before measuring
            # Each subscriber that joined told every one before it (user_presence): that
            # is n^2/2 frames, still arriving after the last snapshot. Measure after them.
            while True:
                quiet_for = time.perf_counter() - last_frame_at
                if quiet_for >= QUIET_SECONDS:
                    break
                await asyncio.sleep(QUIET_SECONDS - quiet_for)
        pipe.send("ready")
        cpu0 = time.process_time()
        async with asyncio.timeout(seconds + 60):
            await asyncio.gather(*readers)
        # Our own CPU while receiving, and "done" before closing: closing is not measured.
        pipe.send(time.process_time() - cpu0)
        await asyncio.gather(*(ws.close() for ws in sockets))
        return received
    finally:
        await session.close()


def editor(port: int, n: int, pipe: Connection) -> None:
    """Creates the project, then on "go" sends EDITOR_RATE commands per second; returns
    when each change was sent, by its seq."""
    raise_fd_limit()
    asyncio.run(_editor(port, n, pipe))


async def _editor(port: int, n: int, pipe: Connection) -> None:
    import aiohttp
    from tandem.v1 import commands_pb2, entities_pb2, websocket_pb2

    Msg = websocket_pb2.WebSocketMessage
    async with aiohttp.ClientSession() as session:
        (ws,) = await _connect_all(session, f"ws://127.0.0.1:{port}/ws", 1)
        create = Msg(
            message_id=f"project-{n}",
            create_project=commands_pb2.CreateProject(
                project=entities_pb2.Project(key=f"B{n}", name="bench")
            ),
        )
        await ws.send_bytes(create.SerializeToString())
        project_id = Msg.FromString((await ws.receive()).data).ack.project.id
        pipe.send(project_id)
        await asyncio.get_running_loop().run_in_executor(None, pipe.recv)  # "go"
        pending: dict[str, float] = {}
        sent: dict[int, float] = {}
        commands = int(RUN_SECONDS * EDITOR_RATE)

        async def acks() -> None:
            async for m in ws:
                msg = Msg.FromString(m.data)
                if msg.HasField("ack") and msg.message_id in pending:
                    sent[msg.ack.seq] = pending.pop(msg.message_id)
                    if len(sent) == commands:
                        return

        reader = asyncio.create_task(acks())
        began = time.perf_counter()
        for k in range(commands):
            await asyncio.sleep(max(0.0, began + k / EDITOR_RATE - time.perf_counter()))
            # Unique per run: all bench clients share one client id, so a repeated id
            # would be answered from the idempotency record without a new change.
            mid = f"run-{n}-{k}"
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
        pipe.send({"sent": sent, "elapsed": time.perf_counter() - began})
        await ws.close()


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def run_fanout(server_pid: int, port: int, n: int, processes: int) -> None:
    """n subscribers spread over ``processes`` client processes, the editor in its own."""
    commands = int(RUN_SECONDS * EDITOR_RATE)
    ed_pipe, ed_child = mp.Pipe()
    ed = mp.Process(target=editor, args=(port, n, ed_child))
    ed.start()
    assert ed_pipe.poll(60), "the editor did not start"
    project_id = ed_pipe.recv()
    subs: list[tuple[mp.Process, Connection]] = []
    for i in range(processes):
        count = n // processes + (1 if i < n % processes else 0)
        parent, child = mp.Pipe()
        proc = mp.Process(target=subscribers, args=(port, project_id, count, commands, child))
        proc.start()
        subs.append((proc, parent))
    for _, pipe in subs:
        assert pipe.poll(180) and pipe.recv() == "ready"
    cpu0 = proc_cpu_seconds(server_pid)
    wall0 = time.perf_counter()
    ed_pipe.send("go")
    clients_cpu: list[float] = []
    for _, pipe in subs:
        assert pipe.poll(RUN_SECONDS + 90), "subscribers did not finish"
        clients_cpu.append(pipe.recv())
    cpu = proc_cpu_seconds(server_pid) - cpu0
    wall = time.perf_counter() - wall0
    received: list[tuple[int, float]] = []
    for _, pipe in subs:
        assert pipe.poll(60)
        received += pipe.recv()
    assert ed_pipe.poll(60)
    result = ed_pipe.recv()
    for proc, _ in subs:
        proc.join(30)
    ed.join(30)
    sent: dict[int, float] = result["sent"]
    lat = [(at - sent[seq]) * 1000 for seq, at in received if seq in sent]
    per_event: dict[int, float] = {}
    for seq, at in received:
        if seq in sent:
            per_event[seq] = max(per_event.get(seq, 0.0), (at - sent[seq]) * 1000)
    every = list(per_event.values())
    deliveries = len(received)
    print(
        f"fan-out to {n} subscribers in {processes} client process(es), "
        f"editor at {EDITOR_RATE:.0f} commands/s:"
    )
    print(f"  events delivered per second: {deliveries / result['elapsed']:.0f}")
    print(f"  server CPU per delivered message: {cpu / max(1, deliveries) * 1e6:.1f} us")
    print(
        f"  CPU used over the {wall:.1f} s run: server {cpu / wall * 100:.0f}% of a core, "
        "subscriber processes "
        + ", ".join(f"{c / wall * 100:.0f}%" for c in clients_cpu)
        + f" ({sum(clients_cpu) / max(1, deliveries) * 1e6:.1f} us per delivery)"
    )
    print(
        f"  latency per delivery: p50 {percentile(lat, 50):.2f} ms, "
        f"p99 {percentile(lat, 99):.2f} ms"
    )
    print(
        f"  latency until every subscriber has it: p50 {percentile(every, 50):.2f} ms, "
        f"p99 {percentile(every, 99):.2f} ms"
    )
    sys.stdout.flush()


def run_idle(server_pid: int, port: int) -> None:
    """RSS growth per idle connection (after hello) on a server that has served nothing."""
    base = proc_rss_bytes(server_pid)
    parent, child = mp.Pipe()
    proc = mp.Process(target=idle_clients, args=(port, child))
    proc.start()
    for _ in IDLE_SIZES:
        assert parent.poll(150), "clients did not connect in time"
        size = parent.recv()
        grown = proc_rss_bytes(server_pid) - base
        print(f"idle connections: {size}: server RSS +{grown / size / 1024:.1f} KiB each")
        sys.stdout.flush()
        parent.send("next")
    assert parent.poll(60)
    parent.recv()
    proc.join(30)


def main(client_processes: int = CLIENT_PROCESSES, only: str = "") -> None:
    mp.set_start_method("spawn", force=True)
    raise_fd_limit()
    with tempfile.TemporaryDirectory() as data_dir:
        parent, child = mp.Pipe()
        server = mp.Process(target=serve, args=(data_dir, child))
        server.start()
        try:
            assert parent.poll(30), "the server did not start"
            port = parent.recv()
            assert server.pid is not None
            if only in ("", "idle"):
                run_idle(server.pid, port)
            if only in ("", "fanout"):
                for n in FANOUT_SIZES:
                    run_fanout(server.pid, port, n, client_processes)
        finally:
            parent.send("stop")
            server.join(30)
            if server.is_alive():
                server.kill()


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--client-processes",
        type=int,
        default=CLIENT_PROCESSES,
        help="processes the subscribers are spread over (the editor has its own)",
    )
    parser.add_argument("--only", choices=("idle", "fanout"), default="")
    args = parser.parse_args()
    main(args.client_processes, args.only)

"""WebSocket fan-out benchmark: throughput, server CPU per message, latency, memory per socket.

Runs the server in one process and the clients in another (both on loopback), so the
server's CPU and memory are its own. Prints one line per figure. Bounded: a few
minutes at most, and it stops by itself.

    .venv/bin/python -m tests.bench_ws
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


# --- client process ----------------------------------------------------------------------


def clients(port: int, task: str, arg: int, pipe: Connection) -> None:
    raise_fd_limit()
    result = asyncio.run(_clients(port, task, arg, pipe))
    pipe.send(result)


async def _clients(port: int, task: str, n: int, pipe: Connection) -> dict[str, Any]:
    import aiohttp
    from tandem.v1 import commands_pb2, entities_pb2, websocket_pb2

    url = f"ws://127.0.0.1:{port}/ws"
    Msg = websocket_pb2.WebSocketMessage
    connector = aiohttp.TCPConnector(limit=0)
    session = aiohttp.ClientSession(connector=connector)

    async def connect(i: int) -> aiohttp.ClientWebSocketResponse:
        ws = await session.ws_connect(url, autoping=True, max_msg_size=0)
        hello = Msg(
            message_id="h",
            hello=commands_pb2.Hello(protocol_version=1, client_id="bench"),
        )
        await ws.send_bytes(hello.SerializeToString())
        await ws.receive()
        return ws

    async def connect_all(count: int) -> list[aiohttp.ClientWebSocketResponse]:
        out: list[aiohttp.ClientWebSocketResponse] = []
        for start in range(0, count, 200):
            out += await asyncio.gather(
                *(connect(i) for i in range(start, min(count, start + 200)))
            )
        return out

    try:
        if task == "idle":
            # Grow to each size in turn; the parent reads the server's RSS at each step.
            sockets: list[aiohttp.ClientWebSocketResponse] = []
            for size in IDLE_SIZES:
                sockets += await connect_all(size - len(sockets))
                pipe.send(size)
                await asyncio.get_running_loop().run_in_executor(None, pipe.recv)
            await asyncio.gather(*(ws.close() for ws in sockets))
            return {}

        editor = await connect(-1)
        create = Msg(
            message_id=f"project-{n}",
            create_project=commands_pb2.CreateProject(
                project=entities_pb2.Project(key=f"B{n}", name="bench")
            ),
        )
        await editor.send_bytes(create.SerializeToString())
        project_id = Msg.FromString((await editor.receive()).data).ack.project.id
        sockets = await connect_all(n)
        subscribe = Msg(message_id="s", subscribe=commands_pb2.Subscribe(project_id=project_id))
        frame = subscribe.SerializeToString()
        for ws in sockets:
            await ws.send_bytes(frame)
        sent: dict[int, float] = {}
        received: list[list[tuple[int, float]]] = [[] for _ in sockets]
        commands = int(RUN_SECONDS * EDITOR_RATE)

        ready = asyncio.Event()
        snapshots = 0

        async def read(i: int, ws: aiohttp.ClientWebSocketResponse) -> None:
            nonlocal snapshots
            seen = received[i]
            async for m in ws:
                now = time.perf_counter()
                msg = Msg.FromString(m.data)
                if msg.HasField("snapshot"):
                    snapshots += 1
                    if snapshots == len(sockets):
                        ready.set()
                elif msg.HasField("task_created"):
                    seen.append((msg.task_created.seq, now))
                    if len(seen) >= commands:
                        return

        readers = [asyncio.create_task(read(i, ws)) for i, ws in enumerate(sockets)]
        async with asyncio.timeout(120):
            await ready.wait()  # every subscriber has its snapshot before measuring
        pipe.send("start")
        pending: dict[str, float] = {}

        async def editor_reads() -> None:
            async for m in editor:
                msg = Msg.FromString(m.data)
                if msg.HasField("ack") and msg.message_id in pending:
                    sent[msg.ack.seq] = pending.pop(msg.message_id)

        editor_reader = asyncio.create_task(editor_reads())
        began = time.perf_counter()
        for k in range(commands):
            at = began + k / EDITOR_RATE
            await asyncio.sleep(max(0.0, at - time.perf_counter()))
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
            await editor.send_bytes(cmd.SerializeToString())
        async with asyncio.timeout(60):
            await asyncio.gather(*readers)
        elapsed = time.perf_counter() - began
        pipe.send("stop")
        editor_reader.cancel()
        latencies = [
            (at - sent[seq]) * 1000 for seen in received for seq, at in seen if seq in sent
        ]
        per_event_max: dict[int, float] = {}
        for seen in received:
            for seq, at in seen:
                if seq in sent:
                    lat = (at - sent[seq]) * 1000
                    per_event_max[seq] = max(per_event_max.get(seq, 0.0), lat)
        await asyncio.gather(*(ws.close() for ws in sockets), editor.close())
        return {
            "deliveries": sum(len(s) for s in received),
            "elapsed": elapsed,
            "latencies": latencies,
            "all_received": list(per_event_max.values()),
        }
    finally:
        await session.close()


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def run_fanout(server_pid: int, port: int, n: int) -> None:
    parent, child = mp.Pipe()
    proc = mp.Process(target=clients, args=(port, "fanout", n, child))
    proc.start()
    assert parent.poll(120) and parent.recv() == "start"
    cpu0 = proc_cpu_seconds(server_pid)
    assert parent.poll(120) and parent.recv() == "stop"
    cpu = proc_cpu_seconds(server_pid) - cpu0
    assert parent.poll(60)
    result = parent.recv()
    proc.join(30)
    deliveries = result["deliveries"]
    lat = result["latencies"]
    every = result["all_received"]
    print(f"fan-out to {n} subscribers, editor at {EDITOR_RATE:.0f} commands/s:")
    print(f"  events delivered per second: {deliveries / result['elapsed']:.0f}")
    print(f"  server CPU per delivered message: {cpu / max(1, deliveries) * 1e6:.1f} us")
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
    proc = mp.Process(target=clients, args=(port, "idle", 0, child))
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


def main() -> None:
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
            run_idle(server.pid, port)
            for n in FANOUT_SIZES:
                run_fanout(server.pid, port, n)
        finally:
            parent.send("stop")
            server.join(30)
            if server.is_alive():
                server.kill()


if __name__ == "__main__":
    main()

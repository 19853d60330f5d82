"""The owner's /api/health while the LAN port is flooded with connections.

Checklist row 21: the server runs with a 1,024-file limit, shares on 127.0.0.2 (standing in
for its LAN address: only 127.0.0.1 counts as this machine), and sockets from twenty other
loopback addresses open on the LAN port without a credential and never finish a request.
Row 22: one invitee opens 2,000 WebSocket connections, each saying hello and subscribing
to the project the owner has open. Target for both: /api/health on 127.0.0.1 answers within
250 ms throughout (over a new connection each time, as a browser after an idle spell would).

``PYTHONPATH=OTHER_CHECKOUT python tests/bench.py bench_connections`` measures another
version of the server the same way (the server script uses only long-standing settings).
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

FILE_LIMIT = 1024
ATTACK_SOCKETS = 1100
ATTACK_SECONDS = 12.0
LAN_ADDRESS = "127.0.0.2"
ATTACKERS = [f"127.0.0.{n}" for n in range(10, 30)]

SERVER_SCRIPT = """
import asyncio, json, sys
from pathlib import Path
from server.config import ServerConfig
from server.runner import start_server
from server.security.state import SECURITY

async def main():
    config = ServerConfig(Path(sys.argv[1]), lan_host=sys.argv[2], web_root=Path(sys.argv[1]))
    if len(sys.argv) > 3:  # an invite for the flood, and a project to subscribe to
        from server.security import invites
        from server.storage.database import Store
        store = Store(config.database_path)
        try:
            print(json.dumps({"token": invites.create("Flo", "viewer").token}), flush=True)
        finally:
            store.close()
    running = await start_server(config)
    running.app[SECURITY].announce = False
    running.app[SECURITY].is_local = lambda address: address == "127.0.0.1"
    await running.set_lan(True)
    if len(sys.argv) > 3:
        from server.appkeys import DOMAIN
        from tandem.v1 import commands_pb2, entities_pb2
        from server.domain.actor import Actor
        from tandem.v1 import entities_pb2 as e
        owner = Actor(member_id="", role=e.MemberRole.MEMBER_ROLE_OWNER, client_key="bench")
        made = await running.app[DOMAIN].command(owner, commands_pb2.CreateProject(
            project=entities_pb2.Project(key="FLO", name="Flood")), "p")
        print(json.dumps({"project": made.project.id}), flush=True)
    print(json.dumps({"port": running.port, "lan_port": running.lan_port}), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    await running.close()

asyncio.run(main())
"""


def _limit(n: int) -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))


def _health(port: int) -> float | None:
    started = time.perf_counter()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/api/health")
        ok = conn.getresponse().status == 200
        conn.close()
    except OSError:
        ok = False
    return (time.perf_counter() - started) * 1000 if ok else None


def _attack(port: int, stop: threading.Event, held: list[int]) -> None:
    import socket

    name = f"{LAN_ADDRESS}:{port}".encode()
    parts = [b"", b"GET / HTTP/1.1\r\nHost: " + name + b"\r\n", b"GET /ws HTTP/1.1\r\nHost: "]
    socks = []
    for i in range(ATTACK_SOCKETS):
        s = socket.socket()
        s.bind((ATTACKERS[i % len(ATTACKERS)], 0))
        s.settimeout(2)
        try:
            s.connect((LAN_ADDRESS, port))
            if parts[i % 3]:
                s.send(parts[i % 3])
            socks.append(s)
        except OSError:
            s.close()
    held.append(len(socks))
    stop.wait(ATTACK_SECONDS)
    for s in socks:
        s.close()


FLOOD_CONNECTIONS = 2000


async def _flood(lan_port: int, token: str, project_id: str) -> dict[str, int]:
    """One invitee opens FLOOD_CONNECTIONS WebSockets: hello, then subscribe to the project."""
    import aiohttp
    from tandem.v1 import commands_pb2, websocket_pb2

    hello = websocket_pb2.WebSocketMessage(
        message_id="h",
        hello=commands_pb2.Hello(protocol_version=1, client_name="flood", display_name="Flo"),
    ).SerializeToString()
    subscribe = websocket_pb2.WebSocketMessage(
        message_id="s", subscribe=commands_pb2.Subscribe(project_id=project_id)
    ).SerializeToString()
    # "cut": closed before the handshake (the LAN listener's cap on connections that have
    # not shown their credential yet, 32 per address, with the credential checks in line).
    outcome = {"subscribed": 0, "refused": 0, "cut": 0}
    sockets = []
    connector = aiohttp.TCPConnector(local_addr=(ATTACKERS[0], 0), limit=0, force_close=True)
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:

        async def one(i: int) -> None:
            try:
                ws = await session.ws_connect(f"ws://{LAN_ADDRESS}:{lan_port}/ws")
                await ws.send_bytes(hello)
                await ws.send_bytes(subscribe)
                while True:
                    msg = await ws.receive(timeout=30)
                    if msg.type is aiohttp.WSMsgType.BINARY:
                        got = websocket_pb2.WebSocketMessage.FromString(msg.data)
                        if got.message_id == "s":
                            outcome["subscribed"] += 1
                            sockets.append(ws)
                            return
                    elif msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                        outcome["refused" if ws.close_code == 4429 else "cut"] += 1
                        return
            except (aiohttp.ClientError, OSError, TimeoutError):
                outcome["cut"] += 1

        await asyncio.gather(*(one(i) for i in range(FLOOD_CONNECTIONS)))
        for ws in sockets:
            await ws.close()
    return outcome


def measure_flood(server_log: Path, data_dir: Path) -> dict[str, float]:
    script = data_dir.parent / "bench_flood_server.py"
    script.write_text(SERVER_SCRIPT)
    with server_log.open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, str(script), str(data_dir), LAN_ADDRESS, "flood"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            preexec_fn=lambda: _limit(4 * FLOOD_CONNECTIONS),
        )
    try:
        assert proc.stdout is not None
        token = json.loads(proc.stdout.readline())["token"]
        project_id = json.loads(proc.stdout.readline())["project"]
        ports = json.loads(proc.stdout.readline())
        during: list[float] = []
        failed = 0
        stop = threading.Event()

        def probe() -> None:
            nonlocal failed
            while not stop.is_set():
                t = _health(ports["port"])
                if t is None:
                    failed += 1
                else:
                    during.append(t)
                stop.wait(0.05)

        prober = threading.Thread(target=probe)
        prober.start()
        started = time.perf_counter()
        outcome = asyncio.run(_flood(ports["lan_port"], token, project_id))
        elapsed = time.perf_counter() - started
        stop.set()
        prober.join()
    finally:
        _stop(proc)
    during.sort()
    return {
        **_latency(during),
        "failed": failed,
        "seconds": elapsed,
        **{k: float(v) for k, v in outcome.items()},
    }


def _latency(during: list[float]) -> dict[str, float]:
    during = sorted(during)
    nan = float("nan")
    return {
        "p50": statistics.median(during) if during else nan,
        "p99": during[max(0, int(len(during) * 0.99) - 1)] if during else nan,
        "max": during[-1] if during else nan,
        "answered": len(during),
    }


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        assert proc.stdin is not None
        proc.stdin.write("\n")
        proc.stdin.flush()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def measure(server_log: Path, data_dir: Path) -> dict[str, float]:
    script = data_dir.parent / "bench_limited_server.py"
    script.write_text(SERVER_SCRIPT)
    with server_log.open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, str(script), str(data_dir), LAN_ADDRESS],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            preexec_fn=lambda: _limit(FILE_LIMIT),
        )
    try:
        assert proc.stdout is not None
        ports = json.loads(proc.stdout.readline())
        baseline = [t for t in (_health(ports["port"]) for _ in range(50)) if t is not None]
        stop, held = threading.Event(), list[int]()
        attacker = threading.Thread(target=_attack, args=(ports["lan_port"], stop, held))
        attacker.start()
        during: list[float] = []
        failed = 0
        deadline = time.monotonic() + ATTACK_SECONDS
        while time.monotonic() < deadline:
            t = _health(ports["port"])
            if t is None:
                failed += 1
            else:
                during.append(t)
            time.sleep(0.05)
        stop.set()
        attacker.join()
    finally:
        if proc.poll() is None:
            assert proc.stdin is not None
            proc.stdin.write("\n")
            proc.stdin.flush()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    during.sort()
    return {
        "baseline_p50": statistics.median(baseline),
        "p50": statistics.median(during) if during else float("nan"),
        "p99": during[max(0, int(len(during) * 0.99) - 1)] if during else float("nan"),
        "max": during[-1] if during else float("nan"),
        "answered": len(during),
        "failed": failed,
        "held": held[0] if held else 0,
        "log_bytes": server_log.stat().st_size,
    }


def main() -> None:
    # The attacker here holds 1,100 sockets itself.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4096)), hard))
    with tempfile.TemporaryDirectory() as tmp:
        figures = measure(Path(tmp) / "server.log", Path(tmp) / "data")
    with tempfile.TemporaryDirectory() as tmp:
        flood = measure_flood(Path(tmp) / "server.log", Path(tmp) / "data")
    print(
        f"Owner's /api/health on loopback, {ATTACK_SOCKETS} idle/half-sent LAN sockets, "
        f"server limited to {FILE_LIMIT} files (target: within 250 ms):"
    )
    print(f"  before the attack: p50 {figures['baseline_p50']:.1f} ms")
    print(
        f"  during ({ATTACK_SECONDS:.0f} s): p50 {figures['p50']:.1f} ms, "
        f"p99 {figures['p99']:.1f} ms, max {figures['max']:.1f} ms; "
        f"{figures['answered']:.0f} answered, {figures['failed']:.0f} failed or timed out (5 s)"
    )
    print(
        f"  attacking sockets that connected: {figures['held']:.0f}; "
        f"server log: {figures['log_bytes']:.0f} bytes  (cpus: {os.cpu_count()})"
    )

    print(
        f"Owner's /api/health while one invitee opens {FLOOD_CONNECTIONS} WebSockets "
        "(hello + subscribe each; target: within 250 ms):"
    )
    print(
        f"  p50 {flood['p50']:.1f} ms, p99 {flood['p99']:.1f} ms, max {flood['max']:.1f} ms; "
        f"{flood['answered']:.0f} answered, {flood['failed']:.0f} failed; "
        f"the invitee got {flood['subscribed']:.0f} subscribed, {flood['refused']:.0f} closed "
        f"with 4429, {flood['cut']:.0f} cut before the handshake, in {flood['seconds']:.1f} s"
    )


if __name__ == "__main__":
    main()

"""Performance at scale, each figure side by side with its reference from the same run.

Rows (all clients in other processes, on loopback):
- acknowledged ``update_task``/s from 200 WebSocket clients, each at most 40/s, and the p99
  of their acks, against bare sqlite3 doing the same writes (UPDATE + change-log INSERT,
  WAL, synchronous=FULL, 64 per commit); then the same clients each at the server's own
  per-connection limit (50/s), offering more than it can take: its write capacity;
- 500, 1,000 and 2,000 clients sending hello + subscribe at once: time until all are answered
  (from the start, and from each client's own connect), a bystander's ``/api/health``
  latency throughout (over a kept-alive connection, and over a new one each time, which also
  waits behind the storm in the kernel's accept queue), the server's event-loop lag (from
  its /metrics), the server's CPU per join, connections dropped (each storm three times on
  each server, in turns: the median run's figures, the worst run's waits and drops);
- the same storms of 500 and 2,000 invitees on the LAN listener, each presenting its own
  invite token from an address of its own (127.0.0.2 stands in for the LAN address), against
  the relay;
- 10,000 clients subscribed (1,000 in each of 10 projects) and held; server memory per
  held, subscribed connection;
- server CPU per delivered event, 1,000 subscribers x 10 commands/s and 100 x 100/s;
- one bulk edit of 500 tasks seen by 200 subscribers (100,000 events delivered at once):
  server CPU per delivered event, time until all are delivered, and a bystander's
  ``/api/health`` meanwhile, against the relay delivering as many messages.

The reference server is a bare relay on Node's ``ws`` package (tests/bench_node/relay.js);
the load clients are Node too (tests/bench_node/clients.js), so that on two cores the
clients cost less than either server. The storm's and the hold's clients are lean
(clients.js), for both servers alike: the ``ws`` client's own CPU per connection was more
than either server's per join, and on two cores the load generator stretched both servers'
figures. Every process started here is stopped here, and each wait has a deadline.

    .venv/bin/python tests/bench_scale.py [--only write,storm,lan,hold,fanout,bulk]
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import os
import queue
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp
from google.protobuf import field_mask_pb2
from prometheus_client.parser import text_string_to_metric_families
from tandem.v1 import commands_pb2, entities_pb2, websocket_pb2

from server.realtime.protocol import COMMAND_RATE_PER_SECOND
from server.security.limits import raise_open_file_limit
from tests.api_client import ApiClient
from tests.fixtures import LAN_PEER, start_process

NODE_DIR = Path(__file__).resolve().parent / "bench_node"
Msg = websocket_pb2.WebSocketMessage

# Envelope field numbers the clients recognise answers by (tandem/v1/websocket.proto).
F_TASK_UPDATED, F_SNAPSHOT, F_ACK, F_REJECT = 3, 16, 18, 19
F_HELLO, F_SUBSCRIBE, F_UPDATE_TASK = 32, 33, 36

WRITERS, WRITER_RATE, WRITE_SECONDS = 200, 40.0, 5.0
SQLITE_BATCH, SQLITE_SECONDS = 64, 3.0
STORMS = (500, 1000, 2000)
#: Each storm runs this many times on each server, taking turns which goes first; its
#: figures are the median run's (a storm of 500 lasts a quarter of a second, and on a shared
#: two-core machine one run's time drifts by a fifth either way).
STORM_ROUNDS = 3
#: The same storms of invitees on the LAN listener, each presenting an invite (people come back
#: after the owner's laptop restarts).
LAN_STORMS = (500, 2000)
HOLD, HOLD_PROJECTS, HOLD_SECONDS = 10_000, 10, 5.0
# (subscribers, commands/s, target: CPU per delivered event at most this many times Node's)
FANOUTS = ((1000, 10.0, 1.0), (100, 100.0, 2.0))
FANOUT_SECONDS = 5.0
# The server allows 50 commands/s per connection: 100/s comes from four editors.
EDITOR_MAX_RATE = 25.0
# (subscribers, tasks one bulk edit changes): a list view's bulk edit, seen by a team.
BULK_FANOUT = (200, 500)
CLIENT_PROCESSES = 2
PEOPLE = 1000  # distinct client ids: a storm of 1,000 is 1,000 people


def proc_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def settle(pid: int, timeout: float = 60.0) -> None:
    """Wait until the process is idle (under 5% of a core for half a second): a row must
    not be charged with the previous one's tail."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = proc_cpu_seconds(pid)
        time.sleep(0.5)
        if proc_cpu_seconds(pid) - before < 0.025:
            return
    print(f"  (process {pid} still busy after {timeout:.0f} s)")


def load_average() -> str:
    return Path("/proc/loadavg").read_text().split()[0]


# --- Node processes --------------------------------------------------------------------------


def ensure_node_modules() -> None:
    if not (NODE_DIR / "node_modules" / "ws").is_dir():
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--silent"], cwd=NODE_DIR, check=True
        )


class Node:
    """A Node script speaking JSON lines on stdout; killed at the latest by ``stop``."""

    def __init__(self, script: str, *args: str) -> None:
        self.proc = subprocess.Popen(
            ["node", str(NODE_DIR / script), *args],
            cwd=NODE_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(json.loads(line))

    def wait(self, event: str, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no {event!r} from {self.proc.args!r}")
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if line.get("event", event) == event:
                return line

    def send(self, word: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(word + "\n")
        self.proc.stdin.flush()

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                self.send("close")
                self.proc.wait(10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait(10)


@contextmanager
def clients(
    per_process: list[dict[str, Any]],
) -> Iterator[list[Node]]:
    nodes = [Node("clients.js", json.dumps(opts)) for opts in per_process]
    try:
        for node in nodes:
            node.wait("started", 30)
        yield nodes
    finally:
        for node in nodes:
            node.stop()


def split(count: int, processes: int = CLIENT_PROCESSES) -> list[tuple[int, int]]:
    """(first index, count) for each client process."""
    out, first = [], 0
    for i in range(processes):
        n = count // processes + (1 if i < count % processes else 0)
        out.append((first, n))
        first += n
    return out


# --- what each server is sent, and how it answers ---------------------------------------------


class Target:
    name: str
    pid: int
    ws_url: str
    health_port: int
    hello_expect: int
    subscribe_expect: int
    event_field: int
    editor_query: str = ""

    def lag_buckets(self) -> dict[float, float]:
        """The server's event-loop lag histogram (cumulative counts by upper bound), where
        it measures one (Tandem's /metrics)."""
        return {}

    def loop_lag(self, before: dict[float, float]) -> str:
        """The worst event-loop lag since ``before``, as a phrase for the row's line."""
        after = self.lag_buckets()
        if not after:
            return ""
        grown = {le: after[le] - before.get(le, 0.0) for le in after}
        probes = grown[float("inf")]
        worst = min((le for le, n in grown.items() if n >= probes), default=float("inf"))
        over = probes - max((n for le, n in grown.items() if le <= 0.1), default=0.0)
        return (
            f"; event loop lag <= {worst * 1000:.0f} ms "
            f"({over:.0f} of {probes:.0f} probes over 100 ms)"
        )

    def client_options(self) -> dict[str, Any]:
        """What the load clients need besides the URL to be let in (see clients.js)."""
        return {}

    def subscribe_frame(self, project_id: str) -> bytes:
        return Msg(
            message_id="s", subscribe=commands_pb2.Subscribe(project_id=project_id)
        ).SerializeToString()


def hello_frame() -> bytes:
    return Msg(
        message_id="h",
        hello=commands_pb2.Hello(
            protocol_version=1,
            client_name="bench",
            client_id="bench-@@@@@@",
            display_name="Person @@@@@@",
        ),
    ).SerializeToString()


def update_frame(task_id: str, row: str = "") -> bytes:
    """An update of ``task_id``'s title; ``row`` keeps one row's message ids from another's
    (the same person sending an id again gets its first answer, and changes nothing)."""
    return Msg(
        message_id=f"u{row}-#########",
        update_task=commands_pb2.UpdateTask(
            task_id=task_id,
            task=entities_pb2.Task(title="title #########"),
            update_mask=field_mask_pb2.FieldMask(paths=["title"]),
        ),
    ).SerializeToString()


class Tandem(Target):
    name = "Tandem"
    hello_expect, subscribe_expect, event_field = F_ACK, F_SNAPSHOT, F_TASK_UPDATED

    def __init__(self, data_dir: Path, *args: str) -> None:
        # Its log goes to a file: a storm's dropped handshakes would flood the figures.
        self.log_path = data_dir / "bench-server.log"
        self.log = self.log_path.open("a")
        self.proc, base = start_process(data_dir, stderr=self.log.fileno(), args=args)
        self.pid = self.proc.pid
        self.ws_url = base.replace("http://", "ws://") + "/ws"
        self.health_port = int(base.rsplit(":", 1)[1])

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:  # still draining a storm: nothing left to save
            self.proc.kill()
            self.proc.wait(10)
        self.log.close()

    def lag_buckets(self) -> dict[float, float]:
        conn = http.client.HTTPConnection("127.0.0.1", self.health_port, timeout=30)
        try:
            conn.request("GET", "/metrics")
            text = conn.getresponse().read().decode()
        finally:
            conn.close()
        out: dict[float, float] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == "tandem_event_loop_lag_seconds_bucket":
                    out[float(sample.labels["le"])] = sample.value
        return out

    def tracebacks(self) -> int:
        return self.log_path.read_text(errors="replace").count("Traceback")


# Tandem shared on the LAN (127.0.0.2 standing in for its LAN address: only 127.0.0.1 counts
# as this machine, as in the tests), with one invite per person; prints its ports and tokens.
LAN_SERVER = """
import asyncio, json, sys
from pathlib import Path
from server.appkeys import DOMAIN
from server.security import invites
from tests.fixtures import start_tandem

async def main():
    data_dir, lan_host, people = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    server = await start_tandem(data_dir, lan=True, lan_host=lan_host, lan_peers_on_loopback=True)
    write = server.app[DOMAIN].write
    tokens = [(await write(invites.create, f"Invitee {i}", "editor")).token for i in range(people)]
    ports = {"port": server.port, "lan_port": server.lan_port}
    print(json.dumps({**ports, "tokens": tokens}), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    await server.close()

asyncio.run(main())
"""
LAN_ADDRESS = LAN_PEER
# Where the invitees connect from: one address per person up to this many, as on a LAN (and
# under the limit of connections per address that have not shown a credential yet).
LAN_PEER_ADDRESSES = [f"127.0.0.{n}" for n in range(10, 210)]


class LanTandem(Tandem):
    """Tandem answering invitees on its LAN listener: each connection's upgrade and hello
    present an invite token (``Authorization: Bearer``), as a program on the LAN does."""

    name = "Tandem on the LAN"

    def __init__(self, data_dir: Path, people: int) -> None:
        self.log_path = data_dir / "bench-lan-server.log"
        self.log = self.log_path.open("a")
        root = Path(__file__).resolve().parent.parent
        path = os.environ.get("PYTHONPATH", "")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", LAN_SERVER, str(data_dir), LAN_ADDRESS, str(people)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log.fileno(),
            text=True,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(root), path]))},
        )
        assert self.proc.stdout is not None
        started = json.loads(self.proc.stdout.readline() or "null")
        if not started:
            self.stop()
            raise RuntimeError(f"the LAN server did not start: see {self.log_path}")
        self.pid = self.proc.pid
        self.tokens: list[str] = started["tokens"]
        self.health_port = started["port"]
        self.ws_url = f"ws://{LAN_ADDRESS}:{started['lan_port']}/ws"
        self.owner_ws_url = f"ws://127.0.0.1:{started['port']}/ws"

    def client_options(self) -> dict[str, Any]:
        return {"tokens": self.tokens, "local_addresses": LAN_PEER_ADDRESSES}

    def stop(self) -> None:
        if self.proc.poll() is None and self.proc.stdin is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.write("\n")
                self.proc.stdin.flush()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self.log.close()


class Relay(Target):
    name = "Node ws relay"
    hello_expect, subscribe_expect, event_field = F_HELLO, F_SUBSCRIBE, F_UPDATE_TASK
    editor_query = "?pub=1"

    def __init__(self) -> None:
        self.node = Node("relay.js")
        started = self.node.wait("", 30)
        self.pid = started["pid"]
        self.health_port = started["port"]
        self.ws_url = f"ws://127.0.0.1:{started['port']}/ws"

    def stop(self) -> None:
        assert self.node.proc.stdin is not None
        self.node.proc.stdin.close()
        try:
            self.node.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.node.proc.kill()
            self.node.proc.wait(10)


async def _setup(
    ws_url: str, projects: int, tasks: int, key: str = "BEN"
) -> list[tuple[str, list[str]]]:
    """Projects with ``tasks`` tasks each, made over one WebSocket: [(project id, task ids)]."""
    out: list[tuple[str, list[str]]] = []
    async with aiohttp.ClientSession() as session, session.ws_connect(ws_url) as ws:
        counter = iter(range(1_000_000))

        async def ask(**payload: Any) -> websocket_pb2.Ack:
            mid = f"setup-{next(counter)}"
            await ws.send_bytes(Msg(message_id=mid, **payload).SerializeToString())
            while True:
                reply = Msg.FromString((await ws.receive()).data)
                if reply.message_id != mid:
                    continue
                if reply.HasField("ack"):
                    return reply.ack
                wait = reply.reject.error.retry_after_ms
                assert wait, reply  # only the rate limit may refuse the set-up
                await asyncio.sleep(wait / 1000)
                await ws.send_bytes(Msg(message_id=mid, **payload).SerializeToString())

        await ask(hello=commands_pb2.Hello(protocol_version=1, client_id=f"bench-setup-{key}"))
        for p in range(projects):
            ack = await ask(
                create_project=commands_pb2.CreateProject(
                    project=entities_pb2.Project(key=f"{key}{p}", name=f"Bench {key} {p}")
                )
            )
            ids = []
            for t in range(tasks):
                made = await ask(
                    create_task=commands_pb2.CreateTask(
                        project_id=ack.project.id, task=entities_pb2.Task(title=f"task {t}")
                    )
                )
                ids.append(made.task.id)
            out.append((ack.project.id, ids))
    return out


# --- the rows ----------------------------------------------------------------------------------


def sqlite_limit() -> tuple[float, float]:
    """Writes/s of bare sqlite3 doing Tandem's writes for an update, 64 per commit, and the
    CPU microseconds each write cost it."""
    with tempfile.TemporaryDirectory() as tmp:
        db = sqlite3.connect(Path(tmp) / "ref.sqlite3", isolation_level=None)
        db.execute("PRAGMA journal_mode=wal")
        db.execute("PRAGMA synchronous=FULL")
        db.execute(
            "CREATE TABLE task (id TEXT PRIMARY KEY, title TEXT, version INTEGER, "
            "field_versions TEXT, updated_at INTEGER)"
        )
        db.execute(
            "CREATE TABLE event (id INTEGER PRIMARY KEY, project_id TEXT, seq INTEGER, "
            "kind TEXT, frame BLOB, created_at INTEGER)"
        )
        db.execute("CREATE UNIQUE INDEX event_seq ON event (project_id, seq)")
        ids = [f"{i:08d}-0000-4000-8000-000000000000" for i in range(WRITERS)]
        db.executemany("INSERT INTO task VALUES (?, 'x', 1, '{}', 0)", [(i,) for i in ids])
        frame = os.urandom(220)
        done, seq = 0, 0
        deadline = time.perf_counter() + SQLITE_SECONDS
        started, cpu = time.perf_counter(), time.process_time()
        while time.perf_counter() < deadline:
            db.execute("BEGIN IMMEDIATE")
            for _ in range(SQLITE_BATCH):
                seq += 1
                db.execute(
                    "UPDATE task SET title = ?, version = version + 1, field_versions = ?, "
                    "updated_at = ? WHERE id = ?",
                    (f"title {seq}", '{"title": 2}', seq, ids[seq % WRITERS]),
                )
                db.execute(
                    "INSERT INTO event (project_id, seq, kind, frame, created_at) "
                    "VALUES (?, ?, 'task_updated', ?, ?)",
                    ("p", seq, frame, seq),
                )
            db.execute("COMMIT")
            done += SQLITE_BATCH
        rate = done / (time.perf_counter() - started)
        cpu_us = (time.process_time() - cpu) / done * 1e6
        db.close()
    return rate, cpu_us


def run_sqlite_limit() -> tuple[float, float]:
    # In its own process, like the clients: the figure is SQLite's, not this process's.
    out = subprocess.run(
        [sys.executable, __file__, "--sqlite-limit"], check=True, capture_output=True, text=True
    )
    rate, cpu_us = out.stdout.strip().splitlines()[-1].split()
    return float(rate), float(cpu_us)


def row_write(
    tandem: Tandem, tasks: list[str], limit: tuple[float, float], per_client: float = WRITER_RATE
) -> dict[str, float]:
    """The issue's write row: WRITERS clients each sending at most ``per_client`` updates a second,
    each after its previous one was answered. At the server's own per-connection limit
    (COMMAND_RATE_PER_SECOND), they offer more than it can take: the row shows its capacity."""
    capacity = per_client != WRITER_RATE
    # Message ids of their own: ids the first run sent would be answered from the ledger.
    row = f"{per_client:.0f}" if capacity else ""
    frames = [update_frame(t, row).hex() for t in tasks[:WRITERS]]
    command = {
        "frames": frames,
        "rate": per_client,
        "seconds": WRITE_SECONDS,
        "answers": [F_ACK, F_REJECT],
        "on_run": True,  # every client has said hello before the first update is sent
    }
    opts = [
        {
            "url": tandem.ws_url,
            "count": n,
            "first": first,
            "pool": PEOPLE,
            "steps": [{"frame": hello_frame().hex(), "expect": [F_ACK]}],
            "command": command,
            "lifetime": 120,
        }
        for first, n in split(WRITERS)
    ]
    with clients(opts) as nodes:
        for node in nodes:
            node.send("go")
        for node in nodes:
            node.wait("joined", 90)
        settle(tandem.pid)
        cpu0 = proc_cpu_seconds(tandem.pid)
        for node in nodes:
            node.send("run")
        done = [node.wait("commanded", WRITE_SECONDS + 90) for node in nodes]
        cpu = proc_cpu_seconds(tandem.pid) - cpu0
    acked = sum(d["acked"] for d in done)
    seconds = max(d["seconds"] for d in done)
    rate = acked / seconds
    p99 = max(d["p99_ms"] or 0.0 for d in done)
    refused = sum(d["refused"] for d in done)
    # Decode, validate, commit, ack, encode: the server's whole cost of one command.
    us = cpu / max(1, acked) * 1e6
    limit_rate, limit_us = limit
    offered = WRITERS * per_client
    print(
        f"  acknowledged update_task/s, {WRITERS} clients each <= {per_client:.0f}/s: "
        f"{rate:.0f}/s (p50 {max(d['p50_ms'] or 0 for d in done):.1f} ms, p99 {p99:.1f} ms"
        f"{f', {refused} refused' if refused else ''}), server CPU {us:.0f} us per command; "
        f"bare sqlite3 {limit_rate:.0f}/s, CPU {limit_us:.1f} us per write"
    )
    if capacity:
        print(
            f"  => write capacity (clients offer {offered:.0f}/s, each at the server's "
            f"per-connection limit), acknowledged update_task/s: Tandem {rate:.0f} vs bare "
            f"sqlite3 {limit_rate:.0f}: {rate / limit_rate:.3f}x (p99 {p99:.1f} ms)"
        )
    else:
        print(
            f"  => acknowledged update_task/s: Tandem {rate:.0f} vs bare sqlite3 "
            f"{limit_rate:.0f}: {rate / limit_rate:.3f}x (target >= 5,000/s and >= 0.25x, "
            f"p99 <= 50 ms; the clients offer at most {offered:.0f}/s, "
            f"{offered / limit_rate:.3f}x)"
        )
        print(
            f"  => CPU per write, us: Tandem {us:.0f} (the whole command) vs bare sqlite3 "
            f"{limit_us:.1f}: {us / limit_us:.0f}x"
        )
    return {"rate": rate, "p99_ms": p99, "ratio": rate / limit_rate, "us_per_command": us}


class Bystander:
    """Polls GET /api/health every 20 ms from its own thread, keeping the latencies.

    ``keep_alive``: over one kept-alive connection, as an open page's requests go: its wait
    is the server's (its event loop's lag). Otherwise a new connection for each request: it
    also waits in the kernel's accept queue behind every connection of the storm that came
    before it, which no server answers before accepting those (the Node relay neither).
    """

    def __init__(self, port: int, *, keep_alive: bool) -> None:
        self.port = port
        self.keep_alive = keep_alive
        self.latencies: list[float] = []
        self.failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        conn: http.client.HTTPConnection | None = None
        while not self._stop.is_set():
            started = time.perf_counter()
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                conn.request("GET", "/api/health")
                conn.getresponse().read()
                if not self.keep_alive:
                    conn.close()
                    conn = None
                self.latencies.append((time.perf_counter() - started) * 1000)
            except (OSError, http.client.HTTPException):
                self.failures += 1
                if conn is not None:
                    conn.close()
                    conn = None
            self._stop.wait(0.02)
        if conn is not None:
            conn.close()

    def stop(self) -> tuple[float, float]:
        self._stop.set()
        self._thread.join(40)
        lat = sorted(self.latencies) or [float("nan")]
        return lat[len(lat) // 2], lat[-1]


def join_opts(
    target: Target, count: int, project_ids: list[str], deadline: float, *, lean: bool = False
) -> list[dict[str, Any]]:
    """Client processes that each say hello and subscribe (connection i to project i mod n);
    ``lean``: with the load clients' own minimal WebSocket client (see clients.js)."""
    subscribe = [target.subscribe_frame(p).hex() for p in project_ids]
    return [
        {
            "url": target.ws_url,
            "count": n,
            "first": first,
            "pool": PEOPLE,
            "steps": [
                {"frame": hello_frame().hex(), "expect": [target.hello_expect]},
                {"frame": subscribe, "expect": [target.subscribe_expect]},
            ],
            "count_field": target.event_field,
            "deadline": deadline,
            "lean": lean,
            "lifetime": 300,
            **target.client_options(),
        }
        for first, n in split(count)
    ]


def joined_summary(done: list[dict[str, Any]], count: int) -> dict[str, Any]:
    answered = sum(d["answered"] for d in done)
    codes: dict[str, int] = {}
    for d in done:
        for code, n in d["close_codes"].items():
            codes[code] = codes.get(code, 0) + n
    times = [d["all_ms"] for d in done if d["all_ms"] is not None]
    own = [d["max_since_connect_ms"] for d in done if d.get("max_since_connect_ms") is not None]
    made = [d["made_last_ms"] for d in done if d.get("made_last_ms") is not None]
    return {
        "answered": answered,
        "dropped": count - answered,
        "codes": codes,
        "all_s": max(times) / 1000 if times else float("nan"),
        # From each connection's own connect: without the time the client processes took to
        # make the connections before it (on two busy cores, seconds for a few thousand).
        "own_s": max(own) / 1000 if own else float("nan"),
        "made_s": max(made) / 1000 if made else float("nan"),
        "client_cpu_s": sum(d.get("cpu_ms", 0.0) for d in done) / 1000,
    }


def row_storm(target: Target, count: int, project_id: str) -> dict[str, Any]:
    with clients(join_opts(target, count, [project_id], 60, lean=True)) as nodes:
        lag0 = target.lag_buckets()
        bystander = Bystander(target.health_port, keep_alive=True)
        newcomer = Bystander(target.health_port, keep_alive=False)
        cpu0 = proc_cpu_seconds(target.pid)
        for node in nodes:
            node.send("go")
        done = [node.wait("joined", 90) for node in nodes]
        # The server's own CPU per join: unlike the wall time, not stretched by a busy machine.
        cpu = proc_cpu_seconds(target.pid) - cpu0
        p50, worst = bystander.stop()
        new_p50, new_worst = newcomer.stop()
    lag = target.loop_lag(lag0)
    s = joined_summary(done, count)
    print(
        f"  {target.name}: {count} clients hello + subscribe at once: all answered in "
        f"{s['all_s']:.2f} s ({s['own_s']:.2f} s at most from a client's own connect; "
        f"the clients made their connections over {s['made_s']:.2f} s, using "
        f"{s['client_cpu_s']:.2f} s CPU), {s['dropped']} not answered {s['codes'] or ''}; "
        f"server CPU {cpu / count * 1000:.2f} ms per join; "
        f"/api/health p50 {p50:.1f} ms, worst {worst:.1f} ms (on a new connection each: "
        f"p50 {new_p50:.1f} ms, worst {new_worst:.1f} ms){lag}; load {load_average()}"
    )
    return {
        **s,
        "health_worst_ms": worst,
        "new_health_worst_ms": new_worst,
        "cpu_ms_per_join": cpu / count * 1000,
    }


def row_hold(target: Target, project_ids: list[str]) -> dict[str, Any]:
    time.sleep(1.0)
    base = proc_rss_bytes(target.pid)
    with clients(join_opts(target, HOLD, project_ids, 60, lean=True)) as nodes:
        cpu0 = proc_cpu_seconds(target.pid)
        for node in nodes:
            node.send("go")
        done = [node.wait("joined", 120) for node in nodes]
        cpu = proc_cpu_seconds(target.pid) - cpu0
        time.sleep(HOLD_SECONDS)  # held: the count below must not drop
        grown = proc_rss_bytes(target.pid) - base
        for node in nodes:
            node.send("report")
        reports = [node.wait("report", 30) for node in nodes]
    s = joined_summary(done, HOLD)
    codes: dict[str, int] = {}
    for r in reports:
        for code, n in r["close_codes"].items():
            codes[code] = codes.get(code, 0) + n
    # Every close counted by then, those before an answer too (the dropped ones).
    held = HOLD - sum(codes.values()) - (s["dropped"] - sum(s["codes"].values()))
    per = grown / max(1, held) / 1024
    print(
        f"  {target.name}: {HOLD} clients ({HOLD // len(project_ids)} in each of "
        f"{len(project_ids)} projects) subscribed in {s['all_s']:.2f} s, "
        f"{held} held {HOLD_SECONDS:.0f} s later{f' (closed: {codes})' if codes else ''}; "
        f"server CPU {cpu / HOLD * 1000:.2f} ms per join; "
        f"memory {per:.1f} KiB per held connection; load {load_average()}"
    )
    return {**s, "held": held, "kib_per_conn": per, "cpu_ms_per_join": cpu / HOLD * 1000}


def row_fanout(
    target: Target, subscribers: int, rate: float, project_id: str, tasks: list[str]
) -> dict[str, Any]:
    editors = max(1, int(-(-rate // EDITOR_MAX_RATE)))
    sub_opts = join_opts(target, subscribers, [project_id], 60)
    editor_opts = {
        "url": target.ws_url + target.editor_query,
        "count": editors,
        "first": PEOPLE,  # its own person
        "pool": PEOPLE + editors + 1,
        "steps": [{"frame": hello_frame().hex(), "expect": [target.hello_expect]}],
        "command": {
            "frames": [update_frame(t, f"{subscribers}x{rate:.0f}").hex() for t in tasks[:editors]],
            "rate": rate / editors,
            "seconds": FANOUT_SECONDS,
            "answers": [F_ACK if isinstance(target, Tandem) else F_UPDATE_TASK, F_REJECT],
            "on_run": True,
        },
        "lifetime": 300,
    }
    with clients([*sub_opts, editor_opts]) as nodes:
        subs, editor = nodes[:-1], nodes[-1]
        for node in subs:
            node.send("go")
        for node in subs:
            node.wait("joined", 90)
        editor.send("go")
        editor.wait("joined", 90)
        time.sleep(1.0)  # presence of the joins has settled
        before = deliveries_of(subs)
        cpu0 = proc_cpu_seconds(target.pid)
        editor.send("run")
        done = editor.wait("commanded", FANOUT_SECONDS + 60)
        delivered = delivered_by(subs, before + done["acked"] * subscribers, 30)
        cpu = proc_cpu_seconds(target.pid) - cpu0
    deliveries = delivered - before
    us = cpu / max(1, deliveries) * 1e6
    print(
        f"  {target.name}: {subscribers} subscribers x {rate:.0f} commands/s: "
        f"{deliveries} events delivered of {done['acked'] * subscribers}, "
        f"server CPU {us:.1f} us per delivered event"
    )
    return {"us_per_event": us, "deliveries": deliveries}


def owner_api(target: Target, method: str, path: str, body: Any = None) -> Any:
    """A REST call to Tandem as its owner (the bench runs on its machine); its JSON."""

    async def call() -> Any:
        async with aiohttp.ClientSession() as session:
            api = ApiClient(f"http://127.0.0.1:{target.health_port}", session)
            reply = await api.request(method, path, body)
        if reply.status >= 300:
            raise RuntimeError(f"{method} {path}: {reply.status} {reply.raw[:200]!r}")
        return reply.json

    return asyncio.run(call())


def deliveries_of(subs: list[Node]) -> int:
    """Events the subscriber processes have counted so far."""
    for node in subs:
        node.send("report")
    return sum(node.wait("report", 30)["deliveries"] for node in subs)


def delivered_by(subs: list[Node], expected: int, seconds: float) -> int:
    """Deliveries once ``expected`` are in, or after ``seconds``."""
    deadline = time.monotonic() + seconds
    delivered = deliveries_of(subs)
    while delivered < expected and time.monotonic() < deadline:
        time.sleep(0.05)
        delivered = deliveries_of(subs)
    return delivered


def row_bulk(target: Target, project_id: str, tasks: list[str]) -> dict[str, Any]:
    """One bulk edit of every task in ``tasks`` (Tandem: one POST /tasks/bulk as the owner),
    delivered to BULK_FANOUT's subscribers; the relay delivers as many messages, published
    one after another as fast as it echoes them."""
    subscribers, _ = BULK_FANOUT
    sub_opts = join_opts(target, subscribers, [project_id], 60)
    editor_opts = []
    if not isinstance(target, Tandem):
        editor_opts.append(
            {
                "url": target.ws_url + target.editor_query,
                "count": 1,
                "first": PEOPLE,
                "pool": PEOPLE + 1,
                "steps": [{"frame": hello_frame().hex(), "expect": [target.hello_expect]}],
                "command": {
                    "frames": [update_frame(tasks[0], "bulk").hex()],
                    "rate": 1_000_000,
                    "seconds": 60,
                    "count": len(tasks),
                    "answers": [F_UPDATE_TASK],
                    "on_run": True,
                },
                "lifetime": 300,
            }
        )
    with clients([*sub_opts, *editor_opts]) as nodes:
        subs = nodes[: len(sub_opts)]
        for node in nodes:
            node.send("go")
        for node in nodes:
            node.wait("joined", 90)
        time.sleep(1.0)  # presence of the joins has settled
        before = deliveries_of(subs)
        if isinstance(target, Tandem):
            listed = owner_api(target, "GET", f"/api/v1/projects/{project_id}/tasks?pageSize=1000")
            changed = set(tasks)
            updates = [
                {
                    "taskId": t["id"],
                    "baseVersion": t["version"],
                    "updateMask": "title",
                    "task": {"title": f"{t['title']}."},
                }
                for t in listed["tasks"]
                if t["id"] in changed
            ]
        bystander = Bystander(target.health_port, keep_alive=True)
        cpu0 = proc_cpu_seconds(target.pid)
        started = time.perf_counter()
        if isinstance(target, Tandem):
            owner_api(
                target, "POST", f"/api/v1/projects/{project_id}/tasks/bulk", {"updates": updates}
            )
            sent = len(updates)
        else:
            nodes[-1].send("run")
            sent = nodes[-1].wait("commanded", 90)["acked"]
        delivered = delivered_by(subs, before + sent * subscribers, 60)
        took = time.perf_counter() - started
        cpu = proc_cpu_seconds(target.pid) - cpu0
        _, worst = bystander.stop()
    deliveries = delivered - before
    us = cpu / max(1, deliveries) * 1e6
    print(
        f"  {target.name}: {sent} changes at once to {subscribers} subscribers: {deliveries} "
        f"events delivered of {sent * subscribers} in {took:.2f} s, server CPU {us:.2f} us per "
        f"delivered event; /api/health worst {worst:.0f} ms meanwhile"
    )
    return {"us_per_event": us, "seconds": took, "health_worst_ms": worst}


# --- the run -----------------------------------------------------------------------------------


def ratio_line(what: str, ours: float, ref: float, target: str, digits: int = 1) -> None:
    aim = f" (target {target})" if target else ""
    print(f"  => {what}: Tandem {ours:.{digits}f} vs Node {ref:.{digits}f}: {ours / ref:.2f}x{aim}")


# One printed comparison: what, the row's key, the target ("" for none), digits.
Comparison = tuple[str, str, str, int]


def compare(rows: list[dict[str, Any]], comparisons: tuple[Comparison, ...]) -> None:
    """Print each comparison of Tandem's row (rows[0]) with the relay's (rows[1])."""
    for what, key, target, digits in comparisons:
        ratio_line(what, rows[0][key], rows[1][key], target, digits)


def run_each(
    pair: tuple[Target, Target], fn: Callable[[Target], dict[str, Any]], *, node_first: bool = False
) -> list[dict[str, Any]]:
    """``fn``'s row for Tandem, then for the relay (in that order unless ``node_first``)."""
    out: dict[int, dict[str, Any]] = {}
    for i in (1, 0) if node_first else (0, 1):
        settle(pair[i].pid)
        out[i] = fn(pair[i])
    return [out[0], out[1]]


def storm_rows(pair: tuple[Target, Target], count: int, project_id: str, where: str = "") -> None:
    """A storm of ``count`` joins, STORM_ROUNDS times on each server in turns, compared."""

    def storm_row(target: Target) -> dict[str, Any]:
        return row_storm(target, count, project_id)

    runs = [run_each(pair, storm_row, node_first=r % 2 == 1) for r in range(STORM_ROUNDS)]
    storm = [median_row([run[i] for run in runs]) for i in (0, 1)]
    what = f"{count} joins{where}"
    compare(
        storm,
        (
            (
                f"{what}, seconds until all answered (median of {STORM_ROUNDS})",
                "all_s",
                f"<= {count / 2000:.2f} s, none dropped",
                2,
            ),
            (f"{what}, seconds from a client's own connect until answered", "own_s", "", 2),
            (f"{what}, server CPU ms per join", "cpu_ms_per_join", "", 2),
            (
                f"{what}, worst /api/health ms (kept-alive connection)",
                "health_worst_ms",
                "<= 250 ms",
                1,
            ),
            (f"{what}, worst /api/health ms on a new connection", "new_health_worst_ms", "", 1),
        ),
    )
    # Tandem's first run of the first storm is the one right after a restart: each is shown.
    shown = [
        ", ".join(f"{run[i]['all_s']:.2f} s ({run[i]['dropped']})" for run in runs) for i in (0, 1)
    ]
    print(
        f"  => {what}, each run in turn (until all answered, and how many were not): "
        f"Tandem {shown[0]}; Node {shown[1]}"
    )


def lan_storms(data: Path, relay: Relay) -> None:
    """The storms of invitees on the LAN listener (each its own invite, from addresses of its
    own), against the same storms on the relay (which asks for no credential)."""
    data.mkdir()
    lan = LanTandem(data, max(LAN_STORMS))
    try:
        ((project_id, _),) = asyncio.run(_setup(lan.owner_ws_url, 1, 20))
        for count in LAN_STORMS:
            storm_rows((lan, relay), count, project_id, " on the LAN")
    finally:
        lan.stop()
    print(f"  (the LAN server logged {lan.tracebacks()} tracebacks)")


def median_row(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Each figure of ``rows`` (one server's runs of a row) as its median run has it, but
    the worst ones (a /api/health wait, connections dropped), which are the worst run's."""
    worst = ("health_worst_ms", "new_health_worst_ms", "dropped")
    out: dict[str, Any] = {}
    for key, value in rows[0].items():
        if isinstance(value, (int, float)):
            values = [row[key] for row in rows]
            out[key] = max(values) if key in worst else statistics.median(values)
    return out


def main(only: set[str] | None = None) -> None:
    only = only or {"write", "storm", "lan", "hold", "fanout", "bulk"}
    ensure_node_modules()
    # The load clients inherit this process's open-file limit: 10,000 sockets need more
    # than the usual 1,024 (the servers raise their own as they start).
    files = raise_open_file_limit()
    if files < HOLD + 1024:
        print(f"  (open-file limit {files}: too low for {HOLD} held connections)")
    print(f"  (cpus: {os.cpu_count()}, load average at start {load_average()})")
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        tandem = Tandem(data)
        try:
            layout = asyncio.run(_setup(tandem.ws_url, HOLD_PROJECTS, WRITERS // HOLD_PROJECTS))
            project_ids = [p for p, _ in layout]
            all_tasks = [t for _, ts in layout for t in ts]
            bulk_project: list[tuple[str, list[str]]] = []
            if "bulk" in only:
                bulk_project = asyncio.run(_setup(tandem.ws_url, 1, BULK_FANOUT[1], key="BLK"))
            # Everyone has been here before (a storm is a reconnect after a restart).
            with clients(join_opts(tandem, PEOPLE, project_ids[:1], 120)) as nodes:
                for node in nodes:
                    node.send("go")
                for node in nodes:
                    node.wait("joined", 180)
        finally:
            tandem.stop()
        tandem = Tandem(data)
        relay = Relay()
        both: tuple[Target, Target] = (tandem, relay)

        def each(fn: Callable[[Target], dict[str, Any]]) -> list[dict[str, Any]]:
            return run_each(both, fn)

        try:
            if "storm" in only:
                for count in STORMS:
                    storm_rows(both, count, project_ids[0])
            if "lan" in only:
                lan_storms(Path(tmp) / "lan", relay)
            if "hold" in only:
                held = each(lambda t: row_hold(t, project_ids))
                compare(
                    held,
                    (
                        (
                            f"{HOLD} clients, seconds until all subscribed",
                            "all_s",
                            "<= 5 s, all held",
                            2,
                        ),
                        (f"{HOLD} clients, server CPU ms per join", "cpu_ms_per_join", "", 2),
                        ("memory per held connection, KiB", "kib_per_conn", "<= 10 KiB", 1),
                    ),
                )
            if "fanout" in only:
                for subscribers, rate, most in FANOUTS:
                    fan = each(
                        lambda t, n=subscribers, r=rate: row_fanout(  # type: ignore[misc]
                            t, n, r, project_ids[1], all_tasks[20:]
                        )
                    )
                    ratio_line(
                        f"CPU per delivered event at {subscribers} x {rate:.0f}/s, us",
                        fan[0]["us_per_event"],
                        fan[1]["us_per_event"],
                        f"<= {most:.1f}x",
                    )
            if "bulk" in only:
                ((bulk_id, bulk_tasks),) = bulk_project
                compare(
                    each(lambda t: row_bulk(t, bulk_id, bulk_tasks)),
                    (
                        (
                            f"one bulk edit of {BULK_FANOUT[1]} tasks to {BULK_FANOUT[0]} "
                            "subscribers, CPU per delivered event, us",
                            "us_per_event",
                            "",
                            2,
                        ),
                        ("... seconds until all delivered", "seconds", "", 2),
                        ("... worst /api/health ms meanwhile", "health_worst_ms", "", 0),
                    ),
                )
            if "write" in only:
                settle(tandem.pid)
                limit = run_sqlite_limit()
                row_write(tandem, all_tasks, limit)
                settle(tandem.pid)
                row_write(tandem, all_tasks, limit, COMMAND_RATE_PER_SECOND)
        finally:
            tandem.stop()
            relay.stop()
        print(f"  (the Tandem server logged {tandem.tracebacks()} tracebacks)")
    print(f"  (load average at end {load_average()})")


if __name__ == "__main__":
    if sys.argv[1:] == ["--sqlite-limit"]:
        print(*sqlite_limit())
        raise SystemExit(0)
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only", default="", help="comma-separated: write,storm,lan,hold,fanout,bulk"
    )
    args = parser.parse_args()
    main(set(filter(None, args.only.split(","))))

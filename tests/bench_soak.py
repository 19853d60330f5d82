"""Soak benchmark: many WebSocket clients editing one project for a bounded time.

Checklist row 20 of the security guide: "50 clients editing for minutes: memory flat; no gaps
in seq; latency within target". A real `tandem serve --port 0` process serves a temporary data
directory; the clients run in one or two other processes (loopback only), so the server's RSS
and CPU are its own. Each client says hello with its own client id, subscribes to the project
and, at a fixed rate, creates tasks, updates one field at a time (update mask and the version
it last saw), moves tasks and adds comments. Every client checks what it receives:

- events arrive with seq increasing by exactly one: no gap, no duplicate, nothing out of order;
- each of its own commands is answered by exactly one ack or reject, and each ack with a seq
  is matched by that event (same kind, same entity);
- at the end every client has every event up to the head of the log.

Violations are listed at the end and make the run exit with status 1. Memory and latency are
measured figures, printed with a verdict but never a failure: they depend on the machine.

    .venv/bin/python tests/bench_soak.py [--clients 50] [--seconds 60] [--rate 1]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiohttp
from tandem.v1 import commands_pb2, entities_pb2, errors_pb2

from tests.fixtures import start_process
from tests.ws_client import WsClient, envelope, event_seq, subscribe

# Where a local board must feel instant: the usual threshold for a reaction to seem immediate.
LATENCY_P99_TARGET_MS = 100.0
# Growth of the server's RSS from the first to the last third of the run that still counts
# as flat (the SQLite page cache and the allocator settle in the first seconds).
FLAT_GROWTH = 0.05
# Bounds for the phases that wait on the server; far above what a healthy run needs.
SETUP_TIMEOUT = 120.0
DRAIN_TIMEOUT = 60.0
# How many violations each client keeps word for word (all are counted).
KEEP_FAILURES = 20
# Events kept per client to match an ack that arrives after its event; acks follow their
# event within milliseconds, so a few thousand is far more than enough.
RECENT_EVENTS = 5000

Status = entities_pb2.TaskStatus
STATUSES = [
    Status.TASK_STATUS_BACKLOG,
    Status.TASK_STATUS_TODO,
    Status.TASK_STATUS_IN_PROGRESS,
    Status.TASK_STATUS_IN_REVIEW,
    Status.TASK_STATUS_DONE,
]
# Which event each command's ack must be matched by.
EVENT_OF = {
    "create_task": "task_created",
    "update_task": "task_updated",
    "move_task": "task_updated",
    "add_comment": "comment_added",
}


# --- server process ------------------------------------------------------------------------


def proc_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def proc_rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


async def create_project(base: str) -> str:
    async with (
        aiohttp.ClientSession(headers={"Origin": base}) as session,
        session.post(f"{base}/api/v1/projects", json={"key": "SOAK", "name": "Soak"}) as resp,
    ):
        if resp.status != 200 and resp.status != 201:
            raise SystemExit(f"creating the project failed: {resp.status} {await resp.text()}")
        project_id: str = (await resp.json())["id"]
        return project_id


# --- client processes ----------------------------------------------------------------------


@dataclass
class Shared:
    """What the clients of one process measure together."""

    # seq -> [latest arrival at any client, how many clients received it]
    deliveries: dict[int, list[float]] = field(default_factory=dict)
    # seq -> when the command that made it was sent (by whichever client of this process)
    sent_at: dict[int, float] = field(default_factory=dict)
    ack_ms: list[float] = field(default_factory=list)
    rejects: dict[str, int] = field(default_factory=dict)
    unchanged: int = 0
    snapshot_seq: int | None = None
    last_answer_at: float = 0.0


class SoakClient(WsClient):
    """A WsClient that checks each frame as it arrives instead of keeping them all: a long
    soak would otherwise hold every event of every client in memory."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, *, as_json: bool = False) -> None:
        super().__init__(ws, as_json=as_json)
        self.keep = True  # keep frames (for WsClient.request) only while setting up
        self.name = ""
        self.project_id = ""
        self.shared = Shared()
        self.last_seq: int | None = None
        self.tasks: dict[str, tuple[int, int]] = {}  # id -> (version, status)
        self.task_ids: list[str] = []
        self.pending: dict[str, tuple[str, float, str]] = {}  # mid -> (command, sent, entity)
        self.answered: set[str] = set()
        self.awaiting_event: dict[int, tuple[str, str, str]] = {}  # seq -> (mid, kind, entity)
        self.recent: dict[int, tuple[str, str]] = {}  # seq -> (kind, entity)
        self.failures: list[str] = []
        self.failure_count = 0
        self.sent = 0

    def fail(self, text: str) -> None:
        self.failure_count += 1
        if len(self.failures) < KEEP_FAILURES:
            self.failures.append(f"{self.name}: {text}")

    async def _read(self) -> None:
        try:
            async for frame in self.ws:
                if frame.type is not aiohttp.WSMsgType.BINARY:
                    break
                now = time.perf_counter()
                msg = envelope()
                msg.ParseFromString(frame.data)
                self.on_message(msg, now)
                if self.keep:
                    self.received.append(msg)
                self._changed.set()
        finally:
            self.closed.set()
            self._changed.set()

    def remember_task(self, task: entities_pb2.Task) -> None:
        if task.id not in self.tasks:
            self.task_ids.append(task.id)
        elif self.tasks[task.id][0] >= task.version:
            return
        self.tasks[task.id] = (task.version, task.status)

    def on_message(self, msg: Any, now: float) -> None:
        kind = msg.WhichOneof("payload")
        if kind == "snapshot":
            self.last_seq = msg.snapshot.seq
            if self.shared.snapshot_seq is None or self.last_seq < self.shared.snapshot_seq:
                self.shared.snapshot_seq = self.last_seq
            for task in msg.snapshot.tasks:
                self.remember_task(task)
        elif event_seq(msg):
            self.on_event(kind, getattr(msg, kind), now)
        elif kind in ("ack", "reject") and msg.message_id.startswith(self.name + "/"):
            self.on_answer(msg, now)

    def on_event(self, kind: str, event: Any, now: float) -> None:
        seq = int(event.seq)
        if event.project_id != self.project_id:
            self.fail(f"event {kind} seq {seq} of another project {event.project_id}")
            return
        if self.last_seq is None:
            self.fail(f"event seq {seq} before the snapshot")
        elif seq > self.last_seq + 1:
            self.fail(f"gap: seq {seq} after {self.last_seq}")
        elif seq <= self.last_seq:
            self.fail(f"duplicate or out of order: seq {seq} after {self.last_seq}")
        self.last_seq = max(self.last_seq or 0, seq)
        if kind in ("task_created", "task_updated"):
            self.remember_task(event.task)
            entity = event.task.id
        elif kind == "comment_added":
            entity = event.comment.id
        else:
            entity = ""
        delivery = self.shared.deliveries.setdefault(seq, [now, 0])
        delivery[0] = max(delivery[0], now)
        delivery[1] += 1
        own = self.awaiting_event.pop(seq, None)
        if own is not None:
            self.match(own, kind, entity, seq)
        else:
            self.recent[seq] = (kind, entity)
            self.recent.pop(seq - RECENT_EVENTS, None)

    def match(self, own: tuple[str, str, str], kind: str, entity: str, seq: int) -> None:
        mid, want_kind, want_entity = own
        if (kind, entity) != (want_kind, want_entity):
            self.fail(
                f"{mid}: ack seq {seq} names {want_kind} {want_entity}, event is {kind} {entity}"
            )

    def on_answer(self, msg: Any, now: float) -> None:
        mid = msg.message_id
        if mid not in self.pending:
            self.fail(f"{mid}: {'a second' if mid in self.answered else 'an unasked'} answer")
            return
        command, sent, entity = self.pending.pop(mid)
        self.answered.add(mid)
        self.shared.last_answer_at = max(self.shared.last_answer_at, now)
        if msg.WhichOneof("payload") == "reject":
            error = msg.reject.error
            code = errors_pb2.ErrorCode.Name(error.code)
            self.shared.rejects[code] = self.shared.rejects.get(code, 0) + 1
            if error.code == errors_pb2.ERROR_CODE_CONFLICT:
                # Someone changed that field first: the normal case of concurrent editing.
                if error.HasField("current_task"):
                    self.remember_task(error.current_task)
            else:
                self.fail(f"{mid}: {command} rejected {code}: {error.message}")
            return
        ack = msg.ack
        self.shared.ack_ms.append((now - sent) * 1000)
        result = ack.WhichOneof("result")
        if result == "task":
            self.remember_task(ack.task)
            entity = entity or ack.task.id
        elif result == "comment":
            entity = entity or ack.comment.id
        seq = int(ack.seq)
        if seq == 0:
            self.shared.unchanged += 1  # the values were already there: no event
            return
        self.shared.sent_at[seq] = sent
        own = (mid, EVENT_OF[command], entity)
        seen = self.recent.pop(seq, None)
        if seen is not None:
            self.match(own, *seen, seq)
        elif self.last_seq is not None and seq <= self.last_seq:
            self.fail(f"{mid}: ack seq {seq}, but no such event arrived")
        else:
            self.awaiting_event[seq] = own

    def next_command(self, rng: random.Random, k: int) -> tuple[str, Any, str]:
        """(command, its message, the id of the entity it concerns when known in advance)."""
        choice = rng.choices(("create", "update", "move", "comment"), (2, 4, 2, 2))[0]
        if not self.task_ids or choice == "create":
            task_id = str(uuid.uuid4())
            task = entities_pb2.Task(
                id=task_id, title=f"{self.name} task {k}", status=rng.choice(STATUSES)
            )
            return (
                "create_task",
                commands_pb2.CreateTask(project_id=self.project_id, task=task),
                task_id,
            )
        task_id = rng.choice(self.task_ids)
        version, _ = self.tasks[task_id]
        if choice == "update":
            name = rng.choice(("title", "description", "priority", "story_points"))
            task = entities_pb2.Task(
                title=f"{self.name} edit {k}",
                description=f"Edited by {self.name}, edit {k}.",
                priority=entities_pb2.TaskPriority.ValueType(rng.randint(1, 5)),
                story_points=rng.randint(1, 13),
            )
            cmd = commands_pb2.UpdateTask(task_id=task_id, base_version=version, task=task)
            cmd.update_mask.paths.append(name)
            return "update_task", cmd, task_id
        if choice == "move":
            after = rng.choice(self.task_ids)
            return (
                "move_task",
                commands_pb2.MoveTask(
                    task_id=task_id,
                    base_version=version,
                    status=rng.choice(STATUSES),
                    after_task_id="" if after == task_id else after,
                ),
                task_id,
            )
        comment_id = str(uuid.uuid4())
        return (
            "add_comment",
            commands_pb2.AddComment(
                task_id=task_id, comment_id=comment_id, body=f"{self.name} says {k}"
            ),
            comment_id,
        )

    async def edit(self, rng: random.Random, start: float, seconds: float, rate: float) -> None:
        """Send commands at ``rate`` per second from ``start`` (plus a random phase, so the
        clients do not all send at once) until ``start + seconds``, without waiting for
        answers, as an interface does while the person keeps working."""
        began = start + rng.random() / rate
        k = 0
        while (at := began + k / rate) < start + seconds:
            await asyncio.sleep(max(0.0, at - time.perf_counter()))
            command, body, entity = self.next_command(rng, k)
            mid = f"{self.name}/{k}"
            self.pending[mid] = (command, time.perf_counter(), entity)
            await self.send(envelope(mid, **{command: body}))
            self.sent += 1
            k += 1

    async def settle(self) -> None:
        """Wait for every answer and every own event."""
        try:
            await self.wait_until(
                lambda: not self.pending and not self.awaiting_event, DRAIN_TIMEOUT
            )
        except (TimeoutError, ConnectionError) as exc:
            self.fail(f"{type(exc).__name__} waiting for answers")
        for mid in self.pending:
            self.fail(f"{mid}: no answer")
        for seq, (mid, _, _) in self.awaiting_event.items():
            self.fail(f"{mid}: ack seq {seq}, but its event never arrived")


def reached(client: SoakClient, seq: int) -> bool:
    return (client.last_seq or 0) >= seq


def run_clients(port: int, project_id: str, names: list[str], seed: int, pipe: Connection) -> None:
    pipe.send(asyncio.run(_run_clients(port, project_id, names, seed, pipe)))


async def _run_clients(
    port: int, project_id: str, names: list[str], seed: int, pipe: Connection
) -> dict[str, Any]:
    base = f"http://127.0.0.1:{port}"
    shared = Shared()
    loop = asyncio.get_running_loop()
    session = aiohttp.ClientSession(
        headers={"Origin": base}, connector=aiohttp.TCPConnector(limit=0)
    )
    try:

        async def join(name: str) -> SoakClient:
            client = await SoakClient.connect(
                session, f"ws://127.0.0.1:{port}/ws", client_id=name, name=name
            )
            assert isinstance(client, SoakClient)
            client.name, client.project_id, client.shared = name, project_id, shared
            await subscribe(client, project_id)
            return client

        async with asyncio.timeout(SETUP_TIMEOUT):
            clients = list(await asyncio.gather(*(join(name) for name in names)))
        for client in clients:
            client.keep = False
            client.received.clear()
        pipe.send("ready")
        start, seconds, rate = await loop.run_in_executor(None, pipe.recv)
        cpu0 = time.process_time()
        rngs = [random.Random(f"{seed}/{name}") for name in names]
        await asyncio.gather(
            *(c.edit(r, start, seconds, rate) for c, r in zip(clients, rngs, strict=True))
        )
        await asyncio.gather(*(c.settle() for c in clients))
        pipe.send(max([c.last_seq or 0 for c in clients] + list(shared.sent_at)))
        head: int = await loop.run_in_executor(None, pipe.recv)
        for client in clients:
            try:
                await client.wait_until(partial(reached, client, head), DRAIN_TIMEOUT)
            except (TimeoutError, ConnectionError) as exc:
                client.fail(f"{type(exc).__name__}: stopped at seq {client.last_seq} of {head}")
        cpu = time.process_time() - cpu0
        await asyncio.gather(*(c.close() for c in clients))
        failures = [text for c in clients for text in c.failures]
        return {
            "failures": failures,
            "failure_count": sum(c.failure_count for c in clients),
            "sent": sum(c.sent for c in clients),
            "final_seqs": [c.last_seq or 0 for c in clients],
            "deliveries": shared.deliveries,
            "sent_at": shared.sent_at,
            "ack_ms": shared.ack_ms,
            "rejects": shared.rejects,
            "unchanged": shared.unchanged,
            "snapshot_seq": shared.snapshot_seq or 0,
            "last_answer_at": shared.last_answer_at,
            "cpu": cpu,
        }
    finally:
        await session.close()


# --- the run ---------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: int) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def soak(clients: int, seconds: float, rate: float, processes: int, sample_every: float) -> bool:
    """Run the soak and print its figures; True when no violation was seen."""
    mp.set_start_method("spawn", force=True)
    run = uuid.uuid4().hex[:6]
    names = [f"soak-{run}-{i}" for i in range(clients)]
    processes = max(1, min(processes, clients))
    with tempfile.TemporaryDirectory() as tmp:
        server, base = start_process(Path(tmp))
        workers: list[tuple[mp.Process, Connection]] = []
        try:
            port = int(base.rsplit(":", 1)[1])
            project_id = asyncio.run(create_project(base))
            for i in range(processes):
                parent, child = mp.Pipe()
                proc = mp.Process(
                    target=run_clients, args=(port, project_id, names[i::processes], i, child)
                )
                proc.start()
                workers.append((proc, parent))
            for _, pipe in workers:
                if not pipe.poll(SETUP_TIMEOUT) or pipe.recv() != "ready":
                    raise SystemExit("the clients did not connect and subscribe in time")
            setup_rss = proc_rss_bytes(server.pid)
            load_before = os.getloadavg()[0]
            start = time.perf_counter() + 0.5
            for _, pipe in workers:
                pipe.send((start, seconds, rate))
            cpu_start = proc_cpu_seconds(server.pid)
            samples: list[tuple[float, int]] = []
            n = 0
            while (at := start + n * sample_every) <= start + seconds:
                time.sleep(max(0.0, at - time.perf_counter()))
                samples.append((time.perf_counter() - start, proc_rss_bytes(server.pid)))
                n += 1
            heads = []
            for _, pipe in workers:
                if not pipe.poll(seconds + DRAIN_TIMEOUT):
                    raise SystemExit("the clients did not finish")
                heads.append(pipe.recv())
            head = max(heads)
            for _, pipe in workers:
                pipe.send(head)
            results = []
            for _, pipe in workers:
                if not pipe.poll(DRAIN_TIMEOUT + 30):
                    raise SystemExit("the clients did not report")
                results.append(pipe.recv())
            server_cpu = proc_cpu_seconds(server.pid) - cpu_start
            end_rss = proc_rss_bytes(server.pid)
            load_after = os.getloadavg()[0]
        finally:
            for proc, _ in workers:
                proc.join(30)
                if proc.is_alive():
                    proc.kill()
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=30)
    return report(
        clients,
        seconds,
        rate,
        processes,
        start,
        setup_rss,
        end_rss,
        samples,
        server_cpu,
        head,
        results,
        (load_before, load_after),
    )


def report(
    clients: int,
    seconds: float,
    rate: float,
    processes: int,
    start: float,
    setup_rss: int,
    end_rss: int,
    samples: list[tuple[float, int]],
    server_cpu: float,
    head: int,
    results: list[dict[str, Any]],
    load: tuple[float, float],
) -> bool:
    failures: list[str] = [f for r in results for f in r["failures"]]
    failure_count = sum(r["failure_count"] for r in results)
    deliveries: dict[int, list[float]] = {}
    sent_at: dict[int, float] = {}
    for r in results:
        sent_at.update(r["sent_at"])
        for seq, (at, count) in r["deliveries"].items():
            mine = deliveries.setdefault(seq, [at, 0])
            mine[0] = max(mine[0], at)
            mine[1] += count
    # Whole-run checks no single client can make.
    expected = set(range(min(r["snapshot_seq"] for r in results) + 1, head + 1))
    missing = sorted(expected - set(deliveries))
    if missing:
        failures.append(f"seqs no client received: {missing[:10]} ({len(missing)} in all)")
    partial = [seq for seq, (_, count) in deliveries.items() if count != clients]
    if partial:
        failures.append(f"{len(partial)} events not received by all {clients} clients")
    orphans = sorted(set(deliveries) - set(sent_at))
    if orphans:
        failures.append(f"events no client's ack accounts for: {orphans[:10]}")
    final = [s for r in results for s in r["final_seqs"]]
    if any(s != head for s in final):
        failures.append(f"clients ended at seqs {sorted(set(final))}, head is {head}")
    every = [
        (deliveries[seq][0] - sent) * 1000 for seq, sent in sent_at.items() if seq in deliveries
    ]
    ack_ms = [ms for r in results for ms in r["ack_ms"]]
    acks = len(ack_ms)
    rejects: dict[str, int] = {}
    for r in results:
        for code, count in r["rejects"].items():
            rejects[code] = rejects.get(code, 0) + count
    sent = sum(r["sent"] for r in results)
    answered_for = max(r["last_answer_at"] for r in results) - start

    print(
        f"soak: {clients} clients in {processes} client process(es), {rate:g} command/s each, "
        f"{seconds:g} s (real `tandem serve`, loopback)"
    )
    print(
        f"  commands sent {sent}, acknowledged {acks} ({acks / answered_for:.1f}/s), "
        f"rejected {sum(rejects.values())}{f' {rejects}' if rejects else ''}, "
        f"acks without a change {sum(r['unchanged'] for r in results)}; log head seq {head}"
    )
    print(
        f"  latency command sent -> its event received by every subscriber ({len(every)} events):"
        f" p50 {percentile(every, 50):.1f} ms, p99 {percentile(every, 99):.1f} ms, "
        f"max {max(every, default=float('nan')):.1f} ms"
    )
    p99 = percentile(every, 99)
    print(
        f"  latency command sent -> its ack: p50 {percentile(ack_ms, 50):.1f} ms, "
        f"p99 {percentile(ack_ms, 99):.1f} ms"
    )
    # A soak should not slow down as it goes on: the same figure per third of the run.
    thirds: list[list[float]] = [[], [], []]
    for seq, sent in sent_at.items():
        if seq in deliveries:
            part = min(2, max(0, int((sent - start) / seconds * 3)))
            thirds[part].append((deliveries[seq][0] - sent) * 1000)
    print(
        "  the same by third of the run: "
        + ", ".join(f"p50 {percentile(t, 50):.1f} / p99 {percentile(t, 99):.1f} ms" for t in thirds)
    )
    verdict = "within" if p99 <= LATENCY_P99_TARGET_MS else "ABOVE"
    print(f"  latency {verdict} target (p99 to every subscriber <= {LATENCY_P99_TARGET_MS:.0f} ms)")
    span = max(answered_for, seconds)
    print(
        f"  server CPU {server_cpu:.1f} s over {span:.1f} s ({server_cpu / span * 100:.0f}% of a "
        f"core); client processes " + ", ".join(f"{r['cpu']:.1f} s" for r in results)
    )
    print(
        f"  machine: {os.cpu_count()} cpus, load average {load[0]:.2f} before, "
        f"{load[1]:.2f} after (other work on it inflates the tail latency)"
    )
    mib = [rss / 2**20 for _, rss in samples]
    step = samples[1][0] - samples[0][0] if len(samples) > 1 else 0.0
    print(
        f"  server RSS MiB after subscribing {setup_rss / 2**20:.1f}, then every {step:.0f} s: "
        + " ".join(f"{m:.1f}" for m in mib)
        + f"; after draining {end_rss / 2**20:.1f}"
    )
    third = max(1, len(mib) // 3)
    first, last = statistics.mean(mib[:third]), statistics.mean(mib[-third:])
    growth = (last - first) / first
    verdict = "memory flat" if growth < FLAT_GROWTH else "memory GREW"
    print(
        f"  RSS first third {first:.1f} MiB, last third {last:.1f} MiB: {growth * 100:+.1f}% "
        f"-> {verdict} (flat: under {FLAT_GROWTH * 100:.0f}%)"
    )
    if failures or failure_count:
        print(f"  FAIL: {failure_count} violations seen by clients; the first ones:")
        for text in failures[: KEEP_FAILURES * 2]:
            print(f"    {text}")
    else:
        print("  seq: no gaps, no duplicates; every command answered once, every ack its event")
    sys.stdout.flush()
    return not failures and not failure_count


def main(argv: Sequence[str] = ()) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--rate", type=float, default=1.0, help="commands per client per second")
    parser.add_argument(
        "--client-processes", type=int, default=2, help="processes the clients are spread over"
    )
    parser.add_argument(
        "--sample-every", type=float, default=3.0, help="seconds between RSS samples"
    )
    args = parser.parse_args(list(argv))
    if args.clients < 1 or args.seconds <= 0 or args.rate <= 0 or args.sample_every <= 0:
        parser.error("--clients, --seconds, --rate and --sample-every must be positive")
    ok = soak(args.clients, args.seconds, args.rate, args.client_processes, args.sample_every)
    if not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main(sys.argv[1:])

"""Three real ``tandem serve`` processes on one PostgreSQL database and a NATS bus of the
test's own: one order for everyone, one gapless seq for every writer, an instance killed
with SIGKILL, the bus restarted under load."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from tandem.v1 import commands_pb2, entities_pb2, events_pb2

from tests.fixtures import start_process
from tests.team_support import NATS_SERVER, NatsServer, running_nats, team_database
from tests.ws_client import WsClient, event_seq, make_project, poll_until, presences, subscribe

pytestmark = pytest.mark.skipif(NATS_SERVER is None, reason="needs the nats-server binary")

HEARTBEAT = 1.0
OFFLINE = events_pb2.PresenceState.PRESENCE_STATE_OFFLINE


@dataclass
class Team:
    procs: list[subprocess.Popen[str]]
    urls: list[str]
    bus: NatsServer

    def ws(self, i: int) -> str:
        return self.urls[i].replace("http://", "ws://") + "/ws"

    def kill(self, i: int) -> None:
        self.procs[i].send_signal(signal.SIGKILL)
        self.procs[i].wait(timeout=30)


@pytest.fixture
def team(tmp_path: Path) -> Iterator[Team]:
    with team_database() as database, running_nats() as bus:
        prefix = f"bus_test_{uuid.uuid4().hex[:8]}"
        args = [
            *("--database-url", database),
            *("--bus-url", f"{bus.url}?prefix={prefix}"),
            *("--heartbeat", str(HEARTBEAT)),
        ]
        started = [start_process(tmp_path / f"i{i}", args=args) for i in range(3)]
        try:
            yield Team([p for p, _ in started], [u for _, u in started], bus)
        finally:
            for proc, _ in started:
                if proc.poll() is None:
                    proc.terminate()
                    try:
                        proc.wait(timeout=20)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait(timeout=10)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def write(client: WsClient, project_id: str, n: int, tag: str, acked: list[str]) -> None:
    """Make ``n`` tasks one after another; each title acknowledged goes into ``acked``."""
    for i in range(n):
        title = f"{tag}-{i}"
        task = entities_pb2.Task(title=title)
        try:
            reply = await client.request(
                create_task=commands_pb2.CreateTask(project_id=project_id, task=task)
            )
        except (ConnectionError, TimeoutError):
            return  # its instance is gone: what was acknowledged is what counts
        assert reply.WhichOneof("payload") == "ack", reply
        acked.append(title)


async def until_events(
    client: WsClient, project_id: str, count: int, *, exact: bool = False, timeout: float = 30
) -> None:
    def enough() -> bool:
        got = len(client.events(project_id))
        return got == count if exact else got >= count

    await client.wait_until(enough, timeout=timeout)


def shown(client: WsClient, connection_id: str) -> bool:
    """Whether the client's view of presence (its snapshot, then the diffs) shows a
    connection online."""
    online = False
    for m in client.received:
        if m.HasField("snapshot"):
            online = any(p.connection_id == connection_id for p in m.snapshot.presence)
        for p in presences(m, connection_id):
            online = p.state != OFFLINE
    return online


def seqs(client: WsClient, project_id: str) -> list[int]:
    return [event_seq(m) for m in client.events(project_id)]


def titles(client: WsClient, project_id: str) -> list[str]:
    return [m.task_created.task.title for m in client.events(project_id) if m.task_created.seq]


async def test_a_change_on_one_reaches_all_in_one_order_and_two_writers_give_one_seq(
    team: Team, http: aiohttp.ClientSession
) -> None:
    owner = await WsClient.connect(http, team.ws(0))
    project = await make_project(owner)
    viewers = [await WsClient.connect(http, team.ws(i)) for i in range(3)]
    for viewer in viewers:
        await subscribe(viewer, project.id)
    writers = [await WsClient.connect(http, team.ws(i)) for i in (1, 2)]
    acked: list[str] = []
    await asyncio.gather(
        write(writers[0], project.id, 40, "one", acked),
        write(writers[1], project.id, 40, "two", acked),
    )
    assert len(acked) == 80
    for viewer in viewers:
        await until_events(viewer, project.id, 80, exact=False, timeout=30)
    # One gapless seq for both writers, after the project's own (seq 1).
    assert seqs(viewers[0], project.id) == list(range(2, 82))
    orders = [titles(v, project.id) for v in viewers]
    assert orders[0] == orders[1] == orders[2]
    assert sorted(orders[0]) == sorted(acked)


async def test_an_instance_killed_mid_burst_loses_no_acknowledged_change_and_its_clients_resume(
    team: Team, http: aiohttp.ClientSession
) -> None:
    owner = await WsClient.connect(http, team.ws(1))
    project = await make_project(owner)
    doomed = await WsClient.connect(http, team.ws(0))
    sub = await subscribe(doomed, project.id)
    epoch = sub.ack.subscribed.epoch
    watcher = await WsClient.connect(http, team.ws(1))
    await subscribe(watcher, project.id)
    # The doomed instance's viewer shows in the other's presence, then leaves with it.
    doomed_id = doomed.hello_welcome.connection_id
    await watcher.wait_until(lambda: shown(watcher, doomed_id), timeout=10)
    on_doomed = await WsClient.connect(http, team.ws(0))
    elsewhere = await WsClient.connect(http, team.ws(2))
    acked: list[str] = []
    burst = asyncio.gather(
        write(on_doomed, project.id, 200, "doomed", acked),
        write(elsewhere, project.id, 60, "other", acked),
    )
    await poll_until(lambda: len(acked) >= 30, timeout=30)
    team.kill(0)
    # Its people leave the others within two heartbeats.
    await watcher.wait_until(lambda: not shown(watcher, doomed_id), timeout=2 * HEARTBEAT)
    await doomed.wait_closed(timeout=10)
    await burst
    # The doomed instance's viewer comes back on another and resumes from its last seq.
    had = seqs(doomed, project.id)
    last = had[-1] if had else 1
    back = await WsClient.connect(http, team.ws(2))
    reply = await back.request(
        subscribe=commands_pb2.Subscribe(project_id=project.id, since_seq=last, epoch=epoch)
    )
    assert reply.WhichOneof("payload") == "ack", reply
    assert not reply.ack.subscribed.snapshot_follows
    head = reply.ack.subscribed.head_seq
    await back.wait_until(
        lambda: bool(seqs(back, project.id)) and seqs(back, project.id)[-1] >= head
    )
    every = had + seqs(back, project.id)
    assert every == list(range(2, head + 1)), "each missed event exactly once, in order"
    seen = set(titles(doomed, project.id)) | set(titles(back, project.id))
    assert set(acked) <= seen, "an acknowledged change was lost"
    await watcher.wait_until(lambda: len(watcher.events(project.id)) >= head - 1, timeout=30)
    assert seqs(watcher, project.id) == list(range(2, head + 1))


async def test_the_bus_restarted_under_load_is_survived(
    team: Team, http: aiohttp.ClientSession
) -> None:
    owner = await WsClient.connect(http, team.ws(0))
    project = await make_project(owner)
    viewers = [await WsClient.connect(http, team.ws(i)) for i in range(3)]
    for viewer in viewers:
        await subscribe(viewer, project.id)
    writers = [await WsClient.connect(http, team.ws(i)) for i in (0, 2)]
    acked: list[str] = []
    load = asyncio.gather(
        write(writers[0], project.id, 80, "a", acked),
        write(writers[1], project.id, 80, "b", acked),
    )
    await poll_until(lambda: len(acked) >= 20, timeout=30)
    team.bus.stop()
    await poll_until(lambda: len(acked) >= 80, timeout=60)
    # With no bus, an instance that wrote none of them still delivers them (from the log).
    committed = len(acked)
    await viewers[1].wait_until(lambda: len(viewers[1].events(project.id)) >= committed, 30)
    team.bus.start()
    await load
    assert len(acked) == 160
    for viewer in viewers:
        await until_events(viewer, project.id, 160, exact=False, timeout=60)
        assert seqs(viewer, project.id) == list(range(2, 162))
    # And the bus carries again: a change after it returned reaches everyone.
    more: list[str] = []
    await write(writers[1], project.id, 1, "after", more)
    for viewer in viewers:
        await until_events(viewer, project.id, 161, exact=True, timeout=30)


async def test_long_polls_wake_and_typing_shows_across_instances(
    team: Team, http: aiohttp.ClientSession
) -> None:
    owner = await WsClient.connect(http, team.ws(0))
    project = await make_project(owner)
    events_url = f"{team.urls[1]}/api/v1/projects/{project.id}/events"
    async with http.get(events_url) as r:
        head = int((await r.json())["headSeq"])
    # A long poll on one instance, a commit on another: the poll answers at once, well
    # before its wait is over.
    poll = asyncio.ensure_future(http.get(events_url, params={"since": str(head), "wait": "30"}))
    # Parked first, so that the commit wakes it (the answer is the same either way).
    await asyncio.sleep(0.5)
    acked: list[str] = []
    started = asyncio.get_running_loop().time()
    await write(owner, project.id, 1, "polled", acked)
    async with asyncio.timeout(10):
        response = await poll
    took = asyncio.get_running_loop().time() - started
    page = await response.json()
    response.release()
    assert [e["taskCreated"]["task"]["title"] for e in page["events"]] == ["polled-0"]
    assert took < 10

    # Someone typing on one instance is seen typing on another.
    typist = await WsClient.connect(http, team.ws(2))
    await subscribe(typist, project.id)
    reader = await WsClient.connect(http, team.ws(1))
    await subscribe(reader, project.id)
    task_id = (
        await owner.request(
            create_task=commands_pb2.CreateTask(
                project_id=project.id, task=entities_pb2.Task(title="discussed")
            )
        )
    ).ack.task.id
    reply = await typist.request(
        update_presence=commands_pb2.UpdatePresence(
            project_id=project.id, viewing_task_id=task_id, typing_comment=True
        )
    )
    assert reply.WhichOneof("payload") == "ack", reply
    typist_id = typist.hello_welcome.connection_id
    await reader.wait_for(
        lambda m: any(
            p.typing_comment and p.viewing_task_id == task_id for p in presences(m, typist_id)
        ),
        timeout=10,
    )


async def test_a_mention_reaches_the_one_named_on_another_instance(
    team: Team, http: aiohttp.ClientSession
) -> None:
    alice = await WsClient.connect(http, team.ws(0), client_id="b-alice", name="Alice")
    bob = await WsClient.connect(http, team.ws(1), client_id="b-bob", name="Bob Stone")
    cara = await WsClient.connect(http, team.ws(2), client_id="b-cara", name="Cara")
    project = await make_project(alice)
    task = (
        await alice.request(
            create_task=commands_pb2.CreateTask(
                project_id=project.id, task=entities_pb2.Task(title="Ship")
            )
        )
    ).ack.task
    await alice.request(
        add_comment=commands_pb2.AddComment(task_id=task.id, body="@BobStone have a look")
    )
    update = (await bob.wait_for(lambda m: m.HasField("inbox_update"))).inbox_update
    assert update.unread_count == 1
    assert [i.excerpt for i in update.items] == ["@BobStone have a look"]
    assert alice.of("inbox_update") == [] and cara.of("inbox_update") == []

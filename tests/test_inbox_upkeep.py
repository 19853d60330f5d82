"""The inbox's items are made after the commits, in batches (server/domain/upkeep.py): a read
right after a command still sees its items, live updates arrive whether commands come spread
out (the alarm) or in a stream (a group's own transaction), and nothing waits past a
shutdown or is lost to a crash. Real SQLite files (PostgreSQL in its pass), real servers."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from google.protobuf import field_mask_pb2
from tandem.v1 import commands_pb2, entities_pb2, inbox_pb2

from server.appkeys import DOMAIN
from server.config import ServerConfig
from server.domain import upkeep
from server.domain.events import Delivery
from server.domain.group_commit import CommandRequest
from server.domain.service import Domain, open_domain
from server.storage.models import InboxItemRow
from tests.api_client import ApiClient
from tests.fixtures import ROOT, TandemServer, two_editors
from tests.ws_client import WsClient, make_project, ws_url

Kind = inbox_pb2.InboxItemKind
Role = entities_pb2.MemberRole

# Connections sending a stream of commands, so that none nears the rate limit
# (realtime.protocol.COMMAND_RATE_PER_SECOND, COMMAND_BURST) before a group runs the upkeep.
STREAM_TABS = 8


def hold_upkeep(domain: Domain, monkeypatch: pytest.MonkeyPatch) -> None:
    """No group runs the upkeep and its alarm never rings: what it makes waits, unless a
    read catches up (or the domain closes, or starts)."""
    monkeypatch.setattr(domain.upkeep, "due", lambda _events: False)
    monkeypatch.setattr(domain.upkeep._alarm, "set", lambda _deadline: None)
    domain.upkeep._alarm.clear()


def items_stored(member_id: str) -> int:
    """The member's items as stored, read without catching up (on the database thread)."""
    return int(InboxItemRow.select().where(InboxItemRow.member_id == member_id).count())


def browser(client_id: str, name: str) -> dict[str, str]:
    return {"X-Tandem-Client-Id": client_id, "X-Tandem-Display-Name": name}


def is_inbox_update(msg: Any) -> bool:
    return bool(msg.HasField("inbox_update"))


async def test_every_inbox_read_right_after_a_command_sees_its_items_while_the_upkeep_waits(
    session: aiohttp.ClientSession, server: TandemServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    domain = server.app[DOMAIN]
    hold_upkeep(domain, monkeypatch)
    api = ApiClient(server.url, session)
    alice = await WsClient.connect(session, ws_url(server), client_id="b-alice", name="Alice")
    bob = await WsClient.connect(session, ws_url(server), client_id="b-bob", name="Bob")
    cara = await WsClient.connect(session, ws_url(server), client_id="b-cara", name="Cara")
    alice_id, bob_id, cara_id = (c.hello_welcome.member.id for c in (alice, bob, cara))
    project = await make_project(alice)
    made = await alice.request(
        create_task=commands_pb2.CreateTask(
            project_id=project.id, task=entities_pb2.Task(title="Ship", assignee_id=bob_id)
        )
    )
    task = made.ack.task
    assert await domain.read(items_stored, bob_id) == 0  # not made: the upkeep waits
    # REST: the list and its unread count.
    page = await api.request("GET", "/api/v1/inbox", headers=browser("b-bob", "Bob"))
    assert [i["kind"] for i in page.json["items"]] == ["INBOX_ITEM_KIND_ASSIGNED"]
    assert page.json["unreadCount"] == 1
    # What that read made is told live too, after its commit.
    update = (await bob.wait_for(is_inbox_update)).inbox_update
    assert [i.kind for i in update.items] == [Kind.INBOX_ITEM_KIND_ASSIGNED]
    # The WebSocket list.
    await alice.request(add_comment=commands_pb2.AddComment(task_id=task.id, body="@Bob look"))
    assert await domain.read(items_stored, bob_id) == 1
    listed = (await bob.request(list_inbox=inbox_pb2.ListInbox())).ack.inbox
    assert [i.kind for i in listed.items] == [
        Kind.INBOX_ITEM_KIND_MENTION,
        Kind.INBOX_ITEM_KIND_ASSIGNED,
    ]
    assert listed.unread_count == 2
    # Marking all read marks the item the upkeep has not made yet, and counts it.
    await alice.request(
        update_task=commands_pb2.UpdateTask(
            task_id=task.id,
            task=entities_pb2.Task(title="Ship it"),
            update_mask=field_mask_pb2.FieldMask(paths=["title"]),
        )
    )
    assert await domain.read(items_stored, bob_id) == 2
    state = (await bob.request(mark_inbox_read=inbox_pb2.MarkInboxRead(all=True))).ack.inbox_state
    assert state.unread_count == 0 and len(state.changed) == 3
    assert state.changed[-1].kind == Kind.INBOX_ITEM_KIND_CHANGED
    # Watchers: a commenter watches from the upkeep that reads the comment on.
    await cara.request(add_comment=commands_pb2.AddComment(task_id=task.id, body="on it"))
    watchers = (await alice.request(list_watchers=inbox_pb2.ListWatchers(task_id=task.id))).ack
    assert set(watchers.watchers.member_ids) == {alice_id, bob_id, cara_id}
    for client in (alice, bob, cara):
        await client.close()


async def test_a_task_deleted_before_the_upkeep_takes_its_new_items_to_the_trash_and_back(
    domain: Domain, monkeypatch: pytest.MonkeyPatch
) -> None:
    as_alice, as_bob = two_editors(domain)
    project = domain.execute(
        as_alice, commands_pb2.CreateProject(project=entities_pb2.Project(key="TRA", name="t"))
    ).project
    task = domain.execute(
        as_alice,
        commands_pb2.CreateTask(
            project_id=project.id,
            task=entities_pb2.Task(title="Doomed", assignee_id=as_bob.member_id),
        ),
    ).task
    hold_upkeep(domain, monkeypatch)
    await domain.command(as_alice, commands_pb2.AddComment(task_id=task.id, body="@bob see"))
    assert (
        await domain.read(items_stored, as_bob.member_id) == 1
    )  # the assignment; the mention waits
    await domain.command(as_alice, commands_pb2.DeleteTask(task_id=task.id))
    assert await domain.read(items_stored, as_bob.member_id) == 0
    # The upkeep reads on past the delete: the task is gone, the comment's item is not made
    # now, so only the trash can give it back.
    await domain.store.call(domain.upkeep.run_alone)
    await domain.command(as_alice, commands_pb2.RestoreTask(task_id=task.id))
    page = (await domain.command(as_bob, inbox_pb2.ListInbox())).inbox
    assert [i.kind for i in page.items] == [
        Kind.INBOX_ITEM_KIND_MENTION,
        Kind.INBOX_ITEM_KIND_ASSIGNED,
    ]


async def test_deliveries_arrive_when_commands_come_spread_out(
    session: aiohttp.ClientSession, server: TandemServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No group is due to run the upkeep: each command's items come by the alarm."""
    domain = server.app[DOMAIN]
    monkeypatch.setattr(domain.upkeep, "due", lambda _events: False)
    rang: list[bool] = []
    on_alarm = domain.upkeep._on_alarm

    def counted() -> None:
        rang.append(True)
        on_alarm()

    monkeypatch.setattr(domain.upkeep, "_on_alarm", counted)
    alice = await WsClient.connect(session, ws_url(server), client_id="b-alice", name="Alice")
    bob = await WsClient.connect(session, ws_url(server), client_id="b-bob", name="Bob")
    project = await make_project(alice)
    made = await alice.request(
        create_task=commands_pb2.CreateTask(
            project_id=project.id, task=entities_pb2.Task(title="Spread")
        )
    )
    for n in range(3):
        start = len(bob.received)
        body = f"@Bob note {n}"
        await alice.request(
            add_comment=commands_pb2.AddComment(task_id=made.ack.task.id, body=body)
        )
        update = (await bob.wait_for(is_inbox_update, start=start)).inbox_update
        assert [i.excerpt for i in update.items] == [body]
        assert update.unread_count == n + 1
    assert rang
    await alice.close()
    await bob.close()


async def test_deliveries_arrive_in_a_steady_stream_from_the_groups_own_upkeep(
    session: aiohttp.ClientSession, server: TandemServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The alarm never rings: a stream of commands gets its items from the groups that
    find the upkeep due (an interval since the last, or enough events waiting)."""
    domain = server.app[DOMAIN]
    monkeypatch.setattr(domain.upkeep._alarm, "set", lambda _deadline: None)
    domain.upkeep._alarm.clear()
    # Alice's tabs take turns, each well within a connection's rate of commands.
    tabs = [
        await WsClient.connect(session, ws_url(server), client_id="b-alice", name="Alice")
        for _ in range(STREAM_TABS)
    ]
    bob = await WsClient.connect(session, ws_url(server), client_id="b-bob", name="Bob")
    project = await make_project(tabs[0])
    made = await tabs[0].request(
        create_task=commands_pb2.CreateTask(
            project_id=project.id, task=entities_pb2.Task(title="Stream")
        )
    )
    sent: list[str] = []

    def told() -> list[str]:
        return [i.excerpt for m in bob.of("inbox_update") for i in m.inbox_update.items]

    async with asyncio.timeout(20):
        while not told():  # the stream goes on until a group has told some of it
            sent.append(f"@Bob part {len(sent)}")
            reply = await tabs[len(sent) % STREAM_TABS].request(
                add_comment=commands_pb2.AddComment(task_id=made.ack.task.id, body=sent[-1])
            )
            assert reply.WhichOneof("payload") == "ack", reply
    # Told in order, each once, up to the last group that ran the upkeep.
    assert told() == sent[: len(told())]
    for client in (*tabs, bob):
        await client.close()


def test_a_group_runs_the_upkeep_once_enough_events_wait(
    domain: Domain, monkeypatch: pytest.MonkeyPatch
) -> None:
    as_alice, as_bob = two_editors(domain)
    project = domain.execute(
        as_alice, commands_pb2.CreateProject(project=entities_pb2.Project(key="CNT", name="c"))
    ).project
    task = domain.execute(
        as_alice,
        commands_pb2.CreateTask(project_id=project.id, task=entities_pb2.Task(title="Counted")),
    ).task
    monkeypatch.setattr(upkeep, "UPKEEP_EVENTS", 3)
    monkeypatch.setattr(domain.upkeep._alarm, "set", lambda _deadline: None)
    # The last upkeep as good as now, whatever the time the test takes: only the count runs it.
    monkeypatch.setattr(domain.upkeep, "_last", float("inf"))
    stored = []
    for n in range(3):
        comment = commands_pb2.AddComment(task_id=task.id, body=f"@bob {n}")
        (outcome,) = domain._commit([CommandRequest(as_alice, comment, f"c{n}")])
        assert outcome.comment.body == f"@bob {n}"  # type: ignore[union-attr]
        domain.upkeep._last = float("inf")  # as if each group had run just after one
        stored.append(items_stored(as_bob.member_id))
    assert stored == [0, 0, 3]


async def test_shutdown_tells_members_what_the_upkeep_still_held(
    session: aiohttp.ClientSession, server: TandemServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    domain = server.app[DOMAIN]
    hold_upkeep(domain, monkeypatch)
    alice = await WsClient.connect(session, ws_url(server), client_id="b-alice", name="Alice")
    bob = await WsClient.connect(session, ws_url(server), client_id="b-bob", name="Bob")
    project = await make_project(alice)
    made = await alice.request(
        create_task=commands_pb2.CreateTask(
            project_id=project.id, task=entities_pb2.Task(title="S")
        )
    )
    body = "@Bob before we stop"
    await alice.request(add_comment=commands_pb2.AddComment(task_id=made.ack.task.id, body=body))
    assert bob.of("inbox_update") == []
    await server.close()
    await bob.wait_closed()
    told = [i.excerpt for m in bob.of("inbox_update") for i in m.inbox_update.items]
    assert told == [body]


async def test_close_runs_the_upkeep_that_waits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    domain = open_domain(ServerConfig(data_dir=tmp_path / "closing"))
    as_alice, as_bob = two_editors(domain)
    project = domain.execute(
        as_alice, commands_pb2.CreateProject(project=entities_pb2.Project(key="CLO", name="c"))
    ).project
    hold_upkeep(domain, monkeypatch)
    await domain.command(
        as_alice,
        commands_pb2.CreateTask(
            project_id=project.id,
            task=entities_pb2.Task(title="Late", assignee_id=as_bob.member_id),
        ),
    )
    delivered: list[Delivery] = []
    domain.inbox_sink.add_listener(delivered.extend)
    assert await domain.read(items_stored, as_bob.member_id) == 0
    domain.close()
    assert [d.member_id for d in delivered] == [as_bob.member_id]
    (item,) = delivered[0].message().inbox_update.items
    assert item.kind == Kind.INBOX_ITEM_KIND_ASSIGNED and item.task_title == "Late"


# A server that stops without running its upkeep: the alarm never rings, no group is due,
# and the process ends without closing anything (as a crash or a power cut would).
_CRASHING = textwrap.dedent(
    """
    import asyncio, os, sys
    from pathlib import Path
    from tandem.v1 import commands_pb2, entities_pb2
    from server.config import ServerConfig
    from server.domain import members, upkeep
    from server.domain.actor import Actor
    from server.domain.service import open_domain

    upkeep.Upkeep.due = lambda self, events: False
    upkeep.Alarm.set = lambda self, deadline: None
    domain = open_domain(ServerConfig(data_dir=Path(sys.argv[1])))
    with domain.store.db.atomic():
        alice = members.local("browser-alice", "alice", domain._clock())
        bob = members.local("browser-bob", "bob", domain._clock())
    as_alice = Actor(member_id=alice.id, client_key=alice.id)

    async def changes():
        made = await domain.command(as_alice, commands_pb2.CreateProject(
            project=entities_pb2.Project(key="CRA", name="c")))
        task = await domain.command(as_alice, commands_pb2.CreateTask(
            project_id=made.project.id, task=entities_pb2.Task(title="T", assignee_id=bob.id)))
        await domain.command(as_alice, commands_pb2.AddComment(task_id=task.task.id, body="@bob"))

    asyncio.run(changes())
    print(bob.id, flush=True)
    os._exit(0)
    """
)


@pytest.mark.sqlite_only("reads the SQLite file a crashed process left")
def test_a_crash_before_the_upkeep_leaves_the_items_to_the_next_start(tmp_path: Path) -> None:
    data = tmp_path / "crash"
    done = subprocess.run(
        [sys.executable, "-c", _CRASHING, str(data)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    bob_id = done.stdout.split()[-1]
    path = ServerConfig(data_dir=data).database_path

    def stored() -> tuple[int, int]:
        conn = sqlite3.connect(path)
        try:
            items = conn.execute("SELECT count(*) FROM inbox_item WHERE member_id = ?", (bob_id,))
            behind = conn.execute(
                "SELECT count(*) FROM log_head AS h LEFT JOIN inbox_cursor AS c"
                " ON c.project_id = h.project_id WHERE h.head_seq > coalesce(c.seq, 0)"
            )
            return int(items.fetchone()[0]), int(behind.fetchone()[0])
        finally:
            conn.close()

    assert stored() == (0, 1)  # committed, the inbox's position behind, no items
    for _ in range(2):  # made by the first start, not again by the second
        domain = open_domain(ServerConfig(data_dir=data))
        try:
            assert stored() == (2, 0)  # the assignment and the mention, before any read
        finally:
            domain.close()

"""Joins in linear time, over real sockets: presence batched per tick, snapshots shared by
joins that come together, and members limited to the project's own."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from google.protobuf import field_mask_pb2
from tandem.v1 import commands_pb2, entities_pb2, errors_pb2, events_pb2

from server.realtime.protocol import PRESENCE_TICK_SECONDS
from tests.fixtures import LAN_PEER, NewServer, listen_queue
from tests.ws_client import WsClient, event_seq, poll_until, presences, subscribe, ws_url

ONLINE = events_pb2.PRESENCE_STATE_ONLINE


async def project_with_task(client: WsClient) -> tuple[str, str]:
    made = await client.request(
        create_project=commands_pb2.CreateProject(
            project=entities_pb2.Project(key="SCL", name="scale")
        )
    )
    project_id = made.ack.project.id
    task = await client.request(
        create_task=commands_pb2.CreateTask(
            project_id=project_id, task=entities_pb2.Task(title="first")
        )
    )
    return project_id, task.ack.task.id


async def test_a_join_storm_reaches_a_viewer_as_one_presence_diff_per_tick(
    new_server: NewServer,
) -> None:
    server = await new_server()
    async with aiohttp.ClientSession() as session:
        watcher = await WsClient.connect(session, ws_url(server), name="Watcher")
        project_id, _ = await project_with_task(watcher)
        await subscribe(watcher, project_id)
        joiners = await asyncio.gather(
            *(WsClient.connect(session, ws_url(server), name=f"P{i}") for i in range(20))
        )
        mark = len(watcher.received)
        loop = asyncio.get_running_loop()
        started = loop.time()
        await asyncio.gather(*(subscribe(j, project_id) for j in joiners))
        ids = {j.hello_welcome.connection_id for j in joiners}

        def seen() -> set[str]:
            return {
                p.connection_id
                for m in watcher.received[mark:]
                for p in presences(m)
                if p.state == ONLINE
            }

        await watcher.wait_until(lambda: ids <= seen())
        elapsed = loop.time() - started
        diffs = [m for m in watcher.received[mark:] if m.HasField("presence_diff")]
        # Every joiner was announced, in at most one message per tick: not one per join.
        assert len(diffs) <= int(elapsed / PRESENCE_TICK_SECONDS) + 1, (len(diffs), elapsed)
        assert all(d.presence_diff.project_id == project_id for d in diffs)
        # The last joiner's snapshot names everyone viewing, itself included.
        last = joiners[-1].of("snapshot")[-1].snapshot
        assert {p.connection_id for p in last.presence} >= {
            joiners[-1].hello_welcome.connection_id,
            watcher.hello_welcome.connection_id,
        }
        for client in [watcher, *joiners]:
            await client.close()


async def test_joins_that_share_a_snapshot_miss_no_event(new_server: NewServer) -> None:
    server = await new_server()
    async with aiohttp.ClientSession() as session:
        editor = await WsClient.connect(session, ws_url(server))
        project_id, task_id = await project_with_task(editor)
        first = await WsClient.connect(session, ws_url(server))
        await subscribe(first, project_id)  # reads the board: now shared by the next joins
        readers = [await WsClient.connect(session, ws_url(server)) for _ in range(5)]
        # Changes and joins interleave: each reader must end with every change, once.
        titles = []
        for i, reader in enumerate(readers):
            title = f"title {i}"
            titles.append(title)
            change = editor.request(
                update_task=commands_pb2.UpdateTask(
                    task_id=task_id,
                    task=entities_pb2.Task(title=title),
                    update_mask=field_mask_pb2.FieldMask(paths=["title"]),
                )
            )
            await asyncio.gather(change, subscribe(reader, project_id))
        head = (
            await editor.request(
                create_task=commands_pb2.CreateTask(
                    project_id=project_id, task=entities_pb2.Task(title="last")
                )
            )
        ).ack.seq
        for reader in [first, *readers]:
            snap = reader.of("snapshot")[-1].snapshot
            await reader.wait_until(
                lambda r=reader: any(event_seq(m) == head for m in r.events())  # type: ignore[misc]
            )
            seqs = [event_seq(m) for m in reader.events()]
            # Live events continue the snapshot with no gap and no repeat.
            assert seqs == list(range(snap.seq + 1, head + 1)), (snap.seq, seqs)
        for client in [editor, first, *readers]:
            await client.close()


async def test_joins_that_come_together_read_the_board_once(new_server: NewServer) -> None:
    from server.appkeys import DOMAIN

    server = await new_server()
    domain = server.app[DOMAIN]
    reads: list[str] = []
    read_board = domain.snapshot

    def counted(project_id: str) -> Any:
        reads.append(project_id)
        return read_board(project_id)

    domain.snapshot = counted  # type: ignore[method-assign]
    async with aiohttp.ClientSession() as session:
        editor = await WsClient.connect(session, ws_url(server))
        project_id, _ = await project_with_task(editor)
        joiners = await asyncio.gather(
            *(WsClient.connect(session, ws_url(server)) for _ in range(20))
        )
        # All at once, before anyone has read the board: one read serves them all.
        await asyncio.gather(*(subscribe(j, project_id) for j in joiners))
        assert reads == [project_id]
        snaps = [j.of("snapshot")[-1].snapshot for j in joiners]
        assert {(s.seq, len(s.tasks)) for s in snaps} == {(snaps[0].seq, 1)}
        # An unknown project is still refused, by that read.
        refused = await joiners[0].request(subscribe=commands_pb2.Subscribe(project_id="nope"))
        assert refused.reject.error.code == errors_pb2.ERROR_CODE_NOT_FOUND
        for client in [editor, *joiners]:
            await client.close()


async def test_a_snapshot_names_the_projects_members_not_everyone(new_server: NewServer) -> None:
    server = await new_server()
    async with aiohttp.ClientSession() as session:
        owner = await WsClient.connect(session, ws_url(server), name="Owner")
        project_id, task_id = await project_with_task(owner)
        # Fifty people have connected once and gone: they are members, not this board's.
        for i in range(50):
            passer = await WsClient.connect(session, ws_url(server), name=f"Passer {i}")
            await passer.close()
        assignee = await WsClient.connect(session, ws_url(server), name="Assignee")
        await owner.request(
            update_task=commands_pb2.UpdateTask(
                task_id=task_id,
                task=entities_pb2.Task(assignee_id=assignee.hello_welcome.member.id),
                update_mask=field_mask_pb2.FieldMask(paths=["assignee_id"]),
            )
        )
        await subscribe(owner, project_id)
        members = owner.of("snapshot")[-1].snapshot.members
        assert assignee.hello_welcome.member.id in {m.id for m in members}
        assert not [m for m in members if m.display_name.startswith("Passer")]
        for client in [owner, assignee]:
            await client.close()


async def test_presence_shows_the_first_comers_up_to_its_limit(
    new_server: NewServer, monkeypatch: Any
) -> None:
    from server.realtime import hub

    monkeypatch.setattr(hub, "PRESENCE_SHOWN_LIMIT", 2)
    server = await new_server()
    async with aiohttp.ClientSession() as session:
        a, b, c = [await WsClient.connect(session, ws_url(server)) for _ in range(3)]
        project_id, _ = await project_with_task(a)
        for client in (a, b, c):
            await subscribe(client, project_id)
        ids = [x.hello_welcome.connection_id for x in (a, b, c)]
        assert {p.connection_id for p in c.of("snapshot")[-1].snapshot.presence} == set(ids[:2])
        # The third viewer is not announced; when a shown one leaves, its place is free for
        # the next to arrive.
        await b.close()
        await a.wait_until(
            lambda: any(
                p.state == events_pb2.PRESENCE_STATE_OFFLINE
                for m in a.received
                for p in presences(m, ids[1])
            )
        )
        assert not [p for m in a.received for p in presences(m, ids[2])]
        d = await WsClient.connect(session, ws_url(server))
        await subscribe(d, project_id)
        shown = {p.connection_id for p in d.of("snapshot")[-1].snapshot.presence}
        assert shown == {ids[0], d.hello_welcome.connection_id}
        for client in (a, c, d):
            await client.close()


async def test_a_hello_again_is_answered_from_memory_and_renames_still_stored(
    new_server: NewServer,
) -> None:
    from server.appkeys import DOMAIN

    server = await new_server()
    domain = server.app[DOMAIN]
    first = await domain.local_member("browser-1", "Ada")
    again = await domain.local_member("browser-1", "Ada")
    assert again == first
    assert (await domain.local_member("browser-1", "")).display_name == "Ada"
    # A rename, and back: each is written, whatever was remembered.
    for name in ("Ada L.", "Ada"):
        renamed = await domain.local_member("browser-1", name)
        assert renamed.id == first.id and renamed.display_name == name
        stored = {m.id: m for m in await domain.read(domain.list_members)}
        assert stored[first.id].display_name == name


async def test_hellos_that_come_together_share_one_trip_to_the_database(
    new_server: NewServer,
) -> None:
    from server.appkeys import DOMAIN
    from server.domain.errors import DomainError

    server = await new_server()
    domain = server.app[DOMAIN]
    drains: list[int] = []
    drain = domain._hellos._drain

    def counted() -> None:
        drains.append(1)
        drain()

    domain._hellos._drain = counted  # type: ignore[method-assign]
    names = [f"Person {i}" for i in range(30)]
    calls = [domain.local_member(f"browser-{i}", name) for i, name in enumerate(names)]
    calls.insert(10, domain.local_member("x" * 101, "Too long an id"))
    got = await asyncio.gather(*calls, return_exceptions=True)
    # Queued while the first drain was on its way: at most a second trip takes the rest.
    assert len(drains) <= 2
    refused = got.pop(10)
    assert isinstance(refused, DomainError) and refused.field == "client_id"
    assert [m.display_name for m in got] == names  # type: ignore[union-attr]
    stored = {m.id: m.display_name for m in await domain.read(domain.list_members)}
    assert all(stored[m.id] == m.display_name for m in got)  # type: ignore[union-attr]
    # The same browsers again: the same members.
    again = await asyncio.gather(
        *(domain.local_member(f"browser-{i}", "") for i in range(len(names)))
    )
    assert [m.id for m in again] == [m.id for m in got]  # type: ignore[union-attr]


async def test_after_a_restart_known_browsers_are_answered_before_the_database_is_free(
    new_server: NewServer, tmp_path: Path
) -> None:
    """A start reads the browsers' members: the storm of hellos that follows a restart asks
    the database thread nothing for those, as it would not before (shown with that thread
    held busy), and a rename is still written."""
    import threading

    from server.appkeys import DOMAIN

    data_dir = tmp_path / "restarted"
    first = await new_server(data_dir=data_dir)
    made = [await first.app[DOMAIN].local_member(f"browser-{i}", f"Person {i}") for i in range(5)]
    await first.close()
    server = await new_server(data_dir=data_dir)
    domain = server.app[DOMAIN]
    busy, free = threading.Event(), threading.Event()

    def hold() -> None:
        busy.set()
        free.wait(30)

    domain.store.submit(hold)
    assert await asyncio.to_thread(busy.wait, 30)
    try:
        again = await asyncio.wait_for(
            asyncio.gather(*(domain.local_member(f"browser-{i}", "") for i in range(5))), 10
        )
        assert again == made
    finally:
        free.set()
    assert (await domain.local_member("browser-0", "Renamed")).display_name == "Renamed"
    stored = {m.id: m.display_name for m in await domain.read(domain.list_members)}
    assert stored[made[0].id] == "Renamed"


async def test_hellos_of_known_browsers_look_them_up_in_one_query(
    new_server: NewServer,
) -> None:
    """When nobody is remembered (past what a start reads), a storm of hellos finds its
    members with one query, and only a hello that renames its member writes (in a
    savepoint of its own)."""
    from server.appkeys import DOMAIN

    server = await new_server()
    domain = server.app[DOMAIN]
    made = await asyncio.gather(
        *(domain.local_member(f"browser-{i}", f"Person {i}") for i in range(40))
    )
    domain._local_members.clear()  # as past what a start reads
    db = domain.store.db
    statements: list[str] = []
    execute_sql = db.execute_sql

    def counted(sql: str, *args: object, **kwargs: object) -> object:
        statements.append(sql)
        return execute_sql(sql, *args, **kwargs)

    db.execute_sql = counted  # type: ignore[method-assign]
    try:
        names = [f"Person {i}" if i != 7 else "Renamed" for i in range(40)]
        again = await asyncio.gather(
            *(domain.local_member(f"browser-{i}", name) for i, name in enumerate(names))
        )
    finally:
        db.execute_sql = execute_sql  # type: ignore[method-assign]
    assert [m.id for m in again] == [m.id for m in made]
    assert [m.display_name for m in again] == names
    lookups = [s for s in statements if s.startswith("SELECT") and '"member"' in s]
    # Two trips at most (hellos queued while the first drain ran), each one query, and the
    # renamed one's own read inside its savepoint.
    assert 2 <= len(lookups) <= 3, lookups
    assert sum(s.startswith("SAVEPOINT") for s in statements) == 1
    stored = {m.id: m.display_name for m in await domain.read(domain.list_members)}
    assert stored[made[7].id] == "Renamed"


async def test_a_join_storm_tells_connection_observers_once_per_tick(
    new_server: NewServer,
) -> None:
    from server.realtime import HUB
    from server.realtime.protocol import PRESENCE_TICK_SECONDS

    server = await new_server()
    hub = server.app[HUB]
    told: list[int] = []
    remove = hub.add_observer(lambda people: told.append(len(people)))
    async with aiohttp.ClientSession() as session:
        owner = await WsClient.connect(session, ws_url(server))
        project_id, _ = await project_with_task(owner)
        loop = asyncio.get_running_loop()
        started = loop.time()
        joiners = await asyncio.gather(
            *(WsClient.connect(session, ws_url(server)) for _ in range(30))
        )
        await asyncio.gather(*(subscribe(j, project_id) for j in joiners))
        await poll_until(lambda: bool(told) and told[-1] == 31)
        elapsed = loop.time() - started
        # Sixty changes (30 hellos, 30 subscriptions), each listing everyone if told one
        # by one: instead at most one list per tick.
        assert len(told) <= int(elapsed / PRESENCE_TICK_SECONDS) + 2, (len(told), elapsed)
        remove()
        for client in [owner, *joiners]:
            await client.close()


async def test_the_listener_queues_a_storm_in_the_kernel_and_accepts_it_in_batches(
    new_server: NewServer,
) -> None:
    """The kernel holds a reconnect storm's connections (no SYN retried a second later),
    while asyncio accepts them a batch per wake-up; more than a batch at once all join."""
    from server.runner import ACCEPT_BATCH, LISTEN_BACKLOG

    server = await new_server()
    found = await asyncio.to_thread(listen_queue, server.port)
    if found is not None:
        queue, cap = found
        assert queue == min(LISTEN_BACKLOG, cap)
    # No limit of the client's own (aiohttp's is 100 connections per session).
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        many = 3 * ACCEPT_BATCH
        clients = await asyncio.gather(
            *(WsClient.connect(session, ws_url(server), name=f"P{i}") for i in range(many))
        )
        assert len({c.hello_welcome.connection_id for c in clients}) == many
        await asyncio.gather(*(c.close() for c in clients))


async def test_the_lan_listener_queues_a_storm_in_the_kernel_too(new_server: NewServer) -> None:
    """Its own accepts stay in small batches (its cap on connections without a credential),
    but the kernel's queue is as deep as the loopback listener's: a storm of invitees waits
    there rather than retrying its SYN a second later."""
    from server.appkeys import DOMAIN
    from server.runner import LISTEN_BACKLOG
    from server.security import invites

    server = await new_server(lan=True, lan_host=LAN_PEER, lan_peers_on_loopback=True)
    found = await asyncio.to_thread(listen_queue, server.lan_port)
    if found is None:
        pytest.skip("ss (iproute2) shows a listener's queue size")
    queue, cap = found
    assert queue == min(LISTEN_BACKLOG, cap)
    # And it still serves: an invitee gets in with the token.
    made = await server.app[DOMAIN].write(invites.create, "Ivy", "viewer")
    url = f"http://{LAN_PEER}:{server.lan_port}/api/v1/projects"
    async with aiohttp.ClientSession() as session:
        headers = {"Authorization": f"Bearer {made.token}"}
        async with session.get(url, headers=headers) as resp:
            assert resp.status == 200, await resp.text()


async def test_a_started_server_keeps_the_collectors_passes_short(new_server: NewServer) -> None:
    """What exists once a server has started is frozen out of the collector's passes (in a
    storm its full passes were the loop's longest stalls), and the young generation waits
    for more allocations than CPython's default before it is examined."""
    import gc

    from server.runner import GC_YOUNG_THRESHOLD

    await new_server()
    assert gc.get_freeze_count() > 10_000  # the modules, descriptors and models at least
    assert gc.get_threshold()[0] == GC_YOUNG_THRESHOLD

"""Hostile and broken clients: slow readers, silent peers, bad frames, floods, shutdown."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
from tandem.v1 import commands_pb2, entities_pb2, errors_pb2, events_pb2, websocket_pb2

from server.appkeys import DOMAIN
from server.realtime import HUB
from server.realtime.places import Places
from tests.fixtures import LOCAL, NewServer
from tests.ws_client import (
    RawWs,
    WsClient,
    event_seq,
    make_project,
    poll_until,
    presences,
    subscribe,
    ws_url,
)

Code = errors_pb2.ErrorCode


def create(project_id: str, title: str, description: str = "") -> commands_pb2.CreateTask:
    return commands_pb2.CreateTask(
        project_id=project_id, task=entities_pb2.Task(title=title, description=description)
    )


async def send_respecting_rate_limit(client: WsClient, **payload: Any) -> Any:
    for _ in range(100):
        reply = await client.request(**payload)
        if reply.HasField("ack"):
            return reply
        assert reply.reject.error.code == Code.ERROR_CODE_RATE_LIMITED, reply
        # The server says when a token is free again: back off exactly that long.
        await asyncio.sleep(reply.reject.error.retry_after_ms / 1000)
    raise AssertionError("rate limited for too long")


async def read_until_close(client: RawWs, timeout: float = 30.0) -> int:
    """Read every frame up to the server's close frame; return its close code."""
    async with asyncio.timeout(timeout):
        while True:
            opcode, payload = await client.read_frame()
            if opcode == 0x8:
                assert len(payload) >= 2, payload
                return int.from_bytes(payload[:2], "big")
            if opcode == 0x9:  # ping: answer, as any WebSocket client does
                client.send(payload, opcode=0xA)
                continue
            assert opcode == 0x2, opcode
            # A whole protobuf message, or this raises.
            websocket_pb2.WebSocketMessage.FromString(payload)


async def test_a_client_that_never_reads_is_dropped_while_others_keep_receiving(
    session: aiohttp.ClientSession, new_server: NewServer
) -> None:
    server = await new_server(send_queue_limit=8)
    editor = await WsClient.connect(session, ws_url(server))
    reader = await WsClient.connect(session, ws_url(server))
    project_id = (await make_project(editor, "LIM", "l")).id
    await subscribe(reader, project_id)
    stalled = await RawWs.connect(server.host, server.port or 0)
    stalled.send_message(
        websocket_pb2.WebSocketMessage(
            message_id="h", hello=commands_pb2.Hello(protocol_version=1, client_id="stalled")
        )
    )
    stalled.send_message(
        websocket_pb2.WebSocketMessage(
            message_id="s", subscribe=commands_pb2.Subscribe(project_id=project_id)
        )
    )
    mine = reader.hello_welcome.connection_id
    joined = await reader.wait_for(lambda m: any(p.connection_id != mine for p in presences(m)))
    stalled_id = next(p.connection_id for p in presences(joined) if p.connection_id != mine)

    def stalled_left() -> bool:
        return any(
            p.state == events_pb2.PRESENCE_STATE_OFFLINE
            for m in reader.received
            for p in presences(m, stalled_id)
        )

    big = "x" * 100_000
    last = 0
    for i in range(300):
        reply = await send_respecting_rate_limit(
            editor, create_task=create(project_id, f"t{i}", big)
        )
        last = reply.ack.seq
        if stalled_left():
            break
    assert stalled_left(), "the stalled client was never dropped"
    # Reading again, the stalled client gets whole frames only, then a close frame with
    # 4008: the frame being written when it fell behind was finished, not cut short.
    code = await read_until_close(stalled)
    assert code == 4008
    # The reader got every event up to the last, in order, while the stalled one was cut.
    await reader.wait_until(
        lambda: bool(reader.events()) and event_seq(reader.events()[-1]) >= last
    )
    seqs = [event_seq(m) for m in reader.events()]
    assert seqs == list(range(seqs[0], last + 1))
    assert stalled_id not in {c.connection_id for c in server.app[HUB].connections()}
    stalled.close()
    await editor.close()
    await reader.close()


async def test_a_client_that_stops_answering_pings_is_dropped_and_leaves(
    session: aiohttp.ClientSession, new_server: NewServer
) -> None:
    server = await new_server(heartbeat_seconds=0.3)
    watcher = await WsClient.connect(session, ws_url(server))
    project_id = (await make_project(watcher, "LIM", "l")).id
    await subscribe(watcher, project_id)
    silent = await WsClient.connect(session, ws_url(server), autoping=False)
    await subscribe(silent, project_id)
    silent_id = silent.hello_welcome.connection_id
    left = await watcher.wait_for(
        lambda m: any(p.state == events_pb2.PRESENCE_STATE_OFFLINE for p in presences(m, silent_id))
    )
    assert left.presence_diff.project_id == project_id
    await silent.wait_closed()
    assert silent_id not in {c.connection_id for c in server.app[HUB].connections()}
    await watcher.close()


async def test_the_heartbeat_keeps_a_client_that_answers_and_cuts_one_that_stops(
    new_server: NewServer,
) -> None:
    interval = 0.3
    server = await new_server(heartbeat_seconds=interval)
    raw = await RawWs.connect(LOCAL, server.port)
    raw.send_message(
        websocket_pb2.WebSocketMessage(
            message_id="h", hello=commands_pb2.Hello(protocol_version=1, client_id="beat")
        )
    )
    welcome = await raw.read_message()
    assert welcome is not None and welcome.ack.HasField("welcome")
    conn_id = welcome.ack.welcome.connection_id
    # A ping from the client is answered with its payload.
    raw.send(b"are you there", opcode=0x9)
    assert await raw.read_frame() == (0xA, b"are you there")
    loop = asyncio.get_running_loop()
    last_sent = loop.time()
    for _ in range(4):
        opcode, payload = await raw.read_frame()
        assert opcode == 0x9, (opcode, payload)
        # Pinged only once a whole interval passed without a word from this client.
        assert loop.time() - last_sent >= interval * 0.95
        raw.send(payload, opcode=0xA)
        last_sent = loop.time()
    # Four intervals on, having sent nothing but pongs, it is still connected.
    assert conn_id in {c.connection_id for c in server.app[HUB].connections()}
    opcode, _ = await raw.read_frame()
    assert opcode == 0x9
    unanswered = loop.time()
    await raw.wait_closed_by_peer()  # cut without a close frame (nothing else is sent)
    assert loop.time() - unanswered >= interval / 2 * 0.95
    await poll_until(
        lambda: conn_id not in {c.connection_id for c in server.app[HUB].connections()}
    )
    raw.close()


async def expect_close(client: WsClient, frame: bytes | str) -> int | None:
    if isinstance(frame, str):
        await client.ws.send_str(frame)
    else:
        await client.ws.send_bytes(frame)
    return await client.wait_closed()


def nested_groups(depth: int) -> bytes:
    start, end = b"\xfb\x3f", b"\xfc\x3f"  # field 1023, start/end group
    return start * depth + end * depth


async def test_malformed_input_gets_the_right_close_code_and_others_are_served(
    session: aiohttp.ClientSession, new_server: NewServer
) -> None:
    server = await new_server(max_message_bytes=64 * 1024)
    bystander = await WsClient.connect(session, ws_url(server))
    project_id = (await make_project(bystander, "LIM", "l")).id
    await subscribe(bystander, project_id)
    hello = websocket_pb2.WebSocketMessage(
        message_id="h", hello=commands_pb2.Hello(protocol_version=1)
    ).SerializeToString()
    cases: list[tuple[str, bool, bytes | str, int]] = [
        ("text frame on the binary endpoint", False, '{"hello": {}}', 1003),
        ("binary frame on the JSON endpoint", True, hello, 1003),
        ("garbage", False, b"\xff\xff\xff\xff", 1007),
        ("truncated", False, hello[:-1], 1007),
        ("nested 200 deep", False, nested_groups(200), 1007),
        ("invalid UTF-8 in a string", False, b"\x0a\x02\xff\xfe", 1007),
        ("not JSON", True, "{nope", 1007),
        ("JSON of the wrong shape", True, '{"hello": 5}', 1007),
        ("too big", False, b"\x0a" + b"\x80\x80\x08" + b"x" * (128 * 1024), 1009),
    ]
    for name, as_json, frame, code in cases:
        client = await WsClient.connect(session, ws_url(server), as_json=as_json)
        assert await expect_close(client, frame) == code, name
        # Everyone else is still served.
        r = await bystander.request(create_task=create(project_id, name))
        assert r.HasField("ack"), name
    await bystander.wait_until(lambda: len(bystander.events()) >= len(cases))
    await bystander.close()


async def test_unknown_fields_from_clients_are_never_stored_or_relayed(
    session: aiohttp.ClientSession, new_server: NewServer, tmp_path: Path
) -> None:
    server = await new_server()
    a = await WsClient.connect(session, ws_url(server))
    b = await WsClient.connect(session, ws_url(server))
    project_id = (await make_project(a, "LIM", "l")).id
    await subscribe(b, project_id)
    marker = b"SMUGGLED-PAYLOAD"
    task = entities_pb2.Task(title="clean").SerializeToString()
    task += b"\xfa\x3f" + bytes([len(marker)]) + marker  # Task field 1023
    create_task = commands_pb2.CreateTask(project_id=project_id).SerializeToString()
    create_task += b"\x12" + bytes([len(task)]) + task  # CreateTask.task = 2
    frame = b"\x0a\x01u" + b"\x9a\x02" + bytes([len(create_task)]) + create_task  # field 35
    await a.ws.send_bytes(frame)
    reply = await a.wait_for(lambda m: m.message_id == "u")
    assert reply.HasField("ack"), reply
    got = await b.wait_for(lambda m: m.HasField("task_created"))
    assert got.task_created.task.title == "clean"
    assert not any(marker in r for r in b.raw if isinstance(r, bytes))
    assert not any(marker in r for r in a.raw if isinstance(r, bytes))
    db = server.app[DOMAIN]
    await db.read(db.store.checkpoint)
    stored = await asyncio.to_thread(
        lambda: [p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()]
    )
    assert stored
    assert not any(marker in data for data in stored)
    await a.close()
    await b.close()


async def test_commands_over_the_rate_limit_are_rejected_with_retry_after(
    session: aiohttp.ClientSession, new_server: NewServer
) -> None:
    server = await new_server()
    client = await WsClient.connect(session, ws_url(server))
    for i in range(200):
        await client.send(
            websocket_pb2.WebSocketMessage(
                message_id=f"u{i}",
                unsubscribe=commands_pb2.Unsubscribe(subscription_id="none"),
            )
        )
    await client.wait_until(lambda: sum(m.HasField("reject") for m in client.received) >= 200)
    codes = [m.reject.error for m in client.received if m.HasField("reject")]
    limited = [e for e in codes if e.code == Code.ERROR_CODE_RATE_LIMITED]
    assert limited
    assert all(e.retry_after_ms > 0 for e in limited)
    assert len(codes) - len(limited) >= 99  # the burst (less the hello) went through
    await client.close()


async def test_shutdown_flushes_queues_then_closes_with_going_away(
    session: aiohttp.ClientSession, new_server: NewServer
) -> None:
    server = await new_server(send_queue_limit=4096)
    app, host, port = server.app, LOCAL, server.port
    url = ws_url(server)
    viewer = await WsClient.connect(session, url)
    project_id = (await make_project(viewer, "LIM", "l")).id
    await subscribe(viewer, project_id)
    stalled = await RawWs.connect(host, port)  # never reads: must not hold shutdown up
    stalled.send_message(
        websocket_pb2.WebSocketMessage(hello=commands_pb2.Hello(protocol_version=1))
    )
    domain = app[DOMAIN]
    actor = domain.owner_actor()
    last = 0
    for i in range(50):
        ack = await domain.command(actor, create(project_id, f"t{i}"))
        last = ack.seq
    await server.close()
    assert await viewer.wait_closed() == 1001
    seqs = [event_seq(m) for m in viewer.events()]
    assert seqs[-1] == last
    assert seqs == list(range(seqs[0], last + 1))
    stalled.close()


async def test_joins_past_the_places_for_joining_wait_for_one_and_then_get_in(
    session: aiohttp.ClientSession, new_server: NewServer
) -> None:
    server = await new_server(hello_timeout_seconds=0.5)
    hub = server.app[HUB]
    hub.joining = Places(2)  # two places instead of MAX_JOINING
    loop = asyncio.get_running_loop()
    # Two upgrade and never say hello: they hold both places until their hello timeout.
    silent = [await WsClient.connect(session, ws_url(server), hello=False) for _ in range(2)]
    joiners = [asyncio.ensure_future(WsClient.connect(session, ws_url(server))) for _ in range(5)]
    welcomed_at: list[float] = []
    for joiner in joiners:
        joiner.add_done_callback(lambda _: welcomed_at.append(loop.time()))
    assert await silent[0].wait_closed() == 4408
    first_freed = loop.time()
    assert await silent[1].wait_closed() == 4408
    got = await asyncio.gather(*joiners)
    # Nobody got in before a place was given back.
    assert min(welcomed_at) >= first_freed
    # All five in, two at a time, none timed out waiting for a place.
    ids = {c.hello_welcome.connection_id for c in got}
    assert len(ids) == 5 and ids <= {c.connection_id for c in hub.connections()}
    assert hub.joining.free == 2  # joined connections hold no place
    for client in got:
        await client.close()


async def test_a_connection_that_never_says_hello_is_closed_after_the_hello_timeout(
    session: aiohttp.ClientSession, new_server: NewServer
) -> None:
    server = await new_server(hello_timeout_seconds=0.5)
    greeted = await WsClient.connect(session, ws_url(server))
    silent = await WsClient.connect(session, ws_url(server), hello=False)
    # Talking without a successful hello does not keep a connection open either.
    chatty = await WsClient.connect(session, ws_url(server), hello=False)
    early = await chatty.request(unsubscribe=commands_pb2.Unsubscribe(subscription_id="x"))
    assert early.reject.error.code == Code.ERROR_CODE_FAILED_PRECONDITION
    wrong = await chatty.request(hello=commands_pb2.Hello(protocol_version=99))
    assert wrong.reject.error.code == Code.ERROR_CODE_UNSUPPORTED
    assert await silent.wait_closed() == 4408
    assert await chatty.wait_closed() == 4408
    # The one that said hello connected first, so its deadline has passed too: still served.
    reply = await greeted.request(
        create_project=commands_pb2.CreateProject(project=entities_pb2.Project(key="HT", name="h"))
    )
    assert reply.HasField("ack"), reply
    assert not greeted.closed.is_set()
    await greeted.close()

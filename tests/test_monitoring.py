"""/metrics after a scripted run shows exactly what happened; this computer only."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families
from tandem.v1 import commands_pb2, diagnostics_pb2, entities_pb2, errors_pb2, websocket_pb2

from server import security
from server.config import DATABASE_URL_ENV
from server.monitoring import MONITOR
from server.monitoring.history import quantile
from server.realtime import HUB
from tests.fixtures import LAN_PEER, NewServer, TandemServer, client_from
from tests.team_support import team_database
from tests.test_security_support import make_invite
from tests.ws_client import (
    RawWs,
    WsClient,
    make_project,
    poll_until,
    presences,
    subscribe,
    ws_url,
)

Code = errors_pb2.ErrorCode
Series = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(session: aiohttp.ClientSession, server: TandemServer) -> Series:
    async with session.get(server.make_url("/metrics")) as response:
        assert response.status == 200
        assert response.content_type == "text/plain"
        text = await response.text()
    series: Series = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            series[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return series


def value(series: Series, name: str, **labels: str) -> float:
    """One series' value (0 when it was never counted)."""
    return series.get((name, frozenset(labels.items())), 0.0)


def total(series: Series, name: str, **labels: str) -> float:
    """The sum over every series of ``name`` whose labels include ``labels``."""
    want = set(labels.items())
    return sum(v for (n, ls), v in series.items() if n == name and want <= ls)


def create(project_id: str, title: str, description: str = "") -> commands_pb2.CreateTask:
    return commands_pb2.CreateTask(
        project_id=project_id, task=entities_pb2.Task(title=title, description=description)
    )


async def test_a_scripted_run_shows_exactly_its_counts(
    session: aiohttp.ClientSession, new_server: NewServer
) -> None:
    server = await new_server(send_queue_limit=8, lan_peers_on_loopback=True)
    await server.share()  # LAN peers (127.0.0.2) may now knock, with a credential

    editor = await WsClient.connect(session, ws_url(server))
    reader = await WsClient.connect(session, ws_url(server))
    project_id = (await make_project(editor, "MET", "Metrics")).id
    await subscribe(reader, project_id)

    # A stalled reader: it subscribes, then never reads, and is dropped with 4008.
    stalled = await RawWs.connect(server.host, server.port or 0)
    hello = commands_pb2.Hello(protocol_version=1, client_id="stalled")
    stalled.send_message(websocket_pb2.WebSocketMessage(message_id="h", hello=hello))
    stalled.send_message(
        websocket_pb2.WebSocketMessage(
            message_id="s", subscribe=commands_pb2.Subscribe(project_id=project_id)
        )
    )
    hub = server.app[HUB]
    mine = reader.hello_welcome.connection_id
    # Live once the reader hears it join.
    await reader.wait_for(lambda m: any(p.connection_id != mine for p in presences(m)))

    big = "x" * 100_000
    created = 0
    while hub.subscription_count() == 2:
        reply = await editor.request(create_task=create(project_id, f"t{created}", big))
        if reply.HasField("reject"):
            assert reply.reject.error.code == Code.ERROR_CODE_RATE_LIMITED, reply
            await asyncio.sleep(reply.reject.error.retry_after_ms / 1000)  # as told to
            rate_limited = True
            break
        created += 1
        assert created < 300, "the stalled client was never dropped"
    else:
        rate_limited = False
    assert not rate_limited, "the script must stay under the rate limit to be exact"

    # One refusal: an update of a task that does not exist.
    missing = await editor.request(
        update_task=commands_pb2.UpdateTask(
            task_id="no-such-task", task=entities_pb2.Task(title="x"), base_version=1
        )
    )
    assert missing.reject.error.code == Code.ERROR_CODE_NOT_FOUND

    # Malformed input: a frame that is no message ends that connection with 1007.
    broken = await WsClient.connect(session, ws_url(server), hello=False)
    await broken.ws.send_bytes(b"\xff\xff\xff")
    assert await broken.wait_closed() == 1007

    # A wrong LAN credential, and LAN requests for the figures (404, not counted as wrong).
    async with client_from(LAN_PEER) as lan:
        async with lan.get(
            server.make_url("/api/v1/projects"), headers={"Authorization": "Bearer wrong"}
        ) as refused:
            assert refused.status == 401
        for path in ("/metrics", "/api/v1/diagnostics"):
            async with lan.get(server.make_url(path)) as hidden:
                assert hidden.status == 404, path
                assert "tandem_" not in await hidden.text()

    await editor.close()
    await reader.close()
    stalled.close()
    metrics = server.app[MONITOR].metrics
    assert metrics is not None
    # Each connection is counted once its handler has ended (the stalled one's last).
    await poll_until(lambda: sum(metrics.disconnects.values()) == 4)
    series = await scrape(session, server)

    hellos = 3  # editor, reader, stalled
    assert value(series, "tandem_messages_received_total", type="hello") == hellos
    assert value(series, "tandem_messages_received_total", type="subscribe") == 2
    assert value(series, "tandem_messages_received_total", type="create_task") == created
    assert value(series, "tandem_messages_received_total", type="invalid") == 1
    assert value(series, "tandem_received_bytes_total", type="invalid") == 3
    ack = {"transport": "ws", "result": "ack", "code": ""}
    assert value(series, "tandem_commands_total", command="hello", **ack) == hellos
    assert value(series, "tandem_commands_total", command="create_project", **ack) == 1
    assert value(series, "tandem_commands_total", command="create_task", **ack) == created
    assert value(series, "tandem_commands_total", command="subscribe", **ack) == 2
    assert (
        value(
            series,
            "tandem_commands_total",
            transport="ws",
            command="update_task",
            result="reject",
            code="ERROR_CODE_NOT_FOUND",
        )
        == 1
    )
    assert total(series, "tandem_commands_total", result="reject") == 1
    answered = hellos + 1 + created + 2 + 1
    assert (
        value(
            series, "tandem_command_duration_seconds_count", transport="ws", command="create_task"
        )
        == created
    )
    assert total(series, "tandem_command_duration_seconds_count") == answered
    # Every answer was sent: acks (the stalled client's two included) and the one reject.
    assert value(series, "tandem_messages_sent_total", type="ack") == answered - 1
    assert value(series, "tandem_messages_sent_total", type="reject") == 1
    assert value(series, "tandem_messages_sent_total", type="snapshot") == 2
    # Offered to the reader, every one; to the stalled client until it was dropped.
    sent_tasks = value(series, "tandem_messages_sent_total", type="task_created")
    assert created < sent_tasks <= 2 * created
    assert value(series, "tandem_sent_bytes_total", type="task_created") > sent_tasks * 100_000

    assert value(series, "tandem_disconnects_total", code="4008", reason="too_slow") == 1
    assert value(series, "tandem_disconnects_total", code="1007", reason="invalid_payload") == 1
    assert total(series, "tandem_disconnects_total") == 4  # editor, reader, stalled, broken
    assert value(series, "tandem_lan_credential_failures_total") == 1
    assert value(series, "tandem_lan_throttled_requests_total") == 0
    assert value(series, "tandem_connections") == 0
    assert value(series, "tandem_subscriptions") == 0
    # Every change went through the group commit: the project, the tasks, the refused update.
    assert value(series, "tandem_db_commit_group_size_sum") == 1 + created + 1
    assert value(series, "tandem_db_commit_duration_seconds_count") >= 1
    assert value(series, "tandem_fanout_duration_seconds_count") >= 1


async def test_a_stalled_event_loop_shows_as_its_lag(
    session: aiohttp.ClientSession, new_server: NewServer
) -> None:
    import time

    from server.monitoring.metrics import LATENCY_BUCKETS

    server = await new_server()
    lag = "tandem_event_loop_lag_seconds_bucket"

    def late(series: Series) -> float:
        # Probes that ran 0.25 s late or more: the count of all, less those under 0.25 s.
        return value(series, "tandem_event_loop_lag_seconds_count") - value(
            series, lag, le=str(LATENCY_BUCKETS[LATENCY_BUCKETS.index(0.25) - 1])
        )

    before = late(await scrape(session, server))
    # The stimulus, not a wait: the server's loop (this one) runs nothing else meanwhile.
    time.sleep(0.4)  # noqa: ASYNC251
    deadline = asyncio.get_running_loop().time() + 5
    while late(await scrape(session, server)) == before:
        assert asyncio.get_running_loop().time() < deadline, "the stall was not measured"
        await asyncio.sleep(0.05)


async def test_a_silent_peer_is_counted_as_a_heartbeat_timeout(
    session: aiohttp.ClientSession, new_server: NewServer
) -> None:
    server = await new_server(heartbeat_seconds=0.3)
    silent = await WsClient.connect(session, ws_url(server), autoping=False)
    await silent.wait_closed()
    metrics = server.app[MONITOR].metrics
    assert metrics is not None
    await poll_until(lambda: sum(metrics.disconnects.values()) == 1)
    series = await scrape(session, server)
    assert value(series, "tandem_disconnects_total", code="1006", reason="heartbeat_timeout") == 1
    assert total(series, "tandem_disconnects_total") == 1


async def test_resumes_replays_and_resyncs_are_counted(
    session: aiohttp.ClientSession, server: TandemServer
) -> None:
    client = await WsClient.connect(session, ws_url(server))
    project_id = (await make_project(client, "RES", "Resume")).id
    first = await subscribe(client, project_id)
    epoch = first.ack.subscribed.epoch
    for i in range(3):
        assert (await client.request(create_task=create(project_id, f"r{i}"))).HasField("ack")
    await client.close()

    again = await WsClient.connect(session, ws_url(server))
    resumed = await again.request(
        subscribe=commands_pb2.Subscribe(project_id=project_id, since_seq=1, epoch=epoch)
    )
    assert not resumed.ack.subscribed.snapshot_follows
    await again.close()
    stale = await WsClient.connect(session, ws_url(server))
    await subscribe(stale, project_id, since_seq=1, epoch="another-epoch")
    await stale.close()

    series = await scrape(session, server)
    assert value(series, "tandem_resumes_total") == 2
    head = resumed.ack.subscribed.head_seq
    assert value(series, "tandem_replayed_events_total") == head - 1
    assert value(series, "tandem_resyncs_total", reason="epoch_changed") == 1


async def test_rest_commands_are_counted_with_their_transport(
    session: aiohttp.ClientSession, server: TandemServer
) -> None:
    body: dict[str, Any] = {"key": "RST", "name": "Rest"}
    async with session.post(server.make_url("/api/v1/projects"), json=body) as made:
        assert made.status == 201
    async with session.post(server.make_url("/api/v1/projects"), json={"name": ""}) as bad:
        assert bad.status == 400
    series = await scrape(session, server)
    rest = {"transport": "rest", "command": "create_project"}
    assert value(series, "tandem_commands_total", result="ack", code="", **rest) == 1
    assert total(series, "tandem_commands_total", result="reject", **rest) == 1
    assert value(series, "tandem_command_duration_seconds_count", **rest) == 2


async def test_the_diagnostics_answer_has_the_live_figures(
    session: aiohttp.ClientSession, server: TandemServer
) -> None:
    client = await WsClient.connect(session, ws_url(server))
    project_id = (await make_project(client, "DIA", "Diagnostics")).id
    await subscribe(client, project_id)
    history = server.app[MONITOR].history
    history.tick()  # what the sampler does every second; here at once
    async with session.get(
        server.make_url("/api/v1/diagnostics"), headers={"Accept": "application/x-protobuf"}
    ) as response:
        assert response.status == 200
        answer = diagnostics_pb2.DiagnosticsResponse.FromString(await response.read())
    assert answer.connections == 1 and answer.subscriptions == 1
    assert answer.data_folder == str(server.data_dir)
    assert answer.database_bytes > 0
    assert answer.commands_total == 3  # hello, create_project, subscribe
    assert answer.samples and answer.samples[-1].connections == 1
    assert answer.samples[-1].HasField("p50_seconds")
    assert not answer.recording.active
    await client.close()


async def test_the_diagnostics_answer_has_the_postgresql_databases_size(
    session: aiohttp.ClientSession, new_server: NewServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A team server's data is no file of its data folder: the size is the database's own.
    with team_database() as url:
        monkeypatch.setenv(DATABASE_URL_ENV, url)
        server = await new_server()
        with psycopg.connect(url, autocommit=True) as conn:

            def size() -> int:
                row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
                assert row is not None
                return int(row[0])

            before = size()
            async with session.get(
                server.make_url("/api/v1/diagnostics"),
                headers={"Accept": "application/x-protobuf"},
            ) as response:
                assert response.status == 200
                answer = diagnostics_pb2.DiagnosticsResponse.FromString(await response.read())
            after = size()
        await server.close()
    assert not (server.data_dir / "tandem.sqlite3").exists()
    assert min(before, after) <= answer.database_bytes <= max(before, after)
    assert answer.database_bytes > 1_000_000  # a migrated database is megabytes, never 0


def test_quantiles_interpolate_within_a_bucket() -> None:
    bounds = [0.01, 0.1, 1.0]
    # 10 observations up to 10 ms, 10 between 10 and 100 ms, none above.
    counts = [10, 10, 0, 0]
    assert quantile(0.5, bounds, counts) == 0.01
    assert abs((quantile(0.75, bounds, counts) or 0) - 0.055) < 1e-9
    assert quantile(0.99, bounds, [0, 0, 0, 5]) == 1.0  # past the last bound
    assert quantile(0.5, bounds, [0, 0, 0, 0]) is None


async def test_a_revoked_invitees_socket_is_counted_as_forbidden(
    session: aiohttp.ClientSession, lan_server: TandemServer
) -> None:
    invite_id, token = await make_invite(lan_server, "editor", "Eda")
    await lan_server.share()
    async with client_from(LAN_PEER) as lan:
        eda = await WsClient.connect(
            lan, ws_url(lan_server), headers={"Authorization": f"Bearer {token}"}
        )
        await security.revoke_invite(lan_server.app, invite_id)
        assert await eda.wait_closed() == 4403
    metrics = lan_server.app[MONITOR].metrics
    assert metrics is not None
    await poll_until(lambda: sum(metrics.disconnects.values()) == 1)
    series = await scrape(session, lan_server)
    assert value(series, "tandem_disconnects_total", code="4403", reason="forbidden") == 1

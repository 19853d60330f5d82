"""A team server's bus from one instance's side: a bad or unreachable --bus-url at start,
commits out on the bus, and the bus going away and coming back under load.

The bus is a nats-server of the test's own on a free loopback port (the machine's shared
one is never stopped), subjects under a prefix of the test's own.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import nats
import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg
from prometheus_client.parser import text_string_to_metric_families
from tandem.v1 import commands_pb2, entities_pb2

from server.cluster import CLUSTER
from server.cluster import cluster as cluster_module
from server.security.redact import redact
from tests.fixtures import NewServer, start_process
from tests.team_support import NATS_SERVER, NatsServer, free_port, running_nats
from tests.ws_client import WsClient, event_seq, make_project, poll_until, subscribe, ws_url

needs_nats = pytest.mark.skipif(NATS_SERVER is None, reason="needs the nats-server binary")


@pytest.fixture
def nats_server() -> Iterator[NatsServer]:
    with running_nats() as server:
        yield server


def serve(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "server.cli", "serve", "--port", "0", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def test_a_bus_url_that_is_not_nats_is_one_line_and_exit_2(tmp_path: Path) -> None:
    done = serve("--data-dir", str(tmp_path), "--bus-url", "redis://me:s3cret@127.0.0.1:6379")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "not a NATS URL" in lines[0]
    assert "s3cret" not in done.stderr and "me:" not in done.stderr


def test_an_unreachable_bus_is_one_line_and_exit_1_without_its_credentials(
    tmp_path: Path,
) -> None:
    import os

    env = dict(os.environ, TANDEM_BUS_URL=f"nats://me:s3cret@127.0.0.1:{free_port()}")
    done = serve("--data-dir", str(tmp_path), env=env)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "cannot be reached" in lines[0]
    assert "[redacted]@127.0.0.1" in lines[0]
    assert "s3cret" not in done.stderr + done.stdout


async def bus_listener(url: str, subject: str) -> tuple[Client, list[Msg]]:
    got: list[Msg] = []

    async def on(msg: Msg) -> None:
        got.append(msg)

    async def quiet(_exc: Exception) -> None:
        return None

    nc = await nats.connect(url, error_cb=quiet)
    await nc.subscribe(subject, cb=on)
    await nc.flush()
    return nc, got


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@needs_nats
async def test_commits_go_out_on_the_bus_and_a_bus_restarted_under_load_is_survived(
    new_server: NewServer, nats_server: NatsServer, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    prefix = f"bus_test_{uuid.uuid4().hex[:8]}"
    server = await new_server(
        web_root=tmp_path / "no-ui", bus_url=f"{nats_server.url}?prefix={prefix}"
    )
    cluster = server.app[CLUSTER]
    watcher = await WsClient.connect(http, ws_url(server))
    project = await make_project(watcher)
    await subscribe(watcher, project.id)
    writer = await WsClient.connect(http, ws_url(server))
    nc, heard = await bus_listener(nats_server.url, f"{prefix}.events.{project.id}")

    async def write(n: int, tag: str) -> None:
        for i in range(n):
            task = entities_pb2.Task(title=f"{tag}{i}")
            reply = await writer.request(
                create_task=commands_pb2.CreateTask(project_id=project.id, task=task)
            )
            assert reply.WhichOneof("payload") == "ack", reply

    await write(10, "before")
    await poll_until(lambda: len(heard) == 10)
    seqs = [int(m.headers["s"]) for m in heard if m.headers]
    assert seqs == sorted(seqs) and len(set(seqs)) == 10
    assert {m.headers["e"] for m in heard if m.headers} == {cluster.sequencer.epoch(project.id)}

    # The bus goes away in the middle of a burst: every command is still answered and
    # every change still reaches the viewer.
    load = asyncio.ensure_future(write(40, "during"))
    await poll_until(lambda: len(watcher.events(project.id)) >= 15)
    nats_server.stop()
    await poll_until(lambda: not cluster.bus.up)
    await load
    # (the project's own event, seq 1, came in the snapshot)
    await watcher.wait_until(lambda: len(watcher.events(project.id)) == 50)
    nats_server.start()
    await poll_until(lambda: cluster.bus.up, timeout=20)
    await nc.close()
    nc, heard = await bus_listener(nats_server.url, f"{prefix}.events.{project.id}")
    await write(5, "after")
    await poll_until(lambda: len(heard) == 5)
    got = [event_seq(m) for m in watcher.events(project.id)]
    assert got == list(range(2, 57))
    await nc.close()
    async with http.get(server.make_url("/metrics")) as response:
        families = {f.name: f for f in text_string_to_metric_families(await response.text())}
    assert families["tandem_bus_up"].samples[0].value == 1
    # Not those committed while it was away (the others read them from the log).
    assert 15 <= families["tandem_bus_published"].samples[0].value < 55
    assert families["tandem_bus_log_reads"].samples[0].value >= 1


@needs_nats
async def test_the_bus_credentials_are_never_logged(
    nats_server: NatsServer, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    secret = "s3cret-" + uuid.uuid4().hex[:6]
    url = nats_server.url.replace("nats://", f"nats://tandem:{secret}@") + "?prefix=bus_test_log"
    log_file = tmp_path / "stderr.txt"
    with log_file.open("w") as err:
        proc, base = start_process(
            tmp_path / "data",
            stderr=err.fileno(),
            args=["--bus-url", url, "--log-level", "debug"],
        )
        try:
            client = await WsClient.connect(http, base.replace("http://", "ws://") + "/ws")
            project = await make_project(client)
            await subscribe(client, project.id)
            await client.close()
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    logged = log_file.read_text()
    assert "connected to the bus at nats://[redacted]@127.0.0.1" in logged
    assert secret not in logged
    assert (
        redact(f"failed: postgresql://me:{secret}@db/x") == "failed: postgresql://[redacted]@db/x"
    )


@needs_nats
async def test_a_project_is_watched_on_the_bus_while_someone_views_it(
    new_server: NewServer,
    nats_server: NatsServer,
    http: aiohttp.ClientSession,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(cluster_module, "LINGER_SECONDS", 0.2)
    server = await new_server(
        web_root=tmp_path / "no-ui", bus_url=f"{nats_server.url}?prefix=bus_test_watch"
    )
    cluster = server.app[CLUSTER]
    first = await WsClient.connect(http, ws_url(server))
    second = await WsClient.connect(http, ws_url(server))
    project = await make_project(first)
    assert not cluster.sequencer.watching(project.id)
    await subscribe(first, project.id)
    await subscribe(second, project.id)
    assert cluster.sequencer.watching(project.id)
    await first.close()
    await asyncio.sleep(0.5)  # longer than the linger: one viewer is left, so it stays
    assert cluster.sequencer.watching(project.id)
    await second.close()
    await poll_until(lambda: not cluster.sequencer.watching(project.id), timeout=5)

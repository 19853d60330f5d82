"""Traffic recording: what a recording holds is exactly the frames exchanged; it is bounded
in time and size, holds no credential, and ``tandem decode --recording`` reads it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest
from tandem.v1 import commands_pb2, entities_pb2, events_pb2, websocket_pb2

from server.cli import decode_recording
from server.monitoring import MONITOR
from server.monitoring.recording import IN, MAGIC, OUT, Recorder, RecordingError, read_recording
from tests.fixtures import LAN_PEER, NewServer, client_from
from tests.test_security_support import make_invite
from tests.ws_client import WsClient, make_project, poll_until, subscribe, ws_url

ROOT = Path(__file__).resolve().parent.parent


def create(project_id: str, title: str) -> commands_pb2.CreateTask:
    return commands_pb2.CreateTask(project_id=project_id, task=entities_pb2.Task(title=title))


class Sent(WsClient):
    """A client that remembers every frame it sent, as bytes."""

    sent: list[bytes]

    async def send(self, msg: websocket_pb2.WebSocketMessage) -> None:
        if not hasattr(self, "sent"):
            self.sent = []
        self.sent.append(msg.SerializeToString())
        await super().send(msg)


async def test_a_recording_holds_exactly_the_frames_each_way(
    session: aiohttp.ClientSession, new_server: NewServer, tmp_path: Path
) -> None:
    path = tmp_path / "traffic.rec"
    server = await new_server(record_path=path, record_seconds=600)
    one = await Sent.connect(session, ws_url(server))
    two = await Sent.connect(session, ws_url(server))
    project_id = (await make_project(one, "REC", "Recorded")).id
    await subscribe(two, project_id)
    for i in range(3):
        assert (await one.request(create_task=create(project_id, f"task {i}"))).HasField("ack")
    await two.wait_until(lambda: len(two.of("task_created")) == 3)
    await one.close()
    await two.close()
    await server.close()  # stops (and flushes) the recording

    frames = list(read_recording(path.read_bytes()))
    for client in (one, two):
        mine = [f for f in frames if f.connection_id == client.hello_welcome.connection_id]
        assert [f.message for f in mine if f.direction == IN] == client.sent
        assert [f.message for f in mine if f.direction == OUT] == client.raw
    assert {f.connection_id for f in frames} == {
        one.hello_welcome.connection_id,
        two.hello_welcome.connection_id,
    }
    times = [f.time.ToNanoseconds() for f in frames]
    assert times == sorted(times)

    # Read back as JSON lines, filtered by connection and payload type.
    lines = [json.loads(line) for line in decode_recording(path.read_bytes())]
    assert len(lines) == len(frames)
    assert lines[0]["direction"] == "in" and "hello" in lines[0]["message"]
    only = decode_recording(
        path.read_bytes(), connection=two.hello_welcome.connection_id, payload="task_created"
    )
    created = [json.loads(line) for line in only]
    assert [c["message"]["taskCreated"]["task"]["title"] for c in created] == [
        "task 0",
        "task 1",
        "task 2",
    ]
    assert {c["direction"] for c in created} == {"out"}


def test_tandem_decode_prints_a_recording_filtered(tmp_path: Path) -> None:
    path = tmp_path / "made.rec"
    recorder = Recorder(path)
    hello = websocket_pb2.WebSocketMessage(message_id="h", hello=commands_pb2.Hello(client_id="c"))
    made = websocket_pb2.WebSocketMessage(
        task_created=events_pb2.TaskCreated(task=entities_pb2.Task(title="Hi"), seq=4)
    )
    recorder.write("one", IN, hello.SerializeToString())
    recorder.write("one", OUT, made.SerializeToString())
    recorder.write("two", OUT, made.SerializeToString())
    recorder.stop()
    done = subprocess.run(
        [
            *(sys.executable, "-m", "server.cli", "decode", "--recording", str(path)),
            *("--connection", "two", "--type", "task_created"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=True,
    )
    (line,) = done.stdout.splitlines()
    printed = json.loads(line)
    assert printed["connection"] == "two" and printed["direction"] == "out"
    # The protobuf JSON mapping: a 64-bit seq is a string.
    assert printed["message"] == {"taskCreated": {"task": {"title": "Hi"}, "seq": "4"}}
    unknown = subprocess.run(
        [sys.executable, "-m", "server.cli", "decode", "--recording", str(path), "--type", "nope"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert unknown.returncode == 2 and "'nope' is not a payload type" in unknown.stderr


async def test_a_recording_stops_at_its_size_and_on_time(
    session: aiohttp.ClientSession, new_server: NewServer, tmp_path: Path
) -> None:
    path = tmp_path / "small.rec"
    server = await new_server(record_path=path, record_max_bytes=600)
    tap = server.app[MONITOR].recording
    client = await WsClient.connect(session, ws_url(server))
    project_id = (await make_project(client, "BIG", "Big")).id
    for i in range(10):
        await client.request(create_task=create(project_id, f"task {i} " + "x" * 50))
    assert tap.active is None and tap.last is not None
    assert tap.last.reason == "size"
    assert path.stat().st_size <= 600
    assert len(list(read_recording(path.read_bytes()))) == tap.last.frames > 0

    # A recording started at run time ends when its time is up, with no frame to notice it.
    timed = tmp_path / "timed.rec"
    tap.start(timed, seconds=0.2)
    await poll_until(lambda: tap.active is None)
    assert tap.last is not None and tap.last.reason == "time" and tap.last.path == timed
    await client.close()


async def test_a_lan_credential_is_never_recorded(new_server: NewServer, tmp_path: Path) -> None:
    path = tmp_path / "lan.rec"
    server = await new_server(lan_peers_on_loopback=True, record_path=path)
    await server.share()
    _, token = await make_invite(server, "editor", "Bob")
    async with client_from(LAN_PEER) as lan:
        client = await WsClient.connect(
            lan, ws_url(server), headers={"Authorization": f"Bearer {token}"}
        )
        await client.close()
    await server.close()
    data = path.read_bytes()
    assert len(list(read_recording(data))) >= 2  # the hello and its answer
    assert token.encode() not in data


def test_a_broken_recording_is_refused_naming_where(tmp_path: Path) -> None:
    path = tmp_path / "cut.rec"
    recorder = Recorder(path)
    for i in range(3):
        recorder.write(
            f"c{i}", IN, websocket_pb2.WebSocketMessage(message_id=f"m{i}").SerializeToString()
        )
    recorder.stop()
    whole = path.read_bytes()
    assert len(list(read_recording(whole))) == 3
    with pytest.raises(RecordingError, match="frame 3 at byte"):
        list(read_recording(whole[:-2]))
    with pytest.raises(RecordingError, match="not a Tandem traffic recording"):
        list(read_recording(b"PK\x03\x04 a zip"))
    path.write_bytes(whole[:-2])
    done = subprocess.run(
        [sys.executable, "-m", "server.cli", "decode", "--recording", str(path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode == 1
    assert "frame 3 at byte" in done.stderr and "Traceback" not in done.stderr
    assert len(done.stdout.splitlines()) == 2  # what could be read is shown first
    assert whole.startswith(MAGIC)

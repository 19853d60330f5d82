"""An import reaching live clients: one ``project_imported`` event per project (not one per
task), after which a fresh subscription has everything; files past the usual 1 MiB request
limit go through the import route; the CLI hands an import to the running server."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp
from tandem.v1 import commands_pb2

from tests import transfer_files as files
from tests.fixtures import NewServer, TandemServer, start_process
from tests.ws_client import EVENT_KINDS, WsClient, make_project, subscribe, ws_url

REPO = Path(__file__).resolve().parent.parent


def big_csv(rows: int) -> bytes:
    return files.csv_bytes(
        [["Title", "Description", "Status"]]
        + [[f"Imported {i}", "words " * 40, ("todo", "doing", "done")[i % 3]] for i in range(rows)]
    )


async def _import(server: TandemServer, data: bytes, **fields: str) -> tuple[int, Any]:
    body = {"data": base64.b64encode(data).decode(), "fileName": "big.csv", **fields}
    url = server.make_url("/api/v1/imports")
    async with aiohttp.ClientSession() as http, http.post(url, json=body) as reply:
        return reply.status, await reply.json()


async def test_live_subscribers_get_one_event_per_import_not_one_per_task(
    new_server: NewServer,
) -> None:
    server = await new_server()
    async with aiohttp.ClientSession() as http:
        watcher = await WsClient.connect(http, ws_url(server))
        project = await make_project(watcher, "WEB", "Website")
        await subscribe(watcher, project.id)
        before = len(watcher.received)
        data = big_csv(6000)
        assert len(data) > 1 << 20  # larger than any other request may be
        status, summary = await _import(server, data, projectKey="WEB")
        assert status == 200, summary
        assert summary["projects"][0]["project"]["key"] == "WEB"
        assert summary["projects"][0]["tasks"] == 6000
        event = await watcher.wait_for(lambda m: m.WhichOneof("payload") == "project_imported")
        assert event.project_imported.project_id == project.id
        assert event.project_imported.tasks == 6000
        arrived = [m.WhichOneof("payload") for m in watcher.received[before:]]
        assert arrived.count("project_imported") == 1
        assert not set(arrived) & EVENT_KINDS  # no task_created, no per-row events
        # What the client does on it: subscribe afresh and get the whole board.
        await watcher.request(
            unsubscribe=commands_pb2.Unsubscribe(subscription_id=_sub_id(watcher))
        )
        start = len(watcher.received)
        reply = await watcher.request(subscribe=commands_pb2.Subscribe(project_id=project.id))
        assert reply.ack.subscribed.snapshot_follows
        snap = await watcher.wait_for(lambda m: m.WhichOneof("payload") == "snapshot", start=start)
        assert len(snap.snapshot.tasks) == 6000
        await watcher.close()


def _sub_id(client: WsClient) -> str:
    subs = [m.message_id for m in client.received if m.WhichOneof("payload") == "ack"
            and m.ack.WhichOneof("result") == "subscribed"]  # fmt: skip
    return subs[-1]


async def test_a_refused_import_over_rest_names_where(new_server: NewServer) -> None:
    server = await new_server()
    status, body = await _import(server, b"Colour,Size\nred,2\n")
    assert status == 400
    assert body["error"]["code"] == "ERROR_CODE_INVALID_ARGUMENT"
    assert body["error"]["message"].startswith("line 1: no column for the task title")
    url = server.make_url("/api/v1/projects")
    async with aiohttp.ClientSession() as http, http.get(url) as reply:
        assert await reply.json() == {}


def test_the_cli_imports_into_the_running_tandem(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    proc, url = start_process(data_dir)
    try:
        source = tmp_path / "trello.json"
        source.write_text(json.dumps(files.trello_board()), encoding="utf-8")
        done = subprocess.run(
            [sys.executable, "-m", "launcher", "import", str(source), "--data-dir", str(data_dir)],
            capture_output=True, text=True, timeout=120, cwd=REPO,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert "Created from a trello file:" in done.stdout
        assert "project WR 'Website relaunch': 6 tasks" in done.stdout
        with urllib.request.urlopen(url + "/api/v1/projects", timeout=10) as reply:
            assert [p["key"] for p in json.loads(reply.read())["projects"]] == ["WR"]
    finally:
        proc.terminate()
        proc.wait(timeout=30)

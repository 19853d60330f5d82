"""Attachments on a team server: real ``tandem serve`` processes, each with a data folder of
its own, on one PostgreSQL database and a NATS bus of the test's own. A file uploaded through
one instance downloads through any other, byte for byte with the same headers; a starting
instance's sweep never deletes content an attachment or the trash refers to."""

from __future__ import annotations

import hashlib
import io
import subprocess
import uuid
import zipfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import psycopg
import pytest
from PIL import Image

from server.storage import postgres
from server.storage.pg_blobs import PostgresBlobStore
from tests.api_client import ApiClient, ApiResponse
from tests.fixtures import start_process
from tests.team_support import NATS_SERVER, running_nats, team_database

pytestmark = pytest.mark.skipif(NATS_SERVER is None, reason="needs the nats-server binary")

UPLOAD = {"X-Tandem-Upload": "1"}
#: The headers a download is served with, which must not depend on the instance serving it.
SERVED_HEADERS = (
    "Content-Type",
    "Content-Length",
    "Content-Disposition",
    "Content-Security-Policy",
    "X-Content-Type-Options",
    "Cache-Control",
)


class Team:
    """Instances started on demand, each with its own data folder, sharing the database."""

    def __init__(self, tmp_path: Path, database: str, bus_url: str) -> None:
        self.tmp_path = tmp_path
        self.database = database
        self.args = ["--database-url", database, "--bus-url", bus_url]
        self.procs: list[subprocess.Popen[str]] = []

    def start(self) -> str:
        proc, url = start_process(self.tmp_path / f"i{len(self.procs)}", args=self.args)
        self.procs.append(proc)
        return url

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)

    def sql(self, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.database, autocommit=True) as conn:
            cursor = conn.execute(statement, params)
            return cursor.fetchall() if cursor.description else []


@pytest.fixture
def team(tmp_path: Path) -> Iterator[Team]:
    with team_database() as database, running_nats() as bus:
        running = Team(tmp_path, database, f"{bus.url}?prefix=blobs_{uuid.uuid4().hex[:8]}")
        try:
            yield running
        finally:
            running.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def png(width: int, height: int, colour: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, format="PNG")
    return out.getvalue()


async def upload(
    api: ApiClient, task_id: str, content: bytes, filename: str, comment_id: str = ""
) -> dict[str, Any]:
    form = aiohttp.FormData()
    if comment_id:
        form.add_field("commentId", comment_id)
    form.add_field("file", content, filename=filename, content_type="application/octet-stream")
    made = await api.request(
        "POST",
        f"/api/v1/tasks/{task_id}/attachments",
        data=form,  # type: ignore[arg-type]
        headers=UPLOAD,
    )
    assert made.status == 201, made.json
    return dict(made.json)


def served(response: ApiResponse) -> tuple[int, bytes, dict[str, str]]:
    return response.status, response.raw, {h: response.headers.get(h, "") for h in SERVED_HEADERS}


async def test_a_file_uploaded_through_one_instance_downloads_through_another(
    team: Team, http: aiohttp.ClientSession
) -> None:
    first, second = ApiClient(team.start(), http), ApiClient(team.start(), http)
    project = await first.make_project("TEAM", "Team")
    task = await first.make_task(project["id"], "Has files")
    picture = png(640, 480, "teal")
    image = await upload(first, task["id"], picture, "screenshot.png")
    document = await upload(first, task["id"], b"%PDF-1.4 not really", "notes.pdf")
    assert image["contentType"] == "image/png" and document["contentType"] != "image/png"

    for made, content in ((image, picture), (document, b"%PDF-1.4 not really")):
        for part in ("content", "thumbnail"):
            path = f"/api/v1/attachments/{made['id']}/{part}"
            here, there = served(await first.get(path)), served(await second.get(path))
            assert there == here, (made["name"], part)
        status, body, headers = served(
            await second.get(f"/api/v1/attachments/{made['id']}/content")
        )
        assert (status, body) == (200, content)
    status, body, headers = served(await second.get(f"/api/v1/attachments/{image['id']}/thumbnail"))
    assert status == 200 and headers["Content-Type"] == "image/png"
    with Image.open(io.BytesIO(body)) as small:
        assert small.size == (320, 240)
    # The document has no thumbnail on either instance.
    no_thumb = await second.get(f"/api/v1/attachments/{document['id']}/thumbnail")
    assert no_thumb.status == 404

    # An export bundle made by the other instance carries the files too.
    exported = await second.get("/api/v1/export", project="TEAM", format="zip")
    assert exported.status == 200, exported.raw[:200]
    with zipfile.ZipFile(io.BytesIO(exported.raw)) as bundle:
        assert bundle.read(f"attachments/{image['sha256']}") == picture
        assert bundle.read(f"attachments/{document['sha256']}") == b"%PDF-1.4 not really"

    # The same content uploaded through the other instance is the same content, kept once;
    # neither data folder holds any of it.
    again = await upload(second, task["id"], picture, "again.png")
    assert again["sha256"] == image["sha256"] == hashlib.sha256(picture).hexdigest()
    assert team.sql("SELECT count(*) FROM blob") == [(2,)]
    assert team.sql("SELECT count(*) FROM blob_thumbnail") == [(1,)]
    assert not any((team.tmp_path / name / "attachments").exists() for name in ("i0", "i1"))


async def test_a_starting_instance_sweeps_only_content_nothing_refers_to(
    team: Team, http: aiohttp.ClientSession
) -> None:
    api = ApiClient(team.start(), http)
    project = await api.make_project("TEAM", "Team")
    task = await api.make_task(project["id"], "Keeps its file")
    doomed = await api.make_task(project["id"], "Goes to the trash")
    comment = await api.post(f"/api/v1/tasks/{task['id']}/comments", {"body": "see the log"})
    attached = await upload(api, task["id"], png(64, 64, "red"), "attached.png")
    on_comment = await upload(api, task["id"], b"a log line", "log.txt", comment.json["id"])
    in_trash = await upload(api, doomed["id"], b"in the trash", "trash.txt")
    removed = await upload(api, task["id"], png(32, 32, "blue"), "removed.png")
    assert (await api.delete(f"/api/v1/attachments/{removed['id']}")).status == 204
    assert (await api.delete(f"/api/v1/tasks/{doomed['id']}")).status == 204
    assert (await api.delete(f"/api/v1/comments/{comment.json['id']}")).status == 204

    # Content uploaded a moment ago whose attachment is still on its way, and old content
    # nothing refers to uploaded once more just now (written once: only marked as new).
    store = PostgresBlobStore(postgres.connect(team.database))
    try:
        in_flight = store.put(b"uploaded, its attachment on its way", 1024)
        again = store.put(b"uploaded long ago, and again now", 1024)
        # Everything uploaded so far looks uploaded in 2001, far past the day of grace.
        team.sql("UPDATE blob SET created_at = 1000000000000000 WHERE sha256 <> %s", (in_flight,))
        assert store.put(b"uploaded long ago, and again now", 1024) == again
    finally:
        store.db.close()

    def present() -> set[str]:
        return {sha for (sha,) in team.sql("SELECT sha256 FROM blob")}

    before = present()
    assert {removed["sha256"], attached["sha256"], in_flight, again} <= before
    other = ApiClient(team.start(), http)  # its start sweeps
    kept = before - {removed["sha256"]}
    assert present() == kept
    assert {attached["sha256"], on_comment["sha256"], in_trash["sha256"]} <= kept
    assert team.sql("SELECT sha256 FROM blob_thumbnail") == [(attached["sha256"],)]
    content = await other.get(f"/api/v1/attachments/{attached['id']}/content")
    assert content.status == 200 and content.raw == png(64, 64, "red")
    # What waited in the trash comes back whole, through either instance.
    restored = await other.post(f"/api/v1/tasks/{doomed['id']}/restore", {})
    assert restored.status == 200, restored.json
    back = await api.get(f"/api/v1/attachments/{in_trash['id']}/content")
    assert back.status == 200 and back.raw == b"in the trash"

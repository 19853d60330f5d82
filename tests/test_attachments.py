"""Attachments: upload (multipart, streamed, limited), content-addressed storage, safe serving,
thumbnails, live records, backups. A LAN member's files are hostile input: traversal in names,
huge files, polyglot images, SVG and HTML with script. Real server, real socket, real SQLite
(the content in the data folder), or real PostgreSQL (the content in the database)."""

from __future__ import annotations

import hashlib
import io
import os
import sqlite3
import stat
import struct
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from PIL import Image
from tandem.v1 import commands_pb2

from server.appkeys import DOMAIN
from server.storage import migrations
from server.storage.blobs import Blobs, BlobStore
from server.storage.pg_blobs import PostgresBlobStore
from tests.api_client import ApiClient, ApiResponse
from tests.fixtures import TandemServer
from tests.ws_client import WsClient, subscribe, ws_url

LIMIT = 256 * 1024
UPLOAD = {"X-Tandem-Upload": "1"}


@pytest.fixture
def server_options(tmp_path: Path) -> dict[str, Any]:
    return {"web_root": tmp_path / "no-web-ui", "max_attachment_bytes": LIMIT}


def png(width: int = 640, height: int = 480, colour: str = "teal") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, format="PNG")
    return out.getvalue()


async def upload(
    api: ApiClient,
    task_id: str,
    content: bytes | Any,
    filename: str = "picture.png",
    *,
    declared_type: str = "image/png",
    comment_id: str = "",
    headers: dict[str, str] | None = None,
) -> ApiResponse:
    form = aiohttp.FormData()
    if comment_id:
        form.add_field("commentId", comment_id)
    form.add_field("file", content, filename=filename, content_type=declared_type)
    return await api.request(
        "POST",
        f"/api/v1/tasks/{task_id}/attachments",
        data=form,  # type: ignore[arg-type]
        headers=UPLOAD if headers is None else headers,
    )


async def upload_raw(api: ApiClient, task_id: str, content: bytes, filename: str) -> ApiResponse:
    """A multipart body as a browser writes it: the file name as given, in UTF-8 (aiohttp's
    client would percent-encode it)."""
    boundary = "----tandemtestboundary"
    quoted = filename.replace("\\", "\\\\")
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{quoted}"\r\n'
            f"Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return await api.request(
        "POST",
        f"/api/v1/tasks/{task_id}/attachments",
        data=body,
        headers={**UPLOAD, "Content-Type": f"multipart/form-data; boundary={boundary}"},
    )


@pytest.fixture
async def task(api: ApiClient) -> dict[str, Any]:
    project = await api.make_project("WEB")
    return await api.make_task(project["id"], "Has files")


def store_of(server: TandemServer) -> Blobs:
    """The server's own store: the data folder's files, or the database's blob table."""
    return server.app[DOMAIN].blobs


def stored(server: TandemServer) -> set[str]:
    """The SHA-256 of every content the store holds."""
    store = store_of(server)
    if isinstance(store, PostgresBlobStore):
        return {sha for (sha,) in store.db.execute_sql("SELECT sha256 FROM blob").fetchall()}
    root = server.data_dir / "attachments"
    return {p.name for p in root.glob("??/*") if p.suffix == ""} if root.exists() else set()


def make_old(store: Blobs, sha: str) -> None:
    """Make the content look uploaded in 2001: far older than the sweep's day of grace."""
    old = 1_000_000_000.0
    if isinstance(store, PostgresBlobStore):
        store.db.execute_sql(
            "UPDATE blob SET created_at = %s WHERE sha256 = %s", (int(old * 1e6), sha)
        )
    else:
        assert isinstance(store, BlobStore)
        os.utime(store.path(sha), (old, old))


def on_disk(server: TandemServer) -> BlobStore | None:
    """The data folder's store, when the content lives there (SQLite)."""
    store = store_of(server)
    return store if isinstance(store, BlobStore) else None


async def test_an_image_is_stored_once_by_its_hash_and_served_inline_with_a_thumbnail(
    api: ApiClient, server: TandemServer, task: dict[str, Any]
) -> None:
    content = png()
    sha = hashlib.sha256(content).hexdigest()
    first = await upload(api, task["id"], content, "screenshot.png")
    assert first.status == 201, first.json
    a = first.json
    assert first.headers["Location"] == f"/api/v1/attachments/{a['id']}"
    assert (a["name"], a["contentType"], a["sha256"]) == ("screenshot.png", "image/png", sha)
    assert (int(a["size"]), a["width"], a["height"]) == (len(content), 640, 480)
    assert a["taskId"] == task["id"] and a["projectId"] == task["projectId"]

    path = server.data_dir / "attachments" / sha[:2] / sha
    if on_disk(server):
        assert path.read_bytes() == content
        if os.name == "posix":
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
            assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    # The same content again is a second attachment, but not a second file.
    second = await upload(api, task["id"], content, "again.png")
    assert second.status == 201 and second.json["id"] != a["id"]
    assert stored(server) == {sha}
    if on_disk(server):
        assert not any((server.data_dir / "attachments" / "tmp").iterdir())
    listed = (await api.get(f"/api/v1/tasks/{task['id']}/attachments")).json["attachments"]
    assert [x["name"] for x in listed] == ["screenshot.png", "again.png"]

    served = await api.get(f"/api/v1/attachments/{a['id']}/content")
    assert served.status == 200 and served.raw == content
    assert served.headers["Content-Type"] == "image/png"
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    assert served.headers["Content-Disposition"].startswith("inline;")
    assert "sandbox" in served.headers["Content-Security-Policy"]
    thumb = await api.get(f"/api/v1/attachments/{a['id']}/thumbnail")
    assert thumb.status == 200 and thumb.headers["Content-Type"] == "image/png"
    with Image.open(io.BytesIO(thumb.raw)) as small:
        assert max(small.size) == 320 and small.size == (320, 240)


@pytest.mark.parametrize(
    ("filename", "declared", "content"),
    [
        ("page.html", "text/html", b"<!doctype html><script>alert(document.cookie)</script>"),
        (
            "logo.svg",
            "image/svg+xml",
            b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
        ),
        ("run.js", "application/javascript", b"fetch('/api/v1/projects')"),
        # Says it is a PNG; is HTML.
        ("fake.png", "image/png", b"<html><body onload=alert(1)>"),
    ],
)
async def test_anything_but_a_recognised_image_is_a_download_never_a_page(
    api: ApiClient, task: dict[str, Any], filename: str, declared: str, content: bytes
) -> None:
    made = await upload(api, task["id"], content, filename, declared_type=declared)
    assert made.status == 201, made.json
    assert made.json["contentType"] == "application/octet-stream"
    served = await api.get(f"/api/v1/attachments/{made.json['id']}/content")
    assert served.status == 200 and served.raw == content
    assert served.headers["Content-Type"] == "application/octet-stream"
    assert served.headers["Content-Disposition"].startswith("attachment;")
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in served.headers["Content-Security-Policy"]
    assert "script-src" not in served.headers["Content-Security-Policy"]
    thumb = await api.get(f"/api/v1/attachments/{made.json['id']}/thumbnail")
    assert thumb.status == 404 and thumb.error_code == "ERROR_CODE_NOT_FOUND"


async def test_a_polyglot_image_is_served_only_as_an_image(
    api: ApiClient, task: dict[str, Any]
) -> None:
    # A real PNG with an HTML page after its end: a browser that sniffed it would find HTML.
    content = png(8, 8) + b"<html><script>alert(1)</script></html>"
    made = await upload(api, task["id"], content, "cat.html", declared_type="text/html")
    assert made.json["contentType"] == "image/png"
    served = await api.get(f"/api/v1/attachments/{made.json['id']}/content")
    assert served.headers["Content-Type"] == "image/png"
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in served.headers["Content-Security-Policy"]


async def test_names_cannot_reach_outside_the_store(
    api: ApiClient, server: TandemServer, task: dict[str, Any]
) -> None:
    cases = {
        "../../../tandem.sqlite3": "tandem.sqlite3",
        "..\\..\\Windows\\evil.exe": "evil.exe",
        "/etc/passwd": "passwd",
        "..": "file",
        "report\u202egnp.exe": "reportgnp.exe",  # a right-to-left override removed
        "tab\tand.txt": "taband.txt",
        "x" * 500 + ".pdf": "x" * 196 + ".pdf",  # cut to 200, its extension kept
    }
    database_file = server.data_dir / "tandem.sqlite3"
    database = database_file.read_bytes()[:16] if on_disk(server) else b""
    for given, kept in cases.items():
        made = await upload_raw(api, task["id"], b"data " + given.encode(), given)
        assert made.status == 201, made.json
        assert made.json["name"] == kept
        served = await api.get(f"/api/v1/attachments/{made.json['id']}/content")
        assert "filename*=UTF-8''" in served.headers["Content-Disposition"]
        assert "\n" not in served.headers["Content-Disposition"]
    # A part header no parser takes (a DEL character in it) is a coded refusal, not a crash.
    broken = await upload_raw(api, task["id"], b"x", "del\x7f.txt")
    assert broken.status == 400 and broken.error_code == "ERROR_CODE_INVALID_ARGUMENT"
    # Every file went into the store under its hash; nothing was written anywhere else.
    assert stored(server) == {hashlib.sha256(b"data " + g.encode()).hexdigest() for g in cases}
    if on_disk(server):
        assert database_file.read_bytes()[:16] == database
    folders = sorted(p.name for p in server.data_dir.iterdir() if p.is_dir())
    assert folders == (["attachments"] if on_disk(server) else [])
    for probe in ("..%2F..%2Ftandem.sqlite3", "..", "%2e%2e", "x" * 300):
        resp = await api.get(f"/api/v1/attachments/{probe}/content")
        assert resp.status in (400, 404), probe
    # Attaching by hash over the command table takes only content the store has.
    ws = await WsClient.connect(api.session, ws_url(server))
    try:
        for sha in ("../../tandem.sqlite3", "0" * 64, "A" * 64):
            reject = await ws.request(
                add_attachment=commands_pb2.AddAttachment(
                    task_id=task["id"], sha256=sha, name="x.png"
                )
            )
            assert reject.WhichOneof("payload") == "reject"
            assert reject.reject.error.field == "sha256"
    finally:
        await ws.close()


async def test_a_file_over_the_limit_is_refused_while_it_is_read_and_nothing_is_kept(
    api: ApiClient, server: TandemServer, task: dict[str, Any]
) -> None:
    exactly = await upload(api, task["id"], b"a" * LIMIT, "exact.bin")
    assert exactly.status == 201, exactly.json
    sent = 0

    async def endless() -> AsyncIterator[bytes]:
        # No Content-Length: the limit must hold while reading, not from a header.
        nonlocal sent
        for _ in range(10_000):
            sent += 64 * 1024
            yield b"b" * 64 * 1024

    try:
        over = await upload(api, task["id"], endless(), "huge.bin")
    except aiohttp.ClientError:
        over = None  # the server may close before the client has finished sending
    if over is not None:
        assert over.status == 413
        assert over.error_code == "ERROR_CODE_TOO_LARGE"
        assert over.json["error"]["field"] == "file"
        assert "larger than the 256 KiB" in over.json["error"]["message"]
    assert sent < 200 * 64 * 1024  # it stopped reading long before the 640 MiB were sent
    declared = await upload(api, task["id"], b"c" * (LIMIT + 200_000), "big.bin")
    assert declared.status == 413 and declared.error_code == "ERROR_CODE_TOO_LARGE"
    # Only the file at the limit is stored; no half-written file is left behind.
    assert stored(server) == {hashlib.sha256(b"a" * LIMIT).hexdigest()}
    if on_disk(server):
        assert not any((server.data_dir / "attachments" / "tmp").iterdir())
    listed = (await api.get(f"/api/v1/tasks/{task['id']}/attachments")).json["attachments"]
    assert [x["name"] for x in listed] == ["exact.bin"]


async def test_a_decompression_bomb_is_never_decoded(
    api: ApiClient, server: TandemServer, task: dict[str, Any]
) -> None:
    # A PNG whose header claims 50,000 x 50,000 pixels (10 GB as RGBA) in a few bytes.
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", 50_000, 50_000, 8, 6, 0, 0, 0)
    rows = zlib.compress(b"\x00" * 4096, 9)
    bomb = (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")
    )
    with pytest.raises(Image.DecompressionBombError):  # what Pillow itself takes it for
        Image.open(io.BytesIO(bomb))
    made = await upload(api, task["id"], bomb, "bomb.png")
    assert made.status == 201, made.json
    assert made.json["contentType"] == "application/octet-stream"
    assert made.json.get("width", 0) == 0
    assert not (server.data_dir / "attachments" / "thumbnails").exists()
    assert store_of(server).thumbnail(made.json["sha256"]) is None


async def test_uploads_refused_from_other_pages_forms_and_viewers_of_missing_tasks(
    api: ApiClient, server: TandemServer, task: dict[str, Any]
) -> None:
    # A cross-site HTML form can send multipart, but no custom header.
    form = await upload(api, task["id"], png(4, 4), headers={})
    assert form.status == 415 and form.error_code == "ERROR_CODE_UNSUPPORTED"
    foreign = await upload(
        api, task["id"], png(4, 4), headers={**UPLOAD, "Origin": "http://evil.example"}
    )
    assert foreign.status == 403
    missing = await upload(api, "00000000-0000-0000-0000-000000000000", png(4, 4))
    assert missing.status == 404
    not_multipart = await api.post(
        f"/api/v1/tasks/{task['id']}/attachments", {"file": "x"}, headers=UPLOAD
    )
    assert not_multipart.status == 415
    no_file = await api.request(
        "POST",
        f"/api/v1/tasks/{task['id']}/attachments",
        data=aiohttp.FormData({"a": "b"}, default_to_multipart=True),  # type: ignore[arg-type]
        headers=UPLOAD,
    )
    assert no_file.status == 400 and no_file.json["error"]["field"] == "file"
    # Endless small parts, or a long commentId, are refused without reading on.
    many = aiohttp.FormData({f"p{i}": "x" for i in range(50)}, default_to_multipart=True)
    too_many = await api.request(
        "POST",
        f"/api/v1/tasks/{task['id']}/attachments",
        data=many,  # type: ignore[arg-type]
        headers=UPLOAD,
    )
    assert too_many.status == 400 and "parts" in too_many.json["error"]["message"]
    long_id = await upload(api, task["id"], b"x", "x.txt", comment_id="c" * 10_000)
    assert long_id.status == 400 and "commentId" in long_id.json["error"]["message"]
    assert stored(server) == set()


async def test_an_attachment_added_or_removed_is_live_for_others(
    api: ApiClient, server: TandemServer, task: dict[str, Any]
) -> None:
    def kind(name: str) -> Any:
        return lambda m: m.WhichOneof("payload") == name

    watcher = await WsClient.connect(api.session, ws_url(server))
    try:
        await subscribe(watcher, task["projectId"])
        made = await upload(api, task["id"], png(16, 16), "live.png")
        added = await watcher.wait_for(kind("attachment_added"))
        assert added.attachment_added.attachment.id == made.json["id"]
        assert added.attachment_added.attachment.content_type == "image/png"
        gone = await api.delete(f"/api/v1/attachments/{made.json['id']}")
        assert gone.status == 204
        removed = await watcher.wait_for(kind("attachment_removed"))
        assert removed.attachment_removed.attachment_id == made.json["id"]
        # A new subscriber's snapshot lists what is attached now.
        late = await WsClient.connect(api.session, ws_url(server))
        try:
            again = await upload(api, task["id"], b"notes", "notes.txt")
            await subscribe(late, task["projectId"])
            snapshot = (await late.wait_for(kind("snapshot"))).snapshot
            assert [a.id for a in snapshot.attachments] == [again.json["id"]]
        finally:
            await late.close()
    finally:
        await watcher.close()


async def test_a_comment_attachment_must_be_on_that_task(
    api: ApiClient, task: dict[str, Any]
) -> None:
    comment = await api.post(f"/api/v1/tasks/{task['id']}/comments", {"body": "see file"})
    other = await api.make_task(task["projectId"], "Other")
    made = await upload(api, task["id"], b"log", "log.txt", comment_id=comment.json["id"])
    assert made.status == 201 and made.json["commentId"] == comment.json["id"]
    wrong = await upload(api, other["id"], b"log", "log.txt", comment_id=comment.json["id"])
    assert wrong.status == 400 and wrong.json["error"]["field"] == "commentId"


@pytest.mark.sqlite_only("backs the SQLite file up (PostgreSQL: pg_dump, the content with it)")
async def test_backups_carry_the_attachments_and_exports_can_list_them(
    api: ApiClient, server: TandemServer, task: dict[str, Any], tmp_path: Path
) -> None:
    content = png(32, 32, "red")
    made = await upload(api, task["id"], content, "red.png")
    sha = made.json["sha256"]
    store = on_disk(server)
    assert store is not None
    backups = tmp_path / "backups"
    backups.mkdir()
    dest = await server.app[DOMAIN].backup_async(backups / "tandem-1.sqlite3")
    copied = backups / "attachments" / sha[:2] / sha
    assert copied.read_bytes() == content
    assert (backups / "attachments" / "thumbnails" / f"{sha}.png").is_file()
    conn = sqlite3.connect(dest)
    try:
        assert conn.execute("SELECT sha256 FROM attachment").fetchall() == [(sha,)]
    finally:
        conn.close()
    # For export: every attachment of the project with the file holding its content.
    domain = server.app[DOMAIN]
    listed = await domain.read(domain.attachment_files, task["projectId"])
    assert [(a.name, p) for a, p in listed] == [("red.png", store.content(sha))]
    assert store.content(sha).read_bytes() == content


async def test_content_nothing_refers_to_is_swept_at_start_once_old(
    api: ApiClient, server: TandemServer, task: dict[str, Any], new_server: Any, tmp_path: Path
) -> None:
    kept = await upload(api, task["id"], b"kept", "kept.txt")
    dropped = await upload(api, task["id"], png(8, 8), "dropped.png")
    assert (await api.delete(f"/api/v1/attachments/{dropped.json['id']}")).status == 204
    store = store_of(server)
    assert store.thumbnail(dropped.json["sha256"]) is not None
    for sha in (kept.json["sha256"], dropped.json["sha256"]):
        make_old(store, sha)
    fresh = store.put(b"uploaded a moment ago, its record on its way", LIMIT)
    await server.close()
    await new_server(data_dir=server.data_dir, web_root=tmp_path / "no-web-ui")
    assert store.has(kept.json["sha256"])
    assert not store.has(dropped.json["sha256"])
    assert store.thumbnail(dropped.json["sha256"]) is None
    assert store.has(fresh)


@pytest.mark.sqlite_only("puts a SQLite file back (PostgreSQL: pg_restore, the content with it)")
async def test_a_database_put_back_from_a_backup_gets_its_files_back(
    api: ApiClient, server: TandemServer, task: dict[str, Any], new_server: Any, tmp_path: Path
) -> None:
    content = png(24, 24, "green")
    made = await upload(api, task["id"], content, "green.png")
    sha = made.json["sha256"]
    backups = server.data_dir / "backups"
    backup = await server.app[DOMAIN].backup_async(backups / "tandem-1.sqlite3")
    # Removed, a day passes, and the next start sweeps the content away.
    assert (await api.delete(f"/api/v1/attachments/{made.json['id']}")).status == 204
    store = on_disk(server)
    assert store is not None
    make_old(store, sha)
    await server.close()
    second = await new_server(data_dir=server.data_dir, web_root=tmp_path / "no-web-ui")
    assert not store.has(sha)
    await second.close()
    # The owner puts the backup back by hand, as the damaged-database message says.
    for suffix in ("", "-wal", "-shm"):
        (server.data_dir / f"tandem.sqlite3{suffix}").unlink(missing_ok=True)
    (server.data_dir / "tandem.sqlite3").write_bytes(backup.read_bytes())
    third = await new_server(data_dir=server.data_dir, web_root=tmp_path / "no-web-ui")
    assert store.path(sha).read_bytes() == content
    async with aiohttp.ClientSession() as session:
        again = ApiClient(third.url, session)
        served = await again.get(f"/api/v1/attachments/{made.json['id']}/content")
        assert served.status == 200 and served.raw == content


async def test_a_task_restored_from_the_trash_has_its_files_and_watchers_back(
    api: ApiClient, server: TandemServer, task: dict[str, Any], new_server: Any, tmp_path: Path
) -> None:
    content = png(16, 16, "purple")
    made = await upload(api, task["id"], content, "plan.png")
    assert made.status == 201, made.json
    sha = made.json["sha256"]
    watched = await api.post(f"/api/v1/tasks/{task['id']}/watch", {"watching": True})
    assert watched.status == 200, watched.json
    watchers_before = (await api.get(f"/api/v1/tasks/{task['id']}/watchers")).json
    assert (await api.delete(f"/api/v1/tasks/{task['id']}")).status == 204
    assert (await api.get(f"/api/v1/attachments/{made.json['id']}/content")).status == 404

    # While it waits in the trash, its file outlives a start's sweep, however old.
    store = store_of(server)
    make_old(store, sha)
    await server.close()
    second = await new_server(data_dir=server.data_dir, web_root=tmp_path / "no-web-ui")
    assert store.has(sha)

    async with aiohttp.ClientSession() as session:
        again = ApiClient(second.url, session)
        restored = await again.post(f"/api/v1/tasks/{task['id']}/restore", {})
        assert restored.status == 200, restored.json
        listed = await again.get(f"/api/v1/tasks/{task['id']}/attachments")
        assert [a["id"] for a in listed.json["attachments"]] == [made.json["id"]]
        served = await again.get(f"/api/v1/attachments/{made.json['id']}/content")
        assert served.status == 200 and served.raw == content
        watchers = await again.get(f"/api/v1/tasks/{task['id']}/watchers")
        assert watchers.json == watchers_before


async def test_a_comment_restored_from_the_trash_has_its_files_back(
    api: ApiClient, server: TandemServer, task: dict[str, Any], new_server: Any, tmp_path: Path
) -> None:
    comment = await api.post(f"/api/v1/tasks/{task['id']}/comments", {"body": "see the log"})
    made = await upload(api, task["id"], b"a log line", "log.txt", comment_id=comment.json["id"])
    assert made.status == 201, made.json
    assert (await api.delete(f"/api/v1/comments/{comment.json['id']}")).status == 204
    assert (await api.get(f"/api/v1/attachments/{made.json['id']}/content")).status == 404
    # Its file outlives a start's sweep while the comment waits in the trash.
    make_old(store_of(server), made.json["sha256"])
    await server.close()
    second = await new_server(data_dir=server.data_dir, web_root=tmp_path / "no-web-ui")
    async with aiohttp.ClientSession() as session:
        again = ApiClient(second.url, session)
        restored = await again.post(f"/api/v1/comments/{comment.json['id']}/restore", {})
        assert restored.status == 200, restored.json
        served = await again.get(f"/api/v1/attachments/{made.json['id']}/content")
        assert served.status == 200 and served.raw == b"a log line"
        listed = await again.get(f"/api/v1/tasks/{task['id']}/attachments")
        assert [a["commentId"] for a in listed.json["attachments"]] == [comment.json["id"]]


def _trash_files(path: Path) -> set[tuple[str, str | None, str | None]]:
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute("SELECT sha256, task_id, comment_id FROM trash_file").fetchall()
        return {(r[0], r[1], r[2]) for r in rows}
    finally:
        conn.close()


def _sql(path: Path, script: str) -> None:
    conn = sqlite3.connect(path)
    try:
        conn.executescript(script)
    finally:
        conn.close()


@pytest.mark.sqlite_only("migrates a SQLite file from before the trash_file table")
async def test_the_start_keeps_trashed_files_by_their_own_table_filled_in_for_older_files(
    api: ApiClient, server: TandemServer, task: dict[str, Any], new_server: Any, tmp_path: Path
) -> None:
    other = await api.make_task(task["projectId"], "Has a comment with a file")
    on_task = await upload(api, task["id"], b"the plan", "plan.txt")
    comment = await api.post(f"/api/v1/tasks/{other['id']}/comments", {"body": "see the log"})
    on_comment = await upload(api, other["id"], b"a log", "log.txt", comment_id=comment.json["id"])
    assert (await api.delete(f"/api/v1/tasks/{task['id']}")).status == 204
    assert (await api.delete(f"/api/v1/comments/{comment.json['id']}")).status == 204
    database = server.config.database_path
    expected = {
        (on_task.json["sha256"], task["id"], None),
        (on_comment.json["sha256"], None, comment.json["id"]),
    }
    assert _trash_files(database) == expected
    store = on_disk(server)
    assert store is not None
    for made in (on_task, on_comment):
        make_old(store, made.json["sha256"])
    await server.close()

    # A database from before the table: its migration step, run on it, fills the table in
    # from the entries' JSON (the steps after it are about other tables).
    _sql(database, "DROP TABLE trash_file;" + migrations.V_TRASH_FILES)
    second = await new_server(data_dir=server.data_dir, web_root=tmp_path / "no-web-ui")
    assert _trash_files(database) == expected
    assert store.has(on_task.json["sha256"]) and store.has(on_comment.json["sha256"])
    await second.close()

    # The start reads the table, not the JSON: entries whose JSON no longer lists the files
    # keep them all the same.
    _sql(
        database,
        "UPDATE task_trash SET rows = json_set(rows, '$.attachments', json('[]'));"
        "UPDATE comment_trash SET row = json_set(row, '$.attachments', json('[]'));",
    )
    third = await new_server(data_dir=server.data_dir, web_root=tmp_path / "no-web-ui")
    assert store.has(on_task.json["sha256"]) and store.has(on_comment.json["sha256"])

    # Deleted forever, or restored, an entry takes its rows with it: the next start sweeps
    # the file of the task deleted for good.
    async with aiohttp.ClientSession() as session:
        again = ApiClient(third.url, session)
        assert (await again.delete(f"/api/v1/trash/tasks/{task['id']}")).status == 204
        restored = await again.post(f"/api/v1/comments/{comment.json['id']}/restore", {})
        assert restored.status == 200, restored.json
    assert _trash_files(database) == set()
    await third.close()
    await new_server(data_dir=server.data_dir, web_root=tmp_path / "no-web-ui")
    assert not store.has(on_task.json["sha256"])

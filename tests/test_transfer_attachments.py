"""Attachments in exports, over real servers on real SQLite files: the export document lists
them (format 2; a document without any stays format 1, as a Tandem before attachments wrote and
reads it), a .zip export carries their files, and importing it brings them back; a JSON export
alone brings back only what the importing Tandem already has; a damaged .zip is refused by
name. Through the CLI too: ``tandem export --to FILE.zip``, ``tandem import``, and ``tandem
backup`` copying the files beside the backup."""

from __future__ import annotations

import base64
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from server.domain.transfer import bundle
from tests.api_client import ApiClient
from tests.fixtures import NewServer
from tests.test_attachments import png, upload
from tests.test_transfer import tandem

PICTURE = png(20, 10, "red")
LOG = b"a log line\n"


async def _board(api: ApiClient) -> dict[str, Any]:
    """A project with a picture on a task and a log on a comment, and one without files."""
    project = await api.make_project("WEB")
    await api.make_project("OPS", "Ops")
    task = await api.make_task(project["id"], "Has files")
    picture = await upload(api, task["id"], PICTURE, "plan.png")
    assert picture.status == 201, picture.json
    comment = await api.post(f"/api/v1/tasks/{task['id']}/comments", {"body": "see the log"})
    log = await upload(
        api, task["id"], LOG, "build.log", declared_type="text/plain", comment_id=comment.json["id"]
    )
    assert log.status == 201, log.json
    return {"task": task, "comment": comment.json, "picture": picture.json, "log": log.json}


async def _import(api: ApiClient, data: bytes, name: str) -> Any:
    body = {"data": base64.b64encode(data).decode(), "fileName": name}
    return await api.post("/api/v1/imports", body)


def _without_time(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k != "exportTime"}


async def test_a_zip_export_carries_the_files_and_an_import_brings_them_back(
    new_server: NewServer, tmp_path: Path
) -> None:
    first = await new_server(data_dir=tmp_path / "a", web_root=tmp_path / "no-web-ui")
    async with aiohttp.ClientSession() as session:
        api = ApiClient(first.url, session)
        made = await _board(api)
        doc = (await api.get("/api/v1/export", project="WEB")).json
        assert doc["formatVersion"] == 2
        fields = ("name", "contentType", "size", "sha256", "taskId", "commentId")
        listed = [tuple(a.get(f) for f in fields) for a in doc["projects"][0]["attachments"]]
        task_id, comment_id = made["task"]["id"], made["comment"]["id"]
        assert listed == [
            ("plan.png", "image/png", str(len(PICTURE)), made["picture"]["sha256"], task_id, None),
            ("build.log", "application/octet-stream", str(len(LOG)), made["log"]["sha256"], task_id,
             comment_id),
        ]  # fmt: skip
        # Without attachments, the document is format 1 with nothing new in it.
        plain = (await api.get("/api/v1/export", project="OPS")).json
        assert plain["formatVersion"] == 1
        assert "attachments" not in json.dumps(plain)

        zipped = await api.get("/api/v1/export", project="WEB", format="zip")
        assert zipped.status == 200
        assert zipped.headers["Content-Type"] == "application/zip"
        assert zipped.headers["Content-Disposition"].endswith('.zip"')
        archive = zipfile.ZipFile(io.BytesIO(zipped.raw))
        shas = [made["picture"]["sha256"], made["log"]["sha256"]]
        assert sorted(archive.namelist()) == sorted(
            [bundle.DOCUMENT, *(f"{bundle.FILES}{sha}" for sha in shas)]
        )
        assert archive.read(f"{bundle.FILES}{shas[0]}") == PICTURE
        inner = json.loads(archive.read(bundle.DOCUMENT))
        assert _without_time(inner) == _without_time(doc)

    second = await new_server(data_dir=tmp_path / "b", web_root=tmp_path / "no-web-ui")
    async with aiohttp.ClientSession() as session:
        api = ApiClient(second.url, session)
        body = {"data": base64.b64encode(zipped.raw).decode(), "fileName": "w.zip"}
        preview = await api.post("/api/v1/imports/preview", body)
        assert preview.status == 200, preview.json
        assert preview.json["projects"][0]["attachments"] == 2
        imported = await _import(api, zipped.raw, "tandem-web.zip")
        assert imported.status == 200, imported.json
        assert imported.json["format"] == "IMPORT_FORMAT_TANDEM"
        assert imported.json["projects"][0]["attachments"] == 2
        back = (await api.get(f"/api/v1/tasks/{made['task']['id']}/attachments")).json
        by_name = {a["name"]: a for a in back["attachments"]}
        assert by_name["plan.png"]["contentType"] == "image/png"
        assert (by_name["plan.png"]["width"], by_name["plan.png"]["height"]) == (20, 10)
        assert by_name["build.log"]["commentId"] == made["comment"]["id"]
        for name, content in (("plan.png", PICTURE), ("build.log", LOG)):
            served = await api.get(f"/api/v1/attachments/{by_name[name]['id']}/content")
            assert served.status == 200 and served.raw == content
        again = (await api.get("/api/v1/export", project="WEB")).json
        assert again["projects"][0]["attachments"] == doc["projects"][0]["attachments"]

    # The JSON alone, where the files are not: the rest comes in, and a note says what did not.
    third = await new_server(data_dir=tmp_path / "c", web_root=tmp_path / "no-web-ui")
    async with aiohttp.ClientSession() as session:
        api = ApiClient(third.url, session)
        imported = await _import(api, json.dumps(doc).encode(), "tandem-web.json")
        assert imported.status == 200, imported.json
        assert imported.json["projects"][0].get("attachments", 0) == 0
        assert any("2 attachments are listed without the file" in n for n in imported.json["notes"])
        assert (await api.get(f"/api/v1/tasks/{made['task']['id']}")).status == 200
        left = (await api.get(f"/api/v1/tasks/{made['task']['id']}/attachments")).json
        assert left.get("attachments", []) == []


def _rezip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return out.getvalue()


@pytest.mark.parametrize("damage", ["wrong content", "stranger", "no document"])
async def test_a_damaged_zip_export_is_refused_by_name_and_changes_nothing(
    new_server: NewServer, tmp_path: Path, damage: str
) -> None:
    server = await new_server(data_dir=tmp_path / "a", web_root=tmp_path / "no-web-ui")
    async with aiohttp.ClientSession() as session:
        api = ApiClient(server.url, session)
        made = await _board(api)
        zipped = (await api.get("/api/v1/export", project="WEB", format="zip")).raw
        members = {
            n: zipfile.ZipFile(io.BytesIO(zipped)).read(n)
            for n in zipfile.ZipFile(io.BytesIO(zipped)).namelist()
        }
        picture = f"{bundle.FILES}{made['picture']['sha256']}"
        if damage == "wrong content":
            members[picture] = b"not the picture"
        elif damage == "stranger":
            members["attachments/../../evil.sh"] = b"#!/bin/sh"
        else:
            del members[bundle.DOCUMENT]
        before = (await api.get("/api/v1/projects")).json
        refused = await _import(api, _rezip(members), "w.zip")
        assert refused.status == 400, refused.json
        expected = {
            "wrong content": f"{picture}: its content does not match its SHA-256",
            "stranger": "attachments/../../evil.sh: not part of a Tandem export",
            # Without its document, a zip is not taken for a Tandem export at all.
            "no document": "version.json",
        }[damage]
        assert expected in refused.json["error"]["message"]
        assert (await api.get("/api/v1/projects")).json == before


async def test_the_cli_exports_a_zip_imports_it_and_backs_the_files_up(
    new_server: NewServer, tmp_path: Path
) -> None:
    server = await new_server(data_dir=tmp_path / "a", web_root=tmp_path / "no-web-ui")
    async with aiohttp.ClientSession() as session:
        made = await _board(ApiClient(server.url, session))
    await server.close()
    shas = [made["picture"]["sha256"], made["log"]["sha256"]]

    out = tmp_path / "export.zip"
    done = tandem("export", "--to", str(out), "--data-dir", str(tmp_path / "a"))
    assert done.returncode == 0, done.stderr
    assert sorted(zipfile.ZipFile(out).namelist()) == sorted(
        [bundle.DOCUMENT, *(f"{bundle.FILES}{sha}" for sha in shas)]
    )
    # A JSON export says plainly that the files are not in it.
    as_json = tandem(
        "export", "--to", str(tmp_path / "export.json"), "--data-dir", str(tmp_path / "a")
    )
    assert as_json.returncode == 0, as_json.stderr
    assert "lists 2 attachments but holds no files" in as_json.stderr
    assert ".zip" in as_json.stderr

    imported = tandem("import", str(out), "--data-dir", str(tmp_path / "b"))
    assert imported.returncode == 0, imported.stderr
    assert "project WEB 'Website': 1 tasks, 0 sprints, 1 comments, 2 attachments" in imported.stdout
    for sha, content in zip(shas, (PICTURE, LOG), strict=True):
        assert (tmp_path / "b" / "attachments" / sha[:2] / sha).read_bytes() == content

    # A backup made by the command line has the files beside it, as the app's backups do.
    backup = tmp_path / "kept" / "tandem-backup.sqlite3"
    backup.parent.mkdir()
    made_backup = tandem("backup", "--to", str(backup), "--data-dir", str(tmp_path / "a"))
    assert made_backup.returncode == 0, made_backup.stderr
    for sha, content in zip(shas, (PICTURE, LOG), strict=True):
        assert (backup.parent / "attachments" / sha[:2] / sha).read_bytes() == content

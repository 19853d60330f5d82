"""REST: search everywhere (GET /api/v1/search), over a real server and a real SQLite file."""

from __future__ import annotations

import asyncio
import sqlite3

from server.runner import RunningServer
from server.storage import migrations
from tests.api_client import ApiClient, database_rows


async def _keys(api: ApiClient, q: str, **params: str) -> list[str]:
    resp = await api.get("/api/v1/search", q=q, **params)
    assert resp.status == 200, resp.json
    return [hit["task"]["key"] for hit in resp.json.get("hits", [])]


async def test_search_finds_titles_descriptions_and_comments_across_projects(
    api: ApiClient,
) -> None:
    web = (await api.make_project("WEB", "Website"))["id"]
    app = (await api.make_project("APP", "Mobile app"))["id"]
    login = await api.make_task(web, "Login page is slow")
    await api.make_task(web, "Footer links", description="The **login** link is broken")
    other = await api.make_task(app, "Crash on start")
    await api.make_task(app, "Nothing to see")
    said = await api.post(
        f"/api/v1/tasks/{other['id']}/comments", {"body": "Happens after the login screen"}
    )
    assert said.status == 201

    resp = await api.get("/api/v1/search", q="login")
    assert resp.status == 200, resp.json
    hits = resp.json["hits"]
    assert resp.json["totalSize"] == 3
    # The title match is best; each hit says where it matched, with the match marked.
    assert hits[0]["task"]["key"] == "WEB-1"
    assert hits[0]["matchedIn"] == "title"
    assert hits[0]["projectName"] == "Website"
    by_key = {h["task"]["key"]: h for h in hits}
    assert by_key["WEB-2"]["matchedIn"] == "description"
    assert by_key["APP-1"]["matchedIn"] == "comment"
    assert by_key["APP-1"]["commentId"] == said.json["id"]
    assert "\x02login\x03" in by_key["APP-1"]["snippet"].lower()

    # Words are prefixes and all must match; case and accents do not matter.
    assert await _keys(api, "LOG slow") == ["WEB-1"]
    assert await _keys(api, "crásh") == ["APP-1"]
    assert await _keys(api, "login nowhere") == []
    # A task key finds its task.
    assert await _keys(api, "app-2") == ["APP-2"]
    # Operators of the index are plain words to a person.
    assert await _keys(api, 'login" OR "x') == []
    assert await _keys(api, "NOT login") == []

    # Kept in step: edits, comment edits and deletes show at once.
    renamed = await api.patch(
        f"/api/v1/tasks/{login['id']}",
        {"task": {"title": "Sign-in page is slow"}, "updateMask": "title", "baseVersion": 0},
    )
    assert renamed.status == 200
    assert await _keys(api, "sign") == ["WEB-1"]
    assert "WEB-1" not in await _keys(api, "login")
    edited = await api.patch(
        f"/api/v1/comments/{said.json['id']}", {"body": "Happens at random", "baseVersion": 0}
    )
    assert edited.status == 200, edited.json
    assert await _keys(api, "random") == ["APP-1"]
    assert (await api.delete(f"/api/v1/tasks/{other['id']}")).status == 204
    assert await _keys(api, "random") == []
    assert await _keys(api, "crash") == []


async def test_search_right_after_the_acks_of_concurrent_edits_finds_every_new_title(
    api: ApiClient,
) -> None:
    """Edits answered together (one group commit) are all found by the next search, however
    their reindex was scheduled after the commit (see V_SEARCH_DEFERRED)."""
    pid = (await api.make_project("WEB"))["id"]
    tasks = [await api.make_task(pid, f"Draft {n}") for n in range(16)]

    async def rename(n: int, task: dict[str, object]) -> int:
        resp = await api.patch(
            f"/api/v1/tasks/{task['id']}",
            {"task": {"title": f"Final wombat{n}"}, "updateMask": "title", "baseVersion": 0},
        )
        return resp.status

    assert await asyncio.gather(*(rename(n, t) for n, t in enumerate(tasks))) == [200] * 16
    resp = await api.get("/api/v1/search", q="wombat", pageSize="100")
    assert resp.status == 200, resp.json
    assert sorted(h["task"]["title"] for h in resp.json["hits"]) == sorted(
        f"Final wombat{n}" for n in range(16)
    )
    assert await _keys(api, "draft") == []


async def test_search_pages(api: ApiClient) -> None:
    pid = (await api.make_project("WEB"))["id"]
    for i in range(7):
        await api.make_task(pid, f"Report number {i}")
    seen: list[str] = []
    token = ""
    while True:
        params = {"q": "report", "pageSize": "3"} | ({"pageToken": token} if token else {})
        page = (await api.get("/api/v1/search", **params)).json
        assert page["totalSize"] == 7
        seen += [h["task"]["key"] for h in page["hits"]]
        token = page.get("nextPageToken", "")
        if not token:
            break
    assert sorted(seen) == sorted(f"WEB-{i}" for i in range(1, 8))


async def test_search_refuses_bad_input_with_coded_errors(
    api: ApiClient, server: RunningServer
) -> None:
    pid = (await api.make_project("WEB"))["id"]
    await api.make_task(pid, "Report")
    before = database_rows(server.config.database_path)
    cases = [
        ({}, "q"),
        ({"q": ""}, "q"),
        ({"q": "   "}, "q"),
        ({"q": "?!"}, "q"),
        ({"q": "x" * 201}, "q"),
        ({"q": " ".join(["w"] * 13)}, "q"),
        ({"q": "report", "pageSize": "0"}, "pageSize"),
        ({"q": "report", "pageSize": "101"}, "pageSize"),
        ({"q": "report", "pageSize": "ten"}, "pageSize"),
        ({"q": "report", "pageToken": "nope"}, "pageToken"),
        ({"q": "report", "pageToken": "-1"}, "pageToken"),
        # Out of range: past the last match.
        ({"q": "report", "pageToken": "5"}, "pageToken"),
        ({"q": "report", "page": "2"}, "page"),
    ]
    for params, field in cases:
        resp = await api.get("/api/v1/search", **params)
        assert resp.status == 400, (params, resp.json)
        assert resp.error_code == "ERROR_CODE_INVALID_ARGUMENT", params
        assert resp.json["error"]["field"] == field, params
        assert resp.json["error"]["message"]
    assert database_rows(server.config.database_path) == before


async def test_search_is_in_the_openapi_document(api: ApiClient) -> None:
    doc = (await api.get("/api/openapi.json")).json
    op = doc["paths"]["/api/v1/search"]["get"]
    assert op["operationId"] == "search"
    params = {p["name"]: p for p in op["parameters"]}
    assert params["q"]["required"] is True
    assert set(params) == {"q", "pageSize", "pageToken"}
    assert "SearchResponse" in str(op["responses"]["200"])


def test_the_migration_indexes_existing_rows(tmp_path: object) -> None:
    """A database made before search existed is indexed by the migration that adds it."""
    from pathlib import Path

    path = Path(str(tmp_path)) / "old.sqlite3"
    conn = sqlite3.connect(path)
    before = migrations.MIGRATIONS.index(migrations.V_SEARCH)
    migrations.migrate(path, conn, migrations.MIGRATIONS[:before])
    conn.executescript(
        """
        INSERT INTO project (id, key, name, version, created_at, updated_at)
            VALUES ('p', 'OLD', 'Old', 1, 0, 0);
        INSERT INTO task (id, project_id, number, title, description, status, priority, rank,
                          version, created_at, updated_at)
            VALUES ('t', 'p', 1, 'Ancient ticket', 'about zebras', 2, 1, 'a0', 1, 0, 0);
        INSERT INTO comment (id, task_id, project_id, author_id, body, version, created_at)
            VALUES ('c', 't', 'p', 'm', 'giraffes too', 1, 0);
        """
    )
    conn.commit()
    migrations.migrate(path, conn)
    assert migrations.user_version(conn) == migrations.LATEST

    def found(word: str) -> list[tuple[str, str]]:
        return conn.execute(
            "SELECT d.kind, d.task_id FROM search_text JOIN search_doc AS d"
            " ON d.doc = search_text.rowid WHERE search_text MATCH ?",
            (word,),
        ).fetchall()

    assert found("zebras") == [("task", "t")]
    assert found("giraffes") == [("comment", "t")]
    assert found("ancient") == [("task", "t")]
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("DELETE FROM task WHERE id = 't'")  # the comment goes by cascade
    assert found("giraffes") == []
    assert conn.execute("SELECT count(*) FROM search_doc").fetchone()[0] == 0
    conn.close()

"""REST: projects and members, over a real server and a real SQLite file."""

from __future__ import annotations

from server.runner import RunningServer
from tests.api_client import ApiClient, database_rows


async def test_health_names_the_version(api: ApiClient) -> None:
    import server

    resp = await api.get("/api/health")
    assert resp.status == 200
    assert resp.json == {"status": "ok", "version": server.__version__}


async def test_project_lifecycle(api: ApiClient) -> None:
    assert (await api.get("/api/v1/projects")).json == {}
    created = await api.post(
        "/api/v1/projects", {"key": "WEB", "name": "Website", "description": "the site"}
    )
    assert created.status == 201
    project = created.json
    assert created.headers["Location"] == f"/api/v1/projects/{project['id']}"
    assert project["key"] == "WEB"
    assert project["version"] == "1"

    listed = await api.get("/api/v1/projects")
    assert [p["id"] for p in listed.json["projects"]] == [project["id"]]
    fetched = await api.get(f"/api/v1/projects/{project['id']}")
    assert fetched.json == project

    patched = await api.patch(
        f"/api/v1/projects/{project['id']}",
        {"project": {"name": "Web site"}, "updateMask": "name", "baseVersion": "1"},
    )
    assert patched.status == 200, patched.json
    assert patched.json["name"] == "Web site"
    assert patched.json["description"] == "the site"
    assert patched.json["version"] == "2"

    deleted = await api.delete(f"/api/v1/projects/{project['id']}")
    assert deleted.status == 204
    assert deleted.raw == b""
    gone = await api.get(f"/api/v1/projects/{project['id']}")
    assert gone.status == 404
    assert gone.error_code == "ERROR_CODE_NOT_FOUND"


async def test_path_id_wins_over_body_id(api: ApiClient) -> None:
    one = await api.make_project("ONE", "One")
    two = await api.make_project("TWO", "Two")
    resp = await api.patch(
        f"/api/v1/projects/{one['id']}",
        {"projectId": two["id"], "project": {"name": "Renamed"}, "updateMask": "name"},
    )
    assert resp.status == 200, resp.json
    assert resp.json["id"] == one["id"]
    assert (await api.get(f"/api/v1/projects/{two['id']}")).json["name"] == "Two"


async def test_duplicate_project_key_is_refused_and_changes_nothing(
    api: ApiClient, server: RunningServer
) -> None:
    await api.make_project("WEB", "Website")
    before = database_rows(server.config.database_path)
    resp = await api.post("/api/v1/projects", {"key": "WEB", "name": "Another"})
    assert resp.status == 409
    assert resp.error_code == "ERROR_CODE_ALREADY_EXISTS"
    assert database_rows(server.config.database_path) == before


async def test_stale_base_version_on_a_changed_field_conflicts(
    api: ApiClient, server: RunningServer
) -> None:
    project = await api.make_project()
    path = f"/api/v1/projects/{project['id']}"
    first = await api.patch(
        path, {"project": {"name": "A"}, "updateMask": "name", "baseVersion": "1"}
    )
    assert first.status == 200
    before = database_rows(server.config.database_path)
    stale = await api.patch(
        path, {"project": {"name": "B"}, "updateMask": "name", "baseVersion": "1"}
    )
    assert stale.status == 409
    assert stale.error_code == "ERROR_CODE_CONFLICT"
    assert stale.json["error"]["currentProject"]["name"] == "A"
    assert stale.json["error"]["conflictingFields"] == ["name"]
    assert database_rows(server.config.database_path) == before
    # Another field, same stale base: merged, not refused.
    other = await api.patch(
        path, {"project": {"description": "d"}, "updateMask": "description", "baseVersion": "1"}
    )
    assert other.status == 200, other.json
    assert other.json["name"] == "A"


async def test_unknown_project_is_not_found_everywhere(api: ApiClient) -> None:
    for method, path in [
        ("GET", "/api/v1/projects/nope"),
        ("DELETE", "/api/v1/projects/nope"),
        ("GET", "/api/v1/projects/nope/tasks"),
        ("GET", "/api/v1/projects/nope/sprints"),
        ("GET", "/api/v1/projects/nope/events"),
    ]:
        resp = await api.request(method, path)
        assert resp.status == 404, (method, path, resp.json)
        assert resp.error_code == "ERROR_CODE_NOT_FOUND"
    for path, body in [
        ("/api/v1/projects/nope/tasks", {"title": "x"}),
        ("/api/v1/projects/nope/sprints", {"name": "x"}),
    ]:
        resp = await api.post(path, body)
        assert resp.status == 404, (path, resp.json)
    resp = await api.patch(
        "/api/v1/projects/nope", {"project": {"name": "x"}, "updateMask": "name"}
    )
    assert resp.status == 404


async def test_members_lists_the_owner(api: ApiClient) -> None:
    resp = await api.get("/api/v1/members")
    assert resp.status == 200
    roles = [m.get("role") for m in resp.json["members"]]
    assert "MEMBER_ROLE_OWNER" in roles

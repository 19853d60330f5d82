"""REST: tasks, comments and sprints, over a real server and a real SQLite file."""

from __future__ import annotations

from server.runner import RunningServer
from tests.api_client import ApiClient, database_rows


async def test_task_lifecycle(api: ApiClient) -> None:
    project = await api.make_project("WEB")
    pid = project["id"]
    created = await api.post(
        f"/api/v1/projects/{pid}/tasks",
        {"title": "Write docs", "status": "TASK_STATUS_TODO", "labels": ["docs"], "storyPoints": 3},
    )
    assert created.status == 201, created.json
    task = created.json
    assert task["key"] == "WEB-1"
    assert task["projectId"] == pid
    assert created.headers["Location"] == f"/api/v1/tasks/{task['id']}"
    assert (await api.get(f"/api/v1/tasks/{task['id']}")).json == task

    patched = await api.patch(
        f"/api/v1/tasks/{task['id']}",
        {
            "task": {"title": "Write the docs", "status": "TASK_STATUS_IN_PROGRESS"},
            "updateMask": "title,status",
            "baseVersion": task["version"],
        },
    )
    assert patched.status == 200, patched.json
    assert patched.json["title"] == "Write the docs"
    assert patched.json["status"] == "TASK_STATUS_IN_PROGRESS"
    assert patched.json["labels"] == ["docs"]

    moved = await api.post(
        f"/api/v1/tasks/{task['id']}/move",
        {"status": "TASK_STATUS_DONE", "baseVersion": patched.json["version"]},
    )
    assert moved.status == 200, moved.json
    assert moved.json["status"] == "TASK_STATUS_DONE"

    assert (await api.delete(f"/api/v1/tasks/{task['id']}")).status == 204
    assert (await api.get(f"/api/v1/tasks/{task['id']}")).status == 404
    assert (await api.delete(f"/api/v1/tasks/{task['id']}")).status == 404


async def test_task_list_filters_and_pages(api: ApiClient) -> None:
    pid = (await api.make_project("WEB"))["id"]
    sprint = await api.make_sprint(pid)
    owner = (await api.get("/api/v1/members")).json["members"][0]["id"]
    await api.make_task(pid, "Alpha login", status="TASK_STATUS_TODO", labels=["auth"])
    await api.make_task(pid, "Beta search", status="TASK_STATUS_DONE", assigneeId=owner)
    await api.make_task(
        pid, "Gamma login page", sprintId=sprint["id"], status="TASK_STATUS_IN_REVIEW"
    )

    async def titles(**params: str) -> list[str]:
        resp = await api.get(f"/api/v1/projects/{pid}/tasks", **params)
        assert resp.status == 200, resp.json
        return sorted(t["title"] for t in resp.json.get("tasks", []))

    assert len(await titles()) == 3
    assert await titles(status="TASK_STATUS_DONE") == ["Beta search"]
    assert await titles(status="todo") == ["Alpha login"]
    assert await titles(assignee=owner) == ["Beta search"]
    assert await titles(sprint=sprint["id"]) == ["Gamma login page"]
    assert await titles(label="auth") == ["Alpha login"]
    assert await titles(q="login") == ["Alpha login", "Gamma login page"]

    seen: list[str] = []
    token = ""
    for _ in range(5):
        params = {"pageSize": "2"} | ({"pageToken": token} if token else {})
        page = (await api.get(f"/api/v1/projects/{pid}/tasks", **params)).json
        assert len(page["tasks"]) <= 2
        seen += [t["id"] for t in page["tasks"]]
        token = page.get("nextPageToken", "")
        if not token:
            break
    assert len(seen) == len(set(seen)) == 3


async def test_task_into_another_projects_sprint_is_refused(
    api: ApiClient, server: RunningServer
) -> None:
    web = (await api.make_project("WEB"))["id"]
    app = (await api.make_project("APP"))["id"]
    foreign = await api.make_sprint(app)
    task = await api.make_task(web)
    before = database_rows(server.config.database_path)
    created = await api.post(
        f"/api/v1/projects/{web}/tasks", {"title": "x", "sprintId": foreign["id"]}
    )
    assert created.status in (400, 409), created.json
    patched = await api.patch(
        f"/api/v1/tasks/{task['id']}",
        {"task": {"sprintId": foreign["id"]}, "updateMask": "sprintId", "baseVersion": "1"},
    )
    assert patched.status in (400, 409), patched.json
    assert database_rows(server.config.database_path) == before


async def test_stale_task_update_conflicts_and_changes_nothing(
    api: ApiClient, server: RunningServer
) -> None:
    pid = (await api.make_project())["id"]
    task = await api.make_task(pid, "Original")
    path = f"/api/v1/tasks/{task['id']}"
    ok = await api.patch(
        path, {"task": {"title": "Mine"}, "updateMask": "title", "baseVersion": "1"}
    )
    assert ok.status == 200
    before = database_rows(server.config.database_path)
    stale = await api.patch(
        path, {"task": {"title": "Theirs"}, "updateMask": "title", "baseVersion": "1"}
    )
    assert stale.status == 409
    assert stale.error_code == "ERROR_CODE_CONFLICT"
    assert stale.json["error"]["currentTask"]["title"] == "Mine"
    assert database_rows(server.config.database_path) == before


async def test_comments(api: ApiClient) -> None:
    pid = (await api.make_project())["id"]
    task = await api.make_task(pid)
    base = f"/api/v1/tasks/{task['id']}/comments"
    assert (await api.get(base)).json == {}
    added = await api.post(base, {"body": "Looks good"})
    assert added.status == 201, added.json
    comment = added.json
    assert comment["body"] == "Looks good"
    assert comment["taskId"] == task["id"]
    assert (await api.get(base)).json["comments"] == [comment]

    edited = await api.patch(f"/api/v1/comments/{comment['id']}", {"body": "Looks great"})
    assert edited.status == 200, edited.json
    assert edited.json["body"] == "Looks great"
    assert "editTime" in edited.json

    assert (await api.delete(f"/api/v1/comments/{comment['id']}")).status == 204
    assert (await api.get(base)).json == {}
    assert (await api.get("/api/v1/tasks/nope/comments")).status == 404
    assert (await api.post("/api/v1/tasks/nope/comments", {"body": "x"})).status == 404
    empty = await api.post(base, {"body": ""})
    assert empty.status == 400
    assert empty.error_code == "ERROR_CODE_INVALID_ARGUMENT"


async def test_sprint_lifecycle(api: ApiClient) -> None:
    pid = (await api.make_project())["id"]
    created = await api.post(
        f"/api/v1/projects/{pid}/sprints",
        {"name": "Sprint 1", "goal": "Ship", "startDate": "2026-01-05", "endDate": "2026-01-16"},
    )
    assert created.status == 201, created.json
    sprint = created.json
    assert sprint["state"] == "SPRINT_STATE_PLANNED"
    assert created.headers["Location"] == f"/api/v1/sprints/{sprint['id']}"
    assert (await api.get(f"/api/v1/sprints/{sprint['id']}")).json == sprint
    listed = await api.get(f"/api/v1/projects/{pid}/sprints")
    assert [s["id"] for s in listed.json["sprints"]] == [sprint["id"]]

    patched = await api.patch(
        f"/api/v1/sprints/{sprint['id']}",
        {"sprint": {"goal": "Ship it"}, "updateMask": "goal", "baseVersion": sprint["version"]},
    )
    assert patched.status == 200, patched.json
    assert patched.json["goal"] == "Ship it"

    open_task = await api.make_task(pid, "Unfinished", sprintId=sprint["id"])
    started = await api.post(f"/api/v1/sprints/{sprint['id']}/start")
    assert started.status == 200, started.json
    assert started.json["state"] == "SPRINT_STATE_ACTIVE"
    again = await api.post(f"/api/v1/sprints/{sprint['id']}/start")
    assert again.status == 409
    assert again.error_code == "ERROR_CODE_FAILED_PRECONDITION"

    done = await api.post(f"/api/v1/sprints/{sprint['id']}/complete", {})
    assert done.status == 200, done.json
    assert done.json["state"] == "SPRINT_STATE_COMPLETED"
    carried = (await api.get(f"/api/v1/tasks/{open_task['id']}")).json
    assert carried.get("sprintId", "") == ""
    assert (await api.post("/api/v1/sprints/nope/start")).status == 404
    assert (await api.get("/api/v1/sprints/nope")).status == 404


async def test_error_fields_are_named_as_the_json_bodies_name_them(api: ApiClient) -> None:
    pid = (await api.make_project())["id"]
    bad = await api.post(f"/api/v1/projects/{pid}/tasks", {"title": "t", "dueDate": "soon"})
    assert bad.status == 400 and bad.json["error"]["field"] == "dueDate"
    task = await api.make_task(pid)
    path = f"/api/v1/tasks/{task['id']}"
    first = {"task": {"dueDate": "2026-12-01"}, "updateMask": "dueDate", "baseVersion": "1"}
    assert (await api.request("PATCH", path, first)).status == 200
    second = {"task": {"dueDate": "2026-12-24"}, "updateMask": "dueDate", "baseVersion": "1"}
    conflict = await api.request("PATCH", path, second)
    assert conflict.status == 409
    assert conflict.json["error"]["conflictingFields"] == ["dueDate"]

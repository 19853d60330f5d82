"""REST: bulk edit (POST /api/v1/projects/{id}/tasks/bulk), all of it or nothing."""

from __future__ import annotations

from typing import Any

from server.domain.bulk import MAX_BULK_TASKS
from server.runner import RunningServer
from tests.api_client import ApiClient, database_rows

BULK = "/api/v1/projects/{}/tasks/bulk"


def _update(task: dict[str, Any], mask: str, **values: Any) -> dict[str, Any]:
    return {
        "taskId": task["id"],
        "baseVersion": task["version"],
        "updateMask": mask,
        "task": values,
    }


async def test_bulk_edit_changes_and_deletes_in_one_command(api: ApiClient) -> None:
    pid = (await api.make_project("WEB"))["id"]
    owner = (await api.get("/api/v1/members")).json["members"][0]["id"]
    sprint = await api.make_sprint(pid)
    tasks = [await api.make_task(pid, f"Task {i}", labels=["old"]) for i in range(4)]
    parent = await api.make_task(pid, "Parent")
    child = await api.make_task(pid, "Child", parentTaskId=parent["id"])
    head = (await api.get(f"/api/v1/projects/{pid}/events")).json["headSeq"]

    body = {
        "updates": [
            _update(
                t,
                "status,assigneeId,priority,labels,sprintId",
                status="TASK_STATUS_DONE",
                assigneeId=owner,
                priority="TASK_PRIORITY_HIGH",
                labels=["old", "Shipped"],
                sprintId=sprint["id"],
            )
            for t in tasks[:3]
        ],
        # A subtask named after its parent went with it: no refusal for it.
        "deleteTaskIds": [tasks[3]["id"], parent["id"], child["id"]],
    }
    resp = await api.post(BULK.format(pid), body)
    assert resp.status == 200, resp.json
    changed = resp.json["tasks"]
    assert [t["id"] for t in changed] == [t["id"] for t in tasks[:3]]
    for t in changed:
        assert t["status"] == "TASK_STATUS_DONE"
        assert t["assigneeId"] == owner
        assert t["priority"] == "TASK_PRIORITY_HIGH"
        assert t["labels"] == ["old", "Shipped"]
        assert t["sprintId"] == sprint["id"]
    assert resp.json["deletedTaskIds"] == [tasks[3]["id"], parent["id"], child["id"]]
    left = (await api.get(f"/api/v1/projects/{pid}/tasks")).json["tasks"]
    assert {t["id"] for t in left} == {t["id"] for t in tasks[:3]}

    # Each task's change is in the change log, as its single command would put it.
    events = (await api.get(f"/api/v1/projects/{pid}/events", since=str(head))).json["events"]
    kinds = [next(iter(e)) for e in events]
    assert kinds == ["taskUpdated"] * 3 + ["taskDeleted"] * 2
    assert events[4]["taskDeleted"]["deletedSubtaskIds"] == [child["id"]]


async def test_bulk_edit_refuses_bad_input_and_changes_nothing(
    api: ApiClient, server: RunningServer
) -> None:
    pid = (await api.make_project("WEB"))["id"]
    other = (await api.make_project("APP"))["id"]
    a = await api.make_task(pid, "A")
    b = await api.make_task(pid, "B")
    foreign = await api.make_task(other, "Elsewhere")
    stale = await api.patch(
        f"/api/v1/tasks/{b['id']}",
        {"task": {"status": "TASK_STATUS_IN_REVIEW"}, "updateMask": "status", "baseVersion": 0},
    )
    assert stale.status == 200
    before = database_rows(server.config.database_path)
    good = _update(a, "status", status="TASK_STATUS_DONE")
    too_many = [f"00000000-0000-4000-8000-{i:012d}" for i in range(MAX_BULK_TASKS + 1)]
    cases: list[tuple[dict[str, Any], int, str, str]] = [
        ({}, 400, "ERROR_CODE_INVALID_ARGUMENT", "updates"),
        ({"deleteTaskIds": too_many}, 400, "ERROR_CODE_INVALID_ARGUMENT", "updates"),
        ({"updates": [good, good]}, 400, "ERROR_CODE_INVALID_ARGUMENT", "updates"),
        ({"updates": [good], "deleteTaskIds": [a["id"]]}, 400, "ERROR_CODE_INVALID_ARGUMENT", ""),
        ({"updates": [good], "deleteTaskIds": [foreign["id"]]}, 400, "", "updates"),
        ({"updates": [good], "deleteTaskIds": ["no-such-task"]}, 404, "ERROR_CODE_NOT_FOUND", ""),
        # One bad value among good ones refuses all of it.
        (
            {"updates": [good, _update(b, "storyPoints", storyPoints=5000)]},
            400,
            "ERROR_CODE_INVALID_ARGUMENT",
            "storyPoints",
        ),
        # b's status changed since the version the bulk edit saw: a conflict, nothing saved.
        (
            {"updates": [good, _update(b, "status", status="TASK_STATUS_DONE")]},
            409,
            "ERROR_CODE_CONFLICT",
            "",
        ),
    ]
    for body, status, code, field in cases:
        resp = await api.post(BULK.format(pid), body)
        assert resp.status == status, (body if len(str(body)) < 500 else "too many", resp.json)
        assert resp.json["error"]["message"]
        if code:
            assert resp.error_code == code
        if field:
            assert resp.json["error"].get("field") == field
    missing = await api.post(BULK.format("no-such-project"), {"updates": [good]})
    assert missing.status == 404
    assert missing.error_code == "ERROR_CODE_NOT_FOUND"
    assert database_rows(server.config.database_path) == before


async def test_bulk_edit_is_in_the_openapi_document(api: ApiClient) -> None:
    doc = (await api.get("/api/openapi.json")).json
    op = doc["paths"]["/api/v1/projects/{projectId}/tasks/bulk"]["post"]
    assert op["operationId"] == "bulkEditTasks"
    assert "BulkEditResult" in str(op["responses"]["200"])


RESTORE = "/api/v1/projects/{}/tasks/restore"


async def test_a_bulk_delete_comes_back_in_one_restore_all_or_nothing(
    api: ApiClient, server: RunningServer
) -> None:
    pid = (await api.make_project("WEB"))["id"]
    parent = await api.make_task(pid, "Parent")
    child = await api.make_task(pid, "Child", parentTaskId=parent["id"])
    lone = await api.make_task(pid, "Lone")
    kept = await api.make_task(pid, "Kept")
    await api.post(f"/api/v1/tasks/{kept['id']}/comments", {"body": "stays"})
    # The subtask named first goes to the trash on its own, then its parent.
    deleted = [child["id"], parent["id"], lone["id"]]
    resp = await api.post(BULK.format(pid), {"deleteTaskIds": deleted})
    assert resp.status == 200, resp.json
    head = (await api.get(f"/api/v1/projects/{pid}/events")).json["headSeq"]

    # Refused as a whole: a task on another project's board, a task never deleted, too many.
    other = (await api.make_project("APP"))["id"]
    foreign = await api.make_task(other, "Elsewhere")
    before = database_rows(server.config.database_path)
    for ids, status, field in [
        ([*reversed(deleted), foreign["id"]], 400, "taskIds"),
        ([*reversed(deleted), "no-such-task"], 404, "taskId"),
        ([lone["id"], lone["id"]], 400, "taskIds"),
        ([], 400, "taskIds"),
        ([f"id-{i}" for i in range(MAX_BULK_TASKS + 1)], 400, "taskIds"),
    ]:
        refused = await api.post(RESTORE.format(pid), {"taskIds": ids})
        assert refused.status == status, (len(ids), refused.json)
        assert refused.json["error"].get("field") == field, refused.json
    assert database_rows(server.config.database_path) == before

    # Last deleted first: every task is back, the subtask under its parent again.
    resp = await api.post(RESTORE.format(pid), {"taskIds": list(reversed(deleted))})
    assert resp.status == 200, resp.json
    assert [t["id"] for t in resp.json["tasks"]] == list(reversed(deleted))
    board = {t["id"]: t for t in (await api.get(f"/api/v1/projects/{pid}/tasks")).json["tasks"]}
    assert set(board) == {parent["id"], child["id"], lone["id"], kept["id"]}
    assert board[child["id"]]["parentTaskId"] == parent["id"]
    assert (await api.get(f"/api/v1/projects/{pid}/trash")).json.get("tasks", []) == []
    events = (await api.get(f"/api/v1/projects/{pid}/events", since=str(head))).json["events"]
    assert [next(iter(e)) for e in events] == ["tasksRestored"] * 3
    # Sent again, it changes nothing (each is on the board).
    again = await api.post(RESTORE.format(pid), {"taskIds": list(reversed(deleted))})
    assert again.status == 200
    assert (await api.get(f"/api/v1/projects/{pid}/events")).json["headSeq"] == events[-1][
        "tasksRestored"
    ]["seq"]

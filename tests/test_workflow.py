"""A workflow per project: columns renamed, reordered, hidden, added, removed, recategorised;
Task.status always the category of the task's column. Over a real server and SQLite file."""

from __future__ import annotations

from typing import Any

from tests.api_client import ApiClient

DEFAULT_IDS = ["backlog", "todo", "in_progress", "in_review", "done"]


async def _workflow(api: ApiClient, pid: str, columns: list[dict[str, Any]], version: int) -> Any:
    return await api.post(
        f"/api/v1/projects/{pid}/workflow", {"columns": columns, "baseVersion": version}
    )


async def test_a_new_project_has_the_five_columns_of_today(api: ApiClient) -> None:
    project = await api.make_project("WEB")
    columns = project["columns"]
    assert [c["id"] for c in columns] == DEFAULT_IDS
    assert [c["name"] for c in columns] == ["Backlog", "To do", "In progress", "In review", "Done"]
    assert [c["category"] for c in columns] == [
        "TASK_STATUS_BACKLOG",
        "TASK_STATUS_TODO",
        "TASK_STATUS_IN_PROGRESS",
        "TASK_STATUS_IN_REVIEW",
        "TASK_STATUS_DONE",
    ]
    task = await api.make_task(project["id"], status="TASK_STATUS_TODO")
    assert task.get("columnId", "") == ""  # the first column of its status: nothing stored


async def test_rename_reorder_hide_and_add_then_move_a_task_into_the_new_column(
    api: ApiClient,
) -> None:
    project = await api.make_project("WEB")
    pid = project["id"]
    task = await api.make_task(pid, status="TASK_STATUS_IN_PROGRESS")
    columns = project["columns"]
    columns[1]["name"] = "Ready"
    columns[0]["hidden"] = True
    qa = {"name": "QA", "category": "TASK_STATUS_IN_REVIEW"}
    new_order = [columns[1], columns[0], columns[2], columns[3], qa, columns[4]]
    changed = await _workflow(api, pid, new_order, project["version"])
    assert changed.status == 200, changed.json
    got = changed.json["columns"]
    assert [c["name"] for c in got] == [
        "Ready",
        "Backlog",
        "In progress",
        "In review",
        "QA",
        "Done",
    ]
    assert got[1]["hidden"] is True
    qa_id = got[4]["id"]
    assert qa_id and qa_id not in DEFAULT_IDS
    # The task in progress did not move.
    assert (await api.get(f"/api/v1/tasks/{task['id']}")).json.get("columnId", "") == ""

    # Moving a task to a column sets both the column and the status (its category).
    moved = await api.post(
        f"/api/v1/tasks/{task['id']}/move", {"columnId": qa_id, "baseVersion": task["version"]}
    )
    assert moved.status == 200, moved.json
    assert moved.json["status"] == "TASK_STATUS_IN_REVIEW"
    assert moved.json["columnId"] == qa_id
    # Setting the status alone puts it in the first column of that status.
    back = await api.patch(
        f"/api/v1/tasks/{task['id']}",
        {"task": {"status": "TASK_STATUS_DONE"}, "updateMask": "status", "baseVersion": 0},
    )
    assert back.json["status"] == "TASK_STATUS_DONE"
    assert back.json.get("columnId", "") == ""
    # The list of columns is part of the snapshot's project, and survives a read.
    assert (await api.get(f"/api/v1/projects/{pid}")).json["columns"] == got


async def test_moving_a_column_to_another_category_moves_its_tasks_status(
    api: ApiClient,
) -> None:
    project = await api.make_project("WEB")
    pid = project["id"]
    columns = project["columns"]
    extra = {"id": "qa", "name": "QA", "category": "TASK_STATUS_IN_REVIEW"}
    first = await _workflow(api, pid, [*columns, extra], project["version"])
    version = first.json["version"]
    in_qa = await api.make_task(pid, columnId="qa")
    assert in_qa["status"] == "TASK_STATUS_IN_REVIEW" and in_qa["columnId"] == "qa"
    in_review = await api.make_task(pid, status="TASK_STATUS_IN_REVIEW")
    todo = await api.make_task(pid, status="TASK_STATUS_TODO")
    done = await api.make_task(pid, status="TASK_STATUS_DONE")

    # QA becomes an "in progress" column; the default "In review" column moves to Done.
    cols = first.json["columns"]
    by_id = {c["id"]: c for c in cols}
    by_id["qa"]["category"] = "TASK_STATUS_IN_PROGRESS"
    by_id["in_review"]["category"] = "TASK_STATUS_DONE"
    # A category without a column is refused, and nothing changes.
    no_review = await _workflow(api, pid, cols, version)
    assert no_review.status == 400 and no_review.error_code == "ERROR_CODE_INVALID_ARGUMENT"
    assert "TASK_STATUS_IN_REVIEW" in no_review.json["error"]["message"]
    cols.append({"id": "check", "name": "Check", "category": "TASK_STATUS_IN_REVIEW"})
    second = await _workflow(api, pid, cols, version)
    assert second.status == 200, second.json

    def task(t: dict[str, Any]) -> Any:
        return api.get(f"/api/v1/tasks/{t['id']}")

    now_qa = (await task(in_qa)).json
    assert now_qa["status"] == "TASK_STATUS_IN_PROGRESS" and now_qa["columnId"] == "qa"
    now_review = (await task(in_review)).json
    assert now_review["status"] == "TASK_STATUS_DONE"
    # "In review" now comes first of the Done columns, so its tasks store no column...
    assert now_review.get("columnId", "") == ""
    # ...and the task that was in "Done" is pinned there, rather than jumping to "In review".
    assert (await task(done)).json["columnId"] == "done"
    assert (await task(todo)).json["status"] == "TASK_STATUS_TODO"

    # Removing a column puts its tasks in the first column of their status.
    third = await _workflow(
        api, pid, [c for c in second.json["columns"] if c["id"] != "qa"], second.json["version"]
    )
    assert third.status == 200, third.json
    after = (await task(in_qa)).json
    assert after["status"] == "TASK_STATUS_IN_PROGRESS" and after.get("columnId", "") == ""
    # Every change came through the change log, so a polling client sees each one.
    events = (await api.get(f"/api/v1/projects/{pid}/events", since="0")).json["events"]
    kinds = [next(k for k in e if k != "messageId") for e in events]
    assert kinds.count("projectUpdated") == 4
    assert sum(1 for e in events if "taskUpdated" in e) == 4


async def test_bad_workflows_are_refused_with_a_coded_error(api: ApiClient) -> None:
    project = await api.make_project("WEB")
    pid = project["id"]
    cols = project["columns"]
    cases = [
        [],
        [{**cols[0], "name": "  "}, *cols[1:]],
        [*cols, {**cols[0]}],  # the same id twice
        [*cols, {"name": "to DO", "category": "TASK_STATUS_TODO"}],  # a name taken
        [*cols, {"id": "../x", "name": "X", "category": "TASK_STATUS_TODO"}],
        [*cols, {"name": "X"}],  # no category
    ]
    for columns in cases:
        resp = await _workflow(api, pid, columns, project["version"])
        assert resp.status == 400, (columns, resp.json)
        assert resp.json["error"]["field"] == "columns"
    stale = await _workflow(api, pid, cols, 0)
    assert stale.status == 200  # the same columns: nothing to change
    moved = await api.post(
        f"/api/v1/tasks/{(await api.make_task(pid))['id']}/move", {"columnId": "nope"}
    )
    assert moved.status == 400 and moved.json["error"]["field"] == "columnId"
    assert (await api.get(f"/api/v1/projects/{pid}")).json["version"] == project["version"]

"""Sprint reports and velocity over REST and the WebSocket, on a real server with a moved clock.

The same sprint as the domain test (tests/test_sprint_reports.py), scripted over REST: the
same figures, worked out by hand there, come back in the protobuf JSON mapping; the WebSocket's
read commands answer the same record; bad input gets coded errors and saves nothing.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from tandem.v1 import reports_pb2

from tests.api_client import ApiClient
from tests.fixtures import DayClock, TandemServer
from tests.test_sprint_reports import FIRST_SPRINT_DAYS
from tests.ws_client import WsClient, ws_url


@pytest.fixture
def clock() -> DayClock:
    return DayClock("2026-11-01")


@pytest.fixture
def server_options(tmp_path: Any, clock: DayClock) -> dict[str, Any]:
    return {"web_root": tmp_path / "no-web-ui", "clock": clock}


async def _task(api: ApiClient, pid: str, title: str, points: int, sprint: str) -> str:
    task = await api.make_task(
        pid, title, storyPoints=points, status="TASK_STATUS_TODO", sprintId=sprint
    )
    return str(task["id"])


async def _set(api: ApiClient, task_id: str, **fields: Any) -> None:
    body = {"task": fields, "updateMask": ",".join(fields)}
    resp = await api.patch(f"/api/v1/tasks/{task_id}", body)
    assert resp.status == 200, resp.json


async def _script(api: ApiClient, clock: DayClock) -> tuple[str, str, str]:
    pid = (await api.make_project("REP", "Reports"))["id"]
    one = await api.make_sprint(pid, "Sprint 1", startDate="2026-11-02", endDate="2026-11-11")
    two = await api.make_sprint(pid, "Sprint 2", startDate="2026-11-12", endDate="2026-11-21")
    a = await _task(api, pid, "A", 5, one["id"])
    b = await _task(api, pid, "B", 3, one["id"])
    c = await _task(api, pid, "C", 3, one["id"])
    await _task(api, pid, "D", 5, one["id"])
    clock.at("2026-11-02")
    assert (await api.post(f"/api/v1/sprints/{one['id']}/start")).status == 200
    clock.at("2026-11-03", 15)
    await _set(api, a, status="TASK_STATUS_DONE")
    clock.at("2026-11-04", 11)
    await _task(api, pid, "F", 2, one["id"])
    clock.at("2026-11-05", 16)
    await _set(api, c, status="TASK_STATUS_DONE")
    clock.at("2026-11-06", 10)
    await _set(api, b, sprintId="")
    clock.at("2026-11-08", 17)
    done = await api.post(
        f"/api/v1/sprints/{one['id']}/complete", {"moveOpenTasksToSprintId": two["id"]}
    )
    assert done.status == 200, done.json
    clock.at("2026-11-09")
    await _set(api, a, storyPoints=13)  # after completion: the record stays
    return pid, one["id"], two["id"]


def _figures(report: dict[str, Any]) -> tuple[int, ...]:
    keys = ("committedPoints", "addedPoints", "removedPoints", "completedPoints")
    more = ("remainingPoints", "carriedOverPoints")
    return tuple(int(report.get(k, 0)) for k in keys + more)


async def test_the_sprint_report_over_rest_has_the_figures_worked_out_by_hand(
    api: ApiClient, server: TandemServer, clock: DayClock
) -> None:
    pid, one, two = await _script(api, clock)
    resp = await api.get(f"/api/v1/sprints/{one}/report")
    assert resp.status == 200, resp.json
    report = resp.json
    assert report["frozen"] is True
    assert _figures(report) == (16, 2, 3, 8, 7, 7)
    assert report["carriedOverToSprintId"] == two
    assert report["carriedOverToSprintName"] == "Sprint 2"
    assert report["startTime"] == "2026-11-02T09:00:00Z"
    days = [
        (
            d["date"],
            d.get("added", 0),
            d.get("removed", 0),
            d.get("completed", 0),
            d.get("scope", 0),
            d.get("remaining", 0),
            d.get("ideal", 0),
            d.get("elapsed", False),
        )
        for d in report["days"]
    ]
    assert days == FIRST_SPRINT_DAYS
    outcomes = {t["title"]: (t["points"], t["outcome"]) for t in report["tasks"]}
    assert outcomes == {
        "A": (5, "SPRINT_TASK_OUTCOME_DONE"),
        "B": (3, "SPRINT_TASK_OUTCOME_REMOVED"),
        "C": (3, "SPRINT_TASK_OUTCOME_DONE"),
        "D": (5, "SPRINT_TASK_OUTCOME_CARRIED_OVER"),
        "F": (2, "SPRINT_TASK_OUTCOME_CARRIED_OVER"),
    }
    velocity = await api.get(f"/api/v1/projects/{pid}/velocity", last="3")
    assert velocity.status == 200, velocity.json
    assert [
        (s["name"], s["committedPoints"], s["completedPoints"]) for s in velocity.json["sprints"]
    ] == [("Sprint 1", 16, 8)]
    assert (velocity.json["averageCommitted"], velocity.json["averageCompleted"]) == (16, 8)

    # The same record over the WebSocket, as a read command of the table.
    async with aiohttp.ClientSession() as session:
        ws = await WsClient.connect(session, ws_url(server))
        try:
            reply = await ws.request(get_sprint_report=reports_pb2.GetSprintReport(sprint_id=one))
            assert reply.WhichOneof("payload") == "ack", reply
            record = reply.ack.sprint_report
            assert (record.committed_points, record.completed_points) == (16, 8)
            assert record.carried_over_points == 7
            reply = await ws.request(get_velocity=reports_pb2.GetVelocity(project_id=pid, last=1))
            assert [s.completed_points for s in reply.ack.velocity.sprints] == [8]
            bad = await ws.request(get_velocity=reports_pb2.GetVelocity(project_id=pid, last=99))
            assert bad.WhichOneof("payload") == "reject"
            assert bad.reject.error.field == "last"
        finally:
            await ws.close()


async def test_bad_input_gets_coded_errors_and_saves_nothing(api: ApiClient) -> None:
    pid = (await api.make_project("BAD", "Bad input"))["id"]
    sprint = await api.make_sprint(pid, "Sprint 1")
    task = await api.make_task(pid, "Estimated", storyPoints=3)

    missing = await api.get("/api/v1/sprints/no-such-sprint/report")
    assert (missing.status, missing.error_code) == (404, "ERROR_CODE_NOT_FOUND")
    assert (await api.get("/api/v1/projects/nope/velocity")).status == 404
    for last in ("0", "51", "-2", "many"):
        resp = await api.get(f"/api/v1/projects/{pid}/velocity", last=last)
        assert (resp.status, resp.error_code) == (400, "ERROR_CODE_INVALID_ARGUMENT"), last
        assert resp.json["error"]["field"] == "last"

    for body in (
        {"task": {"storyPoints": "three"}, "updateMask": "storyPoints"},
        {"task": {"storyPoints": 2.5}, "updateMask": "storyPoints"},
    ):
        resp = await api.patch(f"/api/v1/tasks/{task['id']}", body)
        assert (resp.status, resp.error_code) == (400, "ERROR_CODE_INVALID_ARGUMENT"), resp.json
    resp = await api.patch(
        f"/api/v1/sprints/{sprint['id']}",
        {"sprint": {"capacity": "lots"}, "updateMask": "capacity"},
    )
    assert (resp.status, resp.error_code) == (400, "ERROR_CODE_INVALID_ARGUMENT"), resp.json
    assert (await api.get(f"/api/v1/tasks/{task['id']}")).json["storyPoints"] == 3
    set_capacity = await api.patch(
        f"/api/v1/sprints/{sprint['id']}", {"sprint": {"capacity": 20}, "updateMask": "capacity"}
    )
    assert set_capacity.status == 200, set_capacity.json
    assert set_capacity.json["capacity"] == 20
    report = (await api.get(f"/api/v1/sprints/{sprint['id']}/report")).json
    assert report["capacity"] == 20
    assert "startTime" not in report  # planned: no record yet


async def test_the_openapi_document_describes_the_report_and_velocity(api: ApiClient) -> None:
    doc = (await api.get("/api/openapi.json")).json
    report = doc["paths"]["/api/v1/sprints/{sprintId}/report"]["get"]
    assert report["operationId"] == "getSprintReport"
    errors = report["responses"]["default"]["content"]["application/json"]["schema"]
    assert errors["$ref"].endswith("tandem.v1.ErrorResponse")
    velocity = doc["paths"]["/api/v1/projects/{projectId}/velocity"]["get"]
    (last,) = [p for p in velocity["parameters"] if p["name"] == "last"]
    assert (last["schema"]["minimum"], last["schema"]["maximum"]) == (1, 50)
    assert report["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "tandem.v1.SprintReport"
    )

"""REST: big JSON bodies are written and read off the event loop, so that one client's big
page or bulk edit does not keep the server from answering everyone else meanwhile."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from google.protobuf import json_format

from server.api import codec
from tests.api_client import ApiClient


@pytest.fixture
def json_threads(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """The thread each message was written to JSON (and read from it) on, by operation."""
    seen: dict[str, list[str]] = {"write": [], "read": []}
    write, read = json_format.MessageToJson, json_format.ParseDict

    def writing(*args: Any, **kw: Any) -> Any:
        seen["write"].append(threading.current_thread().name)
        return write(*args, **kw)

    def reading(*args: Any, **kw: Any) -> Any:
        seen["read"].append(threading.current_thread().name)
        return read(*args, **kw)

    monkeypatch.setattr(json_format, "MessageToJson", writing)
    monkeypatch.setattr(json_format, "ParseDict", reading)
    return seen


def off_loop(name: str) -> bool:
    return name.startswith("tandem-json")


async def test_a_big_page_is_written_off_the_loop_and_a_small_one_on_it(
    api: ApiClient, json_threads: dict[str, list[str]]
) -> None:
    pid = (await api.make_project("BIG"))["id"]
    long = "A description of some length. " * 40
    tasks = [await api.make_task(pid, f"Task {i}", description=long) for i in range(40)]
    json_threads["write"].clear()

    page = await api.get(f"/api/v1/projects/{pid}/tasks", pageSize="100")
    assert page.status == 200
    assert [t["title"] for t in page.json["tasks"]] == [t["title"] for t in tasks]
    assert len(page.raw) >= codec.OFF_LOOP_BYTES
    one = await api.get(f"/api/v1/tasks/{tasks[0]['id']}")
    assert one.status == 200 and one.json["description"] == long
    big, small = json_threads["write"]
    assert off_loop(big), big
    assert not off_loop(small), small


async def test_a_big_bulk_edit_is_read_off_the_loop_and_refused_as_before(
    api: ApiClient, json_threads: dict[str, list[str]]
) -> None:
    pid = (await api.make_project("BIG"))["id"]
    tasks = [await api.make_task(pid, f"Task {i}") for i in range(300)]
    json_threads["read"].clear()

    def update(t: dict[str, Any], title: str) -> dict[str, Any]:
        return {
            "taskId": t["id"],
            "baseVersion": t["version"],
            "updateMask": "title",
            "task": {"title": title},
        }

    bulk = f"/api/v1/projects/{pid}/tasks/bulk"
    renamed = await api.post(bulk, {"updates": [update(t, f"{t['title']}!") for t in tasks]})
    assert renamed.status == 200, renamed.json
    assert off_loop(json_threads["read"][-1])
    listed = await api.get(f"/api/v1/projects/{pid}/tasks", pageSize="1000")
    assert [t["title"] for t in listed.json["tasks"]] == [f"Task {i}!" for i in range(300)]
    # A field that is not in the schema is refused in a big body too, and nothing changes.
    wrong = [{**update(t, "no"), "unknownField": 1} for t in tasks]
    refused = await api.post(bulk, {"updates": wrong})
    assert refused.status == 400
    assert refused.error_code == "ERROR_CODE_INVALID_ARGUMENT"
    again = await api.get(f"/api/v1/projects/{pid}/tasks", pageSize="1000")
    assert [t["title"] for t in again.json["tasks"]] == [f"Task {i}!" for i in range(300)]

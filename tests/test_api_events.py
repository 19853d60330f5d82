"""REST: the change log endpoint and its long poll (the fallback for clients without WebSocket)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from tandem.v1 import errors_pb2

from server.api.polls import LONG_POLLS, ParkedPoll, end_polls
from server.runner import RunningServer
from tests.api_client import ApiClient
from tests.fixtures import NewServer, until_polls_wait

# The server's own cap far beyond any test, so only what the test does can end a poll.
LONG_POLLS_UNCAPPED = {"max_poll_seconds": 3600}


@pytest.fixture
def server_options() -> dict[str, Any]:
    # A short cap, so "the wait elapses" takes a fraction of a second whatever was asked.
    return {"max_poll_seconds": 0.3}


async def test_events_since(api: ApiClient) -> None:
    pid = (await api.make_project())["id"]
    task = await api.make_task(pid, "One")
    await api.make_task(pid, "Two")
    page = (await api.get(f"/api/v1/projects/{pid}/events", since="0")).json
    assert page["projectId"] == pid
    seqs = [next(iter(e.values()))["seq"] for e in page["events"]]
    assert seqs == [str(n) for n in range(1, len(seqs) + 1)]
    assert page["headSeq"] == seqs[-1]
    assert any(
        e.get("taskCreated", {}).get("task", {}).get("id") == task["id"] for e in page["events"]
    )

    head = int(page["headSeq"])
    after = (await api.get(f"/api/v1/projects/{pid}/events", since=str(head - 1))).json
    assert len(after["events"]) == 1
    ahead = (await api.get(f"/api/v1/projects/{pid}/events", since=str(head + 5))).json
    assert ahead["resyncRequired"] is True


async def test_long_poll_returns_when_a_change_commits(
    api: ApiClient, server: RunningServer
) -> None:
    pid = (await api.make_project())["id"]
    head = int((await api.get(f"/api/v1/projects/{pid}/events")).json["headSeq"])
    # A cap well beyond the test, so only the change can end the poll.
    poll = asyncio.create_task(
        api.get(f"/api/v1/projects/{pid}/events", since=str(head), wait="3600")
    )
    await until_polls_wait(server.app, 1)
    task = await api.make_task(pid, "Wake up")
    page = (await asyncio.wait_for(poll, 10)).json
    created = [e["taskCreated"]["task"]["id"] for e in page["events"] if "taskCreated" in e]
    assert created == [task["id"]]


async def test_long_poll_returns_empty_when_the_wait_elapses(api: ApiClient) -> None:
    pid = (await api.make_project())["id"]
    head = (await api.get(f"/api/v1/projects/{pid}/events")).json["headSeq"]
    # Asks for an hour; the server's cap (0.3 s here) ends it.
    resp = await asyncio.wait_for(
        api.get(f"/api/v1/projects/{pid}/events", since=head, wait="3600"), 30
    )
    assert resp.status == 200
    assert resp.json.get("events", []) == []
    assert resp.json["headSeq"] == head


async def test_end_polls_ends_the_chosen_polls_with_an_error_instead_of_data(
    new_server: NewServer,
) -> None:
    import aiohttp

    running = await new_server(**LONG_POLLS_UNCAPPED)
    try:
        async with aiohttp.ClientSession() as session:
            api = ApiClient(running.url, session)
            pid = (await api.make_project())["id"]
            head = (await api.get(f"/api/v1/projects/{pid}/events")).json["headSeq"]
            ask = {"since": head, "wait": "3600"}
            path = f"/api/v1/projects/{pid}/events"
            ended = asyncio.create_task(
                api.request("GET", path, params=ask, headers={"X-Pick": "me"})
            )
            kept = asyncio.create_task(api.get(path, **ask))
            await until_polls_wait(running.app, 2)
            parked = running.app[LONG_POLLS].parked
            assert {p.remote for p in parked} == {"127.0.0.1"}
            assert {p.actor for p in parked} == {None}  # loopback: no actor was resolved

            def picked(poll: ParkedPoll) -> bool:
                return bool(poll.request.headers.get("X-Pick") == "me")

            code = errors_pb2.ERROR_CODE_PERMISSION_DENIED
            assert end_polls(running.app, picked, code, "not any more") == 1
            resp = await asyncio.wait_for(ended, 10)
            assert resp.status == 403
            assert resp.json["error"] == {
                "code": "ERROR_CODE_PERMISSION_DENIED",
                "message": "not any more",
            }
            await until_polls_wait(running.app, 1)
            task = await api.make_task(pid, "Still wanted")
            page = (await asyncio.wait_for(kept, 10)).json
            assert [e["taskCreated"]["task"]["id"] for e in page["events"]] == [task["id"]]
    finally:
        await running.close()


async def test_shutdown_ends_a_long_poll(new_server: NewServer) -> None:
    import aiohttp

    running = await new_server(**LONG_POLLS_UNCAPPED)
    try:
        async with aiohttp.ClientSession() as session:
            api = ApiClient(running.url, session)
            pid = (await api.make_project())["id"]
            poll = asyncio.create_task(
                api.get(f"/api/v1/projects/{pid}/events", since="1", wait="3600")
            )
            await until_polls_wait(running.app, 1)
            await asyncio.wait_for(running.close(), 10)
            resp = await asyncio.wait_for(poll, 10)
            assert resp.status == 200
            assert resp.json.get("events", []) == []
    finally:
        await running.close()


async def test_snapshot_is_the_board_at_one_seq(api: ApiClient) -> None:
    pid = (await api.make_project())["id"]
    await api.make_task(pid, "One")
    await api.make_task(pid, "Two")
    snap = (await api.get(f"/api/v1/projects/{pid}/snapshot")).json
    head = (await api.get(f"/api/v1/projects/{pid}/events")).json["headSeq"]
    assert snap["seq"] == head and snap["epoch"]
    assert [t["title"] for t in snap["tasks"]] == ["One", "Two"]
    assert snap["project"]["id"] == pid and snap["members"]
    missing = await api.get("/api/v1/projects/nope/snapshot")
    assert missing.status == 404

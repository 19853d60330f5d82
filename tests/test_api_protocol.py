"""REST: binary protobuf content negotiation and idempotency keys."""

from __future__ import annotations

from google.protobuf import field_mask_pb2
from tandem.v1 import api_pb2, commands_pb2, entities_pb2, errors_pb2

from server.runner import RunningServer
from tests.api_client import JSON, PROTOBUF, ApiClient, database_rows


async def test_binary_protobuf_in_and_out(api: ApiClient) -> None:
    body = entities_pb2.Project(key="BIN", name="Binary").SerializeToString()
    resp = await api.request(
        "POST", "/api/v1/projects", data=body, headers={"Content-Type": PROTOBUF}
    )
    assert resp.status == 201
    assert resp.headers["Content-Type"].startswith(PROTOBUF)
    project = entities_pb2.Project.FromString(resp.raw)
    assert project.key == "BIN"
    assert project.version == 1

    update = commands_pb2.UpdateProject(
        base_version=1,
        update_mask=field_mask_pb2.FieldMask(paths=["name"]),
        project=entities_pb2.Project(name="Binary 2"),
    )
    patched = await api.request(
        "PATCH",
        f"/api/v1/projects/{project.id}",
        data=update.SerializeToString(),
        headers={"Content-Type": PROTOBUF, "Accept": PROTOBUF},
    )
    assert patched.status == 200
    assert entities_pb2.Project.FromString(patched.raw).name == "Binary 2"

    listed = await api.request("GET", "/api/v1/projects", headers={"Accept": PROTOBUF})
    assert listed.headers["Content-Type"].startswith(PROTOBUF)
    assert [p.id for p in api_pb2.ListProjectsResponse.FromString(listed.raw).projects] == [
        project.id
    ]
    # JSON in, protobuf out, and the other way round.
    json_in = await api.request("GET", f"/api/v1/projects/{project.id}", headers={"Accept": JSON})
    assert json_in.json["name"] == "Binary 2"


async def test_errors_follow_the_negotiated_format(api: ApiClient) -> None:
    resp = await api.request("GET", "/api/v1/projects/nope", headers={"Accept": PROTOBUF})
    assert resp.status == 404
    error = api_pb2.ErrorResponse.FromString(resp.raw).error
    assert error.code == errors_pb2.ERROR_CODE_NOT_FOUND
    assert error.message


async def test_idempotency_key_returns_the_first_answer_once(
    api: ApiClient, server: RunningServer
) -> None:
    pid = (await api.make_project())["id"]
    headers = {"Idempotency-Key": "create-1"}
    first = await api.post(f"/api/v1/projects/{pid}/tasks", {"title": "Once"}, headers=headers)
    assert first.status == 201
    rows = database_rows(server.config.database_path)
    second = await api.post(f"/api/v1/projects/{pid}/tasks", {"title": "Once"}, headers=headers)
    assert second.status == 201
    assert second.json == first.json
    assert database_rows(server.config.database_path) == rows
    tasks = (await api.get(f"/api/v1/projects/{pid}/tasks")).json["tasks"]
    assert [t["title"] for t in tasks] == ["Once"]

    # A refusal is remembered too: the same key gets the same error.
    bad = {"Idempotency-Key": "dup-key"}
    one = await api.post("/api/v1/projects", {"key": "WEB", "name": "x"}, headers=bad)
    two = await api.post("/api/v1/projects", {"key": "WEB", "name": "x"}, headers=bad)
    assert one.status == two.status == 409
    assert one.json == two.json

    # A new key is a new command.
    third = await api.post(
        f"/api/v1/projects/{pid}/tasks", {"title": "Once"}, headers={"Idempotency-Key": "create-2"}
    )
    assert third.status == 201
    assert third.json["id"] != first.json["id"]


async def test_a_local_browser_names_itself_and_gets_the_credit(api: ApiClient) -> None:
    pid = (await api.make_project())["id"]
    who = {"X-Tandem-Client-Id": "browser-9", "X-Tandem-Display-Name": "Zo%C3%AB"}
    created = await api.request(
        "POST", f"/api/v1/projects/{pid}/tasks", {"title": "t"}, headers=who
    )
    assert created.status == 201
    members = (await api.get("/api/v1/members")).json["members"]
    zoe = [m for m in members if m["displayName"] == "Zoë"]
    assert len(zoe) == 1
    log = (await api.get(f"/api/v1/projects/{pid}/events", since="1")).json["events"]
    assert log[0]["taskCreated"]["actorId"] == zoe[0]["id"]
    # Without the headers a request is the owner's.
    await api.make_task(pid, "mine")
    log = (await api.get(f"/api/v1/projects/{pid}/events", since="2")).json["events"]
    assert log[0]["taskCreated"]["actorId"] != zoe[0]["id"]


async def test_me_says_who_the_request_acts_as(api: ApiClient) -> None:
    owner = (await api.get("/api/v1/me")).json
    assert owner["role"] == "MEMBER_ROLE_OWNER"
    who = {"X-Tandem-Client-Id": "browser-7", "X-Tandem-Display-Name": "Ana"}
    ana = (await api.request("GET", "/api/v1/me", headers=who)).json
    assert ana["displayName"] == "Ana" and ana["id"] != owner["id"]


async def test_an_idempotency_key_reused_with_another_body_is_422(api: ApiClient) -> None:
    pid = (await api.make_project())["id"]
    key = {"Idempotency-Key": "k-body"}
    path = f"/api/v1/projects/{pid}/tasks"
    first = await api.request("POST", path, {"title": "one"}, headers=key)
    assert first.status == 201
    again = await api.request("POST", path, {"title": "one"}, headers=key)
    assert again.status == 201 and again.json == first.json
    other = await api.request("POST", path, {"title": "two"}, headers=key)
    assert other.status == 422 and other.json["error"]["field"] == "Idempotency-Key"
    listed = (await api.get(path)).json
    assert [t["title"] for t in listed["tasks"]] == ["one"]

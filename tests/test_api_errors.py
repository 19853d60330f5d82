"""REST: every kind of bad input gets a 4xx with a coded body, and changes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from tandem.v1 import entities_pb2

from server.runner import RunningServer
from tests.api_client import JSON, PROTOBUF, ApiClient, database_rows


@pytest.fixture
def server_options() -> dict[str, Any]:
    # A small body limit, so the oversize test sends little.
    return {"max_message_bytes": 4096}


BAD_BODIES = [
    ("not json", b"{title: 1", JSON, "ERROR_CODE_INVALID_ARGUMENT", 400),
    ("not an object", b"[1, 2]", JSON, "ERROR_CODE_INVALID_ARGUMENT", 400),
    ("unknown field", b'{"title": "x", "colour": "red"}', JSON, "ERROR_CODE_INVALID_ARGUMENT", 400),
    ("wrong type", b'{"title": 42}', JSON, "ERROR_CODE_INVALID_ARGUMENT", 400),
    (
        "unknown enum name",
        b'{"title": "x", "status": "NOPE"}',
        JSON,
        "ERROR_CODE_INVALID_ARGUMENT",
        400,
    ),
    (
        "unknown enum number",
        b'{"title": "x", "status": 99}',
        JSON,
        "ERROR_CODE_INVALID_ARGUMENT",
        400,
    ),
    ("not utf-8", b'{"title": "\xff\xfe"}', JSON, "ERROR_CODE_INVALID_ARGUMENT", 400),
    (
        "deep nesting",
        b'{"title": ' + b"[" * 200 + b"]" * 200 + b"}",
        JSON,
        "ERROR_CODE_INVALID_ARGUMENT",
        400,
    ),
    ("garbage protobuf", b"\xff\xff\xff\xff", PROTOBUF, "ERROR_CODE_INVALID_ARGUMENT", 400),
    (
        "truncated protobuf",
        entities_pb2.Task(title="long enough").SerializeToString()[:-3],
        PROTOBUF,
        "ERROR_CODE_INVALID_ARGUMENT",
        400,
    ),
    # Field 99, varint 1: a field this schema does not have.
    (
        "unknown protobuf field",
        entities_pb2.Task(title="x").SerializeToString() + b"\x98\x06\x01",
        PROTOBUF,
        "ERROR_CODE_INVALID_ARGUMENT",
        400,
    ),
    ("form post", b"title=x", "application/x-www-form-urlencoded", "ERROR_CODE_UNSUPPORTED", 415),
    ("text/plain", b'{"title": "x"}', "text/plain", "ERROR_CODE_UNSUPPORTED", 415),
]


@pytest.mark.parametrize(
    ("why", "data", "content_type", "code", "status"), BAD_BODIES, ids=[b[0] for b in BAD_BODIES]
)
async def test_bad_body_is_refused_and_changes_nothing(
    api: ApiClient,
    server: RunningServer,
    why: str,
    data: bytes,
    content_type: str,
    code: str,
    status: int,
) -> None:
    pid = (await api.make_project())["id"]
    before = database_rows(server.config.database_path)
    resp = await api.request(
        "POST",
        f"/api/v1/projects/{pid}/tasks",
        data=data,
        headers={"Content-Type": content_type, "Accept": JSON},
    )
    assert resp.status == status, resp.raw
    assert resp.error_code == code
    assert resp.json["error"]["message"]
    assert database_rows(server.config.database_path) == before


async def test_missing_content_type_is_refused(api: ApiClient, server: RunningServer) -> None:
    before = database_rows(server.config.database_path)
    resp = await api.request("POST", "/api/v1/projects", data=b"")
    assert resp.status == 415
    assert resp.error_code == "ERROR_CODE_UNSUPPORTED"
    assert database_rows(server.config.database_path) == before


async def test_oversize_body_is_413(api: ApiClient, server: RunningServer) -> None:
    before = database_rows(server.config.database_path)
    big = {"key": "BIG", "name": "x" * 10_000}
    resp = await api.post("/api/v1/projects", big)
    assert resp.status == 413
    assert resp.error_code == "ERROR_CODE_INVALID_ARGUMENT"
    assert database_rows(server.config.database_path) == before


async def test_domain_validation_is_400(api: ApiClient, server: RunningServer) -> None:
    pid = (await api.make_project())["id"]
    before = database_rows(server.config.database_path)
    resp = await api.post(f"/api/v1/projects/{pid}/tasks", {"title": ""})
    assert resp.status == 400
    assert resp.error_code == "ERROR_CODE_INVALID_ARGUMENT"
    resp = await api.post("/api/v1/projects", {"name": "no key"})
    assert resp.status == 400
    assert database_rows(server.config.database_path) == before


async def test_unknown_routes_and_methods_answer_json(api: ApiClient) -> None:
    for method, path in [("GET", "/api/v2/projects"), ("POST", "/api/nope"), ("GET", "/api")]:
        resp = await api.request(method, path, {} if method == "POST" else None)
        assert resp.status == 404, (method, path)
        assert resp.error_code == "ERROR_CODE_NOT_FOUND"
    resp = await api.request("PUT", "/api/v1/projects", {})
    assert resp.status == 405
    assert resp.error_code == "ERROR_CODE_UNSUPPORTED"
    assert "GET" in resp.headers["Allow"]


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("tasks", {"status": "bogus"}),
        ("tasks", {"pageSize": "0"}),
        ("tasks", {"pageSize": "many"}),
        ("tasks", {"pageSize": "100000"}),
        ("tasks", {"colour": "red"}),
        ("events", {"since": "-1"}),
        ("events", {"since": "1.5"}),
        ("events", {"wait": "abc"}),
        ("events", {"wait": "-1"}),
        ("events", {"wait": "nan"}),
    ],
)
async def test_bad_query_parameters_are_400(
    api: ApiClient, path: str, params: dict[str, str]
) -> None:
    pid = (await api.make_project())["id"]
    resp = await api.get(f"/api/v1/projects/{pid}/{path}", **params)
    assert resp.status == 400, resp.json
    assert resp.error_code == "ERROR_CODE_INVALID_ARGUMENT"
    assert resp.json["error"]["field"] == next(iter(params))


async def test_overlong_idempotency_key_is_400(api: ApiClient, server: RunningServer) -> None:
    before = database_rows(server.config.database_path)
    resp = await api.post(
        "/api/v1/projects", {"key": "WEB", "name": "W"}, headers={"Idempotency-Key": "k" * 500}
    )
    assert resp.status == 400
    assert database_rows(server.config.database_path) == before

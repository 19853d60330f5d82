"""The OpenAPI document matches the routes the server really has, in both directions."""

from __future__ import annotations

from typing import Any

from server.api.openapi import build_document
from server.runner import RunningServer
from tests.api_client import ApiClient

METHODS = {"GET", "POST", "PATCH", "PUT", "DELETE"}


def app_api_routes(server: RunningServer) -> set[tuple[str, str]]:
    routes = set()
    for route in server.app.router.routes():
        path = route.resource.canonical if route.resource is not None else ""
        if path.startswith("/api") and route.method in METHODS:
            routes.add((route.method, path))
    return routes


async def test_every_api_route_is_documented_and_vice_versa(
    api: ApiClient, server: RunningServer
) -> None:
    doc = (await api.get("/api/openapi.json")).json
    assert doc["openapi"].startswith("3.1")
    documented = {(method.upper(), path) for path, ops in doc["paths"].items() for method in ops}
    assert documented == app_api_routes(server)


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if "$ref" in node else []
        return found + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def test_every_reference_resolves_and_operation_ids_are_unique() -> None:
    doc = build_document()
    schemas = doc["components"]["schemas"]
    for ref in _refs(doc):
        assert ref.startswith("#/components/schemas/")
        assert ref.removeprefix("#/components/schemas/") in schemas
    ids = [op["operationId"] for ops in doc["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids))


def test_bodies_follow_the_protobuf_json_mapping() -> None:
    schemas = build_document()["components"]["schemas"]
    task = schemas["tandem.v1.Task"]["properties"]
    assert task["projectId"] == {"type": "string"}
    assert task["status"] == {"$ref": "#/components/schemas/tandem.v1.TaskStatus"}
    assert task["labels"] == {"type": "array", "items": {"type": "string"}}
    assert task["createTime"]["format"] == "date-time"
    assert "integer" in task["version"]["type"] and "string" in task["version"]["type"]
    assert schemas["tandem.v1.Task"]["additionalProperties"] is False
    update = schemas["tandem.v1.UpdateTask"]["properties"]
    assert update["updateMask"]["type"] == "string"


async def test_a_change_without_a_body_is_refused_as_the_document_says(api: ApiClient) -> None:
    # The document once called the start/complete body optional, yet a change without a
    # body (and so without a non-simple Content-Type) is refused, as it must be.
    doc = build_document()
    ops = [op for path_ops in doc["paths"].values() for op in path_ops.values()]
    bodies = [op["requestBody"] for op in ops if "requestBody" in op]
    assert bodies and all(body["required"] is True for body in bodies)
    start = doc["paths"]["/api/v1/sprints/{sprintId}/start"]["post"]["requestBody"]
    assert "{}" in start["description"]

    pid = (await api.make_project())["id"]
    sprint = (await api.post(f"/api/v1/projects/{pid}/sprints", {"name": "S"})).json
    bare = await api.request("POST", f"/api/v1/sprints/{sprint['id']}/start", data=b"")
    assert bare.status == 415, bare.json
    assert bare.error_code == "ERROR_CODE_UNSUPPORTED"
    assert (await api.get(f"/api/v1/sprints/{sprint['id']}")).json.get("state") == (
        "SPRINT_STATE_PLANNED"
    )
    started = await api.post(f"/api/v1/sprints/{sprint['id']}/start", {})
    assert started.status == 200, started.json


def test_links_feed_a_created_id_to_the_operations_that_take_it() -> None:
    doc = build_document()
    paths_by_id = {
        op["operationId"]: path for path, ops in doc["paths"].items() for op in ops.values()
    }
    created = {
        op["operationId"]: op["responses"]["201"].get("links", {})
        for ops in doc["paths"].values()
        for op in ops.values()
        if "201" in op["responses"]
    }
    assert set(created) == {
        "createProject",
        "createTask",
        "addComment",
        "createSprint",
        "uploadAttachment",
    }
    assert all(created.values())
    for links in created.values():
        for link in links.values():
            (param, expression), *rest = link["parameters"].items()
            assert not rest and expression == "$response.body#/id"
            assert "{" + param + "}" in paths_by_id[link["operationId"]]
    assert "GetTask" in created["createTask"] and "EditComment" in created["addComment"]
    assert "UpdateTask" not in created["createProject"]

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

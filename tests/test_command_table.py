"""The command table is the one list of commands: every server layer serves exactly it.

The schema's (tandem.v1.command) options are the table; the domain registry, the
WebSocket session's dispatch, the REST routes and the OpenAPI document must each serve
every command of it that they should, and nothing else. Static checks say which layer
drifted; the live checks send every command to a real server and see it dispatched.
"""

from __future__ import annotations

from typing import Any

import aiohttp
from google.protobuf.descriptor import FieldDescriptor
from tandem.v1 import errors_pb2, options_pb2, websocket_pb2

from server.api.attachments import UPLOAD_COMMAND, UPLOAD_OPERATION
from server.api.openapi import IDEMPOTENT_NOTE, build_document
from server.api.operation import IDEMPOTENCY_HEADER
from server.api.routes import OPERATIONS
from server.command_table import COMMAND_TABLE
from server.domain.registry import COMMANDS
from server.realtime.session import HANDLERS, SESSION_COMMANDS, on_domain_command
from server.runner import RunningServer
from tests.ws_client import WsClient

TABLE = set(COMMAND_TABLE)
WITH_REST = {kind for kind, spec in COMMAND_TABLE.items() if spec.http is not None}


def _server_sent(field: FieldDescriptor) -> bool:
    assert field.message_type is not None
    return bool(field.message_type.GetOptions().Extensions[options_pb2.server_sent])


def test_the_table_is_read_from_the_schema() -> None:
    envelope = websocket_pb2.WebSocketMessage.DESCRIPTOR
    members = envelope.oneofs_by_name["payload"].fields
    # Every member of the envelope is a client command (a (tandem.v1.command) option) or a
    # message the server sends (its message's (tandem.v1.server_sent) option): one, never both.
    neither = [f.name for f in members if f.name not in TABLE and not _server_sent(f)]
    both = [f.name for f in members if f.name in TABLE and _server_sent(f)]
    assert not neither, f"give these a (command) option or their message (server_sent): {neither}"
    assert not both, f"a command's message is not the server's to send: {both}"
    assert {f.name for f in members if not _server_sent(f)} == TABLE
    assert {"hello", "subscribe", "create_task", "update_task", "add_comment"} <= TABLE
    # What the server sends includes every change-log event (each carries its seq).
    for field in members:
        assert field.message_type is not None
        if "seq" in field.message_type.fields_by_name:
            assert _server_sent(field), field.name


def test_every_command_is_the_sessions_or_the_domains_never_both() -> None:
    assert set(COMMANDS) <= TABLE, "the domain registers a command the schema lacks"
    assert SESSION_COMMANDS <= TABLE, "the session handles a command the schema lacks"
    assert not set(COMMANDS) & SESSION_COMMANDS, "a command handled in two places"
    assert set(COMMANDS) | SESSION_COMMANDS == TABLE, "a command nobody handles"
    for kind, command in COMMANDS.items():
        assert command.mutates == COMMAND_TABLE[kind].mutates, kind
    # Mutations are the domain's alone: it checks the edit right and remembers ids.
    assert all(not COMMAND_TABLE[kind].mutates for kind in SESSION_COMMANDS)


def test_the_session_dispatches_every_domain_command_to_the_domain() -> None:
    assert set(HANDLERS) == TABLE
    for kind in TABLE:
        to_domain = HANDLERS[kind] is on_domain_command
        assert to_domain == (kind in COMMANDS), kind


def test_every_command_with_a_rest_form_is_a_route_and_only_those_change_anything() -> None:
    by_id = {op.operation_id: op for op in OPERATIONS}
    assert len(by_id) == len(OPERATIONS), "two operations share an id"
    for kind in WITH_REST:
        http = COMMAND_TABLE[kind].http
        assert http is not None
        op = by_id.get(http.operation_id)
        assert op is not None, f"{kind} has no REST route"
        assert (op.method, op.path, op.status) == (http.method, http.path, http.status), kind
        assert op.mutation == COMMAND_TABLE[kind].mutates, kind
    from_table = {COMMAND_TABLE[kind].http.operation_id for kind in WITH_REST}  # type: ignore[union-attr]
    # The attachment upload streams a file, then runs a command of the table.
    assert UPLOAD_COMMAND in COMMAND_TABLE and COMMAND_TABLE[UPLOAD_COMMAND].mutates
    from_table.add(UPLOAD_OPERATION)
    changes = {op.operation_id for op in OPERATIONS if op.method != "GET"}
    assert changes == from_table, "a REST change that is not a command of the table"
    # A read may take a body (a file to preview): a POST, but not a change.
    mutating = {
        COMMAND_TABLE[kind].http.operation_id  # type: ignore[union-attr]
        for kind in WITH_REST
        if COMMAND_TABLE[kind].mutates
    }
    assert {op.operation_id for op in OPERATIONS if op.mutation} == mutating | {UPLOAD_OPERATION}


def test_the_openapi_document_lists_the_same_commands() -> None:
    doc = build_document()
    documented = {
        op["operationId"]: (method.upper(), path, op)
        for path, ops in doc["paths"].items()
        for method, op in ops.items()
    }
    changes = {op_id for op_id, (method, _, _) in documented.items() if method != "GET"}
    from_table = {COMMAND_TABLE[k].http.operation_id for k in WITH_REST}  # type: ignore[union-attr]
    assert changes == from_table | {UPLOAD_OPERATION}
    for kind in WITH_REST:
        http = COMMAND_TABLE[kind].http
        assert http is not None
        method, path, op = documented[http.operation_id]
        assert (method, path) == (http.method, http.path)
        headers = {p["name"] for p in op["parameters"] if p["in"] == "header"}
        mutates = COMMAND_TABLE[kind].mutates
        assert (IDEMPOTENCY_HEADER in headers) == mutates, kind
        assert op["summary"].startswith(http.summary)
        assert op["summary"].endswith(IDEMPOTENT_NOTE) == mutates, kind
        assert set(op["responses"]) == {str(http.status), "default"}


async def test_a_live_server_dispatches_every_command_of_the_table(
    server: RunningServer, session: aiohttp.ClientSession
) -> None:
    """Each command, empty, over a real WebSocket: refused for what it says, never as unknown."""
    ws = await WsClient.connect(session, server.url.replace("http", "ws", 1) + "ws")
    try:
        for kind, spec in COMMAND_TABLE.items():
            command: dict[str, Any] = {kind: spec.message()}
            reply = await ws.request(**command)
            if reply.WhichOneof("payload") == "reject":
                code = reply.reject.error.code
                assert code != errors_pb2.ERROR_CODE_UNSUPPORTED, (kind, reply.reject.error)
                assert code != errors_pb2.ERROR_CODE_INTERNAL, (kind, reply.reject.error)
    finally:
        await ws.ws.close()


async def test_a_live_server_routes_every_rest_command(
    server: RunningServer, session: aiohttp.ClientSession
) -> None:
    """Each REST command on unknown ids: the route exists and reaches the domain (404 for
    the missing entity, or 400 for what the empty body lacks), never 405 or a 5xx."""
    base = server.url.rstrip("/")
    for kind in sorted(WITH_REST):
        http = COMMAND_TABLE[kind].http
        assert http is not None
        path = http.path.format(**{name: "no-such-id" for name in http.path_params})
        body: Any = {} if http.body else None
        async with session.request(http.method, base + path, json=body) as resp:
            payload = await resp.json()
            assert resp.status in (400, 404), (kind, resp.status, payload)
            assert payload["error"]["code"] != "ERROR_CODE_UNSUPPORTED", (kind, payload)

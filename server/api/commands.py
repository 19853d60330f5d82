"""The REST form of the commands: one operation per command of the table with an ``http`` rule.

Nothing here names a command: method, path, body, status and words all come from the
``(tandem.v1.command)`` options in the schema (``server.command_table``). The path's
{jsonName} values are set on the command's fields and win over the body's.
"""

from __future__ import annotations

import time
from typing import cast

from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor
from google.protobuf.message import Message
from tandem.v1 import errors_pb2, websocket_pb2

from server.api.codec import render
from server.api.operation import Call, Handler, Operation, Result, result_of
from server.command_table import COMMAND_TABLE, CommandSpec, HttpForm
from server.domain.errors import DomainError
from server.monitoring import MONITOR

ErrorCode = errors_pb2.ErrorCode
_INTERNAL = ErrorCode.Name(ErrorCode.ERROR_CODE_INTERNAL)


def _message_class(owner: type[Message], field_name: str) -> type[Message]:
    field = cast(Descriptor, owner.DESCRIPTOR).fields_by_name[field_name]
    assert field.message_type is not None
    return message_factory.GetMessageClass(field.message_type)


def _handler(spec: CommandSpec, http: HttpForm) -> Handler:
    params = [(name, spec.field(name).name) for name in http.path_params]

    async def handler(call: Call) -> Result:
        if http.body == "*":
            assert isinstance(call.body, spec.message)
            command = call.body
        else:
            command = spec.message()
            if http.body:
                getattr(command, http.body).CopyFrom(call.body)
        for param, field in params:
            setattr(command, field, call.path(param))
        entity = result_of(await call.command(command), spec.result)
        if http.status == 204:
            return None
        if http.status == 201:
            response = render(call.request, entity, status=201)
            entity_id = getattr(entity, "id")  # noqa: B009 - every entity has an id
            response.headers["Location"] = f"/api/v1/{spec.result}s/{entity_id}"
            return response
        return entity

    return _counted(spec.kind, handler)


def _counted(kind: str, run: Handler) -> Handler:
    """``run``, its answers counted in the server's metrics (as the WebSocket's are)."""

    async def handler(call: Call) -> Result:
        monitor = call.request.app.get(MONITOR)
        metrics = monitor.metrics if monitor is not None else None
        if metrics is None:
            return await run(call)
        started = time.perf_counter()
        code = _INTERNAL
        try:
            result = await run(call)
            code = ""
            return result
        except DomainError as exc:
            code = ErrorCode.Name(exc.code)
            raise
        finally:
            metrics.command_done("rest", kind, code, time.perf_counter() - started)

    return handler


def _operation(spec: CommandSpec, http: HttpForm) -> Operation:
    if http.body == "*":
        request: type[Message] | None = spec.message
    elif http.body:
        request = _message_class(spec.message, http.body)
    else:
        request = None
    response = None if http.status == 204 else _message_class(websocket_pb2.Ack, spec.result)
    return Operation(
        method=http.method,
        path=http.path,
        operation_id=http.operation_id,
        summary=http.summary,
        handler=_handler(spec, http),
        # Tagged by what the command acts on, as the reads of the same entity are.
        tag=f"{spec.result}s",
        response=response,
        status=http.status,
        request=request,
        empty_body_ok=http.empty_body_ok,
        mutation=spec.mutates,
    )


#: Every command served over REST, in the table's order.
COMMAND_OPERATIONS: tuple[Operation, ...] = tuple(
    _operation(spec, spec.http) for spec in COMMAND_TABLE.values() if spec.http is not None
)

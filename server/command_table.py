"""The command table, read from the schema: every client command and how it is served.

Each command member of ``tandem.v1.WebSocketMessage.payload`` carries a
``(tandem.v1.command)`` option (proto/tandem/v1/options.proto): whether it mutates, the
words for it, the member of ``Ack.result`` it answers with, and its REST form. The domain
registry, the WebSocket session, the REST routes and the OpenAPI document all read this
table; none of them lists the commands again.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import cast

from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from tandem.v1 import options_pb2, websocket_pb2

__all__ = ["COMMAND_TABLE", "CommandSpec", "HttpForm", "kind_of"]

_PATH_PARAM = re.compile(r"{([^}]+)}")


@dataclass(frozen=True)
class HttpForm:
    """A command's REST form (``tandem.v1.HttpRule``)."""

    method: str
    path: str
    # "*" for the whole command, the name of one message field of it, or "" for none.
    body: str
    status: int
    empty_body_ok: bool
    operation_id: str
    summary: str

    @property
    def path_params(self) -> tuple[str, ...]:
        """The path's {jsonName} parameters, in order."""
        return tuple(_PATH_PARAM.findall(self.path))


@dataclass(frozen=True)
class CommandSpec:
    """One row of the table: a command member of the envelope and its option."""

    # The envelope's payload member ("create_task").
    kind: str
    message: type[Message]
    mutates: bool
    # A mutating command that changes only the caller's own things: viewers may send it.
    personal: bool
    # Completes "Couldn't ...": "create the task"; empty for session commands.
    verb: str
    # The member of Ack.result the command answers with; empty when none.
    result: str
    http: HttpForm | None

    def field(self, json_name: str) -> FieldDescriptor:
        """The command's field with this JSON name (a path parameter's field)."""
        descriptor = cast(Descriptor, self.message.DESCRIPTOR)
        for field in descriptor.fields:
            if field.json_name == json_name:
                return field
        raise KeyError(f"{self.kind} has no field {json_name!r}")


def _read_table() -> dict[str, CommandSpec]:
    envelope = websocket_pb2.WebSocketMessage.DESCRIPTOR
    table: dict[str, CommandSpec] = {}
    for field in envelope.oneofs_by_name["payload"].fields:
        options = field.GetOptions()
        if not options.HasExtension(options_pb2.command):
            continue  # an event or another server-to-client message
        option = options.Extensions[options_pb2.command]
        http = None
        if option.HasField("http"):
            rule = option.http
            http = HttpForm(
                method=rule.method,
                path=rule.path,
                body=rule.body,
                status=rule.status or 200,
                empty_body_ok=rule.empty_body_ok,
                operation_id=rule.operation_id,
                summary=rule.summary,
            )
        assert field.message_type is not None
        spec = CommandSpec(
            kind=field.name,
            message=message_factory.GetMessageClass(field.message_type),
            mutates=option.mutates,
            personal=option.personal,
            verb=option.verb,
            result=option.result,
            http=http,
        )
        _check(spec)
        table[spec.kind] = spec
    return table


def _check(spec: CommandSpec) -> None:
    """Refuse, at import, a row the servers could not serve as written."""
    if spec.result and spec.result not in websocket_pb2.Ack.DESCRIPTOR.fields_by_name:
        raise ValueError(f"{spec.kind}: Ack has no result {spec.result!r}")
    if spec.http is None:
        return
    for name in spec.http.path_params:
        spec.field(name)  # KeyError for a parameter that is not a field of the command
    body = spec.http.body
    if body not in ("", "*"):
        descriptor = cast(Descriptor, spec.message.DESCRIPTOR)
        found = descriptor.fields_by_name.get(body)
        if found is None or found.message_type is None:
            raise ValueError(f"{spec.kind}: body {body!r} is not a message field of it")


#: Every client command, by the envelope's payload name, in the envelope's order.
COMMAND_TABLE: Mapping[str, CommandSpec] = MappingProxyType(_read_table())

_KIND_BY_MESSAGE = {spec.message.DESCRIPTOR.full_name: kind for kind, spec in COMMAND_TABLE.items()}


def kind_of(command: Message) -> str | None:
    """The payload name of a command message (``CreateTask`` -> "create_task"), if it is one."""
    return _KIND_BY_MESSAGE.get(command.DESCRIPTOR.full_name)

"""The OpenAPI 3.1 document, generated from the route table and the protobuf descriptors.

The route table's command operations come from the command table, so every command with
a REST form is documented from the same declaration that serves it; the idempotency note
is added here to every mutating operation, not written in each summary.

Body schemas follow the protobuf JSON mapping (lowerCamelCase names, enums by name,
64-bit integers as decimal strings or numbers, Timestamps as RFC 3339), so the
``.proto`` files stay the one source of truth for every body.
"""

from __future__ import annotations

import functools
import re
from typing import Any, cast

from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor
from google.protobuf.message import Message
from tandem.v1 import api_pb2

import server
from server.api.codec import JSON, PROTOBUF
from server.api.operation import IDEMPOTENCY_HEADER, MAX_IDEMPOTENCY_KEY, Operation
from server.api.routes import OPERATIONS

Schema = dict[str, Any]

_INT32 = (FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_SINT32, FieldDescriptor.TYPE_SFIXED32)
_UINT32 = (FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_FIXED32)
_INT64 = (FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_SINT64, FieldDescriptor.TYPE_SFIXED64)
_UINT64 = (FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_FIXED64)

_WELL_KNOWN: dict[str, Schema] = {
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    "google.protobuf.Duration": {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]+)?s$"},
    "google.protobuf.FieldMask": {
        "type": "string",
        "description": 'Comma-separated lowerCamelCase field names, e.g. "title,status".',
    },
    "google.protobuf.Empty": {"type": "object", "additionalProperties": False},
}


def _d(descriptor: object) -> Descriptor:
    # The upb runtime's descriptor class and the pure-Python one are typed apart.
    return cast(Descriptor, descriptor)


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


class SchemaBuilder:
    """Collects JSON schemas for messages and enums under ``components.schemas``."""

    def __init__(self) -> None:
        self.schemas: dict[str, Schema] = {}

    def message(self, descriptor: Descriptor) -> Schema:
        name = descriptor.full_name
        if name in _WELL_KNOWN:
            return dict(_WELL_KNOWN[name])
        if name not in self.schemas:
            # Placeholder first: messages may refer to themselves (directly or not).
            self.schemas[name] = {}
            properties = {f.json_name: self._field(f) for f in descriptor.fields}
            self.schemas[name] = {
                "type": "object",
                "title": descriptor.name,
                "properties": properties,
                "additionalProperties": False,
            }
        return _ref(name)

    def _enum(self, descriptor: EnumDescriptor) -> Schema:
        name = descriptor.full_name
        if name not in self.schemas:
            self.schemas[name] = {
                "type": "string",
                "title": descriptor.name,
                "enum": [v.name for v in descriptor.values],
            }
        return _ref(name)

    def _scalar(self, field: FieldDescriptor) -> Schema:
        kind = field.type
        if field.message_type is not None:
            return self.message(field.message_type)
        if field.enum_type is not None:
            return self._enum(field.enum_type)
        if kind in _INT32:
            return {"type": "integer", "minimum": -(2**31), "maximum": 2**31 - 1}
        if kind in _UINT32:
            return {"type": "integer", "minimum": 0, "maximum": 2**32 - 1}
        if kind in _INT64 or kind in _UINT64:
            low = 0 if kind in _UINT64 else -(2**63)
            high = 2**64 - 1 if kind in _UINT64 else 2**63 - 1
            # The JSON mapping writes 64-bit integers as strings and reads either form.
            return {
                "type": ["integer", "string"],
                "minimum": low,
                "maximum": high,
                "pattern": r"^-?[0-9]{1,20}$",
            }
        if kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
            return {"type": "number"}
        if kind == FieldDescriptor.TYPE_BOOL:
            return {"type": "boolean"}
        if kind == FieldDescriptor.TYPE_BYTES:
            return {"type": "string", "contentEncoding": "base64"}
        return {"type": "string"}

    def _field(self, field: FieldDescriptor) -> Schema:
        message_type = field.message_type
        if message_type is not None and message_type.GetOptions().map_entry:
            value = self._scalar(message_type.fields_by_name["value"])
            return {"type": "object", "additionalProperties": value}
        schema = self._scalar(field)
        if field.is_repeated:
            return {"type": "array", "items": schema}
        return schema


def _content(schema: Schema, builder: SchemaBuilder, message: type[Message] | None) -> Schema:
    content: Schema = {JSON: {"schema": schema}}
    if message is not None:
        content[PROTOBUF] = {
            "schema": {"type": "string", "format": "binary"},
        }
    return content


_PATH_PARAM = re.compile(r"{([^}]+)}")

IDEMPOTENT_NOTE = (
    " Send an Idempotency-Key header to make a retry safe: the same key returns the"
    " first answer and changes nothing again."
)


def _operation(op: Operation, builder: SchemaBuilder) -> Schema:
    parameters: list[Schema] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _PATH_PARAM.findall(op.path)
    ]
    for param in op.query:
        parameters.append(
            {
                "name": param.name,
                "in": "query",
                "required": param.required,
                "description": param.description,
                "schema": dict(param.schema),
            }
        )
    for header in op.headers:
        parameters.append(
            {
                "name": header.name,
                "in": "header",
                "required": header.required,
                "description": header.description,
                "schema": dict(header.schema),
            }
        )
    if op.mutation:
        parameters.append(
            {
                "name": IDEMPOTENCY_HEADER,
                "in": "header",
                "required": False,
                "description": "A client-chosen id for this change; a retry with the same"
                " id returns the first answer and changes nothing again.",
                "schema": {"type": "string", "maxLength": MAX_IDEMPOTENCY_KEY},
            }
        )
    error = {
        "description": "The request was refused; nothing was changed.",
        "content": _content(
            builder.message(_d(api_pb2.ErrorResponse.DESCRIPTOR)), builder, api_pb2.ErrorResponse
        ),
    }
    responses: Schema = {}
    if op.response is not None:
        content = _content(builder.message(_d(op.response.DESCRIPTOR)), builder, op.response)
        content.update(op.raw_response or {})  # other forms of the same answer (a file)
        responses[str(op.status)] = {
            "description": "OK" if op.status == 200 else "Created",
            "content": content,
        }
    elif op.raw_response is not None:
        responses[str(op.status)] = {"description": "OK", "content": dict(op.raw_response)}
    elif op.raw_json_schema is not None:
        responses[str(op.status)] = {
            "description": "OK",
            "content": {JSON: {"schema": dict(op.raw_json_schema)}},
        }
    else:
        responses[str(op.status)] = {"description": "Done; no content."}
    responses["default"] = error
    doc: Schema = {
        "operationId": op.operation_id,
        "summary": op.summary + (IDEMPOTENT_NOTE if op.mutation else ""),
        "tags": [op.tag],
        "parameters": parameters,
        "responses": responses,
    }
    if op.request is not None:
        # Required even when every field is optional: a change must carry a non-simple
        # Content-Type, so that no cross-site form or beacon can make one.
        doc["requestBody"] = {
            "required": True,
            "content": _content(builder.message(_d(op.request.DESCRIPTOR)), builder, op.request),
        }
        if op.empty_body_ok:
            doc["requestBody"]["description"] = "Every field is optional: send {} for the defaults."
    elif op.raw_request is not None:
        doc["requestBody"] = {"required": True, "content": dict(op.raw_request)}
    return doc


def _links(operations: tuple[Operation, ...]) -> dict[str, Schema]:
    """For each create: links feeding the new entity's id to every operation that takes it.

    An entity's id parameter is the one path parameter of a route that ends with it and
    answers with that entity (``/api/v1/tasks/{taskId}`` for Task).
    """
    id_param: dict[type[Message], str] = {}
    for op in operations:
        params = _PATH_PARAM.findall(op.path)
        if len(params) == 1 and op.path.endswith("{" + params[0] + "}") and op.response:
            id_param.setdefault(op.response, params[0])
    links: dict[str, Schema] = {}
    for op in operations:
        param = id_param.get(op.response) if op.status == 201 and op.response else None
        if param is None:
            continue
        links[op.operation_id] = {
            target.operation_id[:1].upper() + target.operation_id[1:]: {
                "operationId": target.operation_id,
                "parameters": {param: "$response.body#/id"},
            }
            for target in operations
            if "{" + param + "}" in target.path
        }
    return links


def build_document(operations: tuple[Operation, ...] = OPERATIONS) -> Schema:
    builder = SchemaBuilder()
    paths: dict[str, Schema] = {}
    links = _links(operations)
    for op in operations:
        doc = _operation(op, builder)
        if op.operation_id in links:
            doc["responses"][str(op.status)]["links"] = links[op.operation_id]
        paths.setdefault(op.path, {})[op.method.lower()] = doc
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Tandem",
            "version": server.__version__,
            "description": "The REST API of a Tandem board. Bodies use the protobuf JSON"
            " mapping of the tandem.v1 schema, or binary protobuf with Content-Type or"
            " Accept application/x-protobuf. Errors are ErrorResponse bodies.",
        },
        "paths": paths,
        "components": {"schemas": dict(sorted(builder.schemas.items()))},
    }


@functools.cache
def openapi_document() -> Schema:
    """The document for the route table (fixed, so it is built once)."""
    return build_document()

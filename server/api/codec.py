"""Request and response bodies: the protobuf JSON mapping, or binary protobuf on request.

JSON is parsed strictly (unknown fields, wrong types and unknown enum values are
refused, never dropped), and binary bodies get the same treatment, so nothing a
client sends is stored or relayed other than through validated fields.
"""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from aiohttp import web
from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import DecodeError, Message
from tandem.v1 import errors_pb2

from server.domain.errors import DomainError

JSON = "application/json"
PROTOBUF = "application/x-protobuf"
ErrorCode = errors_pb2.ErrorCode

M = TypeVar("M", bound=Message)

# Deeper JSON than this is an attack or a bug; the schema itself nests a handful of levels.
MAX_JSON_DEPTH = 32

#: Bodies at least this big are turned into JSON and back off the event loop. protobuf's
#: JSON mapping is Python code: here 1,000 tasks take about 45 ms to write and 100 ms to
#: read, and in a bulk edit of 500 under load, profiled, its answer took 190 ms and its body
#: 57 ms, while the loop answered no one (every board, the owner's too). In a thread of its
#: own the work still takes the GIL, but gives the loop its turn every switch interval
#: (5 ms). One thread: a client sending many such requests at once gets them done one after
#: another, not all at once.
OFF_LOOP_BYTES = 32 * 1024
_JSON_THREAD = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tandem-json")


def _invalid(message: str) -> DomainError:
    return DomainError(ErrorCode.ERROR_CODE_INVALID_ARGUMENT, message)


def wants_protobuf(request: web.Request) -> bool:
    """True when the response should be binary protobuf.

    ``Accept: application/x-protobuf`` asks for it; without an explicit Accept, a
    request whose body was protobuf gets protobuf back.
    """
    accept = request.headers.get("Accept", "")
    if PROTOBUF in accept:
        return True
    if JSON in accept:
        return False
    return request.content_type == PROTOBUF


def render(request: web.Request, message: Message, *, status: int = 200) -> web.Response:
    if wants_protobuf(request):
        return web.Response(body=message.SerializeToString(), status=status, content_type=PROTOBUF)
    return web.Response(text=_to_json(message), status=status, content_type=JSON)


async def render_async(
    request: web.Request, message: Message, *, status: int = 200
) -> web.Response:
    """``render``, writing a big JSON body off the event loop (see OFF_LOOP_BYTES)."""
    if wants_protobuf(request) or message.ByteSize() < OFF_LOOP_BYTES:
        return render(request, message, status=status)
    text = await asyncio.get_running_loop().run_in_executor(_JSON_THREAD, _to_json, message)
    return web.Response(text=text, status=status, content_type=JSON)


def _to_json(message: Message) -> str:
    return json_format.MessageToJson(message, indent=None, ensure_ascii=False)


async def parse_body(request: web.Request, message_type: type[M]) -> M:
    """Read and validate the request body as ``message_type``.

    A body is required to carry ``Content-Type: application/json`` or
    ``application/x-protobuf``; an empty body means the empty message. Requiring the
    content type keeps cross-site "simple" requests (form posts, text/plain) out.
    """
    raw = await request.read()
    content_type = request.content_type
    message = message_type()
    if content_type == PROTOBUF:
        try:
            message.ParseFromString(raw)
        except (DecodeError, RecursionError) as exc:
            raise _invalid(f"body is not a valid {message.DESCRIPTOR.name}: {exc}") from None
        reject_unknown_fields(message)
    elif content_type == JSON:
        if raw.strip():
            try:
                data = json.loads(raw)
            except RecursionError:
                raise _invalid("body is nested too deeply") from None
            except (UnicodeDecodeError, ValueError) as exc:
                raise _invalid(f"body is not valid JSON: {exc}") from None
            if not isinstance(data, dict):
                raise _invalid("body must be a JSON object")
            if len(raw) < OFF_LOOP_BYTES:
                _from_json(data, message)
            else:
                loop = asyncio.get_running_loop()
                await loop.run_in_executor(_JSON_THREAD, _from_json, data, message)
    else:
        raise DomainError(
            ErrorCode.ERROR_CODE_UNSUPPORTED,
            f"send the body as {JSON} or {PROTOBUF}, not {content_type or 'nothing'}",
        )
    reject_unknown_enum_values(message)
    return message


def _from_json(data: dict[str, object], message: Message) -> None:
    _check_depth(data)
    try:
        json_format.ParseDict(data, message, ignore_unknown_fields=False)
    except (json_format.ParseError, ValueError, TypeError, RecursionError) as exc:
        raise _invalid(f"body is not a valid {message.DESCRIPTOR.name}: {exc}") from None


def _check_depth(data: object) -> None:
    stack: list[tuple[object, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise _invalid("body is nested too deeply")
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)


def reject_unknown_fields(message: Message) -> None:
    """Refuse a binary message carrying fields this schema does not know (at any depth)."""
    stripped = type(message)()
    stripped.CopyFrom(message)
    stripped.DiscardUnknownFields()
    if stripped.ByteSize() != message.ByteSize():
        raise _invalid(f"{message.DESCRIPTOR.name} has fields this server does not know")


def reject_unknown_enum_values(message: Message) -> None:
    """Refuse enum numbers the schema does not name (proto3 enums accept any number)."""
    for field, value in message.ListFields():
        if field.type == FieldDescriptor.TYPE_ENUM:
            assert field.enum_type is not None
            values = value if _is_repeated(field) else [value]
            for number in values:
                if field.enum_type.values_by_number.get(number) is None:
                    raise DomainError(
                        ErrorCode.ERROR_CODE_INVALID_ARGUMENT,
                        f"{number} is not a valid {field.enum_type.name}",
                        field=field.json_name,
                    )
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            if field.message_type is not None and field.message_type.GetOptions().map_entry:
                continue
            children = value if _is_repeated(field) else [value]
            for child in children:
                reject_unknown_enum_values(child)


def _is_repeated(field: FieldDescriptor) -> bool:
    return bool(field.is_repeated)

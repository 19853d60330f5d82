"""The REST operation framework: what an operation declares, and how a request reaches it.

An ``Operation`` names its method, path, request and response messages and query
parameters; ``endpoint`` turns one into an aiohttp handler (unknown query parameters
refused, the body parsed as the request message, the result rendered as JSON or binary
protobuf). The same declarations generate the OpenAPI document. Changes go through
``Call.command``, which hands the command to the domain with the request's
Idempotency-Key as its request id.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from google.protobuf.message import Message
from tandem.v1 import errors_pb2, websocket_pb2

from server.api.actor import request_actor
from server.api.codec import parse_body, render_async
from server.api.errors import ApiError, bad_request
from server.appkeys import DOMAIN
from server.domain.errors import DomainError
from server.domain.service import Domain

ErrorCode = errors_pb2.ErrorCode

IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_IDEMPOTENCY_KEY = 200


@dataclass(frozen=True)
class QueryParam:
    name: str
    schema: Mapping[str, Any]
    description: str
    required: bool = False


@dataclass
class Call:
    """One request as an operation sees it: its path ids, parsed body and query."""

    request: web.Request
    body: Message | None

    @property
    def domain(self) -> Domain:
        return self.request.app[DOMAIN]

    def path(self, name: str) -> str:
        return self.request.match_info[name]

    def query(self, name: str) -> str | None:
        return self.request.query.get(name)

    async def command(self, command: Message) -> websocket_pb2.Ack:
        """Run a command of the command table as this request's actor."""
        key = self.request.headers.get(IDEMPOTENCY_HEADER, "")
        if len(key) > MAX_IDEMPOTENCY_KEY:
            raise bad_request(
                f"{IDEMPOTENCY_HEADER} is longer than {MAX_IDEMPOTENCY_KEY} characters",
                field=IDEMPOTENCY_HEADER,
            )
        # A key names a retry of this request, so it is scoped to the method and path: the
        # same key sent with another request must not replay that request's answer (or
        # refusal) in its place.
        request_id = f"{self.request.method} {self.request.path}\x1f{key}" if key else ""
        try:
            actor = await request_actor(self.request)
            return await self.domain.command(actor, command, request_id)
        except DomainError as err:
            if key and err.field == "message_id":  # the same key, another body
                raise reused_key() from err
            raise


Result = Message | web.StreamResponse | None
Handler = Callable[[Call], Awaitable[Result]]


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    operation_id: str
    summary: str
    handler: Handler
    tag: str
    response: type[Message] | None = None
    status: int = 200
    request: type[Message] | None = None
    # Every field of the body is optional; the body itself, and so its Content-Type, is
    # not (see ``parse_body``): send {} for the defaults.
    empty_body_ok: bool = False
    query: tuple[QueryParam, ...] = ()
    # Mutations accept an Idempotency-Key header.
    mutation: bool = False
    # For operations answering something other than a protobuf message (the OpenAPI
    # document itself): its JSON schema.
    raw_json_schema: Mapping[str, Any] | None = None
    # For operations whose body or answer is not a protobuf message (an upload, a file), or
    # not always (an export as a file): their OpenAPI content objects ({media type: {"schema":
    # ...}}), and the request's headers.
    raw_request: Mapping[str, Any] | None = None
    raw_response: Mapping[str, Any] | None = None
    headers: tuple[QueryParam, ...] = ()


def reused_key() -> ApiError:
    # The draft IETF Idempotency-Key header answers 422 to a key reused for another request.
    return ApiError(
        ErrorCode.ERROR_CODE_INVALID_ARGUMENT,
        f"this {IDEMPOTENCY_HEADER} was already used for a different change; nothing was changed",
        status=422,
        field=IDEMPOTENCY_HEADER,
    )


def result_of(ack: websocket_pb2.Ack, name: str) -> Message:
    """The Ack's ``name`` result."""
    # A fresh command always answers with its own kind of result, so another kind can only
    # be the replayed answer to a different command that carried the same id (a WebSocket
    # message id equal to a scoped REST key): refuse, rather than fail with a 500.
    if ack.WhichOneof("result") != name:
        raise reused_key()
    result: Message = getattr(ack, name)
    return result


def endpoint(op: Operation) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """The aiohttp handler serving ``op``."""
    allowed = {param.name for param in op.query}

    async def serve(request: web.Request) -> web.StreamResponse:
        unknown = sorted(set(request.query) - allowed)
        if unknown:
            raise bad_request(f"unknown query parameter {unknown[0]!r}", field=unknown[0])
        body: Message | None = None
        if op.request is not None:
            body = await parse_body(request, op.request)
        result = await op.handler(Call(request, body))
        if isinstance(result, web.StreamResponse):
            return result
        if result is None:
            return web.Response(status=204)
        return await render_async(request, result, status=op.status)

    serve.__name__ = op.operation_id
    return serve

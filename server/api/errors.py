"""Turning every refusal into one response shape: an HTTP status and ``ErrorResponse``.

Domain errors, malformed bodies, unknown routes and oversize bodies all leave the
REST API as ``{"error": {"code": "ERROR_CODE_...", "message": "..."}}`` (or the same
message in binary protobuf when the client asked for it), never as an HTML page or
a stack trace.
"""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.typedefs import Handler
from tandem.v1 import api_pb2, errors_pb2

from server.api.codec import render
from server.domain.errors import DomainError

ErrorCode = errors_pb2.ErrorCode
log = logging.getLogger(__name__)

API_PREFIX = "/api"

# FAILED_PRECONDITION is 409 (the state of the entity is the problem, as with a conflict),
# not 422, so that clients treat both as "reload and try again".
STATUS_BY_CODE: dict[int, int] = {
    ErrorCode.ERROR_CODE_INVALID_ARGUMENT: 400,
    ErrorCode.ERROR_CODE_NOT_FOUND: 404,
    ErrorCode.ERROR_CODE_ALREADY_EXISTS: 409,
    ErrorCode.ERROR_CODE_CONFLICT: 409,
    ErrorCode.ERROR_CODE_FAILED_PRECONDITION: 409,
    ErrorCode.ERROR_CODE_UNAUTHENTICATED: 401,
    ErrorCode.ERROR_CODE_PERMISSION_DENIED: 403,
    ErrorCode.ERROR_CODE_RATE_LIMITED: 429,
    ErrorCode.ERROR_CODE_UNAVAILABLE: 503,
    ErrorCode.ERROR_CODE_INTERNAL: 500,
    ErrorCode.ERROR_CODE_UNSUPPORTED: 415,
    ErrorCode.ERROR_CODE_TOO_LARGE: 413,
}

# For aiohttp's own HTTP exceptions (no route, wrong method, body too large).
CODE_BY_STATUS: dict[int, errors_pb2.ErrorCode.ValueType] = {
    400: ErrorCode.ERROR_CODE_INVALID_ARGUMENT,
    401: ErrorCode.ERROR_CODE_UNAUTHENTICATED,
    403: ErrorCode.ERROR_CODE_PERMISSION_DENIED,
    404: ErrorCode.ERROR_CODE_NOT_FOUND,
    405: ErrorCode.ERROR_CODE_UNSUPPORTED,
    409: ErrorCode.ERROR_CODE_CONFLICT,
    413: ErrorCode.ERROR_CODE_INVALID_ARGUMENT,
    415: ErrorCode.ERROR_CODE_UNSUPPORTED,
    429: ErrorCode.ERROR_CODE_RATE_LIMITED,
    503: ErrorCode.ERROR_CODE_UNAVAILABLE,
}


class ApiError(DomainError):
    """A refusal decided at the HTTP edge, with an explicit status (e.g. 413, 405)."""

    def __init__(
        self,
        code: errors_pb2.ErrorCode.ValueType,
        message: str,
        *,
        status: int | None = None,
        field: str = "",
    ) -> None:
        super().__init__(code, message, field=field)
        self.status = status if status is not None else STATUS_BY_CODE.get(code, 400)


def bad_request(message: str, *, field: str = "") -> ApiError:
    return ApiError(ErrorCode.ERROR_CODE_INVALID_ARGUMENT, message, field=field)


def error_response(request: web.Request, err: DomainError) -> web.Response:
    status = err.status if isinstance(err, ApiError) else STATUS_BY_CODE.get(err.code, 400)
    error = err.to_proto()
    # REST speaks the JSON mapping, so fields are named as its bodies name them.
    error.field = _json_name(error.field)
    error.conflicting_fields[:] = [_json_name(f) for f in error.conflicting_fields]
    body = api_pb2.ErrorResponse(error=error)
    response = render(request, body, status=status)
    if err.retry_after_ms:
        response.headers["Retry-After"] = str(max(1, -(-err.retry_after_ms // 1000)))
    return response


def _json_name(field: str) -> str:
    """``due_date`` as the JSON mapping spells it, ``dueDate``; other names as they are."""
    head, *rest = field.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _from_http(exc: web.HTTPException) -> ApiError:
    code = CODE_BY_STATUS.get(exc.status, ErrorCode.ERROR_CODE_INVALID_ARGUMENT)
    if exc.status == 404:
        message = "no such API route"
    elif exc.status == 405:
        message = "method not allowed on this route"
    elif exc.status == 413:
        message = "request body too large"
    else:
        message = exc.reason
    return ApiError(code, message, status=exc.status)


@web.middleware
async def api_error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Give every response under /api the ``ErrorResponse`` shape on failure."""
    path = request.path
    if not (path == API_PREFIX or path.startswith(API_PREFIX + "/")):
        return await handler(request)
    try:
        return await handler(request)
    except DomainError as err:
        return error_response(request, err)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = error_response(request, _from_http(exc))
        if exc.status == 405 and "Allow" in exc.headers:
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    except Exception:
        log.exception("unhandled error in %s %s", request.method, path)
        return error_response(
            request,
            ApiError(ErrorCode.ERROR_CODE_INTERNAL, "internal server error"),
        )

"""The request guard: local-mode hardening for everyone, invites and roles for the LAN.

In order, for every request:

1. exactly one ``Host``, naming this server with the port the connection arrived on
   (loopback names for loopback peers; our LAN addresses for LAN peers) -> else 421;
2. a peer that is not on this machine while sharing is off -> 403;
3. an ``Origin``, when a browser sends one, that is one of our pages, on every
   WebSocket handshake and every request that is not GET/HEAD -> else 403;
4. a body-carrying change (POST, PUT, PATCH) with a content type no form or
   ``text/plain`` request can have -> else 415;
5. a LAN peer needs a credential: the invite token as ``Authorization: Bearer``, or
   the session cookie that joining hands out (``server.security.join``: the page at
   ``GET /join?token=...`` asks, its form POST signs in); wrong ones count against
   the address (429 once it must wait); a viewer may only read.

The peer's address comes from the socket, never from a header.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Final, NamedTuple

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler
from multidict import CIMultiDictProxy
from tandem.v1 import errors_pb2

from server.access import access_epoch
from server.api.attachments import UPLOAD_HEADER, is_upload
from server.api.errors import ApiError, error_response
from server.appkeys import DOMAIN
from server.command_table import COMMAND_TABLE
from server.monitoring import LOCAL_ONLY_PATHS
from server.security import hosts, invites, join
from server.security.invites import Principal
from server.security.state import (
    ACTOR,
    PRINCIPAL,
    PRINCIPAL_EPOCH,
    SECURITY,
    SESSION_COOKIE,
    SecurityState,
)
from server.storage.batched import Batched

log = logging.getLogger(__name__)
ErrorCode = errors_pb2.ErrorCode

SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
BODY_METHODS: Final = frozenset({"POST", "PUT", "PATCH"})
CHANGE_CONTENT_TYPES: Final = frozenset({"application/json", "application/x-protobuf"})
JOIN_PATH: Final = "/join"
WS_PATH: Final = "/ws"
API_PREFIX: Final = "/api"

_SIGN_IN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Tandem: invite needed</title></head>
<body>
<h1>This board is shared by invitation</h1>
<p>{message}</p>
<p>Ask the board's owner for an invite link and open it in this browser.
If you have just opened one, <a href="/">continue to the board</a>.</p>
</body></html>
"""


def peer_address(request: web.BaseRequest) -> str:
    """The peer's address as the socket has it (never from a header)."""
    transport = request.transport
    if transport is None:
        return ""
    peer = transport.get_extra_info("peername")
    if isinstance(peer, (tuple, list)) and peer:
        return str(peer[0])
    return ""


def _local(request: web.BaseRequest) -> tuple[str, int]:
    transport = request.transport
    sock = transport.get_extra_info("sockname") if transport is not None else None
    if isinstance(sock, (tuple, list)) and len(sock) >= 2:
        return str(sock[0]), int(sock[1])
    return "", 0


def is_api(path: str) -> bool:
    return path == API_PREFIX or path.startswith(API_PREFIX + "/")


def refusal(
    request: web.Request,
    status: int,
    code: errors_pb2.ErrorCode.ValueType,
    message: str,
    *,
    headers: dict[str, str] | None = None,
) -> web.Response:
    """One refusal in the shape the caller expects: the REST error body (the API's own,
    ``server.api.errors``), or a short page."""
    extra = {"Cache-Control": "no-store", **(headers or {})}
    if is_api(request.path):
        response = error_response(request, ApiError(code, message, status=status))
        response.headers.update(extra)
        return response
    if status == 401 and request.method == "GET" and request.path != WS_PATH:
        page = _SIGN_IN_PAGE.format(message=message)
        return web.Response(text=page, status=status, content_type="text/html", headers=extra)
    return web.Response(text=message, status=status, headers=extra)


def _see_other(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location, "Cache-Control": "no-store"})


def _is_websocket(request: web.BaseRequest) -> bool:
    return request.path == WS_PATH or is_upgrade(request.headers)


def is_upgrade(headers: CIMultiDictProxy[str]) -> bool:
    return headers.get(hdrs.UPGRADE, "").lower() == "websocket"


def bearer_token(headers: CIMultiDictProxy[str]) -> str | None:
    value = headers.get(hdrs.AUTHORIZATION)
    if value is None:
        return None
    scheme, _, token = value.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why the guard turns a request away (made into a response by ``refusal``)."""

    status: int
    code: errors_pb2.ErrorCode.ValueType
    message: str


def screen(
    state: SecurityState,
    *,
    method: str,
    path: str,
    headers: CIMultiDictProxy[str],
    websocket: bool,
    peer: str,
    local: tuple[str, int],
    secure: bool,
) -> Refusal | None:
    """Steps 1-3 of the guard (where the peer is, ``Host``, ``Origin``) for one request head.

    The one statement of these rules: the guard asks it of every request aiohttp parses,
    and the listeners' own WebSocket upgrade (``server.realtime.upgrade``) of every
    handshake it answers itself (a refused one goes on to aiohttp, so the guard refuses it).
    """
    loopback = state.is_local(peer)
    if not loopback and path in LOCAL_ONLY_PATHS:
        # The server's own figures are this computer's business: to anyone else they
        # do not exist (before any credential is asked for).
        return Refusal(404, ErrorCode.ERROR_CODE_NOT_FOUND, "not found")
    host_values = headers.getall(hdrs.HOST, [])
    if len(host_values) != 1:
        return Refusal(
            421, ErrorCode.ERROR_CODE_INVALID_ARGUMENT, "exactly one Host header is needed"
        )
    local_ip, local_port = local
    host = hosts.parse_host(host_values[0], 443 if secure else 80)
    own = hosts.normalise_host(local_ip) if local_ip else ""
    if loopback:
        names: frozenset[str] = hosts.LOOPBACK_NAMES | {own}
    elif state.sharing.enabled:
        names = state.sharing.names | {own}
    else:
        return Refusal(
            403, ErrorCode.ERROR_CODE_PERMISSION_DENIED, "this board is not shared on the network"
        )
    if host is None or not hosts.host_allowed(host, names, local_port):
        return Refusal(
            421, ErrorCode.ERROR_CODE_INVALID_ARGUMENT, "this server does not answer to that name"
        )
    origin = headers.get(hdrs.ORIGIN)
    checked = method not in SAFE_METHODS or websocket
    if checked and origin is not None and not hosts.origin_allowed(origin, names, local_port):
        return Refusal(
            403, ErrorCode.ERROR_CODE_PERMISSION_DENIED, "other web pages may not do this"
        )
    return None


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    state = request.app[SECURITY]
    peer = peer_address(request)
    refused = screen(
        state,
        method=request.method,
        path=request.path,
        headers=request.headers,
        websocket=_is_websocket(request),
        peer=peer,
        local=_local(request),
        secure=request.secure,
    )
    if refused is not None:
        return refusal(request, refused.status, refused.code, refused.message)
    loopback = state.is_local(peer)
    if (
        request.method in BODY_METHODS
        and request.content_type not in CHANGE_CONTENT_TYPES
        and not join.is_join_form(request, JOIN_PATH)
        # An attachment upload, which a form cannot make: forms send no such header.
        and not (is_upload(request) and UPLOAD_HEADER in request.headers)
    ):
        return refusal(
            request,
            415,
            ErrorCode.ERROR_CODE_UNSUPPORTED,
            "changes need Content-Type: application/json or application/x-protobuf",
        )

    if loopback:
        if request.path == JOIN_PATH:
            # The owner needs no invite; drop the token from the address bar all the same.
            return _see_other("/")
        return await handler(request)
    return await _lan(request, handler, peer)


async def _lan(request: web.Request, handler: Handler, peer: str) -> web.StreamResponse:
    state = request.app[SECURITY]
    # Read before the lookup: access that ends while it runs makes what it found stale.
    epoch = access_epoch(request.app)
    # Counted before the next one is checked: many wrong credentials sent at once from
    # one address are throttled after the first few, as if they had come one by one.
    async with state.throttle.turn(peer):
        found = await _credential(request, peer)
    if isinstance(found, web.StreamResponse):
        return found
    if state.gate is not None:
        state.gate.authenticated(request.transport)
    request[PRINCIPAL] = found
    request[PRINCIPAL_EPOCH] = epoch
    request[ACTOR] = found.actor(client_key=f"invite:{found.invite_id}")
    if (
        request.method not in SAFE_METHODS
        and not request[ACTOR].can_edit
        and not _personal(request)
    ):
        return refusal(
            request, 403, ErrorCode.ERROR_CODE_PERMISSION_DENIED, "viewers cannot change the board"
        )
    return await handler(request)


# The REST routes of the commands that change only the sender's own things (their inbox, what
# they watch): a viewer may send them, and the domain still checks each one.
_PERSONAL_ROUTES: Final = frozenset(
    spec.http.operation_id
    for spec in COMMAND_TABLE.values()
    if spec.personal and spec.http is not None
)


def _personal(request: web.Request) -> bool:
    route = request.match_info.route
    return route.name in _PERSONAL_ROUTES


class Credential(NamedTuple):
    """What a request presents to prove who it is."""

    kind: str  # invites.TOKEN or invites.SESSION
    secret: str  # "" for an Authorization header that holds no bearer token


def presented(headers: CIMultiDictProxy[str]) -> Credential | None:
    """The credential in a request's headers: its Authorization header's bearer token (a
    header that holds none presents an empty one), else its session cookie; None when it has
    neither. From the headers alone, so that a listener's own WebSocket upgrade
    (``server.realtime.upgrade``) reads a head's credential as the guard does."""
    bearer = bearer_token(headers)
    if bearer is not None:
        return Credential(invites.TOKEN, bearer)
    cookie = join.session_cookie(headers)
    return Credential(invites.SESSION, cookie) if cookie else None


async def lookup(app: web.Application, credential: Credential) -> Principal | None:
    """Who a credential belongs to, or None: looked up with the others presented meanwhile,
    in one trip to the database thread."""
    if not credential.secret:
        return None
    state = app[SECURITY]
    if state.lookups is None:
        state.lookups = Batched(app[DOMAIN].store.submit, invites.principals)
    return await state.lookups(credential)


def _known_unfound(request: web.Request, credential: Credential) -> bool:
    """Whether the listener has just looked this connection's ``credential`` up and found no
    one behind it (``SecurityState.unfound``): the first request on the connection is
    refused and counted here without looking it up again."""
    transport = request.transport
    unfound = request.app[SECURITY].unfound
    return transport is not None and unfound.pop(transport, None) == credential


async def _credential(request: web.Request, peer: str) -> Principal | web.StreamResponse:
    """The principal behind the request's credential, or the response that refuses it."""
    state = request.app[SECURITY]
    throttle = state.throttle
    wait = throttle.retry_after(peer)
    if wait > 0:
        throttle.refused_total += 1
        return refusal(
            request,
            429,
            ErrorCode.ERROR_CODE_RATE_LIMITED,
            "too many wrong credentials from this address; try again later",
            headers={"Retry-After": str(max(1, math.ceil(wait)))},
        )
    if request.path == JOIN_PATH:
        return await join.handle(request, peer)

    credential = presented(request.headers)
    if credential is None:
        return refusal(
            request,
            401,
            ErrorCode.ERROR_CODE_UNAUTHENTICATED,
            "this board is shared by invitation only",
        )
    found = None if _known_unfound(request, credential) else await lookup(request.app, credential)
    if found is None:
        throttle.failed(peer)
        refused = refusal(
            request,
            401,
            ErrorCode.ERROR_CODE_UNAUTHENTICATED,
            "this invite is not valid (or revoked)",
        )
        if credential.kind == invites.SESSION:
            # A dead cookie would otherwise count against the address on every page load.
            refused.del_cookie(SESSION_COOKIE, path="/")
        return refused
    return found

"""Constants of the WebSocket protocol: version, close codes and limits (see docs/protocol.md)."""

from __future__ import annotations

from enum import IntEnum
from typing import Final

from server.domain import validate

#: The one protocol version this server speaks; ``Hello.protocol_version`` must match.
PROTOCOL_VERSION: Final = 1

#: Commands a connection may send per second on average, and in one burst.
COMMAND_RATE_PER_SECOND: Final = 50.0
COMMAND_BURST: Final = 100

#: ``?format=json`` is for debugging: its frames cost ~10x as much to parse as binary ones,
#: so they are smaller, and a connection's JSON is parsed at most this many bytes per
#: second (past the burst, its next frame waits, unparsed, and the client is slowed down).
MAX_JSON_FRAME_BYTES: Final = 64 * 1024
JSON_BYTES_PER_SECOND: Final = 64 * 1024
JSON_BURST_BYTES: Final = 256 * 1024

#: Presence from one connection is relayed at most this often; the latest state always
#: follows (a trailing update), so throttling never leaves a stale "is typing".
PRESENCE_INTERVAL_SECONDS: Final = 0.25
#: Presence changes of a project go out together, once per tick, as one presence_diff:
#: a storm of joins costs a message per tick per viewer, not one per join per viewer.
PRESENCE_TICK_SECONDS: Final = 0.05
#: At most this many connections of a project are shown in its presence (the first to
#: arrive; a place frees when one leaves and goes to the next to arrive). Every viewer must
#: hear of every join, so without a bound a room of N costs N^2 entries; with it, a join
#: costs at most this many, and a board shows no more faces than that anyway.
PRESENCE_SHOWN_LIMIT: Final = 100

#: WebSocket connections at most between their upgrade and a successful hello; more wait
#: (as HTTP requests, before the upgrade) for a place. A reconnect storm of thousands then
#: reaches hello a few dozen at a time: no hello waits behind thousands of upgrades long
#: enough to miss the hello timeout, and a bystander's request waits behind few (each pass
#: of the event loop serves at most this many upgrades and hellos; with 256 a storm of
#: 2,000 made passes that kept a kept-alive /api/health waiting about twice as long).
MAX_JOINING: Final = 64

#: How long a close handshake may take before the socket is cut.
CLOSE_TIMEOUT_SECONDS: Final = 1.0
#: How long shutdown waits for a connection to flush its queue before cutting it.
SHUTDOWN_FLUSH_SECONDS: Final = 5.0

#: Longest id a client may put in any message, its message_id included.
MAX_ID_LENGTH: Final = validate.MAX_ID_LENGTH

#: Open WebSocket connections one invited person may hold (tabs, devices), and one LAN
#: address (a shared computer, a NAT); the owner's loopback connections are not capped.
MAX_CONNECTIONS_PER_MEMBER: Final = 16
MAX_CONNECTIONS_PER_ADDRESS: Final = 64


class CloseCode(IntEnum):
    """WebSocket close codes the server sends. 4xxx are Tandem's own."""

    NORMAL = 1000
    GOING_AWAY = 1001  # the server is shutting down; reconnect and resume
    PROTOCOL_ERROR = 1002  # a frame that breaks RFC 6455 (unmasked, a bad opcode, ...)
    UNSUPPORTED_DATA = 1003  # a text frame on the binary endpoint, or binary on ?format=json
    # Never sent (a peer that vanished, or missed its heartbeat): how such an end is counted.
    ABNORMAL = 1006
    INVALID_PAYLOAD = 1007  # not a valid WebSocketMessage, or text that is not UTF-8
    MESSAGE_TOO_BIG = 1009  # a message over the size limit (refused from its frame header)
    INTERNAL_ERROR = 1011  # the server failed outside any one command; reconnect, resume
    TOO_SLOW = 4008  # the client fell behind its outgoing queue limit; resume from last seq
    HELLO_TIMEOUT = 4408  # no successful hello within the server's hello timeout
    UNAUTHENTICATED = 4401  # no valid credential for a connection from the LAN
    FORBIDDEN = 4403  # access revoked or LAN sharing switched off
    TOO_MANY_CONNECTIONS = 4429  # this person or address has the most connections allowed

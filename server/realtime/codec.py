"""Turning frames into envelopes and back, in binary protobuf or the protobuf JSON mapping.

Every envelope from a client has its unknown fields discarded here, before anything
else sees it, so nothing a client invents is ever stored or relayed.
"""

from __future__ import annotations

import struct
from functools import cached_property

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from tandem.v1 import websocket_pb2

from server.realtime.framing import OP_BINARY, OP_TEXT
from server.wire import read_varint

WebSocketMessage = websocket_pb2.WebSocketMessage


class BadFrame(Exception):
    """A frame that is not a WebSocketMessage."""


def decode(data: bytes | str) -> WebSocketMessage:
    """Parse a client frame (bytes: binary protobuf; str: JSON mapping)."""
    msg = WebSocketMessage()
    try:
        if isinstance(data, str):
            json_format.Parse(data, msg, ignore_unknown_fields=True)
        else:
            msg.ParseFromString(data)
    except (DecodeError, json_format.ParseError, RecursionError, ValueError) as exc:
        # DecodeError: truncated, garbage, invalid UTF-8 or nested past 100 levels.
        raise BadFrame(str(exc) or type(exc).__name__) from None
    msg.DiscardUnknownFields()
    return msg


def to_json(msg: WebSocketMessage) -> str:
    return json_format.MessageToJson(msg, indent=None)


class Outgoing:
    """One server message, encoded once per format however many connections receive it:
    as protobuf, as JSON, and each as a whole WebSocket frame ready for a socket."""

    __slots__ = ("__dict__", "frame")

    def __init__(self, frame: bytes) -> None:
        self.frame = frame

    @classmethod
    def of(cls, msg: WebSocketMessage) -> Outgoing:
        return cls(msg.SerializeToString())

    @cached_property
    def kind(self) -> str:
        """The payload's name ("task_updated"), for counting."""
        return payload_kind(self.frame)

    @cached_property
    def text(self) -> str:
        msg = WebSocketMessage()
        msg.ParseFromString(self.frame)
        return to_json(msg)

    @cached_property
    def wire(self) -> bytes:
        return ws_frame(OP_BINARY, self.frame)

    @cached_property
    def wire_text(self) -> bytes:
        return ws_frame(OP_TEXT, self.text.encode())


class Joined:
    """Several broadcast messages for the same receivers, in order, as one write: each
    format's whole frames one after another, joined once for all the connections."""

    __slots__ = ("__dict__", "parts")

    def __init__(self, parts: list[Outgoing]) -> None:
        self.parts = parts

    @cached_property
    def wire(self) -> bytes:
        return b"".join([out.wire for out in self.parts])

    @cached_property
    def wire_text(self) -> bytes:
        return b"".join([out.wire_text for out in self.parts])


_PAYLOADS = {f.number: f.name for f in WebSocketMessage.DESCRIPTOR.oneofs_by_name["payload"].fields}
_MESSAGE_ID = WebSocketMessage.DESCRIPTOR.fields_by_name["message_id"].number


def payload_kind(frame: bytes) -> str:
    """The payload member of an encoded WebSocketMessage, read from its first tags
    (message_id, when set, comes first); "none" when there is no known one."""
    pos = 0
    try:
        while pos < len(frame):
            tag, pos = read_varint(frame, pos)
            number = tag >> 3
            if number != _MESSAGE_ID:
                return _PAYLOADS.get(number, "none")
            size, pos = read_varint(frame, pos)
            pos += size
    except ValueError:
        pass
    return "none"


def ws_frame(opcode: int, payload: bytes) -> bytes:
    """A whole, final, unmasked WebSocket frame (RFC 6455 5.2), as a server sends it.

    A server frame's header depends only on the payload, so a broadcast is framed once and
    the same bytes go to every socket, instead of framing per connection.
    """
    first = 0x80 | opcode
    n = len(payload)
    if n < 126:
        header = struct.pack("!BB", first, n)
    elif n < 65536:
        header = struct.pack("!BBH", first, 126, n)
    else:
        header = struct.pack("!BBQ", first, 127, n)
    return header + payload

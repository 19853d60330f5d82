"""Turning frames into envelopes and back, in binary protobuf or the protobuf JSON mapping.

Every envelope from a client has its unknown fields discarded here, before anything
else sees it, so nothing a client invents is ever stored or relayed.
"""

from __future__ import annotations

from functools import cached_property

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from tandem.v1 import websocket_pb2

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
    """One server message, encoded once per format however many connections receive it."""

    __slots__ = ("__dict__", "frame")

    def __init__(self, frame: bytes) -> None:
        self.frame = frame

    @classmethod
    def of(cls, msg: WebSocketMessage) -> Outgoing:
        return cls(msg.SerializeToString())

    @cached_property
    def text(self) -> str:
        msg = WebSocketMessage()
        msg.ParseFromString(self.frame)
        return to_json(msg)

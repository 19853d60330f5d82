"""The frames a client sends on a WebSocket (RFC 6455 section 5), parsed without any I/O.

``FrameReader.feed`` takes bytes as they arrive and returns the whole messages and
control frames in them; nothing is kept between calls but the bytes of a frame not yet
complete and the parts of a fragmented message. It enforces what a server must (5.1:
every client frame masked; 5.2: no reserved bits, as no extension is negotiated; 5.4:
continuations only inside a fragmented message; 5.5: control frames whole and at most
125 bytes; 5.5.1: a valid close code and a UTF-8 reason; 8.1: text is UTF-8) and the
server's size limit, checked from a frame's header before its payload is buffered.

Why not a library: aiohttp's own reader (C-accelerated) only feeds aiohttp's
``WebSocketDataQueue`` (a compiled type that pauses aiohttp's protocol and hands
messages to an awaiting reader task), so using it means a queue, a reader object with
its buffers and a task per connection (~1.5 KiB of the ~17 KiB an idle, subscribed
connection cost under aiohttp, measured with tracemalloc; ~4 KiB in all now). ``wsproto``
is pure Python with a frame and event object per message and several objects per
connection. This reader is
one object of five slots per connection, and a small frame costs one header check and
one XOR (the unmasking, done on integers, so in C).
"""

from __future__ import annotations

import struct
from typing import Final

from server.realtime.protocol import CloseCode

OP_CONTINUATION: Final = 0x0
OP_TEXT: Final = 0x1
OP_BINARY: Final = 0x2
OP_CLOSE: Final = 0x8
OP_PING: Final = 0x9
OP_PONG: Final = 0xA

#: RFC 6455 7.4: codes a peer may send in a close frame (1005, 1006 and 1015 never go on
#: the wire; 3000-4999 are for libraries and applications).
_SENDABLE_CLOSE_CODES: Final = frozenset(
    {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014}
)
#: RFC 6455 7.1.5: the code of a close frame that carried none.
NO_STATUS: Final = 1005

PROTOCOL_ERROR: Final = CloseCode.PROTOCOL_ERROR
INVALID_PAYLOAD: Final = CloseCode.INVALID_PAYLOAD
MESSAGE_TOO_BIG: Final = CloseCode.MESSAGE_TOO_BIG

_LEN16 = struct.Struct("!H")
_LEN64 = struct.Struct("!Q")


class FrameError(Exception):
    """The client broke the protocol: close with ``code`` (and ``reason``)."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def unmask(payload: bytes, mask: bytes) -> bytes:
    """XOR ``payload`` with the repeated 4-byte ``mask`` (RFC 6455 5.3)."""
    n = len(payload)
    if not n:
        return b""
    key = (mask * ((n + 3) // 4))[:n]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(key, "little")).to_bytes(n, "little")


def close_payload(code: int, reason: str) -> bytes:
    """The payload of a close frame: the code and at most 123 bytes of reason (5.5.1)."""
    raw = reason.encode()[:123]
    # A cut must not leave half a character: drop any partial one at the end.
    raw = raw.decode("utf-8", "ignore").encode()
    return _LEN16.pack(code) + raw


Message = tuple[int, "bytes | str | int"]


class FrameReader:
    """Turns a client's bytes into ``(opcode, payload)`` pairs.

    Data messages come whole (fragments joined): ``(OP_BINARY, bytes)`` or
    ``(OP_TEXT, str)``. Control frames: ``(OP_PING, bytes)``, ``(OP_PONG, bytes)`` and
    ``(OP_CLOSE, code)``, with ``NO_STATUS`` for a close frame without a code.
    """

    __slots__ = ("_buffer", "_kind", "_parts", "_size", "max_size")

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        # The bytes of a frame not yet whole (b"" between frames, the usual case).
        self._buffer = b""
        # A fragmented message being received: its opcode, parts and size so far.
        self._kind = 0
        self._parts: list[bytes] | None = None
        self._size = 0

    def feed(self, data: bytes) -> list[Message]:
        buf = self._buffer + data if self._buffer else data
        out: list[Message] = []
        pos, end = 0, len(buf)
        while end - pos >= 2:
            first, second = buf[pos], buf[pos + 1]
            if first & 0x70:
                raise FrameError(PROTOCOL_ERROR, "reserved bits set (no extension was agreed)")
            if not second & 0x80:
                raise FrameError(PROTOCOL_ERROR, "a client's frames must be masked")
            opcode = first & 0x0F
            fin = first & 0x80
            length = second & 0x7F
            head = pos + 2
            if length == 126:
                if end - pos < 4:
                    break
                length = _LEN16.unpack_from(buf, head)[0]
                head += 2
            elif length == 127:
                if end - pos < 10:
                    break
                length = _LEN64.unpack_from(buf, head)[0]
                head += 8
            if opcode >= OP_CLOSE:
                if opcode > OP_PONG:
                    raise FrameError(PROTOCOL_ERROR, f"unknown opcode {opcode:#x}")
                if not fin or length > 125:
                    raise FrameError(PROTOCOL_ERROR, "a control frame must be whole and short")
            else:
                if opcode > OP_BINARY:
                    raise FrameError(PROTOCOL_ERROR, f"unknown opcode {opcode:#x}")
                # Known from the header: a frame too big is refused before it is buffered.
                if self._size + length > self.max_size:
                    raise FrameError(
                        MESSAGE_TOO_BIG, f"a message may be at most {self.max_size} bytes"
                    )
            stop = head + 4 + length
            if stop > end:
                break
            payload = unmask(buf[head + 4 : stop], buf[head : head + 4])
            pos = stop
            if opcode >= OP_CLOSE:
                out.append((opcode, _close_code(payload) if opcode == OP_CLOSE else payload))
                if opcode == OP_CLOSE:
                    pos = end  # nothing after a close frame counts (5.5.1)
                    break
                continue
            parts = self._parts
            if opcode == OP_CONTINUATION:
                if parts is None:
                    raise FrameError(PROTOCOL_ERROR, "a continuation with nothing to continue")
                parts.append(payload)
                self._size += length
                if not fin:
                    continue
                opcode, payload = self._kind, b"".join(parts)
                self._parts, self._size = None, 0
            elif parts is not None:
                raise FrameError(PROTOCOL_ERROR, "a new message inside a fragmented one")
            elif not fin:
                self._kind, self._parts, self._size = opcode, [payload], length
                continue
            if opcode == OP_TEXT:
                try:
                    out.append((OP_TEXT, payload.decode()))
                except UnicodeDecodeError:
                    raise FrameError(INVALID_PAYLOAD, "a text frame that is not UTF-8") from None
            else:
                out.append((OP_BINARY, payload))
        self._buffer = buf[pos:] if pos < end else b""
        return out


def _close_code(payload: bytes) -> int:
    if not payload:
        return NO_STATUS
    if len(payload) == 1:
        raise FrameError(PROTOCOL_ERROR, "a close frame's code takes two bytes")
    code: int = _LEN16.unpack_from(payload)[0]
    if code not in _SENDABLE_CLOSE_CODES and not 3000 <= code <= 4999:
        raise FrameError(PROTOCOL_ERROR, f"close code {code} may not be sent")
    try:
        payload[2:].decode()
    except UnicodeDecodeError:
        raise FrameError(INVALID_PAYLOAD, "a close reason that is not UTF-8") from None
    return code

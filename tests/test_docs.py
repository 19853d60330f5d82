"""The protocol page names everything a client in another language must handle."""

from __future__ import annotations

import re
from pathlib import Path

from tandem.v1 import errors_pb2, websocket_pb2

from server.realtime.protocol import CloseCode

PROTOCOL = Path(__file__).resolve().parent.parent / "docs" / "protocol.md"


def test_protocol_page_names_every_message_error_code_and_close_code() -> None:
    text = PROTOCOL.read_text(encoding="utf-8")
    payload = websocket_pb2.WebSocketMessage.DESCRIPTOR.oneofs_by_name["payload"]
    missing = [f.name for f in payload.fields if not re.search(rf"\b{f.name}\b", text)]
    missing += [
        name
        for name in errors_pb2.ErrorCode.keys()  # noqa: SIM118 - an enum wrapper, not a dict
        if name != "ERROR_CODE_UNSPECIFIED"
        and not re.search(rf"\b({name}|{name.removeprefix('ERROR_CODE_')})\b", text)
    ]
    missing += [f"close {int(c)}" for c in CloseCode if str(int(c)) not in text]
    assert not missing, f"docs/protocol.md does not describe: {', '.join(missing)}"

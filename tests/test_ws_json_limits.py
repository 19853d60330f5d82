"""``?format=json`` frames: size and rate limits apply before parsing (checklist row 24).

JSON costs about ten times as much to parse as binary protobuf, so the debugging format
has a far smaller frame limit, and a connection's JSON is parsed no faster than its byte
budget: past the burst, the next frame waits unparsed.
"""

from __future__ import annotations

import json
import time
from typing import Any

import aiohttp
from tandem.v1 import commands_pb2

from server.realtime.protocol import (
    JSON_BURST_BYTES,
    JSON_BYTES_PER_SECOND,
    MAX_JSON_FRAME_BYTES,
    CloseCode,
)
from tests.fixtures import NewServer
from tests.ws_client import WsClient, ws_url

FRAME_BYTES = 60 * 1024


def padded(message_id: str, size: int) -> str:
    """A valid JSON command of about ``size`` bytes (an unknown field carries the bulk)."""
    body: dict[str, Any] = {"messageId": message_id, "unsubscribe": {"subscriptionId": "none"}}
    body["padding"] = "x" * max(0, size - len(json.dumps(body)) - 16)
    return json.dumps(body)


async def test_a_json_frame_over_the_json_limit_is_closed_unparsed(
    session: aiohttp.ClientSession, new_server: NewServer
) -> None:
    server = await new_server()  # the binary limit stays 1 MiB
    client = await WsClient.connect(session, ws_url(server), as_json=True)
    await client.ws.send_str(padded("big", MAX_JSON_FRAME_BYTES + 4096))
    assert await client.wait_closed() == CloseCode.MESSAGE_TOO_BIG
    assert not [m for m in client.received if m.message_id == "big"]
    # A binary frame of that size is still taken on the binary endpoint (answered, not closed).
    binary = await WsClient.connect(session, ws_url(server))
    big = "x" * (MAX_JSON_FRAME_BYTES + 4096)
    reply = await binary.request(unsubscribe=commands_pb2.Unsubscribe(subscription_id=big))
    assert reply.HasField("reject") and not binary.closed.is_set()
    await binary.close()


async def test_json_is_parsed_no_faster_than_its_byte_budget(
    session: aiohttp.ClientSession, new_server: NewServer
) -> None:
    server = await new_server()
    client = await WsClient.connect(session, ws_url(server), as_json=True)
    count = JSON_BURST_BYTES // FRAME_BYTES + 3
    started = time.monotonic()
    for i in range(count):
        await client.ws.send_str(padded(f"j{i}", FRAME_BYTES))
    await client.wait_until(
        lambda: sum(m.message_id.startswith("j") for m in client.received) == count, 30
    )
    elapsed = time.monotonic() - started
    # Every frame was answered, and not before the budget allowed (a lower bound: load
    # only makes it later).
    over = count * FRAME_BYTES - JSON_BURST_BYTES
    assert elapsed >= 0.9 * over / JSON_BYTES_PER_SECOND, elapsed
    assert all(m.HasField("reject") for m in client.received if m.message_id.startswith("j"))
    await client.close()

"""Logs: one JSON object a line, naming the connection and member, with no credential."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from server.monitoring import logs
from tests.fixtures import TandemServer
from tests.ws_client import WsClient, poll_until, ws_url


@pytest.fixture
def log_dir(tmp_path: Path) -> Iterator[Path]:
    """Logging set up into a folder for the test, and put back as it was after it."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    folder = tmp_path / "logs"
    logs.setup_logging(level="debug", log_dir=folder, console=False)
    try:
        yield folder
    finally:
        for handler in list(root.handlers):
            if handler not in handlers:
                root.removeHandler(handler)
                handler.close()
        root.setLevel(level)


def records(folder: Path) -> list[dict[str, Any]]:
    for handler in logging.getLogger().handlers:
        handler.flush()
    text = (folder / logs.LOG_FILE).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


async def test_a_connections_log_lines_name_it_and_its_member(
    log_dir: Path, session: aiohttp.ClientSession, server: TandemServer
) -> None:
    client = await WsClient.connect(session, ws_url(server))
    welcome = client.hello_welcome
    await client.close()
    await client.wait_closed()

    def closed() -> list[dict[str, Any]]:
        return [r for r in records(log_dir) if r["message"].startswith("disconnected")]

    await poll_until(lambda: bool(closed()))
    line = closed()[0]
    assert line["connection"] == welcome.connection_id
    assert line["member"] == welcome.member.id
    assert line["level"] == "DEBUG" and line["logger"] == "server.realtime.endpoint"
    assert line["message"] == "disconnected: 1000 normal"
    assert line["asctime"].endswith("Z")
    opened = [r for r in records(log_dir) if r["message"].startswith("connected from")]
    assert opened[0]["connection"] == welcome.connection_id and "member" not in opened[0]


async def test_credentials_never_reach_the_log_file(log_dir: Path, server: TandemServer) -> None:
    logging.getLogger("tests.credentials").warning(
        "asked for /join?token=SECRET-TOKEN with Authorization: Bearer SECRET-BEARER"
    )
    text = (log_dir / logs.LOG_FILE).read_text(encoding="utf-8")
    line = json.loads(text.splitlines()[-1])
    assert "SECRET" not in text
    assert "[redacted]" in line["message"]
    # The same warning is kept for the diagnostics page.
    assert logs.RECENT.snapshot()[-1].message == line["message"]

"""The protocol page names everything a client in another language must handle."""

from __future__ import annotations

import re
from pathlib import Path

import aiohttp
from prometheus_client.parser import text_string_to_metric_families
from tandem.v1 import errors_pb2, websocket_pb2

from server.realtime.protocol import CloseCode
from tests.fixtures import TandemServer

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


def test_security_page_states_the_limits_the_code_has() -> None:
    """docs/security.md quotes the connection limits; they must be the ones in force."""
    from server.config import ServerConfig
    from server.domain import idempotency, validate
    from server.realtime import protocol
    from server.security import invites, throttle

    text = (PROTOCOL.parent / "security.md").read_text(encoding="utf-8")
    config = ServerConfig()
    stated = {
        "idle timeout": f"within {config.idle_timeout_seconds:g} seconds of opening",
        "body timeout": f"body within {config.body_timeout_seconds:g} seconds",
        "hello timeout": f"hello within {config.hello_timeout_seconds:g} seconds",
        "waiting per address": f"at most {config.lan_unauthenticated_per_address} connections per",
        "per person": f"may hold {protocol.MAX_CONNECTIONS_PER_MEMBER} live connections",
        "per address": f"address {protocol.MAX_CONNECTIONS_PER_ADDRESS}; one more",
        "close code": f"code {int(protocol.CloseCode.TOO_MANY_CONNECTIONS)}",
        "JSON frame": f"at most {protocol.MAX_JSON_FRAME_BYTES // 1024} KiB",
        "JSON rate": f"no more than {protocol.JSON_BYTES_PER_SECOND // 1024} KiB a second",
        "sessions": f"at most {invites.MAX_SESSIONS_PER_INVITE} browsers",
        "id length": f"at most {validate.MAX_ID_LENGTH} characters, any other",
        "text length": f"at most {validate.MAX_TEXT_LENGTH:,} characters",
        "answers kept": f"at most {idempotency.BUDGET_BYTES // (1024 * 1024)} MiB of answers",
        "free mistakes": f"after the first {_word(throttle.ThrottlePolicy().free_failures)}",
    }
    flat = " ".join(text.split())
    missing = [name for name, phrase in stated.items() if phrase not in flat]
    assert not missing, f"docs/security.md does not state: {', '.join(missing)}"


def _word(n: int) -> str:
    return {5: "five"}.get(n, str(n))


async def test_monitoring_page_lists_exactly_the_metrics_served(server: TandemServer) -> None:
    """docs/monitoring.md's table names every metric family /metrics serves, and no other."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(server.make_url("/metrics")) as response,
    ):
        text = await response.text()
    served = set()
    for family in text_string_to_metric_families(text):
        served.add(family.name + ("_total" if family.type == "counter" else ""))
    page = (PROTOCOL.parent / "monitoring.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `(tandem_[a-z_]+)` \|", page, re.MULTILINE))
    assert documented == served


def test_protocol_page_states_how_late_an_inbox_update_may_come() -> None:
    from server.domain import upkeep

    flat = " ".join(PROTOCOL.read_text(encoding="utf-8").split())
    assert f"at most {upkeep.UPKEEP_INTERVAL:g} seconds later" in flat

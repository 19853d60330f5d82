"""The loopback listener answers this machine's WebSocket upgrades itself
(server.realtime.upgrade) and hands everything else to aiohttp: pinned on real sockets.

Each refusal is compared with what a plain aiohttp listener of the same application answers
to the same bytes (same status, same body), so the shortcut can never let in, or turn away,
what the request guard would not.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import struct
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from tandem.v1 import commands_pb2, errors_pb2

from server.appkeys import DOMAIN
from server.realtime import HUB
from server.realtime.endpoint import accept_value
from server.realtime.protocol import PROTOCOL_VERSION
from server.realtime.upgrade import UpgradeSite
from server.security import invites, join, sharing
from server.security.headers import SECURITY_HEADERS
from server.security.state import SECURITY, SESSION_COOKIE
from tests.fixtures import LAN_PEER, OTHER_PEER, NewServer, TandemServer
from tests.test_security_support import make_invite
from tests.ws_client import Msg, poll_until

KEY = base64.b64encode(b"sixteen byte key").decode()
HELLO = Msg(
    message_id="h", hello=commands_pb2.Hello(protocol_version=PROTOCOL_VERSION, client_id="up")
).SerializeToString()


def masked(payload: bytes, opcode: int = 0x2) -> bytes:
    mask = os.urandom(4)
    assert len(payload) < 126
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return struct.pack("!BB", 0x80 | opcode, 0x80 | len(payload)) + mask + body


def upgrade_head(port: int, *, path: str = "/ws", method: str = "GET", **fields: str) -> bytes:
    """A browser's upgrade head; ``fields`` replace (or, as "", drop) its headers."""
    headers = {
        "Host": f"127.0.0.1:{port}",
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": KEY,
        "Sec-WebSocket-Version": "13",
        "Origin": f"http://127.0.0.1:{port}",
    }
    headers.update({k.replace("_", "-"): v for k, v in fields.items()})
    lines = [f"{method} {path} HTTP/1.1"] + [f"{k}: {v}" for k, v in headers.items() if v]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


async def read_answer(reader: asyncio.StreamReader, *, with_body: bool = True) -> Answer:
    """One HTTP answer; ``with_body`` False for a HEAD's (its Content-Length is a GET's)."""
    async with asyncio.timeout(10):
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        body = await reader.readexactly(length) if status != 101 and with_body else b""
        return Answer(status, headers, body)


async def exchange(
    port: int,
    *parts: bytes,
    local_addr: str = "127.0.0.1",
    pause: float = 0.0,
    host: str = "127.0.0.1",
) -> tuple[Answer, asyncio.StreamReader, asyncio.StreamWriter]:
    """Send ``parts`` (each in a packet of its own, ``pause`` apart) and read one answer."""
    reader, writer = await asyncio.open_connection(host, port, local_addr=(local_addr, 0))
    for i, part in enumerate(parts):
        if i and pause:
            await asyncio.sleep(pause)  # the bytes go out in packets of their own
        writer.write(part)
        await writer.drain()
    with_body = not (parts and parts[0].startswith(b"HEAD "))
    return await read_answer(reader, with_body=with_body), reader, writer


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One unmasked frame from the server: (first byte, payload)."""
    async with asyncio.timeout(10):
        first, length = await reader.readexactly(2)
        if length == 126:
            (length,) = struct.unpack("!H", await reader.readexactly(2))
        return first, await reader.readexactly(length)


async def answer_to(
    port: int, *parts: bytes, local_addr: str = "127.0.0.1", pause: float = 0.0
) -> Answer:
    answer, _, writer = await exchange(port, *parts, local_addr=local_addr, pause=pause)
    writer.close()
    return answer


@contextlib.asynccontextmanager
async def plain_listener(server: TandemServer) -> AsyncIterator[int]:
    """A plain aiohttp listener of the same application: the guard answers all it gets."""
    site = web.TCPSite(server.runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield site.port
    finally:
        await site.stop()


@pytest.fixture
async def plain_port(server: TandemServer) -> AsyncIterator[int]:
    async with plain_listener(server) as port:
        yield port


def requests_seen(server: TandemServer) -> int:
    """Requests that reached aiohttp's handler on any listener."""
    factory = server.runner.server
    assert factory is not None
    return int(factory.requests_count)


def test_the_loopback_listener_is_the_upgrade_listener(server: TandemServer) -> None:
    assert isinstance(server.site, UpgradeSite)


async def test_an_upgrade_from_this_machine_is_answered_without_aiohttp(
    server: TandemServer,
) -> None:
    before = requests_seen(server)
    # The hello in the same packet as the head: the connection reads it as its first frame.
    answer, reader, writer = await exchange(server.port, upgrade_head(server.port) + masked(HELLO))
    assert answer.status == 101
    assert answer.headers["sec-websocket-accept"] == accept_value(KEY)
    assert answer.headers["upgrade"] == "websocket"
    for name, value in SECURITY_HEADERS.items():
        assert answer.headers[name.lower()] == value
    first, payload = await read_frame(reader)
    welcome = Msg.FromString(payload)
    assert first == 0x82 and welcome.ack.welcome.connection_id
    assert requests_seen(server) == before
    assert welcome.ack.welcome.connection_id in {
        c.connection_id for c in server.app[HUB].connections()
    }
    writer.close()


REFUSED = {
    "foreign origin": {"Origin": "http://evil.example"},
    "foreign host": {"Host": "evil.example"},
    "bad key": {"Sec_WebSocket_Key": "short"},
    "no key": {"Sec_WebSocket_Key": ""},
    "bad version": {"Sec_WebSocket_Version": "12"},
    "no upgrade in Connection": {"Connection": "keep-alive"},
    "upgrade to something else": {"Upgrade": "h2c"},
}


@pytest.mark.parametrize("case", sorted(REFUSED))
async def test_a_refused_upgrade_gets_the_guards_own_answer(
    server: TandemServer, plain_port: int, case: str
) -> None:
    ours = await answer_to(server.port, upgrade_head(server.port, **REFUSED[case]))
    plain = await answer_to(plain_port, upgrade_head(plain_port, **REFUSED[case]))
    assert ours.status == plain.status and ours.status in (400, 403, 421)
    assert ours.body == plain.body


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/ws"), ("HEAD", "/ws"), ("GET", "/ws?format=xml"), ("GET", "/wsx"), ("PUT", "/ws")],
)
async def test_other_methods_and_paths_get_aiohttps_answer(
    server: TandemServer, plain_port: int, method: str, path: str
) -> None:
    ours = await answer_to(server.port, upgrade_head(server.port, method=method, path=path))
    plain = await answer_to(plain_port, upgrade_head(plain_port, method=method, path=path))
    assert ours.status == plain.status
    assert ours.body == plain.body
    if method == "HEAD":  # no handshake, on either listener (aiohttp's GET routes take HEAD)
        assert ours.status == 405


async def test_two_host_headers_get_the_guards_answer(
    server: TandemServer, plain_port: int
) -> None:
    def head(port: int) -> bytes:
        return upgrade_head(port).replace(b"\r\n\r\n", b"\r\nHost: evil.example\r\n\r\n")

    ours = await answer_to(server.port, head(server.port))
    plain = await answer_to(plain_port, head(plain_port))
    # aiohttp's parser refuses it before the guard would (which refuses it with 421)
    assert ours.status == plain.status == 400
    assert ours.body == plain.body


@pytest.mark.parametrize("body", ["Content-Length: 5", "Transfer-Encoding: chunked"])
async def test_an_upgrade_with_a_body_gets_aiohttps_answer(
    server: TandemServer, plain_port: int, body: str
) -> None:
    def head(port: int) -> bytes:
        return upgrade_head(port).replace(b"\r\n\r\n", f"\r\n{body}\r\n\r\nhello".encode())

    before = requests_seen(server)
    ours = await answer_to(server.port, head(server.port))
    assert requests_seen(server) == before + 1  # aiohttp's to answer, not the shortcut's
    plain = await answer_to(plain_port, head(plain_port))
    assert ours.status == plain.status
    assert ours.body == plain.body


async def test_an_oversize_head_gets_aiohttps_answer(server: TandemServer, plain_port: int) -> None:
    def head(port: int) -> bytes:
        return upgrade_head(port, X_Padding="x" * 20_000)

    ours = await answer_to(server.port, head(server.port))
    plain = await answer_to(plain_port, head(plain_port))
    assert ours.status == plain.status and ours.status in (400, 431)
    assert ours.body == plain.body


async def test_an_upgrade_split_across_packets_still_upgrades(server: TandemServer) -> None:
    head = upgrade_head(server.port)
    before = requests_seen(server)
    answer, _, writer = await exchange(server.port, head[:20], head[20:], pause=0.05)
    assert answer.status == 101
    assert requests_seen(server) == before + 1  # through aiohttp this time
    writer.close()


async def test_plain_requests_reach_aiohttp_intact_pipelined_or_split(
    server: TandemServer, plain_port: int
) -> None:
    get = f"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n\r\n".encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(get + get)  # pipelined, in one packet
    await writer.drain()
    first, second = await read_answer(reader), await read_answer(reader)
    assert first.status == second.status == 200 and first.body == second.body
    writer.close()
    # The first bytes alone say nothing yet: aiohttp gets them and the rest as they come.
    split = await answer_to(server.port, get[:2], get[2:], pause=0.05)
    assert split.status == 200 and split.body == first.body

    # A request whose first bytes look like an upgrade's, for another path (the web UI's).
    def other(port: int) -> bytes:
        return f"GET /wsdl HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()

    ours, plain = (
        await answer_to(server.port, other(server.port)),
        await answer_to(plain_port, other(plain_port)),
    )
    assert ours.status == plain.status == 200 and ours.body == plain.body


async def test_a_connection_that_sends_nothing_or_half_a_head_is_closed_in_time(
    new_server: NewServer,
) -> None:
    server = await new_server(idle_timeout_seconds=0.5)
    for first in (b"", upgrade_head(server.port)[:30]):
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        if first:
            writer.write(first)
            await writer.drain()
        async with asyncio.timeout(10):
            assert await reader.read() == b""  # closed by the server, nothing answered
        writer.close()


async def test_joiners_past_the_places_wait_for_one_then_get_in(
    new_server: NewServer,
) -> None:
    server = await new_server(hello_timeout_seconds=0.5)
    hub = server.app[HUB]
    places = hub.joining
    # Every place taken by upgrades that never say hello.
    silent = [await exchange(server.port, upgrade_head(server.port)) for _ in range(places.free)]
    assert places.free == 0
    # Their hellos come before their 101 (in a packet of their own): kept for them.
    waiting = [
        asyncio.ensure_future(
            exchange(server.port, upgrade_head(server.port), masked(HELLO), pause=0.05)
        )
        for _ in range(3)
    ]
    got = await asyncio.gather(*waiting)  # the silent ones time out and free their places
    assert all(answer.status == 101 for answer, _, _ in got)
    for _, reader, writer in got:
        _, payload = await read_frame(reader)
        assert Msg.FromString(payload).ack.welcome.connection_id
        writer.close()
    for _, _, writer in silent:
        writer.close()


# --- LAN peers: the same shortcut, after the guard's own credential check ------------------


@pytest.fixture
async def shared(lan_server: TandemServer) -> TandemServer:
    await lan_server.share()
    return lan_server


def lan_head(port: int, credential: str = "", host: str = "127.0.0.1") -> bytes:
    """A program's upgrade head from the LAN (no Origin) to ``host``; ``credential`` is a
    header line."""
    name, _, value = credential.partition(": ")
    fields = {"Origin": "", "Host": f"{host}:{port}"}
    if name:
        fields[name] = value
    return upgrade_head(port, **fields)


async def test_a_lan_invitees_upgrade_is_answered_without_aiohttp_on_a_token_or_a_cookie(
    shared: TandemServer, credential_lookups: list[tuple[str, str]]
) -> None:
    port = shared.port
    _, token = await make_invite(shared, "editor")
    opened = await shared.app[DOMAIN].write(invites.open_session, token)
    assert opened is not None
    session = opened[1]
    for credential, kind in (
        (f"Authorization: Bearer {token}", invites.TOKEN),
        # A browser's: other cookies around it, as a page on this host may set.
        (f"Cookie: theme=dark; {SESSION_COOKIE}={session}; lang=en", invites.SESSION),
    ):
        credential_lookups.clear()
        before = requests_seen(shared)
        head = lan_head(port, credential)
        answer, reader, writer = await exchange(port, head + masked(HELLO), local_addr=LAN_PEER)
        assert answer.status == 101
        _, payload = await read_frame(reader)
        welcome = Msg.FromString(payload).ack.welcome
        assert welcome.member.display_name == "Ana"
        assert requests_seen(shared) == before  # not aiohttp's
        # One lookup: the hello took the upgrade's.
        assert [k for k, _ in credential_lookups] == [kind]
        writer.close()


@pytest.mark.parametrize(
    "cookie",
    [
        "",
        f"{SESSION_COOKIE}=abc",
        f"a=1; {SESSION_COOKIE}=first; {SESSION_COOKIE}=second",
        f'{SESSION_COOKIE}="quoted value"; other=x',
        f"  {SESSION_COOKIE} = spaced ;",
        f"broken; {SESSION_COOKIE}=after-broken",
        f"{SESSION_COOKIE.upper()}=other-case",
    ],
)
def test_the_session_cookie_is_read_from_a_head_as_aiohttp_reads_a_requests(cookie: str) -> None:
    """The listener's own upgrade has no request: it reads the credential from the parsed
    head's headers, and must find what the guard finds in ``request.cookies``."""
    request = make_mocked_request("GET", "/ws", headers={"Cookie": cookie} if cookie else {})
    assert join.session_cookie(request.headers) == request.cookies.get(SESSION_COOKIE)


LAN_REFUSED = {
    "no credential": "",
    "an empty bearer": "Authorization: Bearer",
    "another scheme": "Authorization: Basic YW5hOmFuYQ==",
    "a wrong token": "Authorization: Bearer wrong",
    "a revoked token": "Authorization: Bearer {revoked}",
    "a wrong cookie": f"Cookie: {SESSION_COOKIE}=wrong",
}


@pytest.mark.parametrize("case", sorted(LAN_REFUSED))
async def test_a_refused_lan_upgrade_gets_the_guards_answer_counted_and_looked_up_once(
    shared: TandemServer, case: str, credential_lookups: list[tuple[str, str]]
) -> None:
    revoked_id, revoked = await make_invite(shared, "viewer", "Bo")
    await shared.app[DOMAIN].write(invites.revoke, revoked_id)
    credential = LAN_REFUSED[case].format(revoked=revoked)
    throttle = shared.app[SECURITY].throttle
    answers, counted, looked_up = [], [], []
    async with plain_listener(shared) as plain_port:
        for port in (shared.port, plain_port):
            failures, lookups = throttle.failures_total, len(credential_lookups)
            answers.append(await answer_to(port, lan_head(port, credential), local_addr=LAN_PEER))
            counted.append(throttle.failures_total - failures)
            looked_up.append(len(credential_lookups) - lookups)
    ours, plain = answers
    assert ours.status == plain.status == 401
    assert ours.body == plain.body
    assert ours.headers.get("set-cookie") == plain.headers.get("set-cookie")
    # Each wrong credential counts against the address once, as through aiohttp alone, and
    # costs one lookup: the guard does not look again for what the listener found no one.
    assert counted[0] == counted[1] == (0 if case == "no credential" else 1)
    wrong = case in ("a wrong token", "a revoked token", "a wrong cookie")
    assert looked_up[0] == looked_up[1] == (1 if wrong else 0)
    assert not shared.app[SECURITY].unfound  # nothing kept once the guard has answered


async def test_a_credential_the_listener_found_no_one_behind_is_refused_only_on_its_connection(
    shared: TandemServer, credential_lookups: list[tuple[str, str]]
) -> None:
    """The guard skips its lookup only for the first request of the connection the listener
    handed over, with the credential it looked up: the same token on another connection, or
    valid by then, is looked up as ever."""
    _, token = await make_invite(shared, "editor")
    state = shared.app[SECURITY]
    wrong = f"Authorization: Bearer {token}x"
    answer = await answer_to(shared.port, lan_head(shared.port, wrong), local_addr=LAN_PEER)
    assert answer.status == 401
    assert len(credential_lookups) == 1
    # A valid token right after, from the same address: looked up, and let in.
    credential_lookups.clear()
    head = lan_head(shared.port, f"Authorization: Bearer {token}")
    reply, _, writer = await exchange(shared.port, head, local_addr=LAN_PEER)
    assert reply.status == 101
    assert len(credential_lookups) == 1
    writer.close()
    assert not state.unfound


async def test_a_lan_address_held_back_gets_the_guards_answer_and_no_lookup(
    shared: TandemServer, credential_lookups: list[tuple[str, str]]
) -> None:
    _, token = await make_invite(shared, "editor")
    throttle = shared.app[SECURITY].throttle
    for _ in range(throttle.policy.lockout_after):
        throttle.failed(LAN_PEER)
    credential = f"Authorization: Bearer {token}"
    async with plain_listener(shared) as plain_port:
        ours = await answer_to(shared.port, lan_head(shared.port, credential), local_addr=LAN_PEER)
        plain = await answer_to(plain_port, lan_head(plain_port, credential), local_addr=LAN_PEER)
    assert ours.status == plain.status == 429
    assert ours.body == plain.body
    assert int(ours.headers["retry-after"]) > 0
    assert credential_lookups == []  # even a valid token waits out the address's lockout
    # Another address is not held back.
    answer, _, writer = await exchange(
        shared.port, lan_head(shared.port, credential), local_addr=OTHER_PEER
    )
    assert answer.status == 101
    writer.close()


async def test_a_lan_upgrade_while_sharing_is_off_gets_the_guards_answer(
    lan_server: TandemServer,
) -> None:
    _, token = await make_invite(lan_server, "editor")
    credential = f"Authorization: Bearer {token}"
    async with plain_listener(lan_server) as plain_port:
        answers = [
            await answer_to(port, lan_head(port, credential), local_addr=LAN_PEER)
            for port in (lan_server.port, plain_port)
        ]
    assert answers[0].status == answers[1].status == 403
    assert answers[0].body == answers[1].body


async def test_access_ended_while_a_lan_upgrades_credential_is_looked_up_is_seen_at_hello(
    shared: TandemServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the lookup found may be stale by the time it answers: the hello looks again."""
    eda_id, token = await make_invite(shared, "editor", "Eda")
    member_id = (await shared.app[DOMAIN].read(invites.find, eda_id)).member_id
    found, release = threading.Event(), threading.Event()
    principals = invites.principals

    def held(asked: list[tuple[str, str]]) -> list[invites.Principal | None]:
        answer = principals(asked)
        found.set()
        release.wait(10)  # the answer is on its way back while access ends
        return answer

    monkeypatch.setattr(invites, "principals", held)
    port = shared.port
    upgrade = asyncio.ensure_future(
        exchange(port, lan_head(port, f"Authorization: Bearer {token}"), local_addr=LAN_PEER)
    )
    await asyncio.to_thread(found.wait, 10)
    sharing.close_member_connections(shared.app, member_id)  # as revoking does, after its write
    release.set()
    answer, reader, writer = await upgrade
    assert answer.status == 101  # what the lookup found
    monkeypatch.setattr(invites, "principals", principals)
    await shared.app[DOMAIN].write(invites.revoke, eda_id)
    writer.write(masked(HELLO))
    _, payload = await read_frame(reader)
    reply = Msg.FromString(payload)
    assert reply.reject.error.code == errors_pb2.ERROR_CODE_UNAUTHENTICATED, reply
    writer.close()


async def test_the_lan_listener_counts_a_connection_until_its_credential_is_found(
    new_server: NewServer,
) -> None:
    """The LAN listener's gate stays in front of the shortcut: a socket counts against its
    address until its upgrade's credential is found, or until it closes."""
    server = await new_server(
        lan=True, lan_host=LAN_PEER, lan_peers_on_loopback=True, idle_timeout_seconds=1.0
    )
    site = server.lan_site
    assert isinstance(site, UpgradeSite) and site.gate is server.app[SECURITY].gate
    gate = site.gate
    assert gate is not None
    port = server.lan_port
    _, token = await make_invite(server, "editor")
    silent = await asyncio.open_connection(LAN_PEER, port, local_addr=(OTHER_PEER, 0))
    await poll_until(lambda: gate.waiting == 1)
    before = requests_seen(server)
    answer, reader, writer = await exchange(
        port,
        lan_head(port, f"Authorization: Bearer {token}", LAN_PEER) + masked(HELLO),
        local_addr=LAN_PEER,
        host=LAN_PEER,
    )
    assert answer.status == 101
    _, payload = await read_frame(reader)
    assert Msg.FromString(payload).ack.welcome.member.display_name == "Ana"
    assert requests_seen(server) == before
    assert gate.waiting == 1  # only the silent one
    # A wrong one is aiohttp's to refuse, and counts until it closes.
    wrong, _, wrong_writer = await exchange(
        port,
        lan_head(port, "Authorization: Bearer wrong", LAN_PEER),
        local_addr=LAN_PEER,
        host=LAN_PEER,
    )
    assert wrong.status == 401
    assert gate.waiting == 2
    wrong_writer.close()
    # The silent one is closed when its first bytes are late, and counts no more.
    async with asyncio.timeout(10):
        assert await silent[0].read() == b""
    await poll_until(lambda: gate.waiting == 0)
    silent[1].close()
    writer.close()

"""LAN sharing over real sockets: checklist rows 4-9 (a LAN peer is played from 127.0.0.2)."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import psycopg
import pytest
from google.protobuf import message_factory
from tandem.v1 import commands_pb2, entities_pb2, errors_pb2, websocket_pb2

from server import paths, security
from server.api.routes import OPERATIONS
from server.command_table import COMMAND_TABLE
from server.config import default_database_url
from server.domain.registry import COMMANDS
from server.security import invites
from server.security.sharing import stop_watcher
from server.security.state import SECURITY, SESSION_COOKIE
from server.security.throttle import CredentialThrottle
from tests.api_client import database_rows
from tests.fixtures import (
    LAN_PEER,
    LOCAL,
    OTHER_PEER,
    TandemServer,
    client_from,
    make_project,
    until_polls_wait,
)
from tests.test_security_support import join, make_invite, project_names
from tests.ws_client import WsClient, ws_url

ROOT = Path(__file__).resolve().parent.parent
#: Row 7's bound: a revoked person's access ends within a second.
WITHIN = 1.0


@pytest.fixture
async def lan() -> AsyncIterator[aiohttp.ClientSession]:
    async with client_from(LAN_PEER) as s:
        yield s


@pytest.fixture
async def local() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def secret_project(
    local: aiohttp.ClientSession, lan_server: TandemServer, name: str = "Secret"
) -> str:
    return str((await make_project(local, lan_server.url, key="SEC", name=name))["id"])


# Row 5 -------------------------------------------------------------------------------


async def test_sharing_off_refuses_the_network_even_with_a_valid_invite(lan_server, lan) -> None:
    _, token = await make_invite(lan_server, "editor")
    for path in ("/api/health", "/api/v1/projects", "/", f"/join?token={token}"):
        async with lan.get(lan_server.make_url(path), headers=bearer(token)) as resp:
            assert resp.status == 403, path
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await lan.ws_connect(ws_url(lan_server), headers=bearer(token))
    assert refused.value.status == 403


# Row 4 -------------------------------------------------------------------------------


async def test_lan_request_without_or_with_a_wrong_or_revoked_credential_gets_no_data(
    lan_server, lan, local
) -> None:
    await secret_project(local, lan_server, "Top secret plans")
    invite_id, token = await make_invite(lan_server, "viewer")
    await lan_server.share()
    wrong = invites.new_secret()
    attempts = [
        {},
        bearer(wrong),
        bearer(""),
        {"Authorization": f"Basic {token}"},
        {"Cookie": f"{SESSION_COOKIE}={wrong}"},
    ]
    for headers in attempts:
        async with lan.get(lan_server.make_url("/api/v1/projects"), headers=headers) as resp:
            assert resp.status == 401, headers
            assert "Top secret" not in await resp.text()
    async with lan.get(lan_server.make_url("/api/v1/projects"), headers=bearer(token)) as resp:
        assert resp.status == 200
        assert "Top secret plans" in await resp.text()
    await security.revoke_invite(lan_server.app, invite_id)
    async with lan.get(lan_server.make_url("/api/v1/projects"), headers=bearer(token)) as resp:
        assert resp.status == 401
        assert "Top secret" not in await resp.text()
    # Those were more mistakes than the throttle lets through; start afresh for the socket.
    lan_server.app[SECURITY].throttle = CredentialThrottle()
    for headers in ({}, bearer(wrong), bearer(token)):
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await lan.ws_connect(ws_url(lan_server), headers=headers)
        assert refused.value.status == 401


async def test_invite_link_is_exchanged_for_a_strict_httponly_cookie(lan_server, local) -> None:
    _, token = await make_invite(lan_server, "viewer")
    await lan_server.share()
    async with client_from(LAN_PEER, cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:
        resp = await join(browser, lan_server.base_url, token, allow_redirects=False)
        assert resp.status == 303
        assert resp.headers["Location"] == "/"
        assert token not in str(resp.headers)
        assert resp.headers["Referrer-Policy"] == "no-referrer"
        assert resp.headers["Cache-Control"] == "no-store"
        set_cookie = resp.headers["Set-Cookie"]
        assert "HttpOnly" in set_cookie
        assert "SameSite=Strict" in set_cookie
        cookie = resp.cookies[SESSION_COOKIE].value
        assert cookie and cookie != token
        async with browser.get(lan_server.make_url("/api/v1/projects")) as resp:
            assert resp.status == 200
        # The session is a separate secret: it is not an invite token.
        async with browser.get(
            lan_server.make_url("/api/v1/projects"), headers=bearer(cookie)
        ) as resp:
            assert resp.status == 401


# Row 6 -------------------------------------------------------------------------------


async def test_viewer_cannot_change_over_rest(lan_server, lan, local) -> None:
    project_id = await secret_project(local, lan_server)
    _, viewer = await make_invite(lan_server, "viewer", "Vic")
    _, editor = await make_invite(lan_server, "editor", "Eda")
    await lan_server.share()
    changes = [
        ("POST", "/api/v1/projects", {"key": "NEW", "name": "New"}),
        ("PATCH", f"/api/v1/projects/{project_id}", {"name": "Renamed"}),
        ("POST", f"/api/v1/projects/{project_id}/tasks", {"title": "t"}),
        ("DELETE", f"/api/v1/projects/{project_id}", None),
    ]
    for method, path, body in changes:
        async with lan.request(
            method, lan_server.make_url(path), json=body, headers=bearer(viewer)
        ) as resp:
            assert resp.status == 403, (method, path)
            assert (await resp.json())["error"]["code"] == "ERROR_CODE_PERMISSION_DENIED"
    assert await project_names(lan_server) == ["Secret"]
    async with lan.get(lan_server.make_url("/api/v1/projects"), headers=bearer(viewer)) as resp:
        assert resp.status == 200
    async with lan.post(
        lan_server.make_url(f"/api/v1/projects/{project_id}/tasks"),
        json={"title": "from the editor"},
        headers=bearer(editor),
    ) as resp:
        assert resp.status in (200, 201), await resp.text()


async def test_viewer_cannot_change_over_websocket(lan_server, lan, local) -> None:
    project_id = await secret_project(local, lan_server)
    _, viewer = await make_invite(lan_server, "viewer", "Vic")
    await lan_server.share()
    client = await WsClient.connect(lan, ws_url(lan_server), headers=bearer(viewer), name="Vic")
    assert client.welcome is not None
    assert client.welcome.member.role == entities_pb2.MEMBER_ROLE_VIEWER
    assert client.welcome.member.display_name == "Vic"
    reply = await client.request(
        create_task=commands_pb2.CreateTask(
            project_id=project_id, task=entities_pb2.Task(title="sneaky")
        )
    )
    assert reply.WhichOneof("payload") == "reject"
    assert reply.reject.error.code == errors_pb2.ERROR_CODE_PERMISSION_DENIED
    async with local.get(lan_server.make_url(f"/api/v1/projects/{project_id}/tasks")) as resp:
        assert "sneaky" not in await resp.text()
    await client.close()


# Row 7 -------------------------------------------------------------------------------


def revoke_elsewhere(lan_server: TandemServer, invite_id: str) -> None:
    """What `tandem invite --revoke` does while the app runs: its own connection (to the
    test's PostgreSQL database when the suites run there: another server's, as it were)."""
    if lan_server.config.database_url:
        with psycopg.connect(lan_server.config.database_url, autocommit=True) as pg:
            pg.execute(
                "UPDATE invite SET revoked_at = %s WHERE id = %s",
                (time.time_ns() // 1000, invite_id),
            )
        return
    conn = sqlite3.connect(paths.database_path(lan_server.data_dir))
    with conn:
        conn.execute(
            "UPDATE invite SET revoked_at = ? WHERE id = ?", (time.time_ns() // 1000, invite_id)
        )
    conn.close()


async def test_revoking_closes_that_persons_sockets_and_cookie(lan_server, local) -> None:
    eda_id, eda = await make_invite(lan_server, "editor", "Eda")
    _, bob = await make_invite(lan_server, "editor", "Bob")
    await lan_server.share()
    async with (
        client_from(LAN_PEER, cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser,
        client_from(OTHER_PEER) as other,
    ):
        resp = await join(browser, lan_server.base_url, eda)
        assert resp.status == 200  # followed the redirect to the board
        eda_ws = await WsClient.connect(browser, ws_url(lan_server), name="Eda")
        bob_ws = await WsClient.connect(other, ws_url(lan_server), headers=bearer(bob))
        owner_ws = await WsClient.connect(local, ws_url(lan_server))
        await security.revoke_invite(lan_server.app, eda_id)
        assert await eda_ws.wait_closed(timeout=WITHIN) == 4403
        async with browser.get(lan_server.make_url("/api/v1/projects")) as resp:
            assert resp.status == 401
        assert not bob_ws.closed.is_set() and not owner_ws.closed.is_set()
        await bob_ws.close()
        await owner_ws.close()


async def test_revocation_by_another_process_closes_sockets(lan_server, local) -> None:
    eda_id, eda = await make_invite(lan_server, "editor", "Eda")
    await lan_server.share()
    async with client_from(LAN_PEER) as lan:
        eda_ws = await WsClient.connect(lan, ws_url(lan_server), headers=bearer(eda))
        revoke_elsewhere(lan_server, eda_id)
        assert await eda_ws.wait_closed(timeout=WITHIN) == 4403


async def test_sharing_off_closes_every_remote_socket(lan_server, local) -> None:
    _, eda = await make_invite(lan_server, "editor", "Eda")
    await lan_server.share()
    async with client_from(LAN_PEER) as lan:
        eda_ws = await WsClient.connect(lan, ws_url(lan_server), headers=bearer(eda))
        owner_ws = await WsClient.connect(local, ws_url(lan_server))
        await lan_server.share(False)
        assert await eda_ws.wait_closed(timeout=WITHIN) == 4403
        async with lan.get(lan_server.make_url("/api/v1/projects"), headers=bearer(eda)) as resp:
            assert resp.status == 403
        assert not owner_ws.closed.is_set()
        await owner_ws.close()


# Row 7, long polls: a poll parked before access ended must not answer with data. ------


async def head_seq(
    session: aiohttp.ClientSession, lan_server: TandemServer, pid: str, **kw: Any
) -> str:
    async with session.get(lan_server.make_url(f"/api/v1/projects/{pid}/events"), **kw) as resp:
        assert resp.status == 200, await resp.text()
        return str((await resp.json())["headSeq"])


async def long_poll(
    session: aiohttp.ClientSession, lan_server: TandemServer, pid: str, since: str, **kw: Any
) -> tuple[int, str]:
    url = lan_server.make_url(f"/api/v1/projects/{pid}/events?since={since}&wait=10")
    async with session.get(url, **kw) as resp:
        return resp.status, await resp.text()


async def add_task(
    local: aiohttp.ClientSession, lan_server: TandemServer, pid: str, title: str
) -> None:
    async with local.post(
        lan_server.make_url(f"/api/v1/projects/{pid}/tasks"), json={"title": title}
    ) as r:
        assert r.status == 201, await r.text()


async def test_revoking_ends_that_persons_long_poll_without_data(lan_server, lan, local) -> None:
    pid = await secret_project(local, lan_server)
    eda_id, eda = await make_invite(lan_server, "editor", "Eda")
    _, bob = await make_invite(lan_server, "viewer", "Bob")
    await lan_server.share()
    since = await head_seq(lan, lan_server, pid, headers=bearer(eda))
    async with client_from(OTHER_PEER) as other:
        eda_poll = asyncio.create_task(long_poll(lan, lan_server, pid, since, headers=bearer(eda)))
        bob_poll = asyncio.create_task(
            long_poll(other, lan_server, pid, since, headers=bearer(bob))
        )
        await until_polls_wait(lan_server.app, 2)
        await security.revoke_invite(lan_server.app, eda_id)
        await add_task(local, lan_server, pid, "Committed after the revoke")
        status, body = await asyncio.wait_for(eda_poll, WITHIN)
        assert status == 401, body
        assert "ERROR_CODE_UNAUTHENTICATED" in body
        assert "after the revoke" not in body
        # Someone else's poll is not theirs: it gets the change.
        status, body = await asyncio.wait_for(bob_poll, 10)
        assert status == 200 and "Committed after the revoke" in body


async def test_revocation_by_another_process_ends_long_polls(lan_server, lan, local) -> None:
    pid = await secret_project(local, lan_server)
    eda_id, eda = await make_invite(lan_server, "editor", "Eda")
    await lan_server.share()
    since = await head_seq(lan, lan_server, pid, headers=bearer(eda))
    poll = asyncio.create_task(long_poll(lan, lan_server, pid, since, headers=bearer(eda)))
    await until_polls_wait(lan_server.app, 1)
    revoke_elsewhere(lan_server, eda_id)
    status, body = await asyncio.wait_for(poll, WITHIN)
    assert status == 401, body


async def test_a_woken_long_poll_checks_access_again_before_reading(lan_server, lan, local) -> None:
    """Even when nothing ended the poll (the revocation not yet noticed), no data leaves."""
    pid = await secret_project(local, lan_server)
    eda_id, eda = await make_invite(lan_server, "editor", "Eda")
    await lan_server.share()
    await stop_watcher(lan_server.app)  # so only the poll's own second look can catch it
    since = await head_seq(lan, lan_server, pid, headers=bearer(eda))
    poll = asyncio.create_task(long_poll(lan, lan_server, pid, since, headers=bearer(eda)))
    await until_polls_wait(lan_server.app, 1)
    revoke_elsewhere(lan_server, eda_id)
    await add_task(local, lan_server, pid, "Committed after the revoke")
    status, body = await asyncio.wait_for(poll, 10)
    assert status == 401, body
    assert "after the revoke" not in body


async def test_sharing_off_ends_every_remote_long_poll(lan_server, lan, local) -> None:
    pid = await secret_project(local, lan_server)
    _, eda = await make_invite(lan_server, "editor", "Eda")
    await lan_server.share()
    since = await head_seq(lan, lan_server, pid, headers=bearer(eda))
    remote = asyncio.create_task(long_poll(lan, lan_server, pid, since, headers=bearer(eda)))
    own = asyncio.create_task(long_poll(local, lan_server, pid, since))
    await until_polls_wait(lan_server.app, 2)
    await lan_server.share(False)
    status, body = await asyncio.wait_for(remote, WITHIN)
    assert status == 403, body
    assert "ERROR_CODE_PERMISSION_DENIED" in body
    # The owner's own poll goes on and gets the next change.
    await add_task(local, lan_server, pid, "Only for the owner")
    status, body = await asyncio.wait_for(own, 10)
    assert status == 200 and "Only for the owner" in body


# Row 8 -------------------------------------------------------------------------------


async def test_wrong_credentials_are_throttled_per_address(lan_server) -> None:
    _, token = await make_invite(lan_server, "viewer")
    await lan_server.share()
    now = [1000.0]
    throttle = CredentialThrottle(clock=lambda: now[0])
    lan_server.app[SECURITY].throttle = throttle
    statuses: list[int] = []
    async with client_from(LAN_PEER) as attacker, client_from(OTHER_PEER) as colleague:
        for _ in range(1000):
            async with attacker.get(
                lan_server.make_url("/api/v1/projects"), headers=bearer(invites.new_secret())
            ) as resp:
                statuses.append(resp.status)
        free = throttle.policy.free_failures
        assert statuses[:free] == [401] * free
        assert set(statuses[free:]) == {429}
        # Even the right token waits: no credential is looked at while throttled.
        async with attacker.get(
            lan_server.make_url("/api/v1/projects"), headers=bearer(token)
        ) as resp:
            assert resp.status == 429
            assert int(resp.headers["Retry-After"]) >= 1
        # Another address is not affected.
        async with colleague.get(
            lan_server.make_url("/api/v1/projects"), headers=bearer(token)
        ) as resp:
            assert resp.status == 200
        async with colleague.get(
            lan_server.make_url("/api/v1/projects"), headers=bearer("wrong")
        ) as resp:
            assert resp.status == 401
        # The wait doubles with every further mistake, then the address is refused outright.
        waits = []
        while throttle.failures(LAN_PEER) < throttle.policy.lockout_after:
            now[0] += throttle.retry_after(LAN_PEER)
            async with attacker.get(
                lan_server.make_url("/api/v1/projects"), headers=bearer("x")
            ) as r:
                assert r.status == 401
            waits.append(throttle.retry_after(LAN_PEER))
        assert waits[:3] == [1.0, 2.0, 4.0]
        assert waits[-1] == throttle.policy.lockout_seconds
        now[0] += throttle.policy.max_delay_seconds
        async with attacker.get(
            lan_server.make_url("/api/v1/projects"), headers=bearer(token)
        ) as resp:
            assert resp.status == 429
        now[0] += throttle.policy.lockout_seconds
        async with attacker.get(
            lan_server.make_url("/api/v1/projects"), headers=bearer(token)
        ) as resp:
            assert resp.status == 200


# Row 9 -------------------------------------------------------------------------------


async def test_secrets_never_reach_the_logs(lan_server, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    _, token = await make_invite(lan_server, "editor")
    await lan_server.share()
    secret_seen: list[str] = [token]
    async with client_from(LAN_PEER, cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:
        r = await join(browser, lan_server.base_url, token, allow_redirects=False)
        secret_seen.append(r.cookies[SESSION_COOKIE].value)
        async with browser.get(lan_server.make_url("/api/v1/projects")) as resp:
            assert resp.status == 200
        async with browser.get(
            lan_server.make_url("/api/v1/projects"), headers=bearer(token)
        ) as resp:
            assert resp.status == 200
    # Even a careless log line with the URL or the header is scrubbed.
    logging.getLogger("tandem.test").warning(
        "GET /join?token=%s Authorization: Bearer %s", token, token
    )
    text = caplog.text
    assert "/join?token=" in text  # the access log did record the requests
    for secret in secret_seen:
        assert secret not in text


def test_secrets_in_a_logged_exception_are_scrubbed(caplog) -> None:
    from server.security import redact

    redact.install()
    caplog.set_level(logging.DEBUG)
    token, cookie = invites.new_secret(), invites.new_secret()
    log = logging.getLogger("tandem.test")
    try:
        raise ValueError(
            f"cannot parse GET /join?token={token} (Cookie: {SESSION_COOKIE}={cookie})"
        )
    except ValueError:
        log.exception("request failed")
    try:
        raise RuntimeError(f"upstream said no to Authorization: Bearer {token}")
    except RuntimeError:
        log.warning("retrying", exc_info=True, stack_info=True)
    assert "request failed" in caplog.text and "ValueError" in caplog.text
    assert redact.REDACTED in caplog.text
    records = [r for r in caplog.records if r.name == "tandem.test"]
    assert len(records) == 2
    for record in records:
        # Any formatter, not only the one that made caplog.text.
        for formatted in (caplog.text, logging.Formatter().format(record)):
            assert token not in formatted and cookie not in formatted
    # A record whose traceback some handler already rendered, scrubbed by the filter.
    late = logging.LogRecord("x", logging.ERROR, __file__, 1, "boom", None, None)
    late.exc_text = f"Traceback ...\nKeyError: /join?token={token}"
    redact.RedactingFilter().filter(late)
    assert token not in logging.Formatter().format(late)


def test_cli_prints_the_link_and_takes_no_secret_as_argument(tmp_path: Path) -> None:
    from server.security.cli import SUBCOMMANDS

    script = (
        "import argparse, sys\n"
        "from server.security.cli import SUBCOMMANDS\n"
        "p = argparse.ArgumentParser(prog='tandem'); sub = p.add_subparsers(dest='c')\n"
        "for name, (help, add, run) in SUBCOMMANDS.items(): add(sub.add_parser(name))\n"
        "a = p.parse_args(sys.argv[1:]); sys.exit(SUBCOMMANDS[a.c][2](a))\n"
    )

    def tandem(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", script, *args, "--data-dir", str(tmp_path)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )

    made = tandem("invite", "--role", "editor", "--name", "Ana")
    assert made.returncode == 0, made.stderr
    link = next(line.strip() for line in made.stdout.splitlines() if "/join?token=" in line)
    token = link.split("token=", 1)[1]
    assert len(token) >= 43  # 32 bytes, URL-safe base64
    invite_id = made.stdout.split()[1]
    listed = tandem("invites")
    assert "Ana" in listed.stdout and "editor" in listed.stdout and "active" in listed.stdout
    assert token not in listed.stdout
    # Only the hash is stored.
    if default_database_url():  # the suites' PostgreSQL pass: the tool wrote there
        with psycopg.connect(default_database_url()) as pg:
            found = pg.execute("SELECT token_hash FROM invite").fetchone()
            assert found is not None
            stored = found[0]
    else:
        conn = sqlite3.connect(paths.database_path(tmp_path))
        stored = conn.execute("SELECT token_hash FROM invite").fetchone()[0]
        conn.close()
    assert token.encode() not in stored and stored == invites.digest(token)
    revoked = tandem("invite", "--revoke", invite_id)
    assert revoked.returncode == 0, revoked.stderr
    assert "revoked" in tandem("invites").stdout
    # No option takes a token or secret: nothing secret can end up in process arguments.
    for _name, (_help, add, _run) in SUBCOMMANDS.items():
        import argparse

        parser = argparse.ArgumentParser()
        add(parser)
        options = {o for action in parser._actions for o in action.option_strings}
        assert not {o for o in options if "token" in o or "secret" in o}


async def test_owner_needs_no_invite_and_join_drops_the_token(lan_server, local) -> None:
    async with local.get(
        lan_server.make_url("/join?token=whatever"), allow_redirects=False
    ) as resp:
        assert resp.status == 303 and resp.headers["Location"] == "/"
    async with local.get(lan_server.make_url("/api/v1/projects")) as resp:
        assert resp.status == 200
    assert LOCAL in lan_server.make_url()
    await asyncio.sleep(0)


async def test_a_viewer_is_refused_on_every_rest_mutation(lan_server, lan, local) -> None:
    """Every non-GET operation the API has, not a sample: 403 and not one row changed."""
    project_id = await secret_project(local, lan_server)
    ids = {"projectId": project_id}
    base = lan_server.make_url("/api/v1")
    async with local.post(f"{base}/projects/{project_id}/tasks", json={"title": "t"}) as r:
        ids["taskId"] = (await r.json())["id"]
    async with local.post(f"{base}/tasks/{ids['taskId']}/comments", json={"body": "b"}) as r:
        ids["commentId"] = (await r.json())["id"]
    async with local.post(f"{base}/projects/{project_id}/sprints", json={"name": "S"}) as r:
        ids["sprintId"] = (await r.json())["id"]
    form = aiohttp.FormData()
    form.add_field("file", b"notes", filename="notes.txt")
    upload = f"{base}/tasks/{ids['taskId']}/attachments"
    async with local.post(upload, data=form, headers={"X-Tandem-Upload": "1"}) as r:
        ids["attachmentId"] = (await r.json())["id"]
    _, viewer = await make_invite(lan_server, "viewer", "Vic")
    await lan_server.share()

    def data() -> dict[str, list[tuple[object, ...]]]:
        rows = database_rows(lan_server.data_dir / "tandem.sqlite3")
        # Using an invite records when it was last used; nothing else may change.
        return {t: r for t, r in rows.items() if t not in ("invite", "session")}

    before = data()
    personal = {s.http.operation_id for s in COMMAND_TABLE.values() if s.personal and s.http}
    mutations = [op for op in OPERATIONS if op.method not in ("GET", "HEAD")]
    assert len(mutations) >= 14
    for op in mutations:
        async with lan.request(
            op.method, lan_server.make_url(op.path.format(**ids)), json={}, headers=bearer(viewer)
        ) as resp:
            if op.operation_id in personal:
                # The viewer's own inbox and watching: let through (an empty body changes
                # nothing: no items named, watching false where not watching).
                assert resp.status in (200, 400), (op.method, op.path, resp.status)
                continue
            assert resp.status == 403, (op.method, op.path, resp.status)
            assert (await resp.json())["error"]["code"] == "ERROR_CODE_PERMISSION_DENIED"
    assert data() == before
    # Watching is the viewer's to do, and changes that alone.
    url = lan_server.make_url(f"/api/v1/tasks/{ids['taskId']}/watch")
    async with lan.post(url, json={"watching": True}, headers=bearer(viewer)) as resp:
        assert resp.status == 200
        assert len((await resp.json())["memberIds"]) == 1  # the viewer (the owner's script: no one)
    after = data()
    assert len(after["task_watch"]) == len(before["task_watch"]) + 1


async def test_a_viewer_is_refused_on_every_websocket_command(lan_server, lan, local) -> None:
    """Every command in the registry that changes something, over a viewer's socket."""
    await secret_project(local, lan_server)
    _, viewer = await make_invite(lan_server, "viewer", "Vic")
    await lan_server.share()
    client = await WsClient.connect(lan, ws_url(lan_server), headers=bearer(viewer), name="Vic")
    fields = websocket_pb2.WebSocketMessage.DESCRIPTOR.fields_by_name
    changing = [n for n, command in COMMANDS.items() if command.mutates and not command.personal]
    assert len(changing) >= 14
    for name in changing:
        kind = fields[name].message_type
        assert kind is not None
        payload = message_factory.GetMessageClass(kind)()
        command: dict[str, Any] = {name: payload}
        reply = await client.request(**command)
        assert reply.WhichOneof("payload") == "reject", name
        assert reply.reject.error.code == errors_pb2.ERROR_CODE_PERMISSION_DENIED, name
    assert await project_names(lan_server) == ["Secret"]
    await client.close()

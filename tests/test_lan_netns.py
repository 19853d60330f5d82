"""LAN sharing across a real network boundary: two network namespaces joined by veth.

The server runs in one namespace (loopback there, plus 10.250.77.1 while shared), the
colleague's client in the other (10.250.77.2). Only addresses inside the namespaces
this test creates are ever used. Needs root: CI has it and must run these tests, so with
the CI environment variable set, namespaces that cannot be made are a failure; elsewhere
the tests skip with the reason.

Also across the boundary: the mDNS announcement (found by a python-zeroconf browser in
the client's namespace, withdrawn when sharing stops) and the TLS listener.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

from server import paths
from server.security import discovery, invites, tls
from server.storage.database import Store

ROOT = Path(__file__).resolve().parent.parent
SERVER_IP = "10.250.77.1"
CLIENT_IP = "10.250.77.2"
LAN_PORT = 18765
TIMEOUT = 30
# How long the mDNS browser waits for an announcement or its withdrawal.
MDNS_WAIT = 10

# The real runner, with its LAN listener switched at run time as the tray's toggle does.
SERVER_SCRIPT = """
import asyncio, json, sys
from pathlib import Path
from server.config import ServerConfig
from server.runner import start_server
from server.security.state import SECURITY

async def main():
    data_dir, lan_host, lan_port = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    tls = sys.argv[5] == "1"
    config = ServerConfig(data_dir, lan_host=lan_host, lan_port=lan_port, lan_tls=tls)
    running = await start_server(config)
    running.app[SECURITY].announce = sys.argv[4] == "1"
    print(json.dumps({"port": running.port}), flush=True)
    loop = asyncio.get_running_loop()
    while line := (await loop.run_in_executor(None, sys.stdin.readline)).strip():
        await running.set_lan(line == "lan on")
        print("ok", flush=True)
    await running.close()

asyncio.run(main())
"""

CLIENT_SCRIPT = """
import asyncio, json, os, sys
import aiohttp

async def main():
    method, url = sys.argv[1], sys.argv[2]
    body = json.loads(sys.argv[3]) if len(sys.argv) > 3 else None
    token = os.environ.get("TANDEM_TEST_TOKEN", "")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    # HTTPS: trust the board's self-signed certificate by its pinned SHA-256 fingerprint.
    pin = os.environ.get("TANDEM_TEST_FINGERPRINT", "").replace(":", "")
    check = aiohttp.Fingerprint(bytes.fromhex(pin)) if pin else True
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as s:
            async with s.request(method, url, json=body, headers=headers, ssl=check) as r:
                print(json.dumps({"status": r.status, "body": await r.text()}))
    except aiohttp.ClientConnectionError as exc:
        print(json.dumps({"status": 0, "body": repr(exc)}))

asyncio.run(main())
"""

SUBSCRIBER_SCRIPT = """
import asyncio, json, sys
import aiohttp
from tandem.v1 import commands_pb2, websocket_pb2

async def main():
    url, project_id = sys.argv[1], sys.argv[2]
    async with aiohttp.ClientSession() as s:
        async with s.ws_connect(url) as ws:
            hello = websocket_pb2.WebSocketMessage(message_id="h", hello=commands_pb2.Hello(
                client_name="netns", client_id="owner-tab", protocol_version=1,
                display_name="Owner"))
            await ws.send_bytes(hello.SerializeToString())
            sub = websocket_pb2.WebSocketMessage(
                message_id="s", subscribe=commands_pb2.Subscribe(project_id=project_id))
            await ws.send_bytes(sub.SerializeToString())
            async for frame in ws:
                msg = websocket_pb2.WebSocketMessage.FromString(frame.data)
                kind = msg.WhichOneof("payload")
                if kind == "ack" and msg.message_id == "s":
                    print(json.dumps({"kind": "subscribed"}), flush=True)
                elif kind == "task_created":
                    print(json.dumps({"kind": kind, "title": msg.task_created.task.title}),
                          flush=True)

asyncio.run(main())
"""


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=TIMEOUT)


def unavailable(reason: str) -> NoReturn:
    """Skip for want of namespaces, except in CI, where these tests must run."""
    if os.environ.get("CI"):
        pytest.fail(f"CI must be able to create network namespaces: {reason}", pytrace=False)
    pytest.skip(reason)


def check_namespaces_possible() -> None:
    if shutil.which("ip") is None:
        unavailable("iproute2's `ip` is not installed")
    if os.geteuid() != 0:
        unavailable("creating network namespaces needs root")


@pytest.fixture
def namespaces() -> Iterator[tuple[str, str]]:
    check_namespaces_possible()
    tag = secrets.token_hex(3)
    srv, cli = f"tsrv{tag}", f"tcli{tag}"
    made: list[str] = []
    try:
        for name in (srv, cli):
            try:
                ip("netns", "add", name)
            except subprocess.CalledProcessError as exc:
                unavailable(f"cannot create network namespaces here: {exc.stderr.decode().strip()}")
            made.append(name)
        ip("link", "add", f"vs{tag}", "type", "veth", "peer", "name", f"vc{tag}")
        ip("link", "set", f"vs{tag}", "netns", srv)
        ip("link", "set", f"vc{tag}", "netns", cli)
        ip("-n", srv, "addr", "add", f"{SERVER_IP}/24", "dev", f"vs{tag}")
        ip("-n", cli, "addr", "add", f"{CLIENT_IP}/24", "dev", f"vc{tag}")
        for ns, dev in ((srv, f"vs{tag}"), (cli, f"vc{tag}")):
            ip("-n", ns, "link", "set", dev, "up")
            ip("-n", ns, "link", "set", "lo", "up")
        yield srv, cli
    finally:
        for name in made:
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=TIMEOUT)


def in_ns(ns: str, *args: str, **kw: Any) -> list[str]:
    return ["ip", "netns", "exec", ns, sys.executable, *args]


def run_in(
    ns: str, script: Path, *args: str, token: str = "", fingerprint: str = ""
) -> dict[str, Any]:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "TANDEM_TEST_TOKEN": token,
        "TANDEM_TEST_FINGERPRINT": fingerprint,
    }
    done = subprocess.run(
        in_ns(ns, str(script), *args), capture_output=True, text=True, env=env, timeout=TIMEOUT
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


class Server:
    def __init__(
        self, ns: str, script: Path, data_dir: Path, *, announce: bool = False, tls: bool = False
    ) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        flags = ("1" if announce else "0", "1" if tls else "0")
        self.proc = subprocess.Popen(
            in_ns(ns, str(script), str(data_dir), SERVER_IP, str(LAN_PORT), *flags),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            cwd=ROOT,
        )
        assert self.proc.stdout is not None
        self.port = int(json.loads(self.proc.stdout.readline())["port"])

    def say(self, line: str) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline().strip() == "ok"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=TIMEOUT)


def test_sharing_across_a_real_network_boundary(namespaces, tmp_path: Path) -> None:
    srv, cli = namespaces
    scripts = {}
    for name, text in (
        ("server", SERVER_SCRIPT),
        ("client", CLIENT_SCRIPT),
        ("subscriber", SUBSCRIBER_SCRIPT),
    ):
        scripts[name] = tmp_path / f"lan_{name}.py"
        scripts[name].write_text(text)
    data_dir = tmp_path / "data"
    store = Store(paths.database_path(data_dir))
    try:
        viewer = invites.create("Vic", "viewer")
        editor = invites.create("Eda", "editor")
    finally:
        store.close()

    server = Server(srv, scripts["server"], data_dir)
    subscriber: subprocess.Popen[str] | None = None
    try:
        local = f"http://127.0.0.1:{server.port}"
        lan = f"http://{SERVER_IP}:{LAN_PORT}"
        made = run_in(srv, scripts["client"], "POST", f"{local}/api/v1/projects",
                      '{"key": "NET", "name": "Across"}')  # fmt: skip
        assert made["status"] in (200, 201), made
        project_id = json.loads(made["body"])["id"]

        # Sharing off: nothing listens on the LAN address.
        off = run_in(cli, scripts["client"], "GET", f"{lan}/api/v1/projects", token=editor.token)
        assert off["status"] == 0, off

        server.say("lan on")
        projects = f"{lan}/api/v1/projects"
        assert run_in(cli, scripts["client"], "GET", projects)["status"] == 401
        wrong = run_in(cli, scripts["client"], "GET", projects, token=invites.new_secret())
        assert wrong["status"] == 401 and "Across" not in wrong["body"]

        seen = run_in(cli, scripts["client"], "GET", projects, token=viewer.token)
        assert seen["status"] == 200 and "Across" in seen["body"]
        tasks = f"{lan}/api/v1/projects/{project_id}/tasks"
        refused = run_in(cli, scripts["client"], "POST", tasks, '{"title": "viewer was here"}',
                         token=viewer.token)  # fmt: skip
        assert refused["status"] == 403, refused

        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        subscriber = subprocess.Popen(
            in_ns(srv, str(scripts["subscriber"]), f"ws://127.0.0.1:{server.port}/ws", project_id),
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert subscriber.stdout is not None
        assert json.loads(subscriber.stdout.readline())["kind"] == "subscribed"
        created = run_in(cli, scripts["client"], "POST", tasks, '{"title": "from the LAN"}',
                         token=editor.token)  # fmt: skip
        assert created["status"] in (200, 201), created
        event = json.loads(subscriber.stdout.readline())
        assert event == {"kind": "task_created", "title": "from the LAN"}

        conn = sqlite3.connect(paths.database_path(data_dir))
        with conn:
            conn.execute(
                "UPDATE invite SET revoked_at = ? WHERE id = ?",
                (time.time_ns() // 1000, editor.invite.id),
            )
        conn.close()
        revoked = run_in(cli, scripts["client"], "GET", projects, token=editor.token)
        assert revoked["status"] == 401 and "Across" not in revoked["body"]

        server.say("lan off")
        after = run_in(cli, scripts["client"], "GET", projects, token=viewer.token)
        assert after["status"] == 0, after
    finally:
        if subscriber is not None:
            subscriber.terminate()
            subscriber.wait(timeout=TIMEOUT)
        server.stop()


# Default settings (all interfaces, no LAN port given): the URLs it names, twice.
DEFAULT_HOST_SCRIPT = """
import asyncio, json, sys
from pathlib import Path
from server.config import ServerConfig
from server.runner import start_server
from server.security.state import SECURITY

async def main():
    running = await start_server(ServerConfig(Path(sys.argv[1])))
    running.app[SECURITY].announce = False
    first = await running.set_lan(True)
    await running.set_lan(False)
    again = await running.set_lan(True)
    print(json.dumps({"port": running.port, "first": first, "again": again}), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    await running.close()

asyncio.run(main())
"""


def test_default_settings_name_the_lan_address_and_keep_the_port(namespaces, tmp_path) -> None:
    srv, cli = namespaces
    script = tmp_path / "default_host.py"
    script.write_text(DEFAULT_HOST_SCRIPT)
    client = tmp_path / "client.py"
    client.write_text(CLIENT_SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        in_ns(srv, str(script), str(tmp_path / "data")),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    try:
        assert proc.stdout is not None and proc.stdin is not None
        shown = json.loads(proc.stdout.readline())
        # The veth's address (not 127.0.x.x from the host name), on the port after ours.
        assert shown["first"] == [f"http://{SERVER_IP}:{shown['port'] + 1}/"]
        assert shown["again"] == shown["first"]
        reached = run_in(cli, client, "GET", shown["first"][0] + "api/v1/projects")
        assert reached["status"] == 401, reached  # there, and asking for an invite
        proc.stdin.write("\n")
        proc.stdin.flush()
        proc.wait(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=TIMEOUT)


# A colleague's tool looking for boards with mDNS: it answers "found" and "gone" from stdin,
# each within its own bound, so the test never waits on it without end.
BROWSER_SCRIPT = """
import asyncio, json, sys
from zeroconf import IPVersion, ServiceStateChange
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

service_type, interface, wait = sys.argv[1], sys.argv[2], float(sys.argv[3])

def emit(**fields):
    print(json.dumps(fields), flush=True)

def open_zeroconf():
    return AsyncZeroconf(interfaces=[interface], ip_version=IPVersion.V4Only)

async def resolve(zc, name):
    info = AsyncServiceInfo(service_type, name)
    if not await info.async_request(zc.zeroconf, 3000):
        return None
    properties = {k.decode(): (v or b"").decode() for k, v in info.properties.items()}
    return {"name": name, "addresses": info.parsed_addresses(), "port": info.port,
            "properties": properties}

async def main():
    zc = open_zeroconf()
    added, removed = asyncio.Queue(), asyncio.Queue()

    def changed(zeroconf, service_type, name, state_change):
        if state_change is ServiceStateChange.Added:
            added.put_nowait(name)
        elif state_change is ServiceStateChange.Removed:
            removed.put_nowait(name)

    browser = AsyncServiceBrowser(zc.zeroconf, [service_type], handlers=[changed])
    emit(browsing=True)
    loop = asyncio.get_running_loop()
    name = ""
    while line := (await loop.run_in_executor(None, sys.stdin.readline)).strip():
        if line == "found":
            try:
                name = await asyncio.wait_for(added.get(), wait)
            except TimeoutError:
                emit(found=None)
                continue
            emit(found=await resolve(zc, name))
        elif line == "gone":
            try:
                await asyncio.wait_for(removed.get(), wait)
                goodbye = True
            except TimeoutError:
                goodbye = False
            # A fresh resolver has no cache: only the network can answer it.
            fresh = open_zeroconf()
            try:
                still = await resolve(fresh, name) if name else None
            finally:
                await fresh.async_close()
            emit(goodbye=goodbye, resolvable=still is not None)
    await browser.async_cancel()
    await zc.async_close()

asyncio.run(main())
"""


class Browser:
    def __init__(self, ns: str, script: Path) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        args = (str(script), discovery.SERVICE_TYPE, CLIENT_IP, str(MDNS_WAIT))
        self.proc = subprocess.Popen(
            in_ns(ns, *args), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
        )
        assert self.ask("") == {"browsing": True}

    def ask(self, line: str) -> dict[str, Any]:
        """Send a question; the script answers within MDNS_WAIT (+ a resolve) or exits."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        if line:
            self.proc.stdin.write(line + "\n")
            self.proc.stdin.flush()
        answer = self.proc.stdout.readline()
        assert answer, "the mDNS browser ended without answering"
        result: dict[str, Any] = json.loads(answer)
        return result

    def stop(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=TIMEOUT)


def test_mdns_announces_a_tls_board_while_shared_and_withdraws_it(namespaces, tmp_path) -> None:
    srv, cli = namespaces
    scripts = {}
    for name, text in (("server", SERVER_SCRIPT), ("browser", BROWSER_SCRIPT),
                       ("client", CLIENT_SCRIPT)):  # fmt: skip
        scripts[name] = tmp_path / f"lan_{name}.py"
        scripts[name].write_text(text)
    data_dir = tmp_path / "data"
    store = Store(paths.database_path(data_dir))
    try:
        viewer = invites.create("Vic", "viewer")
    finally:
        store.close()

    server = Server(srv, scripts["server"], data_dir, announce=True, tls=True)
    browser: Browser | None = None
    try:
        browser = Browser(cli, scripts["browser"])
        server.say("lan on")
        fingerprint = tls.known_fingerprint(data_dir)
        assert fingerprint

        found = browser.ask("found")["found"]
        assert found is not None, "no Tandem board was announced on the LAN"
        assert found["name"].endswith("." + discovery.SERVICE_TYPE)
        assert found["addresses"] == [SERVER_IP] and found["port"] == LAN_PORT
        assert found["properties"]["tls"] == "1"
        assert found["properties"]["sha256"] == fingerprint
        assert found["properties"]["join"] == "/join"

        # What was announced is enough to join over HTTPS, pinning the announced fingerprint.
        url = f"https://{found['addresses'][0]}:{found['port']}/api/v1/projects"
        pin = found["properties"]["sha256"]
        seen = run_in(cli, scripts["client"], "GET", url, token=viewer.token, fingerprint=pin)
        assert seen["status"] == 200, seen
        assert run_in(cli, scripts["client"], "GET", url, fingerprint=pin)["status"] == 401

        server.say("lan off")
        gone = browser.ask("gone")
        assert gone == {"goodbye": True, "resolvable": False}
    finally:
        if browser is not None:
            browser.stop()
        server.stop()


def test_serve_with_lan_tls_prints_the_fingerprint_it_serves(namespaces, tmp_path) -> None:
    srv, cli = namespaces
    client = tmp_path / "lan_client.py"
    client.write_text(CLIENT_SCRIPT)
    data_dir = tmp_path / "data"
    command = ["-m", "server.cli", "serve", "--port", str(LAN_PORT), "--data-dir", str(data_dir)]
    command += ["--lan", "--lan-tls", "--lan-host", SERVER_IP]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(in_ns(srv, *command), stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline().strip() for _ in range(3)]
        assert lines[0] == f"Tandem is running at http://127.0.0.1:{LAN_PORT}/"
        # Without a LAN port given, the one after the board's own.
        shared = f"{SERVER_IP}:{LAN_PORT + 1}"
        assert lines[1] == f"Shared on the LAN at https://{shared}/"
        label, _, printed = lines[2].partition(": ")
        assert label == "Certificate SHA-256 fingerprint"
        assert printed == tls.known_fingerprint(data_dir) != ""

        url = f"https://{shared}/api/health"
        # The client pins the printed fingerprint: any other certificate would fail (status 0).
        assert run_in(cli, client, "GET", url, fingerprint=printed)["status"] == 401
        wrong = "00" * 32
        assert run_in(cli, client, "GET", url, fingerprint=wrong)["status"] == 0
        plain = run_in(cli, client, "GET", f"http://{shared}/api/health")
        assert plain["status"] == 0, plain
    finally:
        proc.terminate()
        try:
            assert proc.wait(timeout=TIMEOUT) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=TIMEOUT)


@pytest.mark.parametrize("ci", ["", "true"])
def test_missing_namespaces_skip_locally_but_fail_in_ci(monkeypatch, ci: str) -> None:
    monkeypatch.setenv("CI", ci)
    monkeypatch.setattr(shutil, "which", lambda _name: None)
    expected = pytest.fail.Exception if ci else pytest.skip.Exception
    with pytest.raises(expected) as stopped:
        check_namespaces_possible()
    assert "iproute2" in str(stopped.value)

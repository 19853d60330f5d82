"""Driving a built Tandem (the PyInstaller folder app, or an installed package) from tests
and benchmarks: build it once, start ``tandem serve``, and one round trip through it."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
from tandem.v1 import commands_pb2, entities_pb2

from tests.ws_client import WsClient, subscribe

ROOT = Path(__file__).resolve().parents[2]
DIST = ROOT / "dist"
BUILD_SCRIPT = ROOT / "packaging" / "build.py"
READY = "Tandem is running at "


def build(*args: str, env: Mapping[str, str] | None = None) -> str:
    """Run packaging/build.py (the folder app is rebuilt only when its inputs changed)."""
    done = subprocess.run(
        [sys.executable, str(BUILD_SCRIPT), *args],
        cwd=ROOT,
        env=None if env is None else {**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if done.returncode != 0:
        raise AssertionError(f"build.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def bundle_executable(dist: Path = DIST) -> Path:
    if sys.platform == "darwin":
        return dist / "Tandem.app" / "Contents" / "MacOS" / "Tandem"
    return dist / "Tandem" / ("Tandem.exe" if os.name == "nt" else "Tandem")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def health(url: str, timeout: float = 2.0) -> dict[str, str] | None:
    import json

    try:
        with urllib.request.urlopen(url.rstrip("/") + "/api/health", timeout=timeout) as reply:
            return dict(json.loads(reply.read()))
    except (OSError, ValueError):
        return None


@dataclass
class Served:
    """A running ``tandem serve`` and what it printed."""

    proc: subprocess.Popen[str]
    url: str
    lines: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM (Windows: terminate, having no signals), then the exit status."""
        if self.proc.poll() is None:
            if os.name == "nt":
                self.proc.terminate()
            else:
                self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            raise AssertionError("tandem serve did not stop within {timeout:g} s") from None


def serve(
    command: list[str], data_dir: Path, *, env: Mapping[str, str] | None = None, timeout=90.0
) -> Served:
    """Start ``COMMAND serve --port P`` on a fresh port and wait until it answers.

    The port is chosen here rather than with ``--port 0`` because a windowed Windows
    build has no standard output to print its address on; where there is one, the ready
    line is checked too.
    """
    port = free_port()
    proc = subprocess.Popen(
        [*command, "serve", "--port", str(port), "--data-dir", str(data_dir)],
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    served = Served(proc, f"http://127.0.0.1:{port}/")

    def drain(stream: object, into: list[str]) -> None:
        for line in stream:  # type: ignore[attr-defined]
            into.append(line)

    threading.Thread(target=drain, args=(proc.stdout, served.lines), daemon=True).start()
    threading.Thread(target=drain, args=(proc.stderr, served.errors), daemon=True).start()
    deadline = time.monotonic() + timeout
    while health(served.url, 1.0) is None:
        if proc.poll() is not None:
            raise AssertionError(f"tandem serve ended ({proc.returncode}): {served.errors}")
        if time.monotonic() > deadline:
            served.stop()
            raise AssertionError(f"tandem serve did not answer within {timeout:g} s")
        time.sleep(0.05)
    return served


def wait_for_ready_line(served: Served, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in served.lines:
            if line.startswith(READY):
                return line[len(READY) :].strip()
        time.sleep(0.02)
    raise AssertionError(f"no ready line: {served.lines}")


SCRIPT_SRC = re.compile(r'<script[^>]*\bsrc="([^"]+)"')


async def round_trip(url: str, *, project_key: str = "SMK", title: str = "Smoke") -> str:
    """Health, the UI and its scripts, then hello, create a project, subscribe, create a
    task and see its event. Returns the new project's id."""
    base = url.rstrip("/")
    async with aiohttp.ClientSession() as session:
        async with session.get(base + "/api/health") as reply:
            assert reply.status == 200
            assert (await reply.json())["status"] == "ok"
        async with session.get(base + "/") as reply:
            assert reply.status == 200
            index = await reply.text()
        scripts = SCRIPT_SRC.findall(index)
        assert scripts, f"the index names no script: {index[:300]}"
        for src in scripts:
            async with session.get(base + "/" + src.lstrip("/")) as reply:
                assert reply.status == 200, src
                assert "javascript" in reply.content_type, (src, reply.content_type)
                assert len(await reply.read()) > 1000, src
        client = await WsClient.connect(session, base.replace("http://", "ws://") + "/ws")
        try:
            reply_msg = await client.request(
                create_project=commands_pb2.CreateProject(
                    project=entities_pb2.Project(key=project_key, name=project_key)
                )
            )
            assert reply_msg.WhichOneof("payload") == "ack", reply_msg
            project_id = reply_msg.ack.project.id
            await subscribe(client, project_id)
            reply_msg = await client.request(
                create_task=commands_pb2.CreateTask(
                    project_id=project_id, task=entities_pb2.Task(title=title)
                )
            )
            assert reply_msg.WhichOneof("payload") == "ack", reply_msg
            task_id = reply_msg.ack.task.id
            event = await client.wait_for(
                lambda m: (
                    m.WhichOneof("payload") == "task_created" and m.task_created.task.id == task_id
                )
            )
            assert event.task_created.project_id == project_id
            assert event.task_created.seq > 0
        finally:
            await client.close()
    return project_id


T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)

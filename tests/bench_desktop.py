"""Benchmark: from launching ``tandem`` to its server answering ``/api/health``, and to
the board's first render in Chromium.

Runs the real command in a fresh copy of a seeded data folder, five times, and prints the
figures. The tray app needs a display with a tray: with ``DISPLAY`` unset and Xvfb and
trayer installed, the benchmark makes one; otherwise ``tandem`` falls back to
``tandem serve --open``. Either way the mode is reported with the figures.

"Open the board" is caught by an ``xdg-open`` (and ``BROWSER``) that records the address;
a Chromium already running (as a person's browser usually is) then loads that board, and
the render counts once the board and its cards are visible.
Run: ``.venv/bin/python -m tests.bench_desktop`` (builds web/dist first if it is missing).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tandem.v1 import commands_pb2, entities_pb2

from server.config import ServerConfig
from server.domain.service import open_domain
from tests.desktop_support import (
    missing_x_tools,
    opened_urls,
    recording_opener,
    x_screen_with_tray,
)
from tests.fixtures import CHROMIUM, CHROMIUM_ARGS, ROOT, WEB_DIST

ROUNDS = 5
TASKS = 60


@dataclass
class Launch:
    health: float
    opened: float
    render: float | None
    mode: str


def _health(url: str) -> bool:
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/api/health", timeout=1) as reply:
            return bool(reply.status == 200)
    except OSError:
        return False


def seed(data_dir: Path) -> str:
    """A project with TASKS tasks over the board's columns; returns the project's id."""

    async def run() -> str:
        domain = open_domain(ServerConfig(data_dir=data_dir))
        try:
            actor = domain.owner_actor()
            msg = commands_pb2.CreateProject(project=entities_pb2.Project(name="Launch", key="LCH"))
            project_id = str((await domain.command(actor, msg)).project.id)
            for i in range(TASKS):
                task = entities_pb2.Task(title=f"Task {i}", status=1 + i % 5)  # type: ignore[arg-type]
                cmd = commands_pb2.CreateTask(project_id=project_id, task=task)
                await domain.command(actor, cmd)
            return project_id
        finally:
            domain.close()

    found: list[str] = []
    thread = threading.Thread(target=lambda: found.append(asyncio.run(run())))
    thread.start()
    thread.join()
    return found[0]


def ensure_web_ui() -> bool:
    if (WEB_DIST / "index.html").is_file():
        return True
    if shutil.which("npm") is None or not (ROOT / "web" / "package.json").is_file():
        return False
    print("   building the web UI (cd web && npm run build)…", flush=True)
    if not (ROOT / "web" / "node_modules").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=ROOT / "web", check=True)
    subprocess.run(["npm", "run", "build"], cwd=ROOT / "web", check=True)
    return (WEB_DIST / "index.html").is_file()


@contextlib.contextmanager
def display() -> Iterator[dict[str, str]]:
    """The environment to launch in: a virtual screen with a tray when one can be made."""
    if os.environ.get("DISPLAY") or missing_x_tools():
        yield dict(os.environ)
        return
    with x_screen_with_tray() as env:
        yield env


def one_launch(
    tandem: str, template: Path, run_dir: Path, env: dict[str, str], board: str, page: Any
) -> Launch:
    data_dir = run_dir / "data"
    shutil.copytree(template, data_dir)
    # Any free port, so runs do not collide with a Tandem already running.
    (data_dir / "desktop.json").write_text(json.dumps({"port": 0, "notifications": False}))
    opener, record = recording_opener(run_dir / "opener")
    env = dict(env, **opener, TANDEM_DATA_DIR=str(data_dir))
    env["XDG_STATE_HOME"] = str(run_dir / "state")
    started = time.perf_counter()
    proc = subprocess.Popen(
        [tandem], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    found: list[str] = []

    def read_stdout() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("Tandem is running at "):
                found.append(line.split(" at ", 1)[1].strip())

    threading.Thread(target=read_stdout, daemon=True).start()
    mode = "serve --open (fallback)"
    try:
        deadline = started + 60
        health_at: float | None = None
        while health_at is None:
            if time.perf_counter() > deadline or proc.poll() is not None:
                raise RuntimeError("tandem did not answer within 60 s")
            url = found[0] if found else None
            if url is None:
                try:
                    url = json.loads((data_dir / "instance.json").read_text())["url"]
                    mode = "tray app"
                except (OSError, ValueError, KeyError):
                    url = None
            if url and _health(url):
                health_at = time.perf_counter()
            else:
                time.sleep(0.005)
        while not opened_urls(record):
            if time.perf_counter() > deadline:
                raise RuntimeError("tandem did not open the board within 60 s")
            time.sleep(0.005)
        opened_at = time.perf_counter()
        render_at: float | None = None
        if page is not None:
            page.goto(opened_urls(record)[0] + board)
            page.locator("[data-testid=board] [data-testid=card]").first.wait_for(
                state="visible", timeout=30_000
            )
            render_at = time.perf_counter()
        return Launch(
            health=health_at - started,
            opened=opened_at - started,
            render=None if render_at is None else render_at - started,
            mode=mode,
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(30)


def _figures(label: str, values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return (
        f"   {label}: median {statistics.median(ms):.0f} ms, "
        f"min {min(ms):.0f} ms, max {max(ms):.0f} ms"
    )


def main() -> None:
    tandem = str(Path(sys.executable).with_name("tandem"))
    if not Path(tandem).exists():
        print("   tandem command not installed; skipped")
        return
    browser_ok = CHROMIUM.exists() and ensure_web_ui()
    if not browser_ok:
        print("   no /usr/bin/chromium or no web UI: measuring /api/health only")
    launches: list[Launch] = []
    with tempfile.TemporaryDirectory() as tmp, display() as env:
        template = Path(tmp) / "template"
        project_id = seed(template)
        board = f"#/p/{project_id}"
        with contextlib.ExitStack() as stack:
            browser: Any = None
            if browser_ok:
                from playwright.sync_api import sync_playwright

                pw = stack.enter_context(sync_playwright())
                browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
                stack.callback(browser.close)
            for n in range(ROUNDS):
                page = None
                if browser is not None:
                    # A fresh profile each time: nothing cached from the previous run.
                    context = browser.new_context(viewport={"width": 1280, "height": 800})
                    context.add_init_script("localStorage.setItem('tandem.displayName', 'Bench')")
                    page = context.new_page()
                try:
                    launches.append(
                        one_launch(tandem, template, Path(tmp) / f"run{n}", env, board, page)
                    )
                finally:
                    if page is not None:
                        page.context.close()
    print(f"   launch `tandem` [{launches[0].mode}], {ROUNDS} runs, {TASKS}-task board:")
    print(_figures("-> /api/health answers", [x.health for x in launches]))
    print(_figures("-> board opened in the browser", [x.opened for x in launches]))
    renders = [x.render for x in launches if x.render is not None]
    if renders:
        print(_figures("-> board's first render in Chromium (cards visible)", renders))


if __name__ == "__main__":
    main()

"""Benchmark of the browser UI on a board of 5,000 tasks, in Debian's Chromium.

Prints the size of the production bundle gzipped (each built file compressed with gzip -9, as a
server or proxy would send it), the time from navigation to the first render of all cards, the
time the client takes to apply and draw 100 incoming events, and the time for 100 changes made
over REST to reach the page.
Run: .venv/bin/python -m tests.bench_ui  (after `cd web && npm run build`); with --size it prints
only the bundle size.
"""

from __future__ import annotations

import asyncio
import gzip
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from tandem.v1 import commands_pb2, entities_pb2

from server.config import ServerConfig
from server.domain.service import open_domain
from tests.e2e.conftest import LiveServer
from tests.fixtures import CHROMIUM, CHROMIUM_ARGS, WEB_DIST

TASKS = 5000
EVENTS = 100


def fill(data_dir: Path, project_id: str, count: int) -> None:
    async def run() -> None:
        domain = open_domain(ServerConfig(data_dir=data_dir))
        try:
            actor = domain.owner_actor()
            statuses = [1, 2, 3, 4, 5]
            for i in range(count):
                task = entities_pb2.Task(
                    title=f"Task number {i}",
                    status=statuses[i % 5],  # type: ignore[arg-type]
                    priority=1 + i % 5,  # type: ignore[arg-type]
                    labels=["bench"] if i % 3 == 0 else [],
                    story_points=i % 8,
                )
                cmd = commands_pb2.CreateTask(project_id=project_id, task=task)
                await domain.command(actor, cmd)
        finally:
            domain.close()

    t = threading.Thread(target=lambda: asyncio.run(run()))
    t.start()
    t.join()


def bundle_size(root: Path = WEB_DIST) -> tuple[int, int]:
    """(raw bytes, gzipped bytes) of the built files a browser loads: HTML, JS and CSS."""
    raw = packed = 0
    for path in sorted(root.rglob("*")):
        if path.suffix not in (".html", ".js", ".css") or not path.is_file():
            continue
        data = path.read_bytes()
        size = len(gzip.compress(data, compresslevel=9, mtime=0))
        raw += len(data)
        packed += size
        name = path.relative_to(root)
        print(f"  {name}: {len(data) / 1024:.1f} KB, gzipped {size / 1024:.1f} KB")
    return raw, packed


def main() -> None:
    from playwright.sync_api import sync_playwright

    if not (WEB_DIST / "index.html").is_file():
        print("skipped: web/dist is not built (cd web && npm run build)")
        return
    raw, packed = bundle_size()
    print(f"bundle: {raw / 1024:.1f} KB, gzipped {packed / 1024:.1f} KB (aim: under 150 KB)")
    if "--size" in sys.argv[1:]:
        return

    if not CHROMIUM.exists():
        print("skipped: /usr/bin/chromium is not installed")
        return
    data_dir = Path(tempfile.mkdtemp(prefix="tandem-bench-"))
    server = LiveServer(data_dir)
    server.start()
    project: dict[str, Any] = server.api(
        "POST", "/api/v1/projects", {"name": "Bench", "key": "BEN"}
    )
    server.stop()
    started = time.perf_counter()
    fill(data_dir, project["id"], TASKS)
    print(f"seeded {TASKS} tasks in {time.perf_counter() - started:.1f} s")
    server.start()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            ctx = browser.new_context(viewport={"width": 1280, "height": 800})
            ctx.add_init_script("localStorage.setItem('tandem.displayName', 'Bench')")
            page = ctx.new_page()
            page.goto(f"{server.url}/#/p/{project['id']}")
            page.wait_for_function(
                f"() => document.querySelectorAll('[data-testid=card]').length === {TASKS}",
                timeout=120_000,
                polling="raf",
            )
            first_render = page.evaluate("() => performance.now()")
            print(f"time to first render of {TASKS} cards: {first_render:.0f} ms (from navigation)")

            ids = page.evaluate(
                "(n) => [...window.tandem.store.tasks.values()].slice(n, 2 * n).map(t => t.id)",
                EVENTS,
            )
            page.evaluate("() => { window.__bench = { start: window.tandem.store.seq }; }")
            t0 = time.perf_counter()
            for i, task_id in enumerate(ids):
                body = {"updateMask": "title", "task": {"title": f"Renamed {i}"}}
                server.api("PATCH", f"/api/v1/tasks/{task_id}", body)
            sent = time.perf_counter() - t0
            page.wait_for_function(
                f"() => window.tandem.store.seq >= window.__bench.start + {EVENTS}n", timeout=60_000
            )
            page.wait_for_function(
                "() => [...document.querySelectorAll('[data-testid=card] .title')]"
                ".some(e => e.textContent === 'Renamed 99')"
            )
            total = time.perf_counter() - t0
            print(
                f"end to end: {EVENTS} REST changes sent in {sent * 1000:.0f} ms,"
                f" all applied and drawn after {total * 1000:.0f} ms"
            )
            # Last: these made-up events move the page's seq past the server's.
            client_ms = page.evaluate(
                """async (n) => {
                  const { store, create, WebSocketMessageSchema } = window.tandem;
                  const tasks = [...store.tasks.values()].slice(0, n);
                  const t0 = performance.now();
                  let seq = store.seq;
                  for (const t of tasks) {
                    seq += 1n;
                    const task = { ...t, title: t.title + ' (edited)', version: t.version + 1n };
                    const value = { projectId: store.projectId, seq, task,
                                    updateMask: { paths: ['title'] } };
                    store.applyMessage(create(WebSocketMessageSchema,
                                              { payload: { case: 'taskUpdated', value } }));
                  }
                  await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
                  return performance.now() - t0;
                }""",
                EVENTS,
            )
            print(f"client: apply and draw {EVENTS} incoming events: {client_ms:.0f} ms")

            browser.close()
    finally:
        server.stop()


if __name__ == "__main__":
    main()

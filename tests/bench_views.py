"""Benchmark of a 10,000-task project in Debian's Chromium: the board's and the list's first render,
a board filter, search everywhere, and a bulk edit of 500 tasks, each beside its reference from the
same run (or its aim, where the reference is a number to reach), with the ratio.

- board, list: navigation to every column (every row) counted and the first screenful drawn;
  aim 1 s for the board.
- filter: typing into the board's filter until the columns are redrawn; aim 100 ms.
- search: GET /api/v1/search (the full-text index) against GET /projects/{id}/tasks?q= (a scan of
  every title and description), the same words, median of several.
- bulk edit: one POST /tasks/bulk of 500 status changes against 500 PATCHes of the same changes,
  and the time until a browser showing the list has drawn them all.

Run: .venv/bin/python -m tests.bench_views  (after `make web`); --tasks N for another size.
"""

from __future__ import annotations

import asyncio
import statistics
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

TASKS = 10_000
BULK = 500
WORDS = ["login", "upload", "search", "theme", "export", "invite", "sprint", "report"]


def fill(data_dir: Path, project_id: str, count: int) -> None:
    """count tasks with words to search for, made through the domain (group-committed)."""

    async def run() -> None:
        domain = open_domain(ServerConfig(data_dir=data_dir))
        try:
            actor = domain.owner_actor()

            def command(i: int) -> commands_pb2.CreateTask:
                word = WORDS[i % len(WORDS)]
                task = entities_pb2.Task(
                    title=f"Task number {i}: the {word} flow",
                    description=f"Steps for {WORDS[(i * 7) % len(WORDS)]} number {i}.",
                    status=1 + i % 5,  # type: ignore[arg-type]
                    priority=1 + i % 5,  # type: ignore[arg-type]
                    labels=["bench"] if i % 3 == 0 else [],
                    story_points=i % 8,
                )
                return commands_pb2.CreateTask(project_id=project_id, task=task)

            for start in range(0, count, 500):
                batch = range(start, min(count, start + 500))
                await asyncio.gather(*(domain.command(actor, command(i)) for i in batch))
        finally:
            domain.close()

    t = threading.Thread(target=lambda: asyncio.run(run()))
    t.start()
    t.join()


def ratio_line(what: str, ours: float, ref: float, ref_name: str) -> None:
    print(f"  {what}: {ours:.0f} ms; {ref_name} {ref:.0f} ms; ratio {ours / ref:.2f}")


def timed_ms(fn: Any) -> float:
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1000


def first_render(page: Any, url: str, counted: str) -> float:
    """ms from navigation until ``counted`` (a page expression) is true, drawn."""
    page.goto(url)
    page.wait_for_function(counted, timeout=120_000, polling="raf")
    return float(page.evaluate("() => performance.now()"))


BOARD_DRAWN = """() => {{
  const counts = [...document.querySelectorAll('[data-testid=count]')].map(e => +e.textContent);
  return counts.length === 5 && counts.reduce((a, b) => a + b, 0) === {n}
    && document.querySelectorAll('[data-testid=column-5] [data-testid=card]').length > 0;
}}"""
LIST_DRAWN = """() => document.querySelector('[data-testid=list] table')
  ?.getAttribute('aria-rowcount') === String({n} + 1)
  && document.querySelectorAll('[data-testid=list-row]').length > 0"""

FILTER = """async (text) => {
  const input = document.querySelector('input[aria-label="Filter by text"]');
  const sum = () => [...document.querySelectorAll('[data-testid=count]')]
    .reduce((a, e) => a + +e.textContent, 0);
  const before = sum();
  const t0 = performance.now();
  input.value = text;
  input.dispatchEvent(new Event('input', { bubbles: true }));
  while (sum() === before && performance.now() - t0 < 60000)
    await new Promise((r) => requestAnimationFrame(r));
  await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
  const ms = performance.now() - t0;
  input.value = '';
  input.dispatchEvent(new Event('input', { bubbles: true }));
  while (sum() !== before) await new Promise((r) => requestAnimationFrame(r));
  return ms;
}"""


def search_figures(server: LiveServer, pid: str, count: int) -> None:
    def median_ms(path: str, queries: list[str]) -> float:
        return statistics.median(
            timed_ms(lambda q=q: server.api("GET", path + q.replace(" ", "%20"))) for q in queries
        )

    # Words each in an eighth of the tasks; a task's own number (one or two tasks).
    common = WORDS
    rare = [f"number {n}" for n in range(count - 9, count)]
    for name, queries in (("a common word", common), ("a rare phrase", rare)):
        ratio_line(
            f"search everywhere for {name}, median of {len(queries)} (first page, with the total)",
            median_ms("/api/v1/search?pageSize=20&q=", queries),
            median_ms(f"/api/v1/projects/{pid}/tasks?pageSize=20&q=", queries),
            "reference: a scan of titles and descriptions (listTasks?q=, first page)",
        )


def bulk_figures(server: LiveServer, page: Any, pid: str) -> None:
    tasks: list[dict[str, Any]] = []
    token = ""
    while len(tasks) < 2 * BULK:
        query = f"?pageSize=1000&pageToken={token}" if token else "?pageSize=1000"
        got = server.api("GET", f"/api/v1/projects/{pid}/tasks{query}")
        tasks += got["tasks"]
        token = got.get("nextPageToken", "")
    first, second = tasks[:BULK], tasks[BULK : 2 * BULK]
    page.evaluate("() => { window.__bench = { start: window.tandem.store.seq }; }")

    def other(t: dict[str, Any]) -> str:
        # A status each task does not have, so that every change is one (and one event).
        done = t.get("status") == "TASK_STATUS_DONE"
        return "TASK_STATUS_TODO" if done else "TASK_STATUS_DONE"

    def update(t: dict[str, Any]) -> dict[str, Any]:
        return {
            "taskId": t["id"],
            "baseVersion": t["version"],
            "updateMask": "status",
            "task": {"status": other(t)},
        }

    t0 = time.perf_counter()
    body = {"updates": [update(t) for t in first]}
    server.api("POST", f"/api/v1/projects/{pid}/tasks/bulk", body)
    sent = (time.perf_counter() - t0) * 1000
    page.wait_for_function(
        f"() => window.tandem.store.seq >= window.__bench.start + {BULK}n", timeout=60_000
    )
    page.evaluate("() => new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)))")
    shown = (time.perf_counter() - t0) * 1000

    def singles() -> None:
        for t in second:
            body = {"updateMask": "status", "task": {"status": other(t)}}
            server.api("PATCH", f"/api/v1/tasks/{t['id']}", {**body, "baseVersion": t["version"]})

    ratio_line(
        f"bulk edit of {BULK} tasks, one POST",
        sent,
        timed_ms(singles),
        f"reference: {BULK} PATCHes one after another",
    )
    print(f"  bulk edit of {BULK} tasks, sent until drawn in another browser: {shown:.0f} ms")


def main() -> None:
    from playwright.sync_api import sync_playwright

    count = int(sys.argv[sys.argv.index("--tasks") + 1]) if "--tasks" in sys.argv else TASKS
    if not (WEB_DIST / "index.html").is_file():
        print("skipped: web/dist is not built (make web)")
        return
    if not CHROMIUM.exists():
        print("skipped: /usr/bin/chromium is not installed")
        return
    # --keep DIR seeds DIR once and reuses it on later runs (while working on a figure).
    keep = Path(sys.argv[sys.argv.index("--keep") + 1]) if "--keep" in sys.argv else None
    data_dir = keep or Path(tempfile.mkdtemp(prefix="tandem-bench-views-"))
    server = LiveServer(data_dir)
    server.start()
    found = server.api("GET", "/api/v1/projects").get("projects", []) if keep else []
    if found:
        project: dict[str, Any] = found[0]
    else:
        project = server.api("POST", "/api/v1/projects", {"name": "Big", "key": "BIG"})
        server.stop()
        started = time.perf_counter()
        fill(data_dir, project["id"], count)
        print(f"seeded {count} tasks in {time.perf_counter() - started:.1f} s")
        server.start()
    pid = project["id"]
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)

            def fresh() -> Any:
                ctx = browser.new_context(viewport={"width": 1280, "height": 800})
                ctx.add_init_script("localStorage.setItem('tandem.displayName', 'Bench')")
                return ctx.new_page()

            board_ms = [
                first_render(fresh(), f"{server.url}/#/p/{pid}", BOARD_DRAWN.format(n=count))
                for _ in range(3)
            ]
            ratio_line(
                f"board of {count} tasks, first render (median of 3, from navigation)",
                statistics.median(board_ms),
                1000,
                "aim",
            )
            list_ms = [
                first_render(fresh(), f"{server.url}/#/p/{pid}/list", LIST_DRAWN.format(n=count))
                for _ in range(3)
            ]
            ratio_line(
                f"list of {count} tasks, first render (median of 3, from navigation)",
                statistics.median(list_ms),
                1000,
                "aim (the board's)",
            )
            page = fresh()
            first_render(page, f"{server.url}/#/p/{pid}", BOARD_DRAWN.format(n=count))
            # Each narrows the board (a filter matching every task would redraw nothing).
            filters = [page.evaluate(FILTER, text) for text in ("login", "number 12", "upload")]
            ratio_line(
                f"board filter on {count} tasks (median of 3, typed until redrawn)",
                statistics.median(filters),
                100,
                "aim",
            )
            search_figures(server, pid, count)
            lister = fresh()
            first_render(lister, f"{server.url}/#/p/{pid}/list", LIST_DRAWN.format(n=count))
            bulk_figures(server, lister, pid)
            browser.close()
    finally:
        server.stop()


if __name__ == "__main__":
    main()

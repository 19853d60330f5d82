"""A small REST client for tests: JSON by default, binary protobuf on request, rows on disk."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from multidict import CIMultiDictProxy

from server.config import default_database_url
from tests.fixtures import make_project

JSON = "application/json"
PROTOBUF = "application/x-protobuf"


@dataclass
class ApiResponse:
    status: int
    headers: CIMultiDictProxy[str]
    raw: bytes
    json: Any

    @property
    def error_code(self) -> str:
        return str(self.json["error"]["code"])


class ApiClient:
    """Talks to one running server over a real socket."""

    def __init__(self, base_url: str, session: aiohttp.ClientSession) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = session

    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        data: bytes | str | None = None,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
    ) -> ApiResponse:
        hdrs = dict(headers or {})
        if body is not None:
            import json

            data = json.dumps(body)
            hdrs.setdefault("Content-Type", JSON)
        async with self.session.request(
            method, self.base_url + path, data=data, headers=hdrs, params=params
        ) as resp:
            raw = await resp.read()
            parsed: Any = None
            if resp.content_type == JSON and raw:
                parsed = await resp.json()
            return ApiResponse(resp.status, resp.headers, raw, parsed)

    async def get(self, path: str, **params: str) -> ApiResponse:
        return await self.request("GET", path, params=params or None)

    async def post(self, path: str, body: Any = None, **kw: Any) -> ApiResponse:
        if body is None and "data" not in kw:
            body = {}
        return await self.request("POST", path, body, **kw)

    async def patch(self, path: str, body: Any, **kw: Any) -> ApiResponse:
        return await self.request("PATCH", path, body, **kw)

    async def delete(self, path: str, **kw: Any) -> ApiResponse:
        return await self.request("DELETE", path, **kw)

    # Shortcuts that assert success, for arranging a test.
    async def make_project(self, key: str = "WEB", name: str = "Website") -> dict[str, Any]:
        return await make_project(self.session, self.base_url, key=key, name=name)

    async def make_task(
        self, project_id: str, title: str = "A task", **fields: Any
    ) -> dict[str, Any]:
        resp = await self.post(f"/api/v1/projects/{project_id}/tasks", {"title": title, **fields})
        assert resp.status == 201, resp.json
        return dict(resp.json)

    async def make_sprint(
        self, project_id: str, name: str = "Sprint 1", **fields: Any
    ) -> dict[str, Any]:
        resp = await self.post(f"/api/v1/projects/{project_id}/sprints", {"name": name, **fields})
        assert resp.status == 201, resp.json
        return dict(resp.json)


def database_rows(path: Path, timeout: float = 10.0) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, sorted: to show a refused request changed nothing (in the
    test's PostgreSQL database when the suites run there, see tests/pg_backend.py).

    Read once the work a commit leaves for after it (the inbox's items, search's reindex)
    has caught up with every change, so that rows read before and after a request differ
    by that request alone.
    """
    deadline = time.monotonic() + timeout
    url = default_database_url()
    if url:
        pg = _postgres(url)
        while pg.execute(_BEHIND).fetchone()[0]:
            assert time.monotonic() < deadline, "the inbox did not catch up with the change log"
            time.sleep(0.005)
        names = pg.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchall()
        return {
            t: sorted(pg.execute(f'SELECT * FROM "{t}"').fetchall(), key=repr) for (t,) in names
        }
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
    try:
        while True:
            conn.execute("BEGIN")  # one snapshot: the check and the rows agree
            tables = [
                r[0]
                for r in conn.execute(
                    "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"
                )
            ]
            behind = "inbox_cursor" in tables and conn.execute(_BEHIND).fetchone()[0]
            if "search_dirty" in tables:  # search's reindex after the commit, likewise
                behind = behind or conn.execute(_SEARCH_BEHIND).fetchone()[0]
            if not behind:
                return {
                    t: sorted(conn.execute(f'SELECT * FROM "{t}"').fetchall(), key=repr)
                    for t in tables
                }
            conn.execute("COMMIT")
            assert time.monotonic() < deadline, "the after-commit work did not catch up"
            time.sleep(0.005)
    finally:
        conn.close()


# Change logs whose events the inbox has not followed yet.
_BEHIND = (
    "SELECT count(*) FROM log_head AS h LEFT JOIN inbox_cursor AS c"
    " ON c.project_id = h.project_id WHERE h.head_seq > coalesce(c.seq, 0)"
)
# Changed texts search has not reindexed yet (SQLite: see server/domain/search.py).
_SEARCH_BEHIND = "SELECT EXISTS (SELECT 1 FROM search_dirty)"


_POSTGRES: dict[str, Any] = {}


def _postgres(url: str) -> Any:
    """A connection to the test's PostgreSQL database, kept for the next call (tests that
    compare rows before and after each of many messages would otherwise connect each time)."""
    import psycopg

    conn = _POSTGRES.get(url)
    if conn is not None and not conn.closed:
        try:
            conn.execute("SELECT 1")
            return conn
        except psycopg.OperationalError:  # ended between tests (tests/pg_backend.py)
            pass
    conn = _POSTGRES[url] = psycopg.connect(url, autocommit=True)
    return conn

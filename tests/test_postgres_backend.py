"""A team server on PostgreSQL: the URL at start, migrations, the schema, and several
servers sharing one database (real ``tandem serve`` processes on a real PostgreSQL).

Runs in the default pass, each test on a scratch database of its own (the server named by
``TANDEM_TEST_POSTGRES``, else 127.0.0.1:5432).
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import peewee as pw
import psycopg
import pytest
from tandem.v1 import commands_pb2, entities_pb2

from server.config import DATABASE_URL_ENV, ServerConfig
from server.domain.errors import DomainError, ErrorCode
from server.domain.service import open_domain
from server.storage import migrations, models, postgres
from server.storage.database import Store
from server.storage.dialect import redact
from tests import pg_backend
from tests.api_client import ApiClient

# Trust authentication ignores it; it must never show anyway.
SECRET = "s3cret-never-shown"


@pytest.fixture
def pg_url() -> Iterator[str]:
    """An empty database of its own (no schema yet), with a password in its URL."""
    server = pg_backend.server_url() or pg_backend.DEFAULT_SERVER
    if not pg_backend.reachable(server):
        pytest.skip(f"no PostgreSQL server at {server}")
    with pg_backend.scratch_database(server) as url:
        yield url.replace("://postgres@", f"://postgres:{SECRET}@", 1)


def _serve(data_dir: Path, url: str, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            *(sys.executable, "-m", "server.cli", "serve", "--port", "0"),
            *("--data-dir", str(data_dir), "--database-url", url, "--log-level", "debug"),
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


class Started:
    """A ``tandem serve`` process whose output is read to the end on threads."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        assert proc.stdout is not None and proc.stderr is not None
        line = proc.stdout.readline()
        match = re.search(r"(http://\S+)/", line)
        self.err: list[str] = []
        threading.Thread(target=lambda: self.err.extend(proc.stderr or []), daemon=True).start()
        self.out = [line, *([] if match else proc.stdout.readlines())]
        if not match:
            proc.wait(timeout=30)
            raise AssertionError(f"no ready line: {self.out} {self.err}")
        threading.Thread(target=lambda: self.out.extend(proc.stdout or []), daemon=True).start()
        self.url = match.group(1)

    def stop(self) -> str:
        """Stops it; returns everything it wrote."""
        self.proc.terminate()
        self.proc.wait(timeout=30)
        return "".join(self.out + self.err)


def test_a_wrong_or_unreachable_database_url_is_one_line_without_its_credentials(
    tmp_path: Path, pg_url: str
) -> None:
    base = pg_url.rsplit("/", 1)[0]
    cases = {
        # Nothing listens there.
        re.sub(r"@([^/:]+)(:\d+)?/", r"@\1:1/", pg_url): "cannot use the database",
        # No such database.
        f"{base}/{pg_backend.prefix()}_missing": "does not exist",
        f"mysql://root:{SECRET}@127.0.0.1/tandem": "is not a postgresql:// URL",
        f"postgresql://postgres:{SECRET}@127.0.0.1": "names no database",
        f"postgresql://postgres:{SECRET}@127.0.0.1:port/x": "is not a URL",
    }
    # Each by the option; the first by the environment too.
    runs: list[tuple[list[str], dict[str, str], str]] = [
        (["--database-url", url], {}, said) for url, said in cases.items()
    ]
    first, said_first = next(iter(cases.items()))
    runs.append(([], {DATABASE_URL_ENV: first}, said_first))
    for args, env, said in runs:
        url = args[-1] if args else env[DATABASE_URL_ENV]
        done = subprocess.run(
            [sys.executable, "-m", "server.cli", "serve", "--data-dir", str(tmp_path), *args],
            capture_output=True,
            text=True,
            timeout=60,
            env={**_environ(), **env},
        )
        assert done.returncode == 1, (url, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("tandem: "), (url, done.stderr)
        assert said in lines[0], (url, lines)
        assert SECRET not in done.stderr + done.stdout, url
        assert "***@" in lines[0] or "://" not in lines[0]


def _environ() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != DATABASE_URL_ENV}


def test_redact_hides_users_and_passwords() -> None:
    assert redact("postgresql://bob:pw@db:5432/t?password=x&a=1") == (
        "postgresql://***@db:5432/t?password=***&a=1"
    )
    assert redact("postgresql://db/t") == "postgresql://db/t"


def test_backups_are_refused_with_pg_dump_named(tmp_path: Path, pg_url: str) -> None:
    for command in (["backup"], ["restore", str(tmp_path / "x.sqlite3")]):
        done = subprocess.run(
            [sys.executable, "-m", "server.cli", *command, "--data-dir", str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=60,
            env={**_environ(), DATABASE_URL_ENV: pg_url},
        )
        assert done.returncode == 1
        assert "pg_dump" in done.stderr and len(done.stderr.strip().splitlines()) == 1
        assert SECRET not in done.stderr
    assert not (tmp_path / "backups").exists()


def test_servers_starting_together_migrate_once(pg_url: str) -> None:
    """Four servers' migrations at once on an empty database: one migrates, the others
    wait for it under the advisory lock and find the schema made."""
    barrier = threading.Barrier(4)
    found: list[int] = []
    failures: list[BaseException] = []

    def start() -> None:
        try:
            barrier.wait()
            db = postgres.connect(pg_url)
            found.append(postgres.schema_version(db))
            db.close()
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not failures
    assert found == [migrations.PG_LATEST] * 4
    db = postgres.connect(pg_url)
    try:
        versions = db.execute_sql("SELECT version FROM schema_version ORDER BY version")
        assert [v for (v,) in versions.fetchall()] == list(range(1, migrations.PG_LATEST + 1))
    finally:
        db.close()


def test_a_newer_database_is_refused_and_left_as_it_was(pg_url: str) -> None:
    db = postgres.connect(pg_url)
    db.execute_sql("INSERT INTO schema_version VALUES (%s, 0)", (migrations.PG_LATEST + 1,))
    db.close()
    with pytest.raises(migrations.DatabaseTooNewError, match="newer Tandem"):
        postgres.connect(pg_url)


# peewee's field types, as the PostgreSQL schema stores them (booleans as 0/1, like SQLite).
_PG_TYPES = {
    pw.AutoField: "bigint",
    pw.IntegerField: "bigint",
    pw.BooleanField: "bigint",
    pw.TextField: "text",
    pw.BlobField: "bytea",
}


def test_the_postgres_schema_matches_the_models(pg_url: str) -> None:
    db = postgres.connect(pg_url)
    try:
        rows = db.execute_sql(
            "SELECT table_name, column_name, data_type, is_nullable, collation_name"
            " FROM information_schema.columns WHERE table_schema = 'public'"
        ).fetchall()
    finally:
        db.close()
    columns: dict[str, dict[str, tuple[str, bool, Any]]] = {}
    for table, column, kind, nullable, collation in rows:
        columns.setdefault(table, {})[column] = (kind, nullable == "YES", collation)
    tables = [
        m for m in vars(models).values() if isinstance(m, type) and issubclass(m, models.BaseModel)
    ]
    tables = [m for m in tables if m is not models.BaseModel]
    assert len(tables) > 20
    for model in tables:
        table = model._meta.table_name
        assert table in columns, f"{table} has no PostgreSQL table"
        for field in model._meta.sorted_fields:
            assert field.column_name in columns[table], f"{table}.{field.column_name} is missing"
            kind, nullable, collation = columns[table][field.column_name]
            assert kind == _PG_TYPES[type(field)], (table, field.column_name, kind)
            assert nullable == field.null, (table, field.column_name)
            if kind == "text":  # byte order, as SQLite sorts
                assert collation == "C", (table, field.column_name)


async def _all(coros: list[Any]) -> list[Any]:
    return list(await asyncio.gather(*coros))


async def test_servers_sharing_a_database_keep_one_gapless_log_and_lose_no_update(
    tmp_path: Path, pg_url: str
) -> None:
    # Started together on an empty database: they migrate it once between them.
    procs = [_serve(tmp_path / name, pg_url) for name in ("a", "b")]
    a, b = (Started(p) for p in procs)
    try:
        async with aiohttp.ClientSession() as session:
            on_a, on_b = ApiClient(a.url, session), ApiClient(b.url, session)
            pid = (await on_a.make_project("WEB"))["id"]
            # Writers on both servers at once.
            made = await _all(
                [(on_a if i % 2 else on_b).make_task(pid, f"Task {i}") for i in range(40)]
            )
            assert sorted(t["key"] for t in made) == sorted(f"WEB-{n}" for n in range(1, 41))
            for client in (on_a, on_b):
                page = (await client.get(f"/api/v1/projects/{pid}/events", since="0")).json
                seqs = [int(next(iter(e.values()))["seq"]) for e in page["events"]]
                assert seqs == list(range(1, len(seqs) + 1))
                assert int(page["headSeq"]) == seqs[-1] and len(seqs) >= 41

            # Per-field merge across servers: every write of either field lands.
            task = made[0]
            path = f"/api/v1/tasks/{task['id']}"

            def edit(client: ApiClient, field: str, i: int) -> Any:
                body = {"task": {field: f"{field} {i}"}, "updateMask": field, "baseVersion": 0}
                return client.patch(path, body)

            answers = await _all(
                [edit(on_a, "title", i) for i in range(15)]
                + [edit(on_b, "description", i) for i in range(15)]
            )
            assert all(r.status == 200 for r in answers), [r.json for r in answers]
            final = (await on_b.get(path)).json
            assert int(final["version"]) == int(task["version"]) + 30
            assert final["title"].startswith("title ")
            assert final["description"].startswith("description ")

            # A command retried on the other server gets the first answer: one task.
            key = {"Idempotency-Key": "create-once"}
            body = {"title": "Once"}
            first, second = await _all(
                [c.post(f"/api/v1/projects/{pid}/tasks", body, headers=key) for c in (on_a, on_b)]
            )
            assert first.status == second.status == 201
            assert first.json["id"] == second.json["id"]
            titles = [
                t["title"] for t in (await on_a.get(f"/api/v1/projects/{pid}/tasks")).json["tasks"]
            ]
            assert titles.count("Once") == 1
    finally:
        said = [s.stop() for s in (a, b)]
    for text in said:
        assert SECRET not in text
        assert "migrated" in text or "Tandem is running" in text


def test_a_lost_connection_refuses_one_group_as_retryable_then_reconnects(
    tmp_path: Path, pg_url: str
) -> None:
    domain = open_domain(ServerConfig(data_dir=tmp_path, database_url=pg_url))
    try:
        owner = domain.owner_actor()
        domain.execute(
            owner, commands_pb2.CreateProject(project=entities_pb2.Project(key="WEB", name="Web"))
        )
        admin = postgres.connect(pg_url)
        try:
            # What a restarted or failed-over server does to its clients' connections.
            admin.execute_sql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        finally:
            admin.close()
        with pytest.raises(DomainError) as refused:
            domain.execute(
                owner,
                commands_pb2.CreateProject(project=entities_pb2.Project(key="APP", name="App")),
            )
        assert refused.value.code == ErrorCode.ERROR_CODE_UNAVAILABLE
        domain.execute(
            owner, commands_pb2.CreateProject(project=entities_pb2.Project(key="APP", name="App"))
        )
        assert sorted(p.key for p in domain.list_projects()) == ["APP", "WEB"]
    finally:
        domain.close()


def test_a_copied_or_restored_database_opens_as_a_new_epoch(tmp_path: Path, pg_url: str) -> None:
    def epoch(url: str) -> str:
        store = Store(tmp_path / "tandem.sqlite3", url)
        try:
            return store.epoch()
        finally:
            store.close()

    first = epoch(pg_url)
    assert epoch(pg_url) == first  # the same database, reopened: the same epoch
    server, name = pg_url.rsplit("/", 1)
    copy = f"{name}_copy"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        # What pg_restore into a new database gives too: the same rows, another database.
        admin.execute(f'CREATE DATABASE "{copy}" TEMPLATE "{name}"')
    try:
        assert epoch(f"{server}/{copy}") != first
    finally:
        with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{copy}" WITH (FORCE)')

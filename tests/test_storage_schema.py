"""The peewee models describe exactly the tables the frozen migrations make.

The migrations are frozen SQL and the models are written by hand, so the two can drift
(a field added to a model without a migration, a NOT NULL on one side only). This reads
a freshly migrated database with PRAGMA table_info and compares every column.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import peewee as pw
import pytest

from server.storage import migrations, models

# How peewee writes each field type in SQLite's DDL.
SQLITE_TYPES = {**pw.SqliteDatabase.field_types, "AUTO": "INTEGER", "INT": "INTEGER"}
MODELS = sorted(models.BaseModel.__subclasses__(), key=lambda m: m._meta.table_name)


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sqlite3.Connection]:
    path: Path = tmp_path_factory.mktemp("schema") / "tandem.sqlite3"
    conn = sqlite3.connect(path)
    migrations.migrate(path, conn)
    yield conn
    conn.close()


def _sql_literal(value: object) -> str:
    return f"'{value}'" if isinstance(value, str) else str(int(value))  # type: ignore[call-overload]


def test_every_table_has_a_model_and_every_model_a_table(migrated: sqlite3.Connection) -> None:
    rows = migrated.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    ).fetchall()
    # A full-text index is a virtual table, read by SQL of its own, with shadow tables of
    # SQLite's own (name_data, name_idx, ...): no model stands for them.
    virtual = [name for name, sql in rows if sql.upper().startswith("CREATE VIRTUAL TABLE")]
    tables = {
        name
        for name, _ in rows
        if name not in virtual and not any(name.startswith(f"{v}_") for v in virtual)
    }
    assert virtual == ["search_text"]
    # Nor for the index's list of rows it has yet to take (V_SEARCH_DEFERRED): written by
    # triggers, read and emptied by search.py's SQL, SQLite's alone (PostgreSQL's index is
    # kept in step by its triggers), as the index is.
    # Likewise the counts triggers keep: unread items beside the inbox (V_INBOX_UNREAD),
    # each member's bytes of remembered ids (V_APPLIED_REQUEST_SPENT).
    index_only = {"search_dirty", "inbox_unread", "applied_request_spent"}
    assert index_only <= tables
    assert tables - index_only == {m._meta.table_name for m in MODELS}


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m._meta.table_name)
def test_the_model_matches_the_migrated_table(
    migrated: sqlite3.Connection, model: type[pw.Model]
) -> None:
    table = model._meta.table_name
    # (cid, name, type, notnull, dflt_value, pk) for each column.
    columns = {row[1]: row for row in migrated.execute(f'PRAGMA table_info("{table}")')}
    fields = {f.column_name: f for f in model._meta.sorted_fields}
    assert list(fields) == list(columns), f"{table}: columns differ or are out of order"
    # A composite primary key's columns are each part of the table's key.
    key = model._meta.primary_key
    composite = set(key.field_names) if isinstance(key, pw.CompositeKey) else set()
    for name, field in fields.items():
        _, _, sql_type, notnull, default, pk = columns[name]
        where = f"{table}.{name}"
        assert sql_type == SQLITE_TYPES.get(field.field_type, field.field_type), where
        assert bool(pk) == (field.primary_key or field.name in composite), where
        # An INTEGER PRIMARY KEY is the rowid: never null, whether or not it says so.
        rowid = bool(pk) and sql_type == "INTEGER"
        assert (bool(notnull) or rowid) == (not field.null), where
        if field.default is not None and not callable(field.default):
            assert default == _sql_literal(field.default), where
        else:
            assert default is None, where


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m._meta.table_name)
def test_unique_fields_have_unique_indexes(
    migrated: sqlite3.Connection, model: type[pw.Model]
) -> None:
    table = model._meta.table_name
    unique_columns = set()
    for _, index, unique, *_ in migrated.execute(f'PRAGMA index_list("{table}")'):
        cols = [row[2] for row in migrated.execute(f'PRAGMA index_info("{index}")')]
        if unique and len(cols) == 1:
            unique_columns.add(cols[0])
    for field in model._meta.sorted_fields:
        if field.unique:
            assert field.column_name in unique_columns, f"{table}.{field.column_name}"

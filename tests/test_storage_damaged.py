"""A damaged database on the first start of a new version: it is copied aside byte for
byte, the refusal says where, and the file itself is never written to."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from server.config import ServerConfig
from server.domain.service import open_domain
from server.storage import migrations
from server.storage.health import DatabaseUnusableError


@pytest.mark.sqlite_only("a damaged SQLite file")
def test_a_file_that_is_not_a_database_is_kept_and_reported(tmp_path: Path) -> None:
    path = tmp_path / "tandem.sqlite3"
    garbage = b"not a database at all\n" * 500
    path.write_bytes(garbage)
    with pytest.raises(DatabaseUnusableError, match="is damaged") as refused:
        open_domain(ServerConfig(data_dir=tmp_path))
    assert path.read_bytes() == garbage
    (copy,) = tmp_path.glob("tandem.sqlite3.damaged-*")
    assert copy.read_bytes() == garbage
    assert str(copy) in str(refused.value) and "nothing was changed" in str(refused.value)


@pytest.mark.sqlite_only("a damaged page of a SQLite file")
def test_a_damaged_page_is_found_before_migrating_over_it(tmp_path: Path) -> None:
    path = tmp_path / "tandem.sqlite3"
    conn = sqlite3.connect(path)
    # What the previous schema version wrote, with enough rows to fill several pages.
    migrations.migrate(path, conn, migrations.MIGRATIONS[:-1])
    conn.execute("CREATE TABLE filler (body TEXT)")
    conn.executemany("INSERT INTO filler VALUES (?)", [("x" * 500,)] * 200)
    conn.commit()
    conn.close()
    data = bytearray(path.read_bytes())
    page = 4096
    assert len(data) > 8 * page
    data[5 * page : 6 * page] = b"\xff" * page  # one b-tree page overwritten
    path.write_bytes(bytes(data))
    with pytest.raises(DatabaseUnusableError):
        open_domain(ServerConfig(data_dir=tmp_path))
    assert path.read_bytes() == bytes(data), "the damaged file was written to"
    assert not list(tmp_path.glob("tandem.sqlite3.v*.bak")), "a damaged file was migrated"
    assert len(list(tmp_path.glob("tandem.sqlite3.damaged-*"))) == 1

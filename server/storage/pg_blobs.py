"""Attachment content in PostgreSQL, for a team server: every instance sees every upload.

Each instance of a team server has its own data folder, so files kept there could only be
downloaded through the instance that took them. In the database the instances share, one
``blob`` row holds each distinct content (named by its SHA-256, written once: a second
upload of the same bytes only marks it as just uploaded), with its kind found once and an
image's thumbnail in ``blob_thumbnail``. Content is at most the attachment limit (25 MiB by
default), so it is written and read in one piece. ``pg_dump`` backs it up with the rest.

Deleting content nothing refers to runs in one writer transaction (``PostgresDatabase.begin``
takes the lock every command takes), reading the references in the same statement, and
spares content uploaded within the day: an upload's ``AddAttachment`` is committed after its
content, and meanwhile the content counts as just uploaded. (An upload of content already
there moves its ``created_at`` on; a sweep deleting the row at that moment waits for that
row and checks the time again, as PostgreSQL does for a row updated under it.)
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Collection
from pathlib import Path
from typing import Any

import peewee as pw

from server.storage import images
from server.storage.blobs import REFERENCED, TooLargeError, is_sha256

log = logging.getLogger(__name__)

#: Content nothing refers to is kept this long after its upload (as on disk).
SPARED_SECONDS = 24 * 3600


def _now() -> int:
    return time.time_ns() // 1000


class PostgresBlobWriter:
    """An upload collected in memory (at most ``limit`` bytes), stored whole on commit."""

    def __init__(self, store: PostgresBlobStore, limit: int) -> None:
        self.store = store
        self.limit = limit
        self.size = 0
        self._chunks: list[bytes] = []

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.limit:
            self.abort()
            raise TooLargeError(self.limit)
        self._chunks.append(chunk)

    def commit(self) -> str:
        data = b"".join(self._chunks)
        self._chunks = []
        return self.store.store(data)

    def abort(self) -> None:
        self._chunks = []


class PostgresBlobStore:
    def __init__(self, db: pw.Database) -> None:
        self.db = db
        self.where = "the database's blob table"

    def _one(self, sql: str, params: tuple[Any, ...]) -> Any:
        return self.db.execute_sql(sql, params).fetchone()  # type: ignore[no-untyped-call]

    def store(self, data: bytes) -> str:
        """``data`` under its SHA-256 (once), its kind and thumbnail found on the way in."""
        sha = hashlib.sha256(data).hexdigest()
        now = _now()
        # Content already here is not sent again: it only counts as just uploaded.
        touched = self.db.execute_sql(  # type: ignore[no-untyped-call]
            "UPDATE blob SET created_at = %s WHERE sha256 = %s", (now, sha)
        )
        if touched.rowcount:
            return sha
        kind, thumbnail = images.inspect_bytes(data)
        thumbs = (thumbnail, thumbnail)  # the thumbnail's bytes, and whether there is one
        # One statement, so content and thumbnail land together, without the writers' lock:
        # a 25 MiB upload going into the database holds up no other instance's commands.
        self.db.execute_sql(  # type: ignore[no-untyped-call]
            "WITH stored AS ("
            " INSERT INTO blob (sha256, size, content_type, width, height, bytes, created_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (sha256) DO UPDATE SET created_at = EXCLUDED.created_at"
            " RETURNING sha256)"
            " INSERT INTO blob_thumbnail (sha256, bytes)"
            " SELECT sha256, %s::bytea FROM stored WHERE %s::bytea IS NOT NULL"
            " ON CONFLICT (sha256) DO NOTHING",
            (sha, len(data), kind.content_type, kind.width, kind.height, data, now, *thumbs),
        )
        return sha

    def writer(self, limit: int) -> PostgresBlobWriter:
        return PostgresBlobWriter(self, limit)

    def put(self, data: bytes, limit: int) -> str:
        if len(data) > limit:
            raise TooLargeError(limit)
        return self.store(data)

    def has(self, sha256: str) -> bool:
        return (
            is_sha256(sha256)
            and self._one("SELECT 1 FROM blob WHERE sha256 = %s", (sha256,)) is not None
        )

    def size(self, sha256: str) -> int:
        return int(self._one("SELECT size FROM blob WHERE sha256 = %s", (sha256,))[0])

    def kind(self, sha256: str) -> images.Kind | None:
        if not is_sha256(sha256):
            return None
        row = self._one("SELECT content_type, width, height FROM blob WHERE sha256 = %s", (sha256,))
        return None if row is None else images.Kind(str(row[0]), int(row[1]), int(row[2]))

    def recognise(self, sha256: str) -> images.Kind:
        # Found when the content came in.
        found = self.kind(sha256)
        if found is None:
            raise KeyError(f"no content {sha256} in the database")
        return found

    def content(self, sha256: str) -> bytes:
        row = self._one("SELECT bytes FROM blob WHERE sha256 = %s", (sha256,))
        if row is None:
            raise KeyError(f"no content {sha256} in the database")
        return bytes(row[0])

    def thumbnail(self, sha256: str) -> bytes | None:
        row = self._one("SELECT bytes FROM blob_thumbnail WHERE sha256 = %s", (sha256,))
        return None if row is None else bytes(row[0])

    def sweep(self, older_than: float = SPARED_SECONDS) -> int:
        """Delete content no attachment and no trash entry refers to, uploaded more than
        ``older_than`` seconds ago; returns how many went (thumbnails go with them)."""
        cutoff = _now() - int(older_than * 1_000_000)
        with self.db.atomic():
            cursor = self.db.execute_sql(  # type: ignore[no-untyped-call]
                f"DELETE FROM blob WHERE created_at < %s AND sha256 NOT IN ({REFERENCED})",
                (cutoff,),
            )
            return int(cursor.rowcount)

    def tidy(self, referenced: Collection[str], backups: Path) -> None:
        # The references are read again in the deleting statement (``referenced`` was read
        # before, by another transaction); nothing is restored from a folder (pg_dump's).
        try:
            self.sweep()
        except pw.DatabaseError as exc:  # upkeep: the content simply stays until next time
            log.warning("could not delete unreferenced attachment content: %s", exc)

"""Attachment content on disk: one file per distinct content, named by its SHA-256.

``attachments/ab/abcdef…`` under the data folder. A file is written to ``attachments/tmp``
first, flushed to disk, then renamed into place, so a crash never leaves half a file under
a content name; content that is already there is not written twice. Names are only ever
64 hex digits made here, so nothing a client sends becomes part of a path. Thumbnails of
images live beside, in ``attachments/thumbnails``. Everything is the owner's only (0700
folders, 0600 files), as the database is.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Collection, Iterable
from pathlib import Path
from typing import BinaryIO, Final, Protocol

from server.storage import images, private

SHA256_RE: Final = re.compile(r"^[0-9a-f]{64}$")


class TooLargeError(Exception):
    """The content went past the store's limit while it was being written."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"larger than {limit} bytes")
        self.limit = limit


def is_sha256(value: str) -> bool:
    return SHA256_RE.match(value) is not None


class BlobWriter:
    """Content arriving in chunks: hashed, counted against the limit, written to a temp file."""

    def __init__(self, store: BlobStore, limit: int) -> None:
        self.store = store
        self.limit = limit
        self.size = 0
        self._hash = hashlib.sha256()
        fd, name = tempfile.mkstemp(dir=private.private_dir(store.root / "tmp"), suffix=".part")
        self._temp = Path(name)
        self._file: BinaryIO = os.fdopen(fd, "wb")

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.limit:
            self.abort()
            raise TooLargeError(self.limit)
        self._hash.update(chunk)
        self._file.write(chunk)

    def commit(self) -> str:
        """Put the content in place under its hash (unless it is there already)."""
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        sha = self._hash.hexdigest()
        final = self.store.path(sha)
        if final.exists():
            self._temp.unlink(missing_ok=True)
        else:
            private.private_dir(final.parent)
            os.replace(self._temp, final)
        return sha

    def abort(self) -> None:
        if not self._file.closed:
            self._file.close()
        self._temp.unlink(missing_ok=True)


class Writer(Protocol):
    """An upload on its way into a store: ``write`` its chunks, then ``commit`` (its SHA-256)
    or ``abort`` (after ``commit``, ``abort`` does nothing)."""

    def write(self, chunk: bytes) -> None: ...

    def commit(self) -> str: ...

    def abort(self) -> None: ...


class Blobs(Protocol):
    """Where attachment content lives, as the rest of the server uses it: the data folder's
    files on the desktop (``BlobStore``), the shared database on a team server
    (``server.storage.pg_blobs``). ``Store.blob_store`` picks one where the database opens."""

    #: Where the content is, for messages.
    where: str

    def writer(self, limit: int) -> Writer: ...

    def put(self, data: bytes, limit: int) -> str: ...

    def has(self, sha256: str) -> bool: ...

    def size(self, sha256: str) -> int: ...

    def kind(self, sha256: str) -> images.Kind | None: ...

    def recognise(self, sha256: str) -> images.Kind: ...

    def content(self, sha256: str) -> Path | bytes:
        """The content: a file to stream from, or its bytes."""
        ...

    def thumbnail(self, sha256: str) -> Path | bytes | None:
        """An image's PNG thumbnail (a file or its bytes), or None."""
        ...

    def tidy(self, referenced: Collection[str], backups: Path) -> None:
        """At start: delete content nothing refers to (``referenced``, read before), and
        bring back what is referenced but missing from ``backups`` (the backups' store)."""
        ...


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.where = str(root)

    def content(self, sha256: str) -> Path:
        return self.path(sha256)

    def thumbnail(self, sha256: str) -> Path | None:
        thumb = self.thumbnail_path(sha256)
        return thumb if thumb.is_file() else None

    def tidy(self, referenced: Collection[str], backups: Path) -> None:
        self.sweep(referenced)
        # A database put back from a backup may refer to content since swept from here:
        # the backups folder has it.
        missing = [sha for sha in referenced if not self.has(sha)]
        if missing:
            BlobStore(backups).copy_to(self, missing)

    def path(self, sha256: str) -> Path:
        if not is_sha256(sha256):
            raise ValueError("not a SHA-256 in lower-case hex")
        return self.root / sha256[:2] / sha256

    def thumbnail_path(self, sha256: str) -> Path:
        return self.root / "thumbnails" / f"{self.path(sha256).name}.png"

    def has(self, sha256: str) -> bool:
        return is_sha256(sha256) and self.path(sha256).is_file()

    def _kind_path(self, sha256: str) -> Path:
        return self.path(sha256).with_suffix(".kind")

    def recognise(self, sha256: str) -> images.Kind:
        """Find what the content is (and make its thumbnail) once; the answer is kept beside
        it, so attaching it needs no decoding. Slow for a large image: not on the database
        thread."""
        kind = self.kind(sha256)
        if kind is None:
            kind = images.inspect(self.path(sha256), self.thumbnail_path(sha256))
            temp = self._kind_path(sha256).with_suffix(".kind-part")
            temp.write_text(json.dumps(kind.__dict__))
            temp.replace(self._kind_path(sha256))
        return kind

    def kind(self, sha256: str) -> images.Kind | None:
        """What ``recognise`` found, or None for content not in the store (or not yet
        recognised)."""
        if not self.has(sha256):
            return None
        try:
            return images.Kind(**json.loads(self._kind_path(sha256).read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def size(self, sha256: str) -> int:
        return self.path(sha256).stat().st_size

    def writer(self, limit: int) -> BlobWriter:
        return BlobWriter(self, limit)

    def put(self, data: bytes, limit: int) -> str:
        """Store ``data`` whole (tests, imports); returns its SHA-256."""
        writer = self.writer(limit)
        writer.write(data)
        return writer.commit()

    def sweep(self, referenced: Collection[str], older_than: float = 24 * 3600) -> int:
        """Delete content nothing refers to any more (and uploads cut short), once it is older
        than ``older_than`` seconds, so an upload whose record is still on its way is kept.
        Returns how many files went."""
        if not self.root.is_dir():
            return 0
        cutoff = time.time() - older_than
        gone = 0
        for folder in self.root.iterdir():
            if not folder.is_dir() or folder.name == "thumbnails":
                continue
            for path in folder.iterdir():
                sha = path.name.split(".", 1)[0]
                keep = folder.name != "tmp" and sha in referenced
                try:
                    if not keep and path.stat().st_mtime < cutoff:
                        path.unlink()
                        if path.suffix == "" and folder.name != "tmp":
                            self.thumbnail_path(sha).unlink(missing_ok=True)
                            gone += 1
                except (OSError, ValueError):
                    continue
        return gone

    def copy_to(self, dest: BlobStore, shas: Iterable[str]) -> int:
        """Copy the contents named (and their thumbnails) into ``dest``, skipping those it
        has; returns how many were copied. Content never changes under its name, so a file
        that is there is the same file."""
        copied = 0
        for sha in shas:
            target = dest.path(sha)
            if target.exists() or not self.has(sha):
                continue
            private.private_dir(target.parent)
            _atomic_copy(self.path(sha), target)
            if self._kind_path(sha).is_file():
                _atomic_copy(self._kind_path(sha), dest._kind_path(sha))
            thumb = self.thumbnail_path(sha)
            if thumb.is_file():
                private.private_dir(dest.thumbnail_path(sha).parent)
                _atomic_copy(thumb, dest.thumbnail_path(sha))
            copied += 1
        return copied


def _atomic_copy(source: Path, target: Path) -> None:
    fd, name = tempfile.mkstemp(dir=target.parent, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, source.open("rb") as src:
            shutil.copyfileobj(src, out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(name, target)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise


#: The content a database refers to: its attachments, and those waiting in its trash.
REFERENCED = "SELECT sha256 FROM attachment UNION SELECT sha256 FROM trash_file"


def referenced_by(database: Path) -> list[str]:
    """The SHA-256 of every content the database file (a backup, say) refers to."""
    conn = sqlite3.connect(database)
    try:
        return [str(sha) for (sha,) in conn.execute(REFERENCED)]
    finally:
        conn.close()

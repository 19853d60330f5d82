"""A Tandem export with its files: a .zip holding the export document (``tandem-export.json``,
the same JSON ``tandem export`` writes) and each attachment's content once, as
``attachments/SHA256``. Unzipped, the document is an ordinary export; an importer of a JSON
export alone brings back the attachments whose content it already has.

Reading one is bounded: every member's declared and actual size is checked against the
limits before and while it is read, each file's content must hash to its name, and nothing
but the document and those files may be in it.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Iterable
from typing import BinaryIO

from tandem.v1 import transfer_pb2

from server.domain.transfer.common import MAX_IMPORT_BYTES, BadFile
from server.storage.blobs import Blobs, is_sha256

DOCUMENT = "tandem-export.json"
FILES = "attachments/"
ZIP_MAGIC = b"PK\x03\x04"
#: The most a bundle may hold once unpacked (a zip bomb is refused before it is inflated).
MAX_UNPACKED_BYTES = 4 * MAX_IMPORT_BYTES


def write(document: str, shas: Iterable[str], blobs: Blobs, out: BinaryIO) -> int:
    """The bundle of ``document`` and the contents named (each once, read from ``blobs`` one
    at a time) into ``out``; returns how many files it holds."""
    written: set[str] = set()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(DOCUMENT, document)
        for sha in shas:
            if sha in written:
                continue
            content = blobs.content(sha)
            # Images and archives are compressed already: stored as they are.
            if isinstance(content, bytes):
                archive.writestr(FILES + sha, content, compress_type=zipfile.ZIP_STORED)
            else:
                archive.write(content, FILES + sha, compress_type=zipfile.ZIP_STORED)
            written.add(sha)
    return len(written)


def files_of(doc: transfer_pb2.WorkspaceExport, blobs: Blobs) -> tuple[list[str], int]:
    """The SHA-256 of the document's attachments whose content ``blobs`` has, and how many
    attachments have none there (a data folder copied without its attachments/)."""
    present: list[str] = []
    missing = 0
    for project in doc.projects:
        for a in project.attachments:
            if blobs.has(a.sha256):
                present.append(a.sha256)
            else:
                missing += 1
    return present, missing


def _names(data: bytes) -> list[str] | None:
    try:
        return zipfile.ZipFile(io.BytesIO(data)).namelist()
    except (zipfile.BadZipFile, OSError):
        return None


def is_bundle(data: bytes) -> bool:
    """A zip whose document is a Tandem export (not a Focalboard archive or another zip)."""
    if not data.startswith(ZIP_MAGIC):
        return False
    names = _names(data)
    return names is not None and DOCUMENT in names


def read(data: bytes) -> tuple[bytes, dict[str, bytes]]:
    """The document and the files (by SHA-256) of a bundle; a ``BadFile`` names what is
    wrong with it."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise BadFile("zip", f"not a readable zip archive ({exc})") from None
    unpacked = sum(m.file_size for m in members)
    if unpacked > MAX_UNPACKED_BYTES:
        raise BadFile("zip", f"it would unpack to more than {MAX_UNPACKED_BYTES >> 20} MiB")
    document: bytes | None = None
    files: dict[str, bytes] = {}
    for member in members:
        name = member.filename
        if member.is_dir():
            continue
        if name != DOCUMENT and not (name.startswith(FILES) and is_sha256(name[len(FILES) :])):
            raise BadFile(name, f"not part of a Tandem export (only {DOCUMENT} and {FILES}SHA256)")
        content = _read_member(archive, member)
        if name == DOCUMENT:
            document = content
            continue
        sha = name[len(FILES) :]
        if hashlib.sha256(content).hexdigest() != sha:
            raise BadFile(name, "its content does not match its SHA-256: the file is damaged")
        files[sha] = content
    if document is None:
        raise BadFile(DOCUMENT, "missing from the archive: not a Tandem export")
    return document, files


def _read_member(archive: zipfile.ZipFile, member: zipfile.ZipInfo) -> bytes:
    limit = MAX_IMPORT_BYTES
    try:
        with archive.open(member) as stream:
            # Read one byte past the limit: a member that lies about its size is caught too.
            content = stream.read(limit + 1)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise BadFile(member.filename, f"cannot be read from the archive ({exc})") from None
    if len(content) > limit:
        raise BadFile(member.filename, f"larger than {limit >> 20} MiB")
    return content

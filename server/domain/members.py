"""Members: the people who act on the board. Local browsers are owners; invitees get roles."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping

from tandem.v1 import entities_pb2

from server.domain import convert, validate
from server.domain.errors import invalid
from server.storage.models import CommentRow, MemberRow, TaskRow

Role = entities_pb2.MemberRole
OWNER_ID = "00000000-0000-4000-8000-000000000001"
# Distinct, readable on light and dark backgrounds.
PALETTE = (
    "#e5484d", "#f76b15", "#ffc53d", "#46a758", "#12a594",
    "#0090ff", "#3e63dd", "#8e4ec6", "#d6409f", "#ad7f58",
)  # fmt: skip


# Client ids per lookup query: well under SQLite's limit of bound parameters.
LOOKUP_CHUNK = 500

_HEX_COLOR = re.compile(r"#[0-9a-fA-F]{6}")


def _color(member_id: str) -> str:
    return PALETTE[uuid.UUID(member_id).int % len(PALETTE)]


def set_color(member_id: str, color: str) -> entities_pb2.Member:
    """A member's own colour (their avatar and presence ring), as "#rrggbb"."""
    if not _HEX_COLOR.fullmatch(color):
        raise invalid("color", "a colour is written #rrggbb, e.g. #3e63dd")
    row = MemberRow.get_by_id(member_id)
    row.color = color.lower()
    row.save()
    return convert.member(row)


def list_all() -> list[entities_pb2.Member]:
    return [convert.member(r) for r in MemberRow.select().order_by(MemberRow.created_at)]


def in_project(project_id: str) -> list[entities_pb2.Member]:
    """The members a project's board names: the owner, assignees and comment authors.

    Not everyone the database has met: a snapshot stays the size of the board, whoever has
    ever connected. People viewing come with their presence; the rest on demand (REST).
    """
    assignees = TaskRow.select(TaskRow.assignee_id).where(TaskRow.project_id == project_id)
    authors = CommentRow.select(CommentRow.author_id).where(CommentRow.project_id == project_id)
    rows = (
        MemberRow.select()
        .where((MemberRow.id == OWNER_ID) | MemberRow.id.in_(assignees) | MemberRow.id.in_(authors))
        .order_by(MemberRow.created_at)
    )
    return [convert.member(r) for r in rows]


def ensure_owner(now: int) -> MemberRow:
    """The person at the desktop; acts for REST calls that name no client."""
    owner = MemberRow.get_or_none(MemberRow.id == OWNER_ID)
    if owner is None:
        owner = MemberRow.create(
            id=OWNER_ID,
            display_name="Owner",
            color=_color(OWNER_ID),
            role=Role.MEMBER_ROLE_OWNER,
            client_id=None,
            created_at=now,
        )
    return owner


def local(client_id: str, display_name: str, now: int) -> entities_pb2.Member:
    """The member for a browser on this machine, made on its first hello, renamed on later ones."""
    name = validate.text("display_name", display_name, max_len=80).strip()
    if not client_id:
        owner = ensure_owner(now)
        if name and owner.display_name != name:
            owner.display_name = name
            owner.save()
        return convert.member(owner)
    client_id = validate.text("client_id", client_id, max_len=100, required=True)
    found = MemberRow.get_or_none(MemberRow.client_id == client_id)
    if found is None:
        member_id = str(uuid.uuid4())
        found = MemberRow.create(
            id=member_id,
            display_name=name or "Someone",
            color=_color(member_id),
            role=Role.MEMBER_ROLE_OWNER,
            client_id=client_id,
            created_at=now,
        )
    elif name and found.display_name != name:
        found.display_name = name
        found.save()
    return convert.member(found)


def local_rows(client_ids: Iterable[str]) -> dict[str, MemberRow]:
    """The stored members of these browsers' client ids, in one query per
    ``LOOKUP_CHUNK`` ids (a storm of hellos looks its members up together)."""
    wanted = sorted({c for c in client_ids if c})
    found: dict[str, MemberRow] = {}
    for i in range(0, len(wanted), LOOKUP_CHUNK):
        chunk = wanted[i : i + LOOKUP_CHUNK]
        for row in MemberRow.select().where(MemberRow.client_id.in_(chunk)):
            if row.client_id is not None:  # always, by the query: for the type checker
                found[row.client_id] = row
    return found


def local_browsers(limit: int) -> dict[str, entities_pb2.Member]:
    """The members of the browsers on this machine (those with a client id), by client id:
    the ``limit`` made last."""
    query = (
        MemberRow.select()
        .where(MemberRow.client_id.is_null(False))
        .order_by(MemberRow.created_at.desc())
        .limit(limit)
    )
    return {str(row.client_id): convert.member(row) for row in query}


def local_unchanged(
    known: Mapping[str, MemberRow], client_id: str, display_name: str
) -> entities_pb2.Member | None:
    """The member ``local`` would return for a browser found in ``known`` whose hello
    changes nothing (no name, or the stored one), else None: then ``local`` must run."""
    name = validate.text("display_name", display_name, max_len=80).strip()
    row = known.get(client_id) if client_id else None
    if row is None or (name and row.display_name != name):
        return None
    return convert.member(row)


def invited(display_name: str, role: entities_pb2.MemberRole.ValueType, now: int) -> MemberRow:
    """A new member for a LAN invitee (no browser client id: they sign in with the invite)."""
    if role not in (Role.MEMBER_ROLE_VIEWER, Role.MEMBER_ROLE_EDITOR):
        raise ValueError("an invitee is a viewer or an editor")
    name = validate.text("display_name", display_name, max_len=80, required=True).strip()
    member_id = str(uuid.uuid4())
    row: MemberRow = MemberRow.create(
        id=member_id,
        display_name=name,
        color=_color(member_id),
        role=role,
        client_id=None,
        created_at=now,
    )
    return row

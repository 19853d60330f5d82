"""LAN invites and the browser sessions they open, stored hashed in the database.

An invite is one person's credential: a random token (256 bits from ``secrets``) that
only its SHA-256 is kept of. Opening the invite link in a browser trades the token for
a session: a second, separate secret in an HttpOnly cookie, so the token does not
linger in the address bar or history. Programs that are not browsers present the
invite token itself as ``Authorization: Bearer``.

Every function here is synchronous and touches the database through the peewee
models: call them on the database thread in the server (``Domain.write`` for those that
write, last use included; ``Domain.read`` for the rest), or directly
from the command line with a ``Store`` opened on the same file.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Any

from tandem.v1 import entities_pb2

from server.domain import convert, members, rows
from server.domain.actor import Actor
from server.storage.models import InviteRow, MemberRow, SessionRow, database

Role = entities_pb2.MemberRole

ROLES: dict[str, entities_pb2.MemberRole.ValueType] = {
    "viewer": Role.MEMBER_ROLE_VIEWER,
    "editor": Role.MEMBER_ROLE_EDITOR,
}
ROLE_NAMES: dict[int, str] = {int(value): name for name, value in ROLES.items()}

# last_used_at is a hint for the owner ("used 3 days ago"), not an audit log: writing it on
# every request would turn each read into a write.
LAST_USED_RESOLUTION_MICROS = 60 * 1_000_000


def now_micros() -> int:
    return time.time_ns() // 1000


def new_secret() -> str:
    """A credential: 32 random bytes (256 bits), URL-safe."""
    return secrets.token_urlsafe(32)


def digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8")).digest()


@dataclass(frozen=True)
class Invite:
    """An invite as the owner sees it (never the token: only its hash is kept)."""

    id: str
    member_id: str
    name: str
    color: str
    role: str
    created_at: int
    revoked_at: int | None
    last_used_at: int | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True)
class NewInvite:
    """A just-made invite with its token, shown once and never stored."""

    invite: Invite
    token: str


@dataclass(frozen=True)
class Principal:
    """Who a valid LAN credential belongs to."""

    invite_id: str
    member: entities_pb2.Member
    role: entities_pb2.MemberRole.ValueType

    def actor(self, client_key: str = "") -> Actor:
        return Actor(member_id=self.member.id, role=self.role, client_key=client_key)


class InviteError(ValueError):
    """A request about invites that cannot be done (unknown id, bad role, empty name)."""


def _invite(row: InviteRow, member: MemberRow | None) -> Invite:
    return Invite(
        id=str(row.id),
        member_id=str(row.member_id),
        name=str(member.display_name) if member is not None else "",
        color=str(member.color) if member is not None else "",
        role=ROLE_NAMES.get(int(row.role), "viewer"),
        created_at=int(row.created_at),
        revoked_at=None if row.revoked_at is None else int(row.revoked_at),
        last_used_at=None if row.last_used_at is None else int(row.last_used_at),
    )


def create(name: str, role: str, now: int | None = None) -> NewInvite:
    """A new member with ``role`` and the invite that lets them in."""
    if role not in ROLES:
        raise InviteError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    if not name.strip():
        raise InviteError("an invite needs the person's name")
    if len(name) > 80 or "\x00" in name:
        raise InviteError("a name is at most 80 characters")
    now = now_micros() if now is None else now
    token = new_secret()
    with database.atomic():
        member = members.invited(name, ROLES[role], now)
        invite_id = secrets.token_hex(4)
        while InviteRow.get_or_none(InviteRow.id == invite_id) is not None:
            invite_id = secrets.token_hex(4)
        row = InviteRow.create(
            id=invite_id,
            member_id=member.id,
            role=ROLES[role],
            token_hash=digest(token),
            created_at=now,
            revoked_at=None,
            last_used_at=None,
        )
    return NewInvite(invite=_invite(row, member), token=token)


def list_all() -> list[Invite]:
    rows = list(InviteRow.select().order_by(InviteRow.created_at))
    by_id = {
        m.id: m for m in MemberRow.select().where(MemberRow.id.in_([r.member_id for r in rows]))
    }
    return [_invite(row, by_id.get(row.member_id)) for row in rows]


def find(invite_id: str) -> Invite:
    """One invite by its id, or by a prefix of it that names only one."""
    invite_id = invite_id.strip().lower()
    rows = list(InviteRow.select().where(InviteRow.id.startswith(invite_id))) if invite_id else []
    if not rows:
        raise InviteError(f"no invite with id {invite_id!r}; `tandem invites` lists them")
    if len(rows) > 1:
        raise InviteError(f"{invite_id!r} names several invites; give more of the id")
    row = rows[0]
    return _invite(row, MemberRow.get_or_none(MemberRow.id == row.member_id))


def revoke(invite_id: str, now: int | None = None) -> Invite:
    """Revoke an invite and end its sessions. Revoking twice is not an error."""
    now = now_micros() if now is None else now
    with database.atomic():
        found = find(invite_id)
        if found.revoked_at is None:
            InviteRow.update(revoked_at=now).where(InviteRow.id == found.id).execute()
        SessionRow.delete().where(SessionRow.invite_id == found.id).execute()
    return find(found.id)


def _due(last_used_at: int | None, now: int) -> bool:
    """Whether a last use noted at ``last_used_at`` is to be noted again at ``now``."""
    return last_used_at is None or now - int(last_used_at) > LAST_USED_RESOLUTION_MICROS


def _touch(invite_id: str, last_used_at: int | None, now: int) -> None:
    if _due(last_used_at, now):
        rows.execute(_TOUCH_INVITE, (now, invite_id))


# Every LAN request and WebSocket hello presents a credential: each is looked up with one
# statement built once (peewee's query building cost several times SQLite's own work here,
# and a reconnect storm of invitees is thousands of these at once).
_MEMBER_COLUMNS = "m.id, m.display_name, m.color, m.role, m.client_id"
_BY_TOKEN = (
    f"SELECT i.token_hash, i.id, i.role, i.revoked_at, i.last_used_at, {_MEMBER_COLUMNS}"
    " FROM invite AS i JOIN member AS m ON m.id = i.member_id WHERE i.token_hash = ?"
)
_BY_SESSION = (
    "SELECT s.secret_hash, s.id, s.last_used_at,"
    f" i.id, i.role, i.revoked_at, i.last_used_at, {_MEMBER_COLUMNS}"
    " FROM session AS s JOIN invite AS i ON i.id = s.invite_id"
    " JOIN member AS m ON m.id = i.member_id WHERE s.secret_hash = ?"
)
_TOUCH_INVITE = "UPDATE invite SET last_used_at = ? WHERE id = ?"
_TOUCH_SESSION = "UPDATE session SET last_used_at = ? WHERE id = ?"


def _found(invite_id: str, role: int, member: tuple[Any, ...]) -> Principal:
    """The principal of an invite with ``role``, from its member's ``_MEMBER_COLUMNS``."""
    shown = convert.member_of(*member)
    shown.role = int(role)  # type: ignore[assignment]  # the invite's says what they may do
    return Principal(invite_id=invite_id, member=shown, role=shown.role)


def by_token(token: str, now: int | None = None) -> Principal | None:
    """Who an invite token belongs to, or None (unknown or revoked)."""
    if not token:
        return None
    wanted = digest(token)
    found = rows.execute(_BY_TOKEN, (wanted,)).fetchone()
    # The lookup is by hash, so timing tells nothing about the token; compare_digest keeps
    # the final check constant-time all the same.
    if found is None or not hmac.compare_digest(bytes(found[0]), wanted):
        return None
    _hash, invite_id, role, revoked_at, last_used_at, *member = found
    if revoked_at is not None:
        return None
    now = now_micros() if now is None else now
    if _due(last_used_at, now):  # else no transaction: a reconnect storm mostly reads
        with database.atomic():
            rows.execute(_TOUCH_INVITE, (now, invite_id))
    return _found(invite_id, role, tuple(member))


def by_session(secret: str, now: int | None = None) -> Principal | None:
    """Who a session cookie belongs to, or None (unknown, ended or its invite revoked)."""
    if not secret:
        return None
    wanted = digest(secret)
    found = rows.execute(_BY_SESSION, (wanted,)).fetchone()
    if found is None or not hmac.compare_digest(bytes(found[0]), wanted):
        return None
    _hash, session_id, session_used_at, invite_id, role, revoked_at, last_used_at, *member = found
    if revoked_at is not None:
        return None
    now = now_micros() if now is None else now
    if _due(session_used_at, now):
        with database.atomic():
            rows.execute(_TOUCH_SESSION, (now, session_id))
            _touch(invite_id, last_used_at, now)
    return _found(invite_id, role, tuple(member))


#: The two kinds of credential ``principals`` looks up.
TOKEN, SESSION = "token", "session"


def principals(asked: list[tuple[str, str]], now: int | None = None) -> list[Principal | None]:
    """``by_token`` or ``by_session`` of each (kind, secret) asked, in one transaction: the
    credentials of the connections that arrive together (see storage/batched.py)."""
    now = now_micros() if now is None else now
    with database.atomic():
        return [by_token(s, now) if kind == TOKEN else by_session(s, now) for kind, s in asked]


SESSION_LIFETIME_MICROS = 400 * 24 * 3600 * 1_000_000
# Browsers one person is signed in with at once; joining again past it ends the session
# used least recently, so opening a link over and over cannot grow the table.
MAX_SESSIONS_PER_INVITE = 10


def open_session(token: str, now: int | None = None) -> tuple[Principal, str] | None:
    """Trade a valid invite token for a new session; returns the principal and the secret."""
    now = now_micros() if now is None else now
    principal = by_token(token, now)
    if principal is None:
        return None
    secret = new_secret()
    with database.atomic():
        # A cookie lives 400 days; a session unused for longer can never be presented again.
        SessionRow.delete().where(SessionRow.last_used_at < now - SESSION_LIFETIME_MICROS).execute()
        SessionRow.create(
            id=secrets.token_hex(8),
            invite_id=principal.invite_id,
            secret_hash=digest(secret),
            created_at=now,
            last_used_at=now,
        )
        kept = (
            SessionRow.select(SessionRow.id)
            .where(SessionRow.invite_id == principal.invite_id)
            # Never used last, as SQLite sorts NULL by default and PostgreSQL does not.
            .order_by(SessionRow.last_used_at.desc(nulls="LAST"), SessionRow.created_at.desc())
            .limit(MAX_SESSIONS_PER_INVITE)
        )
        SessionRow.delete().where(
            (SessionRow.invite_id == principal.invite_id) & SessionRow.id.not_in(kept)
        ).execute()
    return principal, secret


def is_active(invite_id: str) -> bool:
    """Whether the invite still exists and is not revoked (no use is recorded)."""
    row = InviteRow.get_or_none(InviteRow.id == invite_id)
    return row is not None and row.revoked_at is None


def revoked_since(after: int) -> list[tuple[str, str, int]]:
    """(invite id, member id, revoked_at) of invites revoked after ``after`` (micros)."""
    rows = InviteRow.select().where(InviteRow.revoked_at > after).order_by(InviteRow.revoked_at)
    return [(str(r.id), str(r.member_id), int(r.revoked_at or 0)) for r in rows]


def latest_revocation() -> int:
    row = (
        InviteRow.select()
        .where(InviteRow.revoked_at.is_null(False))
        .order_by(InviteRow.revoked_at.desc())
        .first()
    )
    return int(row.revoked_at) if row is not None and row.revoked_at is not None else 0

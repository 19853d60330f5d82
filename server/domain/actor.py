"""Who is making a change, and what they may do."""

from __future__ import annotations

from dataclasses import dataclass

from tandem.v1 import entities_pb2

Role = entities_pb2.MemberRole
_EDITORS = frozenset({Role.MEMBER_ROLE_EDITOR, Role.MEMBER_ROLE_OWNER})


@dataclass(frozen=True)
class Actor:
    """The member a request acts as.

    ``client_key`` scopes idempotency keys: the same message id from two different
    clients are two commands; the same one from one client (say, replayed from its
    outbox after a reconnect) is one.
    """

    member_id: str
    role: entities_pb2.MemberRole.ValueType = Role.MEMBER_ROLE_OWNER
    client_key: str = ""

    @property
    def can_edit(self) -> bool:
        return self.role in _EDITORS

    def request_key(self, message_id: str) -> str | None:
        """The idempotency key for a command id, or None when the command has no id."""
        if not message_id:
            return None
        return f"{self.member_id}\x1f{self.client_key}\x1f{message_id}"

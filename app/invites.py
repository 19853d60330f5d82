"""The one place the desktop app asks the server for a LAN invite link."""

from __future__ import annotations

import enum

from server.handle import ServerHandle


class InviteRole(enum.StrEnum):
    VIEWER = "viewer"
    EDITOR = "editor"


def create_invite(handle: ServerHandle, role: InviteRole, name: str = "") -> str:
    """A link that lets one person join the shared board with ``role``."""
    return handle.create_invite(role.value, name)

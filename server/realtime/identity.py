"""Which member a WebSocket connection acts as: the one place that decides it.

Loopback connections are the desktop's own person (or another browser on the same
machine) and act as a local member with the owner role. Anything else needs a
credential from a LAN invite, checked by the security layer, and acts with its role.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web
from tandem.v1 import commands_pb2, entities_pb2, errors_pb2

from server import security
from server.domain.actor import Actor
from server.domain.errors import DomainError
from server.domain.service import Domain

Role = entities_pb2.MemberRole


@dataclass(frozen=True, slots=True)
class Handshake:
    """What a connection's upgrade request told that its hello still needs."""

    app: web.Application
    # The peer's address, from the socket.
    remote: str
    # What a LAN peer's upgrade was let in on (the guard's, or the listener's own upgrade's
    # lookup of the same credential); None for this machine's.
    admission: security.Admission | None


@dataclass(frozen=True, slots=True)
class Identity:
    actor: Actor
    member: entities_pb2.Member


async def resolve_identity(
    handshake: Handshake, hello: commands_pb2.Hello, domain: Domain, connection_id: str
) -> Identity:
    """The actor for a connection that said ``hello``; DomainError UNAUTHENTICATED if none.

    ``client_key`` scopes command idempotency: a browser replaying its outbox after a
    reconnect sends the same client id, so its repeated message ids are recognised.
    """
    # The security layer owns the one definition of "this machine" (it also guards HTTP).
    if not is_local(handshake):
        client_key = hello.client_id or connection_id
        found = await security.remote_identity(handshake.app, handshake.admission, client_key)
        if found is None:
            raise DomainError(
                errors_pb2.ERROR_CODE_UNAUTHENTICATED,
                "connections from the network need an invite",
            )
        actor, member = found
        return Identity(actor=actor, member=member)
    member = await domain.local_member(hello.client_id, hello.display_name)
    actor = Actor(
        member_id=member.id,
        role=Role.MEMBER_ROLE_OWNER,
        client_key=hello.client_id or connection_id,
    )
    shown = entities_pb2.Member()
    shown.CopyFrom(member)
    shown.role = Role.MEMBER_ROLE_OWNER
    return Identity(actor=actor, member=shown)


def is_local(handshake: Handshake) -> bool:
    """Whether the connection comes from this machine (the security layer decides)."""
    return bool(handshake.app[security.SECURITY].is_local(handshake.remote))


def only_local(local: bool, *asked: str) -> None:
    """Only a browser on this machine (``local``: see ``is_local``) changes its own profile; an
    invitee is told which of the things it asked to change ("name", "colour") it may not."""
    if not local:
        what = " and ".join(asked) or "profile"
        verb, them = ("are", "them") if len(asked) > 1 else ("is", "it")
        raise DomainError(
            errors_pb2.ERROR_CODE_PERMISSION_DENIED,
            f"an invited person's {what} {verb} set by the invite; ask the owner to change {them}",
        )


async def recolored(
    local: bool, identity: Identity, client_id: str, color: str, domain: Domain
) -> Identity:
    """The identity with the person's new colour (UpdateProfile); local browsers only."""
    only_local(local, "colour")
    member = await domain.recolor_local(client_id, identity.member.id, color)
    shown = entities_pb2.Member()
    shown.CopyFrom(member)
    shown.role = identity.member.role
    return Identity(actor=identity.actor, member=shown)


async def renamed(
    local: bool, identity: Identity, client_id: str, name: str, domain: Domain
) -> Identity:
    """The identity with the person's new name (UpdateProfile). Only a browser on this machine
    names itself; an invitee's name is the one its invite gave it."""
    only_local(local, "name")
    if not name.strip():
        raise DomainError(
            errors_pb2.ERROR_CODE_INVALID_ARGUMENT, "display_name is required", field="display_name"
        )
    member = await domain.local_member(client_id, name)
    shown = entities_pb2.Member()
    shown.CopyFrom(member)
    shown.role = identity.member.role
    return Identity(actor=identity.actor, member=shown)

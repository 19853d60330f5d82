"""Cutting people off: close_where reaches every socket, those still before hello too, and
a LAN hello takes the upgrade's credential check unless someone's access ended since."""

from __future__ import annotations

import aiohttp
from tandem.v1 import commands_pb2, errors_pb2

from server import security
from server.realtime import HUB, ConnectionInfo, Hub
from server.security import invites
from tests.fixtures import LAN_PEER, NewServer, TandemServer, client_from
from tests.test_security_support import make_invite
from tests.ws_client import WsClient, poll_until, ws_url


async def everyone(hub: Hub, count: int) -> list[ConnectionInfo]:
    """The client has its handshake answer a moment before the server's handler runs on:
    wait until the hub knows ``count`` connections."""
    await poll_until(lambda: len(hub.connections(anonymous=True)) >= count)
    return hub.connections(anonymous=True)


async def test_close_where_sees_and_closes_connections_that_have_not_said_hello(
    session: aiohttp.ClientSession, new_server: NewServer
) -> None:
    server = await new_server()
    hub = server.app[HUB]
    greeted = await WsClient.connect(session, ws_url(server))
    anonymous = await WsClient.connect(session, ws_url(server), hello=False)
    greeted_id = greeted.hello_welcome.connection_id
    await everyone(hub, 2)
    seen: list[ConnectionInfo] = []

    def look(info: ConnectionInfo) -> bool:
        seen.append(info)
        return False

    assert hub.close_where(look) == 0
    before_hello = [info for info in seen if not info.identified]
    assert len(before_hello) == 1
    assert before_hello[0].remote == "127.0.0.1"
    assert before_hello[0].member_id == ""
    assert [info.connection_id for info in seen if info.identified] == [greeted_id]
    # connections() without anonymous= still lists only people who said hello.
    assert [c.connection_id for c in hub.connections()] == [greeted_id]

    closed = hub.close_where(lambda info: not info.identified, 4403, "sharing switched off")
    assert closed == 1
    assert await anonymous.wait_closed() == 4403
    reply = await greeted.request(unsubscribe=commands_pb2.Unsubscribe(subscription_id="x"))
    assert reply.reject.error.code  # still connected and served
    assert [c.connection_id for c in hub.connections(anonymous=True)] == [greeted_id]
    await greeted.close()


async def test_switching_sharing_off_closes_a_lan_socket_that_has_not_said_hello(
    lan_server: TandemServer,
) -> None:
    _, token = await make_invite(lan_server, "editor", "Eda")
    await lan_server.share()
    hub = lan_server.app[HUB]
    async with client_from(LAN_PEER) as lan, aiohttp.ClientSession() as local:
        owner = await WsClient.connect(local, ws_url(lan_server))
        waiting = await WsClient.connect(
            lan, ws_url(lan_server), hello=False, headers={"Authorization": f"Bearer {token}"}
        )
        found = await everyone(hub, 2)
        assert {(c.remote, c.identified) for c in found} == {(LAN_PEER, False), ("127.0.0.1", True)}
        await lan_server.share(False)
        assert await waiting.wait_closed(timeout=5) == 4403
        assert not owner.closed.is_set()
        assert [c.remote for c in hub.connections(anonymous=True)] == ["127.0.0.1"]
        await owner.close()


def hello() -> commands_pb2.Hello:
    return commands_pb2.Hello(
        client_name="tests", client_id="eda-tab", protocol_version=1, display_name="Eda"
    )


async def test_a_lan_hello_takes_the_upgrades_answer_without_a_second_lookup(
    lan_server: TandemServer, credential_lookups: list[tuple[str, str]]
) -> None:
    _, token = await make_invite(lan_server, "editor", "Eda")
    await lan_server.share()
    async with client_from(LAN_PEER) as lan:
        eda = await WsClient.connect(
            lan, ws_url(lan_server), hello=False, headers={"Authorization": f"Bearer {token}"}
        )
        reply = await eda.request(hello=hello())
        assert reply.WhichOneof("payload") == "ack", reply
        assert reply.ack.welcome.member.display_name == "Eda"
        assert [kind for kind, _secret in credential_lookups] == [invites.TOKEN]
        await eda.close()


async def test_an_invite_revoked_between_a_lan_upgrade_and_its_hello_is_refused_at_hello(
    lan_server: TandemServer,
) -> None:
    """Revocation closes the connections the hub knows to be that person's; one that has not
    said hello yet is nobody's, so its hello looks the credential up again."""
    eda_id, token = await make_invite(lan_server, "editor", "Eda")
    _, bob_token = await make_invite(lan_server, "editor", "Bob")
    await lan_server.share()
    hub = lan_server.app[HUB]
    async with client_from(LAN_PEER) as lan:
        eda = await WsClient.connect(
            lan, ws_url(lan_server), hello=False, headers={"Authorization": f"Bearer {token}"}
        )
        bob = await WsClient.connect(
            lan, ws_url(lan_server), hello=False, headers={"Authorization": f"Bearer {bob_token}"}
        )
        await everyone(hub, 2)
        await security.revoke_invite(lan_server.app, eda_id)
        reply = await eda.request(hello=hello())
        assert reply.WhichOneof("payload") == "reject", reply
        assert reply.reject.error.code == errors_pb2.ERROR_CODE_UNAUTHENTICATED
        # Someone else's revocation costs Bob one more lookup, nothing else.
        reply = await bob.request(hello=hello())
        assert reply.WhichOneof("payload") == "ack", reply
        assert reply.ack.welcome.member.display_name == "Bob"
        await bob.close()

"""One invite opening connection after connection is capped (checklist row 22).

Per person and per address, with ``TOO_MANY_CONNECTIONS``; the connections already open,
other people and the owner's loopback connections are unaffected. The LAN peer is played
from 127.0.0.2 (see tests/test_security_support.py).
"""

from __future__ import annotations

import aiohttp
import pytest
from tandem.v1 import commands_pb2

from server.realtime.protocol import (
    MAX_CONNECTIONS_PER_ADDRESS,
    MAX_CONNECTIONS_PER_MEMBER,
    CloseCode,
)
from tests.fixtures import LAN_PEER, OTHER_PEER, TandemServer, client_from
from tests.test_security_support import make_invite
from tests.ws_client import WsClient, ws_url


@pytest.fixture
async def served(lan_server: TandemServer) -> TandemServer:
    await lan_server.share()
    return lan_server


async def connect(session: aiohttp.ClientSession, served: TandemServer, token: str) -> WsClient:
    return await WsClient.connect(
        session, ws_url(served), headers={"Authorization": f"Bearer {token}"}
    )


async def refused_with(
    session: aiohttp.ClientSession, served: TandemServer, token: str
) -> int | None:
    client = await WsClient.connect(
        session, ws_url(served), hello=False, headers={"Authorization": f"Bearer {token}"}
    )
    return await client.wait_closed()


async def still_served(client: WsClient) -> bool:
    reply = await client.request(unsubscribe=commands_pb2.Unsubscribe(subscription_id="none"))
    return reply.WhichOneof("payload") == "reject" and not client.closed.is_set()


async def test_one_person_is_capped_and_everyone_else_is_not(served: TandemServer) -> None:
    _, ana = await make_invite(served, "viewer", "Ana")
    _, ben = await make_invite(served, "viewer", "Ben")
    async with (
        client_from(LAN_PEER) as lan,
        client_from(OTHER_PEER) as other,
        aiohttp.ClientSession() as owner_session,
    ):
        mine = [await connect(lan, served, ana) for _ in range(MAX_CONNECTIONS_PER_MEMBER)]
        assert await refused_with(lan, served, ana) == CloseCode.TOO_MANY_CONNECTIONS
        # From another address too: the cap is the person's.
        assert await refused_with(other, served, ana) == CloseCode.TOO_MANY_CONNECTIONS
        assert all([await still_served(c) for c in mine])
        # Someone else from the same address, and the owner, get in.
        bens = await connect(lan, served, ben)
        assert await still_served(bens)
        owners = [
            await WsClient.connect(owner_session, ws_url(served))
            for _ in range(MAX_CONNECTIONS_PER_MEMBER + 1)
        ]
        assert all([await still_served(c) for c in owners])
        # A closed connection gives its place back.
        await mine.pop().close()
        mine.append(await connect(lan, served, ana))
        assert await still_served(mine[-1])
        for c in [*mine, bens, *owners]:
            await c.close()


async def test_one_address_is_capped_across_people(served: TandemServer) -> None:
    people = -(-MAX_CONNECTIONS_PER_ADDRESS // MAX_CONNECTIONS_PER_MEMBER)
    tokens = [(await make_invite(served, "viewer", f"P{i}"))[1] for i in range(people + 1)]
    async with client_from(LAN_PEER) as lan, client_from(OTHER_PEER) as other:
        opened: list[WsClient] = []
        for token in tokens[:people]:
            for _ in range(MAX_CONNECTIONS_PER_MEMBER):
                if len(opened) < MAX_CONNECTIONS_PER_ADDRESS:
                    opened.append(await connect(lan, served, token))
        assert await refused_with(lan, served, tokens[-1]) == CloseCode.TOO_MANY_CONNECTIONS
        # The same person from another address is fine.
        elsewhere = await connect(other, served, tokens[-1])
        assert await still_served(elsewhere)
        for c in [*opened, elsewhere]:
            await c.close()

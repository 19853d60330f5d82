"""How many WebSocket connections one invited person, or one network address, may hold.

One invite could otherwise open thousands of connections, and every one of them costs
memory, a file and a share of each presence broadcast. Past a cap, a new connection is
opened and closed at once with ``TOO_MANY_CONNECTIONS``, so a browser learns why (its
WebSocket API cannot see an HTTP status); the connections already open, and everyone
else's, are untouched. The owner's own loopback connections are not capped.
"""

from __future__ import annotations

from collections import Counter

from aiohttp import web

from server.realtime.protocol import MAX_CONNECTIONS_PER_ADDRESS, MAX_CONNECTIONS_PER_MEMBER


class ConnectionCaps:
    """Open LAN WebSocket connections per member and per address. Runs on the event loop."""

    def __init__(
        self,
        per_member: int = MAX_CONNECTIONS_PER_MEMBER,
        per_address: int = MAX_CONNECTIONS_PER_ADDRESS,
    ) -> None:
        self.per_member = per_member
        self.per_address = per_address
        self._members: Counter[str] = Counter()
        self._addresses: Counter[str] = Counter()

    def admit(self, member_id: str, address: str) -> str:
        """Count a new connection in; returns "" when admitted, else why it is not."""
        if self._members[member_id] >= self.per_member:
            return f"at most {self.per_member} connections per person; close another tab"
        if self._addresses[address] >= self.per_address:
            return f"at most {self.per_address} connections from one address"
        self._members[member_id] += 1
        self._addresses[address] += 1
        return ""

    def release(self, member_id: str, address: str) -> None:
        for counter, key in ((self._members, member_id), (self._addresses, address)):
            left = counter[key] - 1
            if left > 0:
                counter[key] = left
            else:
                del counter[key]


CONNECTION_CAPS = web.AppKey("realtime_connection_caps", ConnectionCaps)

"""Which ``Host`` and ``Origin`` values name this server: the DNS-rebinding and CSWSH defence.

A hostile page can make a browser talk to 127.0.0.1 (a WebSocket, a form post, a
rebound DNS name), but it cannot make the browser send our name in ``Host`` or our
origin in ``Origin``. So a request is ours only when ``Host`` is a name we answer to,
with the port the connection really arrived on; and a change, or a WebSocket
handshake, from a browser must come from a page we served.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Collection
from dataclasses import dataclass

import ifaddr
from yarl import URL

LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass(frozen=True)
class HostPort:
    host: str  # lower case, IPv6 without brackets
    port: int


def normalise_host(host: str) -> str:
    host = host.strip().lower().rstrip(".")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host


def parse_host(value: str, default_port: int) -> HostPort | None:
    """``Host: name[:port]`` as name and port; None when it is not a well-formed value."""
    value = value.strip()
    if not value or any(c in value for c in " /\\@?#\t"):
        return None
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            return None
        host, rest = value[1:end], value[end + 1 :]
        try:
            ipaddress.IPv6Address(host.split("%", 1)[0])
        except ValueError:
            return None
        if rest and not rest.startswith(":"):
            return None
        port_text = rest[1:] if rest else ""
    else:
        host, sep, port_text = value.partition(":")
        if sep and not port_text:
            return None
        if ":" in port_text:
            return None
    if port_text:
        if not port_text.isdigit() or len(port_text) > 5:
            return None
        port = int(port_text)
    else:
        port = default_port
    if not host or not 0 < port < 65536:
        return None
    return HostPort(normalise_host(host), port)


# Asked several times of every connection (listener, guard, hello): a few peers, remembered.
@functools.lru_cache(maxsize=1024)
def is_loopback_address(address: str | None) -> bool:
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped.is_loopback
    return ip.is_loopback


def host_allowed(host: HostPort, names: Collection[str], port: int) -> bool:
    return host.port == port and host.host in names


def origin_allowed(origin: str, names: Collection[str], port: int) -> bool:
    """An ``Origin`` header that is one of our own pages (any scheme we might serve)."""
    try:
        url = URL(origin)
    except ValueError:
        return False
    if url.scheme not in ("http", "https") or not url.host or url.path not in ("", "/"):
        return False
    if url.user or url.query_string or url.fragment:
        return False
    default = 443 if url.scheme == "https" else 80
    url_port = url.explicit_port if url.explicit_port is not None else default
    return url_port == port and normalise_host(url.host) in names


def lan_addresses() -> list[str]:
    """This machine's IPv4 addresses a colleague could reach: every interface's, in order,
    without loopback and link-local ones.

    From the interfaces themselves, not from resolving the host name: on Debian and
    Ubuntu that gives 127.0.1.1, and a link to it reaches nobody.
    """
    found: list[str] = []
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            if not isinstance(ip.ip, str):  # IPv6 comes as a tuple
                continue
            try:
                address = ipaddress.IPv4Address(ip.ip)
            except ValueError:
                continue
            if address.is_loopback or address.is_link_local or address.is_unspecified:
                continue
            if ip.ip not in found:
                found.append(ip.ip)
    return found

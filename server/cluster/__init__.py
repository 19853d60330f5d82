"""A team server: N instances of ``tandem serve`` on one database and a message bus.

``setup(app)`` (with ``ServerConfig.bus_url`` set) makes this instance one of them: its
commits go out on the bus, other instances' commits and presence come in, in order (see
``cluster``). Without a bus URL nothing here runs and Tandem is the single process it is
on a desktop. Deployment, the choice of bus and the failure modes: docs/team-server.md.
"""

from __future__ import annotations

from aiohttp import web

from server.cluster.bus import BusUnreachableError, BusUrlError, parse_bus_url
from server.cluster.cluster import CLUSTER, Cluster
from server.config import ServerConfig
from server.realtime.peers import PEERS

__all__ = ["CLUSTER", "BusUnreachableError", "BusUrlError", "Cluster", "parse_bus_url", "setup"]


def setup(app: web.Application, config: ServerConfig) -> None:
    """Join the team server on ``config.bus_url``, if any (after ``realtime.setup``)."""
    if not config.bus_url:
        return
    cluster = Cluster(parse_bus_url(config.bus_url), config)
    app[CLUSTER] = cluster
    app[PEERS] = cluster
    app.cleanup_ctx.append(cluster.context)

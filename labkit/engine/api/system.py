"""``/_ping``, ``/version`` and ``OPTIONS``: the calls every client makes first.

They need no model, so they answer from the moment the socket listens.
"""

from __future__ import annotations

from labkit.engine import identity
from labkit.engine.replies import JSONReply, RawReply, Reply, Request

_PING_HEADERS = {
    "Builder-Version": identity.BUILDER_VERSION,
    "Cache-Control": "no-cache, no-store, must-revalidate",
    "Pragma": "no-cache",
    # Swarm state, which newer dockerd reports here; the lab engine has no swarm.
    "Swarm": "inactive",
}

# ``OK``: the cheapest way for a client to learn the engine is there (and its API version).
# Fixed replies: every docker command starts with a ping, and these skip the router.
PING = RawReply(b"OK", "text/plain; charset=utf-8", 200, _PING_HEADERS)
PING_HEAD = RawReply(b"", "text/plain; charset=utf-8", 200, _PING_HEADERS)


async def version(req: Request) -> Reply:
    """What ``docker version`` prints under Server."""
    return JSONReply(identity.version_body())


async def options(req: Request, anyroute: str = "") -> Reply:
    """dockerd answers OPTIONS on any path with an empty 200 (CORS preflight)."""
    return RawReply(b"", "text/plain; charset=utf-8", 200)


ROUTES = [
    ("GET", "/_ping", PING),
    ("HEAD", "/_ping", PING_HEAD),
    ("GET", "/version", version),
    ("OPTIONS", "/{anyroute*}", options),
]

"""Network endpoints: the predefined three plus user-made ones, for ``docker network``."""

from __future__ import annotations

from typing import Any

from labkit.engine.model.validate import check
from labkit.engine.replies import EmptyReply, JSONReply, Reply, Request

# The filter keys dockerd accepts here; any other is a 400 "Invalid filter".
LIST_FILTERS = frozenset({"dangling", "driver", "id", "label", "name", "scope", "type"})

NETWORK_CREATE = {
    "Name": "str",
    "Driver": "str",
    "Internal": "bool",
    "Attachable": "bool",
    "Labels": "strmap",
    "Options": "strmap",
    "EnableIPv6": "bool",
    "CheckDuplicate": "bool",
    "IPAM": "object",
    "EnableIPv4": "bool",
    "Ingress": "bool",
    "ConfigOnly": "bool",
    "Scope": "str",
}
NETWORK_CONNECT = {"Container": "str", "EndpointConfig": "object"}
NETWORK_DISCONNECT = {"Container": "str", "Force": "bool"}


def _members(engine: Any, name: str) -> dict[str, Any]:
    out = {}
    for c in engine.containers.values():
        if c.running and name in c.networks_view():
            out[c.id] = {
                "Name": c.name,
                "EndpointID": "",
                "MacAddress": "",
                "IPv4Address": "",
                "IPv6Address": "",
            }
    return out


async def list_networks(req: Request) -> Reply:
    engine = req.engine
    filters = req.filters(LIST_FILTERS)
    out = []
    for network in engine.networks.networks.values():
        if "name" in filters and not any(n in network.name for n in filters["name"]):
            continue
        if "id" in filters and not any(network.id.startswith(i) for i in filters["id"]):
            continue
        if "driver" in filters and network.driver not in filters["driver"]:
            continue
        if "type" in filters:
            kind = "builtin" if network.predefined else "custom"
            if kind not in filters["type"]:
                continue
        out.append(network.view(None, req.api_version))
    return JSONReply(out)


async def inspect_network(req: Request, id: str) -> Reply:
    engine = req.engine
    network = engine.networks.get(id)
    return JSONReply(network.view(_members(engine, network.name), req.api_version))


async def create_network(req: Request) -> Reply:
    body = check(req.json(default={}), NETWORK_CREATE, "NetworkCreateRequest")
    nid = req.engine.create_network(body)
    return JSONReply({"Id": nid, "Warning": ""}, 201)


async def remove_network(req: Request, id: str) -> Reply:
    req.engine.remove_network(id)
    return EmptyReply(204)


async def connect_network(req: Request, id: str) -> Reply:
    """``docker network connect``: a 200 with no body, as dockerd answers."""
    engine = req.engine
    body = check(req.json(default={}), NETWORK_CONNECT, "NetworkConnectRequest")
    engine.connect_network(id, body.get("Container") or "", body.get("EndpointConfig") or {})
    return EmptyReply(200)


async def disconnect_network(req: Request, id: str) -> Reply:
    engine = req.engine
    body = check(req.json(default={}), NETWORK_DISCONNECT, "NetworkDisconnectRequest")
    engine.disconnect_network(id, body.get("Container") or "", bool(body.get("Force")))
    return EmptyReply(200)


async def prune_networks(req: Request) -> Reply:
    return JSONReply(req.engine.prune_networks())


ROUTES = [
    ("GET", "/networks", list_networks),
    ("POST", "/networks/create", create_network),
    ("POST", "/networks/prune", prune_networks),
    ("GET", "/networks/{id}", inspect_network),
    ("DELETE", "/networks/{id}", remove_network),
    ("POST", "/networks/{id}/connect", connect_network),
    ("POST", "/networks/{id}/disconnect", disconnect_network),
]

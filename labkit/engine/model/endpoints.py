"""A container's network endpoints: the networks it is on, with what the client asked for
on each (aliases, static addresses, links, driver options), and how inspect shows them.

A container's record keeps them in ``doc["networks"]`` (network name -> settings); an
older record without it is on the one network its ``NetworkMode`` names. The lab engine
moves no packets, so addresses are never assigned: only what the client gave is kept.
The rules for connecting and disconnecting, and their words, are dockerd's
(daemon/container_operations.go).
"""

from __future__ import annotations

import ipaddress
from typing import Any

from labkit.engine.model.errors import BadRequest, Forbidden
from labkit.engine.model.versions import older_than
from labkit.engine.replies import ApiError

# What an endpoint keeps of the client's EndpointSettings (the rest is the engine's to fill).
KEPT = ("IPAMConfig", "Links", "Aliases", "MacAddress", "DriverOpts", "GwPriority")
# The modes whose containers share another namespace and join no other network.
SHARED = "container sharing network namespace with another container or host cannot be connected to any other network"  # noqa: E501
WITH_NONE = (
    "container cannot be connected to multiple networks with one of the networks in private "
    "(none) mode"
)
HOST_NETWORK = "container cannot be disconnected from host network or connected to host network"


def mode_network(host_config: dict[str, Any]) -> str:
    """The network a NetworkMode names: ``default`` is the bridge."""
    mode = host_config.get("NetworkMode") or "default"
    return "bridge" if mode == "default" else mode


def kept(settings: Any) -> dict[str, Any]:
    """The part of an EndpointSettings object that is the client's."""
    if not isinstance(settings, dict):
        return {}
    return {key: settings[key] for key in KEPT if settings.get(key) not in (None, "", [], {})}


def initial(host_config: dict[str, Any], networking: Any) -> dict[str, dict[str, Any]]:
    """A new container's endpoints: its NetworkMode's network, with the settings
    ``NetworkingConfig.EndpointsConfig`` gives for it (and for the others it names, which
    API 1.44 allows)."""
    name = mode_network(host_config)
    configs = (networking or {}).get("EndpointsConfig") if isinstance(networking, dict) else None
    configs = configs if isinstance(configs, dict) else {}
    # The docker CLI names the default mode's endpoint "default"; dockerd files it under the
    # network that mode means, so inspect shows "bridge" alone.
    configs = {("bridge" if key == "default" else key): value for key, value in configs.items()}
    out = {name: kept(configs.get(name))}
    if not name.startswith("container:") and name not in ("host", "none"):
        for other, settings in configs.items():
            out.setdefault(other, kept(settings))
    return out


def attached(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The container's endpoints (an older record: the network of its NetworkMode)."""
    networks = doc.get("networks")
    if networks is None:
        return {mode_network(doc["host_config"]): {}}
    return networks


def user_defined(name: str) -> bool:
    return name not in ("bridge", "host", "none", "default") and not name.startswith("container:")


def check_settings(network_name: str, settings: dict[str, Any]) -> None:
    """dockerd's validateEndpointSettings: static addresses and aliases need a network the
    user made."""
    problems = []
    ipam = settings.get("IPAMConfig") or {}
    if not isinstance(ipam, dict):
        raise BadRequest("invalid endpoint settings: IPAMConfig must be an object")
    if not user_defined(network_name):
        if ipam.get("IPv4Address") or ipam.get("IPv6Address"):
            problems.append("user-specified IP address is supported on user-defined networks only")
        if settings.get("Aliases"):
            problems.append("network-scoped aliases are only supported for user-defined networks")
    for key, version in (("IPv4Address", 4), ("IPv6Address", 6)):
        text = ipam.get(key)
        if not text:
            continue
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            problems.append(f"invalid IPv{version} address: {text}")
            continue
        if address.version != version:
            problems.append(f"invalid IPv{version} address: {text}")
    aliases = settings.get("Aliases")
    if aliases is not None and (
        not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases)
    ):
        raise BadRequest(
            "json: cannot unmarshal the Aliases of EndpointSettings: give a list of names"
        )
    if len(problems) == 1:
        raise BadRequest(f"invalid endpoint settings:\n{problems[0]}")
    if problems:
        raise BadRequest("invalid endpoint settings:\n* " + "\n* ".join(problems))


def check_connect(
    endpoints: dict[str, dict[str, Any]],
    mode: str,
    network: Any,
    running: bool,
    container_name: str,
) -> bool:
    """May a container on ``endpoints`` join ``network``? False when it is on it already
    and not running (dockerd keeps the old settings and says nothing)."""
    if mode.startswith("container:"):
        raise BadRequest(SHARED)
    if mode != "host" and network.driver == "host":
        raise BadRequest(HOST_NETWORK)
    for name in endpoints:
        if name == network.name:
            if running:
                raise Forbidden(
                    f"endpoint with name {container_name} already exists in network {name}"
                )
            return False
        if name == "host" or network.driver == "host":
            raise BadRequest(SHARED)
        if name == "none" or network.name == "none":
            raise BadRequest(WITH_NONE)
    return True


def check_disconnect(
    endpoints: dict[str, dict[str, Any]], network: Any, running: bool, cid: str, mode: str
) -> None:
    """May the container leave ``network``? dockerd's order and words (its "not connected"
    is an untyped error there: a 500)."""
    if running and network.driver == "host" and not user_defined(mode):
        raise BadRequest(HOST_NETWORK)
    if network.name not in endpoints:
        the = "" if running else "the "
        raise ApiError(500, f"container {cid} is not connected to {the}network {network.name}")


def _dns_names(name: str, settings: dict[str, Any], c_doc: dict[str, Any]) -> list[str]:
    names = [name.lstrip("/"), *(settings.get("Aliases") or []), c_doc["id"][:12]]
    hostname = c_doc["config"].get("Hostname")
    if hostname:
        names.append(hostname)
    return list(dict.fromkeys(names))


def view(
    network_name: str,
    settings: dict[str, Any],
    c_doc: dict[str, Any],
    api_version: str | None,
) -> dict[str, Any]:
    """One entry of a container's ``NetworkSettings.Networks``, as dockerd shows it at
    ``api_version``: before API 1.45 a user-made network's aliases end with the short id,
    from 1.44 ``DNSNames`` lists every name the container answers to there."""
    aliases = settings.get("Aliases") or None
    custom = user_defined(network_name)
    if custom and older_than(api_version, "1.45"):
        short = c_doc["id"][:12]
        aliases = [*(aliases or []), *([] if short in (aliases or []) else [short])]
    out: dict[str, Any] = {
        "IPAMConfig": settings.get("IPAMConfig") or None,
        "Links": settings.get("Links") or None,
        "Aliases": aliases,
        "MacAddress": settings.get("MacAddress") or "",
        "DriverOpts": settings.get("DriverOpts") or None,
    }
    if not older_than(api_version, "1.48"):
        out["GwPriority"] = settings.get("GwPriority") or 0
    out.update(
        {
            "NetworkID": "",
            "EndpointID": "",
            "Gateway": "",
            "IPAddress": "",
            "IPPrefixLen": 0,
            "IPv6Gateway": "",
            "GlobalIPv6Address": "",
            "GlobalIPv6PrefixLen": 0,
        }
    )
    if not older_than(api_version, "1.44"):
        out["DNSNames"] = _dns_names(c_doc["name"], settings, c_doc) if custom else None
    return out

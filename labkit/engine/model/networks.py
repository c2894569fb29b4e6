"""Networks: the three dockerd predefines (bridge, host, none) and user-made ones.

The lab engine simulates no network traffic; networks exist so that
``docker network ls`` and ``inspect`` show what a learner expects.
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass, field
from typing import Any

from labkit.engine.model.clock import rfc3339
from labkit.engine.model.errors import BadRequest, Conflict, Forbidden, NotFound
from labkit.engine.model.store import Store
from labkit.engine.model.versions import older_than

PREDEFINED = {"bridge": "bridge", "host": "host", "none": "null"}
BRIDGE_SUBNET = {"Subnet": "172.17.0.0/16", "Gateway": "172.17.0.1"}
# The order of an IPAM Config entry's keys in dockerd's replies (empty ones left out).
IPAM_KEYS = ("Subnet", "IPRange", "Gateway", "AuxiliaryAddresses")


def ipam_config(body: Any, enable_ipv6: bool, taken: list[str]) -> dict[str, Any]:
    """A network create request's IPAM, checked as dockerd checks it (validateIpamConfig),
    with a free 172.N.0.0/16 (then 192.168.N.0/20) chosen when it names no IPv4 subnet,
    as dockerd's default address pools do."""
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise BadRequest("json: cannot unmarshal IPAM: it must be an object")
    entries = body.get("Config") or []
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise BadRequest("json: cannot unmarshal IPAM.Config: give a list of objects")
    options = body.get("Options")
    if options is not None and not (
        isinstance(options, dict) and all(isinstance(v, str) for v in options.values())
    ):
        raise BadRequest("json: cannot unmarshal IPAM.Options: give a map of strings")
    problems: list[str] = []
    config = []
    for entry in entries:
        shown = {k: entry[k] for k in IPAM_KEYS if entry.get(k)}
        config.append(shown)
        problems += _ipam_problems(shown, enable_ipv6)
    if len(problems) == 1:
        raise BadRequest(f"invalid network config:\n{problems[0]}")
    if problems:
        raise BadRequest("invalid network config:\n* " + "\n* ".join(problems))
    mine = [ipaddress.ip_network(e["Subnet"], strict=False) for e in config if e.get("Subnet")]
    for other in taken:
        block = ipaddress.ip_network(other, strict=False)
        if any(b.version == block.version and b.overlaps(block) for b in mine):
            raise Forbidden("Pool overlaps with other one on this address space")
    if not any(_family(e.get("Subnet")) == 4 for e in config):
        config.insert(0, _free_subnet(taken))
    out: dict[str, Any] = {"Driver": body.get("Driver") or "default", "Config": config}
    if options:
        out["Options"] = dict(options)
    return out


def _family(text: Any) -> int | None:
    try:
        return ipaddress.ip_network(text, strict=False).version
    except (TypeError, ValueError):
        return None


def _ipam_problems(entry: dict[str, Any], enable_ipv6: bool) -> list[str]:
    subnet_text = entry.get("Subnet")
    if not subnet_text:
        return []
    try:
        subnet = ipaddress.ip_network(subnet_text, strict=False)
    except ValueError:
        return [f"invalid subnet {subnet_text}: not an address block like 10.1.0.0/16"]
    if subnet.version == 6 and not enable_ipv6:
        return []
    problems = []
    if str(subnet) != subnet_text:
        problems.append(f"invalid subnet {subnet_text}: it should be {subnet}")
    if entry.get("IPRange"):
        text = entry["IPRange"]
        try:
            block = ipaddress.ip_network(text, strict=False)
        except ValueError:
            problems.append(f"invalid ip-range {text}: not an address block like 10.1.5.0/24")
        else:
            if block.version != subnet.version:
                problems.append(
                    f"invalid ip-range {text}: parent subnet is an IPv{subnet.version} block"
                )
            else:
                if block.prefixlen < subnet.prefixlen:
                    problems.append(
                        f"invalid ip-range {text}: CIDR block is bigger than its parent "
                        f"subnet {subnet}"
                    )
                if str(block) != text:
                    problems.append(f"invalid ip-range {text}: it should be {block}")
                if not subnet.overlaps(block):
                    problems.append(
                        f"invalid ip-range {text}: parent subnet {subnet} doesn't contain ip-range"
                    )
    if entry.get("Gateway"):
        text = entry["Gateway"]
        try:
            gateway = ipaddress.ip_address(text)
        except ValueError:
            problems.append(f"invalid gateway {text}: not an IP address")
        else:
            if gateway.version != subnet.version:
                problems.append(
                    f"invalid gateway {text}: parent subnet is an IPv{subnet.version} block"
                )
            elif gateway not in subnet:
                problems.append(
                    f"invalid gateway {text}: parent subnet {subnet} doesn't contain this address"
                )
    return problems


def _free_subnet(taken: list[str]) -> dict[str, str]:
    used = []
    for text in taken:
        try:
            used.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            continue
    candidates = [ipaddress.ip_network(f"172.{n}.0.0/16") for n in range(17, 32)]
    candidates += [ipaddress.ip_network(f"192.168.{n}.0/20") for n in range(0, 256, 16)]
    for block in candidates:
        if not any(block.overlaps(other) for other in used if other.version == 4):
            return {"Subnet": str(block), "Gateway": str(next(block.hosts()))}
    raise Forbidden(
        "could not find an available, non-overlapping IPv4 address pool among the defaults to "
        "assign to the network"
    )


def _stable_id(name: str) -> str:
    return hashlib.sha256(f"labkit network {name}".encode()).hexdigest()


@dataclass
class Network:
    id: str
    name: str
    driver: str
    created: int
    labels: dict[str, str] = field(default_factory=dict)
    internal: bool = False
    attachable: bool = False
    options: dict[str, str] = field(default_factory=dict)
    enable_ipv6: bool = False
    # IPAM as the client gave it (Driver, Options) and Config with the subnet the engine
    # chose when the client named none, as dockerd shows it: kept, never used to route.
    ipam: dict[str, Any] = field(default_factory=dict)

    def doc(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "driver": self.driver,
            "created": self.created,
            "labels": self.labels,
            "internal": self.internal,
            "attachable": self.attachable,
            "options": self.options,
            "enable_ipv6": self.enable_ipv6,
            "ipam": self.ipam,
        }

    @property
    def predefined(self) -> bool:
        return self.name in PREDEFINED

    def view(
        self, containers: dict[str, Any] | None = None, api_version: str | None = None
    ) -> dict[str, Any]:
        config = self.ipam.get("Config")
        if config is None:
            config = [dict(BRIDGE_SUBNET)] if self.name == "bridge" else []
        out = {
            "Name": self.name,
            "Id": self.id,
            "Created": rfc3339(self.created),
            "Scope": "local",
            "Driver": self.driver,
            "EnableIPv4": True,
            "EnableIPv6": self.enable_ipv6,
            "IPAM": {
                "Driver": self.ipam.get("Driver") or "default",
                "Options": self.ipam.get("Options") or None,
                "Config": [dict(entry) for entry in config],
            },
            "Internal": self.internal,
            "Attachable": self.attachable,
            "Ingress": False,
            "ConfigFrom": {"Network": ""},
            "ConfigOnly": False,
            "Containers": containers or {},
            "Options": dict(self.options),
            "Labels": dict(self.labels),
        }
        if older_than(api_version, "1.48"):  # added in API 1.48
            del out["EnableIPv4"]
        return out


class NetworkStore:
    def __init__(self, store: Store, now: int) -> None:
        self.store = store
        self.networks: dict[str, Network] = {}
        for doc in store.all("networks"):
            network = Network(**doc)
            self.networks[network.id] = network
        for name, driver in PREDEFINED.items():
            if not any(n.name == name for n in self.networks.values()):
                self.add(Network(id=_stable_id(name), name=name, driver=driver, created=now))

    def add(self, network: Network) -> None:
        self.networks[network.id] = network
        self.store.put("networks", network.id, network.doc())

    def get(self, name_or_id: str) -> Network:
        """By exact name, full id, then unique id prefix, as dockerd looks networks up."""
        for network in self.networks.values():
            if network.name == name_or_id or network.id == name_or_id:
                return network
        found = [n for n in self.networks.values() if name_or_id and n.id.startswith(name_or_id)]
        if len(found) == 1:
            return found[0]
        raise NotFound(f"network {name_or_id} not found")

    def subnets(self) -> list[str]:
        """Every subnet a network has (the bridge's included): a new one must not overlap."""
        out = [BRIDGE_SUBNET["Subnet"]]
        for network in self.networks.values():
            out += [e["Subnet"] for e in network.ipam.get("Config") or [] if e.get("Subnet")]
        return out

    def check_new_name(self, name: str) -> None:
        if any(n.name == name for n in self.networks.values()):
            raise Conflict(f"network with name {name} already exists")

    def remove(self, network: Network) -> None:
        if network.predefined:
            raise Forbidden(f"{network.name} is a pre-defined network and cannot be removed")
        self.networks.pop(network.id, None)
        self.store.delete("networks", network.id)

"""Networks: the three dockerd predefines (bridge, host, none) and user-made ones.

The lab engine simulates no network traffic; networks exist so that
``docker network ls`` and ``inspect`` show what a learner expects.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from labkit.engine.model.clock import rfc3339
from labkit.engine.model.errors import Conflict, Forbidden, NotFound
from labkit.engine.model.store import Store
from labkit.engine.model.versions import older_than

PREDEFINED = {"bridge": "bridge", "host": "host", "none": "null"}
BRIDGE_SUBNET = {"Subnet": "172.17.0.0/16", "Gateway": "172.17.0.1"}


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

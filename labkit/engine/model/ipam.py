"""A network's IPAM (its address blocks): what the client asked for, checked as dockerd
checks it (daemon/network.go's validateIpamConfig, its words too), and the subnet dockerd's
default address pools would choose when the client names none. The lab engine routes no
packets: these are kept and shown, never used.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from labkit.engine.model.errors import BadRequest, Forbidden

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

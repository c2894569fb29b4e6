"""Legacy links (``--link name:alias``): what dockerd stores, the environment variables it
gives the linking container, and its /etc/hosts line."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from labkit.engine.model.errors import BadRequest, NotFound


def split(link: str) -> tuple[str, str]:
    """``name:alias`` (or ``name``) into (name, alias), leading slashes dropped."""
    name, _, alias = link.partition(":")
    name = name.lstrip("/")
    return name, (alias or name).lstrip("/")


def resolve(specs: list[str] | None, lookup: Callable[[str], Any]) -> list[tuple[Any, str]]:
    """(child container, alias) for each link; dockerd's 400 for a container not there."""
    out = []
    for spec in specs or []:
        name, alias = split(spec)
        try:
            child = lookup(name)
        except NotFound as exc:
            raise BadRequest(f"could not get container for {name}: {exc.message}") from None
        out.append((child, alias))
    return out


def stored(children: list[tuple[Any, str]], parent: str) -> list[str]:
    """``/child:/parent/alias``, as dockerd keeps (and inspect shows) each link."""
    return [f"/{child.name}:/{parent}/{alias}" for child, alias in children]


def parse_stored(link: str) -> tuple[str, str]:
    """(child name, link name ``/parent/alias``) of a stored link."""
    child, _, name = link.partition(":")
    return child.lstrip("/"), name


def sim_ip(cid: str) -> str:
    """The address a simulated container has on the default bridge (stable per id)."""
    return f"172.17.0.{2 + int(cid[:6], 16) % 250}"


def _ports(exposed: dict[str, Any] | None) -> list[tuple[int, str]]:
    out = []
    for key in exposed or {}:
        number, _, proto = key.partition("/")
        if number.isdigit():
            out.append((int(number), proto or "tcp"))
    # by number, tcp first where two share one (moby's withTCPPriority)
    return sorted(out, key=lambda p: (p[0], p[1] != "tcp", p[1]))


def env(link_name: str, child_ip: str, exposed: dict[str, Any] | None, child_env: list[str]):
    """The variables dockerd sets for one link (moby's daemon/links ToEnv)."""
    alias = link_name.rsplit("/", 1)[-1].upper().replace("-", "_")
    ports = _ports(exposed)
    out = []
    start = end = None
    for i, (number, proto) in enumerate(ports):
        if i == 0:
            start = end = (number, proto)
            out.append(f"{alias}_PORT={proto}://{child_ip}:{number}")
        prefix = f"{alias}_PORT_{number}_{proto.upper()}"
        out += [
            f"{prefix}={proto}://{child_ip}:{number}",
            f"{prefix}_ADDR={child_ip}",
            f"{prefix}_PORT={number}",
            f"{prefix}_PROTO={proto}",
        ]
        assert start is not None and end is not None
        if number == end[0] + 1 and proto == end[1]:
            end = (number, proto)
            if i < len(ports) - 1:
                continue
        if end != start:
            prefix = f"{alias}_PORT_{start[0]}_{start[1].upper()}"
            out += [
                f"{prefix}_START={start[1]}://{child_ip}:{start[0]}",
                f"{prefix}_PORT_START={start[0]}",
                f"{prefix}_END={end[1]}://{child_ip}:{end[0]}",
                f"{prefix}_PORT_END={end[0]}",
            ]
        start = end = (number, proto)
    out.append(f"{alias}_NAME={link_name}")
    for item in child_env:
        key, eq, value = item.partition("=")
        if eq and key not in ("HOME", "PATH"):
            out.append(f"{alias}_ENV_{key}={value}")
    return out


def hosts_line(alias: str, child_ip: str, hostname: str, name: str) -> str:
    """The /etc/hosts line for a link: the alias, the child's hostname, and its name."""
    names = f"{alias} {hostname}" if alias == name else f"{alias} {hostname} {name}"
    return f"{child_ip}\t{names}\n"

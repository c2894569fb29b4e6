"""Finding the engine the way the docker CLI does, and saying why when there is none.

Order: ``LABKIT_DOCKER_HOST``, ``DOCKER_HOST``, ``DOCKER_CONTEXT`` or the
current docker context, then the sockets the common engines use. The first
three are explicit choices: like the CLI, labkit then tries only that one, so
that a typo never silently lands on a different engine.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labkit import API_VERSION_MAX
from labkit.transport.advice import LAB_ENGINE_HINT, advice
from labkit.transport.contexts import (
    DEFAULT_CONTEXT,
    context_endpoint,
    current_context,
    tls_from_env,
)
from labkit.transport.errors import TransportError
from labkit.transport.exchange import exchange
from labkit.transport.hosts import Endpoint, HostError, parse_host
from labkit.transport.versions import IncompatibleEngine, negotiate

# (path, what usually listens there). "~" is the home folder; a path that
# starts with $XDG_RUNTIME_DIR is skipped when that variable is not set.
# Tests replace this list so that they never depend on the host's sockets.
USUAL_SOCKETS: tuple[tuple[str, str], ...] = (
    ("/var/run/docker.sock", "the usual socket for Docker Engine"),
    ("$XDG_RUNTIME_DIR/docker.sock", "the usual socket for rootless Docker"),
    ("~/.docker/run/docker.sock", "the usual socket for Docker Desktop"),
    ("~/.colima/default/docker.sock", "the usual socket for Colima"),
    ("$XDG_RUNTIME_DIR/podman/podman.sock", "the usual socket for rootless Podman"),
    ("/run/podman/podman.sock", "the usual socket for Podman run as root"),
)

LAB_ENGINE_PLATFORM = "labkit lab engine"

# Once an engine has answered /_ping, a slow /version is not a missing engine:
# Podman runs `conmon --version` and `runc --version` for every GET /version,
# which takes over a second on a busy machine. It gets this long at least.
VERSION_TIMEOUT = 15.0
EXPLICIT_VARS = ("LABKIT_DOCKER_HOST", "DOCKER_HOST")

OK = "ok"
INCOMPATIBLE = "incompatible"


@dataclass(frozen=True)
class EngineInfo:
    """What answered: product, versions and platform, from unversioned ``GET /version``."""

    endpoint: Endpoint
    product: str
    version: str
    api_version: str  # the newest API version the engine speaks
    min_api_version: str | None = None
    os: str = ""
    arch: str = ""
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class Attempt:
    """One candidate tried: did it answer, and if not, which kind of failure and why."""

    endpoint: Endpoint
    ok: bool
    kind: str
    reason: str
    engine: EngineInfo | None = None
    api_version: str | None = None  # negotiated, when ok

    def advice(self) -> str:
        """What this kind of failure means and what to do (empty when ok)."""
        return "" if self.ok else advice(self.kind, self.endpoint)


@dataclass(frozen=True)
class Found:
    """The engine that answered, the API version to use with it, and everything tried."""

    engine: EngineInfo
    api_version: str
    attempts: list[Attempt]

    @property
    def endpoint(self) -> Endpoint:
        return self.engine.endpoint


class EngineNotFound(Exception):
    """No candidate answered; ``str()`` lists each one with why, then what to do."""

    def __init__(self, attempts: Sequence[Attempt]) -> None:
        self.attempts = list(attempts)
        super().__init__(self.explain())

    def __str__(self) -> str:
        return self.explain()

    def explain(self) -> str:
        lines = ["labkit found no Docker engine. It tried, in this order:"]
        for number, attempt in enumerate(self.attempts, 1):
            lines.append(f"  {number}. {attempt.endpoint.describe()}")
            lines.append(f"     {attempt.kind}: {attempt.reason}")
        if not self.attempts:
            lines.append("  (nothing: there was no address to try)")
        lines.append("")
        lines.append("What that means:")
        if len(self.attempts) == 1 and _is_explicit(self.attempts[0].endpoint):
            lines.append(f"- {_explicit_note(self.attempts[0].endpoint)}")
        seen: set[str] = set()
        for attempt in self.attempts:
            text = attempt.advice()
            if text and text not in seen:
                seen.add(text)
                lines.append(f"- {text}")
        lines.append("")
        lines.append(LAB_ENGINE_HINT)
        return "\n".join(lines)


def _is_explicit(endpoint: Endpoint) -> bool:
    return endpoint.source in EXPLICIT_VARS or endpoint.source.startswith("docker context")


def _explicit_note(endpoint: Endpoint) -> str:
    if endpoint.source in EXPLICIT_VARS:
        why, undo = f"{endpoint.source} is set", f"unset {endpoint.source}"
    else:
        why = f"a docker context is chosen ({endpoint.source})"
        undo = "`docker context use default` (and unset DOCKER_CONTEXT)"
    return (
        f"only this one place was tried because {why}, as the docker CLI does; "
        f"to search the usual places instead: {undo}."
    )


def _home(env: Mapping[str, str], home: Path | str | None) -> Path:
    if home is not None:
        return Path(home)
    return Path(env["HOME"]) if env.get("HOME") else Path.home()


def candidates(
    env: Mapping[str, str] | None = None,
    home: Path | str | None = None,
    usual: Sequence[tuple[str, str]] | None = None,
) -> list[Endpoint]:
    """Where to look for the engine, in the docker CLI's order.

    ``env`` defaults to ``os.environ``, ``home`` to ``$HOME``, ``usual`` to
    :data:`USUAL_SOCKETS`. Never raises: an explicit choice that cannot be
    used becomes an endpoint whose ``problem`` says why.
    """
    env = os.environ if env is None else env
    home_dir = _home(env, home)
    for var in EXPLICIT_VARS:
        if env.get(var):
            return [_from_env_var(var, env, home_dir)]
    chosen = current_context(env, home_dir)
    if chosen and chosen[0] != DEFAULT_CONTEXT:
        return [context_endpoint(chosen[0], env, home_dir, chosen[1])]
    return usual_sockets(env, home_dir, USUAL_SOCKETS if usual is None else usual)


def _from_env_var(var: str, env: Mapping[str, str], home: Path) -> Endpoint:
    value = env[var]
    try:
        return parse_host(value, var, tls=tls_from_env(env, home))
    except HostError as exc:
        return Endpoint.broken(value, var, str(exc))


def usual_sockets(
    env: Mapping[str, str], home: Path, usual: Sequence[tuple[str, str]]
) -> list[Endpoint]:
    """The usual socket paths, expanded for this user, without duplicates."""
    found: list[Endpoint] = []
    seen: set[str] = set()
    runtime = env.get("XDG_RUNTIME_DIR", "")
    for template, source in usual:
        if template.startswith("$XDG_RUNTIME_DIR"):
            if not runtime:
                continue
            path = runtime + template[len("$XDG_RUNTIME_DIR") :]
        elif template.startswith("~/"):
            path = str(home / template[2:])
        else:
            path = template
        if path not in seen:
            seen.add(path)
            found.append(Endpoint(url=f"unix://{path}", scheme="unix", source=source, path=path))
    return found


def identify_product(version: Mapping[str, Any]) -> str:
    """Which engine wrote this ``/version`` reply: Docker Engine, Podman, the lab engine, …

    Looks at ``Platform.Name`` and the component names, case-insensitively,
    because each product fills them in differently (a distribution's dockerd
    may leave ``Platform.Name`` empty; Podman lists a "Podman Engine" component).
    """
    platform = version.get("Platform")
    platform_name = str(platform.get("Name", "")) if isinstance(platform, dict) else ""
    components = version.get("Components")
    names = [
        str(c.get("Name", ""))
        for c in (components if isinstance(components, list) else [])
        if isinstance(c, dict)
    ]
    every = [platform_name.lower(), *(n.lower() for n in names)]
    if platform_name.strip().lower() == LAB_ENGINE_PLATFORM:
        return LAB_ENGINE_PLATFORM
    if any("podman" in n for n in every):
        return "Podman"
    if any("docker" in n for n in every) or "engine" in (n.lower() for n in names):
        return "Docker Engine"
    return platform_name or "an unknown Docker-compatible engine"


def engine_info(endpoint: Endpoint, version: Mapping[str, Any]) -> EngineInfo:
    """An :class:`EngineInfo` from a ``/version`` reply."""
    return EngineInfo(
        endpoint=endpoint,
        product=identify_product(version),
        version=str(version.get("Version", "")),
        api_version=str(version.get("ApiVersion", "")),
        min_api_version=str(version["MinAPIVersion"]) if version.get("MinAPIVersion") else None,
        os=str(version.get("Os", "")),
        arch=str(version.get("Arch", "")),
        raw=dict(version),
    )


def probe(endpoint: Endpoint, timeout: float = 2.0) -> Attempt:
    """Try one candidate: ``GET /_ping``, then unversioned ``GET /version``.

    ``timeout`` bounds the ping; an engine that answered it gets at least
    :data:`VERSION_TIMEOUT` for ``/version``, which some engines build slowly.
    """
    try:
        ping = exchange(endpoint, "GET", "/_ping", timeout=timeout)
        if ping.status != 200:
            return _bad_ping(endpoint, ping.status, ping.reason, ping.body)
    except TransportError as exc:
        return Attempt(endpoint, False, exc.kind, exc.reason)
    try:
        reply = exchange(endpoint, "GET", "/version", timeout=max(timeout, VERSION_TIMEOUT))
    except TransportError as exc:
        return Attempt(
            endpoint, False, exc.kind, f"it answered GET /_ping, but GET /version: {exc.reason}"
        )
    try:
        version = json.loads(reply.body) if reply.status == 200 else None
    except ValueError:
        version = None
    if not isinstance(version, dict) or not version.get("ApiVersion"):
        return Attempt(
            endpoint,
            False,
            "error",
            f"it answered GET /_ping, but GET /version gave {reply.status} {reply.reason} "
            f"without an ApiVersion, so it does not look like a Docker engine: {reply.body[:80]!r}",
        )
    info = engine_info(endpoint, version)
    try:
        api = negotiate(info.api_version, API_VERSION_MAX, server_min=info.min_api_version)
    except (IncompatibleEngine, ValueError) as exc:
        return Attempt(endpoint, False, INCOMPATIBLE, str(exc), engine=info)
    return Attempt(
        endpoint,
        True,
        OK,
        f"{info.product} {info.version} answered (API {info.api_version}; labkit will use {api})",
        engine=info,
        api_version=api,
    )


def _bad_ping(endpoint: Endpoint, status: int, reason: str, body: bytes) -> Attempt:
    text = body[:200].decode("utf-8", "replace").strip()
    if status == 400 and "HTTPS server" in text:
        return Attempt(
            endpoint,
            False,
            "tls",
            "the engine expects TLS on this port, but labkit spoke plain HTTP; "
            "set DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH",
        )
    return Attempt(
        endpoint,
        False,
        "error",
        f"it speaks HTTP but answered GET /_ping with {status} {reason} ({text[:80]!r}), "
        "so it is not a Docker engine",
    )


def find_engine(
    env: Mapping[str, str] | None = None,
    home: Path | str | None = None,
    timeout: float = 2.0,
    usual: Sequence[tuple[str, str]] | None = None,
) -> Found:
    """The first candidate that answers, or :class:`EngineNotFound` listing them all."""
    attempts: list[Attempt] = []
    for endpoint in candidates(env, home, usual):
        attempt = probe(endpoint, timeout)
        attempts.append(attempt)
        if attempt.ok and attempt.engine is not None and attempt.api_version:
            return Found(attempt.engine, attempt.api_version, attempts)
    raise EngineNotFound(attempts)

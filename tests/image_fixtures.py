"""Shared helpers for the compatibility suites: raw HTTP to an engine, and busybox on both engines.

The CLI, SDK and differential suites all need the same starting material on
whichever engine they talk to: an image called ``busybox:latest`` whose default
command is ``sh``. The lab engine pulls it from its offline catalogue; the real
dockerd in tests and CI has no network, so ``labkit provision`` imports a
stand-in there, built from Debian's static busybox.

The HTTP helper here is deliberately independent of labkit's own client: the
differential test must not judge the lab engine through code that shares its
assumptions.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import secrets
import socket
import subprocess
import time
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

HTTP_TIMEOUT = 30.0


# --- raw HTTP over a Unix socket


class _UnixConnection(http.client.HTTPConnection):
    """http.client over a Unix socket: the stdlib does the HTTP, we only connect."""

    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("docker", timeout=timeout)
        self._socket_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._socket_path)
        self.sock = sock


@dataclass
class Reply:
    """One whole HTTP response as the engine sent it."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        """The last value of a header, case-insensitive; None when absent."""
        found = None
        for key, value in self.headers:
            if key.lower() == name.lower():
                found = value
        return found

    def json(self) -> object:
        return json.loads(self.body)

    def json_lines(self) -> list[object]:
        """A JSON-lines body (events, pull progress) as a list of values."""
        return [json.loads(line) for line in self.body.splitlines() if line.strip()]


def build_target(path: str, query: Mapping[str, object] | None = None) -> str:
    """``path?query`` with the query percent-encoded; dict values become JSON (filters)."""
    if not query:
        return path
    pairs = []
    for key, value in query.items():
        if isinstance(value, dict | list):
            value = json.dumps(value, separators=(",", ":"))
        pairs.append((key, str(value)))
    return f"{path}?{urllib.parse.urlencode(pairs)}"


def http_call(
    socket_path: str | os.PathLike[str],
    method: str,
    target: str,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = HTTP_TIMEOUT,
) -> Reply:
    """Send one request on a fresh connection and read the whole reply.

    A fresh connection per call keeps one failing request from poisoning the next.
    """
    conn = _UnixConnection(str(socket_path), timeout)
    try:
        all_headers = dict(headers or {})
        if body is not None:
            all_headers.setdefault("Content-Type", "application/json")
        conn.request(method, target, body=body, headers=all_headers)
        resp = conn.getresponse()
        data = resp.read()
        return Reply(resp.status, list(resp.getheaders()), data)
    finally:
        conn.close()


def json_call(
    socket_path: str | os.PathLike[str],
    method: str,
    target: str,
    payload: object = None,
    timeout: float = HTTP_TIMEOUT,
) -> Reply:
    """:func:`http_call` with a JSON body (when ``payload`` is not None)."""
    body = None if payload is None else json.dumps(payload).encode()
    return http_call(socket_path, method, target, body=body, timeout=timeout)


def api_version(socket_path: str | os.PathLike[str]) -> str:
    """The newest API version an engine speaks, from its unversioned ``/version``."""
    reply = http_call(socket_path, "GET", "/version")
    if reply.status != 200:
        raise RuntimeError(f"GET /version on {socket_path} answered {reply.status}: {reply.body!r}")
    data = reply.json()
    assert isinstance(data, dict)
    return str(data["ApiVersion"])


_RFC3339 = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$")


def rfc3339_to_ns(text: str) -> int:
    """An RFC 3339 time with up to nine fraction digits, as nanoseconds since the epoch."""
    match = _RFC3339.match(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not an RFC 3339 time like 2026-01-05T09:00:00.5Z")
    base, frac, zone = match.groups()
    zone = "+00:00" if zone == "Z" else zone
    moment = datetime.fromisoformat(base + zone)
    return int(moment.timestamp()) * 1_000_000_000 + int((frac or "0").ljust(9, "0"))


def engine_now_ns(socket_path: str | os.PathLike[str]) -> int:
    """The engine's own clock (``SystemTime`` from ``GET /info``), in nanoseconds.

    Event windows (``since``/``until``) must be read from the engine, not from this
    process: the lab engine under test runs on a fixed, deterministic clock.
    """
    reply = http_call(socket_path, "GET", "/info")
    if reply.status != 200:
        raise RuntimeError(f"GET /info on {socket_path} answered {reply.status}: {reply.body!r}")
    data = reply.json()
    assert isinstance(data, dict)
    return rfc3339_to_ns(str(data["SystemTime"]))


def unix_time_arg(ns: int) -> str:
    """``since``/``until`` the way the docker CLI sends them: ``seconds.nanoseconds``."""
    seconds, nanos = divmod(ns, 1_000_000_000)
    return f"{seconds}.{nanos:09d}"


def version_key(version: str) -> tuple[int, ...]:
    """``"1.41"`` -> ``(1, 41)`` so that versions compare as numbers, not strings."""
    return tuple(int(part) for part in version.split("."))


def lower_version(*versions: str) -> str:
    return min(versions, key=version_key)


# --- busybox on both engines


def image_exists(socket_path: str | os.PathLike[str], name: str) -> bool:
    return http_call(socket_path, "GET", f"/images/{name}/json").status == 200


def pull_busybox(socket_path: str | os.PathLike[str]) -> None:
    """Pull ``busybox:latest`` the way a client does (the lab engine serves it offline)."""
    reply = http_call(
        socket_path, "POST", "/images/create?fromImage=busybox&tag=latest", timeout=120
    )
    if reply.status != 200 or b'"error' in reply.body:
        raise RuntimeError(
            f"pulling busybox on {socket_path} failed: {reply.status} {reply.body!r}"
        )


def ensure_real_busybox(socket_path: str | os.PathLike[str]) -> None:
    """``busybox:latest`` on a real engine: kept if there, else ``labkit provision``'s stand-in.

    The test dockerd has no network, so provisioning imports a stand-in built from
    Debian's static busybox (``POST /images/create?fromSrc=-``, ``CMD ["sh"]``). It
    is left in place afterwards on purpose: it is starting material that other
    suites share, like a pulled image.
    """
    if image_exists(socket_path, "busybox:latest"):
        return
    from labkit.client.http import Client
    from labkit.client.provision import provision
    from labkit.transport.hosts import parse_host

    client = Client(parse_host(f"unix://{socket_path}", source="the compatibility tests"))
    try:
        [outcome] = provision(client, ["busybox"], pull=False)
    finally:
        client.close()
    if outcome.action == "failed":
        raise RuntimeError(f"could not put busybox on {socket_path}: {outcome.detail}")


# --- engines under test


@dataclass
class Target:
    """An engine a compatibility test talks to, in the shape of the lab engine fixtures."""

    kind: str  # "lab" or "dockerd"
    url: str
    socket: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def is_lab(self) -> bool:
        return self.kind == "lab"


def docker_env(base: Mapping[str, str], url: str, config_dir: Path) -> dict[str, str]:
    """An environment for the docker CLI that sees only ``url`` and an empty config folder."""
    env = {k: v for k, v in base.items() if not k.startswith("DOCKER_")}
    env["DOCKER_HOST"] = url
    env["DOCKER_CONFIG"] = str(config_dir)
    env["DOCKER_CLI_HINTS"] = "false"
    return env


def target_from_lab_engine(engine: object, config_dir: Path) -> Target:
    """Wrap a lab engine fixture's value (it has ``.url``, ``.socket`` and ``.env``)."""
    url = str(engine.url)  # type: ignore[attr-defined]
    base = dict(getattr(engine, "env", None) or os.environ)
    return Target("lab", url, Path(engine.socket), docker_env(base, url, config_dir))  # type: ignore[attr-defined]


def target_from_real(url: str, config_dir: Path) -> Target:
    return Target(
        "dockerd", url, Path(url[len("unix://") :]), docker_env(os.environ, url, config_dir)
    )


def unique_token() -> str:
    """A short random tag for names, so runs never collide on a shared dockerd."""
    return secrets.token_hex(3)


def wait_until(check, timeout: float = 10.0, interval: float = 0.05) -> bool:
    """Poll ``check()`` until it is true or ``timeout`` passes; returns the last result.

    For state that a daemon settles asynchronously (a container removed after
    ``--rm``); the tests assert on the result, never on how long it took.
    """
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def busybox_says(real_engine_url: str, scripts: list[str]) -> dict[int, str]:
    """What the real busybox prints for each script, all run by one ``sh`` in one container on
    the real engine (the differential half of the applet tests): ``{index: output}``."""
    ensure_real_busybox(real_engine_url.removeprefix("unix://"))
    script = "".join(f"echo '### {n}'; {text}\n" for n, text in enumerate(scripts))
    result = subprocess.run(
        ["docker", "-H", real_engine_url, "run", "--rm", "-i", "busybox", "sh"],
        input=script,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    parts = result.stdout.split("### ")[1:]
    return {int(p.split("\n", 1)[0]): p.split("\n", 1)[1] for p in parts}

"""Engine addresses: what ``DOCKER_HOST`` and a docker context's ``Host`` mean.

The docker CLI accepts ``unix:///path``, ``tcp://host:port``, ``ssh://user@host``
and (on Windows) ``npipe://``. labkit reads them the same way, so that a
learner's existing setup just works, and says in plain words what is wrong
with an address it cannot use.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

DEFAULT_UNIX_SOCKET = "/var/run/docker.sock"
DEFAULT_TCP_HOST = "localhost"
DEFAULT_TCP_PORT = 2375  # plain HTTP: anyone who reaches it is root on the host
DEFAULT_TLS_PORT = 2376  # HTTPS, normally with client certificates
DEFAULT_SSH_PORT = 22

SCHEMES = ("unix", "tcp", "ssh", "npipe")

# Linux allows 107 bytes in a Unix socket path (macOS 103).
MAX_UNIX_PATH = 107


class HostError(ValueError):
    """An engine address that labkit cannot read; the message says how to write it."""


@dataclass(frozen=True)
class TLSConfig:
    """Files for a TLS connection, as the docker CLI finds them.

    ``verify`` False means "encrypt but do not check who the server is"
    (``SkipTLSVerify`` in a context, or ``DOCKER_TLS`` without ``DOCKER_TLS_VERIFY``).
    """

    ca: Path | None = None
    cert: Path | None = None
    key: Path | None = None
    verify: bool = True


@dataclass(frozen=True)
class Endpoint:
    """One place an engine might be listening, and where labkit heard of it.

    ``source`` is plain words for the learner ("DOCKER_HOST", "docker context
    'colima'", "the usual socket for rootless Docker"). ``problem`` is set when
    the learner asked for this endpoint but it cannot be used as written (a bad
    ``DOCKER_HOST``, a context that does not exist); it is then reported
    instead of silently trying something else, as the CLI does.
    """

    url: str
    scheme: str
    source: str = ""
    path: str | None = None
    host: str | None = None
    port: int | None = None
    user: str | None = None
    tls: TLSConfig | None = field(default=None)
    problem: str | None = None

    @classmethod
    def broken(cls, url: str, source: str, problem: str) -> Endpoint:
        """An endpoint the learner chose that cannot be used; ``problem`` says why."""
        return cls(url=url, scheme="invalid", source=source, problem=problem)

    def describe(self) -> str:
        """The address and where it came from, for messages: ``unix:///x (DOCKER_HOST)``."""
        if not self.source:
            return self.url
        if self.url in self.source:  # a broken context: its source already names it
            return self.source
        return f"{self.url} ({self.source})"


def parse_host(url: str, source: str = "", tls: TLSConfig | None = None) -> Endpoint:
    """Read an engine address the way the docker CLI reads ``DOCKER_HOST``.

    ``tls`` applies to ``tcp://`` only; it also moves the default port from
    2375 to 2376. Raises :class:`HostError` with a hint when ``url`` is not an
    address the CLI would accept.
    """
    text = url.strip()
    where = f" (from {source})" if source else ""
    if not text:
        raise HostError(
            f"the engine address{where} is empty; write e.g. unix:///var/run/docker.sock"
        )
    scheme, sep, rest = text.partition("://")
    if not sep:
        if text.startswith("/"):
            raise HostError(
                f"{text!r}{where} looks like a socket path but has no scheme; write unix://{text}"
            )
        scheme, rest = "tcp", text  # the CLI reads "host:port" as TCP
    scheme = scheme.lower()
    if scheme == "unix":
        return _parse_unix(rest, source, where)
    if scheme == "tcp":
        return _parse_tcp(rest, source, where, tls)
    if scheme == "ssh":
        return _parse_ssh(text, source, where)
    if scheme == "npipe":
        pipe = rest or "//./pipe/docker_engine"
        return Endpoint(url=text, scheme="npipe", source=source, path=pipe)
    raise HostError(_bad_scheme_message(scheme, text, where))


def _bad_scheme_message(scheme: str, text: str, where: str) -> str:
    if scheme in ("http", "https"):
        return (
            f"{text!r}{where}: Docker addresses use tcp://, not {scheme}://; "
            "write tcp://HOST:PORT (and set DOCKER_TLS_VERIFY=1 for TLS)"
        )
    if scheme == "fd":
        return f"{text!r}{where}: fd:// is for the daemon's own listeners; a client cannot use it"
    return (
        f"{text!r}{where}: unknown scheme {scheme!r}; an engine address starts with "
        "unix://, tcp:// or ssh://"
    )


def _parse_unix(rest: str, source: str, where: str) -> Endpoint:
    path = rest or DEFAULT_UNIX_SOCKET
    if "://" in path:
        raise HostError(f"unix://{rest!r}{where}: a socket path cannot contain '://'")
    if len(path.encode()) > MAX_UNIX_PATH:
        raise HostError(
            f"unix://{path}{where}: the path is {len(path.encode())} bytes long, but Unix "
            f"socket paths are limited to {MAX_UNIX_PATH}; use a shorter path or a symlink"
        )
    return Endpoint(url=f"unix://{path}", scheme="unix", source=source, path=path)


def _parse_tcp(rest: str, source: str, where: str, tls: TLSConfig | None) -> Endpoint:
    default_port = DEFAULT_TLS_PORT if tls else DEFAULT_TCP_PORT
    if "://" in rest:
        raise HostError(f"tcp://{rest}{where}: only one scheme is allowed")
    if not rest:
        host, port = DEFAULT_TCP_HOST, default_port
    else:
        host, port = _split_host_port(rest, default_port, where)
    shown = f"[{host}]" if ":" in host else host
    return Endpoint(
        url=f"tcp://{shown}:{port}", scheme="tcp", source=source, host=host, port=port, tls=tls
    )


def _split_host_port(rest: str, default_port: int, where: str) -> tuple[str, int]:
    try:
        parts = urlsplit(f"tcp://{rest}")
        port = parts.port
    except ValueError as exc:
        raise HostError(
            f"tcp://{rest}{where}: {exc}; write tcp://HOST:PORT with a port from 1 to 65535"
        ) from None
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise HostError(
            f"tcp://{rest}{where}: labkit takes only HOST:PORT after tcp://, "
            f"not {parts.path or ''}{parts.query or ''}"
        )
    if parts.username is not None:
        raise HostError(f"tcp://{rest}{where}: a user name belongs in ssh:// addresses, not tcp://")
    host = parts.hostname or DEFAULT_TCP_HOST
    if port == 0:
        raise HostError(f"tcp://{rest}{where}: port 0 is not a port an engine can listen on")
    if ":" in host:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise HostError(f"tcp://{rest}{where}: {host!r} is not a valid IPv6 address") from None
    return host, port if port is not None else default_port


def _parse_ssh(text: str, source: str, where: str) -> Endpoint:
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise HostError(f"{text!r}{where}: {exc}") from None
    if not parts.hostname:
        raise HostError(f"{text!r}{where}: an ssh:// address needs a host, e.g. ssh://me@server")
    return Endpoint(
        url=text,
        scheme="ssh",
        source=source,
        host=parts.hostname,
        port=port or DEFAULT_SSH_PORT,
        user=parts.username,
    )

"""One HTTP exchange over a connected socket: bytes out, wire events in.

The parsing is :mod:`labkit.wire`'s; this module only moves bytes between the
socket and the parser, and turns socket trouble into transport errors. It also
notices at once when the peer is not speaking HTTP at all (an SSH server, say),
instead of waiting for a reply that will never look like one.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from labkit.transport.connect import open_socket
from labkit.transport.errors import (
    ConnectionLost,
    NoReply,
    NotHTTP,
    SendFailed,
    Timeout,
    TLSFailure,
    TransportError,
)
from labkit.transport.hosts import Endpoint
from labkit.wire.errors import WireError
from labkit.wire.http import BodyPart, End, Head, ResponseParser, Upgraded, build_request

RECV_SIZE = 65536
_SHOWN_BYTES = 40  # how much of a non-HTTP answer to show the learner


@dataclass
class Reply:
    """A whole response, read to its end."""

    status: int
    reason: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def header(self, name: str, default: str | None = None) -> str | None:
        """The first header called ``name`` (any case)."""
        wanted = name.lower()
        return next((v for k, v in self.headers if k.lower() == wanted), default)


def send_all(sock: socket.socket, data: bytes, endpoint: Endpoint | None) -> None:
    """Write every byte of ``data``, or raise a transport error saying why not."""
    try:
        sock.sendall(data)
    except TimeoutError as exc:
        raise Timeout(endpoint, "the engine stopped reading the request") from exc
    except ssl.SSLError as exc:
        raise TLSFailure(endpoint, f"TLS error while sending: {exc.reason or exc}") from exc
    except OSError as exc:
        raise SendFailed(
            endpoint, f"the connection broke while sending: {exc.strerror or exc}"
        ) from exc


def receive(sock: socket.socket, endpoint: Endpoint | None, waiting_for: str) -> bytes:
    """One ``recv``; b"" means the peer closed the connection."""
    try:
        return sock.recv(RECV_SIZE)
    except TimeoutError as exc:
        raise Timeout(
            endpoint, f"no reply within {sock.gettimeout()} s while waiting for {waiting_for}"
        ) from exc
    except ssl.SSLError as exc:
        raise TLSFailure(endpoint, f"TLS error while reading: {exc.reason or exc}") from exc
    except OSError as exc:
        raise ConnectionLost(
            endpoint, f"the connection broke while reading: {exc.strerror or exc}"
        ) from exc


def response_events(
    sock: socket.socket,
    endpoint: Endpoint | None,
    method: str = "GET",
    on_data: Callable[[bytes], object] | None = None,
) -> Iterator[object]:
    """The wire events of one response, read as they arrive, ending with End or Upgraded.

    ``on_data`` sees every piece of bytes as it was received, before it is parsed
    (for showing a learner the exact bytes of a reply).
    """
    parser = ResponseParser(method)
    first = bytearray()
    head_seen = False
    while True:
        try:
            data = receive(sock, endpoint, "the rest of the reply" if head_seen else "a reply")
        except ConnectionLost as exc:
            if first:
                raise
            raise NoReply(endpoint, f"{exc.reason}, before the engine answered") from exc
        if not data and not first:
            raise NoReply(endpoint, "the engine closed the connection without answering")
        if data and on_data is not None:
            on_data(data)
        if not head_seen:
            first += data[: _SHOWN_BYTES - len(first)]
            check_http_start(bytes(first), endpoint)
        try:
            events = parser.feed(data) if data else parser.feed_eof()
        except WireError as exc:
            if not head_seen and not first.startswith(b"HTTP/"):
                raise not_http(endpoint, bytes(first)) from exc
            raise TransportError(endpoint, f"the engine's reply is broken: {exc}") from exc
        for event in events:
            head_seen = head_seen or isinstance(event, Head)
            yield event
            if isinstance(event, (End, Upgraded)):
                return
        if not data:  # the parser should have ended or raised; be safe
            raise ConnectionLost(endpoint, "the engine closed the connection in mid-reply")


def check_http_start(first: bytes, endpoint: Endpoint | None) -> None:
    """Raise :class:`NotHTTP` as soon as the first bytes cannot begin ``HTTP/``."""
    start = first[:5]
    if start != b"HTTP/"[: len(start)]:
        raise not_http(endpoint, first)


def not_http(endpoint: Endpoint | None, first: bytes) -> NotHTTP:
    """The error for a peer whose first bytes show it is not an HTTP server."""
    looks_like_tls = first[:1] in (b"\x15", b"\x16")  # TLS alert or handshake record
    hint = " (that looks like TLS: this port wants an encrypted connection)"
    hint = hint if looks_like_tls else ""
    return NotHTTP(
        endpoint,
        f"it answered, but not in HTTP: its first bytes were {first!r}{hint}",
        first_bytes=first,
    )


def read_reply(sock: socket.socket, endpoint: Endpoint | None, method: str = "GET") -> Reply:
    """Read one whole response (head and body) from ``sock``."""
    reply: Reply | None = None
    body = bytearray()
    for event in response_events(sock, endpoint, method):
        if isinstance(event, (Head, Upgraded)):
            reply = Reply(event.status, event.reason, list(event.headers))
        elif isinstance(event, BodyPart):
            body += event.data
    if reply is None:  # pragma: no cover - response_events always yields a head first
        raise ConnectionLost(endpoint, "the engine sent no status line")
    reply.body = bytes(body)
    return reply


def exchange(
    endpoint: Endpoint,
    method: str,
    target: str,
    *,
    headers: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
    timeout: float | None = 5.0,
) -> Reply:
    """Open a connection, send one request, read the whole reply, close."""
    request = build_request(method, target, headers=[*headers, ("Connection", "close")], body=body)
    with open_socket(endpoint, timeout) as sock:
        send_all(sock, request, endpoint)
        return read_reply(sock, endpoint, method)

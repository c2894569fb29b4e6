"""A small Engine API client: HTTP/1.1 on labkit's own wire and transport layers.

It does what the docker SDK does underneath, in few enough lines to read:
negotiate an API version with unversioned ``GET /version``, put ``/v1.xx`` in
front of every path, encode query parameters (``filters`` as JSON), send JSON
bodies, and turn a non-2xx answer into :class:`APIError` carrying the engine's
own ``{"message": ...}``. One keep-alive connection is reused for ordinary
calls; each stream gets its own connection, because it may stay open for long.
"""

from __future__ import annotations

import contextlib
import json as jsonlib
import re
import socket
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import labkit
from labkit.transport.connect import open_socket
from labkit.transport.discovery import find_engine
from labkit.transport.errors import (
    ConnectionRefused,
    NoReply,
    SendFailed,
    SocketMissing,
    TransportError,
)
from labkit.transport.exchange import receive, response_events, send_all
from labkit.transport.hosts import Endpoint, parse_host
from labkit.transport.versions import IncompatibleEngine, negotiate
from labkit.wire.http import BodyPart, Head, Headers, Upgraded, build_request
from labkit.wire.jsonlines import JsonLinesDecoder

DEFAULT_TIMEOUT = 60.0
USER_AGENT = f"labkit/{labkit.__version__}"
_VERSIONED = re.compile(r"^/v\d+\.\d+/")


class _Default:
    """Marks "use the client's timeout", since None already means "wait for ever"."""

    def __repr__(self) -> str:
        return "DEFAULT"


DEFAULT: Any = _Default()


class APIError(Exception):
    """The engine answered with a status outside 2xx; ``message`` is its own explanation."""

    def __init__(self, status: int, message: str, method: str, path: str, reason: str = "") -> None:
        super().__init__(status, message, method, path)
        self.status = status
        self.message = message
        self.method = method
        self.path = path
        self.reason = reason

    def __str__(self) -> str:
        status = f"{self.status} {self.reason}".strip()
        return f"{self.method} {self.path} failed with {status}: {self.message}"


@dataclass(frozen=True)
class Response:
    """A whole reply: status, headers and body, and the request it answers."""

    status: int
    reason: str
    headers: Headers
    body: bytes
    method: str
    path: str  # the request target as sent, with version prefix and query

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        """The body as JSON, which is how the Engine API answers most calls."""
        return jsonlib.loads(self.body)


def error_message(body: bytes, reason: str) -> str:
    """The engine's explanation in an error reply: ``{"message": ...}`` or the plain body."""
    try:
        data = jsonlib.loads(body)
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("message"), str):
        return data["message"]
    text = body.decode("utf-8", "replace").strip()
    return text[:500] if text else reason


def encode_params(params: Mapping[str, Any] | Iterable[tuple[str, Any]] | None) -> str:
    """A query string the engine understands.

    ``filters`` (dict or list) and any dict value are sent as JSON, the way the
    Engine API expects them; other lists repeat the key (``names=a&names=b``);
    booleans become ``true``/``false``; None leaves the parameter out.
    """
    if not params:
        return ""
    pairs = params.items() if isinstance(params, Mapping) else params
    out: list[tuple[str, str]] = []
    for key, value in pairs:
        if value is None:
            continue
        if isinstance(value, dict) or (key == "filters" and isinstance(value, (list, tuple))):
            out.append((key, jsonlib.dumps(value, separators=(",", ":"))))
        elif isinstance(value, (list, tuple)):
            out.extend((key, _scalar(item)) for item in value)
        else:
            out.append((key, _scalar(value)))
    return urlencode(out)


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class Wiretap:
    """The bytes of one call exactly as they crossed the socket, for showing them.

    Give one to :meth:`Client.request` or :meth:`Client.stream`: ``sent`` gets the
    request, ``received`` every byte of the reply as it arrives (chunk-size lines,
    frame headers and all). ``on_received`` is called with each new piece, from the
    thread that reads it. The client's own version check is never tapped.
    """

    def __init__(self, on_received: Callable[[bytes], object] | None = None) -> None:
        self.sent = bytearray()
        self.received = bytearray()
        self.on_received = on_received

    def send(self, data: bytes) -> None:
        self.sent += data

    def receive(self, data: bytes) -> None:
        self.received += data
        if self.on_received is not None:
            self.on_received(data)

    def clear(self) -> None:
        """Forget what was tapped (the client retries on a fresh connection)."""
        self.sent.clear()
        self.received.clear()

    def __repr__(self) -> str:
        return f"Wiretap({len(self.sent)} bytes sent, {len(self.received)} received)"


class Stream:
    """The body of one reply, piece by piece as the engine sends it.

    Iterate for ``bytes``; ``close()`` (or leaving a ``with`` block) hangs up,
    which is how a client stops following events or logs. After a ``101``
    upgrade (attach), the pieces are the raw stream and ``socket`` is where to
    write the container's stdin.
    """

    def __init__(
        self,
        sock: socket.socket,
        pieces: Iterator[bytes],
        head: Head | Upgraded,
        method: str,
        path: str,
    ) -> None:
        self.socket = sock
        self._pieces = pieces
        self.status = head.status
        self.reason = head.reason
        self.headers = head.headers
        self.method = method
        self.path = path
        self.closed = False

    @property
    def upgraded(self) -> bool:
        return self.status == 101

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        if self.closed:
            raise StopIteration
        try:
            for piece in self._pieces:
                if piece:
                    return piece
        except BaseException:
            self.close()
            raise
        self.close()
        raise StopIteration

    def json(self) -> Iterator[Any]:
        """The body as a stream of JSON values, one per line (events, pull progress)."""
        decoder = JsonLinesDecoder()
        for piece in self:
            yield from decoder.feed(piece)
        yield from decoder.close()

    def close(self) -> None:
        """Hang up; a thread blocked reading this stream wakes up and ends."""
        if not self.closed:
            self.closed = True
            # close() alone leaves a recv() in another thread waiting for ever;
            # shutdown() wakes it (with end of file).
            with contextlib.suppress(OSError):
                self.socket.shutdown(socket.SHUT_RDWR)
            self.socket.close()

    def __enter__(self) -> Stream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Client:
    """Calls the Engine API at ``endpoint`` (an :class:`Endpoint` or a URL like unix:///…)."""

    def __init__(
        self,
        endpoint: Endpoint | str,
        api_version: str | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
    ) -> None:
        self.endpoint = parse_host(endpoint, "Client") if isinstance(endpoint, str) else endpoint
        self.timeout = timeout
        self._api_version = api_version
        self._version_info: dict[str, Any] | None = None
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        # Called when nothing listens at the endpoint any more (the engine stopped): it may
        # start the engine again and return True to have the connection tried once more,
        # or raise an error that says what to do. labkit.lab sets it.
        self.on_unreachable: Callable[[TransportError], bool] | None = None

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str] | None = None,
        home: Path | str | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
    ) -> Client:
        """A client for the engine the docker CLI would use (raises EngineNotFound)."""
        found = find_engine(env, home)
        client = cls(found.endpoint, api_version=found.api_version, timeout=timeout)
        client._version_info = dict(found.engine.raw)
        return client

    def __repr__(self) -> str:
        return f"Client({self.endpoint.url!r}, api_version={self._api_version!r})"

    # -- versions ------------------------------------------------------------------

    @property
    def version_info(self) -> dict[str, Any]:
        """The engine's unversioned ``GET /version`` reply (fetched once)."""
        if self._version_info is None:
            reply = self.request("GET", "/version", versioned=False)
            try:
                info = reply.json()
            except ValueError:
                info = None
            if not isinstance(info, dict):
                raise IncompatibleEngine(
                    f"{self.endpoint.url}: GET /version did not return a JSON object, so this "
                    "is not a Docker engine"
                )
            self._version_info = info
        return self._version_info

    @property
    def api_version(self) -> str:
        """The API version used in paths: negotiated with the engine on first use."""
        if self._api_version is None:
            info = self.version_info
            if not info.get("ApiVersion"):
                raise IncompatibleEngine(
                    f"{self.endpoint.url}: GET /version has no ApiVersion, so labkit cannot "
                    "tell which API version to use"
                )
            self._api_version = negotiate(
                str(info["ApiVersion"]),
                labkit.API_VERSION_MAX,
                server_min=str(info["MinAPIVersion"]) if info.get("MinAPIVersion") else None,
            )
        return self._api_version

    def url_for(self, path: str, params: Any = None, versioned: bool = True) -> str:
        """The request target: ``/v{negotiated}/images/json?all=true``."""
        if not path.startswith("/"):
            raise ValueError(f"the path {path!r} must start with '/', e.g. '/containers/json'")
        if versioned and not _VERSIONED.match(path):
            path = f"/v{self.api_version}{path}"
        query = encode_params(params)
        if query:
            path += ("&" if "?" in path else "?") + query
        return path

    # -- calls ---------------------------------------------------------------------

    def ping(self) -> str:
        """``GET /_ping``: the engine's "OK" (raises if it is not there)."""
        return self.request("GET", "/_ping", versioned=False).text

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Any = None,
        json: Any = None,
        body: bytes | str | None = None,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
        versioned: bool = True,
        timeout: float | None = DEFAULT,
        wiretap: Wiretap | None = None,
    ) -> Response:
        """Send one request and read the whole reply; raise :class:`APIError` unless 2xx.

        ``wiretap`` records the exact bytes sent and received.
        """
        method = method.upper()
        target = self.url_for(path, params, versioned)
        data = build_request(method, target, self._headers(headers, json, body), _body(json, body))
        with self._lock:
            response = self._round_trip(method, target, data, self._timeout(timeout), wiretap)
        if response.status == 101:
            raise APIError(
                101,
                "the engine switched protocols (101 UPGRADED): read the raw stream with "
                "Client.stream(), which hands it over",
                method,
                target,
                response.reason,
            )
        if not response.ok:
            raise APIError(
                response.status,
                error_message(response.body, response.reason),
                method,
                target,
                response.reason,
            )
        return response

    def get(self, path: str, **kwargs: Any) -> Any:
        """``GET path`` and decode its JSON: ``client.get("/images/json")``."""
        return self.request("GET", path, **kwargs).json()

    def stream(
        self,
        method: str,
        path: str,
        *,
        params: Any = None,
        json: Any = None,
        body: bytes | str | None = None,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
        versioned: bool = True,
        timeout: float | None = DEFAULT,
        wiretap: Wiretap | None = None,
    ) -> Stream:
        """Send a request on a connection of its own; iterate the reply's body as it arrives.

        Raises :class:`APIError` at once when the engine refuses. ``timeout`` is
        how long to wait for each piece; give None to follow a stream that may
        be quiet for long (``/events`` without ``until``, ``logs?follow=1``).
        ``wiretap`` records the exact bytes sent and received, as they arrive.
        """
        method = method.upper()
        target = self.url_for(path, params, versioned)
        data = build_request(method, target, self._headers(headers, json, body), _body(json, body))
        sock = self._open(self._timeout(timeout))
        on_data = wiretap.receive if wiretap is not None else None
        try:
            send_all(sock, data, self.endpoint)
            if wiretap is not None:
                wiretap.send(data)
            events = response_events(sock, self.endpoint, method, on_data)
            head = _first_head(events)
            if isinstance(head, Upgraded):
                pieces = _raw_pieces(sock, self.endpoint, head.rest, on_data)
                return Stream(sock, pieces, head, method, target)
            if not 200 <= head.status < 300:
                rest = b"".join(e.data for e in events if isinstance(e, BodyPart))
                raise APIError(
                    head.status, error_message(rest, head.reason), method, target, head.reason
                )
        except BaseException:
            sock.close()
            raise
        pieces = (e.data for e in events if isinstance(e, BodyPart))
        return Stream(sock, pieces, head, method, target)

    def close(self) -> None:
        """Close the kept-alive connection (a later call opens a new one)."""
        with self._lock:
            self._drop()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the connection ------------------------------------------------------------

    def _timeout(self, timeout: float | None) -> float | None:
        return self.timeout if timeout is DEFAULT else timeout

    def _headers(
        self,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | None,
        json: Any,
        body: bytes | str | None,
    ) -> list[tuple[str, str]]:
        given = list(headers.items() if isinstance(headers, Mapping) else headers or ())
        names = {name.lower() for name, _ in given}
        extra = [] if "user-agent" in names else [("User-Agent", USER_AGENT)]
        if json is not None and "content-type" not in names:
            extra.append(("Content-Type", "application/json"))
        return extra + given

    def _round_trip(
        self,
        method: str,
        target: str,
        data: bytes,
        timeout: float | None,
        wiretap: Wiretap | None = None,
    ) -> Response:
        """Send on the kept-alive connection; on a stale one, retry once on a fresh one."""
        for _ in range(2):
            reused = self._sock is not None
            sock = self._connection(timeout)
            if wiretap is not None:
                wiretap.clear()
            try:
                send_all(sock, data, self.endpoint)
                if wiretap is not None:
                    wiretap.send(data)
                return self._read(sock, method, target, wiretap.receive if wiretap else None)
            except (SendFailed, NoReply):
                self._drop()
                # A kept-alive connection the engine closed while idle fails on the
                # first write or gives no reply at all; a new connection fixes that.
                if not reused:
                    raise
            except TransportError:
                self._drop()
                raise
        raise NoReply(self.endpoint, "the engine closed the connection twice without answering")

    def _connection(self, timeout: float | None) -> socket.socket:
        if self._sock is None:
            self._sock = self._open(timeout)
        else:
            self._sock.settimeout(timeout)
        return self._sock

    def _open(self, timeout: float | None) -> socket.socket:
        """A new connection; if nothing listens any more, ask ``on_unreachable`` once."""
        try:
            return open_socket(self.endpoint, timeout)
        except (SocketMissing, ConnectionRefused) as gone:
            if self.on_unreachable is None or not self.on_unreachable(gone):
                raise
        return open_socket(self.endpoint, timeout)

    def _read(
        self,
        sock: socket.socket,
        method: str,
        target: str,
        on_data: Callable[[bytes], object] | None = None,
    ) -> Response:
        head: Head | None = None
        parts: list[bytes] = []
        keep = False
        for event in response_events(sock, self.endpoint, method, on_data):
            if isinstance(event, Head):
                head = event
                keep = _keeps_alive(event)
            elif isinstance(event, BodyPart):
                parts.append(event.data)
            elif isinstance(event, Upgraded):
                # request() cannot carry a raw stream; the caller wanted a socket of its own.
                self._drop()
                return Response(
                    event.status, event.reason, event.headers, event.rest, method, target
                )
        if not keep:
            self._drop()
        assert head is not None  # response_events yields a Head before End
        return Response(head.status, head.reason, head.headers, b"".join(parts), method, target)

    def _drop(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def _body(json: Any, body: bytes | str | None) -> bytes:
    if json is not None and body is not None:
        raise ValueError("give json= or body=, not both")
    if json is not None:
        return jsonlib.dumps(json).encode()
    if isinstance(body, str):
        return body.encode()
    return body or b""


def _first_head(events: Iterator[object]) -> Head | Upgraded:
    """Skip 1xx replies: the final Head, or Upgraded when the engine switched protocols."""
    for event in events:
        if isinstance(event, (Head, Upgraded)):
            return event
    raise AssertionError("response_events ends only after a Head or Upgraded")  # pragma: no cover


def _raw_pieces(
    sock: socket.socket,
    endpoint: Endpoint,
    first: bytes,
    on_data: Callable[[bytes], object] | None = None,
) -> Iterator[bytes]:
    """After a 101: the bytes that came with the head, then whatever the socket brings."""
    if first:
        yield first
    while True:
        data = receive(sock, endpoint, "the attached stream")
        if not data:
            return
        if on_data is not None:
            on_data(data)
        yield data


def _keeps_alive(head: Head) -> bool:
    connection = (head.headers.get("Connection") or "").lower()
    return head.http_version == "1.1" and "close" not in connection

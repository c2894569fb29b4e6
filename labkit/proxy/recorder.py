"""The recording proxy: a socket of its own in front of the engine, writing down every byte.

A client (the docker CLI, the docker SDK, a notebook cell) connects to the recorder's
socket instead of the engine's; for each connection the recorder opens one to the engine
and copies bytes both ways, unchanged. It is ``socat -v UNIX-LISTEN:… UNIX-CONNECT:…``
with a memory: every piece of bytes is kept with who sent it and when (a :class:`Chunk`),
and the bytes are read as HTTP, so that the recording can be shown as what it means, one
:class:`Exchange` per request and its response:

- requests are parsed with h11 (as a server would), responses with
  :class:`labkit.wire.http.ResponseParser` (as a client would);
- a ``101 UPGRADED`` answer (``docker run`` and ``docker attach`` take over the connection
  this way) ends HTTP on that connection: what follows is kept as two raw streams, and the
  engine's side, for a container without a TTY, decodes into frames
  (:mod:`labkit.wire.frames`).

Reading the HTTP never gets in the way of forwarding it: bytes the parsers cannot make
sense of are still forwarded and kept, and the exchange says what went wrong.

The parsing (:class:`Conversation`) does no I/O, so tests feed it canned bytes. The server
(:class:`Recorder`) runs in threads, so that a notebook can start it, run ``docker``
through it, stop it and read :attr:`Recorder.transcript`.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import selectors
import socket
import ssl
import stat
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import h11

from labkit.proxy import listen
from labkit.transport.connect import open_socket
from labkit.transport.errors import TransportError
from labkit.transport.hosts import Endpoint, parse_host
from labkit.wire.errors import WireError
from labkit.wire.frames import STDERR, STDOUT, Frame, FrameDecoder
from labkit.wire.http import (
    BodyPart,
    End,
    Event,
    Head,
    Headers,
    Informational,
    ResponseParser,
    Upgraded,
)

CLIENT = "client"  # bytes the client sent, towards the engine
ENGINE = "engine"  # bytes the engine sent, towards the client
ARROWS = {CLIENT: "→", ENGINE: "←"}

RECV_SIZE = 65536
MAX_REQUEST_HEAD = 64 * 1024
# The Content-Types of the Engine API's container streams (logs, attach, exec start).
STREAM_TYPES = (
    "application/vnd.docker.multiplexed-stream",
    "application/vnd.docker.raw-stream",
)
_VERSION_PREFIX = re.compile(r"^/v(\d+\.\d+)(?=/)")
# What engines without a stream type write instead: nothing, or bytes of any kind.
_UNTYPED = ("", "application/octet-stream")
# Endpoints whose body is a container's output stream.
_STREAM_ENDPOINTS = re.compile(r"/containers/[^/]+/(logs|attach)|/exec/[^/]+/start")

Callback = Callable[[Any], None]


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class Chunk:
    """Bytes as one ``recv()`` got them: who sent them, on which connection, and when.

    ``time`` is in seconds since the recorder started. ``stream`` is True for bytes sent
    after a 101 upgrade, which are a raw stream rather than HTTP.
    """

    connection: int
    sender: str
    time: float
    data: bytes
    stream: bool = False

    @property
    def arrow(self) -> str:
        """``→`` for client to engine, ``←`` for engine to client."""
        return ARROWS[self.sender]


@dataclass(frozen=True)
class Exchange:
    """One request and the response to it, as they crossed the proxy.

    ``raw_request`` and ``raw_response`` are the bytes exactly as sent (chunk-size lines
    and all); ``request_body`` and ``response_body`` are the bodies decoded from them.
    After a 101, ``stream_in`` holds what the client sent into the raw stream (the
    container's stdin) and ``stream_out`` what the engine sent back.
    """

    number: int  # 1, 2, 3… in the order the requests arrived, over all connections
    connection: int
    method: str
    target: str  # as sent: "/vX.Y/containers/create?name=web"
    request_headers: Headers
    request_body: bytes
    started: float  # seconds since the recorder started: the request's first byte
    status: int | None = None
    reason: str = ""
    response_headers: Headers = field(default_factory=Headers)
    response_body: bytes = b""
    answered: float | None = None  # when the response's head arrived
    finished: float | None = None  # when the response ended (or the connection closed)
    upgraded: bool = False
    stream_in: bytes = b""
    stream_out: bytes = b""
    raw_request: bytes = b""
    raw_response: bytes = b""
    complete: bool = False
    problem: str = ""  # why the recording of this exchange is incomplete, if it is

    # -- the request ----------------------------------------------------------------

    @property
    def path(self) -> str:
        """The target without its query string: ``/vX.Y/containers/create``."""
        return urlsplit(self.target).path

    @property
    def query(self) -> dict[str, list[str]]:
        """The query string, decoded: ``{"name": ["web"]}``."""
        return parse_qs(urlsplit(self.target).query, keep_blank_values=True)

    @property
    def api_version(self) -> str | None:
        """The ``/vX.Y`` prefix's version, or None for an unversioned path like ``/_ping``."""
        match = _VERSION_PREFIX.match(self.path)
        return match.group(1) if match else None

    @property
    def endpoint(self) -> str:
        """The path without the version prefix: ``/containers/create``."""
        return _VERSION_PREFIX.sub("", self.path, count=1)

    def request_json(self) -> Any:
        """The request body as JSON, or None when there is none or it is not JSON."""
        return _json_or_none(self.request_body)

    # -- the response ---------------------------------------------------------------

    @property
    def content_type(self) -> str:
        """The response's Content-Type without parameters (``""`` if none)."""
        value = self.response_headers.get("Content-Type") or ""
        return value.split(";", 1)[0].strip().lower()

    def response_json(self) -> Any:
        """The response body as JSON, or None when it is empty or not JSON."""
        return _json_or_none(self.response_body)

    def json_lines(self) -> list[Any]:
        """A streamed body of JSON values, one per line (pull progress, events)."""
        values = []
        for line in self.response_body.splitlines():
            value = _json_or_none(line)
            if value is not None:
                values.append(value)
        return values

    @property
    def container_stream(self) -> bytes | None:
        """The bytes of a container's output stream: after a 101, or a logs-like body."""
        if self.upgraded:
            return self.stream_out
        if self.content_type in STREAM_TYPES:
            return self.response_body
        if self.content_type in _UNTYPED and _STREAM_ENDPOINTS.fullmatch(self.endpoint):
            # dockerd 20.10 (API 1.41) sends logs with no type, Podman as octet-stream
            return self.response_body
        return None

    @property
    def frames(self) -> list[Frame] | None:
        """The container's output cut into frames, or None if it is not framed.

        A container with a TTY sends raw bytes with no frames; so does anything that is
        not a container stream. A frame cut off at the end of the recording is left out.
        """
        data = self.container_stream
        if not data:
            return None if data is None else []
        if data[0] > 3 or any(data[1:4]):  # not a frame header, even a partial one
            return None
        try:
            return FrameDecoder().feed(data)
        except WireError:
            return None

    def output(self) -> tuple[bytes, bytes]:
        """(stdout, stderr) of a container stream; a raw (TTY) stream is all stdout."""
        frames = self.frames
        if frames is None:
            return self.container_stream or b"", b""
        out = b"".join(f.data for f in frames if f.stream == STDOUT)
        err = b"".join(f.data for f in frames if f.stream == STDERR)
        return out, err

    @property
    def duration(self) -> float | None:
        """Seconds from the request's first byte to the response's end."""
        return None if self.finished is None else self.finished - self.started

    def summary(self) -> str:
        """One line: ``#3 POST /vX.Y/containers/create → 201 Created``."""
        answer = "(no answer)" if self.status is None else f"{self.status} {self.reason}".strip()
        line = f"#{self.number} {self.method} {self.target} → {answer}"
        return f"{line}  [{self.problem}]" if self.problem else line


def _json_or_none(data: bytes) -> Any:
    if not data.strip():
        return None
    try:
        return json.loads(data)
    except ValueError:
        return None


@dataclass(frozen=True)
class Transcript:
    """Everything a recorder saw: the exchanges in order, and the raw chunks."""

    exchanges: tuple[Exchange, ...]
    chunks: tuple[Chunk, ...]
    started_at: float  # wall-clock time (time.time()) when the recorder started
    problems: tuple[str, ...] = ()

    def __iter__(self) -> Iterator[Exchange]:
        return iter(self.exchanges)

    def __len__(self) -> int:
        return len(self.exchanges)

    def __getitem__(self, index: int) -> Exchange:
        return self.exchanges[index]

    @property
    def connections(self) -> list[int]:
        """The connection numbers seen, in order."""
        return sorted({c.connection for c in self.chunks} | {e.connection for e in self})

    def find(self, method: str | None = None, endpoint: str | None = None) -> list[Exchange]:
        """Exchanges matching ``method`` and ``endpoint``.

        ``endpoint`` is a path without the version prefix, where ``{…}`` stands for one
        path segment: ``find("POST", "/containers/{id}/start")``.
        """
        pattern = _endpoint_regex(endpoint) if endpoint else None
        return [
            e
            for e in self
            if (method is None or e.method == method.upper())
            and (pattern is None or pattern.fullmatch(e.endpoint))
        ]

    def first(self, method: str | None = None, endpoint: str | None = None) -> Exchange:
        """The first exchange :meth:`find` gives, or a LookupError listing what there is."""
        found = self.find(method, endpoint)
        if found:
            return found[0]
        seen = ", ".join(f"{e.method} {e.endpoint}" for e in self) or "nothing"
        wanted = f"{method or 'any method'} {endpoint or 'any path'}"
        raise LookupError(f"no exchange {wanted} in this transcript; it holds: {seen}")

    def text(self) -> str:
        """One line per exchange."""
        lines = [e.summary() for e in self] or ["(no exchanges recorded)"]
        return "\n".join(lines + [f"problem: {p}" for p in self.problems])

    def __str__(self) -> str:
        return self.text()


def _endpoint_regex(endpoint: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]*\})", endpoint)
    return re.compile(
        "".join("[^/]+" if p.startswith("{") and p.endswith("}") else re.escape(p) for p in parts)
    )


# --------------------------------------------------------------------------- parsing


class _Builder:
    """An exchange while it is being recorded (mutable; :meth:`snapshot` freezes it)."""

    def __init__(
        self, number: int, connection: int, method: str, target: str, headers: Headers, t: float
    ) -> None:
        self.number = number
        self.connection = connection
        self.method = method
        self.target = target
        self.request_headers = headers
        self.started = t
        self.request_body = bytearray()
        self.status: int | None = None
        self.reason = ""
        self.response_headers = Headers()
        self.response_body = bytearray()
        self.answered: float | None = None
        self.finished: float | None = None
        self.upgraded = False
        self.stream_in = bytearray()
        self.stream_out = bytearray()
        self.raw_request = bytearray()
        self.raw_response = bytearray()
        self.complete = False
        self.problem = ""
        self.reported = False

    def label(self) -> str:
        return f"#{self.number} {self.method} {self.target}"

    def snapshot(self, more_request: bytes = b"", more_response: bytes = b"") -> Exchange:
        return Exchange(
            number=self.number,
            connection=self.connection,
            method=self.method,
            target=self.target,
            request_headers=self.request_headers,
            request_body=bytes(self.request_body),
            started=self.started,
            status=self.status,
            reason=self.reason,
            response_headers=self.response_headers,
            response_body=bytes(self.response_body),
            answered=self.answered,
            finished=self.finished,
            upgraded=self.upgraded,
            stream_in=bytes(self.stream_in),
            stream_out=bytes(self.stream_out),
            raw_request=bytes(self.raw_request) + more_request,
            raw_response=bytes(self.raw_response) + more_response,
            complete=self.complete,
            problem=self.problem,
        )


def _h11_headers(headers: Any) -> Headers:
    return Headers((n.decode("latin-1"), v.decode("latin-1")) for n, v in headers.raw_items())


class Conversation:
    """One connection's bytes, both ways, read as HTTP exchanges. No sockets here.

    ``feed(sender, data, t)`` takes the bytes the client (``CLIENT``) or the engine
    (``ENGINE``) sent at time ``t`` and returns the :class:`Chunk` s recorded for them;
    ``close(sender, t)`` says that side closed. Exchanges that have ended since the last
    call come out of :meth:`take_completed`; :attr:`exchanges` gives them all.
    """

    def __init__(self, connection: int, numbers: Callable[[], int] | None = None) -> None:
        self.connection = connection
        self._numbers = numbers or itertools.count(1).__next__
        self._builders: list[_Builder] = []
        self._completed: list[_Builder] = []
        # The request side: h11 playing the server.
        self._requests = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_REQUEST_HEAD)
        self._requesting: _Builder | None = None  # whose request bytes are arriving
        self._request_problem = ""
        # The response side: labkit.wire playing the client.
        self._responses: ResponseParser | None = None
        self._unanswered: deque[_Builder] = deque()
        self._answering: _Builder | None = None  # whose response bytes are arriving
        self._early = bytearray()  # engine bytes before any request (should not happen)
        self._response_problem = ""
        # Raw bytes not yet given to an exchange, per direction, and their stream offset.
        self._raw = {CLIENT: bytearray(), ENGINE: bytearray()}
        self._raw_start = {CLIENT: 0, ENGINE: 0}
        self._fed = {CLIENT: 0, ENGINE: 0}
        self._upgraded: _Builder | None = None
        self._closed = {CLIENT: False, ENGINE: False}

    # -- public ----------------------------------------------------------------------

    @property
    def exchanges(self) -> list[Exchange]:
        """Every exchange so far, the unfinished ones included, as they stand now."""
        return [self._snapshot(b) for b in self._builders]

    @property
    def upgraded(self) -> bool:
        """True once a 101 has turned this connection into a raw stream."""
        return self._upgraded is not None

    @property
    def closed(self) -> bool:
        return all(self._closed.values())

    def forget_reported(self) -> None:
        """Drop exchanges already handed out by :meth:`take_completed` (saves memory)."""
        self._builders = [b for b in self._builders if not b.reported]

    def take_completed(self) -> list[Exchange]:
        """Exchanges that have ended since the last call."""
        done, self._completed = self._completed, []
        return [self._snapshot(b) for b in done]

    def feed(self, sender: str, data: bytes, t: float) -> list[Chunk]:
        """Record ``data`` from ``sender`` at time ``t``; parse what can be parsed."""
        if sender not in ARROWS:
            raise ValueError(f"sender must be {CLIENT!r} or {ENGINE!r}, not {sender!r}")
        data = bytes(data)
        if not data:
            return []
        if self._upgraded is not None:
            stream = self._upgraded.stream_in if sender == CLIENT else self._upgraded.stream_out
            stream += data
            return [Chunk(self.connection, sender, t, data, stream=True)]
        self._fed[sender] += len(data)
        if not (self._request_problem if sender == CLIENT else self._response_problem):
            self._raw[sender] += data  # kept until an exchange claims it
        if sender == CLIENT:
            self._client_bytes(data)
        else:
            self._engine_bytes(data, t)
        self._progress(t)
        return [Chunk(self.connection, sender, t, data)]

    def close(self, sender: str, t: float) -> None:
        """``sender`` closed its side of the connection at time ``t``."""
        if self._closed[sender]:
            return
        self._closed[sender] = True
        if self._upgraded is None:
            if sender == CLIENT:
                self._client_bytes(b"")
            else:
                self._engine_eof(t)
            self._progress(t)
        if self.closed:
            self._finish(t)

    # -- requests --------------------------------------------------------------------

    def _client_bytes(self, data: bytes) -> None:
        if self._request_problem:
            return
        try:
            self._requests.receive_data(data)
        except RuntimeError as exc:  # h11: data after the connection was closed
            self._stop_requests(f"cannot read the client's bytes as HTTP any more: {exc}")

    def _pump_requests(self, t: float) -> bool:
        moved = False
        while not self._request_problem:
            try:
                event = self._requests.next_event()
            except h11.RemoteProtocolError as exc:
                self._stop_requests(f"the client's request is not valid HTTP/1.1 ({exc})")
                break
            if event is h11.NEED_DATA or event is h11.PAUSED:
                break
            if isinstance(event, h11.ConnectionClosed):
                break  # h11 says so again at every call: not progress
            moved = True
            if isinstance(event, h11.Request):
                builder = _Builder(
                    self._numbers(),
                    self.connection,
                    event.method.decode("ascii"),
                    event.target.decode("latin-1"),
                    _h11_headers(event.headers),
                    t,
                )
                self._builders.append(builder)
                self._unanswered.append(builder)
                self._requesting = builder
            elif isinstance(event, h11.Data) and self._requesting is not None:
                self._requesting.request_body += event.data
            elif isinstance(event, h11.EndOfMessage) and self._requesting is not None:
                self._requesting.raw_request += self._take_raw(CLIENT, self._client_consumed())
                self._requesting = None
                self._next_request_cycle()
        return moved

    def _client_consumed(self) -> int:
        """Stream offset up to which h11 has read the client's bytes."""
        buffer = getattr(self._requests, "_receive_buffer", None)
        held = len(buffer) if buffer is not None else len(self._requests.trailing_data[0])
        return self._fed[CLIENT] - held

    def _next_request_cycle(self) -> None:
        """Let h11 read the next request once both sides of this one are done."""
        conn = self._requests
        if conn.our_state is h11.DONE and conn.their_state is h11.DONE:
            conn.start_next_cycle()

    def _tell_h11_response(self, builder: _Builder) -> None:
        """h11 plays the server, so it must "send" a response before reading the next request.

        It is given a stand-in (nothing is sent anywhere): a 101 if the engine upgraded,
        else an empty 200 that ends at once.
        """
        conn = self._requests
        if self._request_problem or conn.our_state is not h11.SEND_RESPONSE:
            return
        try:
            if builder.upgraded:
                conn.send(h11.InformationalResponse(status_code=101, headers=[("Upgrade", "tcp")]))
            else:
                conn.send(h11.Response(status_code=200, headers=[("Content-Length", "0")]))
                conn.send(h11.EndOfMessage())
                self._next_request_cycle()
        except h11.LocalProtocolError as exc:
            self._stop_requests(f"lost track of the requests after {builder.label()}: {exc}")

    def _stop_requests(self, problem: str) -> None:
        self._request_problem = problem
        target = self._requesting or (self._builders[-1] if self._builders else None)
        if target is not None and not target.problem:
            target.problem = problem

    # -- responses -------------------------------------------------------------------

    def _engine_bytes(self, data: bytes, t: float) -> None:
        if self._response_problem:
            return
        if self._responses is None:
            self._early += data
            return
        try:
            events = self._responses.feed(data)
        except WireError as exc:
            self._stop_responses(f"the engine's response is not valid HTTP: {exc}")
            return
        self._handle_response_events(events, t)

    def _engine_eof(self, t: float) -> None:
        if self._response_problem or self._responses is None or self._answering is None:
            return
        try:
            events = self._responses.feed_eof()
        except WireError as exc:
            self._stop_responses(str(exc))
            return
        self._handle_response_events(events, t)

    def _pump_responses(self, t: float) -> bool:
        """Start reading the response to the oldest unanswered request, if possible."""
        if (
            self._answering is not None
            or not self._unanswered
            or self._upgraded is not None
            or self._response_problem
        ):
            return False
        builder = self._unanswered.popleft()
        self._answering = builder
        try:
            if self._responses is None:
                self._responses = ResponseParser(builder.method)
                events = self._responses.feed(bytes(self._early)) if self._early else []
                self._early.clear()
                if self._closed[ENGINE]:
                    events += self._responses.feed_eof()
            else:
                events = self._responses.next_response(builder.method)
        except WireError as exc:
            self._stop_responses(f"the engine's response is not valid HTTP: {exc}")
            return True
        self._handle_response_events(events, t)
        return True

    def _handle_response_events(self, events: list[Event], t: float) -> None:
        for event in events:
            builder = self._answering
            if builder is None:
                return
            if isinstance(event, Informational):
                continue
            if isinstance(event, Head):
                builder.status, builder.reason = event.status, event.reason
                builder.response_headers = event.headers
                builder.answered = t
            elif isinstance(event, BodyPart):
                builder.response_body += event.data
            elif isinstance(event, End):
                parser = self._responses
                assert parser is not None
                builder.raw_response += self._take_raw(ENGINE, parser.offset - len(parser.leftover))
                self._answering = None
                self._complete(builder, t)
                self._tell_h11_response(builder)
            elif isinstance(event, Upgraded):
                self._upgrade(builder, event, t)

    def _upgrade(self, builder: _Builder, event: Upgraded, t: float) -> None:
        parser = self._responses
        assert parser is not None
        builder.status, builder.reason = event.status, event.reason
        builder.response_headers = event.headers
        builder.answered = t
        builder.upgraded = True
        builder.raw_response += self._take_raw(ENGINE, parser.offset - len(event.rest))
        builder.stream_out += event.rest
        self._raw[ENGINE].clear()
        self._answering = None
        self._upgraded = builder
        if self._requesting is builder:  # the body never ended; give h11 no more thought
            self._requesting = None
        self._tell_h11_response(builder)
        if not self._request_problem:
            builder.raw_request += self._take_raw(CLIENT, self._client_consumed())
            pending, _ = self._requests.trailing_data
            builder.stream_in += pending
        self._raw[CLIENT].clear()

    def _stop_responses(self, problem: str) -> None:
        self._response_problem = problem
        target = self._answering or (self._builders[-1] if self._builders else None)
        if target is not None and not target.problem:
            target.problem = problem

    # -- both ------------------------------------------------------------------------

    def _progress(self, t: float) -> None:
        """Parse as far as the bytes so far allow, on both sides."""
        while True:
            moved = self._pump_requests(t)
            moved = self._pump_responses(t) or moved
            if not moved:
                return

    def _take_raw(self, sender: str, upto: int) -> bytes:
        count = max(0, upto - self._raw_start[sender])
        data = bytes(self._raw[sender][:count])
        del self._raw[sender][:count]
        self._raw_start[sender] += count
        return data

    def _complete(self, builder: _Builder, t: float) -> None:
        builder.complete = True
        builder.finished = t
        self._report(builder)

    def _report(self, builder: _Builder) -> None:
        if not builder.reported:
            builder.reported = True
            self._completed.append(builder)

    def _finish(self, t: float) -> None:
        """Both sides have closed: whatever is still open ends here."""
        for builder in self._builders:
            if builder.reported:
                continue
            if builder.upgraded:
                self._complete(builder, t)
                continue
            builder.finished = t
            if not builder.problem:
                builder.problem = (
                    "the connection closed before the response ended"
                    if builder.status is not None
                    else "the connection closed before any response"
                )
            if builder is self._requesting:
                builder.raw_request += self._take_raw(CLIENT, self._fed[CLIENT])
            if builder is self._answering:
                builder.raw_response += self._take_raw(ENGINE, self._fed[ENGINE])
            self._report(builder)

    def _snapshot(self, builder: _Builder) -> Exchange:
        more_request = bytes(self._raw[CLIENT]) if builder is self._requesting else b""
        more_response = bytes(self._raw[ENGINE]) if builder is self._answering else b""
        return builder.snapshot(more_request, more_response)


# --------------------------------------------------------------------------- the server


class RecorderError(RuntimeError):
    """The recorder could not start; the message says why and what to do."""


def engine_endpoint(
    engine: str | os.PathLike[str] | Endpoint, source: str = "the recorder's engine"
) -> Endpoint:
    """The engine to forward to: an Endpoint, a ``unix://`` or ``tcp://`` URL, or a path."""
    if isinstance(engine, Endpoint):
        return engine
    text = os.fspath(engine)
    if "://" not in text:
        text = "unix://" + str(Path(text).absolute())
    return parse_host(text, source=source)


class Recorder:
    """A recording proxy in front of ``engine``, run in background threads.

    ``socket_path`` is where it listens (default: ``proxy.sock`` in a new private temporary
    folder, removed by :meth:`stop`); the socket file gets mode 0600, so that only you can
    use it. ``tcp_port`` (0 picks a free one) also listens on 127.0.0.1, never further, and
    only with ``tls``, a server context that requires client certificates
    (``labkit.transport.tlscerts.server_context``): every user of a machine can reach its
    loopback, so a TCP port without client verification would hand them the engine.

    ``on_chunk(chunk)`` and ``on_exchange(exchange)`` are called from the recorder's
    threads, one at a time, as bytes arrive and as exchanges end; keep them quick.
    ``keep=False`` keeps nothing once the callbacks have seen it (``labkit sniff`` runs for
    hours and prints everything: it needs no transcript).
    """

    def __init__(
        self,
        engine: str | os.PathLike[str] | Endpoint,
        socket_path: str | os.PathLike[str] | None = None,
        *,
        tcp_port: int | None = None,
        tls: ssl.SSLContext | None = None,
        on_chunk: Callback | None = None,
        on_exchange: Callback | None = None,
        on_problem: Callback | None = None,
        connect_timeout: float = 5.0,
        keep: bool = True,
    ) -> None:
        self.engine = engine_endpoint(engine)
        self.keep = keep
        self.connections_opened = 0
        self._wanted_path = Path(socket_path) if socket_path is not None else None
        self._wanted_port = tcp_port
        self._tls = tls
        self._front: Any = None
        self.on_chunk = on_chunk
        self.on_exchange = on_exchange
        self.on_problem = on_problem
        self.connect_timeout = connect_timeout
        self.socket_path: Path | None = None
        self.tcp_address: tuple[str, int] | None = None
        self.started_at = 0.0
        self.callback_errors: list[BaseException] = []
        self._t0 = 0.0
        self._lock = threading.RLock()
        self._chunks: list[Chunk] = []
        self._conversations: list[Conversation] = []
        self._problems: list[str] = []
        self._next_number = 1  # of the next exchange
        self._first_kept = 1  # exchanges numbered lower were cleared
        self._connection_numbers = itertools.count(1)
        self._listeners: list[socket.socket] = []
        self._private_dir: Path | None = None
        self._live: dict[int, tuple[socket.socket, socket.socket | None, int]] = {}
        self._threads: set[threading.Thread] = set()
        self._accept_thread: threading.Thread | None = None
        self._wake: tuple[socket.socket, socket.socket] | None = None
        self._running = False

    # -- public ----------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._running

    @property
    def docker_host(self) -> str:
        """The ``DOCKER_HOST`` value that sends a client through this recorder."""
        if self.socket_path is None:
            raise RecorderError("the recorder is not listening: call start() first")
        return f"unix://{self.socket_path}"

    @property
    def tcp_url(self) -> str | None:
        """``tcp://127.0.0.1:PORT`` when listening on TCP (with TLS) too, else None."""
        if self.tcp_address is None:
            return None
        return f"tcp://{self.tcp_address[0]}:{self.tcp_address[1]}"

    @property
    def transcript(self) -> Transcript:
        """What has been recorded so far (a snapshot; recording goes on)."""
        with self._lock:
            exchanges = [
                e
                for conv in self._conversations
                for e in conv.exchanges
                if e.number >= self._first_kept
            ]
            exchanges.sort(key=lambda e: e.number)
            return Transcript(
                tuple(exchanges), tuple(self._chunks), self.started_at, tuple(self._problems)
            )

    def clear(self) -> None:
        """Forget everything recorded so far; what comes next is recorded as usual.

        An exchange still under way when you clear is forgotten too, even when it ends later.
        """
        with self._lock:
            self._chunks.clear()
            self._problems.clear()
            self._conversations = [c for c in self._conversations if not c.closed]
            self._first_kept = self._next_number

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Wait until no client is connected (e.g. after a ``docker`` command has exited).

        A client that has just exited may leave its last bytes in flight for a moment;
        waiting makes the transcript complete. False if connections remain after ``timeout``.
        """
        deadline = time.monotonic() + timeout
        while self._live:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        return True

    def start(self) -> Recorder:
        """Listen, and forward every connection to the engine, until :meth:`stop`."""
        if self._running:
            raise RecorderError(f"this recorder is already listening on {self.docker_host}")
        if self._wanted_port is not None and self._tls is None:
            raise RecorderError(
                "refusing to listen on TCP without TLS client verification: every user of "
                "this machine can connect to 127.0.0.1, and whoever reaches the engine is root "
                "on it (lesson 06); pass tls=tlscerts.server_context(...)"
            )
        self._t0 = time.monotonic()
        self.started_at = time.time()
        try:
            self._listeners.append(self._listen_unix())
        except BaseException:
            self._close_listeners()
            raise
        self._wake = socket.socketpair()
        self._running = True
        self._accept_thread = threading.Thread(
            target=self._serve, name="labkit-recorder-accept", daemon=True
        )
        self._accept_thread.start()
        if self._wanted_port is not None:
            try:
                self._front = self._listen_tls(self._wanted_port)
            except BaseException:
                self.stop()
                raise
        return self

    def stop(self, grace: float = 0.5, timeout: float = 5.0) -> Transcript:
        """Stop listening, end open connections, wait for every thread; the transcript.

        Connections get up to ``grace`` seconds to finish by themselves first (a client
        that has just exited may still have its last bytes on the way).
        """
        if not self._running:
            return self.transcript
        front, self._front = self._front, None
        if front is not None:
            front.close_listener()  # its connections end below, with the recorder's own
        self._running = False
        assert self._wake is not None
        with contextlib.suppress(OSError):
            self._wake[1].send(b"x")
        if self._accept_thread is not None:
            self._accept_thread.join(timeout)
        self._close_listeners()
        deadline = time.monotonic() + grace
        while self._live and time.monotonic() < deadline:
            time.sleep(0.01)
        with self._lock:
            live = list(self._live.values())
        for client, upstream, _ in live:
            for sock in (client, upstream):
                if sock is not None:
                    _shutdown(sock, socket.SHUT_RDWR)
        for thread in list(self._threads):
            thread.join(timeout)
        if front is not None:  # the Unix sides are closed: TLS clients have had everything
            front.stop(grace=timeout, timeout=timeout)
        for sock in self._wake:
            sock.close()
        self._wake = None
        return self.transcript

    def __enter__(self) -> Recorder:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.docker_host if self.socket_path else "not listening"
        return f"Recorder({where} → {self.engine.url}, {len(self.transcript)} exchanges)"

    # -- listening -------------------------------------------------------------------

    def _listen_unix(self) -> socket.socket:
        wanted = self._wanted_path.absolute() if self._wanted_path is not None else None
        if wanted is not None and self.engine.scheme == "unix" and self.engine.path == str(wanted):
            raise RecorderError(
                f"the recorder would forward to its own socket {wanted}: give the engine's "
                "socket as the engine (is DOCKER_HOST pointing at the recorder?)"
            )
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            if wanted is None:
                self._private_dir = Path(tempfile.mkdtemp(prefix="labkit-sniff-"))
                path = self._private_dir / "proxy.sock"
                _bind(sock, path)
                os.chmod(path, 0o600)
            else:
                path = wanted
                _clear_stale_socket(path)
                _bind_private(sock, path)
            self.socket_path = path
            sock.listen(64)
        except BaseException:
            sock.close()
            raise
        return sock

    def _listen_tls(self, port: int) -> Any:
        """The TCP listener: a TLS front (client certificates required) that forwards to
        this recorder's own Unix socket, so TCP clients are recorded like the others."""
        from labkit.proxy.tls_front import TLSFront, TLSFrontError

        assert self._tls is not None and self.socket_path is not None
        try:
            front = TLSFront(port, self._tls, self.socket_path, on_problem=self._problem).start()
        except TLSFrontError as exc:
            raise RecorderError(str(exc)) from exc
        self.tcp_address = front.address
        return front

    def _close_listeners(self) -> None:
        for sock in self._listeners:
            sock.close()
        self._listeners.clear()
        if self.socket_path is not None:
            try:
                if stat.S_ISSOCK(os.lstat(self.socket_path).st_mode):
                    self.socket_path.unlink()
            except FileNotFoundError:
                pass
        if self._private_dir is not None:
            with contextlib.suppress(OSError):
                self._private_dir.rmdir()
            self._private_dir = None

    def _serve(self) -> None:
        assert self._wake is not None
        with selectors.DefaultSelector() as selector:
            for sock in self._listeners:
                sock.setblocking(False)
                selector.register(sock, selectors.EVENT_READ)
            selector.register(self._wake[0], selectors.EVENT_READ)
            while self._running:
                for key, _ in selector.select():
                    if key.fileobj is self._wake[0]:
                        return
                    try:
                        client, _ = key.fileobj.accept()  # type: ignore[union-attr]
                    except OSError:
                        continue
                    client.setblocking(True)
                    self._open(client)

    # -- one connection --------------------------------------------------------------

    def _open(self, client: socket.socket) -> None:
        number = next(self._connection_numbers)
        self.connections_opened = number
        try:
            upstream = open_socket(self.engine, self.connect_timeout)
            upstream.settimeout(None)
        except TransportError as exc:
            message = f"the recorder cannot reach the engine at {self.engine.url}: {exc}"
            self._problem(message)
            with self._lock:
                self._live[number] = (client, None, 1)
            self._spawn(f"labkit-recorder-{number}-refuse", self._refuse, number, client, message)
            return
        conversation = Conversation(number, self._next_exchange_number)
        with self._lock:
            self._conversations.append(conversation)
            self._live[number] = (client, upstream, 2)
        self._spawn(
            f"labkit-recorder-{number}-client",
            self._pump,
            number,
            conversation,
            CLIENT,
            client,
            upstream,
        )
        self._spawn(
            f"labkit-recorder-{number}-engine",
            self._pump,
            number,
            conversation,
            ENGINE,
            upstream,
            client,
        )

    def _spawn(self, name: str, target: Callable[..., None], *args: Any) -> None:
        def run() -> None:
            try:
                target(*args)
            finally:
                with self._lock:
                    self._threads.discard(threading.current_thread())

        thread = threading.Thread(target=run, name=name, daemon=True)
        with self._lock:
            self._threads.add(thread)
        thread.start()

    def _pump(
        self,
        number: int,
        conversation: Conversation,
        sender: str,
        source: socket.socket,
        sink: socket.socket,
    ) -> None:
        """Copy ``source`` to ``sink``, recording each piece before passing it on."""
        try:
            while True:
                try:
                    data = source.recv(RECV_SIZE)
                except OSError:
                    break
                if not data:
                    break
                self._record(conversation, sender, data)
                try:
                    sink.sendall(data)
                except OSError:
                    break
        finally:
            self._record_close(conversation, sender)
            _shutdown(sink, socket.SHUT_WR)  # pass the end of the stream on
            self._pump_done(number)

    def _pump_done(self, number: int) -> None:
        with self._lock:
            client, upstream, pumps = self._live[number]
            if pumps > 1:
                self._live[number] = (client, upstream, pumps - 1)
                return
            del self._live[number]
        client.close()
        if upstream is not None:
            upstream.close()

    def _refuse(self, number: int, client: socket.socket, message: str) -> None:
        """Answer a client the recorder cannot serve with a 502 that says why."""
        body = json.dumps({"message": message}).encode()
        reply = (
            b"HTTP/1.1 502 Bad Gateway\r\nContent-Type: application/json\r\n"
            b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
        )
        try:
            client.settimeout(self.connect_timeout)
            received = b""
            while b"\r\n\r\n" not in received and len(received) < MAX_REQUEST_HEAD:
                data = client.recv(RECV_SIZE)  # the request head first: then it reads a reply
                if not data:
                    break
                received += data
            client.sendall(reply)
        except OSError:
            pass
        finally:
            self._pump_done(number)

    # -- recording -------------------------------------------------------------------

    def _now(self) -> float:
        return time.monotonic() - self._t0

    def _next_exchange_number(self) -> int:
        number = self._next_number
        self._next_number += 1
        return number

    def _record(self, conversation: Conversation, sender: str, data: bytes) -> None:
        with self._lock:
            t = self._now()
            try:
                chunks = conversation.feed(sender, data, t)
            except Exception as exc:  # a parsing bug must not stop the forwarding
                chunks = [Chunk(conversation.connection, sender, t, data)]
                self._parse_failed(conversation, exc)
            if self.keep:
                self._chunks.extend(chunks)
            self._deliver(conversation, chunks)

    def _record_close(self, conversation: Conversation, sender: str) -> None:
        with self._lock:
            try:
                conversation.close(sender, self._now())
            except Exception as exc:
                self._parse_failed(conversation, exc)
            self._deliver(conversation, [])

    def _parse_failed(self, conversation: Conversation, exc: Exception) -> None:
        self._problem(
            f"connection {conversation.connection}: the recorder could not read the bytes as "
            f"HTTP ({exc!r}); they were forwarded unchanged"
        )

    def _deliver(self, conversation: Conversation, chunks: list[Chunk]) -> None:
        """Hand new chunks and finished exchanges to the callbacks (lock held: in order)."""
        for chunk in chunks:
            self._call(self.on_chunk, chunk)
        for exchange in conversation.take_completed():
            self._call(self.on_exchange, exchange)
        if not self.keep:
            conversation.forget_reported()
            if conversation.closed and conversation in self._conversations:
                self._conversations.remove(conversation)

    def _problem(self, message: str) -> None:
        with self._lock:
            self._problems.append(message)
            self._call(self.on_problem, message)

    def _call(self, callback: Callback | None, value: object) -> None:
        if callback is None:
            return
        try:
            callback(value)
        except Exception as exc:  # a broken callback must not break the forwarding
            self.callback_errors.append(exc)


def _shutdown(sock: socket.socket, how: int) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(how)


def _bind(sock: socket.socket, path: Path) -> None:
    try:
        listen.bind(sock, path)
    except listen.ListenError as exc:
        raise RecorderError(str(exc)) from exc.__cause__


def _bind_private(sock: socket.socket, path: Path) -> None:
    try:
        listen.bind_private(sock, path)
    except listen.ListenError as exc:
        raise RecorderError(str(exc)) from exc.__cause__


def _clear_stale_socket(path: Path) -> None:
    try:
        listen.clear_stale_socket(path)
    except listen.ListenError as exc:
        raise RecorderError(str(exc)) from None


__all__ = [
    "ARROWS",
    "CLIENT",
    "ENGINE",
    "STREAM_TYPES",
    "Chunk",
    "Conversation",
    "Exchange",
    "Recorder",
    "RecorderError",
    "Transcript",
    "engine_endpoint",
]

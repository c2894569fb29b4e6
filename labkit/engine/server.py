"""The lab engine's HTTP/1.1 server: bytes in, replies out.

One :class:`HttpProtocol` per connection, fed by llhttp through httptools and run
on uvloop when it is installed. It knows HTTP, not Docker: it parses requests
(Content-Length and chunked bodies, keep-alive, pipelining), asks the app for a
reply (see ``replies.py``) and writes it, which may be a chunked stream or, for
attach and exec, a hijacked connection that turns into a raw two-way byte stream.

What can go wrong on the wire is answered as Go's net/http answers it, since
that is what dockerd sends: a plain-text 4xx (or a 505 for an HTTP version other
than 1.x, a 501 for a transfer coding other than chunked), Go's words for the
faults it names (``400 Bad Request: missing required Host header``), then the
connection closes; nothing a client sends can stop the server serving the others.
What was wrong and where (the line and its byte offset, see ``badrequest.py``)
goes to the engine's log, and ``badrequest.check_request()`` tells a learner.

It is as lenient as Go where Go is lenient: lines may end in a bare LF, headers may
be folded onto a next line, and a chunked body may also carry a Content-Length.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import socket
import struct
import sys
import termios
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import httptools

if TYPE_CHECKING:
    from ssl import SSLContext

from labkit.engine import badrequest, identity
from labkit.engine.replies import (
    JSON_TYPE,
    EmptyReply,
    HijackReply,
    JSONReply,
    RawReply,
    StreamReply,
)

log = logging.getLogger("labkit.engine.server")

T = TypeVar("T")

# Go's net/http refuses request heads over 1 MiB (DefaultMaxHeaderBytes), plus the 4 KiB
# of slack its reader allows on top.
MAX_HEAD_BYTES = (1 << 20) + 4096
# dockerd has no limit of its own; the lab engine keeps everything in memory, so it needs one.
MAX_BODY_BYTES = 64 << 20
# Requests parsed ahead of the one being answered before reading pauses (pipelining).
MAX_PIPELINE = 16
# Bytes a hijacked session may leave unread before reading pauses (back-pressure).
MAX_RAW_BUFFER = 1 << 20
# Seconds a request may sit half-received (head or body) with no new byte before the
# engine gives up on it (LABKIT_ENGINE_READ_TIMEOUT). dockerd has no such limit; a
# generous one frees what a stalled client holds without troubling a slow one.
READ_TIMEOUT = 60.0
# Seconds a refused connection stays open for reading after the reply (Go waits 0.5 s).
LINGER = 0.5
# Seconds the event loop keeps polling (instead of sleeping) after a request, for the
# next one (LABKIT_ENGINE_POLL_US). See Poller: why, and what it costs.
POLL_WINDOW = 100e-6

_REASONS = {
    101: "Switching Protocols",
    200: "OK",
    201: "Created",
    204: "No Content",
    304: "Not Modified",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    408: "Request Timeout",
    409: "Conflict",
    413: "Request Entity Too Large",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    501: "Not Implemented",
    503: "Service Unavailable",
    505: "HTTP Version Not Supported",
}
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def reason(status: int) -> str:
    text = _REASONS.get(status)
    if text is None:
        from http import HTTPStatus  # only for the rare status not in the table

        try:
            text = HTTPStatus(status).phrase
        except ValueError:
            text = "Unknown"
    return text


_date_cache: tuple[int, str] = (0, "")


def http_date(now: float | None = None) -> str:
    """``Sat, 28 Nov 2026 01:41:16 GMT``, as Go writes it (English names, whatever the locale)."""
    global _date_cache
    second = int(time.time() if now is None else now)
    if _date_cache[0] == second and now is None:
        return _date_cache[1]
    t = time.gmtime(second)
    text = (
        f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year} "
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT"
    )
    if now is None:
        _date_cache = (second, text)
    return text


_date_line: tuple[int, bytes] = (-1, b"")


def start_eagerly(coro: Coroutine[Any, Any, None]) -> asyncio.Task[None] | None:
    """Run ``coro`` now, in the caller's callback, and give it a task only if it waits.

    Most requests (``/_ping``, the list calls) are answered without waiting for
    anything, so serving them straight from ``data_received`` saves a task and a
    turn of the event loop per request: about a third of a ``/_ping``'s cost.
    (Python 3.12's eager tasks do the same; this works on 3.10 and 3.11 too.)
    """
    try:
        waiting_on = coro.send(None)
    except StopIteration:
        return None
    return asyncio.get_running_loop().create_task(_drive(coro, waiting_on))


async def _drive(coro: Coroutine[Any, Any, None], waiting_on: Any) -> None:
    """Go on with a coroutine that suspended outside any task, as a task would."""
    while True:
        try:
            if waiting_on is None:  # a bare yield (asyncio.sleep(0)): one turn of the loop
                await asyncio.sleep(0)
            else:  # the future it waits for; its result or error is read inside coro
                # Take the future over as a task would: its "being awaited" flag is ours now.
                waiting_on._asyncio_future_blocking = False
                await waiting_on
        except BaseException as exc:  # our own cancellation, or the future's error
            try:
                waiting_on = coro.throw(exc)
            except StopIteration:
                return
            continue
        try:
            waiting_on = coro.send(None)
        except StopIteration:
            return


def date_line(now: float | None = None) -> bytes:
    """``Date: …\\r\\n`` for ``now`` (real time when None), made once a second: it is on
    every response."""
    global _date_line
    second = int(time.time() if now is None else now)
    if _date_line[0] != second:
        _date_line = (second, b"Date: %s\r\n" % http_date(second).encode("latin-1"))
    return _date_line[1]


_prefix_cache: dict[tuple[Any, ...], bytes] = {}


def head_prefix(
    version: str, status: int, content_type: str | None, extra: Any, standard: bool = True
) -> bytes:
    """The status line and the sorted non-framing headers, cached: most replies share them.

    ``standard=False`` leaves out the headers dockerd's API middleware adds (its
    router's own 404 goes out without them)."""
    try:
        key = (version, status, content_type, tuple(extra.items()) if extra else None, standard)
        cached = _prefix_cache.get(key)
    except TypeError:  # unhashable header values: build it every time
        key, cached = None, None
    if cached is not None:
        return cached
    headers = standard_headers() if standard else {}
    if content_type is not None:
        headers["Content-Type"] = content_type
    if extra:
        headers.update(extra)
    lines = [f"HTTP/{version} {status} {reason(status)}\r\n"]
    lines += [f"{name}: {headers[name]}\r\n" for name in sorted(headers)]
    prefix = "".join(lines).encode("latin-1")
    if key is not None:
        if len(_prefix_cache) > 512:
            _prefix_cache.clear()
        _prefix_cache[key] = prefix
    return prefix


def encode_json(obj: Any) -> bytes:
    """Compact JSON with a final newline, as Go's json.Encoder (and so dockerd) writes it."""
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False) + "\n"
    return text.encode("utf-8", "replace")  # a lone surrogate must not cost the whole reply


def standard_headers() -> dict[str, str]:
    """The headers dockerd puts on every response of its API."""
    return {
        "Api-Version": identity.API_VERSION,
        "Docker-Experimental": "false",
        "Ostype": identity.OS_TYPE,
        "Server": identity.SERVER_HEADER,
    }


@dataclass
class Incoming:
    """One parsed request, before routing."""

    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes = b""
    http_version: str = "1.1"
    keep_alive: bool = True
    upgrade: bool = False


@dataclass
class Failure:
    """A request the server refuses before any handler sees it; the connection then closes."""

    status: int
    message: str  # what was wrong and where, for the log
    detail: str | None = None  # Go's words after the reason phrase, if it has any
    body: bytes | None = None  # Go's body, when it is not the status line's text


def go_error(status: int, detail: str | None = None, body: bytes | None = None) -> bytes:
    """The bytes Go's net/http writes for a request it refuses: always ``HTTP/1.1``, plain
    text, no Content-Length (the body ends where the connection does)."""
    text = f"{status} {reason(status)}" + (f": {detail}" if detail else "")
    return (
        f"HTTP/1.1 {text}\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"
    ).encode("latin-1") + (text.encode("latin-1") if body is None else body)


class App(Protocol):
    """What the server needs from the application (``engine/app.py``)."""

    async def respond(self, incoming: Incoming) -> Any: ...

    # Optional: (method, target) -> a reply that never changes, sent without respond().
    fixed_replies: dict[tuple[str, bytes], RawReply]


@dataclass
class Limits:
    max_head: int = MAX_HEAD_BYTES
    max_body: int = MAX_BODY_BYTES
    max_pipeline: int = MAX_PIPELINE
    max_raw_buffer: int = MAX_RAW_BUFFER
    read_timeout: float = READ_TIMEOUT  # 0 or less: wait for ever
    poll_window: float = POLL_WINDOW  # 0 or less: sleep as soon as there is nothing to do


def new_parser(protocol: Any) -> httptools.HttpRequestParser:
    """An llhttp request parser as lenient as Go's reader: any ``HTTP/d.d`` (answered as Go
    does: 1.x served, others 505), header lines ending in a bare LF, folded header lines,
    and a chunked body with a Content-Length too. Header values are not checked by llhttp
    then: ``on_header`` checks them as Go does. (A bare LF after the request line is
    ``HttpProtocol._retry_lf``'s job: llhttp has no leniency for that one.)"""
    parser = httptools.HttpRequestParser(protocol)
    parser.set_dangerous_leniencies(
        lenient_version=True,
        lenient_optional_cr_before_lf=True,
        lenient_headers=True,
        lenient_chunked_length=True,
    )
    return parser


class _BadVersion(Exception):
    """Raised from a parser callback for an HTTP version other than 1.x."""


class _ParseFailure(Exception):
    """Raised inside a parser callback to stop parsing; carries the reply to send."""

    def __init__(
        self, status: int, message: str, detail: str | None = None, body: bytes | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.detail = detail
        self.body = body


@dataclass
class _Message:
    """The request being parsed."""

    url: bytearray = field(default_factory=bytearray)
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: list[bytes] = field(default_factory=list)
    body_size: int = 0
    head_size: int = 0  # the request line and headers parsed so far
    bad_value: bool = False  # a header value Go refuses (a control byte)
    raw_fed: int = 0  # bytes fed while the head was incomplete, not counting its first packet
    fresh: bool = True  # the head began in the packet being fed
    content_length: int = 0
    chunked: bool = False


# Seconds a hijacked stream waits after its head on TCP, where the client's reading is unseen.
TCP_HEAD_PAUSE = 0.05


def unread_by_peer(sock: socket.socket) -> int:
    """Bytes sent on a Unix socket that the peer has not read yet (0 if it cannot be told)."""
    try:
        raw = fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0")
    except OSError:
        return 0
    return struct.unpack("i", raw)[0]


class RawSession:
    """The two-way byte stream of a hijacked connection (``replies.Hijacked``)."""

    def __init__(self, proto: HttpProtocol) -> None:
        self._proto = proto
        self._buffer = bytearray()
        self._eof = False
        self._waiter: asyncio.Future[None] | None = None

    # -- fed by the protocol
    def feed(self, data: bytes) -> None:
        self._buffer += data
        if len(self._buffer) > self._proto.limits.max_raw_buffer:
            self._proto.pause_reading()
        self._wake()

    def feed_eof(self) -> None:
        self._eof = True
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- used by the handler's session
    async def read(self) -> bytes:
        while not self._buffer and not self._eof:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        data = bytes(self._buffer)
        self._buffer.clear()
        self._proto.resume_reading()
        return data

    def write(self, data: bytes) -> None:
        if data and not self.closed:
            self._proto.transport.write(data)

    async def drain(self) -> None:
        await self._proto.drain()

    async def until_read(self, limit: float) -> None:
        """Wait until the client has read what was sent, at most ``limit`` seconds.

        docker-py reads a 101 head through a buffered file and the stream after it from the
        raw socket: bytes that reach the client with the head are lost. On a Unix socket the
        kernel says how much the client has not yet read (SIOCOUTQ); elsewhere (TCP, where
        it counts unacknowledged bytes instead) a short pause stands in, as dockerd's own
        start-up time does."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        sock = self._proto.transport.get_extra_info("socket")
        if sock is None or sock.family != socket.AF_UNIX:
            await asyncio.sleep(min(limit, TCP_HEAD_PAUSE))
            return
        while not self.closed and loop.time() < deadline:
            if self._proto.transport.get_write_buffer_size() == 0 and not unread_by_peer(sock):
                return
            await asyncio.sleep(0.002)

    def close(self) -> None:
        self._proto.close()

    @property
    def closed(self) -> bool:
        return self._proto.lost or self._proto.transport.is_closing()


class HttpProtocol(asyncio.Protocol):
    """One client connection."""

    # Set on the connections of a TCP listener without TLS (``Server.listen_tcp``):
    # ``admit(peer, local)`` says why a connection is refused (None: let it in), and
    # ``screen(host, origin)`` why a request is (a web page's, say).
    admit: Callable[[Any, Any], str | None] | None = None
    screen: Callable[[str | None, str | None], str | None] | None = None

    def __init__(self, server: Server) -> None:
        self.server = server
        self.app = server.app
        self.limits = server.limits
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.lost = False
        self._parser = new_parser(self)
        self._msg: _Message | None = None
        self._in_head = False
        self._pending: deque[Incoming | Failure] = deque()
        self._worker: asyncio.Task[None] | None = None
        self._dead = False  # parsing stopped: a failure is queued or the connection is raw
        self._read_eof = False
        self._reading_paused = False
        self._write_paused = False
        self._drain_waiters: list[asyncio.Future[None]] = []
        # Set while the worker waits on something the client's going away should cancel.
        self._cancellable = False
        self._cancelled_by_client = False
        # Hijack: the upgrade request waiting for its body, and the raw stream after it.
        self._upgrading: Incoming | None = None
        self._upgrade_need = 0
        self._raw_early = bytearray()
        self._session: RawSession | None = None
        # For saying where a malformed request went wrong (badrequest.py): bytes received so
        # far, the earlier packets an unfinished head spans, and requests finished before it.
        self._received = 0
        self._carry: bytes | bytearray = b""
        self._carry_skip = 0
        self._done_in_packet = 0
        # A request whose method llhttp does not know ("get", "FOO") is parsed again as GET
        # and answered with its own method, as Go would: these hold that state.
        self._method_override: str | None = None
        self._held = b""
        # The read timeout for a request that stops arriving half-way.
        self._stall_handle: asyncio.TimerHandle | None = None
        self._last_progress = 0.0

    # ------------------------------------------------------------ transport events
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.server.connections.add(self)
        if self.admit is not None:
            refused = self.admit(
                transport.get_extra_info("peername"), transport.get_extra_info("sockname")
            )
            if refused is not None:
                log.warning("%s", refused)
                self._dead = True
                transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.server.connections.discard(self)
        self._stop_stall_timer()
        if self._session is not None:
            self._session.feed_eof()
        self._client_gone()
        for waiter in self._drain_waiters:
            if not waiter.done():
                waiter.set_exception(ConnectionResetError("the client closed the connection"))
        self._drain_waiters.clear()

    def eof_received(self) -> bool:
        """The client closed its side. Keep ours open: answers (or raw output) may follow."""
        self._read_eof = True
        if self._session is not None:
            self._session.feed_eof()
            return True
        if self._upgrading is not None:  # gone before the whole body of its upgrade request
            self._upgrading = None
            self._fail(400, "bad request: the client closed the connection before the body ended")
            return True
        if self._cancellable:  # a stream nobody is listening to any more
            self._client_gone()
        elif self._worker is None and not self._pending:
            self.close()
        return True

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        for waiter in self._drain_waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._drain_waiters.clear()

    async def drain(self) -> None:
        """Wait while the client is slower than we write (transport back-pressure)."""
        if self.lost:
            raise ConnectionResetError("the client closed the connection")
        if not self._write_paused:
            return
        waiter = asyncio.get_running_loop().create_future()
        self._drain_waiters.append(waiter)
        await waiter

    def pause_reading(self) -> None:
        if not self._reading_paused and not self.lost:
            self._reading_paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self._reading_paused and not self.lost:
            self._reading_paused = False
            self.transport.resume_reading()

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def _client_gone(self) -> None:
        """Cancel a stream or session that only the departed client was waiting for."""
        if self._cancellable and self._worker is not None and not self._cancelled_by_client:
            self._cancelled_by_client = True
            self._worker.cancel()

    # ------------------------------------------------------------ parsing
    def data_received(self, data: bytes) -> None:
        if self._session is not None:
            self._session.feed(data)
            return
        if self._upgrading is not None:
            self._collect_upgrade_body(data)
            self._watch_stall()
            return
        if self._dead:
            return
        base = self._received - len(self._held)  # the connection offset of data[0]
        self._received += len(data)
        if self._held:
            data, self._held = self._held + data, b""
        self._feed(data, base)
        self._watch_stall()
        self.server.poller.stay_awake()

    def _feed(self, data: bytes, base: int) -> None:
        self._done_in_packet = 0
        # Whether data[0] starts a request (not the middle of one), so requests can be counted.
        self._packet_clean = self._msg is None
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            self._start_upgrade(data[exc.args[0] :])
            return
        except _ParseFailure as exc:
            self._fail(exc.status, exc.message, exc.detail, exc.body)
            return
        except httptools.HttpParserError as exc:
            cause = exc.__context__
            if isinstance(cause, _ParseFailure):
                self._fail(cause.status, cause.message, cause.detail, cause.body)
            elif (
                isinstance(exc, httptools.HttpParserInvalidMethodError)
                and self._retry_method(data, base)
            ) or self._retry_lf(data, base):
                pass  # parsed again, as Go would read it
            else:
                reason = "unsupported HTTP version" if isinstance(cause, _BadVersion) else str(exc)
                verdict = self._explain(reason or type(exc).__name__, data, base)
                self._fail(verdict.status, verdict.message, verdict.detail, verdict.body)
            return
        msg = self._msg
        if msg is None or not self._in_head:
            self._carry = b""
            if msg is not None:
                msg.fresh = False
        elif msg.fresh:
            msg.fresh = False
            # Kept in case the head turns out malformed, to say where (rarely needed: most
            # heads come in one packet).
            self._carry, self._carry_skip = bytearray(data), self._carry_count()
        else:
            # llhttp holds an unfinished header line where the callbacks cannot see it: count
            # the packets instead (all but the first, which may hold earlier requests too).
            msg.raw_fed += len(data)
            self._carry += data
            if msg.raw_fed > self.limits.max_head:
                self._fail(431, _head_too_large(self.limits.max_head))

    # ------------------------------------------------------------ malformed requests
    def _carry_count(self) -> int:
        """Requests finished in this packet before the current one; -1 when unknown."""
        return self._done_in_packet if self._packet_clean else -1

    def _failing_bytes(self, data: bytes, base: int) -> tuple[bytes, int, int]:
        """(bytes holding the failing request, requests before it there or -1 when that is
        unknown, connection offset of byte 0)."""
        msg = self._msg
        if msg is not None and not msg.fresh and self._carry and self._in_head:
            return bytes(self._carry) + data, self._carry_skip, base - len(self._carry)
        return data, self._carry_count(), base

    def _explain(self, reason: str, data: bytes, base: int) -> badrequest.Verdict:
        msg = self._msg
        in_body = msg is not None and not self._in_head
        if in_body and msg is not None and not msg.fresh:  # its head came in an earlier packet
            request = f"{self._parser.get_method().decode('latin-1')} {msg.url.decode('latin-1')}"
            return badrequest.body_fault(reason, request)
        text, skip, start = self._failing_bytes(data, base)
        return badrequest.explain(reason, text, skip, start, in_body)

    def _retry_method(self, data: bytes, base: int) -> bool:
        """Serve a request whose method llhttp refuses but Go accepts (any token): a 404.

        llhttp knows only the registered methods, in capitals; Go takes any token and
        dockerd's router answers the ones it has no route for with ``404 page not found``,
        keeping the connection. So the request is parsed again, by a new parser, as GET,
        and handed to the app with its own method. Returns False to refuse it instead.
        """
        text, skip, start = self._failing_bytes(data, base)
        at = badrequest.message_start(text, skip)
        if at is None:
            return False
        rest = text[at:]
        token = badrequest.TOKEN.match(rest)
        if token is None:
            return False
        method = token.group()
        if len(method) == len(rest):  # the method goes on in the next packet: wait for it
            if len(rest) > self.limits.max_head:
                return False
            self._parser = new_parser(self)
            self._msg, self._in_head, self._carry = None, False, b""
            self._held = rest
            return True
        if rest[len(method) : len(method) + 1] != b" ":
            return False
        self._parser = new_parser(self)
        self._msg, self._in_head, self._carry = None, False, b""
        self._method_override = method.decode("ascii")
        self._feed(b"GET" + rest[len(method) :], start + at + len(method) - 3)
        return True

    def _retry_lf(self, data: bytes, base: int) -> bool:
        """Serve a request line that ends in a bare LF, as Go does: llhttp refuses it even
        when lenient, so the line is given its CR and the request parsed again by a new
        parser (the header lines' bare LFs it accepts). Returns False to refuse it instead."""
        msg = self._msg
        if msg is None or not self._in_head or not msg.url:
            return False
        text, _skip, start = self._failing_bytes(data, base)
        # The first such request line without its CR: those before it were given theirs.
        line = self._parser.get_method() + b" " + bytes(msg.url) + b" "
        at = text.find(line)
        while at >= 0:
            end = text.find(b"\n", at)
            if end < 0:
                return False
            if text[end - 1 : end] != b"\r":
                break
            at = text.find(line, end)
        if at < 0:
            return False  # the request line has its CR: the fault is elsewhere
        self._parser = new_parser(self)
        self._msg, self._in_head, self._carry = None, False, b""
        self._feed(text[at:end] + b"\r" + text[end:], start + at)
        return True

    # ------------------------------------------------------------ the read timeout
    def _partial(self) -> bool:
        """A request has begun arriving and is not complete (idle keep-alive is not)."""
        if self._session is not None or self.lost:
            return False
        if self._upgrading is not None:
            return True
        return not self._dead and (self._msg is not None or bool(self._held))

    def _watch_stall(self) -> None:
        """Note progress; arm the timer while a request is half-received, else disarm it."""
        timeout = self.limits.read_timeout
        if timeout <= 0:
            return
        if not self._partial():
            self._stop_stall_timer()
            return
        loop = asyncio.get_running_loop()
        self._last_progress = loop.time()
        if self._stall_handle is None:
            self._stall_handle = loop.call_later(timeout, self._check_stall)

    def _stop_stall_timer(self) -> None:
        if self._stall_handle is not None:
            self._stall_handle.cancel()
            self._stall_handle = None

    def _check_stall(self) -> None:
        self._stall_handle = None
        if not self._partial():
            return
        loop = asyncio.get_running_loop()
        timeout = self.limits.read_timeout
        idle = loop.time() - self._last_progress
        if self._reading_paused:  # we stopped reading, not the client: it is not stalled
            self._last_progress, idle = loop.time(), 0.0
        if idle < timeout:
            self._stall_handle = loop.call_later(timeout - idle, self._check_stall)
            return
        self._upgrading, self._held = None, b""
        self._fail(
            408,
            f"request timeout: the request stopped arriving (no new byte for {timeout:g} s, "
            f"after byte {self._received}); the lab engine closes a connection that stalls "
            "half-way through a request (LABKIT_ENGINE_READ_TIMEOUT sets the seconds, 0 "
            "turns it off)",
        )

    def on_message_begin(self) -> None:
        self._msg = _Message()
        self._in_head = True

    def on_url(self, url: bytes) -> None:
        msg = self._msg
        assert msg is not None
        msg.url += url
        if len(msg.url) > self.limits.max_head:
            raise _ParseFailure(431, _head_too_large(self.limits.max_head))

    def on_header(self, name: bytes, value: bytes) -> None:
        msg = self._msg
        assert msg is not None
        msg.head_size += len(name) + len(value) + 4
        if len(msg.url) + msg.head_size > self.limits.max_head:
            raise _ParseFailure(431, _head_too_large(self.limits.max_head))
        if not badrequest.valid_value(value):
            msg.bad_value = True  # refused once the head is complete, in Go's order
        msg.headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        msg = self._msg
        assert msg is not None
        if len(msg.url) + msg.head_size > self.limits.max_head:
            raise _ParseFailure(431, _head_too_large(self.limits.max_head))
        hosts: list[str] = []
        codings: list[str] = []
        for name, value in msg.headers:
            lname = name.lower()
            if lname == "content-length":
                msg.content_length = int(value)  # llhttp has checked it is digits
            elif lname == "transfer-encoding":
                codings.append(value)
                msg.chunked = "chunked" in value.lower()
            elif lname == "host":
                hosts.append(value)
        version = self._parser.get_http_version()
        # Go's checks, in Go's order (net/http's readRequest, then its server's).
        if len(hosts) > 1:
            raise _ParseFailure(400, "bad request: too many Host headers")
        # (Go ignores Transfer-Encoding on HTTP/1.0; llhttp would wait for a body that
        # never ends, so the lab engine answers 501 there too.)
        if codings and (len(codings) > 1 or codings[0].strip(" \t").lower() != "chunked"):
            raise _ParseFailure(
                501,
                f"not implemented: Transfer-Encoding {', '.join(codings)!r}; "
                "Go's server (so dockerd) reads chunked bodies only",
                body=badrequest.UNSUPPORTED_TE_BODY,
            )
        if msg.content_length > self.limits.max_body:
            raise _ParseFailure(400, *_body_too_large(self.limits.max_body))
        if version[:2] != "1.":  # 0.9 (no version at all, or HTTP/0.9), 2.0, 9.9…
            raise _BadVersion(version)
        if not hosts and version != "1.0":
            # Go's server insists on it (RFC 9112 says a server must), and so does dockerd.
            raise _ParseFailure(
                400, "bad request: missing required Host header", badrequest.MISSING_HOST
            )
        if hosts and not badrequest.valid_host(hosts[0].encode("latin-1")):
            raise _ParseFailure(
                400, f"bad request: malformed Host header {hosts[0]!r}", badrequest.MALFORMED_HOST
            )
        if msg.bad_value:
            raise _ParseFailure(
                400,
                "bad request: a header value holds a control character",
                badrequest.INVALID_VALUE,
            )
        if self.screen is not None:
            origin = next((v for n, v in msg.headers if n.lower() == "origin"), None)
            refused = self.screen(hosts[0] if hosts else None, origin)
            if refused is not None:
                raise _ParseFailure(403, refused, refused)
        self._in_head = False

    def on_body(self, body: bytes) -> None:
        msg = self._msg
        assert msg is not None
        msg.body_size += len(body)
        if msg.body_size > self.limits.max_body:
            raise _ParseFailure(400, *_body_too_large(self.limits.max_body))
        msg.body.append(body)

    def on_message_complete(self) -> None:
        msg = self._msg
        assert msg is not None
        self._msg = None
        if msg.fresh:
            self._done_in_packet += 1
        parser = self._parser
        method = parser.get_method().decode("ascii")
        if self._method_override is not None:
            method, self._method_override = self._method_override, None
        version = parser.get_http_version()
        if self._worker is None and not self._pending and not parser.should_upgrade():
            fixed = self.server.fixed_replies.get((method, bytes(msg.url)))
            if fixed is not None:
                self._answer_fixed(fixed, method, version, parser.should_keep_alive())
                return
        incoming = Incoming(
            method=method,
            target=msg.url.decode("latin-1"),
            headers=msg.headers,
            body=b"".join(msg.body),
            # Go answers any HTTP/1.x (x > 1) as an HTTP/1.1 server
            http_version="1.0" if version == "1.0" else "1.1",
            keep_alive=parser.should_keep_alive(),
            upgrade=parser.should_upgrade(),
        )
        if incoming.upgrade:
            # llhttp hands over after the head: the body (exec start's JSON) is ours to read.
            if msg.chunked:
                raise _ParseFailure(
                    400, "bad request: an upgrade request's body needs a Content-Length"
                )
            self._upgrading = incoming
            self._upgrade_need = msg.content_length
            return
        self._enqueue(incoming)

    def _answer_fixed(self, reply: RawReply, method: str, version: str, keep_alive: bool) -> None:
        """A reply the app says never changes (``/_ping``), sent straight from the parser.

        The same bytes as the routed answer (a test compares them), minus the Incoming,
        routing and Request objects, which are most of a short request's cost.
        """
        keep = keep_alive and not self._read_eof
        self._write_simple(
            reply.status, reply.headers, reply.content_type, reply.body, keep,
            method == "HEAD", "1.0" if version == "1.0" else "1.1",
        )  # fmt: skip
        if not keep:
            self.close()

    # ------------------------------------------------------------ upgrade
    def _start_upgrade(self, rest: bytes) -> None:
        self._dead = True
        if self._upgrading is None:  # cannot happen with llhttp, but never hang on it
            self._fail(400, "malformed HTTP request: unexpected upgrade")
            return
        self._collect_upgrade_body(rest)

    def _collect_upgrade_body(self, data: bytes) -> None:
        incoming = self._upgrading
        assert incoming is not None
        if self._upgrade_need:
            take = data[: self._upgrade_need]
            incoming.body += take
            self._upgrade_need -= len(take)
            data = data[len(take) :]
            if self._upgrade_need:
                return
        # From here on the client's bytes belong to the hijacked stream.
        self._raw_early += data
        if len(self._raw_early) > self.limits.max_raw_buffer:
            self.pause_reading()
        self._upgrading = None
        self._session = RawSession(self)
        if self._raw_early:
            self._session.feed(bytes(self._raw_early))
            self._raw_early.clear()
        if self._read_eof:
            self._session.feed_eof()
        self._enqueue(incoming)

    # ------------------------------------------------------------ the work queue
    def _fail(
        self, status: int, message: str, detail: str | None = None, body: bytes | None = None
    ) -> None:
        self._dead = True
        self._method_override = None
        self._stop_stall_timer()
        self._enqueue(Failure(status, message, detail, body))

    def _enqueue(self, item: Incoming | Failure) -> None:
        self._pending.append(item)
        if len(self._pending) > self.limits.max_pipeline:
            self.pause_reading()
        if self._worker is None:
            self._worker = start_eagerly(self._work())

    async def _work(self) -> None:
        try:
            while self._pending and not self.lost:
                item = self._pending.popleft()
                if len(self._pending) <= self.limits.max_pipeline // 2 and self._session is None:
                    self.resume_reading()
                if isinstance(item, Failure):
                    log.info("refused a request: %s %s", item.status, item.message)
                    # Refused before the API saw it: Go's own bytes, word for word.
                    if not (self.lost or self.transport.is_closing()):
                        self.transport.write(go_error(item.status, item.detail, item.body))
                    self._linger()
                    return
                if not await self._serve(item):
                    self.close()
                    return
            if self._read_eof and not self._pending:
                self.close()
        except asyncio.CancelledError:
            if not self._cancelled_by_client:
                self.close()
                raise
            self._uncancel()
            self.close()
        except Exception:  # a bug in the server itself: this connection ends, the server lives
            log.exception("error while serving a connection")
            self.close()
        finally:
            self._worker = None

    def _linger(self) -> None:
        """End our side, then close a moment later, as Go's closeWriteAndWait does: a client
        still sending when it is refused then reads the reply, not a connection reset."""
        if self.lost or self.transport.is_closing() or not self.transport.can_write_eof():
            self.close()
            return
        self.transport.write_eof()
        self.pause_reading()  # like Go, read no more: a client sending for ever is stopped
        asyncio.get_running_loop().call_later(LINGER, self.close)

    def _uncancel(self) -> None:
        task = asyncio.current_task()
        uncancel = getattr(task, "uncancel", None)
        if uncancel is not None:  # Python 3.11+
            uncancel()

    # ------------------------------------------------------------ replies
    async def _serve(self, incoming: Incoming) -> bool:
        """Answer one request; False when the connection must close afterwards."""
        try:
            reply = await self.app.respond(incoming)
        except Exception as exc:
            log.exception("the app failed on %s %s", incoming.method, incoming.target)
            reply = JSONReply({"message": f"internal error: {exc}"}, 500)
        if self.server.access_log:
            log.debug(
                "%s %s -> %s %s",
                incoming.method,
                incoming.target,
                getattr(reply, "status", 101 if incoming.upgrade else 200),
                type(reply).__name__,
            )
        if self.lost:
            if isinstance(reply, StreamReply):
                await _aclose(reply.chunks)
            return False
        keep = incoming.keep_alive and not self._read_eof
        head_only = incoming.method == "HEAD"
        version = incoming.http_version
        if isinstance(reply, JSONReply):
            body = encode_json(reply.obj)
            status, headers = reply.status, reply.headers
            self._write_simple(status, headers, JSON_TYPE, body, keep, head_only, version)
        elif isinstance(reply, RawReply):
            self._write_simple(
                reply.status, reply.headers, reply.content_type, reply.body, keep, head_only,
                version,
            )  # fmt: skip
        elif isinstance(reply, EmptyReply):
            self._write_simple(reply.status, reply.headers, None, b"", keep, True, version)
        elif isinstance(reply, StreamReply):
            return await self._stream(reply, keep, head_only, version)
        elif isinstance(reply, HijackReply):
            await self._hijack(reply, incoming)
            return False
        else:
            log.error("handler for %s %s returned %r", incoming.method, incoming.target, reply)
            self._write_error(500, "internal error: the handler returned no reply", version)
        # The answer may have taken a while (a start, a wait): the next request follows it.
        self.server.poller.stay_awake()
        if incoming.upgrade:
            return False  # the parser has handed over; this connection cannot go on as HTTP
        return keep

    def _head(
        self,
        status: int,
        extra: Any,
        content_type: str | None,
        version: str,
        framing: bytes,
        standard: bool = True,
    ) -> bytes:
        """Status line, headers (Go's order: the handler's sorted, then Date and framing), CRLF."""
        return (
            head_prefix(version, status, content_type, extra, standard)
            + date_line(self.server.http_time())
            + framing
            + b"\r\n"
        )

    def _write_simple(
        self,
        status: int,
        extra: Any,
        content_type: str | None,
        body: bytes,
        keep: bool,
        head_only: bool,
        version: str,
        standard: bool = True,
    ) -> None:
        framing = b""
        if status >= 200 and status not in (204, 304):
            framing = b"Content-Length: %d\r\n" % len(body)
        else:
            body = b""
        if not keep:
            framing += b"Connection: close\r\n"
        elif version == "1.0":
            framing += b"Connection: keep-alive\r\n"
        head = self._head(status, extra, content_type, version, framing, standard)
        if not head_only and body:
            head += body
        self.transport.write(head)

    def _write_error(
        self, status: int, message: str, version: str = "1.1", standard: bool = True
    ) -> None:
        if self.lost or self.transport.is_closing():
            return
        body = encode_json({"message": message})
        self._write_simple(status, None, JSON_TYPE, body, False, False, version, standard)

    async def _stream(self, reply: StreamReply, keep: bool, head_only: bool, version: str) -> bool:
        chunks = reply.chunks
        chunked = version != "1.0"
        framing = b"Transfer-Encoding: chunked\r\n" if chunked else b"Connection: close\r\n"
        try:
            self.transport.write(
                self._head(reply.status, reply.headers, reply.content_type, version, framing)
            )
            if head_only:
                return keep and chunked
            self._cancellable = True
            if self._read_eof:  # the client left before the stream began
                self._client_gone()
            async for piece in chunks:
                if not piece:
                    continue  # an empty chunk would end the body
                if isinstance(piece, str):
                    piece = piece.encode("utf-8")
                if chunked:
                    self.transport.write(b"%x\r\n%b\r\n" % (len(piece), piece))
                else:
                    self.transport.write(piece)
                await self.drain()
            self._cancellable = False
            if chunked:
                self.transport.write(b"0\r\n\r\n")
            return keep and chunked
        except ConnectionError:
            return False
        finally:
            self._cancellable = False
            await _aclose(chunks)

    async def _hijack(self, reply: HijackReply, incoming: Incoming) -> None:
        session = self._session
        if session is None:  # no upgrade asked: a 200 and the raw stream on this connection
            self._dead = True
            session = self._session = RawSession(self)
            if self._read_eof:
                session.feed_eof()
            self._pending.clear()  # whatever was pipelined after it is stdin now; it was parsed
            head = bytearray(f"HTTP/{incoming.http_version} 200 OK\r\n".encode("latin-1"))
            head += f"Content-Type: {reply.content_type}\r\n".encode("latin-1")
        else:
            head = bytearray(
                b"HTTP/1.1 101 UPGRADED\r\nContent-Type: %b\r\nConnection: Upgrade\r\n"
                b"Upgrade: tcp\r\n" % reply.content_type.encode("latin-1")
            )
        for name, value in sorted(standard_headers().items()):
            head += f"{name}: {value}\r\n".encode("latin-1")
        head += b"\r\n"
        self.transport.write(bytes(head))
        self._cancellable = True
        try:
            await reply.session(session)
        except ConnectionError as exc:
            log.debug("hijacked session ended: %s", exc)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("hijacked session for %s %s failed", incoming.method, incoming.target)
        finally:
            self._cancellable = False


def _parser_reason(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return text[:1].lower() + text[1:]


def _head_too_large(limit: int) -> str:
    return f"request header fields too large: the request line and headers exceed {limit} bytes"


def _body_too_large(limit: int) -> tuple[str, str]:
    """(message, Go-style detail): dockerd has no such limit, so the words are the lab's."""
    text = f"request body too large: the lab engine accepts at most {limit} bytes"
    return f"{text} (set LABKIT_ENGINE_MAX_BODY to change it)", f"{text} (LABKIT_ENGINE_MAX_BODY)"


async def _aclose(chunks: Any) -> None:
    aclose = getattr(chunks, "aclose", None)
    if aclose is None:
        return
    try:
        await aclose()
    except Exception:
        log.exception("closing a stream's iterator failed")


class Poller:
    """Keeps the event loop polling, not sleeping, for a short window after each request.

    A client waits for each answer before it sends its next request, so on one
    connection a request's cost is mostly wake-ups: the engine's and the client's. A
    process asleep in epoll has to be woken (on a virtual machine, its CPU too), which
    takes longer than answering a ``/_ping``. Go's scheduler, and so dockerd, spins a
    little before it sleeps for the same reason. Here a callback that re-queues itself
    makes the loop poll its sockets with a zero timeout until the window closes: every
    connection is still served in turn (nothing blocks), and an engine with nothing to
    do sleeps as before. The price is at most one window of CPU per burst of requests.
    """

    def __init__(self, window: float) -> None:
        self.window = window
        self.polling = False  # a _poll callback is queued
        self._until = 0.0
        self._stopped = False

    def stay_awake(self) -> None:
        if self.window <= 0 or self._stopped:
            return
        self._until = time.perf_counter() + self.window
        if not self.polling:
            self.polling = True
            asyncio.get_running_loop().call_soon(self._poll)

    def stop(self) -> None:
        self._stopped = True

    def _poll(self) -> None:
        if not self._stopped and time.perf_counter() < self._until:
            asyncio.get_running_loop().call_soon(self._poll)
        else:
            self.polling = False


class Server:
    """Listens on a Unix socket and serves the app until closed."""

    def __init__(self, app: App, limits: Limits | None = None) -> None:
        self.app = app
        self.limits = limits or Limits()
        self.connections: set[HttpProtocol] = set()
        self._server: asyncio.AbstractServer | None = None
        self._more: list[asyncio.AbstractServer] = []  # TCP listeners besides the socket
        # One line per request at debug level (LABKIT_ENGINE_LOG=debug); decided once, it is hot.
        self.access_log = log.isEnabledFor(logging.DEBUG)
        # The Date header follows the app's clock when it has one (a fixed LABKIT_CLOCK).
        self._app_time: Callable[[], float | None] | None = getattr(app, "http_time", None)
        # Kept by reference: the app adds to it as its modules load.
        self.fixed_replies: dict[tuple[str, bytes], RawReply] = getattr(app, "fixed_replies", {})
        self.poller = Poller(self.limits.poll_window)

    def http_time(self) -> float | None:
        """Seconds since the epoch for the Date header; None for real time."""
        return self._app_time() if self._app_time is not None else None

    def protocol_factory(self) -> HttpProtocol:
        return HttpProtocol(self)

    async def listen_unix(self, path: Path, mode: int = 0o600) -> None:
        """Bind ``path`` with a restrictive umask, so the socket is never wider than ``mode``."""
        sock = bind_unix(path, mode)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_unix_server(self.protocol_factory, sock=sock, backlog=512)

    async def listen_tcp(
        self,
        host: str,
        port: int,
        ssl: SSLContext | None = None,
        *,
        admit: Callable[[Any, Any], str | None] | None = None,
        screen: Callable[[str | None, str | None], str | None] | None = None,
    ) -> tuple[str, int]:
        """Listen on TCP as well (TLS when ``ssl`` is given); the address actually bound.

        ``admit`` and ``screen`` (see :class:`HttpProtocol`) judge its connections and
        requests; a TLS listener's context does that job itself."""

        def protocol() -> HttpProtocol:
            proto = HttpProtocol(self)
            proto.admit, proto.screen = admit, screen
            return proto

        factory: Callable[[], asyncio.Protocol] = protocol
        if ssl is not None:  # our own TLS layer: it lets a client half-close (tlsconn.py)
            from labkit.engine.tlsconn import TLSConnection

            context = ssl
            factory = lambda: TLSConnection(context, protocol)  # noqa: E731
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            factory, host=host, port=port, backlog=512, reuse_address=True
        )
        self._more.append(server)
        return server.sockets[0].getsockname()[:2]

    async def listen_socket(self, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        if sock.family == socket.AF_UNIX:
            self._server = await loop.create_unix_server(self.protocol_factory, sock=sock)
        else:
            self._server = await loop.create_server(self.protocol_factory, sock=sock)

    async def close(self, grace: float = 2.0) -> None:
        """Stop listening, let answers in progress finish, cancel streams and sessions."""
        self.poller.stop()
        for listener in [self._server, *self._more]:
            if listener is not None:
                listener.close()
        workers = []
        for conn in list(self.connections):
            worker = conn._worker
            if worker is None:
                conn.close()
            elif conn._cancellable:
                worker.cancel()
                workers.append(worker)
            else:
                workers.append(worker)
        if workers:
            await asyncio.wait(workers, timeout=grace)
        for conn in list(self.connections):
            if conn._worker is not None:
                conn._worker.cancel()
            conn.close()
        for listener in [self._server, *self._more]:
            if listener is not None:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(listener.wait_closed(), timeout=grace)


def bind_unix(path: Path, mode: int = 0o600) -> socket.socket:
    """A listening Unix socket at ``path`` created with a umask so it is born ``mode``."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o777 & ~mode)
    try:
        sock.bind(os.fspath(path))
    except BaseException:
        sock.close()
        raise
    finally:
        os.umask(old)
    os.chmod(path, mode)
    sock.listen(512)
    sock.setblocking(False)
    return sock


def loop_name() -> str:
    """Which event loop :func:`run` uses: uvloop where it is installed, else asyncio's own."""
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio"
    return "uvloop"


def run(main: Awaitable[T]) -> T:
    """``asyncio.run`` on uvloop when it is installed (several times faster here)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)  # type: ignore[arg-type]
    if sys.version_info >= (3, 11):
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(main)  # type: ignore[arg-type]
    uvloop.install()
    return asyncio.run(main)  # type: ignore[arg-type]


Session = Callable[[RawSession], Awaitable[None]]

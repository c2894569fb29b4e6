"""HTTP/1.1 as bytes: building a request, and reading a response as it arrives.

This is everything an Engine API client needs from HTTP, with no sockets in sight: the
caller moves the bytes, this module says what they mean. Requests are small enough to
build by hand (so a learner can read exactly what goes on the wire); responses are parsed
by h11, a well-tested HTTP/1.1 state machine, wrapped so that:

- events are plain frozen dataclasses with ``str`` headers in their original case;
- a ``101 Switching Protocols`` (how ``docker attach`` and ``docker run`` take over the
  connection) becomes one :class:`Upgraded` event, and what follows it is handed on raw;
- every protocol error becomes a :class:`~labkit.wire.errors.WireError` that names the bad
  bytes and their offset in the stream, in words a learner can act on.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import overload

import h11

from labkit.wire.errors import WireError, preview

# The longest response head (status line and headers) the parser accepts.
MAX_HEAD_SIZE = 64 * 1024

# Methods whose requests carry a body, so they get `Content-Length: 0` even when it is empty
# (dockerd's POST handlers, like most servers, expect the length to be stated).
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})

# RFC 9110 grammar, as bytes regexes (they are matched against raw wire bytes).
_TOKEN = rb"[-!#$%&'*+.^_`|~0-9a-zA-Z]+"
_TOKEN_RE = re.compile(_TOKEN)
_FIELD_VCHAR = rb"[^\x00\s]"
_HEADER_LINE_RE = re.compile(
    rb"(" + _TOKEN + rb"):[ \t]*(?:" + _FIELD_VCHAR + rb"+(?:[ \t]+" + _FIELD_VCHAR + rb"+)*)?"
    rb"[ \t]*"
)
_STATUS_LINE_RE = re.compile(rb"HTTP/[0-9]\.[0-9] ([0-9]{3})(?: (?:[ \t]|[^\x00\s])*)?")
_CHUNK_LINE_RE = re.compile(rb"[0-9A-Fa-f]{1,20}(?:;.*)?[ \t]*\r\n")
_LINE_RE = re.compile(rb"[^\n]*(?:\n|$)")

_HEADER_LINE_HELP = (
    "a header line is b'Name: value', where the name is letters, digits and -!#$%&'*+.^_`|~ "
    "with nothing between it and the colon"
)


# --------------------------------------------------------------------------- headers


class Headers:
    """Header lines in the order they came, names in their original case, repeats kept.

    Lookups ignore case (``headers.get("content-type")`` finds ``Content-Type``), because
    HTTP header names are case-insensitive; iteration gives the ``(name, value)`` pairs as
    they were on the wire. Values are ``str`` decoded as Latin-1, so every byte survives.
    """

    __slots__ = ("_items",)

    def __init__(self, items: Iterable[tuple[str, str]] | Mapping[str, str] = ()) -> None:
        pairs = items.items() if isinstance(items, Mapping) else items
        self._items: tuple[tuple[str, str], ...] = tuple((str(n), str(v)) for n, v in pairs)

    @classmethod
    def _from_h11(cls, headers: object) -> Headers:
        return cls(
            (name.decode("latin-1"), value.decode("latin-1")) for name, value in headers.raw_items()
        )

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of header ``name`` (any case), or ``default``."""
        wanted = name.lower()
        for key, value in self._items:
            if key.lower() == wanted:
                return value
        return default

    def get_all(self, name: str) -> list[str]:
        """Every value of header ``name`` (any case), in order: e.g. each ``Warning`` line."""
        wanted = name.lower()
        return [value for key, value in self._items if key.lower() == wanted]

    def items(self) -> list[tuple[str, str]]:
        """The ``(name, value)`` pairs, as a list."""
        return list(self._items)

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        wanted = name.lower()
        return any(key.lower() == wanted for key, _ in self._items)

    @overload
    def __getitem__(self, key: int) -> tuple[str, str]: ...
    @overload
    def __getitem__(self, key: str) -> str: ...
    def __getitem__(self, key: int | str) -> tuple[str, str] | str:
        """``headers[0]`` is the first pair; ``headers["Api-Version"]`` the first value."""
        if isinstance(key, str):
            value = self.get(key)
            if value is None:
                raise KeyError(key)
            return value
        return self._items[key]

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Headers):
            return self._items == other._items
        if isinstance(other, (list, tuple)):
            return list(self._items) == [tuple(pair) for pair in other]
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._items)

    def __repr__(self) -> str:
        return f"Headers({list(self._items)!r})"


HeadersInput = Headers | Mapping[str, str] | Iterable[tuple[str, str]]


# --------------------------------------------------------------------------- requests


def _check_token(kind: str, text: str) -> None:
    if not _TOKEN_RE.fullmatch(text.encode("latin-1", "replace")):
        raise WireError(
            f"bad {kind} {text!r}: it must be a non-empty token of letters, digits and "
            "-!#$%&'*+.^_`|~ (no spaces, no CR or LF)"
        )


def _check_target(target: str) -> bytes:
    if not target or any(ch <= " " or ch >= "\x7f" for ch in target):
        raise WireError(
            f"bad request target {target!r}: it must be non-empty, printable ASCII without "
            "spaces; percent-encode anything else (urllib.parse.quote)"
        )
    return target.encode("ascii")


def _encode_value(name: str, value: str) -> bytes:
    if any(ch in value for ch in "\r\n\0"):
        raise WireError(
            f"bad value for header {name!r}: {value!r} contains CR, LF or NUL, which would "
            "end the header line early (header injection); remove them"
        )
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        raise WireError(
            f"bad value for header {name!r}: {value!r} has characters outside Latin-1; "
            "encode it first (the docker CLI base64-encodes X-Registry-Auth for this reason)"
        ) from None


def _header_pairs(headers: HeadersInput) -> list[tuple[str, str]]:
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    result = []
    for name, value in pairs:
        result.append((str(name), str(value)))
    return result


def _body_length_header(
    method: str, pairs: list[tuple[str, str]], body: bytes
) -> tuple[str, str] | None:
    """The Content-Length line to add, if any; checks a caller-given one against the body."""
    given = Headers(pairs)
    if "Transfer-Encoding" in given:
        return None  # the caller frames the body (e.g. already chunk-encoded)
    stated = given.get("Content-Length")
    if stated is None:
        if body or method.upper() in _BODY_METHODS:
            return ("Content-Length", str(len(body)))
        return None
    if stated.strip() != str(len(body)):
        raise WireError(
            f"Content-Length {stated!r} does not match the body's {len(body)} bytes: the server "
            "would wait for missing bytes or read extra ones as the next request; leave "
            "Content-Length out and it is computed for you"
        )
    return None


def build_request(
    method: str,
    target: str,
    headers: HeadersInput = (),
    body: bytes = b"",
    host: str | None = "docker",
) -> bytes:
    """The bytes of an HTTP/1.1 request, ready for ``sock.sendall``.

    Adds ``Host: <host>`` first unless ``headers`` has one (``host=None`` adds none), and
    ``Content-Length`` when there is a body or the method is POST/PUT/PATCH, unless the
    caller gave Content-Length or Transfer-Encoding. Header names keep the case given.
    """
    if not isinstance(body, (bytes, bytearray, memoryview)):
        raise TypeError(f"body must be bytes, not {type(body).__name__}; encode text first")
    body = bytes(body)
    _check_token("method", method)
    target_bytes = _check_target(target)
    pairs = _header_pairs(headers)
    for name, _ in pairs:
        _check_token("header name", name)
    if host is not None and "Host" not in Headers(pairs):
        pairs.insert(0, ("Host", host))
    length = _body_length_header(method, pairs, body)
    if length is not None:
        pairs.append(length)
    lines = [method.encode("ascii") + b" " + target_bytes + b" HTTP/1.1"]
    lines += [name.encode("ascii") + b": " + _encode_value(name, value) for name, value in pairs]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


# --------------------------------------------------------------------------- events


@dataclass(frozen=True)
class Informational:
    """An interim ``1xx`` response (e.g. ``100 Continue``); the real one follows it."""

    status: int
    reason: str
    headers: Headers


@dataclass(frozen=True)
class Head:
    """The status line and headers of the final response. ``http_version`` is e.g. ``"1.1"``."""

    status: int
    reason: str
    headers: Headers
    http_version: str


@dataclass(frozen=True)
class BodyPart:
    """Some bytes of the body (or, after :class:`Upgraded`, of the raw stream)."""

    data: bytes


@dataclass(frozen=True)
class End:
    """The response is complete. ``trailers`` are headers sent after a chunked body."""

    trailers: Headers = field(default_factory=Headers)


@dataclass(frozen=True)
class Upgraded:
    """``101 Switching Protocols``: HTTP is over on this connection.

    ``rest`` holds the bytes that came after the head in the same feed: the start of the
    raw stream. Everything fed afterwards comes back as :class:`BodyPart` events.
    """

    status: int
    reason: str
    headers: Headers
    rest: bytes


Event = Informational | Head | BodyPart | End | Upgraded


# --------------------------------------------------------------------------- the parser

_PARSING, _DONE, _UPGRADED, _FAILED = "parsing", "done", "upgraded", "failed"


def _check_method(method: str) -> str:
    if not isinstance(method, str) or not _TOKEN_RE.fullmatch(method.encode("latin-1", "replace")):
        raise ValueError(f"bad method {method!r}: give the request's method, e.g. 'GET'")
    return method.upper()


class ResponseParser:
    """Reads HTTP/1.1 responses from bytes fed in pieces of any size.

    ``feed(data)`` returns the events those bytes complete: ``Informational`` for each 1xx,
    then ``Head``, ``BodyPart`` s and ``End``; or ``Upgraded`` for a 101. ``feed_eof()`` says
    the connection closed (which is what ends a close-delimited body). ``method`` is the
    request's method: a response to HEAD has no body whatever its Content-Length says.

    Several responses on one keep-alive connection: after ``End``, bytes fed are held, not
    parsed, until you call ``next_response(method)`` for the next request; it returns the
    events already complete in the held bytes. (The parser cannot guess the next request's
    method, and a HEAD parsed as a GET would swallow the following response as its body.)

    When the response has both ``Transfer-Encoding: chunked`` and ``Content-Length``, the
    chunked encoding wins, as RFC 9112 section 6.3 says. Any protocol error raises
    :class:`WireError` with the offset of the bad bytes; the parser is then unusable.
    """

    def __init__(self, method: str = "GET") -> None:
        self._fed = 0  # bytes fed so far
        self._tail = bytearray()  # bytes fed but not yet consumed by h11
        self._tail_offset = 0  # stream position of self._tail[0]
        self._eof = False
        self._error: WireError | None = None
        self._start(method)

    # -- public ----------------------------------------------------------------------

    @property
    def method(self) -> str:
        """The method of the request whose response is being read."""
        return self._method

    @property
    def done(self) -> bool:
        """True once the current response has ended (``End``) or switched (``Upgraded``)."""
        return self._phase in (_DONE, _UPGRADED)

    @property
    def upgraded(self) -> bool:
        """True after a 101: what follows is a raw stream, not HTTP."""
        return self._phase == _UPGRADED

    @property
    def offset(self) -> int:
        """How many bytes have been fed in all."""
        return self._fed

    @property
    def leftover(self) -> bytes:
        """Bytes fed after the current response's end, not parsed yet (the next response)."""
        return bytes(self._tail) if self._phase == _DONE else b""

    def feed(self, data: bytes) -> list[Event]:
        """Add bytes from the connection; return the events they complete."""
        self._check_usable()
        if self._eof:
            raise ValueError("feed() after feed_eof(): the connection has already closed")
        if not data:
            return []
        data = bytes(data)
        self._fed += len(data)
        if self._phase == _UPGRADED:
            return [BodyPart(data)]
        self._tail += data
        self._conn.receive_data(data)
        if self._phase == _DONE:
            return []  # held for next_response()
        return self._pump()

    def feed_eof(self) -> list[Event]:
        """Say the connection closed; return the events that completes (or raise if cut off)."""
        self._check_usable()
        if self._eof:
            return []
        self._eof = True
        if self._phase != _PARSING:
            return []
        self._conn.receive_data(b"")
        return self._pump()

    def next_response(self, method: str = "GET") -> list[Event]:
        """Get ready for the response to the next request on this connection.

        Returns the events already complete in bytes fed after the previous response.
        """
        self._check_usable()
        if self._phase == _UPGRADED:
            raise WireError(
                "no next response: the connection switched protocols (101) and now carries a "
                "raw stream; open a new connection for the next request",
                self._tail_offset,
            )
        if self._phase != _DONE:
            raise ValueError(
                "the current response has not ended yet: feed it until End before asking for "
                "the next one"
            )
        if self._conn.their_state is not h11.DONE:
            raise self._fail(
                WireError(
                    f"no next response: the response that ended at byte {self._tail_offset} "
                    "closed the connection (Connection: close, or HTTP/1.0); "
                    + (f"yet {len(self._tail)} more bytes followed it; " if self._tail else "")
                    + "send the next request on a new connection",
                    self._tail_offset,
                )
            )
        self._conn.start_next_cycle()
        self._start(method, self._conn)
        if self._eof:
            self._conn.receive_data(b"")
        elif not self._tail:
            return []
        return self._pump()

    # -- driving h11 -------------------------------------------------------------------

    def _start(self, method: str, conn: h11.Connection | None = None) -> None:
        """Pretend to h11 that we just sent a request, so that it will read the response.

        The request proposes an upgrade, so that a 101 is read as a protocol switch (h11
        rejects a 101 nobody asked for); a server that does not upgrade simply ignores it.
        """
        self._method = _check_method(method)
        self._conn = conn or h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD_SIZE)
        self._conn.send(
            h11.Request(
                method=self._method,
                target="/",
                headers=[("Host", "docker"), ("Connection", "Upgrade"), ("Upgrade", "tcp")],
            )
        )
        self._conn.send(h11.EndOfMessage())
        self._phase = _PARSING
        self._head: Head | None = None
        self._body_bytes = 0

    def _buffered(self) -> int:
        """How many fed bytes h11 has not consumed yet."""
        buffer = getattr(self._conn, "_receive_buffer", None)
        if buffer is not None:
            return len(buffer)
        return len(self._conn.trailing_data[0])  # public, but copies the buffer

    def _consume(self, count: int) -> None:
        if count:
            del self._tail[:count]
            self._tail_offset += count

    def _pump(self) -> list[Event]:
        events: list[Event] = []
        while self._phase == _PARSING:
            before = self._buffered()
            state = self._conn.their_state
            try:
                h11_event = self._conn.next_event()
            except h11.RemoteProtocolError as exc:
                consumed = before - self._buffered()
                raise self._fail(self._diagnose(str(exc), state, consumed)) from None
            self._consume(before - self._buffered())
            if h11_event is h11.NEED_DATA or h11_event is h11.PAUSED:
                break
            event = self._convert(h11_event)
            if event is not None:
                events.append(event)
        return events

    def _convert(self, h11_event: object) -> Event | None:
        if isinstance(h11_event, (h11.InformationalResponse, h11.Response)):
            status = h11_event.status_code
            reason = h11_event.reason.decode("latin-1")
            headers = Headers._from_h11(h11_event.headers)
            if self._conn.their_state is h11.SWITCHED_PROTOCOL:
                rest = bytes(self._tail)
                self._consume(len(rest))
                self._phase = _UPGRADED
                return Upgraded(status, reason, headers, rest)
            if isinstance(h11_event, h11.InformationalResponse):
                return Informational(status, reason, headers)
            self._head = Head(status, reason, headers, h11_event.http_version.decode("ascii"))
            return self._head
        if isinstance(h11_event, h11.Data):
            self._body_bytes += len(h11_event.data)
            return BodyPart(bytes(h11_event.data))
        if isinstance(h11_event, h11.EndOfMessage):
            self._phase = _DONE
            return End(Headers._from_h11(h11_event.headers))
        return None  # ConnectionClosed: only ever after End, which stops the pump first

    def _check_usable(self) -> None:
        if self._error is not None:
            raise self._error

    def _fail(self, error: WireError) -> WireError:
        self._phase = _FAILED
        self._error = error
        return error

    # -- explaining errors ----------------------------------------------------------------

    def _diagnose(self, message: str, state: object, consumed: int) -> WireError:
        """Turn h11's terse complaint into a WireError that points at the bad bytes."""
        if self._eof and ("closed" in message or "ConnectionClosed" in message):
            return _cut_off_error(self, state)
        if state is h11.SEND_RESPONSE:
            return _head_error(bytes(self._tail), self._tail_offset, message)
        return _body_error(bytes(self._tail), self._tail_offset, consumed, message)


def _cut_off_error(parser: ResponseParser, state: object) -> WireError:
    end = parser.offset
    if state is h11.SEND_RESPONSE:
        if not parser._tail:
            return WireError(
                f"the connection closed at byte {end} before a response arrived: the server "
                "hung up without answering (did it crash, or reject the request?)",
                end,
            )
        return WireError(
            f"the connection closed at byte {end} in the middle of a response head that began "
            f"at byte {parser._tail_offset}: {preview(parser._tail)} has no blank line "
            "ending it",
            end,
        )
    head = parser._head
    length = head.headers.get("Content-Length") if head else None
    if head is not None and "Transfer-Encoding" not in head.headers and length is not None:
        return WireError(
            f"response body cut off at byte {end}: Content-Length is {length.strip()} but the "
            f"connection closed after {parser._body_bytes} body bytes",
            end,
        )
    return WireError(
        f"chunked body cut off at byte {end}: the connection closed after "
        f"{parser._body_bytes} body bytes, before the last chunk (b'0\\r\\n\\r\\n') arrived",
        end,
    )


def _lines_with_offsets(block: bytes) -> list[tuple[int, bytes]]:
    """``(offset, line)`` for each line of ``block``, line endings kept."""
    return [(m.start(), m.group()) for m in _LINE_RE.finditer(block) if m.group()]


def _head_block(tail: bytes) -> bytes:
    """The response head at the start of ``tail``: up to and including its blank line."""
    match = re.search(rb"\r?\n\r?\n", tail)
    return tail[: match.end()] if match else tail


def _not_http_hint(tail: bytes) -> str:
    if tail[:1] in (b"\x15", b"\x16"):
        return "; that looks like TLS: the server wants an encrypted (https/TLS) connection"
    if len(tail) >= 4 and tail[0] <= 3 and tail[1:4] == b"\0\0\0":
        return "; that looks like a multiplexed stream frame, not an HTTP response"
    if tail[:1] in (b"\r", b"\n"):
        return "; a blank line came before the status line"
    return ""


def _head_error(tail: bytes, base: int, message: str) -> WireError:
    if "too long" in message:
        return WireError(
            f"response head at byte {base} is longer than {MAX_HEAD_SIZE} bytes and has no "
            f"blank line ending it: {preview(tail)}; is this HTTP at all?",
            base,
        )
    lines = _lines_with_offsets(_head_block(tail))
    status_line = lines[0][1] if lines else tail
    match = _STATUS_LINE_RE.fullmatch(status_line.rstrip(b"\r\n"))
    if match is None or int(match.group(1)) < 100:
        return WireError(
            f"bad status line {preview(status_line)} at byte {base}: a status line looks like "
            f"b'HTTP/1.1 200 OK\\r\\n' (version, 3-digit status, reason){_not_http_hint(tail)}",
            base,
        )
    for position, line in lines[1:]:
        text = line.rstrip(b"\r\n")
        if not text:
            break
        if text[:1] in (b" ", b"\t"):
            if position == lines[1][0]:
                return WireError(
                    f"bad header line {preview(line)} at byte {base + position}: the first "
                    "header line starts with whitespace (a continuation of nothing)",
                    base + position,
                )
            continue
        if not _HEADER_LINE_RE.fullmatch(text):
            return WireError(
                f"bad header line {preview(line)} at byte {base + position}: {_HEADER_LINE_HELP}",
                base + position,
            )
    return _framing_error(lines, base, message)


def _framing_error(lines: list[tuple[int, bytes]], base: int, message: str) -> WireError:
    """Headers that parse but cannot frame a body: bad or conflicting lengths, odd encodings."""
    found: dict[str, list[tuple[int, str]]] = {}
    for position, line in lines[1:]:
        name, _, value = line.rstrip(b"\r\n").partition(b":")
        key = name.strip().lower().decode("latin-1")
        found.setdefault(key, []).append((position, value.strip().decode("latin-1")))
    lengths = found.get("content-length", [])
    for position, value in lengths:
        if not re.fullmatch(r"[0-9]+", value):
            return WireError(
                f"bad Content-Length {value!r} at byte {base + position}: it must be a "
                "decimal number of bytes",
                base + position,
            )
    if len({int(value) for _, value in lengths}) > 1:
        shown = ", ".join(value for _, value in lengths)
        return WireError(
            f"conflicting Content-Length headers ({shown}) in the response head at byte "
            f"{base}: the body's length is ambiguous",
            base + lengths[1][0],
        )
    for position, value in found.get("transfer-encoding", []):
        if value.lower() != "chunked":
            return WireError(
                f"unsupported Transfer-Encoding {value!r} at byte {base + position}: only "
                "'chunked' bodies can be read",
                base + position,
            )
    return WireError(f"bad response head at byte {base}: {message}", base)


def _body_error(tail: bytes, base: int, consumed: int, message: str) -> WireError:
    if "chunk footer" in message:
        seen = tail[: 2 if tail[:1] == b"\r" else 1]  # the same however the bytes were split
        return WireError(
            f"missing b'\\r\\n' after a chunk's data at byte {base}: found "
            f"{preview(seen)}; the chunk held more bytes than its size line said",
            base,
        )
    if "chunk header" in message:
        # h11 consumed the bad line last; a "\r\n" before it ended the previous chunk.
        start = tail.rfind(b"\r\n", 0, max(consumed - 2, 0))
        start = 0 if start < 0 else start + 2
        if start == 0 and tail[:1] == b"\n":
            # the previous chunk's b"\r" arrived (and was consumed) in an earlier feed
            start = 1
        line = tail[start:consumed]
        return WireError(
            f"bad chunk size line {preview(line)} at byte {base + start}: a chunk size is "
            "hexadecimal digits (then optional ;extensions), ending in b'\\r\\n'",
            base + start,
        )
    if "header line" in message:  # a trailer after the last chunk
        for position, line in _lines_with_offsets(tail[:consumed]):
            text = line.rstrip(b"\r\n")
            if not text or _CHUNK_LINE_RE.fullmatch(line) or _HEADER_LINE_RE.fullmatch(text):
                continue
            return WireError(
                f"bad trailer line {preview(line)} at byte {base + position}: {_HEADER_LINE_HELP}",
                base + position,
            )
    return WireError(f"bad response body at byte {base}: {message}", base)


# --------------------------------------------------------------------------- whole messages


@dataclass(frozen=True)
class Response:
    """A whole response, as :func:`parse_response` reads it.

    ``rest`` is whatever came after the response: the next response on a keep-alive
    connection, or after a 101 the start of the raw stream.
    """

    status: int
    reason: str
    headers: Headers
    body: bytes
    trailers: Headers = field(default_factory=Headers)
    rest: bytes = b""
    http_version: str = "1.1"
    informational: tuple[Informational, ...] = ()

    def json(self) -> object:
        """The body decoded as JSON (the Engine API's usual answer)."""
        return json.loads(self.body)


def parse_response(data: bytes, method: str = "GET") -> Response:
    """Parse one whole response from ``data``, which is all the connection sent.

    A close-delimited body is everything up to the end of ``data``. Raises WireError when
    ``data`` stops before the response is complete.
    """
    parser = ResponseParser(method)
    events = parser.feed(data)
    if not parser.done:
        events += parser.feed_eof()
    informational = tuple(e for e in events if isinstance(e, Informational))
    body = b"".join(e.data for e in events if isinstance(e, BodyPart))
    for event in events:
        if isinstance(event, Upgraded):
            return Response(
                event.status,
                event.reason,
                event.headers,
                b"",
                Headers(),
                event.rest,
                informational=informational,
            )
    head = next(e for e in events if isinstance(e, Head))
    end = next(e for e in events if isinstance(e, End))
    return Response(
        head.status,
        head.reason,
        head.headers,
        body,
        end.trailers,
        parser.leftover,
        head.http_version,
        informational,
    )


__all__ = [
    "MAX_HEAD_SIZE",
    "BodyPart",
    "End",
    "Event",
    "Head",
    "Headers",
    "HeadersInput",
    "Informational",
    "Response",
    "ResponseParser",
    "Upgraded",
    "build_request",
    "parse_response",
]

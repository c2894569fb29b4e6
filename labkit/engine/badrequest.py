"""Saying what is wrong with a malformed request, and where.

llhttp (through httptools) stops at the first byte it cannot parse but tells us
only a short reason ("Invalid header token"), not the line or the offset. A
malformed request is rare, so when one arrives the server hands the bytes it
still holds to :func:`explain`, which walks them the way an HTTP/1.1 parser
would and names the line that breaks the rules, with its byte offset on the
connection, so that a learner writing requests by hand can see what to fix.

What goes on the wire is Go's own answer, word for word, because that is what
dockerd sends: most faults get a bare ``400 Bad Request``; a few get Go's words
after the reason phrase (``400 Bad Request: invalid header name``), a version
other than 1.x a ``505`` (Go's net/http serves HTTP/1.0 and HTTP/1.1 only). The
explanation goes to the engine's log, and :func:`check_request` gives it to a
learner on the client side, whichever engine they talk to.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

TOKEN = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_REQUEST_LINE = re.compile(rb"^(\S*) (\S+) (HTTP/\S*)$")
_VERSION = re.compile(rb"^HTTP/(\d)\.(\d)$")
_NEEDS_HOST = re.compile(rb" HTTP/1\.[1-9]$")  # HTTP/1.0 may leave Host out
_HEADER = re.compile(rb"^([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*([^\x00-\x08\x0a-\x1f\x7f]*)$")
_CHUNK_SIZE = re.compile(rb"^([0-9A-Fa-f]+)[ \t]*(;.*)?$")
_SHOWN = 60  # bytes of an offending line quoted in a message


# Go's words after the reason phrase, for the faults it names (net/http's server.go).
MISSING_HOST = "missing required Host header"
MALFORMED_HOST = "malformed Host header"
INVALID_NAME = "invalid header name"
INVALID_VALUE = "invalid header value"
UNSUPPORTED_VERSION = "unsupported protocol version"
# Go's 501 for a Transfer-Encoding other than chunked has a body of its own.
UNSUPPORTED_TE_BODY = b"Unsupported transfer encoding"


@dataclass(frozen=True)
class Verdict:
    """The status to answer with, a message that says what and where, and Go's wording."""

    status: int
    message: str  # for the engine's log and for check_request(): what, where, what to do
    detail: str | None = None  # Go's words after the reason phrase; None: its bare reply
    body: bytes | None = None  # Go's body when it is not the status line's text


def valid_host(value: bytes) -> bool:
    """Go's ``httpguts.ValidHostHeader``: letters, digits and a few marks, nothing else."""
    return all(byte in _HOST_BYTES for byte in value)


def valid_value(value: bytes) -> bool:
    """Go's ``httpguts.ValidHeaderFieldValue``: no control byte but the tab."""
    return not any((byte < 0x20 and byte != 0x09) or byte == 0x7F for byte in value)


_HOST_BYTES = frozenset(
    b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ!$%&'()*+,-.:;=[]_~"
)


@dataclass(frozen=True)
class _Line:
    number: int  # 1 = the request line
    offset: int  # in the scanned bytes
    text: bytes  # without its line ending


def _lines(data: bytes, pos: int) -> tuple[list[_Line], int, bool]:
    """The head's lines from ``pos`` up to the blank line; (lines, end of head, complete)."""
    lines: list[_Line] = []
    while True:
        end = data.find(b"\n", pos)
        if end < 0:
            if pos < len(data):
                lines.append(_Line(len(lines) + 1, pos, data[pos:]))
            return lines, len(data), False
        text = data[pos:end]
        if text.endswith(b"\r"):
            text = text[:-1]
        if not text:
            return lines, end + 1, True
        lines.append(_Line(len(lines) + 1, pos, text))
        pos = end + 1


def _body_rule(lines: list[_Line]) -> tuple[int, bool]:
    """(Content-Length, chunked) from a head's header lines."""
    length, chunked = 0, False
    for line in lines[1:]:
        name, _, value = line.text.partition(b":")
        key = name.strip().lower()
        if key == b"content-length" and value.strip().isdigit():
            length = int(value.strip())
        elif key == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    return length, chunked


def _skip_chunks(data: bytes, pos: int) -> int | None:
    """The end of a chunked body starting at ``pos`` (trailers included), or None."""
    while True:
        end = data.find(b"\n", pos)
        if end < 0:
            return None
        m = _CHUNK_SIZE.match(data[pos:end].rstrip(b"\r"))
        if m is None:
            return None
        size = int(m.group(1), 16)
        pos = end + 1
        if size == 0:
            _trailers, after, complete = _lines(data, pos)
            return after if complete else None
        pos += size + 2


def _skip_blank(data: bytes, pos: int) -> int:
    """Go and llhttp both let empty lines come before a request line."""
    while data[pos : pos + 1] in (b"\r", b"\n"):
        pos += 1
    return pos


def message_start(data: bytes, skip: int) -> int | None:
    """Where the request after the first ``skip`` (well-formed) ones begins, or None (also
    when ``skip`` is negative: unknown)."""
    if skip < 0:
        return None
    pos = 0
    for _ in range(skip):
        pos = _skip_blank(data, pos)
        lines, pos, complete = _lines(data, pos)
        if not complete or not lines:
            return None
        length, chunked = _body_rule(lines)
        if chunked:
            end = _skip_chunks(data, pos)
            if end is None:
                return None
            pos = end
        else:
            pos += length
    pos = _skip_blank(data, pos)
    return pos if pos <= len(data) else None


def _quote(text: bytes) -> str:
    shown = text[:_SHOWN]
    return repr(shown) + ("…" if len(text) > _SHOWN else "")


def _where(line: _Line, base: int) -> str:
    what = "the request line" if line.number == 1 else f"header line {line.number - 1}"
    return f"{what} at byte {base + line.offset}: {_quote(line.text)}"


def check_request_line(line: _Line, base: int) -> Verdict | None:
    """A 400 or 505 for a request line that breaks the rules, or None when it is fine."""
    m = _REQUEST_LINE.match(line.text)
    if m is None:
        if re.match(rb"^\S+ \S+$", line.text):
            return Verdict(
                400,
                f"malformed HTTP request: {_where(line, base)} has no HTTP version; "
                "a request line is METHOD TARGET HTTP/1.1, e.g. GET /_ping HTTP/1.1",
            )
        return Verdict(
            400,
            f"malformed HTTP request: {_where(line, base)} is not METHOD TARGET HTTP/1.1 "
            "(three parts separated by single spaces)",
        )
    method, _target, version = m.groups()
    if TOKEN.fullmatch(method) is None:
        return Verdict(
            400,
            f"malformed HTTP request: invalid method {_quote(method)} in {_where(line, base)}; "
            "a method is letters, digits and a few marks such as - and _",
        )
    v = _VERSION.match(version)
    if v is None:
        return Verdict(
            400,
            f"malformed HTTP version {_quote(version)} in {_where(line, base)}; "
            "write HTTP/1.1 (or HTTP/1.0)",
        )
    if v.group(1) != b"1":
        return Verdict(
            505,
            f"unsupported protocol version {version.decode('ascii')} in {_where(line, base)}: "
            "the Engine API is served over HTTP/1.1 (and 1.0), as dockerd serves it",
            UNSUPPORTED_VERSION,
        )
    return None


def check_header_line(line: _Line, base: int) -> Verdict | None:
    m = _HEADER.match(line.text)
    if m is None:
        if b":" not in line.text:
            hint = "a header line is Name: value, and this one has no colon"
            detail = None  # Go's MIME reader gives up on the head: a bare 400
        elif TOKEN.fullmatch(line.text.partition(b":")[0]) is None:
            hint = "a header name is letters, digits and - with no spaces, right before the colon"
            detail = INVALID_NAME
        else:
            hint = "a header value may not hold control characters"
            detail = INVALID_VALUE
        return Verdict(400, f"malformed HTTP request: bad {_where(line, base)}: {hint}", detail)
    name, value = m.groups()
    if name.lower() == b"content-length" and not value.strip().isdigit():
        return Verdict(
            400,
            f"malformed HTTP request: bad Content-Length in {_where(line, base)}: "
            "it must be the body's size in bytes, a decimal number",
        )
    return None


def _check_headers(request: _Line, headers: list[_Line], base: int) -> Verdict | None:
    """The first fault among the header lines, in the order Go finds them: a line its MIME
    reader cannot read at all, then a missing Host, then a bad name or value."""
    faults = [v for v in (check_header_line(line, base) for line in headers) if v is not None]
    unreadable = [v for v in faults if v.detail is None]
    if unreadable:
        return unreadable[0]
    names = [line.text.partition(b":")[0].lower() for line in headers]
    if b"host" not in names and _NEEDS_HOST.search(request.text):
        return Verdict(
            400,
            "missing required Host header: HTTP/1.1 asks for one, and on a Unix socket any "
            "name will do (Host: docker)",
            MISSING_HOST,
        )
    return faults[0] if faults else None


def _check_chunks(data: bytes, pos: int, base: int) -> Verdict | None:
    while True:
        end = data.find(b"\n", pos)
        if end < 0:
            return None
        text = data[pos:end].rstrip(b"\r")
        m = _CHUNK_SIZE.match(text)
        if m is None:
            return Verdict(
                400,
                f"malformed HTTP request: bad chunk size line {_quote(text)} at byte {base + pos}"
                ": each chunk of a chunked body starts with its size in hexadecimal and CRLF",
            )
        size = int(m.group(1), 16)
        pos = end + 1
        if size == 0:
            return None
        after = pos + size
        if len(data) >= after + 2 and data[after : after + 2] != b"\r\n":
            return Verdict(
                400,
                f"malformed HTTP request: the chunk at byte {base + pos} is not followed by CRLF "
                f"after its {size} bytes (0x{size:x}): a chunk's size must match its data",
            )
        pos = after + 2


def explain(reason: str, data: bytes, skip: int, base: int, in_body: bool) -> Verdict:
    """Why the request after the first ``skip`` requests in ``data`` is malformed.

    ``reason`` is the parser's own short reason, used when no rule here finds the
    fault; ``base`` is the connection offset of ``data[0]``; ``in_body`` says the
    parser had finished the head (the fault is in the body).
    """
    fallback = Verdict(400, f"malformed HTTP request: {_lower(reason)}")
    start = message_start(data, skip)
    if start is None:
        return fallback
    lines, body_at, complete = _lines(data, start)
    if not lines:
        return fallback
    request = lines[0]
    if not in_body:
        verdict = check_request_line(request, base)
        if verdict is not None:
            return verdict
        verdict = _check_headers(request, lines[1:], base)
        if verdict is not None:
            return verdict
    shown = _quote(request.text)
    if complete:
        _length, chunked = _body_rule(lines)
        if chunked:
            verdict = _check_chunks(data, body_at, base)
            if verdict is not None:
                return verdict
        where = "body" if in_body else "head"
        return Verdict(
            400,
            f"malformed HTTP request: {_lower(reason)} in the {where} of the request {shown} "
            f"at byte {base + start}",
        )
    where = f"in the request {shown} at byte {base + start}"
    return Verdict(400, f"malformed HTTP request: {_lower(reason)} {where}")


def body_fault(reason: str, request: str) -> Verdict:
    """A fault in a body whose head arrived in an earlier packet (its bytes are gone)."""
    return Verdict(400, f"malformed HTTP request: {_lower(reason)} in the body of {request}")


def _lower(text: str) -> str:
    return text[:1].lower() + text[1:]


def check_request(data: bytes) -> str:
    """What a server will make of these request bytes, in one or two sentences.

    For learners writing requests by hand: the engine's reply to a malformed request
    is Go's bare ``400 Bad Request``, which says nothing about where; this says where,
    and also explains the request that gets no reply at all (its head never ends).
    """
    start = _skip_blank(data, 0)
    lines, body_at, complete = _lines(data, start)
    if not lines:
        return "there is no request in these bytes: start with a request line, GET /_ping HTTP/1.1"
    if not complete:
        return (
            "the head never ends: a server reads header lines until an empty line, and this "
            "request has none, so the engine waits for more and never answers. End the head "
            "with an empty line: the bytes must finish with \\r\\n\\r\\n"
        )
    verdict = check_request_line(lines[0], 0) or _check_headers(lines[0], lines[1:], 0)
    if verdict is not None:
        return f"{verdict.status}: {verdict.message}"
    head = data[start:body_at]
    if head.count(b"\n") != head.count(b"\r\n"):
        return (
            "well formed, but its lines end in a bare \\n: HTTP asks for \\r\\n; dockerd "
            "(Go) and the lab engine accept \\n alone, many other servers do not"
        )
    return "well formed: a request line, header lines and the empty line that ends the head"

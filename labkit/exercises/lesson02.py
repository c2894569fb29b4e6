"""Exercises for lesson 02, raw bytes to the daemon: requests and replies by hand."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import h11

from labkit.exercises.context import CheckContext, expect, expect_type
from labkit.exercises.tap import RequestSeen
from labkit.exercises.tasks import Lesson, task
from labkit.exercises.verdict import NotYet
from labkit.transport.exchange import Reply, exchange

LESSON = Lesson("02", "Raw bytes to the daemon", "02-raw-bytes-to-the-daemon.ipynb", 20)


def request_mistake(data: bytes) -> str | None:
    return RequestSeen(data).mistake()


# -- 02.1 ------------------------------------------------------------------------------


@task(
    "02.1",
    "Write a GET request",
    answer="get_request",
    hints=(
        "A request is a request line, header lines and an empty line, each line ending in \\r\\n.",
        "The request line is the method, the target and the protocol, one space apart: "
        "GET /_ping HTTP/1.1. HTTP/1.1 needs one header, Host.",
        "Build it with an f-string and encode it: f'GET {path} HTTP/1.1\\r\\nHost: docker\\r\\n"
        "\\r\\n'.encode()",
    ),
)
def check_get_request(ctx: CheckContext, get_request: Any) -> str:
    paths = ["/_ping", f"/containers/{ctx.name('none')}/json", "/images/json?all=1"]
    for path in paths:
        data = ctx.call(get_request, path, what=f"get_request({path!r})")
        if isinstance(data, str):
            raise NotYet(
                f"get_request({path!r}) returned a str; a socket carries bytes, so encode it: "
                "text.encode()"
            )
        expect_type(data, bytes, f"get_request({path!r})")
        mistake = request_mistake(data)
        if mistake:
            raise NotYet(f"get_request({path!r}) gave {data!r:.90}", mistake)
        first = data.split(b"\r\n", 1)[0].decode("latin-1")
        expect(
            first == f"GET {path} HTTP/1.1",
            f"get_request({path!r}) starts with {first!r}; the request line should be "
            f"'GET {path} HTTP/1.1'",
        )
        _strict_parse(data, path)
    reply = _send(ctx, ctx.call(get_request, "/_ping"))
    expect(
        reply.status == 200,
        f"the engine answered your GET /_ping with {reply.status} {reply.reason}",
    )
    return "the engine answers the requests get_request() builds (GET /_ping → 200 OK)"


def _strict_parse(data: bytes, path: str) -> None:
    """Read the bytes as a server does (h11, strict); one request and nothing after it."""
    server = h11.Connection(h11.SERVER)
    server.receive_data(data)
    try:
        event = server.next_event()
    except h11.RemoteProtocolError as exc:
        raise NotYet(f"a server cannot read get_request({path!r}): {exc}") from None
    expect(
        isinstance(event, h11.Request),
        f"get_request({path!r}) is not a whole request head yet ({data!r:.80})",
        "no-final-crlf",
    )
    rest = server.next_event()
    expect(
        rest is h11.NEED_DATA or isinstance(rest, h11.EndOfMessage),
        f"get_request({path!r}) has bytes after the request's end; a GET has no body",
    )


def _send(ctx: CheckContext, data: bytes) -> Reply:
    from labkit.transport.connect import open_socket
    from labkit.transport.exchange import read_reply

    with open_socket(ctx.lab.endpoint, timeout=5) as sock:
        sock.sendall(data)
        return read_reply(sock, ctx.lab.endpoint)


# -- 02.2 ------------------------------------------------------------------------------


@task(
    "02.2",
    "A GET of your own, reply and all",
    answer="raw_get",
    hints=(
        "Connect, send the request, then read: first up to the empty line that ends the head, "
        "then exactly Content-Length bytes of body.",
        "recv() may return fewer bytes than you asked for: loop until the head's b'\\r\\n\\r\\n' "
        "is in what you have read; whatever came after it is the start of the body.",
        "Split the head at b'\\r\\n'; the status code is the second word of the first line; each "
        "header line splits at the first ':'. Then read until len(body) == int(content_length).",
    ),
    mistakes={
        "one-recv": (
            "the body you returned is only part of the engine's: one recv() gives whatever has "
            "arrived so far, not the whole reply. Read until the head's empty line, then until "
            "you have Content-Length bytes of body"
        ),
    },
)
def check_raw_get(ctx: CheckContext, raw_get: Any) -> str:
    tap = ctx.tap(drip=True)
    missing = f"/containers/{ctx.name('missing')}/json"
    for path in ("/_ping", "/version", missing):
        before = len(tap.seen)
        result = ctx.call(raw_get, str(tap.path), path, what=f"raw_get(path, {path!r})")
        sent = tap.seen[before] if len(tap.seen) > before else RequestSeen()
        if sent.mistake():
            raise NotYet(f"the request raw_get() sent was {sent.data!r:.90}", sent.mistake())
        _compare(result, exchange(ctx.lab.endpoint, "GET", path), path)
    return "raw_get() reads whole replies, however they arrive: /_ping, /version and a 404"


def _compare(result: Any, real: Reply, path: str) -> None:
    what = f"raw_get(…, {path!r})"
    expect_type(result, tuple, what)
    expect(len(result) == 3, f"{what} should return (status, headers, body): 3 values")
    status, headers, body = result
    expect_type(status, int, f"the status {what} returned")
    expect_type(headers, Mapping, f"the headers {what} returned")
    expect_type(body, bytes, f"the body {what} returned")
    expect(
        status == real.status,
        f"{what} returned status {status}; the engine answered {real.status}",
    )
    if body != real.body:
        if len(body) < len(real.body) and real.body.startswith(body):
            raise NotYet(
                f"{what} returned {len(body)} bytes of body; the engine sent {len(real.body)}",
                "one-recv",
            )
        raise NotYet(f"{what} returned the body {body!r:.60}; the engine sent {real.body!r:.60}")
    lower = {str(k).lower(): v for k, v in headers.items()}
    for name in ("content-type", "api-version"):
        want = real.header(name)
        if want is not None:
            expect(
                str(lower.get(name, "")).strip() == want,
                f"the headers {what} returned have {name!r}: {lower.get(name)!r}; the engine "
                f"sent {want!r} (header names: any case; values without the spaces around them)",
            )


# -- 02.3 ------------------------------------------------------------------------------


@task(
    "02.3",
    "Predict: a request with no Host",
    answer="predicted_status",
    kind="prediction",
    hints=(
        "Which class of status is 'the client asked wrongly'? 2xx, 4xx or 5xx?",
        "HTTP/1.1 makes Host required: a server refuses a request without it as a bad request.",
    ),
)
def check_no_host(ctx: CheckContext, predicted: Any) -> str:
    expect_type(predicted, int, "predicted_status (a status code such as 404)")
    from labkit.transport.connect import open_socket
    from labkit.transport.exchange import read_reply

    with open_socket(ctx.lab.endpoint, timeout=5) as sock:
        sock.sendall(b"GET /_ping HTTP/1.1\r\n\r\n")
        real = read_reply(sock, ctx.lab.endpoint)
    seen = f"GET /_ping without Host got {real.status} {real.reason}"
    if predicted != real.status:
        raise NotYet(
            f"you predicted {predicted}; {seen}. A 4xx means the client's request was wrong, and "
            "HTTP/1.1 requires Host",
            "wrong-prediction",
        )
    return f"{seen}, as you said"


# -- 02.4 ------------------------------------------------------------------------------


@task(
    "02.4",
    "Decode a chunked body",
    answer="decode_chunked",
    hints=(
        "Repeat: read a size line up to \\r\\n, read that many bytes, skip the \\r\\n after "
        "them. Stop at the chunk of size 0.",
        "The size is hexadecimal (int(text, 16)), and may be followed by ';' and an extension "
        "to ignore.",
        "Keep a position `pos`; find the next b'\\r\\n' from it with data.index(b'\\r\\n', pos).",
    ),
)
def check_decode_chunked(ctx: CheckContext, decode_chunked: Any) -> str:
    # Sizes 1 to 9 read the same in decimal and hex; 26 to 31 are 1a to 1f, so a decimal
    # reading always goes wrong at the fourth chunk, whatever the random draw.
    pieces = [ctx.token(ctx.randint(1, 9)).encode() for _ in range(3)]
    pieces.append(ctx.token(ctx.randint(26, 31)).encode())
    pieces.append(ctx.token(ctx.randint(16, 40)).encode())
    pieces.append(ctx.token(ctx.randint(160, 300)).encode())
    body = b"".join(
        f"{len(p):x}{';note=1' if i == 1 else ''}\r\n".encode() + p + b"\r\n"
        for i, p in enumerate(pieces)
    )
    body += b"0\r\n\r\n"
    want = b"".join(pieces)
    try:
        got = ctx.call(decode_chunked, body, what="decode_chunked(body)")
    except NotYet as not_yet:
        if "with base 10" in not_yet.message:
            raise NotYet(
                f"{not_yet.message}: a chunk size is hexadecimal, so read it with int(text, 16)",
                "chunked-size-decimal",
            ) from None
        raise
    expect_type(got, bytes, "decode_chunked(body)")
    if got == want:
        return f"decode_chunked() joined {len(pieces)} chunks of random sizes (hex) correctly"
    if got == b"".join(pieces[:-1]):
        raise NotYet("the last data chunk is missing from what you returned", "chunked-last-chunk")
    if len(got) < len(want) and want.startswith(got):
        raise NotYet(
            f"decode_chunked() returned {len(got)} bytes of the {len(want)}; did it read a size "
            "as decimal?",
            "chunked-size-decimal",
        )
    if b"\r\n" in got:
        raise NotYet(
            "the result still holds \\r\\n from the framing: each chunk's data is followed by "
            "\\r\\n, which is not part of the data"
        )
    raise NotYet(f"decode_chunked() returned {got[:40]!r}…; the data starts {want[:40]!r}")


# -- 02.5 ------------------------------------------------------------------------------


@task(
    "02.5",
    "A reply reader for a keep-alive connection",
    answer="read_reply",
    stretch=True,
    hints=(
        "Read the head up to b'\\r\\n\\r\\n', keeping whatever came after it: it is the start "
        "of the body, or even of the next reply.",
        "Then look at the headers: Content-Length means 'exactly this many bytes'; "
        "Transfer-Encoding: chunked means 'chunks until the size-0 one'.",
        "Never read past the reply's end: the next reply on the connection starts right after "
        "it. Reading one byte at a time (lesson 02's ByteReader) is the easiest way.",
    ),
    mistakes={
        "read-too-far": (
            "the first reply was read too far: your reader took bytes of the second reply, so "
            "the second call did not find its start. On a keep-alive connection, read exactly "
            "to a reply's end and no further"
        ),
    },
)
def check_read_reply(ctx: CheckContext, read_reply: Any) -> str:
    import socket
    import time

    first_body = ctx.token(ctx.randint(10, 30)).encode()
    pieces = [ctx.token(ctx.randint(1, 30)).encode() for _ in range(3)]
    chunked = b"".join(f"{len(p):x}\r\n".encode() + p + b"\r\n" for p in pieces) + b"0\r\n\r\n"
    replies = (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
        + f"Content-Length: {len(first_body)}\r\n\r\n".encode()
        + first_body
        + b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n"
        + chunked
    )
    second = replies[replies.index(b"HTTP/1.1 404") :]
    # The first reply's end and the second's start travel in one piece, as they would on a
    # busy connection: a reader that takes whatever arrives swallows part of the second.
    first_end = replies.index(b"HTTP/1.1 404")
    server = ctx.scripted(replies, pieces=[first_end - len(first_body), first_end + 12],
                          close_after=False)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        sock.connect(str(server.path))
        sock.sendall(b"GET /a HTTP/1.1\r\nHost: docker\r\n\r\n")
        one = ctx.call(read_reply, sock, what="read_reply(sock), the first time")
        _expect_reply(one, 200, first_body, "the first reply")
        server.first.sent.wait(5)
        time.sleep(0.05)
        try:
            waiting = sock.recv(len(second) + 1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except BlockingIOError:
            waiting = b""
        expect(
            waiting == second,
            "after the first reply, the second was no longer whole",
            "read-too-far",
        )
        two = ctx.call(read_reply, sock, what="read_reply(sock), the second time")
        _expect_reply(two, 404, b"".join(pieces), "the second reply")
    return (
        "read_reply() read a Content-Length reply and then a chunked one from the same "
        "connection, each to its exact end"
    )


def _expect_reply(result: Any, status: int, body: bytes, which: str) -> None:
    expect_type(result, tuple, f"read_reply() for {which}")
    expect(len(result) == 3, "read_reply() should return (status, headers, body)")
    got_status, _headers, got_body = result
    expect(
        got_status == status,
        f"for {which} read_reply() gave status {got_status!r}, not {status}",
    )
    if got_body != body:
        if isinstance(got_body, bytes) and len(got_body) < len(body) and body.startswith(got_body):
            raise NotYet(f"for {which} read_reply() returned only part of the body", "one-recv")
        raise NotYet(
            f"for {which} read_reply() returned the body {got_body!r:.60}, not {body!r:.60}"
        )

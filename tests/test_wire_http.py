"""labkit.wire.http: building requests and parsing responses fed in any pieces."""

from __future__ import annotations

import dataclasses
import itertools
import json
import socket
import time
from pathlib import Path

import h11
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from labkit.wire import WireError
from labkit.wire.http import (
    MAX_HEAD_SIZE,
    BodyPart,
    End,
    Head,
    Headers,
    Informational,
    ResponseParser,
    Upgraded,
    build_request,
    parse_response,
)
from labkit.wire.jsonlines import JsonLinesDecoder

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --------------------------------------------------------------------------- helpers


def normalize(events: list) -> list:
    """Events with every run of body bytes merged, so that splits do not matter.

    An Upgraded event's ``rest`` is moved into the BodyPart after it: whether the raw
    stream's first bytes came in the head's feed or later is an accident of the split.
    """
    out: list = []
    for event in events:
        if isinstance(event, Upgraded):
            out.append(dataclasses.replace(event, rest=b""))
            event = BodyPart(event.rest)
        if isinstance(event, BodyPart):
            if not event.data:
                continue
            if out and isinstance(out[-1], BodyPart):
                out[-1] = BodyPart(out[-1].data + event.data)
                continue
        out.append(event)
    return out


def run(chunks: list[bytes], methods: list[str], eof: bool = True) -> list:
    """Feed ``chunks`` to one parser, moving to the next response after each End."""
    parser = ResponseParser(methods[0])
    events: list = []
    pending = list(methods[1:])

    def absorb(new: list) -> None:
        events.extend(new)
        while parser.done and not parser.upgraded and pending:
            events.extend(parser.next_response(pending.pop(0)))

    for chunk in chunks:
        absorb(parser.feed(chunk))
    if eof:
        absorb(parser.feed_eof())
    return events


def run_error(chunks: list[bytes], methods: list[str]) -> WireError:
    with pytest.raises(WireError) as caught:
        run(chunks, methods)
    return caught.value


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c for c in cuts if 0 < c < len(data)})
    edges = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges)]


def bytewise(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


def three_ways(data: bytes, draw_cuts) -> list[list[bytes]]:
    """The same bytes whole, one byte at a time, and cut at random places."""
    return [[data], bytewise(data), split_at(data, draw_cuts)]


# --------------------------------------------------------------------------- strategies

TOKEN_CHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
RESERVED = {"content-length", "transfer-encoding", "connection", "upgrade", "keep-alive"}
VALUE_CHARS = "".join(chr(c) for c in range(0x20, 0x7F)) + "\té\xff"

names = st.one_of(
    st.sampled_from(["Set-Cookie", "Warning", "Api-Version", "ostype", "SERVER", "X-A"]),
    st.text(TOKEN_CHARS, min_size=1, max_size=12),
).filter(lambda n: n.lower() not in RESERVED)
values = st.text(VALUE_CHARS, max_size=24).map(lambda v: v.strip(" \t"))
header_lists = st.lists(st.tuples(names, values), max_size=6)
reasons = st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ -", max_size=16)


def head_bytes(version: str, status: int, reason: str, headers: list[tuple[str, str]]) -> bytes:
    lines = [f"HTTP/{version} {status} {reason}"] + [f"{n}: {v}" for n, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


@st.composite
def informationals(draw) -> tuple[bytes, list]:
    """Zero to two 1xx responses, as bytes and as the events they should give."""
    data, events = b"", []
    for _ in range(draw(st.integers(0, 2))):
        status = draw(st.sampled_from([100, 102, 103]))
        reason, headers = draw(reasons), draw(header_lists)
        data += head_bytes("1.1", status, reason, headers)
        events.append(Informational(status, reason, Headers(headers)))
    return data, events


@st.composite
def chunked_body(draw, body: bytes) -> tuple[bytes, list[tuple[str, str]]]:
    """``body`` chunk-encoded with random chunk sizes, extensions and trailers."""
    out, i = b"", 0
    while i < len(body):
        size = draw(st.integers(1, len(body) - i))
        digits = format(size, "x")
        digits = "0" * draw(st.integers(0, 2)) + draw(st.sampled_from([digits, digits.upper()]))
        ext = draw(st.sampled_from(["", ";x", ";name=value", ';q="a b"', " "]))
        out += f"{digits}{ext}\r\n".encode() + body[i : i + size] + b"\r\n"
        i += size
    trailers = draw(st.lists(st.tuples(names, values), max_size=3))
    out += b"0" + draw(st.sampled_from([b"", b";end"])) + b"\r\n"
    out += b"".join(f"{n}: {v}\r\n".encode("latin-1") for n, v in trailers) + b"\r\n"
    return out, trailers


@st.composite
def responses(draw, method: str, last: bool) -> tuple[bytes, list]:
    """One response to ``method``: its bytes and expected events.

    Only the last response on a connection may be close-delimited or say Connection: close.
    """
    data, events = draw(informationals())
    status = draw(st.sampled_from([200, 201, 204, 304, 404, 409, 500]))
    reason, headers = draw(reasons), draw(header_lists)
    version = draw(st.sampled_from(["1.1", "1.0"])) if last else "1.1"
    no_body = method == "HEAD" or status in (204, 304)
    framings = ["length", "chunked"] + (["close"] if last and not no_body else [])
    framing = draw(st.sampled_from(framings)) if status not in (204, 304) else "none"
    if version == "1.0" and framing == "chunked":
        framing = "length"
    body = b"" if no_body else draw(st.binary(max_size=200))
    where = draw(st.integers(0, len(headers)))
    wire_body, trailers = b"", []
    if framing == "length":
        length = len(body) if not no_body else draw(st.integers(0, 5000))
        headers.insert(where, ("Content-Length", str(length)))
        wire_body = body
    elif framing == "chunked":
        headers.insert(where, ("Transfer-Encoding", "chunked"))
        if not no_body:
            wire_body, trailers = draw(chunked_body(body))
    elif framing == "close":
        wire_body = body
    if last and version == "1.1" and draw(st.booleans()):
        headers.append(("Connection", "close"))
    data += head_bytes(version, status, reason, headers) + wire_body
    events.append(Head(status, reason, Headers(headers), version))
    if body:
        events.append(BodyPart(body))
    events.append(End(Headers(trailers)))
    return data, events


@st.composite
def conversations(draw) -> tuple[bytes, list[str], list]:
    """One to four responses on a keep-alive connection, with the methods that asked."""
    methods = draw(
        st.lists(st.sampled_from(["GET", "HEAD", "POST", "DELETE"]), min_size=1, max_size=4)
    )
    data, events = b"", []
    for index, method in enumerate(methods):
        more, expected = draw(responses(method, last=index == len(methods) - 1))
        data += more
        events += expected
    return data, methods, events


cut_lists = st.lists(st.integers(0, 2000), max_size=12)

# --------------------------------------------------------------------------- properties


@SETTINGS
@given(conversations(), cut_lists)
def test_any_split_gives_the_same_events(conv, cuts) -> None:
    data, methods, expected = conv
    for chunks in three_ways(data, cuts):
        assert normalize(run(chunks, methods)) == expected


@SETTINGS
@given(st.sampled_from(["GET", "POST", "HEAD"]), st.data())
def test_parse_response_matches_the_events(method, data) -> None:
    raw, expected = data.draw(responses(method, last=True))
    trailing = data.draw(st.binary(max_size=20))
    head = next(e for e in expected if isinstance(e, Head))
    body = b"".join(e.data for e in expected if isinstance(e, BodyPart))
    delimited = "Content-Length" in head.headers or "Transfer-Encoding" in head.headers
    if delimited or method == "HEAD" or head.status in (204, 304):
        raw += trailing  # bytes after a delimited message are `rest`
    else:
        trailing = b""  # a close-delimited body takes everything
    response = parse_response(raw, method)
    assert (response.status, response.reason, response.headers) == (
        head.status,
        head.reason,
        head.headers,
    )
    assert response.body == body
    assert response.trailers == expected[-1].trailers
    assert response.rest == trailing
    assert response.http_version == head.http_version
    assert list(response.informational) == [e for e in expected if isinstance(e, Informational)]


@SETTINGS
@given(informationals(), reasons, header_lists, st.binary(max_size=300), cut_lists)
def test_101_hands_over_the_raw_stream(info, reason, headers, raw, cuts) -> None:
    before, expected = info
    headers = [("Content-Type", "application/vnd.docker.raw-stream"), *headers]
    headers += [("Connection", "Upgrade"), ("Upgrade", "tcp")]
    data = before + head_bytes("1.1", 101, reason, headers) + raw
    expected = [*expected, Upgraded(101, reason, Headers(headers), b"")]
    if raw:
        expected.append(BodyPart(raw))
    for chunks in three_ways(data, cuts):
        assert normalize(run(chunks, ["POST"])) == expected
    response = parse_response(data, "POST")
    assert (response.status, response.rest, response.body) == (101, raw, b"")


# --------------------------------------------------------------------------- malformed input


def _head(headers: list[tuple[str, str]]) -> bytes:
    return head_bytes("1.1", 200, "OK", headers)


@SETTINGS
@given(
    st.sampled_from(
        [
            "HTTX/1.1 200 OK",
            "HTTP/1.1 20 OK",
            "HTTP/1.1 abc OK",
            "HTTP/2 200 OK",
            "ICY 200 OK",
            "HTTP/1.1 000 Zero",
            "HTTP/1.1  200 OK",
        ]
    ),
    header_lists,
    cut_lists,
)
def test_bad_status_line(line, headers, cuts) -> None:
    data = (line + "\r\n").encode() + _head(headers).partition(b"\r\n")[2]
    shown = (line + "\r\n").encode()
    for chunks in three_ways(data, cuts):
        error = run_error(chunks, ["GET"])
        assert error.offset == 0
        assert str(error).startswith(f"bad status line {shown!r} at byte 0")


bad_header_lines = st.one_of(
    st.text(TOKEN_CHARS, min_size=1, max_size=10),  # no colon at all
    st.tuples(st.text(TOKEN_CHARS, min_size=1, max_size=8), values).map(
        lambda p: f"{p[0]} : {p[1]}"
    ),
    st.tuples(st.text(TOKEN_CHARS, min_size=1, max_size=8), values).map(lambda p: f"{p[0]}: a\0b"),
)


@SETTINGS
@given(header_lists, st.data(), bad_header_lines, cut_lists)
def test_bad_header_line(headers, data, bad, cuts) -> None:
    where = data.draw(st.integers(0, len(headers)))
    lines = [f"{n}: {v}".encode("latin-1") for n, v in headers]
    lines.insert(where, bad.encode())
    status = b"HTTP/1.1 200 OK\r\n"
    raw = status + b"".join(line + b"\r\n" for line in lines) + b"\r\nbody"
    offset = len(status) + sum(len(line) + 2 for line in lines[:where])
    shown = bad.encode() + b"\r\n"
    for chunks in three_ways(raw, cuts):
        error = run_error(chunks, ["GET"])
        assert error.offset == offset
        assert str(error).startswith(f"bad header line {shown!r} at byte {offset}:")


@SETTINGS
@given(
    st.binary(min_size=1, max_size=60),
    st.text("gGzZxX-; ", min_size=1, max_size=1),
    st.text(VALUE_CHARS, max_size=10),
    cut_lists,
)
# a split between the b"\r" and the b"\n" that end the previous chunk (found by hypothesis)
@example(body=b"\x00" * 19, first=";", rest="", cuts=[71])
def test_bad_chunk_size_line(body, first, rest, cuts) -> None:
    bad = (first + rest).encode("latin-1") + b"\r\n"
    head = _head([("Transfer-Encoding", "chunked")])
    good = f"{len(body):x}\r\n".encode() + body + b"\r\n"
    data = head + good + bad + b"more\r\n"
    offset = len(head) + len(good)
    for chunks in three_ways(data, cuts):
        error = run_error(chunks, ["GET"])
        assert error.offset == offset
        assert str(error) == (
            f"bad chunk size line {bad!r} at byte {offset}: a chunk size is hexadecimal "
            "digits (then optional ;extensions), ending in b'\\r\\n'"
        )


def test_empty_chunk_size_line_is_reported_where_it_is() -> None:
    head = _head([("Transfer-Encoding", "chunked")])
    data = head + b"3\r\nabc\r\n\r\n"
    error = run_error([data], ["GET"])
    assert error.offset == len(head) + 8
    assert "bad chunk size line b'\\r\\n'" in str(error)


@SETTINGS
@given(st.binary(min_size=1, max_size=40), st.binary(min_size=1, max_size=5), cut_lists)
def test_chunk_longer_than_its_size(body, extra, cuts) -> None:
    if extra.startswith(b"\r"):
        extra = b"X" + extra
    head = _head([("Transfer-Encoding", "chunked")])
    data = head + f"{len(body):x}\r\n".encode() + body + extra + b"\r\n0\r\n\r\n"
    offset = len(head) + len(f"{len(body):x}\r\n") + len(body)
    for chunks in three_ways(data, cuts):
        error = run_error(chunks, ["GET"])
        assert error.offset == offset
        assert str(error).startswith(f"missing b'\\r\\n' after a chunk's data at byte {offset}")


def test_bad_trailer_line() -> None:
    head = _head([("Transfer-Encoding", "chunked")])
    data = head + b"3\r\nabc\r\n0\r\nGood: yes\r\nnot a trailer\r\n\r\n"
    for chunks in ([data], bytewise(data)):
        error = run_error(chunks, ["GET"])
        assert error.offset == len(head) + len(b"3\r\nabc\r\n0\r\nGood: yes\r\n")
        assert str(error).startswith("bad trailer line b'not a trailer\\r\\n'")


@SETTINGS
@given(st.binary(min_size=1, max_size=100), st.data(), cut_lists)
def test_content_length_body_cut_off_at_eof(body, data, cuts) -> None:
    kept = data.draw(st.integers(0, len(body) - 1))
    raw = _head([("Content-Length", str(len(body)))]) + body[:kept]
    for chunks in three_ways(raw, cuts):
        error = run_error(chunks, ["GET"])
        assert error.offset == len(raw)
        assert str(error) == (
            f"response body cut off at byte {len(raw)}: Content-Length is {len(body)} but the "
            f"connection closed after {kept} body bytes"
        )


@SETTINGS
@given(st.binary(min_size=1, max_size=100), st.data(), cut_lists)
def test_chunked_body_cut_off_at_eof(body, data, cuts) -> None:
    head = _head([("Transfer-Encoding", "chunked")])
    wire = data.draw(chunked_body(body))[0]
    raw = head + wire[: data.draw(st.integers(0, len(wire) - 1))]
    for chunks in three_ways(raw, cuts):
        error = run_error(chunks, ["GET"])
        assert error.offset == len(raw)
        assert str(error).startswith(f"chunked body cut off at byte {len(raw)}:")


@SETTINGS
@given(st.data())
def test_head_cut_off_at_eof(data) -> None:
    full = _head([("Api-Version", "1.41"), ("Content-Length", "2")])
    raw = full[: data.draw(st.integers(1, len(full) - 2))]
    error = run_error(bytewise(raw), ["GET"])
    assert error.offset == len(raw)
    assert "in the middle of a response head that began at byte 0" in str(error)


def test_cut_off_message_counts_only_the_current_body() -> None:
    first = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nfour"
    second = b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nnin"
    error = run_error([first + second], ["GET", "GET"])
    assert "Content-Length is 9 but the connection closed after 3 body bytes" in str(error)
    assert error.offset == len(first + second)


def test_nothing_at_all_before_eof() -> None:
    error = run_error([], ["GET"])
    assert error.offset == 0
    assert "closed at byte 0 before a response arrived" in str(error)


@pytest.mark.parametrize(
    ("headers", "start", "offset"),
    [
        ([("Content-Length", "12x")], "bad Content-Length '12x' at byte 17", 17),
        ([("Content-Length", "1"), ("Content-Length", "2")], "conflicting Content-Length", 36),
        ([("Transfer-Encoding", "gzip")], "unsupported Transfer-Encoding 'gzip' at byte 17", 17),
    ],
)
def test_headers_that_cannot_frame_a_body(headers, start, offset) -> None:
    error = run_error([_head(headers) + b"xy"], ["GET"])
    assert str(error).startswith(start)
    assert error.offset == offset


def test_tls_reply_gets_a_hint() -> None:
    error = run_error([b"\x15\x03\x01\x00\x02\x02\x50"], ["GET"])
    assert error.offset == 0
    assert "that looks like TLS" in str(error)


def test_frames_instead_of_http_get_a_hint() -> None:
    error = run_error([b"\x01\x00\x00\x00\x00\x00\x00\x03hi\n"], ["GET"])
    assert "multiplexed stream frame" in str(error)


def test_endless_head_is_refused() -> None:
    data = b"HTTP/1.1 200 OK\r\n" + b"X-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n" * 2000
    error = run_error([data], ["GET"])
    assert error.offset == 0
    assert f"longer than {MAX_HEAD_SIZE} bytes" in str(error)


def test_errors_are_sticky_and_carry_the_same_offset() -> None:
    parser = ResponseParser()
    with pytest.raises(WireError) as first:
        parser.feed(b"HTTP/1.1 200 OK\r\nbad\r\n\r\n")
    with pytest.raises(WireError) as second:
        parser.feed(b"more")
    assert second.value is first.value
    assert first.value.offset == 17


# --------------------------------------------------------------------------- specific cases


def test_head_response_has_no_body_whatever_its_length() -> None:
    data = _head([("Content-Length", "792")]) + b"HTTP/1.1 204 No Content\r\n\r\n"
    events = run([data], ["HEAD", "DELETE"])
    assert events == [
        Head(200, "OK", Headers([("Content-Length", "792")]), "1.1"),
        End(),
        Head(204, "No Content", Headers(), "1.1"),
        End(),
    ]


def test_chunked_wins_over_content_length() -> None:
    headers = [("Content-Length", "100"), ("Transfer-Encoding", "chunked")]
    response = parse_response(_head(headers) + b"3\r\nabc\r\n0\r\n\r\nNEXT")
    assert (response.body, response.rest) == (b"abc", b"NEXT")


def test_101_needs_no_upgrade_header_in_the_request() -> None:
    # The parser always tells h11 an upgrade was proposed; without that h11 refuses any 101.
    response = parse_response(b"HTTP/1.1 101 UPGRADED\r\n\r\n\x01\0\0\0\0\0\0\x01!", "GET")
    assert (response.status, response.reason, response.rest) == (
        101,
        "UPGRADED",
        b"\x01\0\0\0\0\0\0\x01!",
    )


def test_after_upgrade_feeds_are_raw_and_eof_is_quiet() -> None:
    parser = ResponseParser("POST")
    (upgraded,) = parser.feed(b"HTTP/1.1 101 UPGRADED\r\nUpgrade: tcp\r\n\r\nHTTP/1.1 not parsed")
    assert isinstance(upgraded, Upgraded)
    assert upgraded.rest == b"HTTP/1.1 not parsed"
    assert parser.feed(b"\r\n\r\n") == [BodyPart(b"\r\n\r\n")]
    assert parser.feed_eof() == []
    assert parser.upgraded


def test_close_delimited_body_ends_at_eof() -> None:
    parser = ResponseParser()
    assert parser.feed(b"HTTP/1.1 200 OK\r\n\r\nsome") == [
        Head(200, "OK", Headers(), "1.1"),
        BodyPart(b"some"),
    ]
    assert parser.feed(b" more") == [BodyPart(b" more")]
    assert parser.feed_eof() == [End()]


def test_status_line_without_reason() -> None:
    response = parse_response(b"HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nOK")
    assert (response.status, response.reason, response.body) == (200, "", b"OK")


def test_repeated_headers_and_obsolete_folding() -> None:
    raw = (
        b"HTTP/1.1 200 OK\r\nWarning: 199 one\r\nSet-Cookie: a=1\r\nwarning: 199 two\r\n"
        b"X-Long: first\r\n  second\r\nContent-Length: 0\r\n\r\n"
    )
    headers = parse_response(raw).headers
    assert headers.get_all("WARNING") == ["199 one", "199 two"]
    assert headers["x-long"] == "first second"


def test_next_response_before_end_is_a_mistake() -> None:
    parser = ResponseParser()
    parser.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab")
    with pytest.raises(ValueError, match="has not ended yet"):
        parser.next_response("GET")


def test_no_next_response_after_connection_close() -> None:
    first = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nOK"
    parser = ResponseParser()
    parser.feed(first + b"HTTP/1.1 200 OK\r\n")
    assert parser.leftover == b"HTTP/1.1 200 OK\r\n"
    with pytest.raises(WireError, match="closed the connection") as caught:
        parser.next_response("GET")
    assert caught.value.offset == len(first)


def test_pipelined_response_after_eof_is_still_read() -> None:
    parser = ResponseParser()
    parser.feed(b"HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx")
    assert parser.feed_eof() == []
    assert parser.next_response("GET")[-2:] == [BodyPart(b"x"), End()]


def test_feed_after_eof_is_a_mistake() -> None:
    parser = ResponseParser()
    parser.feed(b"HTTP/1.1 200 OK\r\n\r\n")
    parser.feed_eof()
    with pytest.raises(ValueError, match="after feed_eof"):
        parser.feed(b"x")


def test_response_json() -> None:
    raw = b'HTTP/1.1 404 Not Found\r\nContent-Length: 29\r\n\r\n{"message":"page not found"}\n'
    assert parse_response(raw).json() == {"message": "page not found"}


def test_parse_response_of_a_partial_message_raises() -> None:
    with pytest.raises(WireError, match="cut off"):
        parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort")


def test_bad_method_for_the_parser() -> None:
    with pytest.raises(ValueError, match="bad method"):
        ResponseParser("GET /")


# --------------------------------------------------------------------------- Headers


def test_headers_lookups_ignore_case_and_keep_order() -> None:
    headers = Headers([("Set-Cookie", "a=1"), ("Api-Version", "1.41"), ("set-cookie", "b=2")])
    assert headers.get("api-version") == "1.41"
    assert headers.get("missing") is None
    assert headers.get("missing", "x") == "x"
    assert headers.get_all("SET-COOKIE") == ["a=1", "b=2"]
    assert "API-VERSION" in headers
    assert 42 not in headers
    assert list(headers) == [("Set-Cookie", "a=1"), ("Api-Version", "1.41"), ("set-cookie", "b=2")]
    assert headers[1] == ("Api-Version", "1.41")
    assert headers["set-cookie"] == "a=1"
    with pytest.raises(KeyError):
        headers["missing"]
    assert len(headers) == 3
    assert headers == [("Set-Cookie", "a=1"), ("Api-Version", "1.41"), ("set-cookie", "b=2")]
    assert headers != Headers([("Api-Version", "1.41")])
    assert Headers({"A": "1"}) == Headers([("A", "1")])
    assert hash(Headers([("A", "1")])) == hash(Headers([("A", "1")]))


# --------------------------------------------------------------------------- build_request


def test_build_request_ping() -> None:
    assert build_request("GET", "/_ping") == b"GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n"


def test_build_request_with_body_keeps_header_case() -> None:
    body = b'{"Image":"alpine"}'
    raw = build_request("POST", "/containers/create", {"content-TYPE": "application/json"}, body)
    assert raw == (
        b"POST /containers/create HTTP/1.1\r\nHost: docker\r\ncontent-TYPE: application/json\r\n"
        b"Content-Length: 18\r\n\r\n" + body
    )


def test_build_request_post_without_body_states_zero_length() -> None:
    raw = build_request("POST", "/containers/abc/start")
    assert raw.endswith(b"Content-Length: 0\r\n\r\n")


def test_build_request_leaves_given_host_and_framing_alone() -> None:
    raw = build_request(
        "POST", "/build", [("host", "example"), ("Transfer-Encoding", "chunked")], b"0\r\n\r\n"
    )
    assert raw.count(b"ost:") == 1
    assert b"Content-Length" not in raw
    assert build_request("GET", "/x", host=None) == b"GET /x HTTP/1.1\r\n\r\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("GET", "/x", [("X-Evil", "a\r\nInjected: yes")]), "header injection"),
        (("GET", "/x", [("X-Evil", "a\nb")]), "contains CR, LF or NUL"),
        (("GET", "/x", [("Bad Name", "v")]), "bad header name 'Bad Name'"),
        (("GET", "/x", [("X-Name\r\n", "v")]), "bad header name"),
        (("GET", "/a b"), "bad request target '/a b'"),
        (("GET", ""), "bad request target ''"),
        (("GE T", "/x"), "bad method 'GE T'"),
        (("GET", "/x", [("X-Auth", "\u20ac")]), "outside Latin-1"),
        (("POST", "/x", [("Content-Length", "3")], b"ab"), "does not match the body's 2 bytes"),
    ],
)
def test_build_request_refuses_what_would_corrupt_the_stream(args, message) -> None:
    with pytest.raises(WireError, match=message.replace("(", r"\(")):
        build_request(*args)


def test_build_request_wants_bytes_for_a_body() -> None:
    with pytest.raises(TypeError, match="encode text first"):
        build_request("POST", "/x", body="text")  # type: ignore[arg-type]


@SETTINGS
@given(
    st.sampled_from(["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH"]),
    st.text("/abcdefghijklmnopqrstuvwxyz0123456789?=&%-._~", min_size=1, max_size=30).map(
        lambda t: "/" + t
    ),
    header_lists,
    st.binary(max_size=100),
)
def test_build_request_round_trips_through_h11_as_server(method, target, headers, body) -> None:
    headers = [(n, v) for n, v in headers if n.lower() != "host"]
    server = h11.Connection(h11.SERVER)
    server.receive_data(build_request(method, target, headers, body))
    request = server.next_event()
    assert isinstance(request, h11.Request)
    assert (request.method.decode(), request.target.decode()) == (method, target)
    got = [(n.decode("latin-1"), v.decode("latin-1")) for n, v in request.headers.raw_items()]
    expected = [("Host", "docker"), *headers]
    if body or method in ("POST", "PUT", "PATCH"):
        expected.append(("Content-Length", str(len(body))))
    assert got == expected
    received = b""
    while not isinstance(event := server.next_event(), h11.EndOfMessage):
        received += event.data
    assert received == body


# --------------------------------------------------------------------------- the real dockerd


def _exchange(sock_path: Path, requests: list[tuple[str, str]]) -> tuple[bytes, list]:
    """Send requests one at a time on one keep-alive connection; return all bytes and events."""
    captured = b""
    events: list = []
    parser: ResponseParser | None = None
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect(str(sock_path))
        for method, target in requests:
            sock.sendall(build_request(method, target))
            if parser is None:
                parser = ResponseParser(method)
            else:
                events += parser.next_response(method)
            while not parser.done:
                data = sock.recv(65536)
                captured += data
                events += parser.feed(data) if data else parser.feed_eof()
    return captured, events


@pytest.mark.real_engine
def test_real_dockerd_ping_head_and_version(real_engine_socket: Path) -> None:
    methods = ["GET", "HEAD", "GET"]
    captured, events = _exchange(
        real_engine_socket, list(zip(methods, ["/_ping", "/_ping", "/version"], strict=True))
    )
    heads = [e for e in events if isinstance(e, Head)]
    assert [h.status for h in heads] == [200, 200, 200]
    api_version = heads[0].headers["Api-Version"]
    assert api_version.count(".") == 1
    bodies = b"".join(e.data for e in events if isinstance(e, BodyPart))
    assert bodies.startswith(b"OK{")  # the HEAD reply has no body, whatever its length says
    version = json.loads(bodies[2:])
    assert version["ApiVersion"] == api_version
    # The same captured bytes, replayed a byte at a time, give the same events.
    assert normalize(run(bytewise(captured), methods, eof=False)) == normalize(events)


@pytest.mark.real_engine
def test_real_dockerd_ping_through_parse_response(real_engine_socket: Path) -> None:
    captured, _ = _exchange(real_engine_socket, [("GET", "/_ping")])
    response = parse_response(captured)
    assert (response.status, response.body) == (200, b"OK")
    assert "api-version" in response.headers
    assert response.headers["Content-Type"].startswith("text/plain")


@pytest.mark.real_engine
def test_real_dockerd_chunked_event_stream(real_engine_socket: Path) -> None:
    target = f"/events?since=0&until={int(time.time())}"
    captured, events = _exchange(real_engine_socket, [("GET", target)])
    head = next(e for e in events if isinstance(e, Head))
    assert head.headers.get("Transfer-Encoding") == "chunked"
    assert isinstance(events[-1], End)
    decoder = JsonLinesDecoder()
    values = [v for e in events if isinstance(e, BodyPart) for v in decoder.feed(e.data)]
    values += decoder.close()
    assert all(isinstance(v, dict) and "Type" in v for v in values)
    assert normalize(run(bytewise(captured), ["GET"], eof=False)) == normalize(events)


@pytest.mark.real_engine
def test_real_dockerd_error_body(real_engine_socket: Path) -> None:
    captured, _ = _exchange(real_engine_socket, [("GET", "/no-such-endpoint")])
    response = parse_response(captured)
    assert response.status == 404
    assert "message" in response.json()

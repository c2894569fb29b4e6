"""The differential test on the wire: hand-written request bytes to the lab engine and to dockerd.

``test_differential.py`` compares the Engine API; this compares the HTTP layer under it,
where dockerd is Go's net/http: which line endings it accepts (a bare LF), which faults it
refuses, and the exact bytes of its refusals (``400 Bad Request: missing required Host
header``, plain text, no length, then the close). Each case is sent on a new connection to
both engines and ends with a well-formed request that asks to close, so that a served
case also proves the connection went on. Differences on purpose are listed, with their
reasons, in docs/differential.md ("The HTTP layer").
"""

from __future__ import annotations

import contextlib
import re
import socket
from dataclasses import dataclass
from pathlib import Path

import pytest

CLOSE = b"GET /_ping HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n"


@dataclass(frozen=True)
class Case:
    name: str
    data: bytes
    exact: bool  # a refusal: the bytes must be the same; else: the same statuses and /_ping bodies


CASES = [
    # What Go accepts, the lab engine serves too.
    Case("bare-lf", b"GET /_ping HTTP/1.1\nHost: docker\n\n", False),
    Case("bare-lf-request-line-only", b"GET /_ping HTTP/1.1\nHost: docker\r\n\r\n", False),
    Case("bare-lf-headers-only", b"GET /_ping HTTP/1.1\r\nHost: docker\n\n", False),
    Case("bare-lf-pipelined", b"GET /_ping HTTP/1.1\nHost: d\n\n" * 2, False),
    Case("folded-header", b"GET /_ping HTTP/1.1\r\nHost: d\r\nX-A: a\r\n b\r\n\r\n", False),
    Case("lowercase-method", b"get /_ping HTTP/1.1\r\nHost: d\r\n\r\n", False),
    Case("http-1.2", b"GET /_ping HTTP/1.2\r\nHost: d\r\n\r\n", False),
    Case("absolute-target", b"GET http://docker/_ping HTTP/1.1\r\nHost: d\r\n\r\n", False),
    Case("http-1.0-without-host", b"GET /_ping HTTP/1.0\r\n\r\n", False),
    Case("utf8-header-value", "GET /_ping HTTP/1.1\r\nHost: d\r\nX: café\r\n\r\n".encode(), False),
    Case("tab-in-value", b"GET /_ping HTTP/1.1\r\nHost: d\r\nX-A: a\tb\r\n\r\n", False),
    Case(
        "chunked-and-content-length",
        b"POST /_ping HTTP/1.1\r\nHost: d\r\nContent-Length: 9\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n",
        False,
    ),
    Case(
        "head-just-over-a-mebibyte",
        b"GET /_ping HTTP/1.1\r\nHost: d\r\nX-Big: " + b"a" * (1 << 20) + b"\r\n\r\n",
        False,
    ),
    # What Go refuses, the lab engine refuses with the same bytes.
    Case("no-host", b"GET /_ping HTTP/1.1\r\n\r\n", True),
    Case("no-host-bare-lf", b"GET /_ping HTTP/1.1\n\n", True),
    Case("malformed-host", b"GET /_ping HTTP/1.1\r\nHost: a b\r\n\r\n", True),
    Case("two-hosts", b"GET /_ping HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", True),
    Case("header-without-colon", b"GET /_ping HTTP/1.1\r\nHost docker\r\n\r\n", True),
    Case("invalid-header-name", b"GET /_ping HTTP/1.1\r\nHost: d\r\nX A: b\r\n\r\n", True),
    Case("space-before-colon", b"GET /_ping HTTP/1.1\r\nHost: d\r\nX-A : b\r\n\r\n", True),
    Case("control-byte-in-value", b"GET /_ping HTTP/1.1\r\nHost: d\r\nX-A: a\x01b\r\n\r\n", True),
    Case("cr-in-value", b"GET /_ping HTTP/1.1\r\nHost: d\r\nX-A: a\rb\r\n\r\n", True),
    Case("http-9.9", b"GET /_ping HTTP/9.9\r\nHost: d\r\n\r\n", True),
    Case("http-2.0", b"GET /_ping HTTP/2.0\r\nHost: d\r\n\r\n", True),
    Case("no-version", b"GET /_ping\r\nHost: d\r\n\r\n", True),
    Case("lowercase-version", b"GET /_ping http/1.1\r\nHost: d\r\n\r\n", True),
    Case("space-in-target", b"GET /_ping x HTTP/1.1\r\nHost: d\r\n\r\n", True),
    Case("not-http", b"hello\r\n\r\n", True),
    Case(
        "bad-content-length", b"POST /_ping HTTP/1.1\r\nHost: d\r\nContent-Length: x\r\n\r\n", True
    ),
    Case(
        "two-content-lengths",
        b"POST /_ping HTTP/1.1\r\nHost: d\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        True,
    ),
    Case(
        "transfer-encoding-gzip",
        b"POST /_ping HTTP/1.1\r\nHost: d\r\nTransfer-Encoding: gzip\r\n\r\n",
        True,
    ),
    Case(
        "transfer-encoding-identity",
        b"POST /_ping HTTP/1.1\r\nHost: d\r\nTransfer-Encoding: identity\r\n\r\n",
        True,
    ),
]


def exchange(path: Path, data: bytes, timeout: float = 10.0) -> bytes:
    """Send ``data`` then a closing request; everything the engine sends until it hangs up."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(str(path))
        # Refused before it all went? What came back is still the answer.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(data + CLOSE)
        received = b""
        while True:
            try:
                piece = sock.recv(65536)
            except ConnectionResetError:
                break
            if not piece:
                break
            received += piece
    return received


_STATUS = re.compile(rb"HTTP/1\.[01] (\d{3})")


def replies(data: bytes) -> list[tuple[int, bytes]]:
    """(status, body) of each reply in a stream of them (Content-Length bodies, or to the end)."""
    out = []
    while data:
        head, sep, rest = data.partition(b"\r\n\r\n")
        match = _STATUS.match(head)
        assert sep and match, f"not an HTTP reply: {data[:200]!r}"
        length = re.search(rb"(?im)^content-length: *(\d+)\r?$", head)
        size = int(length.group(1)) if length else len(rest)
        out.append((int(match.group(1)), rest[:size]))
        data = rest[size:]
    return out


@pytest.fixture(scope="module")
def engines(request: pytest.FixtureRequest, real_engine_socket: Path) -> tuple[Path, Path]:
    lab = request.getfixturevalue("lab_engine_session")
    return Path(lab.socket), real_engine_socket


@pytest.mark.lab_engine
@pytest.mark.real_engine
@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_the_wire_matches_dockerd(case: Case, engines: tuple[Path, Path]) -> None:
    lab_socket, real_socket = engines
    lab, real = exchange(lab_socket, case.data), exchange(real_socket, case.data)
    if case.exact:
        assert re.match(rb"HTTP/1\.1 [45]0\d ", real), f"dockerd did not refuse it: {real[:300]!r}"
        assert lab == real
        return
    real_replies = replies(real)
    assert real_replies[-1] == (200, b"OK"), f"dockerd did not go on to the last request: {real!r}"
    lab_replies = replies(lab)
    assert [status for status, _ in lab_replies] == [status for status, _ in real_replies]
    pings = [(s, b) for s, b in lab_replies if b == b"OK"]
    assert pings == [(s, b) for s, b in real_replies if b == b"OK"]


def test_every_case_has_a_unique_name() -> None:
    names = [case.name for case in CASES]
    assert len(set(names)) == len(names)
    assert any(case.name == "bare-lf" for case in CASES)

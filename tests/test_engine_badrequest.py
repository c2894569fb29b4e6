"""``check_request()``: what a server makes of request bytes, for a learner writing them by hand."""

from __future__ import annotations

import pytest

from labkit.engine.badrequest import check_request, valid_host, valid_value


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n", "well formed"),
        (b"GET /_ping HTTP/1.1\r\nHost: docker\r\n", "the head never ends"),
        (b"GET /_ping HTTP/1.1\r\nHost: docker", "the head never ends"),
        (b"GET /_ping HTTP/1.1\nHost: docker\n\n", "bare \\n"),
        (b"GET /_ping HTTP/1.1\r\n\r\n", "missing required Host header"),
        (b"GET /_ping HTTP/1.0\r\n\r\n", "well formed"),
        (b"GET /_ping HTTP/1.1\r\nHost docker\r\n\r\n", "no colon"),
        (b"GET /_ping HTTP/9.9\r\nHost: d\r\n\r\n", "505"),
        (b"", "no request"),
    ],
)
def test_check_request_says_what_a_server_will_do(data: bytes, words: str) -> None:
    assert words in check_request(data)


def test_a_missing_host_is_named_before_a_bad_header_as_go_does() -> None:
    assert "Host" in check_request(b"GET / HTTP/1.1\r\nX A: b\r\n\r\n")
    # ... but a line with no colon stops Go's reader before it looks for Host
    assert "no colon" in check_request(b"GET / HTTP/1.1\r\nX\r\n\r\n")


def test_gos_host_and_value_rules() -> None:
    assert valid_host(b"api.moby.localhost:2375") and valid_host(b"[::1]:80") and valid_host(b"")
    assert not valid_host(b"a b") and not valid_host("café".encode())
    assert valid_value(b"a\tb") and valid_value("café".encode())
    assert not valid_value(b"a\x01b") and not valid_value(b"a\rb") and not valid_value(b"\x7f")

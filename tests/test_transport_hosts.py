"""Engine addresses are read the way the docker CLI reads DOCKER_HOST."""

from __future__ import annotations

from pathlib import Path

import pytest

from labkit.transport.hosts import Endpoint, HostError, TLSConfig, parse_host
from labkit.transport.versions import IncompatibleEngine, negotiate, parse_api_version


def test_unix_url_gives_the_socket_path() -> None:
    ep = parse_host("unix:///var/run/docker.sock", "DOCKER_HOST")
    assert (ep.scheme, ep.path, ep.url, ep.source) == (
        "unix",
        "/var/run/docker.sock",
        "unix:///var/run/docker.sock",
        "DOCKER_HOST",
    )
    assert ep.tls is None


def test_unix_without_path_means_the_default_socket() -> None:
    assert parse_host("unix://").path == "/var/run/docker.sock"


def test_unix_path_too_long_for_a_socket_is_refused() -> None:
    with pytest.raises(HostError, match="limited to 107"):
        parse_host("unix:///" + "x" * 200)


def test_tcp_with_host_and_port() -> None:
    ep = parse_host("tcp://10.0.0.5:4243")
    assert (ep.scheme, ep.host, ep.port, ep.url) == ("tcp", "10.0.0.5", 4243, "tcp://10.0.0.5:4243")


@pytest.mark.parametrize(
    ("url", "tls", "port"),
    [
        ("tcp://example.org", None, 2375),
        ("tcp://example.org", TLSConfig(), 2376),
        ("tcp://example.org:9999", TLSConfig(), 9999),
    ],
)
def test_tcp_default_port_depends_on_tls(url: str, tls: TLSConfig | None, port: int) -> None:
    ep = parse_host(url, tls=tls)
    assert ep.port == port
    assert ep.tls == tls


def test_tcp_without_host_means_localhost() -> None:
    assert (parse_host("tcp://").host, parse_host("tcp://:2375").host) == ("localhost", "localhost")


def test_host_without_scheme_is_tcp_like_the_cli() -> None:
    ep = parse_host("127.0.0.1:2375")
    assert (ep.scheme, ep.host, ep.port) == ("tcp", "127.0.0.1", 2375)


def test_ipv6_tcp_address() -> None:
    ep = parse_host("tcp://[::1]:2376")
    assert (ep.host, ep.port, ep.url) == ("::1", 2376, "tcp://[::1]:2376")


def test_tls_files_travel_with_the_endpoint(tmp_path: Path) -> None:
    tls = TLSConfig(ca=tmp_path / "ca.pem", cert=tmp_path / "cert.pem", key=tmp_path / "key.pem")
    ep = parse_host("tcp://docker.example:2376", "DOCKER_HOST", tls=tls)
    assert ep.tls is tls
    assert ep.tls.verify


def test_ssh_is_recognised_with_user_host_and_port() -> None:
    ep = parse_host("ssh://me@build-box:2222", "docker context 'remote'")
    assert (ep.scheme, ep.user, ep.host, ep.port) == ("ssh", "me", "build-box", 2222)
    assert parse_host("ssh://box").port == 22


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("http://localhost:2375", "tcp://, not http://"),
        ("https://localhost:2376", "DOCKER_TLS_VERIFY"),
        ("fd://", "daemon's own"),
        ("gopher://x", "unknown scheme 'gopher'"),
        ("/var/run/docker.sock", "write unix:///var/run/docker.sock"),
        ("tcp://host:99999", "port"),
        ("tcp://host:abc", "port"),
        ("tcp://host:0", "port 0"),
        ("tcp://host:2375/some/path", "only HOST:PORT"),
        ("tcp://me@host:2375", "ssh://"),
        ("tcp://tcp://host", "one scheme"),
        ("ssh://", "needs a host"),
    ],
)
def test_bad_addresses_say_what_is_wrong(url: str, words: str) -> None:
    with pytest.raises(HostError) as info:
        parse_host(url, "DOCKER_HOST")
    assert words in str(info.value)
    if url.strip():
        assert "DOCKER_HOST" in str(info.value)


def test_broken_endpoint_carries_its_problem() -> None:
    ep = Endpoint.broken("docker context 'x'", "DOCKER_CONTEXT", "no such context")
    assert (ep.scheme, ep.problem) == ("invalid", "no such context")
    assert ep.describe() == "docker context 'x' (DOCKER_CONTEXT)"


# API version negotiation


@pytest.mark.parametrize(
    ("server", "ours", "expected"),
    [("1.41", "1.51", "1.41"), ("1.52", "1.51", "1.51"), ("1.51", "1.51", "1.51")],
)
def test_negotiate_picks_the_lower_newest(server: str, ours: str, expected: str) -> None:
    assert negotiate(server, ours) == expected


def test_versions_compare_as_numbers_not_decimals() -> None:
    assert parse_api_version("1.9") < parse_api_version("1.10")
    assert negotiate("1.10", "1.9", client_min="1.5") == "1.9"
    assert negotiate("1.9", "1.10", client_min="1.5") == "1.9"


def test_negotiate_says_when_the_engine_is_too_old() -> None:
    with pytest.raises(IncompatibleEngine, match=r"engine is too old.*1\.20.*1\.24"):
        negotiate("1.20", "1.51", client_min="1.24")


def test_negotiate_says_when_labkit_is_too_old() -> None:
    with pytest.raises(IncompatibleEngine, match=r"labkit is too old.*1\.60.*1\.51"):
        negotiate("1.70", "1.51", server_min="1.60")


def test_negotiate_uses_labkits_own_limits_by_default() -> None:
    import labkit

    assert negotiate("9.99") == labkit.API_VERSION_MAX
    with pytest.raises(IncompatibleEngine):
        negotiate("1.0")


def test_a_bad_version_string_is_explained() -> None:
    with pytest.raises(ValueError, match=r"major\.minor"):
        parse_api_version("v1.41")

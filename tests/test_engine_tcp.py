"""The lab engine on TCP: loopback only without TLS, client certificates with it.

Every connection these tests open goes to 127.0.0.1. A listener on 0.0.0.0 is started only
with TLS client verification, and reached at 127.0.0.1.
"""

from __future__ import annotations

import argparse
import os
import pwd
import shutil
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from engine_fixtures import FIXED_CLOCK, FIXED_SEED, short_tempdir
from image_fixtures import pull_busybox

from labkit.engine import control, tcp
from labkit.transport import tlscerts

DOCKER = shutil.which("docker")
# A Python another user can run (the test's own may sit in a folder only its owner can read)
SYSTEM_PYTHON = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else None
needs_docker = pytest.mark.skipif(DOCKER is None, reason="no docker CLI on this machine")


# ---------------------------------------------------------------- addresses and rules
@pytest.mark.parametrize(
    ("text", "host", "port"),
    [
        ("127.0.0.1:2375", "127.0.0.1", 2375),
        ("tcp://127.0.0.1:0", "127.0.0.1", 0),
        ("[::1]:2376", "::1", 2376),
        ("localhost:2375", "localhost", 2375),
        ("0.0.0.0:2376", "0.0.0.0", 2376),
    ],
)
def test_an_address_is_host_and_port(text: str, host: str, port: int) -> None:
    assert tcp.parse_address(text) == (host, port)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("2375", "HOST:PORT"),
        (":2375", "every network interface"),
        ("engine.example.org:2375", "not an IP address"),
        ("127.0.0.1:70000", "0 to 65535"),
    ],
)
def test_a_bad_address_says_what_to_write(text: str, words: str) -> None:
    with pytest.raises(tcp.TCPRefused, match=words):
        tcp.parse_address(text)


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.7", "::", "2001:db8::1"])
def test_tcp_beyond_loopback_without_tls_is_refused(host: str) -> None:
    with pytest.raises(tcp.TCPRefused, match="without TLS") as refused:
        tcp.check(tcp.TCPListen(host, 2375))
    assert "--tlsverify" in str(refused.value)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "::1", "localhost"])
def test_loopback_without_tls_is_allowed(host: str) -> None:
    tcp.check(tcp.TCPListen(host, 0))


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    tcp.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_tls_files_without_tlsverify_are_refused_as_half_a_defence() -> None:
    with pytest.raises(tcp.TCPRefused, match="still lets anyone in"):
        tcp.from_args(_args("--tcp", "127.0.0.1:0", "--tlscert", "/x.pem"))
    with pytest.raises(tcp.TCPRefused, match="go with --tcp"):
        tcp.from_args(_args("--tlsverify"))


def test_tlsverify_without_certificates_says_to_make_them(tmp_path: Path) -> None:
    with pytest.raises(tcp.TCPRefused, match="labkit certs"):
        tcp.from_args(_args("--tcp", "0.0.0.0:0", "--tlsverify"), {"LABKIT_HOME": str(tmp_path)})


def test_a_client_on_this_machine_reaches_a_wildcard_listener_on_loopback() -> None:
    assert tcp.client_url("0.0.0.0", 2376) == "tcp://127.0.0.1:2376"
    assert tcp.client_url("::", 2376) == "tcp://[::1]:2376"
    assert tcp.client_url("127.0.0.1", 2375) == "tcp://127.0.0.1:2375"


@pytest.mark.parametrize(
    ("host", "origin", "refused"),
    [
        ("127.0.0.1:2375", None, False),
        ("localhost:2375", None, False),
        ("[::1]:2375", None, False),
        ("api.moby.localhost", None, False),
        ("127.0.0.1:2375", "http://evil.example", True),  # a page's fetch()
        ("evil.example:2375", None, True),  # a page after DNS rebinding
    ],
)
def test_requests_from_a_web_page_are_refused(host: str, origin: str | None, refused: bool) -> None:
    assert (tcp.browser_problem(host, origin) is not None) is refused


@pytest.mark.skipif(not os.path.exists("/proc/net/tcp"), reason="needs Linux's /proc/net/tcp")
def test_the_owner_of_a_loopback_connection_is_found() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        client = socket.create_connection(server.getsockname())
        conn, peer = server.accept()
        with client, conn:
            assert tcp.peer_uid(peer, conn.getsockname()) == os.geteuid()
            assert tcp.stranger(peer, conn.getsockname()) is None


# ---------------------------------------------------------------- the engine on TCP
@dataclass
class TCPEngine:
    home: Path
    env: dict[str, str]  # the LABKIT_* settings of this engine
    url: str  # tcp://127.0.0.1:PORT
    port: int

    def log(self) -> str:
        return control.log_tail(control.engine_home(self.env), lines=200)

    def logged(self, text: str, timeout: float = 20.0) -> bool:
        """Has the engine's log said ``text`` (waiting for it a while: it writes after it acts)?"""
        deadline = time.monotonic() + timeout
        while text not in self.log():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def docker_env(self, **more: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
        config = self.home / "docker-config"
        config.mkdir(exist_ok=True)
        return {**env, "DOCKER_HOST": self.url, "DOCKER_CONFIG": str(config), **more}


def _start(listen: tcp.TCPListen, home: Path | None = None) -> TCPEngine:
    home = home or short_tempdir("lkt")
    env = {"LABKIT_HOME": str(home), "LABKIT_CLOCK": FIXED_CLOCK, "LABKIT_SEED": FIXED_SEED}
    started = control.start(env, listen=listen)
    assert started.tcp is not None
    _host, port = tcp.parse_address(started.tcp.url)
    return TCPEngine(home, env, started.tcp.url, port)


@pytest.fixture
def plain_engine() -> Iterator[TCPEngine]:
    engine = _start(tcp.TCPListen("127.0.0.1", 0))
    yield engine
    control.stop(engine.env)
    shutil.rmtree(engine.home, ignore_errors=True)


@pytest.fixture(scope="module")
def bundle() -> Iterator[tlscerts.Bundle]:
    folder = short_tempdir("lkc")
    yield tlscerts.write_bundle(folder / "certs")
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def tls_engine(bundle: tlscerts.Bundle) -> Iterator[TCPEngine]:
    files = tcp.TLSFiles(bundle.ca, bundle.server_cert, bundle.server_key)
    engine = _start(tcp.TCPListen("0.0.0.0", 0, files))  # allowed: client certificates only
    yield engine
    control.stop(engine.env)
    shutil.rmtree(engine.home, ignore_errors=True)


def _ping_plain(port: int, headers: str = "Host: 127.0.0.1\r\n") -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(f"GET /_ping HTTP/1.1\r\n{headers}Connection: close\r\n\r\n".encode())
        reply = b""
        while piece := sock.recv(65536):
            reply += piece
        return reply


def _labkit(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "labkit", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_labkit_engine_start_refuses_the_network_without_tls(tmp_path: Path) -> None:
    run = _labkit({"LABKIT_HOME": str(tmp_path)}, "engine", "start", "--tcp", "0.0.0.0:2375")
    assert run.returncode == 1
    assert "refusing to listen on 0.0.0.0:2375 without TLS" in run.stderr
    assert "Traceback" not in run.stderr
    assert not control.status({"LABKIT_HOME": str(tmp_path)}).running


def test_the_engine_process_itself_refuses_the_network_without_tls(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "labkit.engine", "serve", "--home", str(tmp_path),
         "--tcp", "192.0.2.7:2375"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert run.returncode == 2
    assert "without TLS" in run.stderr and "Traceback" not in run.stderr


@pytest.mark.lab_engine
def test_plain_tcp_on_loopback_answers_and_warns(plain_engine: TCPEngine) -> None:
    assert _ping_plain(plain_engine.port).startswith(b"HTTP/1.1 200 OK")
    log = plain_engine.log()
    assert "WITHOUT TLS" in log and "root on the machine" in log
    env = _labkit(plain_engine.env, "engine", "env")
    assert f"export DOCKER_HOST={plain_engine.url}" in env.stdout
    status = _labkit(plain_engine.env, "engine", "status")
    assert plain_engine.url in status.stdout and "no TLS" in status.stdout


@pytest.mark.lab_engine
def test_plain_tcp_refuses_a_web_page(plain_engine: TCPEngine) -> None:
    reply = _ping_plain(plain_engine.port, "Host: 127.0.0.1\r\nOrigin: http://evil.example\r\n")
    assert reply.startswith(b"HTTP/1.1 403 Forbidden")
    reply = _ping_plain(plain_engine.port, "Host: evil.example\r\n")
    assert reply.startswith(b"HTTP/1.1 403 Forbidden")


def _as_nobody() -> None:
    os.setgid(pwd.getpwnam("nobody").pw_gid)
    os.setuid(pwd.getpwnam("nobody").pw_uid)


@pytest.mark.lab_engine
@pytest.mark.skipif(
    os.geteuid() != 0 or not os.path.exists("/proc/net/tcp") or not SYSTEM_PYTHON,
    reason="needs root (to connect as another user), Linux's /proc/net/tcp and /usr/bin/python3",
)
def test_plain_tcp_refuses_another_user(plain_engine: TCPEngine) -> None:
    code = (
        "import socket, sys\n"
        f"s = socket.create_connection(('127.0.0.1', {plain_engine.port}), timeout=10)\n"
        "s.sendall(b'GET /_ping HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\n\\r\\n')\n"
        "sys.stdout.write(repr(s.recv(100)))\n"
    )
    other = subprocess.run(
        [SYSTEM_PYTHON, "-c", code],
        preexec_fn=_as_nobody,
        capture_output=True,
        text=True,
        timeout=60,
        cwd="/",
    )
    assert other.stdout in ("b''", "") or "ConnectionResetError" in other.stderr, other
    assert plain_engine.logged("not to the engine's owner")


@pytest.mark.lab_engine
@needs_docker
def test_the_docker_cli_over_plain_loopback_tcp(plain_engine: TCPEngine) -> None:
    run = subprocess.run(
        [DOCKER, "version", "--format", "{{.Server.Version}}"],
        env=plain_engine.docker_env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "0.1.0"


@pytest.mark.lab_engine
def test_an_engine_running_without_tcp_says_to_stop_it_first(plain_engine: TCPEngine) -> None:
    with pytest.raises(control.EngineError, match="stop it first"):
        control.start(plain_engine.env, listen=tcp.TCPListen("127.0.0.2", 0))
    started = control.start(plain_engine.env)  # asked for nothing in particular: fine
    assert started.already_running and started.tcp is not None


# ---------------------------------------------------------------- TLS
def _client_context(bundle: tlscerts.Bundle, with_cert: bool = True) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(bundle.ca))
    if with_cert:
        context.load_cert_chain(str(bundle.client_cert), str(bundle.client_key))
    return context


def _tls_ping(port: int, context: ssl.SSLContext) -> bytes:
    request = b"GET /_ping HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as sock,
    ):
        sock.sendall(request)
        reply = b""
        while piece := sock.recv(65536):
            reply += piece
        return reply


@pytest.mark.lab_engine
def test_tls_admits_the_holder_of_a_client_certificate(
    tls_engine: TCPEngine, bundle: tlscerts.Bundle
) -> None:
    assert _tls_ping(tls_engine.port, _client_context(bundle)).startswith(b"HTTP/1.1 200 OK")


@pytest.mark.lab_engine
def test_a_tls_handshake_without_a_client_certificate_is_refused(
    tls_engine: TCPEngine, bundle: tlscerts.Bundle
) -> None:
    with pytest.raises((ssl.SSLError, ConnectionError)):
        _tls_ping(tls_engine.port, _client_context(bundle, with_cert=False))
    assert tls_engine.logged("showed no client certificate")


@pytest.mark.lab_engine
def test_a_client_certificate_from_another_ca_is_refused(
    tls_engine: TCPEngine, bundle: tlscerts.Bundle, tmp_path: Path
) -> None:
    stranger = tlscerts.write_bundle(tmp_path / "other")
    context = ssl.create_default_context(cafile=str(bundle.ca))
    context.load_cert_chain(str(stranger.client_cert), str(stranger.client_key))
    with pytest.raises((ssl.SSLError, ConnectionError)):
        _tls_ping(tls_engine.port, context)
    assert tls_engine.logged("not signed by the engine's CA")


@pytest.mark.lab_engine
def test_plain_http_to_the_tls_port_gets_nothing(tls_engine: TCPEngine) -> None:
    assert _ping_plain(tls_engine.port) == b""
    assert tls_engine.logged("plain HTTP")


@pytest.mark.lab_engine
def test_labkit_engine_env_prints_what_a_tls_client_needs(
    tls_engine: TCPEngine, bundle: tlscerts.Bundle
) -> None:
    env = _labkit(tls_engine.env, "engine", "env").stdout.splitlines()
    assert f"export DOCKER_HOST={tls_engine.url}" in env
    assert "export DOCKER_TLS_VERIFY=1" in env
    assert f"export DOCKER_CERT_PATH={bundle.folder}" in env
    assert tls_engine.url.startswith("tcp://127.0.0.1:")  # the 0.0.0.0 listener, reached here


@pytest.mark.lab_engine
@needs_docker
def test_the_docker_cli_with_tlsverify_flags(
    tls_engine: TCPEngine, bundle: tlscerts.Bundle
) -> None:
    flags = ["--tlsverify", "--tlscacert", str(bundle.ca), "--tlscert", str(bundle.client_cert),
             "--tlskey", str(bundle.client_key)]  # fmt: skip
    run = subprocess.run(
        [DOCKER, *flags, "ps", "-a"],
        env=tls_engine.docker_env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("CONTAINER ID")
    refused = subprocess.run(
        [DOCKER, "ps"], env=tls_engine.docker_env(), capture_output=True, text=True, timeout=60
    )
    assert refused.returncode != 0


@pytest.mark.lab_engine
@needs_docker
def test_the_docker_cli_with_tls_variables_runs_an_interactive_container(
    tls_engine: TCPEngine, bundle: tlscerts.Bundle
) -> None:
    env = tls_engine.docker_env(DOCKER_TLS_VERIFY="1", DOCKER_CERT_PATH=str(bundle.folder))
    pull_busybox(control.socket_in(control.engine_home(tls_engine.env)))
    # stdin ends (the CLI sends TLS's close_notify) before the container has written: what
    # comes after must still arrive, as it does from dockerd
    run = subprocess.run(
        [DOCKER, "run", "--rm", "-i", "busybox", "sh", "-c", "cat; echo after the end >&2"],
        env=env, input="through TLS\n", capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert run.stdout == "through TLS\n"
    assert run.stderr == "after the end\n"


@pytest.mark.lab_engine
def test_the_docker_sdk_over_tls(tls_engine: TCPEngine, bundle: tlscerts.Bundle) -> None:
    import docker

    pull_busybox(control.socket_in(control.engine_home(tls_engine.env)))
    config = docker.tls.TLSConfig(
        client_cert=(str(bundle.client_cert), str(bundle.client_key)),
        ca_cert=str(bundle.ca),
        verify=True,
    )
    client = docker.DockerClient(base_url=tls_engine.url, tls=config, version="1.41")
    client.api.trust_env = False  # a REQUESTS_CA_BUNDLE in the environment would replace our CA
    try:
        assert client.containers.run("busybox", ["echo", "sdk over TLS"], remove=True) == (
            b"sdk over TLS\n"
        )
    finally:
        client.close()
    stranger = docker.DockerClient(
        base_url=tls_engine.url,
        tls=docker.tls.TLSConfig(ca_cert=str(bundle.ca), verify=True),
        version="1.41",
    )
    stranger.api.trust_env = False
    with pytest.raises(Exception, match=r"(?i)ssl|tls|certificate|connection"):
        stranger.ping()
    stranger.close()

"""``labkit sniff --tcp``: a TCP listener in front of an engine admits only its owner.

Every user of a machine can connect to 127.0.0.1, so a plain TCP proxy in front of an engine
is lesson 06's exposed daemon for all of them. The listener therefore speaks TLS and requires
a client certificate signed by the session's own CA, whose client key only its owner can
read. Tried here: with the certificate (works, and is recorded), without one, with one from
another CA, and in plain text (all refused, nothing reaches the engine); the real docker CLI
over ``DOCKER_TLS_VERIFY``; the CLI's refusals and messages.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import socket
import ssl
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_proxy_recorder import PING, PONG, FakeEngine

from labkit.proxy.recorder import Recorder, RecorderError
from labkit.proxy.tls_front import TLSFront, TLSFrontError
from labkit.transport import tlscerts
from labkit.transport.connect import tls_context
from labkit.transport.hosts import TLSConfig

DOCKER = shutil.which("docker")


@pytest.fixture
def folder() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="lkt", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def client_for(bundle: tlscerts.Bundle, with_cert: bool = True) -> ssl.SSLContext:
    if with_cert:
        return tls_context(TLSConfig(bundle.ca, bundle.client_cert, bundle.client_key))
    return tls_context(TLSConfig(bundle.ca))


def tls_exchange(port: int, context: ssl.SSLContext, data: bytes) -> bytes:
    with (
        socket.create_connection(("127.0.0.1", port), timeout=30) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as sock,
    ):
        sock.sendall(data)
        received = b""
        while not received.endswith(b"OK"):
            piece = sock.recv(4096)
            if not piece:
                break
            received += piece
        return received


def test_only_clients_with_the_sessions_certificate_get_in(folder: Path) -> None:
    engine = FakeEngine(folder, [PONG])
    bundle = tlscerts.write_bundle(folder / "tls")
    stranger = tlscerts.write_bundle(folder / "other")  # another CA, a valid-looking client
    server = tlscerts.server_context(bundle.ca, bundle.server_cert, bundle.server_key)
    try:
        with Recorder(engine.url, tcp_port=0, tls=server) as rec:
            port = rec.tcp_address[1]
            refused = [
                client_for(bundle, with_cert=False),
                tls_context(TLSConfig(bundle.ca, stranger.client_cert, stranger.client_key)),
            ]
            for context in refused:  # TLS 1.3 may finish the client's side first: no reply
                with contextlib.suppress(ssl.SSLError, ConnectionError):
                    assert tls_exchange(port, context, PING) == b""
            with socket.create_connection(("127.0.0.1", port), timeout=10) as plain:
                plain.sendall(PING)
                reply = b""
                try:
                    while piece := plain.recv(4096):
                        reply += piece
                except OSError:
                    pass
                assert b"HTTP/1.1" not in reply  # a TLS alert at most, never the engine
            assert engine.received == []  # nothing got through to the engine
            assert tls_exchange(port, client_for(bundle), PING) == PONG
            assert rec.wait_idle(10)
            assert [e.summary() for e in rec.transcript] == ["#1 GET /_ping → 200 OK"]
    finally:
        engine.close()


def test_no_tcp_listener_without_client_verification(folder: Path) -> None:
    engine = FakeEngine(folder, [PONG])
    try:
        with pytest.raises(RecorderError, match="without TLS client verification"):
            Recorder(engine.url, tcp_port=0).start()
        bundle = tlscerts.write_bundle(folder / "tls")
        lax = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        lax.load_cert_chain(bundle.server_cert, bundle.server_key)
        with pytest.raises(TLSFrontError, match="without TLS client verification"):
            TLSFront(0, lax, engine.path)
        with pytest.raises(RecorderError, match="without TLS client verification"):
            Recorder(engine.url, tcp_port=0, tls=lax).start()
    finally:
        engine.close()


def test_the_bundle_is_private_and_named_as_docker_expects(folder: Path) -> None:
    bundle = tlscerts.write_bundle(folder / "tls")
    assert stat.S_IMODE(bundle.folder.stat().st_mode) == 0o700
    names = sorted(p.name for p in bundle.folder.iterdir())
    assert names == ["ca.pem", "cert.pem", "key.pem", "server-cert.pem", "server-key.pem"]
    for path in bundle.folder.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


# ----------------------------------------------------------------- the command
def start_sniff(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "labkit", "sniff", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip


def read_banner(process: subprocess.Popen[str], timeout: float = 30) -> dict[str, str]:
    """The TCP line's settings from the banner: DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH."""
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            raise AssertionError(f"labkit sniff ended early: {process.communicate()}")
        if "DOCKER_TLS_VERIFY" in line:
            return dict(re.findall(r"(DOCKER_\w+)=(\S+)", line))
    raise AssertionError("no TCP line in labkit sniff's banner")


def test_sniff_tcp_prints_a_tls_setting_and_cleans_up(folder: Path) -> None:
    engine = FakeEngine(folder, [PONG])
    try:
        sniff = start_sniff("--engine", engine.url, "--tcp", "0", "--count", "1")
        settings = read_banner(sniff)
        port = int(settings["DOCKER_HOST"].rsplit(":", 1)[1])
        assert settings["DOCKER_HOST"].startswith("tcp://127.0.0.1:")
        certs = Path(settings["DOCKER_CERT_PATH"])
        assert stat.S_IMODE(certs.stat().st_mode) == 0o700
        assert stat.S_IMODE((certs / "key.pem").stat().st_mode) == 0o600
        context = tls_context(TLSConfig(certs / "ca.pem", certs / "cert.pem", certs / "key.pem"))
        try:
            reply = tls_exchange(port, context, PING)
        except OSError as exc:
            sniff.terminate()
            raise AssertionError(f"no reply ({exc!r}); sniff said {sniff.communicate()}") from exc
        assert reply == PONG
        out, err = sniff.communicate(timeout=30)
    finally:
        engine.close()
    assert sniff.returncode == 0, err
    assert "GET /_ping" in out
    assert not certs.exists()  # the session's keys go with the session


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--tcp", "0", "--tlscert", "x.pem"], "give all of --tlscacert, --tlscert and --tlskey"),
        (["--tlscacert", "ca.pem"], "go with --tcp"),
    ],
)
def test_sniff_tls_options_are_checked(folder: Path, args: list[str], words: str) -> None:
    engine = FakeEngine(folder, [PONG])
    try:
        out = subprocess.run(
            [sys.executable, "-m", "labkit", "sniff", "--engine", engine.url, *args],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    finally:
        engine.close()
    assert out.returncode == 1 and words in out.stderr and "Traceback" not in out.stderr


@pytest.mark.skipif(DOCKER is None, reason="the docker CLI is not installed")
def test_the_docker_cli_goes_through_with_the_certificates(lab_engine) -> None:
    sniff = start_sniff("--engine", lab_engine.url, "--tcp", "0", "--summary", "--timeout", "60")
    try:
        settings = read_banner(sniff)
        env = {**lab_engine.env, **settings}
        out = subprocess.run(
            [DOCKER, "version", "--format", "{{.Server.Os}}"],
            env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == "linux"
        env.pop("DOCKER_CERT_PATH")  # the CLI's own (empty) ~/.docker: no client certificate
        env["DOCKER_CONFIG"] = str(Path(lab_engine.home) / "no-certs")
        refused = subprocess.run(
            [DOCKER, "version", "--format", "{{.Server.Os}}"],
            env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert refused.returncode != 0
    finally:
        sniff.terminate()
        sniff.communicate(timeout=30)

"""Finding the engine: candidate order, and a plain-words reason for each kind of failure.

Every test points discovery at its own fake home and its own list of usual
sockets, so nothing here depends on the host's /var/run/docker.sock.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import json
import os
import pwd
import shutil
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, ClassVar

import pytest

import labkit
from labkit.transport import discovery
from labkit.transport.contexts import context_hash
from labkit.transport.discovery import (
    Attempt,
    EngineNotFound,
    candidates,
    find_engine,
    identify_product,
    probe,
)
from labkit.transport.hosts import Endpoint, parse_host

# Helpers: fake docker settings, sockets and tiny servers


def write_config(docker_dir: Path, **settings: Any) -> None:
    docker_dir.mkdir(parents=True, exist_ok=True)
    (docker_dir / "config.json").write_text(json.dumps(settings))


def write_context(
    docker_dir: Path, name: str, host: str, *, skip_verify: bool = False, tls_files: tuple = ()
) -> Path:
    """A context the way `docker context create` stores it."""
    digest = context_hash(name)
    meta = docker_dir / "contexts" / "meta" / digest
    meta.mkdir(parents=True)
    (meta / "meta.json").write_text(
        json.dumps(
            {
                "Name": name,
                "Metadata": {},
                "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": skip_verify}},
            }
        )
    )
    tls = docker_dir / "contexts" / "tls" / digest / "docker"
    if tls_files:
        tls.mkdir(parents=True)
        for file in tls_files:
            (tls / file).write_text("not really a certificate\n")
    return tls


def unix_endpoint(path: Path | str, source: str = "a test socket") -> Endpoint:
    return parse_host(f"unix://{path}", source)


@contextlib.contextmanager
def tcp_server(reply: Callable[[socket.socket], None]) -> Iterator[int]:
    """A loopback TCP server that hands each connection to ``reply``; yields its port."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    stop = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            held.append(conn)
            with contextlib.suppress(OSError):
                reply(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()
        for conn in held:
            conn.close()


def ssh_banner(conn: socket.socket) -> None:
    conn.sendall(b"SSH-2.0-nope\r\n")


def say_nothing(conn: socket.socket) -> None:
    """Accept and never answer (the connection is closed when the server stops)."""


class FakeEngine(http.server.BaseHTTPRequestHandler):
    """Answers /_ping and /version like an engine; the class attribute sets /version."""

    protocol_version = "HTTP/1.1"
    version_json: ClassVar[dict[str, Any]] = {}
    version_delay: ClassVar[float] = 0.0  # seconds before /version answers

    def do_GET(self) -> None:
        if self.path == "/_ping":
            body, kind = b"OK", "text/plain"
        elif self.path == "/version":
            time.sleep(self.version_delay)
            body, kind = json.dumps(self.version_json).encode(), "application/json"
        else:
            body, kind = b'{"message":"page not found"}', "application/json"
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # a client gave up
            self.send_response(200 if self.path in ("/_ping", "/version") else 404)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def fake_engine(
    version_json: dict[str, Any], tls: ssl.SSLContext | None = None, version_delay: float = 0.0
) -> Iterator[str]:
    handler = type(
        "Handler", (FakeEngine,), {"version_json": version_json, "version_delay": version_delay}
    )
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"tcp://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A folder every user may enter (pytest's tmp_path is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="labkit-perm-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def nobody_uid() -> int:
    try:
        return pwd.getpwnam("nobody").pw_uid
    except KeyError:
        return 65534


def run_as_nobody(fn: Callable[[], Any]) -> Any:
    """Run ``fn`` in a forked child that has dropped root; return its JSON result.

    Root may connect to any socket whatever its mode, so a real "permission
    denied" needs an ordinary user.
    """
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        os.close(read_fd)
        code = 0
        try:
            uid = nobody_uid()
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            result = fn()
        except BaseException as exc:
            result, code = {"child failed": repr(exc)}, 1
        try:
            with os.fdopen(write_fd, "w") as out:
                json.dump(result, out)
        finally:
            os._exit(code)
    os.close(write_fd)
    with os.fdopen(read_fd) as source:
        text = source.read()
    os.waitpid(pid, 0)
    return json.loads(text)


def listening_unix_socket(path: Path) -> socket.socket:
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(1)
    return server


# Candidate order


def test_no_settings_means_the_usual_sockets_in_order(tmp_path: Path) -> None:
    env = {"XDG_RUNTIME_DIR": "/run/user/1000"}
    found = candidates(env=env, home=tmp_path)
    assert [e.path for e in found] == [
        "/var/run/docker.sock",
        "/run/user/1000/docker.sock",
        f"{tmp_path}/.docker/run/docker.sock",
        f"{tmp_path}/.colima/default/docker.sock",
        "/run/user/1000/podman/podman.sock",
        "/run/podman/podman.sock",
    ]
    assert found[1].source == "the usual socket for rootless Docker"
    assert all(e.scheme == "unix" for e in found)


def test_runtime_dir_sockets_are_skipped_without_xdg_runtime_dir(tmp_path: Path) -> None:
    paths = [e.path for e in candidates(env={}, home=tmp_path)]
    assert "/var/run/docker.sock" in paths
    assert not any(p.endswith("podman/podman.sock") and "user" in p for p in paths)
    assert len(paths) == 4


def test_the_usual_list_can_be_replaced(tmp_path: Path) -> None:
    usual = [(str(tmp_path / "a.sock"), "first"), ("~/b.sock", "second"), ("~/b.sock", "again")]
    found = candidates(env={}, home=tmp_path, usual=usual)
    assert [(e.path, e.source) for e in found] == [
        (str(tmp_path / "a.sock"), "first"),
        (str(tmp_path / "b.sock"), "second"),
    ]


def test_docker_host_is_the_only_candidate(tmp_path: Path) -> None:
    write_config(tmp_path / ".docker", currentContext="colima")
    found = candidates(env={"DOCKER_HOST": "unix:///tmp/x.sock"}, home=tmp_path)
    assert [(e.url, e.source) for e in found] == [("unix:///tmp/x.sock", "DOCKER_HOST")]


def test_labkit_docker_host_wins_over_docker_host(tmp_path: Path) -> None:
    env = {"LABKIT_DOCKER_HOST": "unix:///tmp/lab.sock", "DOCKER_HOST": "tcp://1.2.3.4"}
    found = candidates(env=env, home=tmp_path)
    assert [(e.path, e.source) for e in found] == [("/tmp/lab.sock", "LABKIT_DOCKER_HOST")]


def test_docker_host_wins_over_docker_context(tmp_path: Path) -> None:
    write_context(tmp_path / ".docker", "remote", "tcp://10.0.0.1:2375")
    env = {"DOCKER_HOST": "tcp://127.0.0.1:2375", "DOCKER_CONTEXT": "remote"}
    assert [e.host for e in candidates(env=env, home=tmp_path)] == ["127.0.0.1"]


def test_docker_tls_verify_and_cert_path_give_tls(tmp_path: Path) -> None:
    certs = tmp_path / "certs"
    certs.mkdir()
    for name in ("ca.pem", "cert.pem", "key.pem"):
        (certs / name).write_text("x")
    env = {
        "DOCKER_HOST": "tcp://engine.example",
        "DOCKER_TLS_VERIFY": "1",
        "DOCKER_CERT_PATH": str(certs),
    }
    (ep,) = candidates(env=env, home=tmp_path)
    assert ep.port == 2376
    assert ep.tls is not None
    assert (ep.tls.ca, ep.tls.cert, ep.tls.key, ep.tls.verify) == (
        certs / "ca.pem",
        certs / "cert.pem",
        certs / "key.pem",
        True,
    )


def test_cert_path_defaults_to_the_docker_folder(tmp_path: Path) -> None:
    env = {"DOCKER_HOST": "tcp://engine.example", "DOCKER_TLS_VERIFY": "1"}
    (ep,) = candidates(env=env, home=tmp_path)
    assert ep.tls is not None
    assert ep.tls.ca == tmp_path / ".docker" / "ca.pem"
    assert ep.tls.cert is None  # no client certificate there: the CLI drops it too


def test_docker_tls_alone_encrypts_without_checking(tmp_path: Path) -> None:
    (ep,) = candidates(env={"DOCKER_HOST": "tcp://h", "DOCKER_TLS": "1"}, home=tmp_path)
    assert ep.tls is not None
    assert not ep.tls.verify
    (plain,) = candidates(env={"DOCKER_HOST": "tcp://h"}, home=tmp_path)
    assert (plain.tls, plain.port) == (None, 2375)


def test_current_context_from_config_json(tmp_path: Path) -> None:
    docker = tmp_path / ".docker"
    write_config(docker, currentContext="colima")
    write_context(docker, "colima", f"unix://{tmp_path}/.colima/default/docker.sock")
    (ep,) = candidates(env={}, home=tmp_path)
    assert ep.path == f"{tmp_path}/.colima/default/docker.sock"
    assert "docker context 'colima'" in ep.source
    assert "config.json" in ep.source


def test_docker_context_variable_wins_over_current_context(tmp_path: Path) -> None:
    docker = tmp_path / ".docker"
    write_config(docker, currentContext="colima")
    write_context(docker, "colima", "unix:///tmp/colima.sock")
    write_context(docker, "work", "tcp://10.1.2.3:2375")
    (ep,) = candidates(env={"DOCKER_CONTEXT": "work"}, home=tmp_path)
    assert (ep.host, ep.port) == ("10.1.2.3", 2375)
    assert "DOCKER_CONTEXT" in ep.source


def test_docker_config_moves_the_settings_folder(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    write_config(elsewhere, currentContext="desk")
    write_context(elsewhere, "desk", "unix:///tmp/desk.sock")
    (ep,) = candidates(env={"DOCKER_CONFIG": str(elsewhere)}, home=tmp_path)
    assert ep.path == "/tmp/desk.sock"


def test_default_context_means_the_usual_sockets(tmp_path: Path) -> None:
    write_config(tmp_path / ".docker", currentContext="default")
    usual = [("/tmp/one.sock", "one"), ("/tmp/two.sock", "two")]
    assert [e.path for e in candidates(env={}, home=tmp_path, usual=usual)] == [
        "/tmp/one.sock",
        "/tmp/two.sock",
    ]


def test_context_tls_files_and_skip_verify(tmp_path: Path) -> None:
    docker = tmp_path / ".docker"
    tls_dir = write_context(
        docker, "secure", "tcp://h.example:2376", tls_files=("ca.pem", "cert.pem", "key.pem")
    )
    write_context(docker, "insecure", "tcp://h.example:2376", skip_verify=True)
    write_context(docker, "plain", "tcp://h.example:2375")
    (secure,) = candidates(env={"DOCKER_CONTEXT": "secure"}, home=tmp_path)
    assert secure.tls is not None
    assert (secure.tls.ca, secure.tls.cert, secure.tls.key, secure.tls.verify) == (
        tls_dir / "ca.pem",
        tls_dir / "cert.pem",
        tls_dir / "key.pem",
        True,
    )
    (insecure,) = candidates(env={"DOCKER_CONTEXT": "insecure"}, home=tmp_path)
    assert insecure.tls is not None
    assert not insecure.tls.verify
    (plain,) = candidates(env={"DOCKER_CONTEXT": "plain"}, home=tmp_path)
    assert plain.tls is None


def test_a_missing_context_is_reported_not_skipped(tmp_path: Path) -> None:
    write_config(tmp_path / ".docker", currentContext="gone")
    (ep,) = candidates(env={}, home=tmp_path)
    assert ep.problem is not None
    assert "no context named 'gone'" in ep.problem
    attempt = probe(ep)
    assert (attempt.ok, attempt.kind) == (False, "error")
    assert "docker context ls" in attempt.reason


def test_a_bad_docker_host_is_reported_not_skipped(tmp_path: Path) -> None:
    (ep,) = candidates(env={"DOCKER_HOST": "http://localhost:2375"}, home=tmp_path)
    attempt = probe(ep)
    assert (attempt.ok, attempt.kind) == (False, "error")
    assert "tcp://, not http://" in attempt.reason


def test_context_hash_is_sha256_of_the_name() -> None:
    digest = context_hash("colima")
    assert digest == hashlib.sha256(b"colima").hexdigest()
    assert len(digest) == 64


# Each kind of failure, with its own explanation


def test_missing_socket(tmp_path: Path) -> None:
    attempt = probe(unix_endpoint(tmp_path / "nothing.sock"), timeout=1)
    assert (attempt.ok, attempt.kind) == (False, "missing")
    assert str(tmp_path / "nothing.sock") in attempt.reason
    assert "DOCKER_HOST" in attempt.advice()


def test_permission_denied_is_explained(shared_dir: Path) -> None:
    path = shared_dir / "docker.sock"
    server = listening_unix_socket(path)
    try:
        path.chmod(0o600)
        if os.geteuid() == 0:
            result = run_as_nobody(lambda: _attempt_dict(probe(unix_endpoint(path), timeout=1)))
        else:  # an ordinary user is already blocked by the mode
            path.chmod(0o000)
            result = _attempt_dict(probe(unix_endpoint(path), timeout=1))
    finally:
        server.close()
    assert result["kind"] == "permission", result
    assert "permission denied" in result["reason"]
    assert "srw-------" in result["reason"]
    advice = result["advice"]
    assert "docker group" in advice or "'docker' group" in advice
    assert "same as being root" in advice
    assert "sudo usermod -aG docker $USER" in advice
    assert "rootless" in advice
    assert "LABKIT_ENGINE=lab" in advice


def _attempt_dict(attempt: Attempt) -> dict[str, Any]:
    return {"kind": attempt.kind, "reason": attempt.reason, "advice": attempt.advice()}


def test_refused_stale_socket_file(tmp_path: Path) -> None:
    path = tmp_path / "stale.sock"
    listening_unix_socket(path).close()  # the file stays, nobody listens
    attempt = probe(unix_endpoint(path), timeout=1)
    assert (attempt.ok, attempt.kind) == (False, "refused")
    assert "no process is listening" in attempt.reason
    assert "sudo systemctl start docker" in attempt.advice()
    assert "Docker Desktop" in attempt.advice()


# Podman's sockets: no daemon, no docker group, a service to start


def test_podman_socket_missing_says_how_to_start_its_service(tmp_path: Path) -> None:
    ep = unix_endpoint(tmp_path / "podman" / "podman.sock", "the usual socket for rootless Podman")
    advice = probe(ep, timeout=1).advice()
    assert advice.startswith("missing (Podman): ")
    assert "systemctl --user enable --now podman.socket" in advice
    assert "podman system service --time=0" in advice


def test_podman_socket_refused_says_its_service_stopped(tmp_path: Path) -> None:
    path = tmp_path / "podman.sock"
    listening_unix_socket(path).close()
    advice = probe(unix_endpoint(path), timeout=1).advice()
    assert advice.startswith("refused (Podman): ")
    assert "systemctl --user enable --now podman.socket" in advice
    assert "sudo systemctl start docker" not in advice


def test_podman_root_socket_permission_points_to_rootless_podman(shared_dir: Path) -> None:
    folder = shared_dir / "podman"
    folder.mkdir(mode=0o755)
    path = folder / "podman.sock"
    server = listening_unix_socket(path)
    try:
        path.chmod(0o600)
        if os.geteuid() == 0:
            result = run_as_nobody(lambda: _attempt_dict(probe(unix_endpoint(path), timeout=1)))
        else:
            path.chmod(0o000)
            result = _attempt_dict(probe(unix_endpoint(path), timeout=1))
    finally:
        server.close()
    assert result["kind"] == "permission", result
    assert result["advice"].startswith("permission denied (Podman): ")
    assert "usermod" not in result["advice"]
    assert "DOCKER_HOST=unix://$XDG_RUNTIME_DIR/podman/podman.sock" in result["advice"]


def test_not_found_explains_docker_and_podman_sockets_apart(tmp_path: Path) -> None:
    usual = [
        (str(tmp_path / "docker.sock"), "the usual socket for Docker Engine"),
        (str(tmp_path / "podman" / "podman.sock"), "the usual socket for Podman run as root"),
    ]
    with pytest.raises(EngineNotFound) as info:
        find_engine(env={}, home=tmp_path, usual=usual, timeout=1)
    text = str(info.value)
    assert f"unix://{tmp_path}/podman/podman.sock (the usual socket for Podman run as root)" in text
    assert "- missing: there is no file at that path" in text
    assert "- missing (Podman): no Podman API socket there" in text


def test_a_regular_file_is_not_a_socket(tmp_path: Path) -> None:
    path = tmp_path / "docker.sock"
    path.write_text("")
    attempt = probe(unix_endpoint(path), timeout=1)
    assert (attempt.ok, attempt.kind) == (False, "error")
    assert "regular file, not a socket" in attempt.reason


def test_refused_tcp_port() -> None:
    with socket.create_server(("127.0.0.1", 0)) as s:
        port = s.getsockname()[1]
    attempt = probe(parse_host(f"tcp://127.0.0.1:{port}", "DOCKER_HOST"), timeout=1)
    assert attempt.kind == "refused"
    assert f"127.0.0.1:{port}" in attempt.reason
    assert "2376 is TLS" in attempt.advice()


def test_not_http_shows_the_first_bytes() -> None:
    with tcp_server(ssh_banner) as port:
        attempt = probe(parse_host(f"tcp://127.0.0.1:{port}", "DOCKER_HOST"), timeout=2)
    assert (attempt.ok, attempt.kind) == (False, "not-http")
    assert "SSH-2.0-nope" in attempt.reason
    assert "not in HTTP" in attempt.reason
    assert "SSH server" in attempt.advice()


def test_not_http_over_a_unix_socket(tmp_path: Path) -> None:
    path = tmp_path / "ssh.sock"
    server = listening_unix_socket(path)

    def answer() -> None:
        conn, _ = server.accept()
        with conn:
            conn.sendall(b"SSH-2.0-nope\r\n")
            conn.recv(100)

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    try:
        attempt = probe(unix_endpoint(path), timeout=2)
    finally:
        thread.join(timeout=5)
        server.close()
    assert attempt.kind == "not-http"
    assert "b'SSH-2.0-nope\\r\\n'" in attempt.reason


def test_timeout_when_nothing_answers() -> None:
    with tcp_server(say_nothing) as port:
        attempt = probe(parse_host(f"tcp://127.0.0.1:{port}", "DOCKER_HOST"), timeout=0.3)
    assert (attempt.ok, attempt.kind) == (False, "timeout")
    assert "no reply within 0.3 s" in attempt.reason
    assert "curl http://127.0.0.1" in attempt.advice()


def test_tls_with_missing_certificates(tmp_path: Path) -> None:
    env = {
        "DOCKER_HOST": "tcp://127.0.0.1:1",
        "DOCKER_TLS_VERIFY": "1",
        "DOCKER_CERT_PATH": str(tmp_path / "no-certs"),
    }
    (ep,) = candidates(env=env, home=tmp_path)
    attempt = probe(ep, timeout=1)
    assert attempt.kind == "tls"
    assert "ca.pem" in attempt.reason
    assert "DOCKER_CERT_PATH" in attempt.reason
    assert "DOCKER_CERT_PATH" in attempt.advice()


def test_tls_handshake_with_a_server_that_does_not_speak_tls(tmp_path: Path) -> None:
    with tcp_server(ssh_banner) as port:
        env = {"DOCKER_HOST": f"tcp://127.0.0.1:{port}", "DOCKER_TLS": "1"}
        (ep,) = candidates(env=env, home=tmp_path)
        attempt = probe(ep, timeout=2)
    assert attempt.kind == "tls"
    assert "handshake" in attempt.reason


def test_ssh_is_recognised_but_not_supported(tmp_path: Path) -> None:
    (ep,) = candidates(env={"DOCKER_HOST": "ssh://me@server"}, home=tmp_path)
    attempt = probe(ep)
    assert attempt.kind == "unsupported"
    assert "ssh://" in attempt.reason
    assert "docker context" in attempt.advice()
    assert "DOCKER_HOST=unix://" in attempt.advice()


def test_an_http_server_that_is_not_an_engine(tmp_path: Path) -> None:
    def not_found(conn: socket.socket) -> None:
        conn.recv(1000)
        conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot here\n")

    with tcp_server(not_found) as port:
        attempt = probe(parse_host(f"tcp://127.0.0.1:{port}"), timeout=2)
    assert attempt.kind == "error"
    assert "404" in attempt.reason
    assert "not a Docker engine" in attempt.reason


def test_engine_not_found_lists_every_candidate_with_its_reason(tmp_path: Path) -> None:
    stale = tmp_path / "stale.sock"
    listening_unix_socket(stale).close()
    usual = [
        (str(tmp_path / "none.sock"), "the usual socket for Docker Engine"),
        (str(stale), "Colima"),
    ]
    with pytest.raises(EngineNotFound) as info:
        find_engine(env={}, home=tmp_path, usual=usual, timeout=1)
    text = str(info.value)
    assert [a.kind for a in info.value.attempts] == ["missing", "refused"]
    assert text.startswith("labkit found no Docker engine")
    assert f"1. unix://{tmp_path}/none.sock (the usual socket for Docker Engine)" in text
    assert f"2. unix://{stale} (Colima)" in text
    assert "missing: no such file" in text
    assert "refused: connection refused" in text
    assert "sudo systemctl start docker" in text
    assert "LABKIT_ENGINE=lab" in text


# Engines that answer


@pytest.mark.parametrize(
    ("version", "product"),
    [
        ({"Platform": {"Name": "Docker Engine - Community"}, "Components": []}, "Docker Engine"),
        ({"Platform": {"Name": ""}, "Components": [{"Name": "Engine"}]}, "Docker Engine"),
        (
            {
                "Platform": {"Name": "linux/amd64/fedora-39"},
                "Components": [{"Name": "Podman Engine"}],
            },
            "Podman",
        ),
        ({"Components": [{"Name": "podman engine", "Version": "5.0"}]}, "Podman"),
        (
            {"Platform": {"Name": "labkit lab engine"}, "Components": [{"Name": "Engine"}]},
            "labkit lab engine",
        ),
        ({"Platform": {"Name": "Toy Engine"}}, "Toy Engine"),
        ({"Platform": "weird", "Components": "weird"}, "an unknown Docker-compatible engine"),
    ],
)
def test_identify_product(version: dict[str, Any], product: str) -> None:
    assert identify_product(version) == product


def test_a_lab_engine_is_recognised_over_http(tmp_path: Path) -> None:
    version = {
        "Platform": {"Name": "labkit lab engine"},
        "Components": [{"Name": "Engine", "Version": "0.1.0"}],
        "Version": "0.1.0",
        "ApiVersion": "1.51",
        "MinAPIVersion": "1.24",
        "Os": "linux",
        "Arch": "amd64",
    }
    with fake_engine(version) as url:
        found = find_engine(env={"LABKIT_DOCKER_HOST": url}, home=tmp_path)
    assert found.engine.product == "labkit lab engine"
    assert (found.engine.version, found.engine.api_version, found.api_version) == (
        "0.1.0",
        "1.51",
        "1.51",
    )
    assert found.engine.os == "linux"


def test_a_too_old_engine_is_incompatible(tmp_path: Path) -> None:
    version = {"Components": [{"Name": "Engine"}], "Version": "1.12.0", "ApiVersion": "1.12"}
    with fake_engine(version) as url, pytest.raises(EngineNotFound) as info:
        find_engine(env={"DOCKER_HOST": url}, home=tmp_path)
    (attempt,) = info.value.attempts
    assert attempt.kind == "incompatible"
    assert attempt.engine is not None
    assert attempt.engine.version == "1.12.0"
    assert "engine is too old" in str(info.value)


def test_a_too_new_engine_says_labkit_is_too_old(tmp_path: Path) -> None:
    version = {
        "Components": [{"Name": "Engine"}],
        "Version": "99",
        "ApiVersion": "1.70",
        "MinAPIVersion": "1.60",
    }
    with fake_engine(version) as url:
        attempt = probe(parse_host(url, "DOCKER_HOST"))
    assert attempt.kind == "incompatible"
    assert "labkit is too old" in attempt.reason


PODMAN_VERSION = {
    "Platform": {"Name": "linux/amd64/debian-12"},
    "Components": [{"Name": "Podman Engine", "Version": "4.3.1"}],
    "Version": "4.3.1",
    "ApiVersion": "1.41",
    "MinAPIVersion": "1.24",
}


def test_a_slow_version_after_a_quick_ping_is_waited_for(tmp_path: Path) -> None:
    """Podman builds /version from `conmon --version` and `runc --version`: it can be slow."""
    with fake_engine(PODMAN_VERSION, version_delay=0.8) as url:
        attempt = probe(parse_host(url, "DOCKER_HOST"), timeout=0.3)
    assert attempt.ok, attempt.reason
    assert attempt.engine is not None and attempt.engine.product == "Podman"


def test_a_version_that_never_comes_says_the_ping_worked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(discovery, "VERSION_TIMEOUT", 0.3)
    with fake_engine(PODMAN_VERSION, version_delay=2) as url:
        attempt = probe(parse_host(url, "DOCKER_HOST"), timeout=0.2)
    assert (attempt.ok, attempt.kind) == (False, "timeout")
    assert attempt.reason.startswith("it answered GET /_ping, but GET /version: no reply within")


def test_the_real_engine_is_found_and_named(real_engine_url: str, tmp_path: Path) -> None:
    found = find_engine(env={"DOCKER_HOST": real_engine_url}, home=tmp_path)
    engine = found.engine
    raw = engine.raw
    assert engine.product == "Docker Engine"
    assert engine.version == raw["Version"]
    assert engine.api_version == raw["ApiVersion"]
    assert found.api_version == discovery.negotiate(raw["ApiVersion"], labkit.API_VERSION_MAX)
    assert found.endpoint.url == real_engine_url
    assert [a.kind for a in found.attempts] == ["ok"]
    assert "Docker Engine" in found.attempts[0].reason


def test_podman_is_found_and_named(podman_engine_url: str, tmp_path: Path) -> None:
    found = find_engine(env={"DOCKER_HOST": podman_engine_url}, home=tmp_path)
    engine = found.engine
    assert engine.product == "Podman"
    assert engine.version == engine.raw["Version"]
    assert engine.api_version == engine.raw["ApiVersion"]
    assert found.api_version == discovery.negotiate(engine.api_version, labkit.API_VERSION_MAX)
    assert found.attempts[0].reason.startswith(f"Podman {engine.version} answered (API ")


def test_the_search_stops_at_the_first_engine_that_answers(
    real_engine_socket: Path, tmp_path: Path
) -> None:
    usual = [
        (str(tmp_path / "none.sock"), "first"),
        (str(real_engine_socket), "second"),
        (str(tmp_path / "never-tried.sock"), "third"),
    ]
    found = find_engine(env={}, home=tmp_path, usual=usual)
    assert [a.kind for a in found.attempts] == ["missing", "ok"]
    assert found.endpoint.source == "second"


# TLS with client certificates, as `dockerd --tlsverify` does it


def _key() -> Any:
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


def _certificate(
    name: str, key: Any, issuer: tuple[str, Any] | None, *, ca: bool = False, server: bool = False
) -> Any:
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    issuer_name, issuer_key = (name, key) if issuer is None else issuer
    now = datetime.now(timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), True
        )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
    usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
    if not ca:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _write_pem(path: Path, cert: Any = None, key: Any = None) -> None:
    from cryptography.hazmat.primitives import serialization

    if cert is not None:
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    else:
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )


@pytest.fixture
def tls_setup(tmp_path: Path) -> dict[str, Path]:
    """A CA, a server certificate for 127.0.0.1, a client certificate; and a stranger's CA."""
    pytest.importorskip("cryptography")
    ca_key, other_key = _key(), _key()
    ca = _certificate("labkit test CA", ca_key, None, ca=True)
    other_ca = _certificate("someone else's CA", other_key, None, ca=True)
    server_key, client_key = _key(), _key()
    server = _certificate("localhost", server_key, ("labkit test CA", ca_key), server=True)
    client = _certificate("learner", client_key, ("labkit test CA", ca_key))
    files = {}
    for folder, ca_cert in (("client", ca), ("wrong-ca", other_ca)):
        (tmp_path / folder).mkdir()
        _write_pem(tmp_path / folder / "ca.pem", cert=ca_cert)
        _write_pem(tmp_path / folder / "cert.pem", cert=client)
        _write_pem(tmp_path / folder / "key.pem", key=client_key)
        files[folder] = tmp_path / folder
    (tmp_path / "server").mkdir()
    _write_pem(tmp_path / "server" / "cert.pem", cert=server)
    _write_pem(tmp_path / "server" / "key.pem", key=server_key)
    files["server"] = tmp_path / "server"
    return files


def _server_context(files: dict[str, Path]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(files["server"] / "cert.pem", files["server"] / "key.pem")
    context.load_verify_locations(files["client"] / "ca.pem")
    context.verify_mode = ssl.CERT_REQUIRED  # like dockerd --tlsverify: client certificates only
    return context


ENGINE_VERSION = {"Components": [{"Name": "Engine"}], "Version": "27.0.0", "ApiVersion": "1.46"}


def test_tls_with_client_certificates_works(tls_setup: dict[str, Path], tmp_path: Path) -> None:
    with fake_engine(ENGINE_VERSION, tls=_server_context(tls_setup)) as url:
        env = {
            "DOCKER_HOST": url,
            "DOCKER_TLS_VERIFY": "1",
            "DOCKER_CERT_PATH": str(tls_setup["client"]),
        }
        found = find_engine(env=env, home=tmp_path)
    assert found.engine.version == "27.0.0"
    assert found.endpoint.tls is not None
    assert found.endpoint.tls.verify


def test_tls_rejects_a_server_signed_by_another_ca(
    tls_setup: dict[str, Path], tmp_path: Path
) -> None:
    with fake_engine(ENGINE_VERSION, tls=_server_context(tls_setup)) as url:
        env = {
            "DOCKER_HOST": url,
            "DOCKER_TLS_VERIFY": "1",
            "DOCKER_CERT_PATH": str(tls_setup["wrong-ca"]),
        }
        (ep,) = candidates(env=env, home=tmp_path)
        attempt = probe(ep, timeout=2)
    assert attempt.kind == "tls"
    assert "certificate was not accepted" in attempt.reason


def test_tls_without_verify_skips_the_server_check(
    tls_setup: dict[str, Path], tmp_path: Path
) -> None:
    with fake_engine(ENGINE_VERSION, tls=_server_context(tls_setup)) as url:
        env = {
            "DOCKER_HOST": url,
            "DOCKER_TLS": "1",
            "DOCKER_CERT_PATH": str(tls_setup["wrong-ca"]),
        }
        (ep,) = candidates(env=env, home=tmp_path)
        attempt = probe(ep, timeout=2)
    assert attempt.ok, attempt.reason


def test_an_explicit_choice_says_how_to_search_the_usual_places(tmp_path: Path) -> None:
    with pytest.raises(EngineNotFound) as by_var:
        find_engine(env={"DOCKER_HOST": f"unix://{tmp_path}/none.sock"}, home=tmp_path)
    assert "because DOCKER_HOST is set" in str(by_var.value)
    assert "unset DOCKER_HOST" in str(by_var.value)
    write_config(tmp_path / ".docker", currentContext="gone")
    with pytest.raises(EngineNotFound) as by_context:
        find_engine(env={}, home=tmp_path)
    text = str(by_context.value)
    assert "1. docker context 'gone', the current context in" in text
    assert "`docker context use default`" in text

"""`labkit doctor`: each situation a learner meets gets a line they can act on."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import socket
import stat
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import labkit
from labkit import cli
from labkit.doctor import (
    FAIL,
    OK,
    WARN,
    diagnose,
    docker_cli_finding,
    engine_choice_finding,
    package_findings,
    python_finding,
    socket_finding,
    tcp_finding,
)
from labkit.transport.discovery import EngineInfo, Found
from labkit.transport.hosts import parse_host
from labkit.transport.versions import negotiate

SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"


def listening_unix_socket(path: Path) -> socket.socket:
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(1)
    return server


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A folder every user may enter (pytest's tmp_path is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="labkit-doctor-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def run_as_nobody(fn: Callable[[], Any]) -> Any:
    """Run ``fn`` in a forked child without root; root may open any socket whatever its mode."""
    try:
        uid = pwd.getpwnam("nobody").pw_uid
    except KeyError:
        uid = 65534
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        os.close(read_fd)
        code = 0
        try:
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


# The whole report in four situations


def test_no_socket_at_all(tmp_path: Path) -> None:
    missing = tmp_path / "docker.sock"
    report = diagnose(
        env={"PATH": SYSTEM_PATH, "LABKIT_ENGINE": "docker"},
        home=tmp_path,
        usual=[(str(missing), "the usual socket for Docker Engine")],
        timeout=1,
    )
    text = report.text()
    assert report.exit_code == 1
    assert "fail  no Docker engine answered" in text
    assert f"unix://{missing} (the usual socket for Docker Engine)" in text
    assert f"missing: no such file: {missing}" in text
    assert "LABKIT_ENGINE=lab" in text
    assert [a.kind for a in report.attempts] == ["missing"]


def test_a_socket_without_permission(shared_dir: Path) -> None:
    path = shared_dir / "docker.sock"
    server = listening_unix_socket(path)
    env = {"DOCKER_HOST": f"unix://{path}", "PATH": SYSTEM_PATH, "LABKIT_ENGINE": "docker"}

    def check() -> dict[str, Any]:
        report = diagnose(env=env, home=shared_dir, timeout=1)
        return {"text": report.text(), "code": report.exit_code}

    try:
        path.chmod(0o600)
        package_findings()  # load what it needs while the files are still readable
        if os.geteuid() == 0:
            result = run_as_nobody(check)
        else:
            path.chmod(0o000)
            result = check()
    finally:
        server.close()
    assert "text" in result, result
    text = result["text"]
    assert result["code"] == 1
    assert f"unix://{path} (DOCKER_HOST)" in text
    assert "permission: permission denied" in text
    assert "'docker' group" in text
    assert "same as being root" in text
    assert "sudo usermod -aG docker $USER" in text
    assert "rootless Docker" in text
    assert f"socket {path} (srw-------" in text


def test_a_socket_that_does_not_speak_http(tmp_path: Path) -> None:
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
        env = {"DOCKER_HOST": f"unix://{path}", "PATH": SYSTEM_PATH, "LABKIT_ENGINE": "docker"}
        report = diagnose(env=env, home=tmp_path)
    finally:
        thread.join(timeout=5)
        server.close()
    text = report.text()
    assert report.exit_code == 1
    assert "not-http: it answered, but not in HTTP" in text
    assert "SSH-2.0-nope" in text
    assert "SSH server" in text
    assert f"socket {path} (srw" in text


def test_the_real_engine(real_engine_url: str, real_engine_socket: Path, tmp_path: Path) -> None:
    env = {"DOCKER_HOST": real_engine_url, "PATH": os.environ.get("PATH", SYSTEM_PATH)}
    report = diagnose(env=env, home=tmp_path)
    text = report.text()
    assert report.exit_code == 0, text
    assert report.found is not None
    raw = report.found.engine.raw
    negotiated = negotiate(raw["ApiVersion"], labkit.API_VERSION_MAX)
    assert f"engine: Docker Engine {raw['Version']} answered at {real_engine_url}" in text
    assert f"{raw['ApiVersion']}, labkit" in text
    assert f"they will use {negotiated}" in text
    mode = stat.filemode(real_engine_socket.stat().st_mode)
    assert f"socket {real_engine_socket} ({mode} " in text
    assert "Result: an engine answered" in text
    assert not [f for f in report.findings if f.mark == FAIL]


@pytest.mark.real_engine
def test_podman(podman_engine_url: str, podman_engine_socket: Path, tmp_path: Path) -> None:
    env = {"DOCKER_HOST": podman_engine_url, "PATH": os.environ.get("PATH", SYSTEM_PATH)}
    report = diagnose(env=env, home=tmp_path)
    text = report.text()
    assert report.exit_code == 0, text
    assert report.found is not None
    raw = report.found.engine.raw
    assert f"engine: Podman {raw['Version']} answered at {podman_engine_url} (DOCKER_HOST)" in text
    assert f"the engine speaks {raw['MinAPIVersion']} to {raw['ApiVersion']}, labkit" in text
    mode = stat.filemode(podman_engine_socket.stat().st_mode)
    assert f"socket {podman_engine_socket} ({mode} " in text
    assert report.to_dict()["engine"]["product"] == "Podman"
    assert not [f for f in report.findings if f.mark == FAIL]


# The command line


def test_cli_json_with_the_real_engine(
    real_engine_url: str,
    clean_docker_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DOCKER_HOST", real_engine_url)
    assert cli.main(["doctor", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is True
    assert data["engine"]["product"] == "Docker Engine"
    assert data["engine"]["url"] == real_engine_url
    assert data["engine"]["negotiated_api_version"] == negotiate(
        data["engine"]["api_version"], labkit.API_VERSION_MAX
    )
    assert {f["mark"] for f in data["findings"]} <= {OK, WARN, FAIL}


def test_cli_exit_code_is_1_without_an_engine(
    clean_docker_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{clean_docker_env}/no.sock")
    monkeypatch.setenv("LABKIT_ENGINE", "docker")
    assert cli.main(["doctor", "--timeout", "1"]) == 1
    out = capsys.readouterr().out
    assert "labkit found no Docker engine" in out
    assert f"{clean_docker_env}/no.sock" in out


# One finding at a time


@pytest.mark.parametrize(
    ("mode", "mark", "words"),
    [
        (0o600, OK, "only its owner may use it"),
        (0o660, WARN, "members of group"),
        (0o666, WARN, "every user on this machine may use it"),
    ],
)
def test_socket_modes_and_what_they_grant(tmp_path: Path, mode: int, mark: str, words: str) -> None:
    path = tmp_path / "engine.sock"
    listening_unix_socket(path).close()
    path.chmod(mode)
    finding = socket_finding(str(path))
    assert finding is not None
    assert finding.mark == mark
    assert words in finding.text
    assert stat.filemode(stat.S_IFSOCK | mode) in finding.text
    if mark == WARN:
        assert "root" in finding.detail


def test_a_file_that_is_not_a_socket(tmp_path: Path) -> None:
    path = tmp_path / "docker.sock"
    path.write_text("")
    finding = socket_finding(str(path))
    assert finding is not None
    assert (finding.mark, finding.text.endswith("is not a socket")) == (WARN, True)
    assert socket_finding(str(tmp_path / "absent.sock")) is None


def test_old_requests_unixsocket_is_warned_about_with_the_reason() -> None:
    versions = {"requests-unixsocket": "0.3.0", "h11": "0.16.0"}
    findings = {f.text.split()[0]: f for f in package_findings(versions.get)}
    old = findings["requests-unixsocket"]
    assert old.mark == WARN
    assert "requests 2.32" in old.detail
    assert "requests-unixsocket>=0.4" in old.detail
    assert findings["h11"].mark == OK


def test_missing_packages_are_named() -> None:
    findings = package_findings(lambda name: None)
    by_name = {f.text.split()[0]: f for f in findings}
    assert by_name["docker"].mark == WARN
    assert "docker is not installed" in by_name["docker"].text
    assert by_name["h11"].mark == FAIL  # labkit cannot work without it
    assert "pip install" in by_name["h11"].detail


def test_python_version() -> None:
    assert python_finding((3, 10, 0)).mark == OK
    old = python_finding((3, 9, 18))
    assert old.mark == FAIL
    assert "3.9.18 is too old" in old.text


@pytest.mark.parametrize(
    ("value", "mark", "words"),
    [
        (None, OK, "not set (auto)"),
        ("lab", OK, "LABKIT_ENGINE=lab: labkit's own lab engine"),
        ("docker", OK, "real engine only"),
        ("podman", WARN, "not one of auto, lab, docker"),
    ],
)
def test_labkit_engine_value(value: str | None, mark: str, words: str) -> None:
    finding = engine_choice_finding({} if value is None else {"LABKIT_ENGINE": value})
    assert (finding.mark, words in finding.text) == (mark, True)


def test_docker_cli_missing(tmp_path: Path) -> None:
    finding = docker_cli_finding({"PATH": str(tmp_path)}, None)
    assert finding.mark == WARN
    assert "not on PATH" in finding.text
    assert "Lessons 05 and 06" in finding.detail


def test_docker_cli_version(tmp_path: Path) -> None:
    fake = tmp_path / "docker"
    fake.write_text(
        '#!/bin/sh\nif [ "$1" = "--version" ]; then echo "Docker version 99.1.0, build abc"; fi\n'
    )
    fake.chmod(0o755)
    finding = docker_cli_finding({"PATH": str(tmp_path)}, None)
    assert (finding.mark, finding.text) == (OK, f"docker CLI 99.1.0 at {fake}")


def test_an_engine_on_plain_tcp_is_a_warning() -> None:
    endpoint = parse_host("tcp://127.0.0.1:2375", "DOCKER_HOST")
    info = EngineInfo(endpoint, "Docker Engine", "27.0.0", "1.46")
    finding = tcp_finding(Found(info, "1.46", []))
    assert finding.mark == WARN
    assert "without TLS" in finding.text
    assert "controls the engine" in finding.detail


# Without a real engine the lab engine stands in


def test_no_real_engine_is_fine_in_auto_mode(tmp_path: Path, lab_home: Path) -> None:
    missing = tmp_path / "docker.sock"
    env = {"PATH": SYSTEM_PATH, "LABKIT_HOME": str(lab_home)}
    report = diagnose(env=env, home=tmp_path, usual=[(str(missing), "the usual socket")])
    text = report.text()
    assert report.exit_code == 0, text
    assert "warn  no real Docker engine answered, so the lab will use its own lab engine" in text
    assert "lab engine: not running; it starts on demand" in text
    assert "the lab uses its own lab engine; the lab is ready" in text


def test_a_running_lab_engine_is_reported_with_its_private_socket(
    lab_engine, tmp_path: Path
) -> None:
    env = {"PATH": SYSTEM_PATH, **lab_engine.labkit_env, "LABKIT_ENGINE": "lab"}
    report = diagnose(env=env, home=tmp_path, usual=[])
    text = report.text()
    assert report.exit_code == 0, text
    assert f"lab engine: running (pid {lab_engine.pid}) at {lab_engine.url}" in text
    assert f"socket {lab_engine.socket} (srw------- " in text

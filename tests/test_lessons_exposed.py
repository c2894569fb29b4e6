"""labkit.lessons.exposed: lesson 06's second engine, its attacker process, and docker."""

from __future__ import annotations

import shutil
import socket
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from labkit.lessons import exposed as lesson
from labkit.lessons.ipc import RunFirst

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="Unix sockets")


@pytest.fixture
def engine() -> Iterator[lesson.ExposedEngine]:
    folder = Path(tempfile.mkdtemp(prefix="lk-x-", dir="/tmp"))  # short: a socket path
    found = lesson.ExposedEngine(folder)
    yield found
    found.stop()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.lab_engine
def test_the_exposed_engine_listens_on_loopback_and_says_how_it_was_started(
    engine: lesson.ExposedEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(RunFirst, match="section 1"):
        engine.address()  # not started yet: the message names the cell to run
    engine.start("--tcp", "127.0.0.1:0")
    shown = capsys.readouterr().out
    assert shown.startswith("$ labkit engine start --tcp 127.0.0.1:0\n")
    assert "WITHOUT TLS" in shown or "without TLS" in shown
    address = engine.address()
    host, port = address.removeprefix("tcp://").rsplit(":", 1)
    assert host == "127.0.0.1"
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(b"GET /_ping HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        reply = b""
        while chunk := conn.recv(4096):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 200") and reply.endswith(b"OK")
    assert engine.owner.request("GET", "/_ping").status == 200  # its owner, on the Unix socket
    with pytest.raises(RunFirst, match="section 4"):
        engine.address(tls=True)  # it listens without TLS: a cell that needs TLS says so
    assert engine.socket.stat().st_mode & 0o077 == 0
    assert "stopped" in engine.stop()
    assert engine._owner is None or engine._owner._sock is None  # the owner's socket closed


@pytest.mark.lab_engine
def test_a_refused_address_is_shown_with_labkits_reason(
    engine: lesson.ExposedEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    engine.start("--tcp", "0.0.0.0:0")
    shown = capsys.readouterr().out
    assert "refusing to listen on 0.0.0.0:0 without TLS" in shown
    with pytest.raises(RunFirst):
        engine.address()


def attacker_stand_in(word, path):
    import os

    print(f"{word}: {'alone' if 'engine' not in dir() else 'shared'}, {os.path.basename(path)}")


def test_run_program_runs_the_function_in_a_process_of_its_own(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    engine = "a name of this process that the program cannot see"  # noqa: F841
    lesson.run_program(attacker_stand_in, "hello", tmp_path / "file.txt")
    assert capsys.readouterr().out == "hello: alone, file.txt\n"


def test_docker_is_none_without_the_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lesson.shutil, "which", lambda name: None)
    assert lesson.docker("ps") is None


def test_docker_gets_only_the_settings_given(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = tmp_path / "docker"
    fake.write_text('#!/bin/sh\nenv | grep "^DOCKER_" | sort\n')
    fake.chmod(0o700)
    monkeypatch.setattr(lesson.shutil, "which", lambda name: str(fake))
    monkeypatch.setenv("DOCKER_HOST", "unix:///somewhere/else.sock")
    monkeypatch.setenv("DOCKER_TLS_VERIFY", "1")
    run = lesson.docker("ps", DOCKER_HOST="tcp://127.0.0.1:1")
    assert run is not None
    lines = run.stdout.splitlines()
    assert "DOCKER_HOST=tcp://127.0.0.1:1" in lines
    assert not any(line.startswith("DOCKER_TLS_VERIFY") for line in lines)
    config = next(line for line in lines if line.startswith("DOCKER_CONFIG="))
    assert not Path(config.split("=", 1)[1]).exists()  # an empty folder, removed afterwards

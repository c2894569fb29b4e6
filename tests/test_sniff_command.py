"""``labkit sniff``: a bounded run (``--count``, ``--timeout``) prints the traffic and stops."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_proxy_recorder import (
    HEAD_PING,
    HEAD_PONG,
    PING,
    PONG,
    FakeEngine,
    exchange_bytes,
)

DOCKER = shutil.which("docker")


@pytest.fixture
def folder() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="lks", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def start_sniff(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "labkit", "sniff", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def wait_for_socket(path: Path, process: subprocess.Popen[str], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if process.poll() is not None:
            raise AssertionError(f"labkit sniff exited early: {process.communicate()}")
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"labkit sniff did not listen at {path}: {process.communicate()}")
        time.sleep(0.05)


def finish(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=30)
    return process.returncode, out, err


def test_prints_like_socat_and_stops_after_count(folder: Path) -> None:
    engine = FakeEngine(folder, [HEAD_PONG, PONG])
    try:
        path = folder / "sniff.sock"
        sniff = start_sniff("--engine", engine.url, "--socket", str(path), "--count", "2")
        wait_for_socket(path, sniff)
        assert exchange_bytes(path, HEAD_PING + PING, until=b"\r\n\r\nOK") == HEAD_PONG + PONG
        code, out, err = finish(sniff)
    finally:
        engine.close()
    assert code == 0, err
    assert f"export DOCKER_HOST=unix://{path}" in out
    assert "HEAD /_ping HTTP/1.1\\r\n" in out  # the bytes, CR made visible
    assert "length=" in out and "client → engine" in out and "engine → client" in out
    assert "= #1 conn 1  HEAD /_ping  ← 200 OK" in out
    assert "= #2 conn 1  GET /_ping  ← 200 OK" in out
    assert "stopped; recorded 2 exchanges on 1 connections." in out
    assert not path.exists()


def test_summary_mode_prints_one_line_per_exchange(folder: Path) -> None:
    engine = FakeEngine(folder, [PONG])
    try:
        path = folder / "sniff.sock"
        sniff = start_sniff(
            "--engine", engine.url, "--socket", str(path), "--count", "1", "--summary"
        )
        wait_for_socket(path, sniff)
        exchange_bytes(path, PING, until=b"\r\n\r\nOK")
        code, out, _ = finish(sniff)
    finally:
        engine.close()
    assert code == 0
    assert "HTTP/1.1" not in out
    [line] = [line for line in out.splitlines() if line.startswith("= ")]
    assert line.startswith("= #1 conn 1  GET /_ping  ← 200 OK  (2 bytes: OK)")
    assert line.endswith(" ms")


def test_timeout_ends_a_quiet_run(folder: Path) -> None:
    sniff = start_sniff(
        "--engine", f"unix://{folder}/none.sock", "--socket", str(folder / "s.sock"),
        "--timeout", "0.5",
    )  # fmt: skip
    code, out, _ = finish(sniff)
    assert code == 0
    assert "recorded 0 exchanges on 0 connections" in out


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "term"])
def test_a_signal_stops_it_cleanly(folder: Path, sig: signal.Signals) -> None:
    path = folder / "s.sock"
    sniff = start_sniff("--engine", f"unix://{folder}/none.sock", "--socket", str(path))
    wait_for_socket(path, sniff)
    sniff.send_signal(sig)
    code, out, _ = finish(sniff)
    assert code == 0
    assert "labkit sniff: stopped; recorded 0 exchanges on 0 connections." in out
    assert not path.exists()


def test_bad_arguments_are_explained(folder: Path) -> None:
    code, _, err = finish(start_sniff("--engine", "unix:///x.sock", "--count", "0"))
    assert (code, err.strip()) == (2, "labkit sniff: --count must be 1 or more")
    regular = folder / "file"
    regular.write_text("")
    code, _, err = finish(start_sniff("--engine", "unix:///x.sock", "--socket", str(regular)))
    assert code == 1
    assert "exists and is not a socket" in err


@pytest.mark.real_engine
@pytest.mark.skipif(DOCKER is None, reason="the docker CLI is not installed")
def test_docker_run_through_sniff_shows_the_frames(each_real_engine_url: str, folder: Path) -> None:
    from labkit.client.http import Client
    from labkit.client.provision import provision
    from labkit.transport.discovery import find_engine

    real_engine_url = each_real_engine_url
    provision(Client(real_engine_url), ["busybox"])
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    # No --engine: sniff uses the engine the lab finds, here the real one via DOCKER_HOST.
    sniff_env = {**env, "LABKIT_ENGINE": "docker", "DOCKER_HOST": real_engine_url}
    path = folder / "sniff.sock"
    sniff = start_sniff("--socket", str(path), "--count", "5", "--timeout", "60", env=sniff_env)
    wait_for_socket(path, sniff)
    config = folder / "config"
    config.mkdir()
    run = subprocess.run(
        [DOCKER, "run", "--rm", "busybox", "echo", "hi"],
        env={**env, "DOCKER_HOST": f"unix://{path}", "DOCKER_CONFIG": str(config)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    code, out, err = finish(sniff)
    assert run.returncode == 0, run.stderr
    assert code == 0, err
    product = find_engine(env={"DOCKER_HOST": real_engine_url}).engine.product
    assert product in ("Docker Engine", "Podman")
    assert f"recording the traffic to {product}" in out
    assert "HTTP/1.1 101 UPGRADED\\r" in out
    assert "[stdout] hi" in out
    assert "recorded 5 exchanges" in out


def test_sniff_socket_refuses_other_users_by_mode(folder: Path) -> None:
    """The socket is 0600 while sniff runs (checked from outside, by stat)."""
    engine = FakeEngine(folder, [PONG])
    try:
        path = folder / "sniff.sock"
        sniff = start_sniff("--engine", engine.url, "--socket", str(path), "--count", "1")
        wait_for_socket(path, sniff)
        mode = os.stat(path).st_mode & 0o777
        with socket.socket(socket.AF_UNIX) as sock:
            sock.connect(str(path))
            sock.sendall(PING)
            sock.recv(1024)
        finish(sniff)
    finally:
        engine.close()
    assert mode == 0o600


# --------------------------------------------------------------------------- what sniff prints


def make_exchange(method: str, target: str, number: int = 1, connection: int = 1, **more):
    from labkit.proxy.recorder import Exchange
    from labkit.wire.http import Headers

    return Exchange(number, connection, method, target, Headers(), b"", 0.0, **more)


def test_route_hides_ids_and_names_but_not_fixed_words() -> None:
    from labkit.lessons.traffic_view import route, step

    cid = "f870fe737c2e" * 5 + "abcd"
    cases = {
        f"/v1.41/containers/{cid}/attach?stream=1": "/containers/{id}/attach",
        "/v1.41/containers/json?all=1": "/containers/json",
        "/containers/create": "/containers/create",
        "/v1.51/images/library/busybox:latest/json": "/images/{name}/json",
        "/v1.51/images/busybox": "/images/{name}",
        "/v1.51/images/json": "/images/json",
        "/v1.51/exec/abc123/start": "/exec/{id}/start",
        "/_ping": "/_ping",
    }
    assert {t: route(make_exchange("GET", t)) for t in cases} == cases
    wait = make_exchange("POST", f"/v1.41/containers/{cid}/wait?condition=removed")
    assert step(wait, query=True) == "POST /containers/{id}/wait?condition=removed"


def test_compare_lines_up_the_common_steps() -> None:
    from labkit.lessons.traffic_view import compare

    cli = [make_exchange(m, t, status=s) for m, t, s in [
        ("HEAD", "/_ping", 200), ("POST", "/v1.41/containers/create", 201),
        ("POST", "/v1.41/containers/a/attach", 101), ("POST", "/v1.41/containers/a/start", 204),
    ]]  # fmt: skip
    sdk = [make_exchange(m, t, status=s) for m, t, s in [
        ("GET", "/version", 200), ("POST", "/v1.41/containers/create", 201),
        ("POST", "/v1.41/containers/b/start", 204), ("DELETE", "/v1.41/containers/b", 204),
    ]]  # fmt: skip
    table = compare({"CLI": cli, "SDK": sdk})
    assert table.columns == ["step", "CLI", "SDK"]
    assert [row[1:] for row in table.rows] == [
        ["HEAD /_ping → 200", ""],
        ["", "GET /version → 200"],
        ["POST /containers/create → 201", "POST /containers/create → 201"],
        ["POST /containers/{id}/attach → 101", ""],
        ["POST /containers/{id}/start → 204", "POST /containers/{id}/start → 204"],
        ["", "DELETE /containers/{id} → 204"],
    ]
    assert [row[0] for row in table.rows] == [str(n) for n in range(1, 7)]


def test_exchanges_table_counts_rows_and_connections_from_one() -> None:
    from labkit.lessons.traffic_view import exchanges_table

    rows = [
        make_exchange("HEAD", "/_ping", number=7, connection=4, status=200, reason="OK"),
        make_exchange("GET", "/v1.41/version", number=8, connection=9, status=200, reason="OK"),
    ]
    table = exchanges_table(rows, times=False)
    assert [row[:4] for row in table.rows] == [
        ["1", "1", "→ HEAD /_ping", ""],
        ["2", "2", "→ GET /version", ""],
    ]
    assert table.rows[0][4] == "← 200 OK"


def test_frames_table_and_the_printer_decode_a_stream() -> None:
    from test_proxy_recorder import ATTACH, FRAMES, UPGRADED

    from labkit.lessons.traffic_view import TrafficPrinter, frames_table
    from labkit.proxy.recorder import CLIENT, ENGINE, Conversation

    conv = Conversation(1)
    lines: list[str] = []
    printer = TrafficPrinter(0.0, write=lines.append)
    for sender, data in [(CLIENT, ATTACH), (ENGINE, UPGRADED), (ENGINE, FRAMES[:10]),
                         (ENGINE, FRAMES[10:])]:  # fmt: skip
        for chunk in conv.feed(sender, data, 1.0):
            printer.chunk(chunk)
    conv.close(CLIENT, 2.0)
    conv.close(ENGINE, 2.0)
    [attach] = conv.take_completed()
    printer.exchange(attach)
    text = "\n".join(lines)
    assert "HTTP/1.1 101 UPGRADED\\r\n" in text
    assert "(10 bytes of a frame still to come)" in text  # a header and 2 bytes of 3
    assert "[stdout] hi\n[stderr] oops" in text
    assert lines[-1].startswith("= #1 conn 1  POST /v1.41/containers/abc/attach")
    assert "← 101 UPGRADED  (raw stream: stdout 'hi\\n' + stderr 'oops\\n')" in lines[-1]
    table = frames_table(attach)
    assert table.rows == [
        ["0", "01 00 00 00 00 00 00 03", "1 = stdout", "3", "hi\\n"],
        ["11", "02 00 00 00 00 00 00 05", "2 = stderr", "5", "oops\\n"],
    ]


def test_socat_text_shows_cr_and_cuts_long_bodies() -> None:
    from labkit.lessons.traffic_view import socat_text

    assert socat_text(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n") == "GET / HTTP/1.1\\r\nHost: x\\r\n\\r"
    assert socat_text(b"abcdef", limit=4) == "abcd… (2 more bytes)"

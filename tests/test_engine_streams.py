"""Exec framing and detach keys, on the lab engine and on dockerd with the same script.

What dockerd does (20.10 here; the same code in moby today):
- exec output is framed as the exec *start* request's ``Tty`` says; the process has a
  terminal if exec *create* asked for one. Start with ``Tty`` and no terminal: stdout
  raw, and stderr not sent at all.
- detach keys (ctrl-p ctrl-q, or ``detachKeys``) act only with a TTY: on attach the
  stream ends, nothing more is sent, the container runs on and a ``detach`` event is
  logged; on exec the stream ends with "exec attach failed: ... read escape sequence",
  and the exec ends with exit code 126.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from image_fixtures import (
    build_target,
    engine_now_ns,
    ensure_real_busybox,
    http_call,
    pull_busybox,
    unique_token,
    unix_time_arg,
)
from stream_probe import api, hijack, remove, run_container

from labkit.engine.model.output import DetachMatcher, detach_keys
from labkit.wire.frames import demux

ENGINES = ["lab", "dockerd"]
RAW = "application/vnd.docker.raw-stream"
MUX = "application/vnd.docker.multiplexed-stream"
DETACHED_EXEC = b"exec attach failed: error on attach stdin: read escape sequence\r\n"


@pytest.fixture(params=ENGINES)
def engine_socket(request: pytest.FixtureRequest) -> Iterator[Path]:
    """The socket of the lab engine, then of dockerd (skipped outside CI without one)."""
    if request.param == "lab":
        path = Path(request.getfixturevalue("lab_engine_session").socket)
        pull_busybox(path)
    else:
        path = request.getfixturevalue("real_engine_socket")
        ensure_real_busybox(path)
    yield path


@pytest.fixture
def names(engine_socket: Path) -> Iterator[dict[str, str]]:
    token = unique_token()
    made = {key: f"lkd-{token}-{key}" for key in ("tty", "plain", "host")}
    yield made
    remove(engine_socket, made.values())


def _exec(sock: Path, cid: str, tty: bool, **extra: object) -> str:
    body = {"Cmd": ["sh", "-c", "echo out; echo err >&2"], "AttachStdout": True}
    body.update(AttachStderr=True, Tty=tty, **extra)
    status, reply = api(sock, "POST", f"/containers/{cid}/exec", body)
    assert status == 201, reply
    return reply["Id"]


@pytest.mark.lab_engine
@pytest.mark.real_engine
@pytest.mark.parametrize(
    ("create_tty", "start_tty", "framed", "stdout", "stderr"),
    [
        (False, False, True, b"out\n", b"err\n"),
        (False, True, False, b"out\n", b""),  # no terminal, raw: stderr is not sent
        (True, False, True, b"out\r\nerr\r\n", b""),  # the terminal merges both, framed
        (True, True, False, b"out\r\nerr\r\n", b""),
    ],
)
def test_exec_framing_follows_the_start_request(
    engine_socket: Path,
    names: dict[str, str],
    create_tty: bool,
    start_tty: bool,
    framed: bool,
    stdout: bytes,
    stderr: bytes,
) -> None:
    cid = run_container(engine_socket, names["host"], Cmd=["sleep", "60"])
    eid = _exec(engine_socket, cid, create_tty)
    stream = hijack(engine_socket, f"/exec/{eid}/start", {"Detach": False, "Tty": start_tty})
    try:
        assert stream.status == 101
        assert stream.headers["content-type"] == RAW  # API 1.41: always raw
        data = stream.read_to_end()
    finally:
        stream.close()
    if framed:
        out, err = demux(data)
        assert (out, err) == (stdout, stderr)
    else:
        assert data == stdout
    _status, inspect = api(engine_socket, "GET", f"/exec/{eid}/json")
    assert inspect["ProcessConfig"]["tty"] is create_tty  # the process's, from create


@pytest.mark.lab_engine
def test_exec_content_type_follows_the_start_request_at_newer_versions(
    lab_engine_session,
) -> None:
    sock = Path(lab_engine_session.socket)
    pull_busybox(sock)
    name = f"lkd-{unique_token()}-ct"
    try:
        cid = run_container(sock, name, Cmd=["sleep", "60"])
        for create_tty, start_tty, want in ((True, False, MUX), (False, True, RAW)):
            eid = _exec(sock, cid, create_tty)
            body = {"Detach": False, "Tty": start_tty}
            stream = hijack(sock, f"/exec/{eid}/start", body, version="1.51")
            try:
                assert stream.headers["content-type"] == want
                stream.read_to_end()
            finally:
                stream.close()
    finally:
        remove(sock, [name])


def _events(sock: Path, cid: str, since: int, action: str) -> list[dict]:
    until = engine_now_ns(sock) + 1_000_000_000
    query = {"since": unix_time_arg(since), "until": unix_time_arg(until)}
    query["filters"] = {"container": [cid], "event": [action]}
    reply = http_call(sock, "GET", build_target("/v1.41/events", query))
    assert reply.status == 200
    return [json.loads(line) for line in reply.body.splitlines() if line.strip()]


def _attach(sock: Path, cid: str, **query: str):
    q = "&".join(f"{k}={v}" for k, v in {"stream": 1, "stdin": 1, "stdout": 1, **query}.items())
    return hijack(sock, f"/containers/{cid}/attach?{q}&stderr=1")


@pytest.mark.lab_engine
@pytest.mark.real_engine
def test_ctrl_p_ctrl_q_ends_an_attached_tty_session_not_the_container(
    engine_socket: Path, names: dict[str, str]
) -> None:
    since = engine_now_ns(engine_socket)
    cid = run_container(
        engine_socket, names["tty"], Cmd=["sh"], Tty=True, OpenStdin=True, AttachStdin=True
    )
    stream = _attach(engine_socket, cid)
    try:
        assert stream.status == 101
        stream.send(b"echo hi\n")
        stream.read_until(lambda got: b"hi\r\n" in got.split(b"echo hi", 1)[-1])
        stream.send(b"\x10\x11")
        rest = stream.read_to_end()
    finally:
        stream.close()
    assert b"\x10" not in rest and b"^P" not in rest  # the keys never reached the shell
    _status, inspect = api(engine_socket, "GET", f"/containers/{cid}/json")
    assert inspect["State"]["Running"] is True
    assert _events(engine_socket, cid, since, "detach")


@pytest.mark.lab_engine
@pytest.mark.real_engine
def test_detach_keys_of_the_request_replace_the_default(
    engine_socket: Path, names: dict[str, str]
) -> None:
    cid = run_container(
        engine_socket, names["tty"], Cmd=["cat"], Tty=True, OpenStdin=True, AttachStdin=True
    )
    stream = _attach(engine_socket, cid, detachKeys="ctrl-a,x")
    try:
        stream.send(b"\x10\x11ab\n")  # the default keys are now plain input
        stream.read_until(lambda got: got.count(b"ab") >= 2)  # the echo and cat's copy
        stream.send(b"\x01x")
        stream.read_to_end()
    finally:
        stream.close()
    _status, inspect = api(engine_socket, "GET", f"/containers/{cid}/json")
    assert inspect["State"]["Running"] is True


@pytest.mark.lab_engine
@pytest.mark.real_engine
def test_without_a_tty_the_keys_are_input(engine_socket: Path, names: dict[str, str]) -> None:
    cid = run_container(engine_socket, names["plain"], Cmd=["cat"], OpenStdin=True)
    stream = _attach(engine_socket, cid)
    try:
        stream.send(b"\x10\x11\n")
        _data, ended = stream.read_until(lambda got: demux(got)[0] == b"\x10\x11\n")
        assert not ended
    finally:
        stream.close()


@pytest.mark.lab_engine
@pytest.mark.real_engine
def test_unknown_detach_keys_are_refused(engine_socket: Path, names: dict[str, str]) -> None:
    cid = run_container(
        engine_socket, names["tty"], Cmd=["cat"], Tty=True, OpenStdin=True, AttachStdin=True
    )
    stream = _attach(engine_socket, cid, detachKeys="ctrl-zz")
    try:
        assert stream.status == 400
        body, _ended = stream.read_until(lambda got: got.endswith(b"\r\n"))
        assert body == b"Invalid detach keys (ctrl-zz) provided\r\n"
    finally:
        stream.close()
    body = {"Cmd": ["sh"], "AttachStdin": True, "Tty": True, "DetachKeys": "ctrl-zz"}
    status, reply = api(engine_socket, "POST", f"/containers/{cid}/exec", body)
    assert (status, reply) == (500, {"message": "Invalid escape keys (ctrl-zz) provided"})


@pytest.mark.lab_engine
@pytest.mark.real_engine
def test_detaching_from_an_exec_ends_the_exec_not_the_container(
    engine_socket: Path, names: dict[str, str]
) -> None:
    cid = run_container(engine_socket, names["host"], Cmd=["sleep", "60"])
    body = {"Cmd": ["cat"], "AttachStdin": True, "AttachStdout": True, "Tty": True}
    _status, reply = api(engine_socket, "POST", f"/containers/{cid}/exec",
                        {**body, "DetachKeys": "ctrl-b"})  # fmt: skip
    eid = reply["Id"]
    stream = hijack(engine_socket, f"/exec/{eid}/start", {"Detach": False, "Tty": True})
    try:
        stream.send(b"yo\n")
        stream.read_until(lambda got: got.count(b"yo") >= 2)
        stream.send(b"\x02")
        rest = stream.read_to_end()
    finally:
        stream.close()
    assert rest.endswith(DETACHED_EXEC)
    _status, inspect = api(engine_socket, "GET", f"/exec/{eid}/json")
    assert (inspect["Running"], inspect["ExitCode"]) == (False, 126)
    _status, inspect = api(engine_socket, "GET", f"/containers/{cid}/json")
    assert inspect["State"]["Running"] is True


# --- the detach matcher on its own (no engine): moby/term's escape proxy, byte for byte


@pytest.mark.parametrize(
    ("text", "keys"),
    [
        ("ctrl-p,ctrl-q", b"\x10\x11"),
        ("ctrl-a,x", b"\x01x"),
        ("ctrl-@,ctrl-[,ctrl-\\,ctrl-],ctrl-^,ctrl-_,DEL", b"\x00\x1b\x1c\x1d\x1e\x1f\x7f"),
        ("", b""),
    ],
)
def test_detach_keys_are_read_as_dockerd_reads_them(text: str, keys: bytes) -> None:
    assert detach_keys(text) == keys


@pytest.mark.parametrize("text", ["ctrl-zz", "ctrl-p,", "alt-x", "ab"])
def test_unknown_detach_keys_name_the_key(text: str) -> None:
    with pytest.raises(ValueError, match="Unknown character: '"):
        detach_keys(text)


def test_the_matcher_holds_back_a_partial_sequence_and_gives_it_back() -> None:
    m = DetachMatcher()
    assert m.feed(b"ab\x10") == (b"ab", False)  # \x10 may begin the keys: held
    assert m.feed(b"c") == (b"\x10c", False)  # it did not: given back, in order
    assert m.feed(b"\x10") == (b"", False)
    assert m.feed(b"\x11rest") == (b"", True)  # across reads; what follows is not read
    m = DetachMatcher(b"\x01x")
    assert m.feed(b"z\x01xq") == (b"z", True)
    # as in moby/term, the byte that breaks a match is not tried as a new start
    assert DetachMatcher().feed(b"\x10\x10\x11") == (b"\x10\x10\x11", False)


def _slow_first_read(sock_path: Path, target: str, body: object) -> tuple[bytes, bytes]:
    """Ask for an upgrade, then wait before reading, as a client on a busy machine does:
    (what the first read returns, everything after it)."""
    import socket
    import time

    data = json.dumps(body).encode()
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(20)
        sock.connect(str(sock_path))
        sock.sendall(
            f"POST /v1.41{target} HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n".encode()
            + data
        )
        time.sleep(0.5)  # ten times the pause that used to stand in for the client's reading
        first = sock.recv(65536)
        rest = b""
        while not rest.endswith(b"early\n"):
            piece = sock.recv(65536)
            if not piece:
                break
            rest += piece
    return first, rest


@pytest.mark.lab_engine
@pytest.mark.parametrize("route", ["exec", "attach"])
def test_a_slow_clients_first_read_is_the_head_alone(lab_engine_session, route: str) -> None:
    """docker-py reads the 101 head through a buffered file and the output from the raw
    socket, so output that comes with the head is lost (the SDK's exec_run once returned
    nothing on a loaded machine). The lab engine sends output only once the client has read
    the head, however long it takes; dockerd only happens to be slower to start."""
    sock = Path(lab_engine_session.socket)
    pull_busybox(sock)
    name = f"lkd-{unique_token()}-slow"
    cid = run_container(sock, name, Cmd=["sh", "-c", "echo early; sleep 60"])
    try:
        _check_slow_first_read(sock, cid, route)
    finally:
        remove(sock, [name])


def _check_slow_first_read(sock: Path, cid: str, route: str) -> None:
    if route == "exec":
        status, reply = api(
            sock, "POST", f"/containers/{cid}/exec",
            {"Cmd": ["echo", "early"], "AttachStdout": True, "AttachStderr": True},
        )  # fmt: skip
        assert status == 201, reply
        first, rest = _slow_first_read(sock, f"/exec/{reply['Id']}/start", {"Detach": False})
    else:
        first, rest = _slow_first_read(
            sock, f"/containers/{cid}/attach?logs=1&stream=1&stdout=1", {}
        )
    assert first.startswith(b"HTTP/1.1 101 UPGRADED\r\n") and first.endswith(b"\r\n\r\n"), first
    assert demux(rest) == (b"early\n", b"")

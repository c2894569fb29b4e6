"""The recording proxy: it forwards bytes unchanged and reads them as HTTP exchanges.

Three levels: :class:`Conversation` fed canned bytes (no sockets), the :class:`Recorder`
in front of a tiny fake engine in this process, and the real docker CLI through the
recorder to a real dockerd and to the lab engine.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import socket
import stat
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labkit.proxy.recorder import (
    CLIENT,
    ENGINE,
    Conversation,
    Recorder,
    RecorderError,
    Transcript,
)
from labkit.wire.frames import STDERR, STDOUT, encode_frame
from labkit.wire.http import build_request, parse_response

DOCKER = shutil.which("docker")
needs_docker_cli = pytest.mark.skipif(DOCKER is None, reason="the docker CLI is not installed")

PING = b"GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n"
PONG = b"HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nContent-Length: 2\r\n\r\nOK"
HEAD_PING = b"HEAD /_ping HTTP/1.1\r\nHost: docker\r\n\r\n"
HEAD_PONG = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\n"
EVENTS = b"GET /v1.41/events?until=1 HTTP/1.1\r\nHost: docker\r\n\r\n"
EVENTS_REPLY = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    b'13\r\n{"Action":"start"}\n\r\n'
    b'12\r\n{"Action":"stop"}\n\r\n'
    b"0\r\n\r\n"
)
CREATE_BODY = json.dumps({"Image": "busybox", "Cmd": ["echo", "hi"]}).encode()
CREATE = build_request(
    "POST",
    "/v1.41/containers/create",
    [("Content-Type", "application/json")],
    CREATE_BODY,
)
CREATED = (
    b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 26\r\n\r\n"
    b'{"Id":"abc","Warnings":[]}'
)
ATTACH = (
    b"POST /v1.41/containers/abc/attach?stream=1&stdout=1&stderr=1&stdin=1 HTTP/1.1\r\n"
    b"Host: docker\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n"
)
UPGRADED = (
    b"HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\n"
    b"Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
)
FRAMES = encode_frame(STDOUT, b"hi\n") + encode_frame(STDERR, b"oops\n")


def talk(conversation: Conversation, *steps: tuple[str, bytes]) -> None:
    """Feed each (sender, bytes) in order, with times 1.0, 2.0, …"""
    for t, (sender, data) in enumerate(steps, start=1):
        conversation.feed(sender, data, float(t))


# --------------------------------------------------------------------------- canned bytes


def test_a_plain_exchange_is_read_with_its_exact_bytes() -> None:
    conv = Conversation(1)
    talk(conv, (CLIENT, PING), (ENGINE, PONG))
    [done] = conv.take_completed()
    assert (done.method, done.target, done.endpoint, done.api_version) == (
        "GET",
        "/_ping",
        "/_ping",
        None,
    )
    assert (done.status, done.reason, done.response_body) == (200, "OK", b"OK")
    assert done.response_headers["api-version"] == "1.41"
    assert (done.raw_request, done.raw_response) == (PING, PONG)
    assert done.complete and not done.problem
    assert (done.started, done.answered, done.finished) == (1.0, 2.0, 2.0)
    assert conv.take_completed() == []  # reported once


def test_keep_alive_head_then_json_post() -> None:
    """A HEAD response has no body whatever its Content-Length says; the next one follows."""
    conv = Conversation(7)
    talk(conv, (CLIENT, HEAD_PING), (ENGINE, HEAD_PONG), (CLIENT, CREATE), (ENGINE, CREATED))
    head, create = conv.exchanges
    assert (head.method, head.status, head.response_body) == ("HEAD", 200, b"")
    assert head.raw_response == HEAD_PONG
    assert create.request_json() == {"Image": "busybox", "Cmd": ["echo", "hi"]}
    assert create.response_json() == {"Id": "abc", "Warnings": []}
    assert (create.endpoint, create.api_version, create.connection) == (
        "/containers/create",
        "1.41",
        7,
    )
    assert [e.number for e in conv.exchanges] == [1, 2]


def test_chunked_response_fed_one_byte_at_a_time() -> None:
    conv = Conversation(1)
    conv.feed(CLIENT, EVENTS, 0.0)
    for i in range(len(EVENTS_REPLY)):
        conv.feed(ENGINE, EVENTS_REPLY[i : i + 1], 1.0 + i)
    [done] = conv.take_completed()
    assert done.response_body == b'{"Action":"start"}\n{"Action":"stop"}\n'
    assert done.json_lines() == [{"Action": "start"}, {"Action": "stop"}]
    assert done.raw_response == EVENTS_REPLY
    assert done.query == {"until": ["1"]}
    assert done.frames is None  # JSON, not a container stream


def test_two_requests_in_one_piece_are_both_read() -> None:
    """A pipelined second request waits (in h11) until the first one's answer is over."""
    conv = Conversation(1)
    talk(conv, (CLIENT, PING + HEAD_PING), (ENGINE, PONG + HEAD_PONG))
    first, second = conv.take_completed()
    assert (first.method, first.response_body, second.method) == ("GET", b"OK", "HEAD")
    assert (first.raw_request, second.raw_request) == (PING, HEAD_PING)
    assert (first.raw_response, second.raw_response) == (PONG, HEAD_PONG)


def test_the_101_upgrade_turns_the_connection_into_framed_streams() -> None:
    conv = Conversation(3)
    chunks = []
    for t, (sender, data) in enumerate(
        [
            (CLIENT, ATTACH),
            (ENGINE, UPGRADED + FRAMES[:5]),  # the head and the start of the stream together
            (CLIENT, b"echo hi\n"),  # stdin, not HTTP
            (ENGINE, FRAMES[5:]),
        ]
    ):
        chunks += conv.feed(sender, data, float(t))
    assert conv.upgraded
    assert conv.take_completed() == []  # not over until the connection closes
    conv.close(CLIENT, 5.0)
    conv.close(ENGINE, 6.0)
    [done] = conv.take_completed()
    assert (done.status, done.reason, done.upgraded, done.complete) == (101, "UPGRADED", True, True)
    assert (done.raw_request, done.raw_response) == (ATTACH, UPGRADED)
    assert (done.stream_in, done.stream_out) == (b"echo hi\n", FRAMES)
    assert [(f.stream, f.data) for f in done.frames] == [(STDOUT, b"hi\n"), (STDERR, b"oops\n")]
    assert done.output() == (b"hi\n", b"oops\n")
    assert [c.stream for c in chunks] == [False, False, True, True]
    assert done.finished == 6.0


def test_a_tty_stream_is_not_framed() -> None:
    conv = Conversation(1)
    talk(conv, (CLIENT, ATTACH), (ENGINE, UPGRADED + b"hi\r\n"))
    [exchange] = conv.exchanges
    assert exchange.frames is None
    assert exchange.output() == (b"hi\r\n", b"")


def test_logs_body_decodes_into_frames() -> None:
    logs = b"GET /v1.41/containers/abc/logs?stdout=1&stderr=1 HTTP/1.1\r\nHost: docker\r\n\r\n"
    reply = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.multiplexed-stream\r\n"
        b"Content-Length: %d\r\n\r\n" % len(FRAMES)
    ) + FRAMES
    conv = Conversation(1)
    talk(conv, (CLIENT, logs), (ENGINE, reply))
    [done] = conv.take_completed()
    assert done.output() == (b"hi\n", b"oops\n")


def test_logs_without_a_content_type_still_decode() -> None:
    """API 1.41 (Docker 20.10) sends logs with no Content-Type at all."""
    logs = b"GET /v1.41/containers/abc/logs?stdout=1 HTTP/1.1\r\nHost: docker\r\n\r\n"
    reply = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(FRAMES) + FRAMES
    conv = Conversation(1)
    talk(conv, (CLIENT, logs), (ENGINE, reply), (CLIENT, PING), (ENGINE, PONG))
    logs_exchange, ping_exchange = conv.take_completed()
    assert logs_exchange.output() == (b"hi\n", b"oops\n")
    assert ping_exchange.frames is None  # no type and not a stream endpoint: not decoded


def test_logs_typed_as_bytes_of_any_kind_still_decode() -> None:
    """Podman sends logs as application/octet-stream."""
    logs = b"GET /v1.41/containers/abc/logs?stdout=1 HTTP/1.1\r\nHost: docker\r\n\r\n"
    reply = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
        b"Content-Length: %d\r\n\r\n" % len(FRAMES)
    ) + FRAMES
    conv = Conversation(1)
    talk(conv, (CLIENT, logs), (ENGINE, reply))
    [done] = conv.take_completed()
    assert done.output() == (b"hi\n", b"oops\n")


def test_a_close_delimited_body_ends_when_the_engine_hangs_up() -> None:
    conv = Conversation(1)
    talk(conv, (CLIENT, PING), (ENGINE, b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nstill"))
    assert conv.take_completed() == []
    conv.feed(ENGINE, b" going", 3.0)
    conv.close(ENGINE, 4.0)
    [done] = conv.take_completed()
    assert (done.response_body, done.complete, done.finished) == (b"still going", True, 4.0)


def test_garbage_from_the_client_is_kept_and_explained_not_raised() -> None:
    conv = Conversation(1)
    chunks = conv.feed(CLIENT, b"HELLO THERE\r\n\r\n", 1.0)
    conv.feed(ENGINE, b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n", 2.0)
    conv.close(CLIENT, 3.0)
    conv.close(ENGINE, 3.0)
    assert [c.data for c in chunks] == [b"HELLO THERE\r\n\r\n"]
    assert conv.exchanges == []  # no request could be read, so no exchange


def test_a_connection_that_closes_mid_response_says_so() -> None:
    conv = Conversation(1)
    talk(conv, (CLIENT, PING), (ENGINE, b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nOK"))
    conv.close(ENGINE, 3.0)
    conv.close(CLIENT, 3.0)
    [done] = conv.take_completed()
    assert not done.complete
    assert "cut off" in done.problem
    assert done.raw_response.endswith(b"OK")


def test_a_request_with_no_answer_says_so() -> None:
    conv = Conversation(1)
    talk(conv, (CLIENT, PING))
    conv.close(CLIENT, 2.0)
    conv.close(ENGINE, 2.0)
    [done] = conv.take_completed()
    assert done.status is None
    assert "before a response arrived" in done.problem
    assert "(no answer)" in done.summary()


def test_a_chunked_request_body_is_decoded() -> None:
    request = (
        b"POST /v1.41/images/create?fromSrc=- HTTP/1.1\r\nHost: docker\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
    )
    conv = Conversation(1)
    talk(conv, (CLIENT, request), (ENGINE, PONG))
    [done] = conv.take_completed()
    assert done.request_body == b"abcde"
    assert done.raw_request == request


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_where_the_bytes_are_cut_does_not_matter(data: st.DataObject) -> None:
    """Any split of both streams gives the same exchanges as whole messages."""
    requests = HEAD_PING + CREATE + EVENTS + ATTACH
    replies = HEAD_PONG + CREATED + EVENTS_REPLY + UPGRADED + FRAMES

    def pieces(blob: bytes) -> list[bytes]:
        cuts = sorted(data.draw(st.sets(st.integers(1, len(blob) - 1), max_size=8)))
        bounds = [0, *cuts, len(blob)]
        return [blob[a:b] for a, b in itertools.pairwise(bounds)]

    conv = Conversation(1)
    for piece in pieces(requests):
        conv.feed(CLIENT, piece, 0.0)
    for piece in pieces(replies):
        conv.feed(ENGINE, piece, 1.0)
    conv.close(CLIENT, 2.0)
    conv.close(ENGINE, 2.0)
    got = conv.exchanges
    assert [(e.method, e.endpoint, e.status) for e in got] == [
        ("HEAD", "/_ping", 200),
        ("POST", "/containers/create", 201),
        ("GET", "/events", 200),
        ("POST", "/containers/abc/attach", 101),
    ]
    assert b"".join(e.raw_request for e in got) == requests
    assert b"".join(e.raw_response for e in got) + got[-1].stream_out == replies
    assert got[-1].output() == (b"hi\n", b"oops\n")
    assert all(e.complete for e in got)


def test_transcript_find_and_first() -> None:
    conv = Conversation(1)
    talk(conv, (CLIENT, HEAD_PING), (ENGINE, HEAD_PONG), (CLIENT, ATTACH), (ENGINE, UPGRADED))
    transcript = Transcript(tuple(conv.exchanges), (), 0.0)
    assert [e.method for e in transcript.find(endpoint="/_ping")] == ["HEAD"]
    assert transcript.first("post", "/containers/{id}/attach").status == 101
    with pytest.raises(LookupError, match="HEAD /_ping, POST /containers/abc/attach"):
        transcript.first("DELETE", "/containers/{id}")


# --------------------------------------------------------------------------- a fake engine


class FakeEngine:
    """A tiny engine in a thread: for each request head, the next canned reply.

    After a reply that is a 101, it sends ``after_upgrade`` and then echoes back (as
    stdout frames) whatever the client writes, until the client half-closes.
    """

    def __init__(self, folder: Path, replies: list[bytes], after_upgrade: bytes = b"") -> None:
        self.path = folder / "fake-engine.sock"
        self.replies = replies
        self.after_upgrade = after_upgrade
        self.received: list[bytes] = []
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        # Blocking, whatever socket.setdefaulttimeout() another test left set.
        self.listener.settimeout(None)
        self.listener.bind(str(self.path))
        self.listener.listen()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"unix://{self.path}"

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            conn.settimeout(None)
            with conn:
                self._answer(conn)

    def _answer(self, conn: socket.socket) -> None:
        buffer = b""
        while self.replies:
            while b"\r\n\r\n" not in buffer:
                data = conn.recv(65536)
                if not data:
                    return
                buffer += data
            head, _, buffer = buffer.partition(b"\r\n\r\n")
            self.received.append(head + b"\r\n\r\n")
            reply = self.replies.pop(0)
            conn.sendall(reply)
            if reply.startswith(b"HTTP/1.1 101"):
                conn.sendall(self.after_upgrade)
                while data := conn.recv(65536):
                    conn.sendall(encode_frame(STDOUT, data))
                return

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes accept()
        self.listener.close()
        self.thread.join(5)


@pytest.fixture
def folder() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="lkp", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def fake_engine(folder: Path) -> Iterator[Callable[..., FakeEngine]]:
    engines: list[FakeEngine] = []

    def make(replies: list[bytes], after_upgrade: bytes = b"") -> FakeEngine:
        engine = FakeEngine(folder, replies, after_upgrade)
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.close()


def recorder_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("labkit-recorder")]


def exchange_bytes(path: Path | str, data: bytes, until: bytes = b"") -> bytes:
    """Send ``data`` on a new connection to ``path``; read until ``until`` is seen or EOF."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(30)
        sock.connect(str(path))
        sock.sendall(data)
        received = b""
        while not (until and until in received):
            piece = sock.recv(65536)
            if not piece:
                break
            received += piece
        return received


def test_forwards_unchanged_and_records(fake_engine: Callable[..., FakeEngine]) -> None:
    engine = fake_engine([PONG, CREATED])
    with Recorder(engine.url) as recorder:
        got = exchange_bytes(recorder.socket_path, PING + CREATE, until=b'"Warnings":[]}')
    assert got == PONG + CREATED
    assert engine.received == [PING, CREATE[: CREATE.index(b"\r\n\r\n") + 4]]
    transcript = recorder.transcript
    assert [e.summary() for e in transcript] == [
        "#1 GET /_ping → 200 OK",
        "#2 POST /v1.41/containers/create → 201 Created",
    ]
    assert b"".join(c.data for c in transcript.chunks if c.sender == CLIENT) == PING + CREATE
    assert transcript.connections == [1]


def test_attach_through_the_recorder(fake_engine: Callable[..., FakeEngine]) -> None:
    engine = fake_engine([UPGRADED], after_upgrade=FRAMES)
    with Recorder(engine.url) as recorder, socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(10)
        sock.connect(str(recorder.socket_path))
        sock.sendall(ATTACH)
        received = b""
        while not received.endswith(FRAMES):
            received += sock.recv(65536)
        sock.sendall(b"ping\n")
        sock.shutdown(socket.SHUT_WR)  # end of stdin: the fake engine closes its side
        while piece := sock.recv(65536):
            received += piece
    assert received == UPGRADED + FRAMES + encode_frame(STDOUT, b"ping\n")
    [attach] = recorder.transcript
    assert attach.upgraded and attach.complete
    assert attach.stream_in == b"ping\n"
    assert attach.output() == (b"hi\nping\n", b"oops\n")


def test_socket_is_private_and_everything_stops(fake_engine: Callable[..., FakeEngine]) -> None:
    engine = fake_engine([PONG])
    recorder = Recorder(engine.url).start()
    path = recorder.socket_path
    assert path is not None
    assert recorder.docker_host == f"unix://{path}"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    # a client that stays connected (keep-alive) must not keep the recorder alive
    idle = socket.socket(socket.AF_UNIX)
    idle.connect(str(path))
    idle.sendall(PING)
    assert idle.recv(1024) == PONG
    transcript = recorder.stop(grace=0.1)
    idle.close()
    assert recorder_threads() == []
    assert not path.exists() and not path.parent.exists()
    assert not recorder.running
    assert [e.status for e in transcript] == [200]


def test_an_explicit_socket_path_is_0600_and_replaces_a_stale_file(
    folder: Path, fake_engine: Callable[..., FakeEngine]
) -> None:
    engine = fake_engine([PONG])
    wanted = folder / "sniff.sock"
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(wanted))
    stale.close()  # the file stays, nobody listens: stale
    with Recorder(engine.url, wanted) as recorder:
        assert recorder.socket_path == wanted
        assert stat.S_IMODE(os.stat(wanted).st_mode) == 0o600
        assert exchange_bytes(wanted, PING, until=b"\r\n\r\nOK") == PONG
    assert not wanted.exists()
    assert sorted(p.name for p in folder.iterdir()) == ["fake-engine.sock"]


def test_refuses_a_path_that_is_not_a_socket_or_is_in_use(
    folder: Path, fake_engine: Callable[..., FakeEngine]
) -> None:
    engine = fake_engine([])
    regular = folder / "notes.txt"
    regular.write_text("keep me")
    with pytest.raises(RecorderError, match="exists and is not a socket"):
        Recorder(engine.url, regular).start()
    assert regular.read_text() == "keep me"
    with pytest.raises(RecorderError, match="something already listens there"):
        Recorder(folder / "elsewhere.sock", engine.path).start()
    assert recorder_threads() == []


def test_an_unreachable_engine_gets_a_502_that_says_why(folder: Path) -> None:
    problems: list[str] = []
    with Recorder(folder / "nobody.sock", on_problem=problems.append) as recorder:
        reply = parse_response(exchange_bytes(recorder.socket_path, PING))
    assert reply.status == 502
    assert "cannot reach the engine" in reply.json()["message"]
    assert "nobody.sock" in reply.json()["message"]
    assert problems == list(recorder.transcript.problems) and len(problems) == 1
    assert recorder_threads() == []


def test_callbacks_see_everything_and_a_broken_one_does_no_harm(
    fake_engine: Callable[..., FakeEngine],
) -> None:
    engine = fake_engine([PONG, PONG])
    chunks, exchanges = [], []

    def broken(_: object) -> None:
        raise RuntimeError("a bug in a callback")

    with Recorder(engine.url, on_chunk=chunks.append, on_exchange=broken) as recorder:
        assert exchange_bytes(recorder.socket_path, PING, until=b"\r\n\r\nOK") == PONG
        recorder.on_exchange = exchanges.append
        assert exchange_bytes(recorder.socket_path, PING, until=b"\r\n\r\nOK") == PONG
    assert [c.sender for c in chunks] == [CLIENT, ENGINE, CLIENT, ENGINE]
    assert [e.connection for e in exchanges] == [2]
    assert [str(e) for e in recorder.callback_errors] == ["a bug in a callback"]


def test_clear_forgets_and_wait_idle_waits(fake_engine: Callable[..., FakeEngine]) -> None:
    engine = fake_engine([PONG, HEAD_PONG])
    with Recorder(engine.url) as recorder, socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(10)
        sock.connect(str(recorder.socket_path))
        sock.sendall(PING)
        assert sock.recv(1024) == PONG
        recorder.clear()  # the connection stays open: what it sends next is kept
        assert (len(recorder.transcript), recorder.transcript.chunks) == (0, ())
        sock.sendall(HEAD_PING)
        assert sock.recv(1024) == HEAD_PONG
        assert not recorder.wait_idle(timeout=0.05)  # still connected
        sock.close()
        assert recorder.wait_idle(timeout=10)
        [head] = recorder.transcript
    assert (head.method, head.number, head.complete) == ("HEAD", 2, True)


def test_keep_false_hands_everything_to_callbacks_and_keeps_nothing(
    fake_engine: Callable[..., FakeEngine],
) -> None:
    engine = fake_engine([PONG])
    seen = []
    with Recorder(engine.url, on_exchange=seen.append, keep=False) as recorder:
        assert exchange_bytes(recorder.socket_path, PING, until=b"\r\n\r\nOK") == PONG
        assert recorder.wait_idle(timeout=10)
    assert [e.summary() for e in seen] == ["#1 GET /_ping → 200 OK"]
    assert (len(recorder.transcript), recorder.transcript.chunks) == (0, ())
    assert recorder.connections_opened == 1


def test_also_listens_on_loopback_tcp_with_tls_only(
    fake_engine: Callable[..., FakeEngine], folder: Path
) -> None:
    """TCP on 127.0.0.1 is reachable by every user: only with client certificates."""
    from labkit.transport import tlscerts
    from labkit.transport.connect import tls_context
    from labkit.transport.hosts import TLSConfig

    engine = fake_engine([PONG])
    with pytest.raises(RecorderError, match="without TLS client verification"):
        Recorder(engine.url, tcp_port=0).start()
    bundle = tlscerts.write_bundle(folder / "tls")
    server = tlscerts.server_context(bundle.ca, bundle.server_cert, bundle.server_key)
    client = tls_context(TLSConfig(bundle.ca, bundle.client_cert, bundle.client_key))
    with Recorder(engine.url, tcp_port=0, tls=server) as recorder:
        host, port = recorder.tcp_address
        assert host == "127.0.0.1"
        assert recorder.tcp_url == f"tcp://127.0.0.1:{port}"
        with (
            socket.create_connection((host, port), timeout=10) as raw,
            client.wrap_socket(raw, server_hostname="127.0.0.1") as sock,
        ):
            sock.sendall(PING)
            assert sock.recv(1024) == PONG
    assert recorder.tcp_address is not None
    assert recorder_threads() == []


def test_refuses_to_forward_to_itself(folder: Path) -> None:
    path = folder / "loop.sock"
    with pytest.raises(RecorderError, match="its own socket"):
        Recorder(path, path).start()
    assert not path.exists()


# --------------------------------------------------------------------------- real engines


def _docker(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    assert DOCKER is not None
    return subprocess.run(
        [DOCKER, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def _cli_env(docker_host: str, folder: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    config = folder / "docker-config"
    config.mkdir(exist_ok=True)
    return {**env, "DOCKER_HOST": docker_host, "DOCKER_CONFIG": str(config)}


def _without_date(raw: bytes) -> bytes:
    return b"\r\n".join(line for line in raw.split(b"\r\n") if not line.startswith(b"Date:"))


@pytest.mark.real_engine
def test_same_answer_direct_and_through_the_recorder(real_engine_socket: Path) -> None:
    request = build_request("GET", "/version", [("Connection", "close")])
    direct = exchange_bytes(real_engine_socket, request)
    with Recorder(real_engine_socket) as recorder:
        proxied = exchange_bytes(recorder.socket_path, request)
    assert _without_date(proxied) == _without_date(direct)
    assert parse_response(proxied).json()["ApiVersion"]
    [exchange] = recorder.transcript
    assert exchange.raw_response == proxied


@pytest.mark.real_engine
@needs_docker_cli
def test_docker_cli_through_the_recorder_to_a_real_engine(
    each_real_engine_url: str, folder: Path
) -> None:
    from labkit.client.http import Client
    from labkit.client.provision import provision

    url = each_real_engine_url
    provision(Client(url), ["busybox"])  # present, unless a test just removed it
    name = f"lk-rec-{os.getpid()}-{folder.name[-6:]}"
    with Recorder(url) as recorder:
        env = _cli_env(recorder.docker_host, folder)
        version = _docker(env, "version")
        run = _docker(env, "run", "--rm", "busybox", "sh", "-c", "echo hi; echo err >&2")
        kept = _docker(env, "run", "--name", name, "busybox", "sh", "-c", "echo out; echo e >&2")
        logs = _docker(env, "logs", name)
        _docker(env, "rm", "-f", name)
    assert version.returncode == 0, version.stderr
    assert "Server:" in version.stdout
    assert (run.returncode, run.stdout, run.stderr) == (0, "hi\n", "err\n")
    assert (kept.returncode, logs.returncode) == (0, 0), kept.stderr + logs.stderr
    # dockerd 20.10 sends logs with no Content-Type, Podman as application/octet-stream
    assert recorder.transcript.first("GET", "/containers/{id}/logs").output() == (
        b"out\n",
        b"e\n",
    )
    transcript = recorder.transcript
    assert transcript.first("HEAD", "/_ping").status == 200
    assert transcript.first("GET", "/version").status == 200
    create = transcript.first("POST", "/containers/create")
    assert create.request_json()["Cmd"] == ["sh", "-c", "echo hi; echo err >&2"]
    attach = transcript.first("POST", "/containers/{id}/attach")
    assert attach.status == 101 and attach.upgraded
    assert attach.output() == (b"hi\n", b"err\n")
    assert transcript.first("POST", "/containers/{id}/wait").status == 200
    assert transcript.first("POST", "/containers/{id}/start").status == 204
    assert all(e.complete for e in transcript), transcript.text()
    assert recorder_threads() == []


@pytest.mark.lab_engine
@needs_docker_cli
def test_docker_run_through_the_recorder_to_the_lab_engine(lab_engine, folder: Path) -> None:
    from labkit.client.http import Client
    from labkit.client.provision import provision

    provision(Client(lab_engine.url), ["busybox"])
    with Recorder(lab_engine.url) as recorder:
        run = _docker(
            _cli_env(recorder.docker_host, folder), "run", "--rm", "busybox", "echo", "hi"
        )
    assert (run.returncode, run.stdout) == (0, "hi\n"), run.stderr
    attach = recorder.transcript.first("POST", "/containers/{id}/attach")
    assert [(f.stream, f.data) for f in attach.frames] == [(STDOUT, b"hi\n")]

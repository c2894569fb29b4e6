"""The lab engine's HTTP server, router and system routes.

Most tests serve an :class:`App` with dummy routes in this process (``serve_app``)
and talk to it with raw bytes, so that what is checked is what is on the wire.
A few compare with a real dockerd, and a few run the real docker CLI and SDK.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labkit.engine import identity
from labkit.engine.api import system
from labkit.engine.app import API_MODULES, App, version_refused
from labkit.engine.replies import (
    RAW_STREAM_TYPE,
    ApiError,
    EmptyReply,
    HijackReply,
    JSONReply,
    RawReply,
    Request,
    StreamReply,
)
from labkit.engine.router import (
    RouteError,
    Router,
    compare_versions,
    compile_pattern,
    split_version,
    version_error,
)
from labkit.engine.server import Incoming, Limits, bind_unix, encode_json, http_date

GO_DATE = re.compile(
    r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$"
)
STANDARD = {"api-version", "docker-experimental", "ostype", "server"}


# ---------------------------------------------------------------- a small raw client
@dataclass
class Response:
    status: int
    reason: str
    version: str
    headers: list[tuple[str, str]]
    body: bytes = b""
    chunks: list[bytes] = field(default_factory=list)

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def json(self) -> object:
        return json.loads(self.body)


class Raw:
    """A byte-level HTTP client on one Unix socket connection."""

    def __init__(self, path: Path, timeout: float = 10.0) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(str(path))
        self.buf = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def request(self, method: str, target: str, body: bytes = b"", headers: str = "") -> None:
        head = f"{method} {target} HTTP/1.1\r\nHost: docker\r\n{headers}"
        if body:
            head += f"Content-Length: {len(body)}\r\n"
        self.send(head.encode() + b"\r\n" + body)

    def _fill(self) -> bool:
        data = self.sock.recv(65536)
        if not data:
            return False
        self.buf += data
        return True

    def read_until(self, marker: bytes) -> bytes:
        while marker not in self.buf:
            if not self._fill():
                raise EOFError(f"connection closed before {marker!r}; got {self.buf!r}")
        i = self.buf.index(marker) + len(marker)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def read_exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            if not self._fill():
                raise EOFError(f"connection closed after {len(self.buf)} of {n} bytes")
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_to_eof(self) -> bytes:
        while self._fill():
            pass
        out, self.buf = self.buf, b""
        return out

    def read_head(self) -> Response:
        head = self.read_until(b"\r\n\r\n").decode("latin-1")
        lines = head.split("\r\n")[:-2]
        version, status, reason = ([*lines[0].split(" ", 2), ""])[:3]
        headers = [tuple(line.split(": ", 1)) for line in lines[1:]]
        return Response(int(status), reason, version, headers)  # type: ignore[arg-type]

    def read_chunk(self) -> bytes:
        size = int(self.read_until(b"\r\n")[:-2], 16)
        data = self.read_exact(size)
        assert self.read_exact(2) == b"\r\n"
        return data

    def response(self, head_only: bool = False) -> Response:
        resp = self.read_head()
        if head_only:
            return resp
        length = resp.header("Content-Length")
        if resp.header("Transfer-Encoding") == "chunked":
            while True:
                chunk = self.read_chunk()
                if not chunk:
                    break
                resp.chunks.append(chunk)
            resp.body = b"".join(resp.chunks)
        elif length is not None:
            resp.body = self.read_exact(int(length))
        elif resp.status not in (204, 304):
            resp.body = self.read_to_eof()
        return resp

    def closed_by_server(self) -> bool:
        try:
            return self.sock.recv(1) == b""
        except (ConnectionResetError, BrokenPipeError):
            return True

    def close(self) -> None:
        self.sock.close()


def get(
    path: Path, target: str, method: str = "GET", body: bytes = b"", headers: str = ""
) -> Response:
    c = Raw(path)
    try:
        c.request(method, target, body, headers + "Connection: close\r\n")
        return c.response(head_only=method == "HEAD")
    finally:
        c.close()


def get_raw(path: Path, data: bytes) -> Response:
    """Send ``data`` as it is on a new connection; the first response."""
    c = Raw(path)
    try:
        c.send(data)
        return c.response()
    finally:
        c.close()


def wait_for(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


# ---------------------------------------------------------------- dummy routes
class Probe:
    """What the dummy handlers saw and held, shared with the test (across threads)."""

    def __init__(self) -> None:
        self.freed = threading.Event()
        self.session_ended = threading.Event()
        self.session_cancelled = threading.Event()
        self.seen: list[Request] = []
        self.stdin = b""
        self.release: asyncio.Event | None = None


def dummy_routes(probe: Probe) -> list[tuple[str, str, object]]:
    async def echo(req: Request) -> JSONReply:
        probe.seen.append(req)
        return JSONReply(
            {
                "method": req.method,
                "path": req.path,
                "version": req.api_version,
                "query": {name: list(values) for name, values in req.query.items()},
                "body": req.body.decode("latin-1"),
            }
        )

    async def item(req: Request, name: str) -> JSONReply:
        return JSONReply({"name": name, "route": "item"})

    async def image(req: Request, name: str) -> JSONReply:
        return JSONReply({"name": name, "route": "image"})

    async def parse(req: Request) -> JSONReply:
        data = req.json()
        if not isinstance(data, dict):
            raise ApiError(400, "expected a JSON object")
        return JSONReply(data, 201)

    async def boom(req: Request) -> JSONReply:
        raise RuntimeError("the handler tripped")

    async def bogus(req: Request) -> object:
        return "not a reply"

    async def empty(req: Request) -> EmptyReply:
        return EmptyReply()

    async def follow(req: Request) -> StreamReply:
        count = req.int_arg("count", 3)

        async def pieces() -> AsyncIterator[bytes]:
            try:
                yield b'{"n":0}\n'
                probe.release = asyncio.Event()
                for n in range(1, count):
                    await probe.release.wait()
                    probe.release.clear()
                    yield b'{"n":%d}\n' % n
                    if n == count - 1:
                        return
                await asyncio.Event().wait()
            finally:
                probe.freed.set()

        return StreamReply(pieces())

    async def release(req: Request) -> EmptyReply:
        if probe.release is not None:
            probe.release.set()
        return EmptyReply()

    async def wait(req: Request, **params: str) -> StreamReply:
        """Like dockerd's wait: headers now, the body when the 'container' exits (never here)."""

        async def pieces() -> AsyncIterator[bytes]:
            try:
                await asyncio.Event().wait()
                yield b"{}"
            finally:
                probe.freed.set()

        return StreamReply(pieces())

    async def attach(req: Request, **params: str) -> HijackReply:
        probe.seen.append(req)

        async def session(conn) -> None:
            try:
                conn.write(b"hello\n")
                await conn.drain()
                while True:
                    data = await conn.read()
                    if not data:
                        break
                    probe.stdin += data
                    conn.write(data.upper())
                    await conn.drain()
                # stdin closed: output keeps flowing after the client's half-close
                conn.write(b"bye\n")
                await conn.drain()
            except asyncio.CancelledError:
                probe.session_cancelled.set()
                raise
            finally:
                probe.session_ended.set()

        return HijackReply(RAW_STREAM_TYPE, session)

    async def flood(req: Request) -> HijackReply:
        total = req.int_arg("bytes", 1 << 20)

        async def session(conn) -> None:
            piece = b"x" * 65536
            sent = 0
            while sent < total:
                conn.write(piece[: total - sent])
                sent += min(len(piece), total - sent)
                await conn.drain()

        return HijackReply(RAW_STREAM_TYPE, session)

    async def hold(req: Request) -> HijackReply:
        """Like a running container: reads stdin to its end, then keeps printing."""

        async def session(conn) -> None:
            try:
                while await conn.read():
                    pass
                while True:
                    conn.write(b"tick\n")
                    await conn.drain()
                    await asyncio.sleep(0.01)
            except asyncio.CancelledError:
                probe.session_cancelled.set()
                raise
            finally:
                probe.session_ended.set()

        return HijackReply(RAW_STREAM_TYPE, session)

    return [
        ("GET", "/echo", echo),
        ("POST", "/echo", echo),
        ("GET", "/items/{name}/json", item),
        ("GET", "/images/{name*}/json", image),
        ("POST", "/parse", parse),
        ("GET", "/boom", boom),
        ("GET", "/bogus", bogus),
        ("POST", "/empty", empty),
        ("GET", "/follow", follow),
        ("POST", "/release", release),
        ("POST", "/containers/{id}/wait", wait),
        ("POST", "/containers/{id}/attach", attach),
        ("POST", "/exec/{id}/start", attach),
        ("POST", "/flood", flood),
        ("POST", "/hold", hold),
    ]


def make_app(probe: Probe) -> App:
    app = App()
    app.add_module("system", system.ROUTES)
    app.add_module("dummy", dummy_routes(probe))
    return app


@pytest.fixture
def probe() -> Probe:
    return Probe()


@pytest.fixture(params=["asyncio", "uvloop"])
def loop_name(request: pytest.FixtureRequest) -> str:
    """The engine runs on uvloop where it can and on asyncio's loop elsewhere: test both."""
    return request.param


@pytest.fixture
def served(serve_app, probe: Probe, loop_name: str):
    return serve_app(make_app(probe), loop=loop_name)


@pytest.fixture
def sock(served) -> Path:
    return served.socket


def assert_alive(path: Path) -> None:
    """The server still answers a fresh connection."""
    assert get(path, "/_ping").body == b"OK"


# ---------------------------------------------------------------- router
def test_patterns_compile_to_segments_and_greedy_values() -> None:
    regex, names = compile_pattern("/containers/{id}/json")
    assert names == ("id",)
    assert regex.match("/containers/abc/json")
    assert not regex.match("/containers/a/b/json")
    regex, names = compile_pattern("/images/{name*}/json")
    assert regex.match("/images/library/busybox:latest/json").group(1) == "library/busybox:latest"
    assert compile_pattern("/_ping") == (None, ())


@pytest.mark.parametrize("bad", ["no-slash", "/a/{x}/{x}", "/a/{x"])
def test_bad_patterns_are_refused(bad: str) -> None:
    with pytest.raises(RouteError):
        compile_pattern(bad)


def test_static_routes_win_and_methods_must_match() -> None:
    async def h(req: Request, **kw: str) -> EmptyReply:
        return EmptyReply()

    r = Router()
    r.add("GET", "/images/{name*}/json", h)
    r.add("GET", "/images/json", h)
    r.add("DELETE", "/images/{name*}", h)
    assert r.match("GET", "/images/json").params == {}
    assert r.match("GET", "/images/a/b:c/json").params == {"name": "a/b:c"}
    assert r.match("DELETE", "/images/library/busybox").params == {"name": "library/busybox"}
    assert r.match("POST", "/images/json") is None
    assert r.match("GET", "/nope") is None


def test_version_prefix_split() -> None:
    assert split_version("/v1.51/containers/json") == ("1.51", "/containers/json")
    assert split_version("/v1/_ping") == ("1", "/_ping")
    assert split_version("/volumes") == (None, "/volumes")
    assert split_version("/vabc/_ping") == (None, "/vabc/_ping")


def test_versions_compare_number_by_number() -> None:
    assert compare_versions("1.9", "1.24") < 0
    assert compare_versions("1.51", "1.51") == 0
    assert compare_versions("1.100", "1.51") > 0
    assert compare_versions("2", "1.51") > 0


def test_version_messages_are_dockerds() -> None:
    assert version_error("1.99", "1.24", "1.51") == (
        "client version 1.99 is too new. Maximum supported API version is 1.51"
    )
    assert version_error("1.12", "1.24", "1.51") == (
        "client version 1.12 is too old. Minimum supported API version is 1.24, "
        "please upgrade your client to a newer version"
    )
    assert version_error("1.41", "1.24", "1.51") is None
    too_old = version_refused("1.12")
    assert isinstance(too_old, RawReply) and too_old.content_type.startswith("text/plain")
    too_new = version_refused("1.99")
    assert isinstance(too_new, JSONReply) and too_new.status == 400


def test_query_strings_are_parsed_once_and_shared_read_only() -> None:
    from labkit.engine.app import parse_query

    query = parse_query("all=1&label=a&label=b&size=&x=%2Fy")
    assert dict(query) == {"all": ("1",), "label": ("a", "b"), "size": ("",), "x": ("/y",)}
    assert parse_query("all=1&label=a&label=b&size=&x=%2Fy") is query  # cached
    with pytest.raises(TypeError):
        query["all"] = ("0",)  # type: ignore[index]
    req = Request("GET", "/containers/json", None, query=query)
    assert req.arg("label") == "b" and req.args("label") == ["a", "b"]
    assert req.flag("all") and not req.flag("size")


def test_json_is_compact_with_a_newline_like_go() -> None:
    assert encode_json({"a": [1, "é"]}) == '{"a":[1,"é"]}\n'.encode()


def test_http_date_is_gos_format() -> None:
    assert http_date(0) == "Thu, 01 Jan 1970 00:00:00 GMT"
    assert GO_DATE.match(http_date())


# ---------------------------------------------------------------- the app without a socket
def respond(app: App, method: str, target: str, body: bytes = b"") -> object:
    return asyncio.run(app.respond(Incoming(method, target, [("Host", "d")], body)))


def test_app_decodes_path_parameters_and_query(probe: Probe) -> None:
    app = make_app(probe)
    reply = respond(app, "GET", "/v1.51/images/library%2Fbusybox:latest/json")
    assert reply.obj == {"name": "library/busybox:latest", "route": "image"}
    reply = respond(app, "GET", "/echo?all=1&filters=%7B%22a%22%3A%5B%22b%22%5D%7D&x=")
    assert reply.obj["query"] == {"all": ["1"], "filters": ['{"a":["b"]}'], "x": [""]}
    assert reply.obj["version"] is None
    assert probe.seen[-1].filters() == {"a": ["b"]}


def test_app_turns_errors_into_json(probe: Probe, caplog: pytest.LogCaptureFixture) -> None:
    app = make_app(probe)
    assert respond(app, "POST", "/parse", b"{nope").status == 400
    assert respond(app, "POST", "/parse", b"[1]").obj == {"message": "expected a JSON object"}
    reply = respond(app, "GET", "/boom")
    assert reply.status == 500 and "the handler tripped" in reply.obj["message"]
    assert "the handler tripped" in caplog.text
    assert respond(app, "GET", "/nope").obj == {"message": "page not found"}
    assert respond(app, "DELETE", "/_ping").status == 404


def test_api_modules_list_the_agreed_names() -> None:
    assert API_MODULES == (
        "system",
        "info",
        "images",
        "image_builds",
        "containers",
        "archive",
        "stats",
        "exec",
        "networks",
        "volumes",
        "swarm",
    )


def test_app_skips_modules_not_written_yet(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="labkit.engine.app")
    app = App()
    app.load_modules(["system", "no_such_module_yet"])
    assert app.loaded == ["system"] and app.skipped == ["no_such_module_yet"]
    assert "not written yet" in caplog.text


def test_app_starts_without_a_model(tmp_path: Path) -> None:
    async def scenario() -> tuple[object, object]:
        app = App()
        app.start(tmp_path, modules=["system", "no_such_module_yet"])
        ping = await app.respond(Incoming("GET", "/_ping", []))
        await app.wait_ready()
        await app.close()
        return ping, app.engine

    ping, engine = asyncio.run(scenario())
    assert ping.body == b"OK"
    assert engine is None or hasattr(engine, "close")


# ---------------------------------------------------------------- ping, version, headers
def test_ping_get(sock: Path) -> None:
    r = get(sock, "/_ping")
    assert (r.status, r.body) == (200, b"OK")
    assert r.header("Content-Type") == "text/plain; charset=utf-8"
    assert r.header("Api-Version") == "1.51"
    assert r.header("Ostype") == "linux"
    assert r.header("Docker-Experimental") == "false"
    assert r.header("Server").startswith("labkit/")
    assert r.header("Builder-Version") in ("1", "2")
    assert r.header("Cache-Control") == "no-cache, no-store, must-revalidate"
    assert r.header("Pragma") == "no-cache"
    assert GO_DATE.match(r.header("Date"))


def test_ping_head_has_headers_and_no_body(sock: Path) -> None:
    c = Raw(sock)
    c.request("HEAD", "/_ping")
    r = c.response(head_only=True)
    assert r.status == 200 and r.header("Content-Length") == "0"
    assert r.header("Builder-Version") and r.header("Pragma") == "no-cache"
    c.request("GET", "/_ping")  # the connection goes on: no stray body bytes came first
    assert c.response().body == b"OK"
    c.close()


def test_version_is_shaped_like_dockerds(sock: Path) -> None:
    r = get(sock, "/v1.51/version")
    assert r.header("Content-Type") == "application/json"
    body = r.json()
    assert body["Platform"]["Name"] == "labkit lab engine"
    assert body["ApiVersion"] == "1.51" and body["MinAPIVersion"] == "1.24"
    engine = next(c for c in body["Components"] if c["Name"] == "Engine")
    assert engine["Details"]["ApiVersion"] == "1.51"
    for key in ("Version", "GitCommit", "GoVersion", "Os", "Arch", "KernelVersion", "BuildTime"):
        assert body[key], key


def test_every_route_answers_versioned_and_not(sock: Path) -> None:
    assert get(sock, "/echo").json()["version"] is None
    assert get(sock, "/v1.24/echo").json()["version"] == "1.24"
    assert get(sock, "/v1.51/echo").json()["path"] == "/echo"


def test_version_too_new_and_too_old(sock: Path) -> None:
    r = get(sock, "/v1.99/_ping")
    assert r.status == 400
    assert r.header("Content-Type") == "application/json"
    assert r.json() == {
        "message": "client version 1.99 is too new. Maximum supported API version is 1.51"
    }
    r = get(sock, "/v1.12/version")
    assert r.status == 400
    assert r.body.decode().strip() == (
        "client version 1.12 is too old. Minimum supported API version is 1.24, "
        "please upgrade your client to a newer version"
    )


@pytest.mark.parametrize(
    ("method", "target"),
    [("GET", "/nope"), ("GET", "/v1.51/nope"), ("DELETE", "/_ping"), ("POST", "/version")],
)
def test_unknown_route_or_method_is_page_not_found(sock: Path, method: str, target: str) -> None:
    r = get(sock, target, method)
    assert r.status == 404
    assert r.header("Content-Type") == "application/json"
    assert r.body == b'{"message":"page not found"}\n'
    # every API response carries the engine's headers, this one too (dockerd's router omits them)
    assert {k.lower() for k, _ in r.headers} >= STANDARD


def test_options_is_an_empty_200(sock: Path) -> None:
    r = get(sock, "/containers/json", "OPTIONS")
    assert (r.status, r.body, r.header("Content-Length")) == (200, b"", "0")


def test_empty_reply_is_a_204_without_length(sock: Path) -> None:
    r = get(sock, "/empty", "POST")
    assert r.status == 204 and r.header("Content-Length") is None


# ---------------------------------------------------------------- keep-alive and bodies
def test_keep_alive_serves_many_requests_on_one_connection(sock: Path) -> None:
    c = Raw(sock)
    for i in range(50):
        c.request("GET", f"/echo?i={i}")
        r = c.response()
        assert r.json()["query"] == {"i": [str(i)]}
        assert r.header("Connection") is None
    c.close()


def test_pipelined_requests_are_answered_in_order(sock: Path) -> None:
    c = Raw(sock)
    batch = (
        b"".join(b"GET /echo?i=%d HTTP/1.1\r\nHost: d\r\n\r\n" % i for i in range(40))
        + b"POST /echo HTTP/1.1\r\nHost: d\r\nContent-Length: 3\r\n\r\nabc"
    )
    c.send(batch)
    for i in range(40):
        assert c.response().json()["query"] == {"i": [str(i)]}
    assert c.response().json()["body"] == "abc"
    c.close()


def test_content_length_body(sock: Path) -> None:
    body = json.dumps({"Image": "busybox", "Cmd": ["echo", "hi"]}).encode()
    r = get(sock, "/parse", "POST", body, "Content-Type: application/json\r\n")
    assert r.status == 201 and r.json() == json.loads(body)


def test_chunked_body_in_pieces(sock: Path) -> None:
    c = Raw(sock)
    c.send(b"POST /echo HTTP/1.1\r\nHost: d\r\nTransfer-Encoding: chunked\r\n\r\n")
    for piece in (b"5\r\nhello\r\n", b"1", b"\r\n \r\n6\r\nworld!", b"\r\n0\r\n\r\n"):
        c.send(piece)
        time.sleep(0.01)
    assert c.response().json()["body"] == "hello world!"
    c.close()


def test_http_10_gets_a_10_answer_and_a_close(sock: Path) -> None:
    c = Raw(sock)
    c.send(b"GET /_ping HTTP/1.0\r\n\r\n")
    r = c.response()
    assert r.version == "HTTP/1.0" and r.body == b"OK"
    assert c.closed_by_server()
    c.close()


def test_connection_close_is_honoured(sock: Path) -> None:
    c = Raw(sock)
    c.request("GET", "/_ping", headers="Connection: close\r\n")
    r = c.response()
    assert r.header("Connection") == "close"
    assert c.closed_by_server()
    c.close()


def test_half_closed_client_still_gets_its_answer(sock: Path) -> None:
    c = Raw(sock)
    c.request("GET", "/_ping")
    c.sock.shutdown(socket.SHUT_WR)
    assert c.response().body == b"OK"
    assert c.closed_by_server()
    c.close()


# ---------------------------------------------------------------- streams
def test_stream_pieces_arrive_as_they_are_made(sock: Path, probe: Probe) -> None:
    c = Raw(sock)
    c.request("GET", "/follow?count=3")
    head = c.read_head()
    assert head.status == 200 and head.header("Transfer-Encoding") == "chunked"
    assert head.header("Content-Type") == "application/json"
    assert c.read_chunk() == b'{"n":0}\n'  # before the handler is told to go on
    get(sock, "/release", "POST")
    assert c.read_chunk() == b'{"n":1}\n'
    get(sock, "/release", "POST")
    assert c.read_chunk() == b'{"n":2}\n'
    assert c.read_chunk() == b""  # the last chunk
    assert probe.freed.wait(5)
    c.request("GET", "/_ping")  # and the connection is kept
    assert c.response().body == b"OK"
    c.close()


def test_a_follow_stream_does_not_hold_up_other_calls(sock: Path, probe: Probe) -> None:
    c = Raw(sock)
    c.request("GET", "/follow?count=1000")
    c.read_head()
    assert c.read_chunk() == b'{"n":0}\n'
    for i in range(30):
        assert get(sock, f"/echo?i={i}").status == 200
    assert not probe.freed.is_set()
    c.close()
    assert probe.freed.wait(5)


def test_client_leaving_a_stream_frees_it(sock: Path, probe: Probe) -> None:
    c = Raw(sock)
    c.request("GET", "/follow?count=1000")
    c.read_head()
    c.read_chunk()
    c.close()
    assert probe.freed.wait(5), "the stream's iterator was not closed after the client left"
    assert_alive(sock)


def test_docker_run_detached_hanging_up_on_wait_frees_it(sock: Path, probe: Probe) -> None:
    """`docker run -d` opens /wait, gets the headers, and hangs up."""
    c = Raw(sock)
    c.request("POST", "/v1.51/containers/abc/wait?condition=next-exit")
    assert c.read_head().status == 200  # headers at once, before any body
    c.close()
    assert probe.freed.wait(5)


def test_server_close_cancels_streams(serve_app, probe: Probe, loop_name: str) -> None:
    served = serve_app(make_app(probe), loop=loop_name)
    c = Raw(served.socket)
    c.request("GET", "/follow?count=1000")
    c.read_head()
    served.call(served.server.close)
    assert probe.freed.wait(5)
    c.close()


# ---------------------------------------------------------------- hijack
UPGRADE = "Connection: Upgrade\r\nUpgrade: tcp\r\n"


def test_hijack_upgrade_then_raw_two_way_stream(sock: Path, probe: Probe) -> None:
    c = Raw(sock)
    # stdin bytes right behind the head, in the same packet: they belong to the stream
    c.send(
        b"POST /v1.51/containers/abc/attach?stream=1&stdin=1&stdout=1 HTTP/1.1\r\n"
        b"Host: d\r\n" + UPGRADE.encode() + b"\r\nfirst "
    )
    head = c.read_until(b"\r\n\r\n")
    assert head.startswith(
        b"HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\n"
        b"Connection: Upgrade\r\nUpgrade: tcp\r\n"
    )
    assert b"Api-Version: 1.51\r\n" in head and b"Ostype: linux\r\n" in head
    assert c.read_exact(6) == b"hello\n"
    assert c.read_exact(6) == b"FIRST "
    c.send(b"second")
    assert c.read_exact(6) == b"SECOND"
    c.sock.shutdown(socket.SHUT_WR)  # what the CLI does after stdin's EOF
    assert c.read_to_eof() == b"bye\n"  # output flows after the half-close, then the end
    assert probe.stdin == b"first second"
    assert probe.session_ended.wait(5) and not probe.session_cancelled.is_set()
    c.close()


def test_hijack_reads_an_exec_start_body_before_the_stream(sock: Path, probe: Probe) -> None:
    body = b'{"Detach":false,"Tty":false}'
    c = Raw(sock)
    c.send(
        b"POST /exec/e1/start HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\n"
        + UPGRADE.encode()
        + b"Content-Length: %d\r\n\r\n" % len(body)
        + body[:10]
    )
    time.sleep(0.05)
    c.send(body[10:] + b"in")
    c.read_until(b"\r\n\r\n")
    assert c.read_exact(6) == b"hello\n"
    assert c.read_exact(2) == b"IN"
    c.sock.shutdown(socket.SHUT_WR)
    assert c.read_to_eof() == b"bye\n"
    assert probe.seen[-1].json() == {"Detach": False, "Tty": False}
    c.close()


def test_hijack_body_cut_short_is_a_400(sock: Path) -> None:
    c = Raw(sock)
    c.send(b"POST /exec/e1/start HTTP/1.1\r\nHost: d\r\n" + UPGRADE.encode())
    c.send(b"Content-Length: 10\r\n\r\n{}")
    c.sock.shutdown(socket.SHUT_WR)
    r = c.response()
    assert_go_refusal(r, 400)
    c.close()
    assert_alive(sock)


def test_hijack_without_upgrade_is_a_200_raw_stream(sock: Path) -> None:
    c = Raw(sock)
    c.request("POST", "/containers/abc/attach?stream=1")
    head = c.read_head()
    assert head.status == 200
    assert head.header("Content-Type") == RAW_STREAM_TYPE
    assert head.header("Content-Length") is None
    assert c.read_exact(6) == b"hello\n"
    c.send(b"x")
    assert c.read_exact(1) == b"X"
    c.sock.shutdown(socket.SHUT_WR)
    assert c.read_to_eof() == b"bye\n"
    c.close()


def test_hijack_client_leaving_ends_the_session(sock: Path, probe: Probe) -> None:
    c = Raw(sock)
    c.request("POST", "/hold", headers=UPGRADE)
    assert c.read_head().status == 101
    c.sock.close()  # gone for good: the next write fails and the session is told
    assert probe.session_ended.wait(5), "the session outlived its client"
    assert_alive(sock)


def test_hijack_back_pressure_delivers_everything(sock: Path) -> None:
    total = 16 << 20
    c = Raw(sock, timeout=30)
    c.request("POST", f"/flood?bytes={total}", headers=UPGRADE)
    assert c.read_head().status == 101
    got, c.buf = len(c.buf), b""
    while got < total:
        data = c.sock.recv(1 << 16)
        assert data
        got += len(data)
        if got < (1 << 20):
            time.sleep(0.001)  # a slow reader at first: the server must wait, not buffer
    assert got == total
    assert c.read_to_eof() == b""
    c.close()


def test_upgrade_on_an_ordinary_route_answers_then_closes(sock: Path) -> None:
    c = Raw(sock)
    c.request("GET", "/_ping", headers=UPGRADE)
    assert c.response().body == b"OK"
    assert c.closed_by_server()
    c.close()


# ---------------------------------------------------------------- robustness
def test_200_concurrent_connections(sock: Path) -> None:
    results: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    conns = [Raw(sock) for _ in range(200)]  # all open at once

    def one(i: int) -> None:
        try:
            conns[i].request("GET", f"/echo?i={i}")
            r = conns[i].response()
            with lock:
                results.append(int(r.json()["query"]["i"][0]))
        except BaseException as exc:
            with lock:
                errors.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(200)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    for c in conns:
        c.close()
    assert not errors
    assert sorted(results) == list(range(200))


def test_a_stalled_client_blocks_no_one(sock: Path) -> None:
    stalled = Raw(sock)
    stalled.send(b"GET /_ping HTTP/1.1\r\nHo")  # half a header, then nothing
    half_body = Raw(sock)
    half_body.send(b"POST /echo HTTP/1.1\r\nHost: d\r\nContent-Length: 100\r\n\r\nabc")
    for _ in range(20):
        assert_alive(sock)
    stalled.send(b"st: d\r\n\r\n")  # and it is served when it goes on
    assert stalled.response().body == b"OK"
    stalled.close()
    half_body.close()


class Refusals(logging.Handler):
    """What the server logged about the requests it refused: the explanation that Go's
    plain-text reply leaves out (what was wrong, and where)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if text.startswith("refused a request"):
            self.messages.append(text)

    def last(self) -> str:
        assert wait_for(lambda: bool(self.messages)), "the server logged no refusal"
        return self.messages[-1]


@pytest.fixture
def refusals() -> Iterator[Refusals]:
    logger = logging.getLogger("labkit.engine.server")
    handler, level = Refusals(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


def go_text(status: int, detail: str | None = None) -> str:
    return f"{status} {HTTPStatus(status).phrase}" + (f": {detail}" if detail else "")


def assert_go_refusal(r: Response, status: int, detail: str | None = None) -> None:
    """The reply is the one Go's net/http writes: HTTP/1.1, plain text, no length, close."""
    text = go_text(status, detail)
    assert (r.version, r.status, r.reason) == ("HTTP/1.1", status, text.split(" ", 1)[1]), r
    assert r.header("Content-Type") == "text/plain; charset=utf-8"
    assert r.header("Connection") == "close"
    assert r.header("Content-Length") is None
    assert r.body == text.encode(), r.body


def assert_refused(
    sock: Path, data: bytes, status: int = 400, detail: str | None = None
) -> Response:
    c = Raw(sock)
    with contextlib.suppress(BrokenPipeError):
        c.send(data)
    r = c.response()
    assert_go_refusal(r, status, detail)
    assert c.closed_by_server()
    c.close()
    assert_alive(sock)
    return r


@pytest.mark.parametrize(
    ("data", "detail", "words"),
    [
        (b"GARBAGE\r\n\r\n", None, "malformed HTTP request"),
        (b"GET /_ping HTTP/1.1\r\nHost: d\r\nBad Header\r\n\r\n", None, "no colon"),
        (b"GET /_ping\r\n\r\n", None, "has no HTTP version"),
        (b"GET /_ping HTTP/12.9\r\nHost: d\r\n\r\n", None, "malformed HTTP version"),
        (
            b"POST /echo HTTP/1.1\r\nHost: d\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            None,
            "chunk",
        ),
        (b"POST /echo HTTP/1.1\r\nHost: d\r\nContent-Length: x\r\n\r\n", None, "Content-Length"),
        (b"GET /_ping HTTP/1.1\r\n\r\n", "missing required Host header", "Host"),
        (b"GET /_ping HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", None, "too many Host"),
        (b"GET /_ping HTTP/1.1\r\nHost: a b\r\n\r\n", "malformed Host header", "Host"),
        (b"GET /_ping HTTP/1.1\r\nHost: d\r\nX A: b\r\n\r\n", "invalid header name", "name"),
        (b"GET /_ping HTTP/1.1\r\nHost: d\r\nX: a\x01\r\n\r\n", "invalid header value", "value"),
    ],
)
def test_malformed_requests_get_gos_reply_and_a_close(
    sock: Path, refusals: Refusals, data: bytes, detail: str | None, words: str
) -> None:
    assert_refused(sock, data, 400, detail)
    assert words in refusals.last()  # the log says what was wrong


@pytest.mark.parametrize("coding", [b"gzip", b"identity", b"gzip, chunked"])
def test_a_transfer_coding_other_than_chunked_is_gos_501(sock: Path, coding: bytes) -> None:
    c = Raw(sock)
    c.send(b"POST /echo HTTP/1.1\r\nHost: d\r\nTransfer-Encoding: " + coding + b"\r\n\r\n")
    assert c.read_to_eof() == (
        b"HTTP/1.1 501 Not Implemented\r\nContent-Type: text/plain; charset=utf-8\r\n"
        b"Connection: close\r\n\r\nUnsupported transfer encoding"
    )
    c.close()


@pytest.mark.parametrize(
    "data",
    [
        b"GET /_ping HTTP/1.1\nHost: d\n\n",  # bare LF everywhere
        b"GET /_ping HTTP/1.1\r\nHost: d\n\r\n",  # mixed
        b"GET /_ping HTTP/1.1\nHost: d\r\n\r\n",  # only the request line's
        b"GET /_ping HTTP/1.1\r\nHost: d\r\nX-Folded: a\r\n b\r\n\r\n",  # an obsolete fold
    ],
)
def test_line_endings_and_folds_go_accepts_are_served(sock: Path, data: bytes) -> None:
    c = Raw(sock)
    c.send(data)
    assert c.response().body == b"OK"
    c.request("GET", "/_ping")  # and the connection goes on
    assert c.response().body == b"OK"
    c.close()


def test_bare_lf_requests_pipelined_and_in_pieces(sock: Path) -> None:
    c = Raw(sock)
    c.send(b"GET /_ping HTTP/1.1\nHost: d\n\nPOST /echo HTTP/1.1\nHost: d\nContent-")
    time.sleep(0.05)  # a second packet, not a timing assertion
    c.send(b"Length: 2\n\nhiGET /_pi")
    time.sleep(0.05)
    c.send(b"ng HTTP/1.1\nHost: d\n\n")
    assert c.response().body == b"OK"
    assert c.response().json()["body"] == "hi"
    assert c.response().body == b"OK"
    c.close()


def test_a_chunked_body_with_a_content_length_is_read_as_chunked(sock: Path) -> None:
    c = Raw(sock)
    c.send(
        b"POST /echo HTTP/1.1\r\nHost: d\r\nContent-Length: 99\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n"
    )
    assert c.response().json()["body"] == "hi"
    c.close()


def test_a_bad_request_after_good_ones_answers_those_first(sock: Path) -> None:
    c = Raw(sock)
    c.send(b"GET /_ping HTTP/1.1\r\nHost: d\r\n\r\nNONSENSE\r\n\r\n")
    assert c.response().body == b"OK"
    assert c.response().status == 400
    assert c.closed_by_server()
    c.close()


def test_headers_over_a_mebibyte_are_refused(sock: Path) -> None:
    # Go allows 1 MiB and 4 KiB of slack: a header just over 1 MiB still passes, as on dockerd.
    just_over = b"GET /_ping HTTP/1.1\r\nHost: d\r\nX-Big: " + b"a" * (1 << 20) + b"\r\n\r\n"
    assert get_raw(sock, just_over).body == b"OK"
    big = b"GET /_ping HTTP/1.1\r\nHost: d\r\nX-Big: " + b"a" * ((1 << 20) + 8192) + b"\r\n\r\n"
    assert_refused(sock, big, 431)
    many = (
        b"GET /_ping HTTP/1.1\r\nHost: d\r\n"
        + b"".join(b"X-%d: %s\r\n" % (i, b"b" * 1000) for i in range(1100))
        + b"\r\n"
    )
    assert_refused(sock, many, 431)


def test_a_big_head_under_the_limit_is_served_even_in_small_packets(sock: Path) -> None:
    head = (
        b"GET /echo HTTP/1.1\r\nHost: d\r\n"
        + b"".join(b"X-%d: %s\r\n" % (i, b"b" * 1000) for i in range(900))
        + b"Connection: close\r\n\r\n"
    )
    c = Raw(sock)
    for i in range(0, len(head), 16384):
        c.send(head[i : i + 16384])
    assert c.response().status == 200
    c.close()


def test_a_huge_url_or_endless_header_is_refused(sock: Path) -> None:
    huge_url = b"GET /" + b"a" * ((1 << 20) + 8192) + b" HTTP/1.1\r\nHost: d\r\n\r\n"
    assert_refused(sock, huge_url, 431)
    c = Raw(sock)
    c.send(b"GET /_ping HTTP/1.1\r\nHost: d\r\nX-Endless: ")
    sent = 0
    try:
        while sent < (4 << 20):  # the server must give up long before this
            c.send(b"z" * 65536)
            sent += 65536
    except (BrokenPipeError, ConnectionResetError):
        pass
    assert sent < (4 << 20)
    c.close()
    assert_alive(sock)


TOO_LARGE_1000 = (
    "request body too large: the lab engine accepts at most 1000 bytes (LABKIT_ENGINE_MAX_BODY)"
)


def test_body_over_the_limit_is_refused(serve_app, probe: Probe, loop_name: str) -> None:
    served = serve_app(make_app(probe), Limits(max_body=1000), loop=loop_name)
    assert_refused(
        served.socket,
        b"POST /echo HTTP/1.1\r\nHost: d\r\nContent-Length: 5000\r\n\r\n" + b"a" * 5000,
        400,
        TOO_LARGE_1000,
    )
    chunked = (
        b"POST /echo HTTP/1.1\r\nHost: d\r\nTransfer-Encoding: chunked\r\n\r\n"
        + (b"200\r\n" + b"a" * 512 + b"\r\n") * 3
        + b"0\r\n\r\n"
    )
    assert_refused(
        served.socket,
        chunked,
        400,
        TOO_LARGE_1000,
    )
    ok = get(served.socket, "/echo", "POST", b"a" * 1000)
    assert ok.status == 200


def test_handler_errors_are_500s_and_logged(sock: Path, caplog: pytest.LogCaptureFixture) -> None:
    r = get(sock, "/boom")
    assert r.status == 500
    assert r.header("Content-Type") == "application/json"
    assert "the handler tripped" in r.json()["message"]
    assert "the handler tripped" in caplog.text
    r = get(sock, "/bogus")
    assert r.status == 500 and "message" in r.json()
    assert_alive(sock)


def test_bad_json_is_the_handlers_400(sock: Path) -> None:
    r = get(sock, "/parse", "POST", b"{not json")
    assert r.status == 400 and r.json()["message"].startswith("invalid JSON")
    r = get(sock, "/parse", "POST", b'"a string"')
    assert r.status == 400 and r.json() == {"message": "expected a JSON object"}


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(junk=st.binary(min_size=1, max_size=300))
def test_random_bytes_never_break_the_server(sock: Path, junk: bytes) -> None:
    c = Raw(sock, timeout=2)
    try:
        c.send(junk + b"\r\n\r\n")
        c.sock.shutdown(socket.SHUT_WR)
        data = c.read_to_eof()
    except (ConnectionResetError, BrokenPipeError, TimeoutError):
        data = b""
    finally:
        c.close()
    if data:
        assert data.startswith(b"HTTP/1.")
    assert_alive(sock)


def test_socket_is_born_with_mode_0600() -> None:
    folder = Path(tempfile.mkdtemp(dir="/tmp"))
    path = folder / "s.sock"
    old = os.umask(0)  # even a careless umask does not widen it
    try:
        s = bind_unix(path)
    finally:
        os.umask(old)
    try:
        assert path.stat().st_mode & 0o777 == 0o600
    finally:
        s.close()
        path.unlink()
        folder.rmdir()


# ---------------------------------------------------------------- real clients, real dockerd
@pytest.mark.lab_engine
def test_docker_cli_version_against_the_lab_engine(lab_engine_session) -> None:
    out = subprocess.run(
        ["docker", "version"], env=lab_engine_session.env, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "Client:" in out.stdout and "Server: labkit lab engine" in out.stdout
    assert "API version:      1.51 (minimum version 1.24)" in out.stdout
    assert out.stderr == ""


@pytest.mark.lab_engine
def test_docker_sdk_pings_the_lab_engine(lab_engine_session) -> None:
    docker = pytest.importorskip("docker")
    client = docker.DockerClient(base_url=lab_engine_session.url, version="auto", timeout=30)
    try:
        assert client.ping() is True
        assert client.version()["Platform"]["Name"] == "labkit lab engine"
        assert client.api.api_version == "1.51"
    finally:
        client.close()


@pytest.mark.real_engine
def test_same_shapes_as_dockerd(sock: Path, real_engine_socket: Path) -> None:
    ours, theirs = get(sock, "/_ping"), get(real_engine_socket, "/_ping")
    assert ours.header("Content-Type") == theirs.header("Content-Type")
    assert {k for k, _ in theirs.headers} - {"Builder-Version", "Swarm"} <= {
        k for k, _ in ours.headers
    }
    ours_h, theirs_h = get(sock, "/_ping", "HEAD"), get(real_engine_socket, "/_ping", "HEAD")
    assert ours_h.header("Content-Length") == theirs_h.header("Content-Length") == "0"
    v_ours, v_theirs = get(sock, "/version").json(), get(real_engine_socket, "/version").json()
    assert set(v_ours) == set(v_theirs)
    engine_ours = next(c for c in v_ours["Components"] if c["Name"] == "Engine")
    engine_theirs = next(c for c in v_theirs["Components"] if c["Name"] == "Engine")
    assert set(engine_ours) == set(engine_theirs)
    assert set(engine_ours["Details"]) == set(engine_theirs["Details"])
    for target, method in (("/nope", "GET"), ("/_ping", "DELETE"), ("/v1.30/nope", "GET")):
        a, b = get(sock, target, method), get(real_engine_socket, target, method)
        assert (a.status, a.body, a.header("Content-Type")) == (
            b.status, b.body, b.header("Content-Type"),
        )  # fmt: skip
    a, b = get(sock, "/v1.99/version"), get(real_engine_socket, "/v1.99/version")
    assert a.status == b.status == 400
    assert a.header("Content-Type") == b.header("Content-Type")
    assert a.json()["message"].replace(identity.API_VERSION, "X") == b.json()["message"].replace(
        b.header("Api-Version"), "X"
    )
    a, b = get(sock, "/v1.11/version"), get(real_engine_socket, "/v1.11/version")
    assert a.status == b.status == 400
    assert a.header("Content-Type") == b.header("Content-Type")
    assert re.sub(r"\d+\.\d+", "N", a.body.decode()) == re.sub(r"\d+\.\d+", "N", b.body.decode())


# ---------------------------------------------------------------- where dockerd's Go server differs
def test_a_request_line_without_a_version_is_a_400_like_gos(sock: Path, refusals: Refusals) -> None:
    # llhttp reads "GET /_ping" as HTTP/0.9; Go's server (and so dockerd) refuses it.
    assert_refused(sock, b"GET /_ping\r\n\r\n", 400)
    assert "request line at byte 0: b'GET /_ping' has no HTTP version" in refusals.last()


@pytest.mark.parametrize("version", ["9.9", "2.0", "0.9"])
def test_http_versions_other_than_1_x_are_505(sock: Path, version: str) -> None:
    data = f"GET /_ping HTTP/{version}\r\nHost: d\r\n\r\n".encode()
    c = Raw(sock)
    c.send(data)
    assert_go_refusal(c.response(), 505, "unsupported protocol version")
    assert c.closed_by_server()
    c.close()
    assert_alive(sock)


def test_http_1_2_is_served_as_1_1_like_gos(sock: Path) -> None:
    c = Raw(sock)
    c.send(b"GET /_ping HTTP/1.2\r\nHost: d\r\n\r\nGET /_ping HTTP/1.1\r\nHost: d\r\n\r\n")
    first = c.response()
    assert (first.version, first.status, first.body) == ("HTTP/1.1", 200, b"OK")
    assert c.response().body == b"OK"  # and the connection stays open
    c.close()


@pytest.mark.parametrize(
    "pieces",
    [
        [b"get /_ping HTTP/1.1\r\nHost: d\r\n\r\n"],
        [b"FOO /echo HTTP/1.1\r\nHost: d\r\nContent-Length: 3\r\n\r\nabc"],
        [b"ge", b"t /_ping HTTP/1.1\r\nHo", b"st: d\r\n\r\n"],  # the method cut in two
        [b"GETX /_ping HTTP/1.1\r\nHost: d\r\n\r\n"],
    ],
)
def test_a_method_llhttp_does_not_know_is_a_404_on_a_kept_connection(
    sock: Path, pieces: list[bytes]
) -> None:
    # Go takes any token as a method; dockerd's router has no route for it: 404, kept open.
    c = Raw(sock)
    for piece in pieces:
        c.send(piece)
        time.sleep(0.02)  # separate packets, not a timing assertion
    r = c.response()
    assert (r.status, r.body) == (404, b'{"message":"page not found"}\n')
    assert r.header("Connection") is None
    assert {k.lower() for k, _ in r.headers} >= STANDARD  # an API 404 carries them all
    c.request("GET", "/_ping")  # the same connection goes on
    assert c.response().body == b"OK"
    c.close()


def test_a_lowercase_method_after_a_good_request_in_one_packet(sock: Path) -> None:
    c = Raw(sock)
    c.send(
        b"POST /echo HTTP/1.1\r\nHost: d\r\nContent-Length: 2\r\n\r\nhi"
        b"get /_ping HTTP/1.1\r\nHost: d\r\n\r\nGET /_ping HTTP/1.1\r\nHost: d\r\n\r\n"
    )
    assert c.response().json()["body"] == "hi"
    assert c.response().status == 404
    assert c.response().body == b"OK"
    c.close()


def test_a_method_that_is_not_a_token_is_a_400(sock: Path) -> None:
    assert_refused(sock, "gét /_ping HTTP/1.1\r\nHost: d\r\n\r\n".encode(), 400)


def test_a_malformed_request_says_which_line_and_byte(sock: Path, refusals: Refusals) -> None:
    c = Raw(sock)
    good = b"GET /_ping HTTP/1.1\r\nHost: d\r\n\r\n"
    c.send(good + b"GET /_ping HTTP/1.1\r\nHost: d\r\nBad Header\r\n\r\n")
    assert c.response().body == b"OK"
    assert_go_refusal(c.response(), 400)
    message = refusals.last()
    offset = len(good) + len(b"GET /_ping HTTP/1.1\r\nHost: d\r\n")
    assert f"bad header line 2 at byte {offset}: b'Bad Header'" in message
    assert "no colon" in message
    c.close()


def test_a_malformed_head_in_pieces_is_located_across_them(sock: Path, refusals: Refusals) -> None:
    c = Raw(sock)
    first, second = b"GET /_ping HTTP/1.1\r\nHost: d\r\n", b"X-Fine: 1\r\n"
    c.send(first)
    time.sleep(0.05)  # a second packet
    c.send(second + b"X Broken: 2\r\n\r\n")
    assert_go_refusal(c.response(), 400, "invalid header name")
    message = refusals.last()
    offset = len(first) + len(second)
    assert f"bad header line 3 at byte {offset}: b'X Broken: 2'" in message
    c.close()


def test_a_bad_chunk_size_is_located(sock: Path, refusals: Refusals) -> None:
    head = b"POST /echo HTTP/1.1\r\nHost: d\r\nTransfer-Encoding: chunked\r\n\r\n"
    assert_refused(sock, head + b"3\r\nabc\r\nzz\r\n", 400)
    assert f"bad chunk size line b'zz' at byte {len(head) + 8}" in refusals.last()


def test_refusals_carry_no_api_headers_like_gos(sock: Path) -> None:
    c = Raw(sock)
    c.send(b"NONSENSE\r\n\r\n")
    r = c.response()
    assert r.status == 400
    assert not {k.lower() for k, _ in r.headers} & STANDARD
    c.close()


# ---------------------------------------------------------------- the Date header and the clock
def test_date_header_follows_a_fixed_clock_without_moving_it(
    serve_app, probe: Probe, loop_name: str
) -> None:
    from types import SimpleNamespace

    from labkit.engine.model.clock import Clock, parse_instant

    start = parse_instant("2026-01-05T09:00:00Z")
    app = make_app(probe)
    clock = Clock(start)
    app.engine = SimpleNamespace(clock=clock)
    served = serve_app(app, loop=loop_name)
    for _ in range(3):
        assert get(served.socket, "/_ping").header("Date") == "Mon, 05 Jan 2026 09:00:00 GMT"
    assert clock.now_ns() == start  # answering did not move the model's clock on


def test_date_header_before_the_model_opens_uses_labkit_clock() -> None:
    from labkit.engine.app import fixed_start

    assert http_date(fixed_start("2026-01-05T09:00:00Z")) == "Mon, 05 Jan 2026 09:00:00 GMT"
    assert fixed_start(None) is None
    assert fixed_start("not a time") is None


def test_date_header_is_real_time_without_a_fixed_clock(sock: Path) -> None:
    before = http_date()
    date = get(sock, "/_ping").header("Date")
    assert date is not None and GO_DATE.match(date)
    assert date[:16] in (before[:16], http_date()[:16])  # today's date, from the real clock


# ---------------------------------------------------------------- the read timeout
@pytest.fixture
def impatient(serve_app, probe: Probe, loop_name: str) -> Path:
    """A server that gives up on a half-received request after 0.3 s."""
    return serve_app(make_app(probe), Limits(read_timeout=0.3), loop=loop_name).socket


@pytest.mark.parametrize(
    "partial",
    [
        b"GET /_ping HTTP/1.1\r\nHo",  # half a head
        b"POST /echo HTTP/1.1\r\nHost: d\r\nContent-Length: 100\r\n\r\nabc",  # half a body
        b"ge",  # half a method llhttp does not know
        b"POST /exec/x/start HTTP/1.1\r\nHost: d\r\n" + UPGRADE.encode()
        + b"Content-Length: 10\r\n\r\n{}",  # half an upgrade request's body
    ],
)  # fmt: skip
def test_a_stalled_request_is_timed_out_with_a_408(
    impatient: Path, refusals: Refusals, partial: bytes
) -> None:
    c = Raw(impatient)
    c.send(partial)
    assert_go_refusal(c.response(), 408)
    assert "LABKIT_ENGINE_READ_TIMEOUT" in refusals.last()
    assert c.closed_by_server()
    c.close()


def test_a_slow_request_that_keeps_coming_is_not_timed_out(impatient: Path) -> None:
    c = Raw(impatient)
    head = b"GET /_ping HTTP/1.1\r\nHost: d\r\n\r\n"
    for i in range(len(head)):  # one byte every 0.05 s: 1.6 s in all, progress all along
        c.send(head[i : i + 1])
        time.sleep(0.05)
    assert c.response().body == b"OK"
    c.close()


def test_idle_keep_alive_streams_and_sessions_are_not_timed_out(
    impatient: Path, probe: Probe
) -> None:
    idle = Raw(impatient)
    idle.request("GET", "/_ping")
    assert idle.response().body == b"OK"
    stream = Raw(impatient)
    stream.request("GET", "/follow?count=2")
    assert stream.read_head().status == 200
    session = Raw(impatient)
    session.send(b"POST /containers/a/attach HTTP/1.1\r\nHost: d\r\n" + UPGRADE.encode() + b"\r\n")
    assert session.read_until(b"\r\n\r\n").startswith(b"HTTP/1.1 101")
    assert session.read_exact(6) == b"hello\n"
    time.sleep(1.0)  # over three timeouts
    idle.request("GET", "/_ping")
    assert idle.response().body == b"OK"
    session.send(b"still here")
    assert session.read_exact(10) == b"STILL HERE"
    get(impatient, "/release", "POST")
    assert stream.read_chunk() == b'{"n":0}\n'
    assert stream.read_chunk() == b'{"n":1}\n'
    for c in (idle, stream, session):
        c.close()


def test_read_timeout_comes_from_the_environment(caplog: pytest.LogCaptureFixture) -> None:
    from labkit.engine.__main__ import read_timeout_from_env

    assert read_timeout_from_env({}) is None
    assert read_timeout_from_env({"LABKIT_ENGINE_READ_TIMEOUT": "2.5"}) == 2.5
    assert read_timeout_from_env({"LABKIT_ENGINE_READ_TIMEOUT": "0"}) == 0.0
    with caplog.at_level(logging.WARNING):
        assert read_timeout_from_env({"LABKIT_ENGINE_READ_TIMEOUT": "soon"}) is None
    assert "not a number of seconds" in caplog.text
    assert Limits().read_timeout == 60.0


# ---------------------------------------------------------------- polling between requests
def _loop_for(name: str) -> asyncio.AbstractEventLoop:
    if name == "uvloop":
        uvloop = pytest.importorskip("uvloop", reason="uvloop is not installed here")
        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


@pytest.mark.parametrize("window", [0.0, 0.02])
def test_the_loop_polls_for_a_window_after_a_request_then_sleeps(
    loop_name: str, window: float
) -> None:
    """stay_awake keeps the loop turning (a zero-timeout poll each turn) for the window, no
    longer, and other work still runs meanwhile; a window of 0 never polls."""
    from labkit.engine.server import Poller

    async def scenario() -> tuple[int, int, bool, bool]:
        poller = Poller(window)
        turns = 0
        poll = poller._poll

        def counting_poll() -> None:
            nonlocal turns
            turns += 1
            poll()

        poller._poll = counting_poll  # type: ignore[method-assign]
        other = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_later(0.005, other.set_result, "ran")
        poller.stay_awake()
        polling_at_first = poller.polling
        assert await other == "ran"  # polling starves nothing
        await asyncio.sleep(window + 0.05)
        after_window = turns
        await asyncio.sleep(0.05)
        return after_window, turns, polling_at_first, poller.polling

    loop = _loop_for(loop_name)
    try:
        after_window, later, polling_at_first, polling_now = loop.run_until_complete(scenario())
    finally:
        loop.close()
    if window:
        assert polling_at_first
        assert after_window > 20  # many turns of the loop within 20 ms, not one sleep
    else:
        assert not polling_at_first
        assert after_window == 0
    assert later == after_window  # and then it stopped: an idle engine sleeps
    assert not polling_now


def test_a_closed_server_stops_polling(serve_app, probe: Probe) -> None:
    """Requests keep the engine's loop polling; closing the server ends it."""
    served = serve_app(make_app(probe), limits=Limits(poll_window=10.0))
    assert get(served.socket, "/_ping").body == b"OK"
    poller = served.server.poller
    assert wait_for(lambda: poller.polling, timeout=5)  # it answers first, then polls
    served.call(served.server.close)
    assert wait_for(lambda: not poller.polling, timeout=5)


def test_poll_window_comes_from_the_environment(caplog: pytest.LogCaptureFixture) -> None:
    from labkit.engine.__main__ import poll_window_from_env

    assert poll_window_from_env({}) is None
    assert poll_window_from_env({"LABKIT_ENGINE_POLL_US": "250"}) == pytest.approx(250e-6)
    assert poll_window_from_env({"LABKIT_ENGINE_POLL_US": "0"}) == 0.0
    with caplog.at_level(logging.WARNING):
        assert poll_window_from_env({"LABKIT_ENGINE_POLL_US": "fast"}) is None
        assert poll_window_from_env({"LABKIT_ENGINE_POLL_US": "-5"}) is None
    assert caplog.text.count("not a whole number of microseconds") == 2
    assert Limits().poll_window == pytest.approx(100e-6)


# ---------------------------------------------------------------- fixed replies
def test_routes_with_a_fixed_reply_are_offered_to_the_server() -> None:
    app = App()
    app.add_module("system", system.ROUTES)
    fixed = RawReply(b"x", "text/plain", 200)
    app.add_module("dummy", [("GET", "/fixed", fixed), ("GET", "/fixed/{id}", fixed)])
    assert app.fixed_replies == {
        ("GET", b"/_ping"): system.PING,
        ("HEAD", b"/_ping"): system.PING_HEAD,
        ("GET", b"/fixed"): fixed,  # a pattern with parameters is not a fixed target
    }
    assert respond(app, "GET", "/fixed/abc") is fixed  # and routed, they answer the same


def test_a_fixed_reply_is_sent_without_asking_the_app(serve_app, probe: Probe) -> None:
    """Unversioned /_ping never reaches respond(); the versioned one is routed as usual."""
    app = make_app(probe)
    served = serve_app(app)

    async def broken(incoming: Incoming) -> object:
        raise RuntimeError("respond() was called")

    app.respond = broken  # type: ignore[method-assign]
    assert get(served.socket, "/_ping").body == b"OK"
    assert get(served.socket, "/v1.51/_ping").status == 500


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_the_ping_shortcut_sends_what_the_routed_ping_sends(sock: Path, method: str) -> None:
    """Unversioned /_ping skips the router; the versioned one goes through it: same bytes."""
    c = Raw(sock)
    c.send(f"{method} /_ping HTTP/1.1\r\nHost: d\r\n\r\n".encode())
    short = c.response()
    c.send(f"{method} /v1.51/_ping HTTP/1.1\r\nHost: d\r\n\r\n".encode())
    routed = c.response()
    c.close()
    assert (short.status, short.body) == (routed.status, routed.body)
    assert [h for h in short.headers if h[0] != "Date"] == [
        h for h in routed.headers if h[0] != "Date"
    ]
    assert short.body == (b"" if method == "HEAD" else b"OK")

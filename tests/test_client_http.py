"""labkit's small Engine API client, against tiny local servers and the real dockerd."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

import labkit
from labkit.client import APIError, Client, Wiretap, encode_params
from labkit.client.http import USER_AGENT
from labkit.transport.errors import ConnectionRefused, NotHTTP
from labkit.transport.versions import IncompatibleEngine, negotiate
from labkit.wire.frames import demux
from labkit.wire.http import build_request, parse_response

# A scripted loopback server: it reads each request and answers with `reply(request)`.


class Recorder:
    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        self.connections = 0


def read_request(conn: socket.socket, buffered: bytearray) -> tuple[str, str, dict, bytes] | None:
    while b"\r\n\r\n" not in buffered:
        data = conn.recv(65536)
        if not data:
            return None
        buffered += data
    head, _, rest = bytes(buffered).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        rest += conn.recv(65536)
    buffered[:] = rest[length:]
    return method, target, headers, rest[:length]


@contextlib.contextmanager
def scripted_server(
    reply: Callable[[str, str, dict, bytes], bytes], close_after_each: bool = False
) -> Iterator[tuple[str, Recorder]]:
    recorder = Recorder()
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    stop = threading.Event()

    def handle(conn: socket.socket) -> None:
        buffered = bytearray()
        with conn:
            while not stop.is_set():
                request = read_request(conn, buffered)
                if request is None:
                    return
                recorder.requests.append(request)
                conn.sendall(reply(*request))
                if close_after_each:
                    return

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            recorder.connections += 1
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"tcp://127.0.0.1:{listener.getsockname()[1]}", recorder
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()


def http_reply(status: int, body: bytes | dict | list, extra: str = "") -> bytes:
    if not isinstance(body, bytes):
        body = json.dumps(body).encode()
    reason = {200: "OK", 201: "Created", 404: "Not Found", 500: "Internal Server Error"}[status]
    return (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n{extra}"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def engine_like(api: str = "1.43", min_api: str = "1.24") -> Callable[..., bytes]:
    def reply(method: str, target: str, headers: dict, body: bytes) -> bytes:
        path = urlsplit(target).path
        if path == "/_ping":
            return b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK"
        if path == "/version":
            return http_reply(200, {"ApiVersion": api, "MinAPIVersion": min_api, "Version": "x"})
        if path.endswith("/echo"):
            return http_reply(
                200, {"method": method, "target": target, "headers": headers, "body": body.decode()}
            )
        return http_reply(404, {"message": f"page not found: {path}"})

    return reply


# Query parameters


def test_filters_and_dicts_are_json_encoded() -> None:
    query = encode_params({"all": True, "filters": {"label": ["a=b"]}, "size": None})
    assert parse_qs(query) == {"all": ["true"], "filters": ['{"label":["a=b"]}']}


def test_other_lists_repeat_the_key_and_false_is_false() -> None:
    assert parse_qs(encode_params([("names", ["a", "b"]), ("force", False)])) == {
        "names": ["a", "b"],
        "force": ["false"],
    }
    assert encode_params(None) == ""


# Against a scripted server


def test_versioned_paths_use_the_negotiated_version() -> None:
    with scripted_server(engine_like(api="1.43")) as (url, rec):
        client = Client(url)
        echoed = client.get("/things/echo", params={"filters": {"dangling": ["true"]}})
        assert client.api_version == "1.43"
    assert [r[1].split("?")[0] for r in rec.requests] == ["/version", "/v1.43/things/echo"]
    assert parse_qs(urlsplit(echoed["target"]).query) == {"filters": ['{"dangling":["true"]}']}
    assert echoed["headers"]["user-agent"].startswith("labkit/")


def test_the_version_is_capped_at_labkits_newest() -> None:
    with scripted_server(engine_like(api="1.99")) as (url, _):
        assert Client(url).api_version == labkit.API_VERSION_MAX


def test_a_too_old_engine_is_refused_with_a_reason() -> None:
    old = engine_like(api="1.12", min_api="1.12")
    with scripted_server(old) as (url, _), pytest.raises(IncompatibleEngine, match="too old"):
        Client(url).get("/things/echo")


def test_a_given_api_version_skips_negotiation() -> None:
    with scripted_server(engine_like()) as (url, rec):
        Client(url, api_version="1.30").get("/things/echo")
    assert [r[1] for r in rec.requests] == ["/v1.30/things/echo"]


def test_json_bodies_are_sent_with_their_type() -> None:
    with scripted_server(engine_like()) as (url, _):
        echoed = (
            Client(url, api_version="1.41")
            .request("post", "/things/echo", json={"Image": "alpine"})
            .json()
        )
    assert echoed["method"] == "POST"
    assert json.loads(echoed["body"]) == {"Image": "alpine"}
    assert echoed["headers"]["content-type"] == "application/json"


def test_one_connection_is_kept_alive() -> None:
    with scripted_server(engine_like()) as (url, rec), Client(url) as client:
        for _ in range(3):
            client.get("/things/echo")
    assert len(rec.requests) == 4  # /version, then three calls
    assert rec.connections == 1


def test_a_connection_the_engine_closed_is_replaced() -> None:
    with scripted_server(engine_like(), close_after_each=True) as (url, rec):
        client = Client(url, api_version="1.41")
        results = [client.get("/things/echo")["target"] for _ in range(3)]
    assert results == ["/v1.41/things/echo"] * 3
    assert rec.connections == 3


def test_errors_carry_the_engines_message() -> None:
    with scripted_server(engine_like()) as (url, _):
        client = Client(url, api_version="1.41")
        with pytest.raises(APIError) as info:
            client.request("DELETE", "/nowhere")
    error = info.value
    assert (error.status, error.method, error.path) == (404, "DELETE", "/v1.41/nowhere")
    assert error.message == "page not found: /v1.41/nowhere"
    assert (
        str(error)
        == "DELETE /v1.41/nowhere failed with 404 Not Found: page not found: /v1.41/nowhere"
    )


def test_a_plain_text_error_body_becomes_the_message() -> None:
    def reply(*_: Any) -> bytes:
        return http_reply(500, b"database is on fire\n")

    with scripted_server(reply) as (url, _), pytest.raises(APIError, match="database is on fire"):
        Client(url, api_version="1.41").get("/x")


def test_stream_yields_pieces_as_they_come() -> None:
    release = threading.Event()
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            read_request(conn, bytearray())
            conn.sendall(
                b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n9\r\n{"n": 1}\n\r\n'
            )
            release.wait(5)  # the second piece only once the first was read
            conn.sendall(b'9\r\n{"n": 2}\n\r\n0\r\n\r\n')

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        stream = Client(f"tcp://127.0.0.1:{listener.getsockname()[1]}", api_version="1.41").stream(
            "GET", "/events"
        )
        first = next(stream)
        release.set()
        rest = list(stream)
    finally:
        thread.join(timeout=5)
        listener.close()
    assert first == b'{"n": 1}\n'
    assert rest == [b'{"n": 2}\n']
    assert stream.closed


def test_stream_raises_api_error_before_iterating() -> None:
    with scripted_server(engine_like()) as (url, _), pytest.raises(APIError) as info:
        Client(url, api_version="1.41").stream("GET", "/events-nope")
    assert info.value.status == 404


def test_stream_after_an_upgrade_hands_over_the_raw_bytes() -> None:
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            read_request(conn, bytearray())
            conn.sendall(
                b"HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\n"
                b"Connection: Upgrade\r\nUpgrade: tcp\r\n\r\nraw-1"
            )
            conn.sendall(b"raw-2")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        client = Client(f"tcp://127.0.0.1:{listener.getsockname()[1]}", api_version="1.41")
        with client.stream(
            "POST", "/containers/x/attach", headers={"Connection": "Upgrade", "Upgrade": "tcp"}
        ) as stream:
            assert stream.upgraded
            data = b"".join(stream)
    finally:
        thread.join(timeout=5)
        listener.close()
    assert data == b"raw-1raw-2"


def test_a_wiretap_sees_the_exact_bytes_of_one_call() -> None:
    with scripted_server(engine_like()) as (url, _), Client(url, api_version="1.41") as client:
        client.get("/things/echo")  # an untapped call on the same kept-alive connection
        tap = Wiretap()
        client.request("POST", "/things/echo", json={"a": 1}, wiretap=tap)
    assert bytes(tap.sent) == build_request(
        "POST",
        "/v1.41/things/echo",
        [("User-Agent", USER_AGENT), ("Content-Type", "application/json")],
        b'{"a": 1}',
    )
    reply = parse_response(bytes(tap.received))
    assert reply.status == 200
    assert json.loads(reply.body)["target"] == "/v1.41/things/echo"


def test_a_wiretap_on_a_retried_call_holds_only_the_attempt_that_was_answered() -> None:
    with scripted_server(engine_like(), close_after_each=True) as (url, rec):
        client = Client(url, api_version="1.41")
        client.get("/things/echo")
        time.sleep(0.1)  # the server has closed the kept-alive connection by now
        tap = Wiretap()
        client.request("GET", "/things/echo", wiretap=tap)
    assert rec.connections == 2
    assert bytes(tap.sent).count(b"GET /v1.41/things/echo") == 1
    assert bytes(tap.received).count(b"HTTP/1.1 200 OK") == 1


def test_a_wiretap_on_a_stream_sees_pieces_as_they_arrive() -> None:
    seen: list[bytes] = []
    with scripted_server(engine_like()) as (url, _):
        tap = Wiretap(on_received=seen.append)
        with Client(url, api_version="1.41").stream("GET", "/things/echo", wiretap=tap) as stream:
            body = b"".join(stream)
    assert b"".join(seen) == bytes(tap.received)
    assert bytes(tap.received).endswith(body)
    assert bytes(tap.sent).startswith(b"GET /v1.41/things/echo HTTP/1.1\r\n")


def test_closing_a_stream_wakes_the_thread_reading_it() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []

    def serve() -> None:
        conn, _ = listener.accept()
        accepted.append(conn)
        read_request(conn, bytearray())
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        # ...and nothing more: an event stream on a quiet engine

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    client = Client(f"tcp://127.0.0.1:{listener.getsockname()[1]}", api_version="1.41")
    stream = client.stream("GET", "/events", timeout=None)
    ended = threading.Event()

    def read() -> None:
        with contextlib.suppress(Exception):
            for _ in stream:
                pass
        ended.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert not ended.wait(0.3)  # blocked in recv(), as a follower is
        stream.close()
        assert ended.wait(5), "close() left the reading thread blocked"
    finally:
        thread.join(timeout=5)
        for conn in accepted:
            conn.close()
        listener.close()


def test_connection_problems_are_transport_errors(tmp_path: Path) -> None:
    stale = tmp_path / "stale.sock"
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(stale))
    with pytest.raises(ConnectionRefused, match="no process is listening"):
        Client(f"unix://{stale}").ping()


def test_a_peer_that_is_not_http_is_named() -> None:
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.sendall(b"SSH-2.0-nope\r\n")
            conn.recv(100)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        with pytest.raises(NotHTTP, match=r"SSH-2\.0-nope"):
            Client(f"tcp://127.0.0.1:{listener.getsockname()[1]}", timeout=2).ping()
    finally:
        thread.join(timeout=5)
        listener.close()


def test_a_path_must_start_with_a_slash() -> None:
    with pytest.raises(ValueError, match="must start with '/'"):
        Client("unix:///nowhere.sock", api_version="1.41").url_for("containers/json")


# Against the real dockerd


@pytest.fixture
def real_client(real_engine_url: str) -> Iterator[Client]:
    with Client(real_engine_url, timeout=30) as client:
        yield client


def test_real_ping_and_version(real_client: Client) -> None:
    assert real_client.ping() == "OK"
    info = real_client.version_info
    assert info["ApiVersion"]
    assert real_client.api_version == negotiate(info["ApiVersion"], labkit.API_VERSION_MAX)


def test_real_version_is_negotiated_not_assumed(real_client: Client) -> None:
    response = real_client.request("GET", "/version")
    assert response.path == f"/v{real_client.api_version}/version"
    assert response.headers.get("Api-Version") == real_client.version_info["ApiVersion"]


def test_real_images_list(real_client: Client) -> None:
    images = real_client.get("/images/json", params={"all": True})
    assert isinstance(images, list)
    for image in images:
        assert image["Id"].startswith("sha256:")
    filtered = real_client.get("/images/json", params={"filters": {"dangling": ["false"]}})
    assert isinstance(filtered, list)


def test_real_404_is_an_api_error_with_dockerds_message(real_client: Client) -> None:
    with pytest.raises(APIError) as info:
        real_client.get("/containers/labkit-no-such-container/json")
    assert info.value.status == 404
    assert "No such container: labkit-no-such-container" in info.value.message
    with pytest.raises(APIError) as unknown:
        real_client.get("/no/such/endpoint")
    assert unknown.value.status == 404
    assert unknown.value.message == "page not found"


def test_real_event_stream_between_since_and_until(real_client: Client) -> None:
    name = f"labkit-test-{uuid.uuid4().hex[:8]}"
    since = int(time.time()) - 1
    real_client.request("POST", "/volumes/create", json={"Name": name})
    real_client.request("DELETE", f"/volumes/{name}")
    until = int(time.time()) + 1
    stream = real_client.stream(
        "GET",
        "/events",
        params={"since": since, "until": until, "filters": {"type": ["volume"]}},
    )
    events = list(stream.json())
    assert stream.closed
    mine = [(e["Action"], e["Actor"]["ID"]) for e in events if e["Actor"]["ID"] == name]
    assert mine == [("create", name), ("destroy", name)]


def test_real_attach_upgrade(real_client: Client) -> None:
    created = real_client.request(
        "POST",
        "/containers/create",
        json={"Image": "busybox", "Cmd": ["echo", "hi from attach"], "AttachStdout": True},
    ).json()
    cid = created["Id"]
    try:
        stream = real_client.stream(
            "POST",
            f"/containers/{cid}/attach",
            params={"stream": True, "stdout": True, "stderr": True},
            headers={"Connection": "Upgrade", "Upgrade": "tcp"},
        )
        with stream:
            assert stream.upgraded
            real_client.request("POST", f"/containers/{cid}/start")
            raw = b"".join(stream)
        stdout, _ = demux(raw)
        assert stdout == b"hi from attach\n"
    finally:
        real_client.request("DELETE", f"/containers/{cid}", params={"force": True})


def test_from_env_uses_discovery(real_engine_url: str, tmp_path: Path) -> None:
    client = Client.from_env(env={"DOCKER_HOST": real_engine_url}, home=tmp_path)
    with client:
        assert client.endpoint.url == real_engine_url
        assert client.api_version == negotiate(
            client.version_info["ApiVersion"], labkit.API_VERSION_MAX
        )
        assert client.ping() == "OK"

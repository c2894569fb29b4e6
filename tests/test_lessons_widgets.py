"""The widgets against a real lab engine, without a browser: state changes, requests
sent, threads stopped. (tests/test_browser.py clicks them in JupyterLab.)"""

from __future__ import annotations

import http.server
import json
import socketserver
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import ClassVar

import pytest
from engine_fixtures import LabEngine, running_lab_engine, short_tempdir

from labkit.client.http import Client
from labkit.lessons.board import ContainerBoard
from labkit.lessons.endpoints import find
from labkit.lessons.event_feed import EventFeed
from labkit.lessons.explorer import Explorer
from labkit.lessons.log_feed import LogFeed
from labkit.lessons.traffic_widget import TrafficView
from labkit.proxy.recorder import Recorder

pytestmark = pytest.mark.lab_engine


@pytest.fixture(scope="module")
def engine() -> Iterator[LabEngine]:
    with running_lab_engine() as engine:
        client = Client(engine.url)
        for image in ("busybox", "hello-world"):
            client.request("POST", "/images/create", params={"fromImage": image, "tag": "latest"})
        client.close()
        yield engine


@pytest.fixture
def client(engine: LabEngine) -> Iterator[Client]:
    with Client(engine.url) as client:
        yield client


@pytest.fixture(autouse=True)
def no_threads_left() -> Iterator[None]:
    """Every test closes its widgets; no labkit thread may outlive it."""
    yield
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        alive = [t.name for t in threading.enumerate() if t.name.startswith("labkit-")]
        if not alive:
            return
        time.sleep(0.05)
    pytest.fail(f"threads left running: {alive}")


def eventually(check: Callable[[], object], timeout: float = 10.0) -> object:
    """Wait until ``check()`` is truthy (the engine and the threads take their time)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            assert value, f"still false after {timeout} s: {check}"
            return value
        time.sleep(0.05)


def make_container(client: Client, name: str, command: list[str], start: bool = False) -> str:
    if exists(client, name):
        client.request("DELETE", f"/containers/{name}", params={"force": True})
    cid = client.request(
        "POST",
        "/containers/create",
        params={"name": name},
        json={"Image": "busybox", "Cmd": command},
    ).json()["Id"]
    if start:
        client.request("POST", f"/containers/{cid}/start")
    return cid


def exists(client: Client, name: str) -> bool:
    return any(
        f"/{name}" in (c.get("Names") or [])
        for c in client.get("/containers/json", params={"all": True})
    )


def assert_text_fallback(widget: object, *words: str) -> None:
    """text/plain says what the widget is, whole, and without run-to-run details."""
    bundle = widget._repr_mimebundle_()  # type: ignore[attr-defined]
    text = bundle["text/plain"]
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert text == repr(widget) == widget.plain_text()  # type: ignore[attr-defined]
    assert "Box(" not in text and not text.endswith("…")
    assert "/tmp" not in text and "sock" not in text
    assert "run this cell in JupyterLab" in text
    for word in words:
        assert word in text


# --------------------------------------------------------------------------- the explorer


def test_explorer_sends_a_chosen_call_and_shows_its_bytes(client: Client) -> None:
    ex = Explorer(client)
    try:
        ex.choose(find("GET", "/images/json"))  # type: ignore[arg-type]
        assert [row.name.value for row in ex.param_rows.children] == ["all", "filters"]
        call = ex.send()
        assert call is not None and ex.wait(10) is call
        version = client.api_version
        assert call.sent.startswith(f"GET /v{version}/images/json HTTP/1.1\r\n".encode())
        assert call.received.startswith(b"HTTP/1.1 200 OK\r\n")
        assert call.status == 200 and call.seconds is not None
        assert "busybox:latest" in ex.answer.value and "hello-world:latest" in ex.answer.value
        assert "200 OK" in ex.status.value and " ms" in ex.status.value
        assert "→ sent" in ex.bytes.value and "← received" in ex.bytes.value
        assert f"--unix-socket {client.endpoint.path}" in ex.curl.value
        assert f"http://localhost/v{version}/images/json" in ex.curl.value
        ex.view.value = "table"
        assert "<table>" in ex.answer.value and "RepoTags" in ex.answer.value
        assert not ex.send_button.disabled and ex.stop_button.disabled
    finally:
        ex.close()


def test_explorer_posts_params_and_a_json_body(client: Client) -> None:
    if exists(client, "made-by-explorer"):
        client.request("DELETE", "/containers/made-by-explorer", params={"force": True})
    ex = Explorer(client)
    try:
        ex.set_request(
            "POST",
            "/containers/create",
            {"name": "made-by-explorer"},
            {"Image": "busybox", "Cmd": ["true"]},
        )
        call = ex.send()
        ex.wait(10)
        assert call is not None and call.status == 201
        assert call.sent.endswith(b'{"Image": "busybox", "Cmd": ["true"]}')
        assert b"Content-Type: application/json\r\n" in call.sent
        assert "?name=made-by-explorer" in call.target
        assert exists(client, "made-by-explorer")
        again = ex.send()  # the name is taken now: the engine's 409, shown, not raised
        ex.wait(10)
        assert again is not None and again.status == 409
        assert "color:#c62828" in ex.status.value and "already in use" in ex.answer.value
    finally:
        ex.close()


def test_explorer_follows_events_until_stop(client: Client) -> None:
    ex = Explorer(client)
    try:
        ex.set_request("GET", "/events", {"filters": {"type": ["container"]}})
        call = ex.send()
        assert call is not None and call.streaming
        eventually(lambda: call.status == 200)  # the engine has answered: it is listening
        assert ex.worker is not None and ex.worker.running and not ex.stop_button.disabled
        make_container(client, "ex-events", ["true"])
        eventually(lambda: any(e.get("Action") == "create" for e in call.json_lines()))
        eventually(lambda: "create" in ex.answer.value)
        assert "streaming" in ex.status.value
        ex.stop()
        assert call.done and call.stopped and not call.error
        assert "stopped (you hung up)" in ex.status.value
        assert ex.stop_button.disabled and not ex.send_button.disabled
    finally:
        ex.close()


def test_explorer_shows_followed_logs_as_frames(client: Client) -> None:
    make_container(client, "ex-logs", ["sh", "-c", "echo out; echo err >&2; sleep 30"], start=True)
    ex = Explorer(client)
    try:
        ex.set_request(
            "GET", "/containers/ex-logs/logs", {"follow": True, "stdout": True, "stderr": True}
        )
        call = ex.send()
        assert call is not None and call.streaming
        eventually(lambda: len(call.output()) >= 2)
        assert call.kind == "frames"
        assert sorted(call.output()) == [(1, b"out\n"), (2, b"err\n")]
        eventually(lambda: 'class="labkit-stderr"' in ex.answer.value)
        assert call.received.count(b"\x01\x00\x00\x00\x00\x00\x00\x04out\n") == 1
        ex.stop()
        assert call.stopped
    finally:
        ex.close()
        client.request("DELETE", "/containers/ex-logs", params={"force": True})


def test_explorer_history_can_be_sent_again(client: Client) -> None:
    ex = Explorer(client)
    try:
        ex.set_request("GET", "/_ping")
        ex.send()
        ex.wait(10)
        ex.set_request("GET", "/version")
        ex.send()
        ex.wait(10)
        assert [label for label, _ in ex.history.options] == [
            c.summary() for c in reversed(ex.calls)
        ]
        assert ex.calls[0].target == "/_ping"  # unversioned, as every engine answers it
        again = ex.resend(1)
        ex.wait(10)
        assert again is not None and again.number == 3
        assert again.request == ex.calls[0].request and again.status == 200
        assert ex.path.value == "/_ping"
    finally:
        ex.close()


def test_explorer_says_what_is_wrong_with_the_form(client: Client) -> None:
    ex = Explorer(client)
    try:
        ex.set_request("GET", "images/json")
        assert ex.send() is None
        assert "must start with" in ex.status.value and not ex.calls
        ex.set_request("POST", "/containers/create", body="{Image: busybox}")
        assert ex.send() is None and "not JSON" in ex.status.value
    finally:
        ex.close()


def test_explorer_offers_names_for_placeholders(client: Client) -> None:
    make_container(client, "ex-named", ["true"])
    ex = Explorer(client)
    try:
        ex.choose(find("POST", "/containers/{id}/start"))  # type: ignore[arg-type]
        [box] = ex.placeholders.children
        assert "ex-named" in box.options
        box.value = "ex-named"
        assert ex.path.value == "/containers/ex-named/start"
        assert ex.operation.value == "POST /containers/{id}/start"
        ex.path.value = "/containers/ex-named/json"  # typed by hand: no longer that call
        assert ex.operation.value == ""
    finally:
        ex.close()


def test_explorer_text_fallback(client: Client) -> None:
    ex, other = Explorer(client), Explorer(client)
    try:
        assert_text_fallback(ex, "API explorer", "curl", 'send(lab, "GET", "/images/json")')
        assert ex.plain_text() == other.plain_text()
    finally:
        ex.close()
        other.close()


class OldEngine(http.server.BaseHTTPRequestHandler):
    """An engine that speaks API 1.40 at most, and says so in /version."""

    protocol_version = "HTTP/1.1"
    seen: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        OldEngine.seen.append(self.path)
        body = json.dumps(
            {"ApiVersion": "1.40", "MinAPIVersion": "1.12", "Version": "19.03"}
            if self.path == "/version"
            else [{"Id": "sha256:old", "RepoTags": ["old:1"]}]
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_explorer_uses_the_version_each_engine_negotiates() -> None:
    folder = short_tempdir()
    path = folder / "old.sock"
    server = socketserver.ThreadingUnixStreamServer(str(path), OldEngine)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    ex = Explorer(Client(f"unix://{path}"))
    try:
        ex.set_request("GET", "/images/json")
        call = ex.send()
        ex.wait(10)
        assert call is not None and call.target == "/v1.40/images/json"
        assert "/v1.40/images/json" in OldEngine.seen and "old:1" in ex.answer.value
        assert "/v1.40" in ex.version_note.value
    finally:
        ex.close()
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_explorer_on_the_real_engine(each_real_engine_url: str) -> None:
    client = Client(each_real_engine_url)
    ex = Explorer(client)
    try:
        ex.choose(find("GET", "/images/json"))  # type: ignore[arg-type]
        call = ex.send()
        ex.wait(30)
        assert call is not None and call.status == 200
        assert call.target == f"/v{client.api_version}/images/json"
        assert "busybox" in ex.answer.value
    finally:
        ex.close()


# --------------------------------------------------------------------------- the feeds


def test_event_feed_grows_while_containers_change(client: Client) -> None:
    feed = EventFeed(client, filters={"type": ["container"]})
    try:
        assert feed.running and not feed.stop_button.disabled
        assert feed.connected.wait(10)
        make_container(client, "feed-events", ["true"], start=True)
        eventually(lambda: {"create", "start", "die"} <= {e.get("Action") for e in feed.events})
        eventually(lambda: "feed-events" in feed.view.value)
        assert "following GET /v" in feed.status.value
        feed.stop()
        assert not feed.running and feed.stop_button.disabled and not feed.start_button.disabled
        assert "stopped: you hung up" in feed.status.value
        feed.clear()
        assert feed.events == [] and "no events yet" in feed.view.value
        assert_text_fallback(feed, "GET /events", "Stop")
    finally:
        feed.close()


def test_log_feed_tells_stdout_from_stderr_and_ends_with_the_container(client: Client) -> None:
    make_container(
        client, "feed-logs", ["sh", "-c", "echo one; echo two >&2; sleep 0.3; echo three"]
    )
    client.request("POST", "/containers/feed-logs/start")
    feed = LogFeed("feed-logs", client)  # what was written, then what is written
    try:
        assert feed.wait(15), "the stream should end when the container stops"
        assert feed.text() == "[stdout] one\n[stderr] two\n[stdout] three"
        eventually(lambda: "the container stopped" in feed.status.value)
        assert 'class="labkit-stderr"' in feed.view.value
        assert_text_fallback(feed, "Logs of feed-logs", "stdout and stderr")
    finally:
        feed.close()


def test_log_feed_of_a_missing_container_says_so(client: Client) -> None:
    feed = LogFeed("no-such-container", client)
    try:
        feed.wait(10)
        assert "404" in feed.status.value and "no-such-container" in feed.status.value
        assert not feed.running
    finally:
        feed.close()


def test_stop_hangs_up_a_quiet_follow_at_once(client: Client) -> None:
    make_container(client, "feed-quiet", ["sleep", "60"], start=True)
    feed = LogFeed("feed-quiet", client)
    try:
        eventually(lambda: feed.worker is not None and feed.worker.running)
        time.sleep(0.2)
        feed.stop()  # the thread is blocked in recv(): stop must wake it
        assert feed.worker is None and not feed.running
    finally:
        feed.close()
        client.request("DELETE", "/containers/feed-quiet", params={"force": True})


# --------------------------------------------------------------------------- the board


def test_board_buttons_send_requests_and_show_them(client: Client) -> None:
    cid = make_container(client, "board-web", ["sleep", "60"])
    board = ContainerBoard(client)
    try:
        assert board.state_of("board-web") == "created"
        row = board.rows[cid]
        assert row.buttons["stop"].disabled and not row.buttons["start"].disabled
        assert board.act("board-web", "start") == f"POST /containers/{cid[:12]}/start"
        board.wait_idle()
        eventually(lambda: board.state_of("board-web") == "running")
        assert f"POST /v{client.api_version}/containers/{cid[:12]}/start" in row.sent.value
        assert "204 No Content" in row.sent.value
        assert row.buttons["start"].disabled and not row.buttons["stop"].disabled
        feed = board.show_logs("board-web")
        assert board.logs_area.children == (feed,) and feed.running
        board.act("board-web", "stop")
        board.wait_idle()
        eventually(lambda: board.state_of("board-web") == "exited")
        assert "stop?t=2" in row.sent.value
        board.act("board-web", "remove")
        board.wait_idle()
        eventually(lambda: board.state_of("board-web") is None)
        assert board.sent_log[-1].startswith(f"DELETE /v{client.api_version}/containers/")
        assert "DELETE" in board.create_sent.value  # still in view after the row went away
    finally:
        board.close()


def test_board_follows_changes_made_elsewhere(client: Client) -> None:
    board = ContainerBoard(client)
    try:
        assert board.running and board.following.wait(10)
        make_container(client, "board-elsewhere", ["sleep", "60"], start=True)
        eventually(lambda: board.state_of("board-elsewhere") == "running")
        client.request("DELETE", "/containers/board-elsewhere", params={"force": True})
        eventually(lambda: board.state_of("board-elsewhere") is None)
        board.stop()
        assert not board.running and board.stop_button.disabled
    finally:
        board.close()


def test_board_creates_a_container_and_refuses_what_it_cannot_do(client: Client) -> None:
    if exists(client, "board-new"):
        client.request("DELETE", "/containers/board-new", params={"force": True})
    board = ContainerBoard(client, follow_events=False)
    try:
        assert "busybox:latest" in board.image.options and board.image.value == "busybox:latest"
        board.command.value = "echo 'hello there'"
        board.new_name.value = "board-new"
        cid = board.create()
        assert cid and board.state_of("board-new") == "created"
        assert "201 Created" in board.create_sent.value
        assert client.get(f"/containers/{cid}/json")["Config"]["Cmd"] == ["echo", "hello there"]
        board.image.value = "no-such-image"
        assert board.create() is None and "404" in board.create_sent.value
        with pytest.raises(ValueError, match="no button"):
            board.act("board-new", "explode")
        with pytest.raises(LookupError, match="no container"):
            board.act("not-on-the-board", "start")
        assert_text_fallback(board, "Container board", "start, stop, remove and logs")
    finally:
        board.close()


# --------------------------------------------------------------------------- the traffic view


def test_traffic_view_follows_a_recorder_and_shows_bytes_on_click(engine: LabEngine) -> None:
    folder = short_tempdir()
    recorder = Recorder(engine.url, folder / "proxy.sock").start()
    view = TrafficView(recorder)
    try:
        assert view.following and "0 exchanges" in view.status.value
        with Client(recorder.docker_host) as through:
            through.ping()
            through.get("/images/json")
        eventually(lambda: any("/images/json" in label for label, _ in view.rows.options))
        labels = [label for label, _ in view.rows.options]
        assert labels[0].startswith("#1   → GET /_ping  ← 200 OK")
        assert labels[1].startswith("#2   → GET /version")  # the client negotiating
        detail = view.select(len(labels))
        assert "GET /v" in detail and "/images/json" in detail and "← the response" in detail
        assert_text_fallback(view, "Traffic view", "GET /_ping")
        recorder.stop()  # the view stops following by itself
        eventually(lambda: not view.following)
        assert "so far" not in view.status.value
    finally:
        view.close()
        recorder.stop()


def test_traffic_view_of_a_finished_transcript(engine: LabEngine) -> None:
    folder = short_tempdir()
    with Recorder(engine.url, Path(folder) / "proxy.sock") as recorder:
        with Client(recorder.docker_host) as through:
            through.ping()
        recorder.wait_idle()
    view = TrafficView(recorder.transcript)
    try:
        assert not view.following and view.stop_button.disabled
        assert [label[:18] for label, _ in view.rows.options] == ["#1   → GET /_ping "]
    finally:
        view.close()
    with pytest.raises(TypeError, match="Recorder"):
        TrafficView("not a recording")  # type: ignore[arg-type]


def test_board_and_feeds_on_the_real_engine(each_real_engine_url: str) -> None:
    client = Client(each_real_engine_url)
    name = f"labkit-board-{time.monotonic_ns() % 10**8}"
    board = ContainerBoard(client)
    events = EventFeed(client, filters={"type": ["container"]})
    try:
        assert board.following.wait(20) and events.connected.wait(20)
        board.image.value = "busybox:latest"
        board.command.value = "sh -c 'echo out; echo err >&2; sleep 60'"
        board.new_name.value = name
        cid = board.create()
        assert cid and board.state_of(name) == "created", board.create_sent.value
        board.act(name, "start")
        board.wait_idle()
        eventually(lambda: board.state_of(name) == "running", timeout=30)
        logs = board.show_logs(name)
        eventually(lambda: "[stderr] err" in logs.text() and "[stdout] out" in logs.text())
        eventually(lambda: name in events.view.value)
        # Podman writes its events to a file and reads them back: they may come a little late
        eventually(lambda: {"create", "start"} <= {e.get("Action") for e in events.events})
    finally:
        events.close()
        board.close()
        client.request("DELETE", f"/containers/{name}", params={"force": True})
        client.close()


def test_stop_all_switches_every_widget_off_and_they_still_work(client: Client) -> None:
    from labkit.lessons import workers

    make_container(client, "switched-off", ["sleep", "60"], start=True)
    board = ContainerBoard(client)
    feed = EventFeed(client)
    ex = Explorer(client)
    try:
        ex.set_request("GET", "/containers/json")
        ex.send()
        ex.wait(10)
        assert board.following.wait(10) and feed.connected.wait(10)
        assert ex.client._sock is not None or board.client._sock is not None
        stopped = workers.stop_all()
        assert {"ContainerBoard", "EventFeed", "Explorer"} <= set(stopped)
        assert not board.running and not feed.running
        for widget in (board, feed, ex):
            assert widget.client._sock is None, f"{type(widget).__name__} kept a connection"
        board.refresh()  # a stopped widget reconnects when used again
        assert board.state_of("switched-off") == "running"
    finally:
        for widget in (board, feed, ex):
            widget.close()
        client.request("DELETE", "/containers/switched-off", params={"force": True})

"""The learning tools' logic, no engine and no browser: curl lines, the map of calls,
requests checked before sending, JSON as tables, event rows, output, traffic details."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from labkit.lessons.api_call import Request, RequestError
from labkit.lessons.curl import curl_command
from labkit.lessons.endpoints import OPERATIONS, by_label, find, may_stream
from labkit.lessons.event_feed import event_row, events_table
from labkit.lessons.json_view import json_table, pretty
from labkit.lessons.log_feed import output_html, output_text
from labkit.lessons.traffic_view import exchange_detail, exchange_detail_text, row_text
from labkit.proxy.recorder import CLIENT, ENGINE, Conversation
from labkit.transport.hosts import Endpoint, TLSConfig, parse_host
from labkit.wire.frames import STDERR, STDOUT, encode_frame

SOCK = parse_host("unix:///home/me/.local/share/labkit/engine/engine.sock")


# --------------------------------------------------------------------------- curl


def test_curl_for_a_get_on_a_unix_socket_pastes_as_is() -> None:
    line = curl_command(SOCK, "GET", "/v1.51/images/json")
    assert line == (
        "curl --unix-socket /home/me/.local/share/labkit/engine/engine.sock "
        "http://localhost/v1.51/images/json"
    )


def test_curl_quotes_a_query_and_a_json_body_for_the_shell() -> None:
    target = "/v1.41/containers/create?name=web&x=%7B%7D"
    body = '{"Image": "busybox", "Cmd": ["sh", "-c", "echo it\'s here"]}'
    line = curl_command(SOCK, "POST", target, body=body)
    words = shlex.split(line)
    assert words[:3] == ["curl", "--unix-socket", SOCK.path]
    assert words[3:7] == ["-H", "Content-Type: application/json", "-d", body]
    assert words[-1] == "http://localhost" + target
    assert "-X" not in words  # -d already means POST


def test_curl_methods_streams_and_heads() -> None:
    assert shlex.split(curl_command(SOCK, "POST", "/v1.51/containers/x/start"))[3:5] == [
        "-X",
        "POST",
    ]
    assert "--head" in shlex.split(curl_command(SOCK, "HEAD", "/_ping"))
    assert shlex.split(curl_command(SOCK, "DELETE", "/v1.51/containers/x"))[3:5] == [
        "-X",
        "DELETE",
    ]
    assert "-N" in shlex.split(curl_command(SOCK, "GET", "/v1.51/events", stream=True))
    assert "-i" in shlex.split(curl_command(SOCK, "GET", "/_ping", show_head=True))


def test_curl_for_tcp_and_tls_engines() -> None:
    plain = parse_host("tcp://127.0.0.1:2375")
    assert curl_command(plain, "GET", "/_ping") == "curl http://127.0.0.1:2375/_ping"
    tls = Endpoint(
        url="tcp://docker.example:2376",
        scheme="tcp",
        host="docker.example",
        port=2376,
        tls=TLSConfig(Path("/c/ca.pem"), Path("/c/cert.pem"), Path("/c/key.pem")),
    )
    assert shlex.split(curl_command(tls, "GET", "/_ping")) == [
        "curl",
        "--cacert",
        "/c/ca.pem",
        "--cert",
        "/c/cert.pem",
        "--key",
        "/c/key.pem",
        "https://docker.example:2376/_ping",
    ]


def test_curl_says_why_it_cannot_reach_an_ssh_engine() -> None:
    with pytest.raises(ValueError, match="run curl on the engine's machine"):
        curl_command(parse_host("ssh://me@box"), "GET", "/_ping")


# --------------------------------------------------------------------------- the map of calls


def test_every_operation_is_well_formed_and_listed_once() -> None:
    labels = [op.label for op in OPERATIONS]
    assert len(labels) == len(set(labels))
    for op in OPERATIONS:
        assert op.path.startswith("/") and op.method in ("GET", "POST", "DELETE")
        assert op.about
        assert all(p.about and p.name for p in op.params)
    assert find("get", "/images/json") is by_label()["GET /images/json"]
    assert find("GET", "/nowhere") is None
    assert not find("GET", "/_ping").versioned  # type: ignore[union-attr]


def test_placeholders_fill_and_match() -> None:
    start = by_label()["POST /containers/{id}/start"]
    assert start.placeholders == ["id"]
    assert start.fill({"id": "web"}) == "/containers/web/start"
    assert start.fill({"id": ""}) == "/containers/{id}/start"
    assert start.matches("/containers/web/start") and start.matches(start.path)
    assert not start.matches("/containers/web/stop")
    assert not start.matches("/containers/a/b/start")


def test_which_requests_may_stream() -> None:
    assert may_stream("GET", "/events")
    assert not may_stream("GET", "/events", {"until": "1700000000"})
    assert may_stream("GET", "/containers/web/logs", {"follow": "true"})
    assert not may_stream("GET", "/containers/web/logs", {"follow": "false"})
    assert may_stream("POST", "/containers/web/wait")
    assert may_stream("POST", "/images/create")
    assert not may_stream("GET", "/images/json")


# --------------------------------------------------------------------------- requests


def test_a_request_is_tidied_before_it_is_sent() -> None:
    checked = Request(
        " get ", " /images/json ", (("all", " true "), ("filters", ""), ("", ""))
    ).checked()
    assert checked == Request("GET", "/images/json", (("all", "true"),), "", True)
    assert checked.label() == "GET /images/json?all=true"


@pytest.mark.parametrize(
    ("request_", "words"),
    [
        (Request("GET", "images/json"), "must start with '/'"),
        (Request("GET", "http://localhost/images/json"), "must start with '/'"),
        (Request("GET", "/images/json?all=1"), "parameter rows"),
        (Request("POST", "/containers/{id}/start"), "placeholder in braces"),
        (Request("GET", "/images json"), "has a space"),
        (Request("G ET", "/_ping"), "not an HTTP method"),
        (Request("GET", "/x", (("a b", "1"),)), "not a parameter name"),
        (Request("POST", "/containers/create", (), "{'Image': 'busybox'}"), "double quotes"),
    ],
)
def test_a_request_that_cannot_be_sent_says_what_to_change(request_: Request, words: str) -> None:
    with pytest.raises(RequestError, match=words):
        request_.checked()


# --------------------------------------------------------------------------- JSON as a table


def test_a_list_of_objects_becomes_rows_and_columns() -> None:
    images = [
        {"Id": "sha256:1", "RepoTags": ["busybox:latest"], "Size": 10},
        {"Id": "sha256:2", "RepoTags": ["alpine:latest"], "Size": 20, "Extra": None},
    ]
    table = json_table(images)
    assert table.columns == ["Id", "RepoTags", "Size", "Extra"]
    assert table.rows[0] == ["sha256:1", '["busybox:latest"]', "10", ""]
    assert table.caption == "2 objects"
    wide = json_table([{f"k{i}": i for i in range(10)}], max_columns=8)
    assert wide.caption == "1 object (2 more keys not shown: see the pretty JSON)"


def test_other_json_shapes_as_tables() -> None:
    assert json_table({"a": 1, "b": [1, 2]}).rows == [["a", "1"], ["b", "[1,2]"]]
    assert json_table([]).caption == "an empty list"
    assert json_table(["x", 2]).rows == [["0", "x"], ["1", "2"]]
    assert json_table("OK").rows == [["OK"]]
    assert pretty({"a": [1]}) == '{\n  "a": [\n    1\n  ]\n}'


# --------------------------------------------------------------------------- events and output


def test_an_event_as_a_row() -> None:
    event = {
        "Type": "container",
        "Action": "die",
        "Actor": {"ID": "f" * 64, "Attributes": {"name": "web", "exitCode": "0"}},
        "time": 1767603600,
        "timeNano": 1767603600123456789,
    }
    assert event_row(event) == ("09:00:00.123", "container", "die", "web", "exitCode=0")
    nameless = {"Type": "image", "Action": "pull", "Actor": {"ID": "busybox:latest"}}
    assert event_row(nameless) == ("", "image", "pull", "busybox:latest", "")
    table = events_table([event] * 5, last=2)
    assert len(table.rows) == 2 and table.caption == "the last 2 of 5 events"


def test_output_keeps_stdout_and_stderr_apart() -> None:
    pieces = [(STDOUT, b"hello\nworld\n"), (STDERR, b"<oops>\n")]
    assert output_text(pieces) == "[stdout] hello\n[stdout] world\n[stderr] <oops>"
    markup = output_html(pieces)
    assert '<span class="labkit-stderr"' in markup and "&lt;oops&gt;" in markup
    assert markup.index("labkit-stdout") < markup.index("labkit-stderr")


# --------------------------------------------------------------------------- traffic details

ATTACH = (
    b"POST /v1.51/containers/abc/attach?stream=1&stdout=1&stderr=1 HTTP/1.1\r\n"
    b"Host: docker\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n"
)
UPGRADED = (
    b"HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.multiplexed-stream\r\n"
    b"Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
)


def attached_exchange(stream_out: bytes):
    conv = Conversation(1)
    conv.feed(CLIENT, ATTACH, 1.0)
    conv.feed(ENGINE, UPGRADED + stream_out, 2.0)
    conv.close(CLIENT, 3.0)
    conv.close(ENGINE, 3.0)
    [exchange] = conv.take_completed()
    return exchange


def test_a_hijacked_stream_is_shown_as_its_frames() -> None:
    exchange = attached_exchange(encode_frame(STDOUT, b"hi\n") + encode_frame(STDERR, b"oops\n"))
    assert row_text(exchange).startswith("#1   → POST /containers/{id}/attach?")
    assert "101 UPGRADED" in row_text(exchange)
    markup = exchange_detail(exchange)
    assert '<tr class="labkit-frame-stdout"' in markup
    assert '<tr class="labkit-frame-stderr"' in markup
    assert "01 00 00 00 00 00 00 03" in markup and "02 00 00 00 00 00 00 05" in markup
    text = exchange_detail_text(exchange)
    assert "1 = stdout" in text and "2 = stderr" in text
    assert "POST /v1.51/containers/abc/attach" in text


def test_a_tty_stream_is_shown_raw() -> None:
    exchange = attached_exchange(b"hi from a tty\r\n")
    assert "not framed" in exchange_detail(exchange)
    assert "raw stream, not framed" in exchange_detail_text(exchange)

"""The guard: only what the allow-list names gets through, and it passes byte for byte."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from engine_fixtures import LabEngine, short_tempdir
from image_fixtures import pull_busybox

from labkit.proxy.guard import Guard, GuardError, Policy, parse_rule, request_path
from labkit.proxy.recorder import Recorder

DOCKER = "/usr/local/bin/docker"
LIST_ONLY = ["GET /_ping", "GET /version", "GET /images/json"]
RUN = [
    *LIST_ONLY,
    "GET /info",
    "POST /containers/create",
    "POST /containers/*/attach",
    "POST /containers/*/wait",
    "POST /containers/*/start",
    "DELETE /containers/*",
    "GET /containers/*/json",
]


# -- rules ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "method", "target", "allowed"),
    [
        ("GET /_ping", "GET", "/_ping", True),
        ("GET /_ping", "HEAD", "/_ping", True),  # HEAD is a GET without the body
        ("GET /_ping", "POST", "/_ping", False),
        ("GET /containers/json", "GET", "/v1.41/containers/json?all=1", True),
        ("GET /containers/json", "GET", "/v1.51/containers/abc/json", False),
        ("POST /containers/*/start", "POST", "/v1.44/containers/abc/start", True),
        ("POST /containers/*/start", "POST", "/containers/abc/exec", False),
        ("POST /containers/*/start", "POST", "/containers/a/b/start", False),
        ("GET /images/**", "GET", "/images/docker.io/library/busybox/json", True),
        ("GET /images/**", "GET", "/images", True),
        ("* /_ping", "DELETE", "/_ping", True),
        # what users of section-wide socket proxies ask for: start without exec
        ("POST /containers/*/start", "POST", "/v1.41/containers/abc/exec", False),
        ("* /containers/**", "POST", "/v1.41/containers/abc/exec", True),  # a whole section
        # the path as dockerd's router sees it: percent-escapes decoded
        ("GET /containers/json", "GET", "/v%31.41/containers/json", True),
        ("GET /containers/*/json", "GET", "/containers/abc%2Fexec/json", False),
        ("POST /containers/*/start", "POST", "/containers/a%2F..%2F..%2Fexec%2Fx/start", False),
    ],
)
def test_a_rule_is_a_method_and_a_path(rule: str, method: str, target: str, allowed: bool) -> None:
    assert Policy([rule]).decide(method, target).allowed is allowed


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("/containers/json", "METHOD /path"),
        ("GET containers", "METHOD /path"),
        ("GET /v1.41/containers/json", "leave it out"),
        ("GET /containers/abc*/json", "whole path segment"),
    ],
)
def test_a_bad_rule_says_what_to_write(text: str, words: str) -> None:
    with pytest.raises(GuardError, match=words):
        parse_rule(text)


def test_the_path_a_rule_sees() -> None:
    assert request_path("/v1.41/containers/json?all=1") == "/containers/json"
    assert request_path("/_ping") == "/_ping"
    assert request_path("/v%31.41/containers/json") == "/containers/json"


@pytest.mark.parametrize(
    ("target", "words"),
    [
        ("/containers/x/../y/start", "'..'"),
        ("/containers/x/%2e%2e/y/start", "'..'"),
        ("/containers/./json", "'.'"),
        ("//containers/json", "empty segment"),
        ("/containers/x%00/start", "NUL"),
        ("/containers/x%3F/start", "NUL, ? or #"),
        ("http://docker/containers/json", "not a path"),
    ],
)
def test_a_path_that_is_not_plain_is_refused_whatever_the_rules(target: str, words: str) -> None:
    policy = Policy(["* /**"])
    decision = policy.decide("POST", target)
    assert not decision.allowed
    assert words in policy.refusal(decision) and words in decision.line()


# -- on the wire ---------------------------------------------------------------------


@pytest.fixture
def guarded(lab_engine: LabEngine):
    """engine <- recorder <- guard(RUN rules) <- the test; the recorder sees what passed."""
    folder = short_tempdir("lkg")
    recorder = Recorder(lab_engine.url, folder / "rec.sock").start()
    guard = Guard(recorder.docker_host, folder / "guard.sock", RUN).start()
    yield guard, recorder
    guard.stop()
    recorder.stop()


def exchange(path: Path, data: bytes, close: bool = True) -> bytes:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(10)
        sock.connect(str(path))
        sock.sendall(data)
        if close:
            sock.shutdown(socket.SHUT_WR)
        reply = b""
        while piece := sock.recv(65536):
            reply += piece
        return reply


def test_the_guard_s_socket_is_private(guarded) -> None:
    guard, _ = guarded
    assert stat.S_IMODE(os.stat(guard.socket_path).st_mode) == 0o600


def test_an_allowed_call_passes_byte_for_byte(guarded) -> None:
    guard, recorder = guarded
    request = b"GET /_ping HTTP/1.1\r\nHost: docker\r\nX-Odd:  spaces kept \r\n\r\n"
    reply = exchange(guard.socket_path, request)
    recorder.wait_idle()
    [sent] = [c for c in recorder.transcript.chunks if c.sender == "client"]
    engine_side = b"".join(c.data for c in recorder.transcript.chunks if c.sender == "engine")
    assert sent.data == request
    assert reply == engine_side
    assert reply.startswith(b"HTTP/1.1 200 OK")


def test_a_denied_call_gets_403_naming_the_rule_and_the_connection_goes_on(guarded) -> None:
    guard, recorder = guarded
    body = b'{"Image": "busybox"}'
    denied = (
        b"POST /v1.41/containers/abc/exec HTTP/1.1\r\nHost: docker\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    reply = exchange(guard.socket_path, denied + b"GET /_ping HTTP/1.1\r\nHost: d\r\n\r\n")
    first, _, rest = reply.partition(b"\r\n\r\n")
    assert first.startswith(b"HTTP/1.1 403 Forbidden")
    message = json.loads(rest.split(b"\n", 1)[0])["message"]
    assert "POST /containers/abc/exec is not allowed" in message
    assert "'POST /containers/abc/exec'" in message
    assert b"HTTP/1.1 200 OK" in rest  # the next request on the same connection was served
    recorder.wait_idle()
    assert all(b"/exec" not in c.data for c in recorder.transcript.chunks)


def test_a_chunked_request_body_is_forwarded_unchanged(guarded) -> None:
    guard, _ = guarded
    payload = json.dumps({"Name": "lk-guard-vol"}).encode()
    # volumes are not in RUN: a chunked body that is refused is read to its end first
    request = (
        b"POST /volumes/create HTTP/1.1\r\nHost: d\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"%x\r\n%s\r\n0\r\n\r\n" % (len(payload), payload)
        + b"GET /_ping HTTP/1.1\r\nHost: d\r\n\r\n"
    )
    reply = exchange(guard.socket_path, request)
    assert reply.startswith(b"HTTP/1.1 403") and reply.endswith(b"OK")


@pytest.mark.lab_engine
def test_docker_images_works_and_docker_run_is_refused_through_a_list_only_guard(
    lab_engine: LabEngine,
) -> None:
    pull_busybox(lab_engine.socket)
    folder = short_tempdir("lkg")
    with Guard(lab_engine.url, folder / "g.sock", LIST_ONLY) as guard:
        env = {**lab_engine.env, "DOCKER_HOST": guard.docker_host}
        images = subprocess.run(
            [DOCKER, "images"], env=env, capture_output=True, text=True, timeout=60
        )
        run = subprocess.run(
            [DOCKER, "run", "--rm", "busybox", "echo", "hi"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert images.returncode == 0, images.stderr
    assert "busybox" in images.stdout
    assert run.returncode != 0
    assert "is not allowed" in run.stderr and "POST /containers/create" in run.stderr


@pytest.mark.lab_engine
def test_docker_run_with_its_hijacked_attach_passes_when_allowed(lab_engine: LabEngine) -> None:
    pull_busybox(lab_engine.socket)
    folder = short_tempdir("lkg")
    with Guard(lab_engine.url, folder / "g.sock", RUN) as guard:
        env = {**lab_engine.env, "DOCKER_HOST": guard.docker_host}
        run = subprocess.run(
            [DOCKER, "run", "--rm", "-i", "busybox", "sh", "-c", "cat; echo err >&2"],
            env=env,
            input="through the guard\n",
            capture_output=True,
            text=True,
            timeout=60,
        )
        decisions = [d.line() for d in guard.decisions]
    assert run.returncode == 0, run.stderr
    assert run.stdout == "through the guard\n"
    assert run.stderr == "err\n"
    assert any("/attach" in line and line.startswith("allowed") for line in decisions)


@pytest.mark.real_engine
def test_the_guard_in_front_of_a_real_dockerd(real_engine_url: str, tmp_path: Path) -> None:
    folder = short_tempdir("lkg")
    with Guard(real_engine_url, folder / "g.sock", LIST_ONLY) as guard:
        env = {
            **os.environ,
            "DOCKER_HOST": guard.docker_host,
            "DOCKER_CONFIG": str(tmp_path),
        }
        images = subprocess.run(
            [DOCKER, "images"], env=env, capture_output=True, text=True, timeout=60
        )
        ps = subprocess.run([DOCKER, "ps"], env=env, capture_output=True, text=True, timeout=60)
    assert images.returncode == 0, images.stderr
    assert ps.returncode != 0 and "GET /containers/json" in ps.stderr


def test_labkit_guard_refuses_a_bad_rule_in_one_line(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "labkit", "guard", "--listen", str(tmp_path / "g.sock"),
         "--upstream", str(tmp_path / "none.sock"), "--allow", "/containers/json"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert run.returncode == 2
    assert "METHOD /path" in run.stderr and "Traceback" not in run.stderr

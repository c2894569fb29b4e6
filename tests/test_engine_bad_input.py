"""Bad input is a 4xx, never a 500: numbers, JSON and names read as dockerd reads them.

dockerd reads query numbers with Go's strconv and bodies with encoding/json, and its
answers carry those packages' messages; the lab engine gives the same words (as a 400
where dockerd 28 sometimes answers 500, see docs/differential.md). Deep JSON, numbers
out of range and names with a newline used to reach the engine's insides as 500s; a
fuzzer over every route proves the family closed: no request gets a 500.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import io
import json
import socket
import tarfile
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labkit.engine import goparse
from labkit.engine.app import App
from labkit.engine.replies import HijackReply, StreamReply
from labkit.engine.server import Incoming

pytestmark = pytest.mark.timeout(300)


class InProcess:
    """The lab engine's app and model on an event loop of the test's own: fast to ask."""

    def __init__(self, home: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.app = App()

        async def start() -> None:
            self.app.start(home, clock="2026-01-05T09:00:00Z", seed=7)
            await self.app.wait_ready()
            engine = self.app.engine
            spec, ref = engine.pull_target("busybox", "latest")
            engine.record_pull(spec, ref)
            self.cid = engine.create_container(
                "probe", {"Image": "busybox", "Cmd": ["sleep", "1000"]}
            ).id
            engine.start_container(engine.container("probe"))
            engine.create_volume("vol1", None)

        self.loop.run_until_complete(start())

    def call(self, method: str, target: str, body: bytes | Any = b"") -> tuple[int, Any]:
        """Status and JSON body (or None) of one request; streams are read a little."""
        if not isinstance(body, bytes):
            body = json.dumps(body).encode()
        incoming = Incoming(method, target, [("Host", "d")], body)
        return self.loop.run_until_complete(self._call(incoming))

    async def _call(self, incoming: Incoming) -> tuple[int, Any]:
        try:
            reply = await asyncio.wait_for(self.app.respond(incoming), 5)
        except asyncio.TimeoutError:  # a stop waiting its t seconds: not a 500
            return 0, None
        if isinstance(reply, StreamReply):
            try:
                await asyncio.wait_for(_first(reply.chunks), 2)
            except asyncio.TimeoutError:
                pass
            finally:
                await reply.chunks.aclose()  # type: ignore[attr-defined]
            return reply.status, None
        if isinstance(reply, HijackReply):
            return 101, None
        return reply.status, getattr(reply, "obj", None)

    def close(self) -> None:
        self.loop.run_until_complete(self.app.close())
        self.loop.close()


async def _first(chunks: Any) -> None:
    async for _chunk in chunks:
        return


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcess]:
    engine = InProcess(tmp_path_factory.mktemp("bad-input"))
    yield engine
    engine.close()


def q(**params: str) -> str:
    return urllib.parse.urlencode(params)


# ---------------------------------------------------------------- numbers, as strconv reads them
NUMBERS = [
    # (method, target, status, message); dockerd 28's words (strconv's)
    ("GET", "/containers/json?limit=1e100", 400, 'strconv.Atoi: parsing "1e100": invalid syntax'),
    ("GET", "/containers/json?limit=99999999999999999999", 400,
     'strconv.Atoi: parsing "99999999999999999999": value out of range'),
    ("GET", "/containers/json?limit=%D9%A3", 400, 'strconv.Atoi: parsing "٣": invalid syntax'),
    ("GET", "/containers/json?limit=1_000", 400, 'strconv.Atoi: parsing "1_000": invalid syntax'),
    ("POST", "/containers/probe/stop?t=1e20", 400, 'strconv.Atoi: parsing "1e20": invalid syntax'),
    ("POST", "/containers/probe/restart?t=-99999999999999999999", 400,
     'strconv.Atoi: parsing "-99999999999999999999": value out of range'),
    ("GET", "/containers/probe/logs?stdout=1&since=1e23", 400,
     'strconv.ParseInt: parsing "1e23": invalid syntax'),
    ("GET", "/containers/probe/logs?stdout=1&until=12345678901234567890", 400,
     'strconv.ParseInt: parsing "12345678901234567890": value out of range'),
    ("GET", "/containers/probe/logs?stdout=1&since=1.5e3", 400,
     'strconv.ParseInt: parsing "5e3": invalid syntax'),
    ("GET", "/events?since=1e23", 400, 'strconv.ParseInt: parsing "1e23": invalid syntax'),
    ("GET", "/events?since=5&until=12345678901234567890", 400,
     'strconv.ParseInt: parsing "12345678901234567890": value out of range'),
    ("GET", "/events?since=20&until=10", 400,
     "`since` time (20) cannot be after `until` time (10)"),
    ("POST", "/containers/probe/resize?h=1e3&w=80", 400,
     'invalid resize height "1e3": invalid syntax'),
    ("POST", "/containers/probe/resize?h=24&w=-1", 400,
     'invalid resize width "-1": value out of range'),
    ("POST", "/containers/probe/resize?h=24&w=4294967296", 400,
     'invalid resize width "4294967296": value out of range'),
    ("POST", "/containers/probe/kill?signal=99999999999999999999", 400,
     "Invalid signal: 99999999999999999999"),
    ("POST", "/containers/probe/kill?signal=%C2%B2", 400, "Invalid signal: ²"),
    ("POST", "/containers/prune?" + q(filters='{"until":["1e23"]}'), 400,
     'failed to parse value as time or duration: "1e23"'),
]  # fmt: skip


@pytest.mark.parametrize(("method", "target", "status", "message"), NUMBERS)
def test_numbers_are_read_as_dockerd_reads_them(lab, method, target, status, message) -> None:
    assert lab.call(method, target) == (status, {"message": message})


@pytest.mark.parametrize(
    "target",
    [
        "/containers/probe/logs?stdout=1&tail=1e20",  # not a number: all of it, as dockerd does
        "/containers/probe/logs?stdout=1&tail=99999999999999999999",
        "/containers/probe/logs?stdout=1&tail=-5",
        "/containers/probe/logs?stdout=1&since=-1",  # before 1970 is a time too
        "/events?since=-5&until=1",
        "/containers/json?limit=-5",  # no limit
    ],
)
def test_numbers_dockerd_accepts_are_accepted(lab, target) -> None:
    assert lab.call("GET", target)[0] == 200


def test_a_stop_timeout_at_the_edge_of_int64_waits_but_does_not_crash(lab) -> None:
    status, _ = lab.call("POST", "/containers/probe/stop?t=9223372036854775807")
    assert status in (0, 204)  # 0: still waiting (the test gives up first), never a 500
    lab.call("POST", "/containers/probe/kill")


JSON_NUMBERS = [
    # (the fields, as the client wrote them; Go's words for the value; the field; its type)
    ('"HostConfig": {"Memory": 1e20}', "number 1e20", "HostConfig.Memory", "int64"),
    ('"HostConfig": {"Memory": 100000000000000000000}', "number 100000000000000000000",
     "HostConfig.Memory", "int64"),
    ('"HostConfig": {"Memory": 1.5}', "number 1.5", "HostConfig.Memory", "int64"),
    ('"StopTimeout": 1E+20', "number 1E+20", "StopTimeout", "int"),
    ('"HostConfig": {"ConsoleSize": [-1, 5]}', "number -1", "HostConfig.ConsoleSize", "uint"),
    ('"HostConfig": {"ConsoleSize": [1e20, 5]}', "number 1e20", "HostConfig.ConsoleSize", "uint"),
    ('"Labels": {"a": {"b": "c"}}', "object", "Labels", "string"),
    ('"Tty": 5', "number", "Tty", "bool"),
]  # fmt: skip


@pytest.mark.parametrize(("fields", "what", "field", "go_type"), JSON_NUMBERS)
def test_json_numbers_out_of_range_are_refused_with_go_s_words(
    lab, fields, what, field, go_type
) -> None:
    body = ('{"Image": "busybox", ' + fields + "}").encode()
    status, reply = lab.call("POST", "/containers/create", body)
    assert status == 400
    assert reply["message"] == (
        f"json: cannot unmarshal {what} into Go struct field ContainerConfigWrapper.{field} "
        f"of type {go_type}"
    )


@pytest.mark.parametrize(
    ("host_config", "message"),
    [
        ({"Memory": 1000}, "Minimum memory limit allowed is 6MB"),
        ({"Memory": -1}, "Minimum memory limit allowed is 6MB"),
        ({"NanoCpus": -1}, "range of CPUs is from 0.01 to"),
    ],
)
def test_resources_are_checked_as_dockerd_checks_them(lab, host_config, message) -> None:
    status, reply = lab.call(
        "POST", "/containers/create", {"Image": "busybox", "HostConfig": host_config}
    )
    assert status == 400 and reply["message"].startswith(message)


def test_nan_and_infinity_are_not_json(lab) -> None:
    status, reply = lab.call(
        "POST", "/containers/create", b'{"Image": "busybox", "HostConfig": {"Memory": NaN}}'
    )
    assert status == 400
    assert "invalid character 'N' looking for beginning of value" in reply["message"]


# ---------------------------------------------------------------- deeply nested JSON
DEEP = [150, 5_000, 200_000]


@pytest.mark.parametrize("depth", DEEP)
def test_deeply_nested_bodies_are_a_400(lab, depth: int) -> None:
    for body in (b"[" * depth + b"]" * depth, b'{"a":' * depth + b"1" + b"}" * depth):
        for method, target in (
            ("POST", "/containers/create"),
            ("POST", "/containers/probe/exec"),
            ("POST", "/networks/create"),
            ("POST", "/volumes/create"),
        ):
            status, reply = lab.call(method, target, body)
            assert status == 400, (target, reply)
            assert "nested more than 100 levels deep" in reply["message"]


@pytest.mark.parametrize("depth", DEEP)
def test_deep_labels_and_filters_are_a_400(lab, depth: int) -> None:
    labels = b'{"Image":"busybox","Labels":' + b'{"a":' * depth + b'"x"' + b"}" * (depth + 1)
    status, reply = lab.call("POST", "/containers/create", labels)
    assert status == 400 and "nested more than 100 levels deep" in reply["message"]
    deep = "[" * depth + "]" * depth
    for target in ("/containers/json", "/images/json", "/volumes", "/networks", "/events"):
        status, reply = lab.call("GET", f"{target}?{q(filters=deep)}")
        assert status == 400, (target, reply)
        assert "nested more than 100 levels deep" in reply["message"]


def test_json_as_deep_as_the_api_needs_is_fine() -> None:
    body = {"HostConfig": {"PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}}}
    assert goparse.loads(json.dumps(body)) == body
    assert goparse.depth([[[[]]]]) == 4


# ---------------------------------------------------------------- names
@pytest.mark.parametrize("name", ["a\nb", "ab\n", "a b", "-ab", "a/b", "é"])
def test_container_names_with_forbidden_characters_are_refused(lab, name: str) -> None:
    status, reply = lab.call("POST", "/containers/create?" + q(name=name), {"Image": "busybox"})
    assert (status, reply["message"]) == (
        400,
        f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed",
    )


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("ab\n", 'create ab\n: "ab\\n" includes invalid characters for a local volume name'),
        ("a", "create a: volume name is too short, names should be at least two alphanumeric"),
        ("a" * 300, "create " + "a" * 300 + ": mkdir "),
    ],
)
def test_volume_names_are_refused_as_dockerd_refuses_them(lab, name: str, message: str) -> None:
    status, reply = lab.call("POST", "/volumes/create", {"Name": name})
    assert status == 400 and reply["message"].startswith(message), reply


def test_a_volume_name_as_long_as_a_file_name_may_be_works(lab) -> None:
    assert lab.call("POST", "/volumes/create", {"Name": "v" * 255})[0] == 201
    assert lab.call("DELETE", "/volumes/" + "v" * 255)[0] == 204


@pytest.mark.parametrize(
    ("repo", "tag"), [("x", "a\nb"), ("x\ny", "a"), ("x", "t" * 129), ("X", "a"), ("x", "-a")]
)
def test_tags_with_forbidden_characters_are_refused(lab, repo: str, tag: str) -> None:
    status, reply = lab.call("POST", "/images/busybox/tag?" + q(repo=repo, tag=tag))
    assert status == 400 and reply["message"].startswith("invalid"), reply


# ---------------------------------------------------------------- the same words as dockerd
SAME_AS_DOCKERD = [
    # requests whose message dockerd 20.10 (the one CI runs) and 28 share, word for word
    ("GET", "/containers/json?limit=1e100", None),
    ("GET", "/containers/json?limit=99999999999999999999", None),
    ("POST", "/containers/{c}/stop?t=1e20", None),
    ("GET", "/containers/{c}/logs?stdout=1&since=1e23", None),
    ("GET", "/containers/{c}/logs?stdout=1&until=12345678901234567890", None),
    ("GET", "/events?since=1e23&until=1", None),
    ("POST", "/containers/{c}/kill?signal=1e3", None),
    ("POST", "/containers/create?name=ab%0A", {"Image": "busybox"}),
    ("POST", "/volumes/create", {"Name": "a\nb"}),
    ("POST", "/volumes/create", {"Name": "a"}),
    ("POST", "/containers/create", {"Image": "busybox", "HostConfig": {"Memory": 1000}}),
    ("POST", "/containers/create", {"Image": "busybox", "Labels": {"a": {"b": "c"}}}),
]


def raw_call(socket_path: str, method: str, target: str, body: bytes) -> tuple[int, Any]:
    """One request, exactly as written, over a Unix socket; status and decoded JSON."""
    conn = http.client.HTTPConnection("localhost", timeout=30)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(30)
    sock.connect(socket_path)
    conn.sock = sock
    headers = {"Content-Type": "application/json"} if body else {}
    conn.request(method, target, body=body or None, headers=headers)
    reply = conn.getresponse()
    data = reply.read()
    conn.close()
    return reply.status, json.loads(data) if data else None


@pytest.mark.real_engine
def test_the_messages_are_dockerd_s(real_engine_url: str, tmp_path: Path) -> None:
    """Each refusal carries dockerd's exact message; the status is a 400 where dockerd says
    400, and where dockerd 20.10 or 28 says 500 (a NumError it does not classify)."""
    path = real_engine_url[len("unix://") :]
    name = f"lkbad-{tmp_path.name[-8:]}"
    raw_call(path, "POST", f"/containers/create?name={name}", b'{"Image": "busybox"}')
    lab = InProcess(tmp_path / "home")
    try:
        for method, target, body in SAME_AS_DOCKERD:
            raw = b"" if body is None else json.dumps(body).encode()
            ours = lab.call(method, target.format(c="probe"), raw)
            status, theirs = raw_call(path, method, target.format(c=name), raw)
            assert ours[0] == 400 and status in (400, 500), (target, ours, status)
            assert ours[1]["message"] == theirs["message"], target
    finally:
        lab.close()
        raw_call(path, "DELETE", f"/containers/{name}?force=1", b"")


# ---------------------------------------------------------------- fuzzing every route
PARAMS = (
    "all", "limit", "size", "filters", "t", "timeout", "signal", "tail", "since", "until",
    "follow", "stdout", "stderr", "timestamps", "h", "w", "name", "force", "v", "condition",
    "stream", "path", "fromImage", "tag", "repo", "logs", "stdin", "one-shot", "filter",
    "noOverwriteDirNonDir", "fromSrc", "detachKeys",
)  # fmt: skip
NASTY = (
    "", "0", "1", "-1", "1e20", "1e23", "1e100", "99999999999999999999", "-99999999999999999999",
    "12345678901234567890", "1.5", "1.", ".5", "+5", "٣", "²", "0x10", "1_000", " 1", "true",
    "maybe", "a\nb", "\x00", "%", "all", "x" * 300, '{"label":["a"]}', '{"until":["1e23"]}',
    "[]", "[" * 3000, '{"a":' * 1000, "NaN", "KILL", "SIGRTMIN+99", "busybox", "/", "/etc/.",
    "../..",
)  # fmt: skip
texts = st.one_of(st.sampled_from(NASTY), st.text(max_size=20), st.integers().map(str))
JSON_KEYS = (
    "Image", "Cmd", "Env", "Labels", "HostConfig", "Memory", "NanoCpus", "ConsoleSize", "Tty",
    "Name", "Driver", "Options", "Binds", "Mounts", "Detach", "StopTimeout", "User",
    "PortBindings", "RestartPolicy", "Type", "Source", "Target", "x",
)  # fmt: skip
JSON_KEYS = (
    "Image", "Cmd", "Env", "Labels", "HostConfig", "Memory", "NanoCpus", "ConsoleSize", "Tty",
    "Name", "Driver", "Options", "Binds", "Mounts", "Detach", "StopTimeout", "User",
    "PortBindings", "RestartPolicy", "Type", "Source", "Target", "x",
)  # fmt: skip
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(JSON_KEYS), children, max_size=4)
    ),
    max_leaves=12,
)
bodies = st.one_of(
    json_values.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=40),
    st.integers(100, 20_000).map(lambda n: b"[" * n),
    st.just(b'{"Image":"busybox","Labels":' + b'{"a":' * 3000 + b'"x"' + b"}" * 3001),
)


@settings(
    max_examples=400, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True
)
@given(data=st.data())
def test_no_request_gets_a_500(lab, data: st.DataObject) -> None:
    route = data.draw(st.sampled_from(lab.app.router.routes))
    path = route.pattern
    for part in ("{id}", "{name*}", "{anyroute*}"):
        while part in path:
            value = data.draw(st.sampled_from(["probe", lab.cid, "busybox", "vol1"]) | texts)
            path = path.replace(part, urllib.parse.quote(value, safe=""), 1)
    query = data.draw(st.lists(st.tuples(st.sampled_from(PARAMS), texts), max_size=4))
    body = data.draw(bodies) if route.method in ("POST", "PUT") else b""
    target = "/v1.51" + path + ("?" + urllib.parse.urlencode(query) if query else "")
    status, reply = lab.call(route.method, target, body)
    # a node outside a swarm answers dockerd's 503 (and 501: the lab engine cannot start one)
    refusals = {501, 503} if route.module == "swarm" else set()
    assert status < 500 or status in refusals, (route.method, target, body[:100], reply)
    engine = lab.app.engine
    probe = engine.containers.get(lab.cid)
    if probe is not None and not probe.running:
        with contextlib.suppress(Exception):  # keep a running container to poke at
            engine.start_container(probe)


def _tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    flips=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=8),
    cut=st.integers(0, 12_000),
    compress=st.sampled_from(["", "gz", "bz2", "xz"]),
)
def test_no_archive_gets_a_500(lab, flips, cut: int, compress: str) -> None:
    import bz2
    import gzip
    import lzma

    raw = _tar({"a/b.txt": b"hello\n", "c": b"x" * 3000})
    raw = {"": bytes, "gz": gzip.compress, "bz2": bz2.compress, "xz": lzma.compress}[compress](raw)
    mutated = bytearray(raw[:cut] if cut < len(raw) else raw)
    for at, value in flips:
        if mutated:
            mutated[at % len(mutated)] = value
    status, reply = lab.call("PUT", "/containers/probe/archive?path=/tmp", bytes(mutated))
    assert status in (200, 400, 404), reply

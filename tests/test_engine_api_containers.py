"""Container, exec and event handlers, called directly with Request objects.

A small stand-in process (``FakeProcess``) follows the runtime's Process interface, so
these tests check the engine's bookkeeping (attach before start, wait conditions, logs,
events, auto-remove) apart from the mini shell.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from labkit.engine.api import containers as api
from labkit.engine.api import exec as api_exec
from labkit.engine.api import info as api_info
from labkit.engine.model import Engine
from labkit.engine.replies import (
    MULTIPLEXED_TYPE,
    RAW_STREAM_TYPE,
    ApiError,
    EmptyReply,
    HijackReply,
    JSONReply,
    Request,
    StreamReply,
)
from labkit.wire.frames import encode_frame


class FakeProcess:
    """echo / err / cat / sleep / exit N / hostname, with the runtime's interface."""

    _pids = itertools.count(100)

    def __init__(
        self,
        argv: list[str],
        *,
        fs: Any,
        env: dict[str, str],
        cwd: str = "/",
        hostname: str,
        user: str = "root",
        tty: bool = False,
        clock: Callable[[], float],
        on_output: Callable[[int, bytes], None],
        **extras: Any,
    ) -> None:
        self.argv, self.env, self.hostname, self.tty = argv, env, hostname, tty
        self.fs = fs
        self.on_output = on_output
        self.pid = next(self._pids)
        self.exit_code: int | None = None
        self._stdin = bytearray()
        self._stdin_closed = False
        self._wake = asyncio.Event()
        self._signal: int | None = None
        self._task: asyncio.Task[int] | None = None

    @staticmethod
    def resolve(argv: list[str], fs: Any, env: dict[str, str]) -> str | None:
        return None if argv[0] == "nosuch" else f"/bin/{argv[0]}"

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    def _out(self, stream: int, text: str) -> None:
        data = text.encode()
        if self.tty:
            data, stream = data.replace(b"\n", b"\r\n"), 1
        self.on_output(stream, data)

    async def _run(self) -> int:
        await asyncio.sleep(0)
        cmd, args = self.argv[0], self.argv[1:]
        code = 0
        if cmd == "echo":
            self._out(1, " ".join(args) + "\n")
        elif cmd == "err":
            self._out(2, " ".join(args) + "\n")
        elif cmd == "hostname":
            self._out(1, self.hostname + "\n")
        elif cmd == "write":
            self.fs.write(args[0], args[1].encode())
        elif cmd == "cat":
            while self._signal is None:
                if self._stdin:
                    self._out(1, self._stdin.decode())
                    self._stdin.clear()
                if self._stdin_closed:
                    break
                await self._wake.wait()
                self._wake.clear()
        elif cmd == "sleep":
            while self._signal is None:
                await self._wake.wait()
                self._wake.clear()
        elif cmd == "exit":
            code = int(args[0])
        if self._signal is not None:
            code = 128 + self._signal
        self.exit_code = code
        return code

    def feed_stdin(self, data: bytes) -> None:
        self._stdin += data
        self._wake.set()

    def close_stdin(self) -> None:
        self._stdin_closed = True
        self._wake.set()

    def signal(self, signum: int) -> None:
        if signum in (1, 2, 3, 9, 15):
            self._signal = signum
            self._wake.set()

    async def wait(self) -> int:
        assert self._task is not None
        return await self._task

    def top(self) -> list[list[str]]:
        return [["root", str(self.pid), "0", "0", "00:00", "?", "00:00:00", " ".join(self.argv)]]


class FakeConn:
    """A hijacked connection: ``inputs`` are what the client sends, then its EOF."""

    def __init__(self, inputs: list[bytes] | None = None, hold: bool = False) -> None:
        self._inputs: asyncio.Queue[bytes] = asyncio.Queue()
        for data in inputs or []:
            self._inputs.put_nowait(data)
        if not hold:
            self._inputs.put_nowait(b"")
        self.sent = bytearray()
        self._closed = False

    async def read(self) -> bytes:
        return await self._inputs.get()

    def write(self, data: bytes) -> None:
        self.sent += data

    async def drain(self) -> None:
        await asyncio.sleep(0)

    async def until_read(self, limit: float) -> None:
        await asyncio.sleep(0)  # this client reads everything at once

    def close(self) -> None:
        self._closed = True

    @property
    def closed(self) -> bool:
        return self._closed


def req(engine: Engine, method: str = "GET", body: Any = None, **query: Any) -> Request:
    raw = b"" if body is None else json.dumps(body).encode()
    q = {k: [str(v).lower() if isinstance(v, bool) else str(v)] for k, v in query.items()}
    return Request(method, "/", "1.51", q, body=raw, engine=engine)


async def collect(reply: StreamReply) -> bytes:
    out = b""
    async for chunk in reply.chunks:
        out += chunk
    return out


@pytest.fixture
def engine(tmp_path: Path):
    async def make() -> Engine:
        e = await Engine.open(tmp_path, clock="2026-01-01T00:00:00Z", seed=11)
        e.process_class = FakeProcess
        spec, ref = e.pull_target("busybox", "latest")
        e.record_pull(spec, ref)
        return e

    return make


async def create(e: Engine, name: str | None = None, **body: Any) -> str:
    body.setdefault("Image", "busybox")
    query = {"name": name} if name else {}
    reply = await api.create_container(req(e, "POST", body, **query))
    assert isinstance(reply, JSONReply) and reply.status == 201
    return reply.obj["Id"]


async def run_to_end(e: Engine, cid: str) -> int:
    wait = await api.wait_container(req(e, "POST", condition="next-exit"), id=cid)
    await api.start_container(req(e, "POST"), id=cid)
    return json.loads(await collect(wait))["StatusCode"]


def actions(e: Engine, cid: str) -> list[str]:
    return [ev["Action"] for ev in e.events.history(0, None) if ev["Actor"]["ID"] == cid]


# ---------------------------------------------------------------------------- life cycle
def test_create_start_wait_logs_remove(engine) -> None:
    async def go():
        e = await engine()
        try:
            cid = await create(e, "hi", Cmd=["echo", "hi"])
            assert await run_to_end(e, cid) == 0
            logs = await api.container_logs(req(e, stdout=1, stderr=1), id=cid)
            assert logs.content_type == MULTIPLEXED_TYPE
            assert await collect(logs) == encode_frame(1, b"hi\n")
            view = (await api.inspect_container(req(e), id="hi")).obj
            assert view["State"]["Status"] == "exited" and view["State"]["ExitCode"] == 0
            assert view["State"]["StartedAt"] != "0001-01-01T00:00:00Z"
            reply = await api.remove_container(req(e, "DELETE"), id="hi")
            assert isinstance(reply, EmptyReply) and reply.status == 204
            assert actions(e, cid) == ["create", "start", "die", "destroy"]
            with pytest.raises(ApiError, match="No such container: hi"):
                await api.inspect_container(req(e), id="hi")
        finally:
            await e.close()

    asyncio.run(go())


def test_attach_before_start_gets_the_first_byte(engine) -> None:
    async def go():
        e = await engine()
        try:
            cid = await create(e, Cmd=["err", "oops"], AttachStdout=True, AttachStderr=True)
            reply = await api.attach_container(req(e, "POST", stream=1, stdout=1, stderr=1), id=cid)
            assert isinstance(reply, HijackReply) and reply.content_type == MULTIPLEXED_TYPE
            conn = FakeConn(hold=True)
            session = asyncio.create_task(reply.session(conn))
            assert await run_to_end(e, cid) == 0
            await asyncio.wait_for(session, 5)
            assert bytes(conn.sent) == encode_frame(2, b"oops\n")
            assert actions(e, cid)[:2] == ["create", "attach"]
        finally:
            await e.close()

    asyncio.run(go())


def test_attach_stdin_feeds_the_process_and_stdin_once_closes_it(engine) -> None:
    async def go():
        e = await engine()
        try:
            cid = await create(
                e,
                Cmd=["cat"],
                OpenStdin=True,
                StdinOnce=True,
                AttachStdin=True,
                AttachStdout=True,
            )
            reply = await api.attach_container(
                req(e, "POST", stream=1, stdin=1, stdout=1, stderr=1), id=cid
            )
            conn = FakeConn([b"hello\n"])
            session = asyncio.create_task(reply.session(conn))
            assert await run_to_end(e, cid) == 0
            await asyncio.wait_for(session, 5)
            assert bytes(conn.sent) == encode_frame(1, b"hello\n")
        finally:
            await e.close()

    asyncio.run(go())


def test_tty_container_streams_raw(engine) -> None:
    async def go():
        e = await engine()
        try:
            cid = await create(e, Cmd=["echo", "raw"], Tty=True)
            reply = await api.attach_container(req(e, "POST", stream=1, stdout=1), id=cid)
            assert reply.content_type == RAW_STREAM_TYPE
            conn = FakeConn(hold=True)
            session = asyncio.create_task(reply.session(conn))
            await run_to_end(e, cid)
            await asyncio.wait_for(session, 5)
            assert bytes(conn.sent) == b"raw\r\n"
        finally:
            await e.close()

    asyncio.run(go())


def test_start_twice_304_and_missing_executable_400(engine) -> None:
    async def go():
        e = await engine()
        try:
            cid = await create(e, Cmd=["sleep"])
            assert (await api.start_container(req(e, "POST"), id=cid)).status == 204
            assert (await api.start_container(req(e, "POST"), id=cid)).status == 304
            await api.kill_container(req(e, "POST"), id=cid)
            bad = await create(e, "bad", Cmd=["nosuch"])
            with pytest.raises(ApiError) as caught:
                await api.start_container(req(e, "POST"), id=bad)
            assert caught.value.status == 400
            assert caught.value.message.endswith(
                'exec: "nosuch": executable file not found in $PATH: unknown'
            )
            state = (await api.inspect_container(req(e), id="bad")).obj["State"]
            assert (state["Status"], state["ExitCode"]) == ("created", 127)
            assert "executable file not found" in state["Error"]
        finally:
            await e.close()

    asyncio.run(go())


def test_auto_remove_container_whose_start_fails_is_removed(engine) -> None:
    """``docker run --rm busybox nosuch``: the CLI waits for condition=removed before it
    starts the container; a failed start must answer that wait (127) and destroy it, as
    dockerd does (create, attach, destroy: no start, no die), or the CLI hangs."""

    async def go():
        e = await engine()
        try:
            cid = await create(e, "gone", Cmd=["nosuch"], HostConfig={"AutoRemove": True})
            await api.attach_container(req(e, "POST", stream=1, stdout=1, stderr=1), id=cid)
            wait = await api.wait_container(req(e, "POST", condition="removed"), id=cid)
            with pytest.raises(ApiError) as caught:
                await api.start_container(req(e, "POST"), id=cid)
            assert caught.value.status == 400
            assert "executable file not found" in caught.value.message
            answer = await asyncio.wait_for(collect(wait), 5)
            assert json.loads(answer) == {"Error": None, "StatusCode": 127}
            assert actions(e, cid) == ["create", "attach", "destroy"]
            with pytest.raises(ApiError) as missing:
                await api.inspect_container(req(e), id=cid)
            assert missing.value.status == 404
        finally:
            await e.close()

    asyncio.run(go())


def test_stop_kill_restart_and_their_events(engine) -> None:
    async def go():
        e = await engine()
        try:
            cid = await create(e, "sl", Cmd=["sleep"])
            await api.start_container(req(e, "POST"), id=cid)
            assert (await api.stop_container(req(e, "POST", t=5), id="sl")).status == 204
            state = (await api.inspect_container(req(e), id="sl")).obj["State"]
            assert state["ExitCode"] == 143 and not state["Running"]
            assert (await api.stop_container(req(e, "POST"), id="sl")).status == 304
            with pytest.raises(ApiError) as caught:
                await api.kill_container(req(e, "POST"), id="sl")
            assert caught.value.status == 409
            assert (
                caught.value.message == f"Cannot kill container: sl: Container {cid} is not running"
            )
            await api.restart_container(req(e, "POST", t=1), id="sl")
            assert e.container("sl").running
            with pytest.raises(ApiError, match="Invalid signal: NOPE"):
                await api.kill_container(req(e, "POST", signal="NOPE"), id="sl")
            await api.kill_container(req(e, "POST", signal="SIGINT"), id="sl")
            wait = await api.wait_container(req(e, "POST"), id="sl")
            assert json.loads(await collect(wait)) == {"Error": None, "StatusCode": 130}
            assert actions(e, cid) == [
                "create",
                "start",
                "kill",
                "die",
                "stop",
                "start",
                "restart",
                "kill",
                "die",
            ]
            kills = [ev for ev in e.events.history(0, None) if ev["Action"] == "kill"]
            assert [k["Actor"]["Attributes"]["signal"] for k in kills] == ["15", "2"]
            die = next(ev for ev in e.events.history(0, None) if ev["Action"] == "die")
            assert die["Actor"]["Attributes"]["exitCode"] == "143"
            assert die["from"] == "busybox" and die["status"] == "die"
        finally:
            await e.close()

    asyncio.run(go())


def test_remove_running_needs_force(engine) -> None:
    async def go():
        e = await engine()
        try:
            cid = await create(e, "rr", Cmd=["sleep"])
            await api.start_container(req(e, "POST"), id=cid)
            with pytest.raises(ApiError) as caught:
                await api.remove_container(req(e, "DELETE"), id="rr")
            assert caught.value.status == 409
            assert "Stop the container before attempting removal or force remove" in str(
                caught.value
            )
            await api.remove_container(req(e, "DELETE", force=1), id="rr")
            assert actions(e, cid)[-3:] == ["kill", "die", "destroy"]
        finally:
            await e.close()

    asyncio.run(go())


def test_auto_remove_resolves_removed_waiters_after_destroy(engine) -> None:
    async def go():
        e = await engine()
        try:
            cid = await create(e, Cmd=["exit", "3"], HostConfig={"AutoRemove": True})
            wait = await api.wait_container(req(e, "POST", condition="removed"), id=cid)
            await api.start_container(req(e, "POST"), id=cid)
            assert json.loads(await collect(wait))["StatusCode"] == 3
            assert cid not in e.containers
            assert actions(e, cid)[-1] == "destroy"
        finally:
            await e.close()

    asyncio.run(go())


def test_wait_client_going_away_frees_the_waiter(engine) -> None:
    async def go():
        e = await engine()
        try:
            cid = await create(e, Cmd=["sleep"])
            await api.start_container(req(e, "POST"), id=cid)
            reply = await api.wait_container(req(e, "POST"), id=cid)
            first = asyncio.create_task(reply.chunks.__anext__())
            await asyncio.sleep(0.01)
            first.cancel()
            with pytest.raises(asyncio.CancelledError):
                await first
            await reply.chunks.aclose()
            assert e.container(cid).exit_waiters == []
        finally:
            await e.close()

    asyncio.run(go())


def test_logs_tail_timestamps_and_follow(engine) -> None:
    async def go():
        e = await engine()
        try:
            cid = await create(e, "lg", Cmd=["cat"], OpenStdin=True)
            await api.start_container(req(e, "POST"), id=cid)
            c = e.container(cid)
            for word in (b"one\n", b"two\n", b"three\n"):
                e.feed_stdin(c, word)
                await asyncio.sleep(0.01)
            tail = await collect(await api.container_logs(req(e, stdout=1, tail=2), id="lg"))
            assert tail == encode_frame(1, b"two\n") + encode_frame(1, b"three\n")
            stamped = await collect(
                await api.container_logs(req(e, stdout=1, tail=1, timestamps=1), id="lg")
            )
            payload = stamped[8:].decode()
            assert payload.startswith("2026-01-01T00:00:00.") and payload.endswith("Z three\n")
            follow = await api.container_logs(req(e, stdout=1, follow=1), id="lg")
            reader = asyncio.create_task(collect(follow))
            await asyncio.sleep(0.01)
            e.feed_stdin(c, b"four\n")
            await asyncio.sleep(0.01)
            await api.stop_container(req(e, "POST"), id="lg")
            out = await asyncio.wait_for(reader, 5)
            assert out.endswith(encode_frame(1, b"four\n"))
            with pytest.raises(ApiError, match="choose at least one stream"):
                await api.container_logs(req(e), id="lg")
        finally:
            await e.close()

    asyncio.run(go())


def test_list_filters(engine) -> None:
    async def go():
        e = await engine()
        try:
            a = await create(e, "alpha", Cmd=["exit", "2"], Labels={"team": "red"})
            b = await create(e, "beta", Cmd=["sleep"], Labels={"team": "blue"})
            await create(e, "gamma", Cmd=["echo"])
            await run_to_end(e, a)
            await api.start_container(req(e, "POST"), id=b)

            async def names(**query: Any) -> list[str]:
                reply = await api.list_containers(req(e, **query))
                return [c["Names"][0] for c in reply.obj]

            assert await names() == ["/beta"]
            assert await names(all=1) == ["/gamma", "/beta", "/alpha"]
            assert await names(filters=json.dumps({"status": ["exited"]})) == ["/alpha"]
            assert await names(all=1, filters=json.dumps({"label": ["team=red"]})) == ["/alpha"]
            assert await names(all=1, filters=json.dumps({"name": ["al"]})) == ["/alpha"]
            assert await names(all=1, filters=json.dumps({"exited": ["2"]})) == ["/alpha"]
            assert await names(all=1, filters=json.dumps({"ancestor": ["busybox"]})) == [
                "/gamma",
                "/beta",
                "/alpha",
            ]
            assert await names(all=1, filters=json.dumps({"id": [a[:6]]})) == ["/alpha"]
            assert await names(limit=1) == ["/gamma"]
            entry = (await api.list_containers(req(e, all=1))).obj[-1]
            assert entry["Status"].startswith("Exited (2) ")
            assert entry["Command"] == "exit 2" and entry["State"] == "exited"
            assert entry["Labels"] == {"team": "red"}
        finally:
            await e.close()

    asyncio.run(go())


def test_rename_and_bad_bodies(engine) -> None:
    async def go():
        e = await engine()
        try:
            cid = await create(e, "old", Cmd=["echo"])
            await create(e, "taken", Cmd=["echo"])
            await api.rename_container(req(e, "POST", name="new"), id="old")
            assert e.container("new").id == cid
            with pytest.raises(ApiError) as caught:
                await api.rename_container(req(e, "POST", name="taken"), id="new")
            assert caught.value.status == 409
            with pytest.raises(ApiError) as caught:
                await api.rename_container(req(e, "POST", name="new"), id="new")
            assert caught.value.status == 400
            rename = next(ev for ev in e.events.history(0, None) if ev["Action"] == "rename")
            assert rename["Actor"]["Attributes"]["oldName"] == "/old"
            for body, field in (
                ({"Cmd": 5}, "Cmd"),
                ({"HostConfig": {"AutoRemove": "x"}}, "AutoRemove"),
            ):
                with pytest.raises(ApiError) as caught:
                    await create(e, **body)
                assert caught.value.status == 400 and field in caught.value.message
            with pytest.raises(ApiError) as caught:
                await api.create_container(Request("POST", "/", None, body=b"{not json", engine=e))
            assert caught.value.status == 400
        finally:
            await e.close()

    asyncio.run(go())


def test_binds_show_as_mounts(engine, tmp_path: Path) -> None:
    async def go():
        e = await engine()
        try:
            host = tmp_path / "shared"
            cid = await create(
                e, Cmd=["echo"], HostConfig={"Binds": [f"{host}:/data:ro", "vol1:/v"]}
            )
            mounts = (await api.inspect_container(req(e), id=cid)).obj["Mounts"]
            assert mounts[0]["Type"] == "bind" and mounts[0]["RW"] is False
            assert mounts[1]["Type"] == "volume" and mounts[1]["Name"] == "vol1"
            assert "vol1" in e.volumes.volumes
        finally:
            await e.close()

    asyncio.run(go())


def test_changes_and_top(engine) -> None:
    async def go():
        e = await engine()
        try:
            cid = await create(e, "wr", Cmd=["write", "/tmp/new.txt", "x"])
            await run_to_end(e, cid)
            changed = (await api.changes(req(e), id="wr")).obj
            assert {"Path": "/tmp/new.txt", "Kind": 1} in changed
            with pytest.raises(ApiError) as caught:
                await api.top(req(e), id="wr")
            assert caught.value.status == 409
            sid = await create(e, Cmd=["sleep"])
            await api.start_container(req(e, "POST"), id=sid)
            top = (await api.top(req(e), id=sid)).obj
            assert top["Titles"][1] == "PID" and top["Processes"][0][-1] == "sleep"
        finally:
            await e.close()

    asyncio.run(go())


# ---------------------------------------------------------------------------- exec
def test_exec_create_start_inspect(engine) -> None:
    async def go():
        e = await engine()
        try:
            stopped = await create(e, Cmd=["echo"])
            with pytest.raises(ApiError) as caught:
                await api_exec.create_exec(req(e, "POST", {"Cmd": ["echo"]}), id=stopped)
            assert caught.value.status == 409
            cid = await create(e, Cmd=["sleep"])
            await api.start_container(req(e, "POST"), id=cid)
            made = await api_exec.create_exec(
                req(e, "POST", {"Cmd": ["echo", "inside"], "AttachStdout": True}), id=cid
            )
            eid = made.obj["Id"]
            reply = await api_exec.start_exec(req(e, "POST", {"Detach": False}), id=eid)
            conn = FakeConn(hold=True)
            await asyncio.wait_for(reply.session(conn), 5)
            assert bytes(conn.sent) == encode_frame(1, b"inside\n")
            view = (await api_exec.inspect_exec(req(e), id=eid)).obj
            assert (view["Running"], view["ExitCode"], view["ContainerID"]) == (False, 0, cid)
            assert view["ProcessConfig"]["entrypoint"] == "echo"
            with pytest.raises(ApiError, match="No such exec instance: nope"):
                await api_exec.inspect_exec(req(e), id="nope")
            kinds = [ev["Action"] for ev in e.events.history(0, None) if ev["Actor"]["ID"] == cid]
            assert "exec_create: echo inside" in kinds and "exec_die" in kinds
        finally:
            await e.close()

    asyncio.run(go())


# ---------------------------------------------------------------------------- events
def test_events_history_filters_and_end(engine) -> None:
    async def go():
        e = await engine()
        try:
            cid = await create(e, "ev", Cmd=["echo"], Labels={"lesson": "4"})
            await run_to_end(e, cid)
            until = str(e.now() // 10**9 + 1)
            reply = await api_info.events(
                req(e, since=0, until=until, filters=json.dumps({"type": ["container"]}))
            )
            lines = [json.loads(x) for x in (await collect(reply)).splitlines()]
            assert [x["Action"] for x in lines] == ["create", "start", "die"]
            assert lines[0]["Actor"]["Attributes"] == {
                "image": "busybox",
                "lesson": "4",
                "name": "ev",
            }
            assert set(lines[0]) == {
                "status",
                "id",
                "from",
                "Type",
                "Action",
                "Actor",
                "scope",
                "time",
                "timeNano",
            }
            reply = await api_info.events(
                req(
                    e,
                    since=0,
                    until=until,
                    filters=json.dumps({"label": ["lesson=4"], "event": ["die"]}),
                )
            )
            assert len((await collect(reply)).splitlines()) == 1
            live = await api_info.events(req(e, filters=json.dumps({"event": ["destroy"]})))
            first = asyncio.create_task(live.chunks.__anext__())
            await asyncio.sleep(0.01)
            await api.remove_container(req(e, "DELETE"), id="ev")
            assert json.loads(await asyncio.wait_for(first, 5))["Action"] == "destroy"
            await live.chunks.aclose()
            assert e.events.listener_count == 0
        finally:
            await e.close()

    asyncio.run(go())


def test_archive_stat_header_get_and_put(engine) -> None:
    import base64
    import io
    import tarfile

    from labkit.engine.api import archive

    def stat(reply) -> dict:
        return json.loads(base64.b64decode(reply.headers[archive.STAT_HEADER]))

    async def go():
        e = await engine()
        try:
            cid = await create(e, "files", Cmd=["sleep"])
            etc = stat(await archive.stat_path(req(e, "HEAD", path="/etc"), id=cid))
            assert (etc["name"], etc["mode"], etc["size"]) == ("etc", (1 << 31) | 0o755, 4096)
            sh = stat(await archive.stat_path(req(e, "HEAD", path="/bin/sh"), id=cid))
            assert (sh["mode"], sh["linkTarget"]) == ((1 << 27) | 0o777, "busybox")
            with pytest.raises(ApiError) as missing:
                await archive.get_archive(req(e, path="/nope"), id="files")
            assert missing.value.status == 404
            assert missing.value.message == "Could not find the file /nope in container files"
            with pytest.raises(ApiError) as empty:
                await archive.get_archive(req(e), id=cid)
            assert empty.value.status == 400
            buf = io.BytesIO()
            with tarfile.open(fileobj=buf, mode="w") as tar:
                entry = tarfile.TarInfo("new/hello.txt")
                entry.size = 3
                tar.addfile(entry, io.BytesIO(b"hi\n"))
                climb = tarfile.TarInfo("../../escape.txt")
                climb.size = 1
                tar.addfile(climb, io.BytesIO(b"x"))
            put = req(e, "PUT", path="/tmp")
            put.body = buf.getvalue()
            assert (await archive.put_archive(put, id=cid)).status == 200
            with pytest.raises(ApiError) as not_dir:
                await archive.put_archive(req(e, "PUT", path="/etc/passwd"), id=cid)
            assert not_dir.value.message == "extraction point is not a directory"
            got = await archive.get_archive(req(e, path="/tmp/new"), id=cid)
            assert isinstance(got, StreamReply)  # streamed, as dockerd streams it
            with tarfile.open(fileobj=io.BytesIO(await collect(got))) as tar:
                assert tar.getnames() == ["new", "new/hello.txt"]
                assert tar.extractfile("new/hello.txt").read() == b"hi\n"  # type: ignore[union-attr]
            assert not e.container_fs(e.container(cid)).exists("/escape.txt")
        finally:
            await e.close()

    asyncio.run(go())

"""The engine's state: nothing shown that is not saved, and damage found and reported.

- A full disk: every change the store cannot write is refused with a clear 500 and leaves no
  trace in memory; what the engine showed is what comes back after a restart. Tried with a
  fault injected into the store (at the write, and at the commit, as SQLite in WAL mode
  fails), for every kind of mutating operation, and for real with the lab home on a small
  tmpfs (as root; skipped with the reason otherwise).
- A process that ends while the disk is full: shown at once, saved once the disk has room.
- A truncated or corrupted ``state.db``: ``labkit engine start`` says so in plain words,
  keeps the file aside (renamed with the time) and offers ``--fresh``; the engine process
  does the same, also when the damage shows only once its model opens.
"""

from __future__ import annotations

import asyncio
import copy
import io
import json
import os
import sqlite3
import subprocess
import sys
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from engine_fixtures import FIXED_CLOCK, short_tempdir
from image_fixtures import http_call as raw_call

from labkit.engine import control, statecheck
from labkit.engine.model import Engine
from labkit.engine.model.errors import StateNotSaved

pytestmark = pytest.mark.lab_engine


# ----------------------------------------------------------------- a store that runs out of disk
class FullDisk:
    """Stands in for the store's sqlite3 connection; while ``full``, writes (``at="write"``)
    or commits (``at="commit"``) fail as SQLite's do on a full disk."""

    WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")

    def __init__(self, db: sqlite3.Connection, at: str) -> None:
        self._db = db
        self.at = at
        self.full = False

    def _check(self, sql: str) -> None:
        if not self.full:
            return
        verb = sql.lstrip().split(None, 1)[0].upper()
        if (self.at == "write" and verb in self.WRITES) or (
            self.at == "commit" and verb == "COMMIT"
        ):
            raise sqlite3.OperationalError("database or disk is full")

    def execute(self, sql: str, *args: Any) -> Any:
        self._check(sql)
        return self._db.execute(sql, *args)

    def executemany(self, sql: str, *args: Any) -> Any:
        self._check(sql)
        return self._db.executemany(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)


def shown(engine: Engine) -> dict[str, Any]:
    """Everything the API can show, as plain data."""
    return copy.deepcopy(
        {
            "containers": {cid: c.doc for cid, c in engine.containers.items()},
            "names": dict(engine._by_name),
            "execs": {eid: e.doc for eid, e in engine.execs.items()},
            "images": {i: img.doc() for i, img in engine.images.images.items()},
            "volumes": {n: v.doc() for n, v in engine.volumes.volumes.items()},
            "networks": {n: net.doc() for n, net in engine.networks.networks.items()},
        }
    )


def saved(home: Path) -> dict[str, Any]:
    """What a restarted engine shows (running containers come back exited, as always)."""

    async def go() -> dict[str, Any]:
        engine = await Engine.open(home, clock=FIXED_CLOCK, seed=1)
        try:
            return shown(engine)
        finally:
            await engine.close()

    return asyncio.run(go())


def http_call(sock: Path, method: str, target: str, body: Any = None):
    """One request; a body is sent as JSON."""
    if body is None:
        return raw_call(sock, method, target)
    data = json.dumps(body).encode()
    return raw_call(sock, method, target, data, {"Content-Type": "application/json"})


def _tar(name: str, data: bytes) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


async def _setup(engine: Engine) -> dict[str, Any]:
    """A little of everything, for the operations below to change."""
    spec, ref = engine.pull_target("busybox", "latest")
    engine.record_pull(spec, ref)
    made = {
        "stopped": engine.create_container("stopped", {"Image": "busybox", "Cmd": ["true"]}),
        "running": engine.create_container(
            "running", {"Image": "busybox", "Cmd": ["sleep", "600"]}
        ),
    }
    engine.start_container(made["running"])
    engine.create_volume("kept", None)
    engine.create_network({"Name": "kept-net"})
    made["exec"] = engine.create_exec(made["running"], {"Cmd": ["echo", "hi"]})
    return made


OPERATIONS: dict[str, Callable[[Engine, dict[str, Any]], Any]] = {
    "create": lambda e, m: e.create_container("new", {"Image": "busybox", "Cmd": ["true"]}),
    "create with a new volume": lambda e, m: e.create_container(
        None, {"Image": "busybox", "HostConfig": {"Binds": ["fresh-vol:/data"]}}
    ),
    "start": lambda e, m: e.start_container(m["stopped"]),
    "pause": lambda e, m: e.pause_container(m["running"]),
    "rename": lambda e, m: e.rename_container(m["stopped"], "renamed"),
    "remove": lambda e, m: e.remove_container(m["stopped"]),
    "remove running (force)": lambda e, m: e.remove_container(m["running"], force=True),
    "create volume": lambda e, m: e.create_volume("new-vol", None),
    "remove volume": lambda e, m: e.remove_volume("kept"),
    "create network": lambda e, m: e.create_network({"Name": "new-net"}),
    "remove network": lambda e, m: e.remove_network("kept-net"),
    "tag image": lambda e, m: e.tag_image("busybox", "mine", "v1"),
    "delete image": lambda e, m: e.delete_image("busybox", force=True),
    "pull": lambda e, m: e.record_pull(*e.pull_target("alpine", "latest")),
    "create exec": lambda e, m: e.create_exec(m["running"], {"Cmd": ["true"]}),
    "start exec": lambda e, m: e.start_exec(m["exec"], lambda *_: None),
    "prune containers": lambda e, m: e.prune_containers({}),
}


@pytest.mark.parametrize("at", ["write", "commit"])
@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_a_change_that_cannot_be_saved_leaves_no_trace(
    tmp_path: Path, operation: str, at: str
) -> None:
    home = tmp_path / "engine"

    async def go() -> tuple[dict[str, Any], dict[str, Any]]:
        engine = await Engine.open(home, clock=FIXED_CLOCK, seed=1)
        try:
            made = await _setup(engine)
            disk = FullDisk(engine.store.db, at)
            engine.store.db = disk  # type: ignore[assignment]
            events = engine.events.subscribe()
            before = shown(engine)
            disk.full = True
            with pytest.raises(StateNotSaved) as refused:
                result = OPERATIONS[operation](engine, made)
                if asyncio.iscoroutine(result):
                    await result
            assert refused.value.status == 500
            assert "could not save this change, so it did not make it" in refused.value.message
            assert "disk is full" in refused.value.message
            await asyncio.sleep(0)
            after = shown(engine)
            heard = []
            while not events.empty():
                heard.append(events.get_nowait())
            disk.full = False
            # The engine goes on working once there is room again.
            engine.create_container("after", {"Image": "busybox", "Cmd": ["true"]})
            return before, after, heard
        finally:
            engine.store.db = getattr(engine.store.db, "_db", engine.store.db)
            await engine.close()

    before, after, heard = asyncio.run(go())
    if operation == "remove running (force)":
        # The kill cannot be refused (the process is gone); only the removal was.
        running = next(cid for cid, c in after["containers"].items() if c["name"] == "/running")
        assert after["containers"][running]["state"]["Status"] == "exited"
        for snapshot in (before, after):
            del snapshot["containers"][running]["state"]
            snapshot["containers"][running].pop("manually_stopped", None)  # it was killed
            snapshot["execs"] = {}  # the kill ended the exec that was created, too
    assert after == before, operation
    events = [e for e in heard if e is not None and e["Action"] not in ("kill", "die")]
    assert events == [], "listeners heard of a refused change"
    restarted = saved(home)
    shown_then = {k: v for k, v in after.items()}
    del restarted["containers"]  # created "after"; compared below without it
    for key in ("images", "volumes", "networks"):
        assert restarted[key] == shown_then[key], key
    assert {n for n in restarted["names"] if n != "after"} == set(shown_then["names"])


def test_a_process_that_ends_while_the_disk_is_full_is_saved_later(tmp_path: Path) -> None:
    home = tmp_path / "engine"

    async def go() -> None:
        engine = await Engine.open(home, clock=FIXED_CLOCK, seed=1)
        try:
            engine.record_pull(*engine.pull_target("busybox", "latest"))
            c = engine.create_container("ends", {"Image": "busybox", "Cmd": ["sleep", "600"]})
            engine.start_container(c)
            disk = FullDisk(engine.store.db, "commit")
            engine.store.db = disk  # type: ignore[assignment]
            disk.full = True
            engine.kill_container(c)  # never refused: the process dies
            code = await asyncio.wait_for(engine.waiter(c, "not-running"), 10)
            assert code == 137 and c.status == "exited"  # shown at once...
            assert engine.store.get_doc("containers", c.id)["state"]["Status"] == "running"
            disk.full = False
            for _ in range(100):  # ...and saved once the disk has room
                await asyncio.sleep(0.05)
                doc = engine.store.get_doc("containers", c.id)
                if doc["state"]["Status"] == "exited":
                    break
            assert doc["state"]["Status"] == "exited" and doc["state"]["ExitCode"] == 137
        finally:
            engine.store.db = getattr(engine.store.db, "_db", engine.store.db)
            await engine.close()

    asyncio.run(go())


def test_an_archive_that_cannot_be_saved_leaves_the_layer_as_it_was(tmp_path: Path) -> None:
    from labkit.engine.api import archive
    from labkit.engine.replies import ApiError, Request

    async def go() -> None:
        engine = await Engine.open(tmp_path / "engine", clock=FIXED_CLOCK, seed=1)
        try:
            engine.record_pull(*engine.pull_target("busybox", "latest"))
            c = engine.create_container("files", {"Image": "busybox", "Cmd": ["sleep", "600"]})
            engine.start_container(c)
            disk = FullDisk(engine.store.db, "commit")
            engine.store.db = disk  # type: ignore[assignment]
            disk.full = True
            put = Request(
                method="PUT", path=f"/containers/{c.id}/archive", api_version=None,
                query={"path": ("/tmp",)}, headers=None, body=_tar("new.txt", b"x"),
                engine=engine, raw_target="",
            )  # fmt: skip
            with pytest.raises(ApiError) as refused:
                await archive.put_archive(put, id=c.id)
            assert refused.value.status == 500
            assert not engine.container_fs(c).exists("/tmp/new.txt")
        finally:
            engine.store.db = getattr(engine.store.db, "_db", engine.store.db)
            await engine.close()

    asyncio.run(go())


# ----------------------------------------------------------------- a real full disk (tmpfs)
@pytest.fixture
def small_disk() -> Iterator[Path]:
    """A 4 MB tmpfs to be the lab home (root only)."""
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a small tmpfs as a full disk")
    folder = short_tempdir("lkfull")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m,mode=700", "tmpfs", str(folder)],
        capture_output=True, text=True,
    )  # fmt: skip
    if mounted.returncode != 0:
        folder.rmdir()
        pytest.skip(f"cannot mount a tmpfs: {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        control.stop({"LABKIT_HOME": str(folder / "home")}, timeout=5)
        subprocess.run(["umount", "-l", str(folder)], check=False)
        folder.rmdir()


def fill(folder: Path) -> Path:
    """Fill the file system to the last byte."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (1 << 16, 512, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError:
                pass
    finally:
        os.close(fd)
    return filler


def test_a_full_disk_refuses_changes_and_restarts_as_it_showed(small_disk: Path) -> None:
    home = small_disk / "home"
    env = {"LABKIT_HOME": str(home), "LABKIT_CLOCK": FIXED_CLOCK, "LABKIT_SEED": "3"}
    sock = control.start(env).socket
    assert http_call(sock, "POST", "/images/create?fromImage=busybox&tag=latest").status == 200
    for name in ("before-1", "before-2"):
        body = {"Image": "busybox", "Cmd": ["true"]}
        assert http_call(sock, "POST", f"/containers/create?name={name}", body).status == 201
    filler = fill(small_disk)
    answers = []
    big_label = {"Labels": {"padding": "x" * 20000}}
    for n in range(30):  # enough to run out even if a few small writes still fit
        reply = http_call(
            sock, "POST", f"/containers/create?name=during-{n}",
            {"Image": "busybox", "Cmd": ["true"], **big_label},
        )  # fmt: skip
        answers.append((f"during-{n}", reply.status, reply.body))
    volume = http_call(sock, "POST", "/volumes/create", {"Name": "during-vol", **big_label})
    rename = http_call(sock, "POST", "/containers/before-1/rename?name=renamed-" + "x" * 60)
    refused = [a for a in answers if a[1] == 500]
    assert refused, "the disk never filled"
    assert all(b"could not save this change" in body for _, _, body in refused)
    listed = sorted(c["Names"][0] for c in http_call(sock, "GET", "/containers/json?all=1").json())
    volumes = sorted(v["Name"] for v in http_call(sock, "GET", "/volumes").json()["Volumes"] or [])
    for name, status, _ in answers:
        assert (f"/{name}" in listed) == (status == 201), (name, status)
    assert ("during-vol" in volumes) == (volume.status == 201)
    assert ("/before-1" in listed) == (rename.status != 204)
    filler.unlink()
    control.stop(env)
    sock = control.start(env).socket
    again = sorted(c["Names"][0] for c in http_call(sock, "GET", "/containers/json?all=1").json())
    volumes_again = sorted(
        v["Name"] for v in http_call(sock, "GET", "/volumes").json()["Volumes"] or []
    )
    assert again == listed
    assert volumes_again == volumes


# ----------------------------------------------------------------- a damaged state.db
def labkit(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LABKIT_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "labkit", "engine", *args],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


@pytest.fixture
def home() -> Iterator[Path]:
    path = short_tempdir("lkdmg")
    yield path
    try:
        control.stop({"LABKIT_HOME": str(path)}, timeout=5)
    finally:
        subprocess.run(["rm", "-rf", str(path)], check=False)


def make_state(home: Path) -> Path:
    """A state with a container in it, the engine stopped; the path of state.db."""
    env = {"LABKIT_HOME": str(home)}
    sock = control.start(env).socket
    assert http_call(sock, "POST", "/images/create?fromImage=busybox&tag=latest").status == 200
    for n in range(40):  # enough rows that the tables span several pages
        body = {"Image": "busybox", "Labels": {"n": "x" * 500}}
        assert http_call(sock, "POST", f"/containers/create?name=c{n}", body).status == 201
    control.stop(env)
    state = home / "engine" / "state.db"
    assert state.stat().st_size > 8 * 4096
    return state


def truncate(state: Path) -> None:
    data = state.read_bytes()
    state.write_bytes(data[: len(data) // 2 + 1000])


def garble_header(state: Path) -> None:
    data = bytearray(state.read_bytes())
    data[:16] = b"not a database!!"
    state.write_bytes(bytes(data))


def garble_pages(state: Path) -> None:
    """The header stays whole; pages in the middle are overwritten."""
    data = bytearray(state.read_bytes())
    page = 4096
    for n in range(1, len(data) // page):
        data[n * page : n * page + 200] = b"\xa5" * 200
    state.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", [truncate, garble_header, garble_pages])
def test_labkit_engine_start_finds_damage_keeps_it_and_offers_fresh(
    home: Path, damage: Callable[[Path], None]
) -> None:
    state = make_state(home)
    damage(state)
    damaged_bytes = state.read_bytes()
    out = labkit(home, "start")
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    assert "state" in out.stderr and "is damaged" in out.stderr
    assert "labkit engine start --fresh" in out.stderr
    kept = statecheck.damaged_copies(state)
    assert len(kept) == 1 and kept[0].read_bytes() == damaged_bytes
    assert kept[0].name.startswith("state.db.damaged-20")  # with the time
    assert str(kept[0]) in out.stderr
    assert not state.exists()
    again = labkit(home, "start")  # no silent fresh start: the way on is explicit
    assert again.returncode == 1 and "--fresh" in again.stderr
    fresh = labkit(home, "start", "--fresh")
    assert fresh.returncode == 0, fresh.stderr
    sock = home / "engine" / "engine.sock"
    listed = http_call(sock, "GET", "/containers/json?all=1")
    assert listed.status == 200 and listed.json() == []
    assert kept[0].read_bytes() == damaged_bytes  # the copy stays


def test_the_engine_process_refuses_damage_it_sees_before_listening(home: Path) -> None:
    state = make_state(home)
    truncate(state)
    out = subprocess.run(
        [sys.executable, "-m", "labkit.engine", "serve", "--home", str(state.parent)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == control.EXIT_STATE_DAMAGED
    assert "is damaged" in out.stderr and "--fresh" in out.stderr
    assert "Traceback" not in out.stderr
    assert len(statecheck.damaged_copies(state)) == 1


def test_damage_only_the_model_meets_stops_the_engine_with_words(home: Path) -> None:
    """Past the quick header check (a direct start): found when the model opens."""
    state = make_state(home)
    garble_pages(state)
    assert statecheck.header_problem(state) is None
    proc = subprocess.run(
        [sys.executable, "-m", "labkit.engine", "serve", "--home", str(state.parent)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == control.EXIT_STATE_DAMAGED, proc.stderr
    assert "is damaged" in proc.stderr and "labkit engine start --fresh" in proc.stderr
    assert len(statecheck.damaged_copies(state)) == 1


def test_fresh_keeps_a_healthy_state_aside_too(home: Path) -> None:
    state = make_state(home)
    assert labkit(home, "start", "--fresh").returncode == 0
    kept = [p for p in state.parent.iterdir() if p.name.startswith("state.db.set-aside-")]
    assert len(kept) == 1
    assert labkit(home, "start", "--fresh").returncode == 1  # not while it runs
    listed = http_call(home / "engine" / "engine.sock", "GET", "/containers/json?all=1")
    assert listed.json() == []


def test_requests_while_the_model_could_not_open_say_why(tmp_path: Path) -> None:
    from labkit.engine.app import App
    from labkit.engine.replies import JSONReply
    from labkit.engine.server import Incoming

    engine_dir = tmp_path / "engine"
    engine_dir.mkdir()
    (engine_dir / "state.db").write_bytes(b"SQLite format 3\x00" + b"\x10\x00" + b"\xa5" * 4078)

    async def go() -> JSONReply:
        app = App()
        app.start(engine_dir)
        await app.wait_ready()
        reply = await app.respond(Incoming("GET", "/containers/json", [], b""))
        await app.close()
        return reply  # type: ignore[return-value]

    reply = asyncio.run(go())
    assert reply.status == 500
    message = reply.obj["message"]
    assert "state" in message and "damaged" in message and "NoneType" not in message

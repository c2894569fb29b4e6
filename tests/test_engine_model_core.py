"""The lab engine's model without processes: ids, clock, references, images, persistence."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from labkit.engine.model import Engine, refs
from labkit.engine.model.clock import (
    Clock,
    human_duration,
    parse_api_time,
    parse_instant,
    rfc3339,
    rfc3339_fixed,
)
from labkit.engine.model.errors import BadRequest, Conflict, NotFound
from labkit.engine.model.ids import IdSource
from labkit.engine.model.signals import parse_signal

START = "2026-01-01T00:00:00Z"
START_NS = 1_767_225_600 * 10**9


def run(coro):
    return asyncio.run(coro)


async def _open(home: Path, **kw) -> Engine:
    return await Engine.open(home, clock=kw.pop("clock", START), seed=kw.pop("seed", 7))


async def _pull(engine: Engine, name: str = "busybox", tag: str = "latest"):
    spec, ref = engine.pull_target(name, tag)
    return engine.record_pull(spec, ref)


# ---------------------------------------------------------------------------- ids and names
def test_seeded_ids_repeat_and_differ_by_seed() -> None:
    a, b, c = IdSource("1"), IdSource("1"), IdSource("2")
    first = [a.new_id() for _ in range(3)]
    assert first == [b.new_id() for _ in range(3)]
    assert first != [c.new_id() for _ in range(3)]
    assert all(len(i) == 64 and int(i, 16) >= 0 for i in first)
    assert len(set(first)) == 3


def test_seeded_source_continues_from_its_counter() -> None:
    a = IdSource("s")
    a.new_id()
    resumed = IdSource("s", counter=a.counter)
    assert resumed.new_id() == a.new_id()


def test_names_are_adjective_surname_and_free() -> None:
    source = IdSource("names")
    taken: set[str] = set()
    for _ in range(50):
        name = source.new_name(taken.__contains__)
        assert name not in taken
        assert "_" in name
        taken.add(name)


def test_unseeded_ids_are_random() -> None:
    assert IdSource().new_id() != IdSource().new_id()


# ---------------------------------------------------------------------------- clock
def test_fixed_clock_ticks_one_millisecond_per_reading() -> None:
    clock = Clock(parse_instant(START))
    assert [clock.now_ns() for _ in range(3)] == [START_NS, START_NS + 10**6, START_NS + 2 * 10**6]
    clock.advance_past(START_NS + 10**9)
    assert clock.now_ns() == START_NS + 10**9 + 10**6


def test_clock_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LABKIT_CLOCK", "2026-01-01T01:00:00+01:00")
    assert Clock.from_env().now_ns() == START_NS
    monkeypatch.setenv("LABKIT_CLOCK", "yesterday")
    with pytest.raises(ValueError, match="ISO-8601"):
        Clock.from_env()
    monkeypatch.delenv("LABKIT_CLOCK")
    assert not Clock.from_env().fixed


def test_time_formats_match_go() -> None:
    assert rfc3339(START_NS) == "2026-01-01T00:00:00Z"
    assert rfc3339(START_NS + 120_000_000) == "2026-01-01T00:00:00.12Z"
    assert rfc3339(0) == "0001-01-01T00:00:00Z"
    assert rfc3339_fixed(START_NS + 5) == "2026-01-01T00:00:00.000000005Z"
    assert parse_api_time("1767225600.5", 0) == START_NS + 500_000_000
    assert parse_api_time("10m", START_NS) == START_NS - 600 * 10**9
    assert parse_api_time(START, 0) == START_NS
    assert human_duration(0.2) == "Less than a second"
    assert human_duration(90) == "About a minute"
    assert human_duration(7200) == "2 hours"


# ---------------------------------------------------------------------------- references
@pytest.mark.parametrize(
    "text",
    ["busybox", "busybox:latest", "library/busybox", "docker.io/library/busybox:latest"],
)
def test_reference_spellings_normalise(text: str) -> None:
    assert refs.parse(text).tagged() == "busybox:latest"


def test_reference_other_registries_and_errors() -> None:
    ref = refs.parse("localhost:5000/app")
    assert (ref.repo, ref.tag, ref.remote) == ("localhost:5000/app", "latest", "app")
    assert refs.parse("me/app:v1").remote == "me/app"
    with pytest.raises(BadRequest, match="must be lowercase"):
        refs.parse("BusyBox")
    with pytest.raises(BadRequest, match="invalid reference format"):
        refs.parse("bad name")


def test_signals() -> None:
    assert parse_signal("KILL") == parse_signal("SIGKILL") == parse_signal("9") == 9
    assert parse_signal(None) == 9
    assert parse_signal("term") == 15
    with pytest.raises(BadRequest, match="Invalid signal: FOO"):
        parse_signal("FOO")


# ---------------------------------------------------------------------------- images
def test_engine_starts_with_no_images_and_three_networks(tmp_path: Path) -> None:
    async def go():
        engine = await _open(tmp_path)
        try:
            assert engine.images.images == {}
            names = sorted(n.name for n in engine.networks.networks.values())
            assert names == ["bridge", "host", "none"]
        finally:
            await engine.close()

    run(go())


def test_pull_targets_and_errors(tmp_path: Path) -> None:
    async def go():
        engine = await _open(tmp_path)
        try:
            spec, ref = engine.pull_target("docker.io/library/alpine", "3.20")
            assert (spec.repo, ref.tagged()) == ("alpine", "alpine:3.20")
            with pytest.raises(NotFound, match="pull access denied for nosuch"):
                engine.pull_target("nosuch", "latest")
            with pytest.raises(NotFound, match=r"manifest for busybox:nope not found"):
                engine.pull_target("busybox", "nope")
        finally:
            await engine.close()

    run(go())


def test_image_lookup_by_any_name_and_id_prefix(tmp_path: Path) -> None:
    async def go():
        engine = await _open(tmp_path)
        try:
            image = await _pull(engine)
            hexid = image.id.split(":")[1]
            for name in (
                "busybox",
                "busybox:latest",
                "docker.io/library/busybox",
                hexid[:5],
                image.id,
                hexid,
            ):
                assert engine.images.resolve(name) is image
            with pytest.raises(NotFound, match=r"^No such image: alpine:latest$"):
                engine.images.resolve("alpine")
        finally:
            await engine.close()

    run(go())


def test_tag_and_delete_rules(tmp_path: Path) -> None:
    async def go():
        engine = await _open(tmp_path)
        try:
            image = await _pull(engine)
            engine.tag_image("busybox", "mine", "v1")
            assert sorted(image.tags) == ["busybox:latest", "mine:v1"]
            assert engine.delete_image("mine:v1") == [{"Untagged": "mine:v1"}]
            c = engine.create_container("user", {"Image": "busybox"})
            with pytest.raises(Conflict) as caught:
                engine.delete_image("busybox")
            assert caught.value.message == (
                'conflict: unable to remove repository reference "busybox" (must force) - '
                f"container {c.short} is using its referenced image {image.short}"
            )
            await engine.remove_container(c)
            result = engine.delete_image("busybox")
            assert result[0] == {"Untagged": "busybox:latest"}
            assert {"Deleted": image.id} in result
            assert engine.images.images == {}
            with pytest.raises(NotFound, match="No such image: busybox:latest"):
                engine.delete_image("busybox")
        finally:
            await engine.close()

    run(go())


# ---------------------------------------------------------------------------- containers
def test_create_names_conflicts_and_config(tmp_path: Path) -> None:
    async def go():
        engine = await _open(tmp_path)
        try:
            await _pull(engine)
            with pytest.raises(NotFound, match=r"^No such image: alpine:latest$"):
                engine.create_container(None, {"Image": "alpine"})
            c = engine.create_container(
                "web",
                {"Image": "busybox", "Cmd": ["echo", "hi"], "Env": ["A=1"], "Labels": {"k": "v"}},
            )
            with pytest.raises(Conflict) as caught:
                engine.create_container("web", {"Image": "busybox"})
            assert caught.value.message == (
                f'Conflict. The container name "/web" is already in use by container "{c.id}". '
                "You have to remove (or rename) that container to be able to reuse that name."
            )
            view = engine.inspect_container(c)
            assert view["Name"] == "/web"
            assert view["Path"] == "echo" and view["Args"] == ["hi"]
            assert view["Config"]["Hostname"] == c.id[:12]
            assert view["Config"]["Env"][0].startswith("PATH=") and "A=1" in view["Config"]["Env"]
            assert view["State"]["Status"] == "created"
            auto = engine.create_container(None, {"Image": "busybox"})
            assert auto.doc["config"]["Cmd"] == ["sh"]
            assert engine.container(auto.name) is auto
            assert engine.container(auto.id[:8]) is auto
            with pytest.raises(NotFound, match=r"^No such container: nope$"):
                engine.container("nope")
            with pytest.raises(BadRequest, match="Tty of type bool"):
                engine.create_container(None, {"Image": "busybox", "Tty": "yes"})
            with pytest.raises(BadRequest, match="Invalid container name"):
                engine.create_container("bad name", {"Image": "busybox"})
        finally:
            await engine.close()

    run(go())


def test_same_seed_same_ids_and_names(tmp_path: Path) -> None:
    async def make(home: Path) -> list[tuple[str, str]]:
        engine = await _open(home)
        try:
            await _pull(engine)
            out = []
            for _ in range(3):
                c = engine.create_container(None, {"Image": "busybox"})
                out.append((c.id, c.name))
            return out
        finally:
            await engine.close()

    assert run(make(tmp_path / "a")) == run(make(tmp_path / "b"))


def test_state_survives_close_and_reopen(tmp_path: Path) -> None:
    async def first():
        engine = await _open(tmp_path)
        await _pull(engine)
        engine.tag_image("busybox", "kept", None)
        c = engine.create_container("keep", {"Image": "busybox", "Labels": {"a": "b"}})
        engine.create_volume("data", None)
        net = engine.create_network({"Name": "mynet"})
        ids = (c.id, net)
        await engine.close()
        return ids

    async def second(ids):
        engine = await _open(tmp_path)
        try:
            c = engine.container("keep")
            assert c.id == ids[0]
            assert c.config["Labels"] == {"a": "b"}
            assert sorted(engine.images.resolve("kept").tags) == ["busybox:latest", "kept:latest"]
            assert "data" in engine.volumes.volumes
            assert engine.networks.get("mynet").id == ids[1]
            # a fixed clock resumes after what was recorded, and ids never repeat
            times = [e["timeNano"] for e in engine.events.history(0, None)]
            assert engine.now() > max(times)
            other = engine.create_container(None, {"Image": "busybox"})
            assert other.id != c.id
        finally:
            await engine.close()

    run(second(run(first())))


CRASH_WRITER = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from labkit.engine.model import Engine

    async def main():
        engine = await Engine.open(Path(sys.argv[1]), clock="2026-01-01T00:00:00Z", seed=3)
        spec, ref = engine.pull_target("busybox", "latest")
        engine.record_pull(spec, ref)
        n = 0
        while True:
            c = engine.create_container(f"c{n}", {"Image": "busybox", "Labels": {"n": str(n)}})
            engine.store.append_log(c.id, engine.now(), 1, b"x" * 100)
            engine.store.flush_logs()
            print(c.id, flush=True)
            n += 1

    asyncio.run(main())
    """
)


def test_kill_9_mid_write_loses_nothing_committed(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", CRASH_WRITER, str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    reported = [proc.stdout.readline().strip() for _ in range(40)]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()

    db = sqlite3.connect(str(tmp_path / "state.db"))
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.close()

    async def check():
        engine = await _open(tmp_path, seed=3)
        try:
            for cid in reported:
                c = engine.container(cid)
                assert c.config["Labels"]["n"] == c.name[1:]
                assert [d for _t, _s, d in engine.log_rows(c)] == [b"x" * 100]
            for c in engine.containers.values():
                json.dumps(c.doc)  # every record loads whole
            fresh = engine.create_container(None, {"Image": "busybox"})
            assert fresh.id not in reported
        finally:
            await engine.close()

    run(check())


def test_logs_keep_the_newest_output_within_the_limit(tmp_path: Path) -> None:
    """Past the limit the oldest lines go (a quarter of the limit at a time); another
    container's output is untouched, and a reopened store goes on counting."""
    from labkit.engine.model.store import Store

    def sizes(store: Store, cid: str) -> tuple[int, list[bytes]]:
        lines = [data for _t, _stream, data in store.read_logs(cid)]
        return sum(map(len, lines)), lines

    store = Store(tmp_path / "state.db", max_log_bytes=1000)
    store.append_log("quiet", 1, 1, b"kept\n")
    for n in range(100):  # 10 bytes each: 1000 bytes fit exactly
        store.append_log("busy", n, 1, b"line %04d\n" % n)
    store.flush_logs()
    assert sizes(store, "busy")[0] == 1000
    store.append_log("busy", 100, 2, b"line 0100\n")
    store.flush_logs()
    total, lines = sizes(store, "busy")
    assert total == 750  # trimmed to three quarters of the limit
    assert lines[0] == b"line 0026\n" and lines[-1] == b"line 0100\n"
    assert sizes(store, "quiet") == (5, [b"kept\n"])
    store.close()

    store = Store(tmp_path / "state.db", max_log_bytes=1000)
    for n in range(101, 126):
        store.append_log("busy", n, 1, b"line %04d\n" % n)
    store.flush_logs()
    total, lines = sizes(store, "busy")
    assert total == 1000 and lines[0] == b"line 0026\n"  # counted from what was stored
    store.append_log("busy", 126, 1, b"line 0126\n")
    store.flush_logs()
    total, lines = sizes(store, "busy")
    assert total == 750 and lines[-1] == b"line 0126\n"
    store.delete_logs("busy")
    assert sizes(store, "busy") == (0, [])
    store.close()


def test_a_thousand_containers_stay_small_in_memory(tmp_path: Path) -> None:
    import tracemalloc

    async def go():
        engine = await _open(tmp_path)
        try:
            await _pull(engine)
            tracemalloc.start()
            before = tracemalloc.take_snapshot()
            for n in range(1000):
                engine.create_container(None, {"Image": "busybox", "Cmd": ["echo", str(n)]})
            after = tracemalloc.take_snapshot()
            tracemalloc.stop()
            grown = sum(s.size_diff for s in after.compare_to(before, "filename"))
            assert len(engine.containers) == 1000
            assert grown < 12 * 2**20, f"1000 containers took {grown / 2**20:.1f} MB"
        finally:
            await engine.close()

    run(go())

"""Runaway containers meet limits, not the engine's end: huge writes, growing memory, full
logs, gzip bombs, paused loops, and background tasks that fail.

Before: ``printf '%0400000000d' 1`` stalled every client for seconds, grew the engine past
1 GB and left a container ``docker kill`` could not stop; a line over 1 GB killed the task
that watched its container, silently; ``x=$x$x`` in a loop ended with the kernel killing
the engine; a 200 MB print stayed in state.db for ever and every line cost a disk sync; a
128 KiB gzip bomb cost 800 MB; and ``docker pause`` left a busy loop printing. Memory is
read from /proc, with generous bounds that the old behaviour passes by far.
"""

from __future__ import annotations

import asyncio
import bz2
import gzip
import io
import json
import logging
import lzma
import os
import signal
import tarfile
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from engine_fixtures import LabEngine, running_lab_engine
from engine_load import call, cpu_seconds, docker, ping_seconds, rss_mb, wait_for

from labkit.engine import control
from labkit.engine.model import Engine
from labkit.engine.model.limits import EngineLimits

pytestmark = pytest.mark.timeout(240)

PING_S = 30.0  # a hang guard, not a timing: a ping takes ms, a stalled engine never answers
GROWTH_MB = 100  # what a huge write may grow the engine by (it reached 1 GB)


@pytest.fixture
def engine() -> Iterator[LabEngine]:
    with running_lab_engine() as lab:
        docker(lab.env, "pull", "busybox")
        docker(lab.env, "run", "--rm", "busybox", "true")
        yield lab


def inspect(lab: LabEngine, cid: str) -> dict:
    status, info = call(lab.socket, "GET", f"/containers/{cid}/json")
    assert status == 200, info
    return info


def watch(lab: LabEngine, seconds: float) -> float:
    """Keep pinging for ``seconds``; the most RSS seen, in MB."""
    most = 0.0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert ping_seconds(lab.socket) < PING_S
        most = max(most, rss_mb(lab.pid))  # type: ignore[arg-type]
        time.sleep(0.2)
    return most


def actions(lab: LabEngine, cid: str) -> list[str]:
    """The actions of a container's events so far (the engine's clock is its own)."""
    _, info = call(lab.socket, "GET", "/info")
    now = datetime.fromisoformat(info["SystemTime"][:19]).replace(tzinfo=timezone.utc)
    until = int(now.timestamp()) + 1
    status, events = call(lab.socket, "GET", f"/events?since=0&until={until}&{_filter(cid)}")
    assert status == 200
    return [event["Action"] for event in _json_lines(events)]


def _filter(cid: str) -> str:
    from urllib.parse import urlencode

    return urlencode({"filters": json.dumps({"container": [cid]})})


def _json_lines(body: object) -> list[dict]:
    if not body:
        return []
    text = body.decode() if isinstance(body, bytes) else json.dumps(body)
    return [json.loads(line) for line in text.splitlines() if line.strip()]


# ---------------------------------------------------------------- one huge write
@pytest.mark.parametrize("width", ["400000000", "1000000001"])
def test_one_huge_write_streams_out_and_kill_still_works(engine: LabEngine, width: str) -> None:
    """400 MB, and a single line over 1 GB (too big for one row of the store, which used to
    kill the task watching the container): the output goes out in pieces, other clients
    are served, the log keeps its newest part, and kill and rm -f work at once."""
    baseline = rss_mb(engine.pid)  # type: ignore[arg-type]
    cid = docker(engine.env, "run", "-d", "busybox", "printf", f"%0{width}d", "1").stdout.strip()
    most = watch(engine, 3)
    assert most - baseline < GROWTH_MB, f"grew {most - baseline:.0f} MB during the write"
    running = inspect(engine, cid)["State"]["Running"]
    if running:  # still writing, in pieces (a fast machine may have finished 400 MB)
        docker(engine.env, "kill", cid, timeout=20)
    state = wait_for(lambda: (s := inspect(engine, cid)["State"])["Status"] == "exited" and s)
    assert state["ExitCode"] == (137 if running else 0)
    logs = docker(engine.env, "logs", cid).stdout
    assert 0 < len(logs) <= 16 << 20  # the newest 16 MB at most
    assert set(logs) == ({"0"} if running else {"0", "1"})
    docker(engine.env, "rm", "-f", cid, timeout=20)
    assert "Traceback" not in engine.log()


def test_rm_f_ends_a_writing_container_at_once(engine: LabEngine) -> None:
    cid = docker(engine.env, "run", "-d", "busybox", "yes").stdout.strip()
    time.sleep(1)
    docker(engine.env, "rm", "-f", cid, timeout=20)
    assert call(engine.socket, "GET", f"/containers/{cid}/json")[0] == 404


# ---------------------------------------------------------------- no task dies unnoticed
async def _open(home: Path, **limits: int) -> Engine:
    engine = await Engine.open(
        home, clock="2026-01-05T09:00:00Z", seed=3, limits=EngineLimits(**limits)
    )
    spec, ref = engine.pull_target("busybox", "latest")
    engine.record_pull(spec, ref)
    return engine


def test_a_supervisor_that_fails_is_logged_and_its_container_can_be_removed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def go() -> None:
        engine = await _open(tmp_path)
        try:
            c = engine.create_container("doomed", {"Image": "busybox", "Cmd": ["sleep", "0.2"]})

            def broken(*args: object) -> None:
                raise RuntimeError("the store broke")

            engine.start_container(c)
            engine.store.put_upper = broken  # type: ignore[method-assign]
            engine._save = broken  # type: ignore[method-assign]  # its exit cannot be written
            with caplog.at_level(logging.ERROR, logger="labkit.engine.model"):
                await asyncio.wait_for(engine.waiter(c, "next-exit"), 10)
            assert c.status == "exited"
            assert "could not record this exit" in c.state["Error"]
            assert any(r.exc_info for r in caplog.records), "no traceback in the log"
            del engine._save
            await asyncio.wait_for(engine.remove_container(c, force=True), 10)
            assert c.removed
        finally:
            await engine.close()

    asyncio.run(go())


def test_a_background_task_that_dies_is_logged_and_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def go() -> None:
        engine = await _open(tmp_path)
        try:
            c = engine.create_container("watched", {"Image": "busybox", "Cmd": ["sleep", "100"]})
            engine.start_container(c)

            async def boom() -> None:
                raise RuntimeError("a bug in a background task")

            c.supervisor.cancel()  # type: ignore[union-attr]  # replaced by one that fails
            with caplog.at_level(logging.ERROR, logger="labkit.engine.model"):
                task = engine._spawn(
                    boom(), "a test task", lambda exc: engine._supervisor_failed(c, exc)
                )
                await asyncio.wait([task])
                await asyncio.sleep(0)
            assert "a test task failed" in caplog.text
            assert "a bug in a background task" in caplog.text
            assert c.status == "exited" and c.state["ExitCode"] == 255
            assert "supervisor failed" in c.state["Error"]
            await asyncio.wait_for(engine.remove_container(c, force=True), 10)
        finally:
            await engine.close()

    asyncio.run(go())


def test_kill_records_an_exit_nobody_recorded(tmp_path: Path) -> None:
    async def go() -> None:
        engine = await _open(tmp_path)
        try:
            c = engine.create_container("stale", {"Image": "busybox", "Cmd": ["sleep", "100"]})
            engine.start_container(c)
            c.supervisor.cancel()  # type: ignore[union-attr]  # as if its watcher had died
            await asyncio.sleep(0)
            engine.kill_container(c)
            await asyncio.sleep(0.1)
            assert c.status == "exited"
            await asyncio.wait_for(engine.remove_container(c, force=True), 10)
        finally:
            await engine.close()

    asyncio.run(go())


# ---------------------------------------------------------------- memory
GROW = "x=a; while true; do x=$x$x; done"


def test_a_growing_variable_is_oom_killed_not_the_engine(engine: LabEngine) -> None:
    baseline = rss_mb(engine.pid)  # type: ignore[arg-type]
    result = docker(engine.env, "run", "--name", "grow", "--memory", "16m", "busybox",
                    "sh", "-c", GROW, check=False)  # fmt: skip
    assert result.returncode == 137
    state = inspect(engine, "grow")["State"]
    assert (state["ExitCode"], state["OOMKilled"]) == (137, True)
    assert actions(engine, "grow")[-2:] == ["oom", "die"]
    assert rss_mb(engine.pid) - baseline < 80  # type: ignore[arg-type]
    assert ping_seconds(engine.socket) < PING_S
    docker(engine.env, "rm", "-f", "grow")


@pytest.mark.real_engine
def test_the_oom_kill_looks_as_dockerd_s(real_engine_url: str, engine: LabEngine) -> None:
    real = {**os.environ, "DOCKER_HOST": real_engine_url}
    seen = {}
    for name, env in (("dockerd", real), ("lab", engine.env)):
        run = ["run", "-d", "--memory", "8m", "busybox", "sh", "-c", GROW]
        cid = docker(env, *run).stdout.strip()
        try:
            code = docker(env, "wait", cid, timeout=60).stdout.strip()
            state = json.loads(docker(env, "inspect", "--format", "{{json .State}}", cid).stdout)
            seen[name] = (code, state["ExitCode"], state["OOMKilled"])
        finally:
            docker(env, "rm", "-f", cid, timeout=30)
    assert seen["lab"] == seen["dockerd"] == ("137", 137, True)


def test_without_memory_the_engine_s_default_applies() -> None:
    with running_lab_engine(LABKIT_ENGINE_MEMORY=str(16 << 20)) as lab:
        docker(lab.env, "pull", "busybox")
        result = docker(lab.env, "run", "busybox", "sh", "-c", GROW, check=False)
        assert result.returncode == 137
        # Files live in the container's memory: one too big fails as on a full disk.
        result = docker(lab.env, "run", "busybox", "sh", "-c",
                        "printf '%020000000d' 0 > /big; echo $?", check=False)  # fmt: skip
        assert "No space left on device" in result.stderr and result.stdout.strip() == "1"


def test_all_containers_together_stay_within_the_engine_s_total() -> None:
    with running_lab_engine(
        LABKIT_ENGINE_MEMORY=str(24 << 20), LABKIT_ENGINE_MEMORY_TOTAL=str(24 << 20)
    ) as lab:
        docker(lab.env, "pull", "busybox")
        hold = "x=$(printf '%09000000d' 0); sleep 1000"  # 9 MB each, well within its own 24
        first = docker(lab.env, "run", "-d", "busybox", "sh", "-c", hold).stdout.strip()
        top = f"/containers/{first}/top"
        wait_for(lambda: "sleep" in json.dumps(call(lab.socket, "GET", top)[1]))
        second = docker(lab.env, "run", "busybox", "sh", "-c", hold, check=False)
        assert second.returncode == 137  # the one that asked for more
        assert inspect(lab, first)["State"]["Running"]


# ---------------------------------------------------------------- logs and the store
def _db_bytes(lab: LabEngine) -> int:
    return sum(p.stat().st_size for p in (lab.home / "engine").glob("state.db*"))


def test_logs_are_bounded_per_container_and_in_total_and_space_comes_back() -> None:
    with running_lab_engine(
        LABKIT_ENGINE_LOG_MAX=str(8 << 20), LABKIT_ENGINE_LOGS_TOTAL=str(20 << 20)
    ) as lab:
        docker(lab.env, "pull", "busybox")
        chatty = ["sh", "-c", "yes | head -c 30000000"]  # 120 MB of output in all
        ids = [docker(lab.env, "run", "-d", "busybox", *chatty).stdout.strip() for _ in range(4)]
        for cid in ids:
            assert docker(lab.env, "wait", cid, timeout=120).stdout.strip() == "0"
        kept = [len(docker(lab.env, "logs", cid).stdout) for cid in ids]
        assert all(size <= 8 << 20 for size in kept), kept
        assert sum(kept) <= 20 << 20, kept
        full = _db_bytes(lab)
        assert full < 40 << 20, f"state.db and its WAL take {full} bytes for 20 MB of logs"
        db = lab.home / "engine" / "state.db"
        before = db.stat().st_size
        for cid in ids:
            docker(lab.env, "rm", cid)
        # the space goes back to the file system, a step at a time (a few MB stay for reuse)
        wait_for(lambda: db.stat().st_size < before - (8 << 20), timeout=60, every=0.5)


def test_a_chatty_container_writes_its_output_in_batches(tmp_path: Path) -> None:
    """A line is not a transaction (nor a disk sync): output waits a fraction of a second."""

    async def go() -> None:
        engine = await _open(tmp_path)
        flushes = 0
        real_flush = engine.store.flush_logs

        def counted() -> set[str]:
            nonlocal flushes
            flushes += 1
            return real_flush()

        engine.store.flush_logs = counted  # type: ignore[method-assign]
        try:
            counting = {"Image": "busybox", "Cmd": ["seq", "1", "50000"]}
            c = engine.create_container("chatty", counting)
            start = time.monotonic()
            engine.start_container(c)
            await asyncio.wait_for(engine.waiter(c, "next-exit"), 60)
            seconds = time.monotonic() - start
            lines = sum(data.count(b"\n") for _t, _s, data in engine.log_rows(c))
            assert lines == 50000
            # a batch a FLUSH_DELAY (50 ms) apart, or every 256 KiB: far fewer than lines
            assert flushes < 20 * seconds + 50, (flushes, seconds)
        finally:
            await engine.close()

    asyncio.run(go())


def test_a_crash_loses_at_most_the_last_moments_of_output() -> None:
    with running_lab_engine() as lab:
        docker(lab.env, "pull", "busybox")
        counting = "i=0; while true; do i=$((i+1)); echo $i; done"
        cid = docker(lab.env, "run", "-d", "--name", "counter", "busybox", "sh", "-c",
                     counting).stdout.strip()  # fmt: skip
        wait_for(lambda: len(docker(lab.env, "logs", cid).stdout.split()) > 1000)
        os.kill(lab.pid, signal.SIGKILL)  # type: ignore[arg-type]
        wait_for(lambda: not _alive(lab.pid) and not control.lock_held(lab.home / "engine"))
        lab.restart()
        lines = docker(lab.env, "logs", cid).stdout.split()
        assert len(lines) > 1000
        assert lines == [str(n) for n in range(1, len(lines) + 1)]  # nothing torn, no gap
        state = inspect(lab, cid)["State"]
        assert (state["Status"], state["ExitCode"]) == ("exited", 255)


def _alive(pid: int | None) -> bool:
    """Running (a killed process may stay a zombie until its parent reaps it)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


# ---------------------------------------------------------------- gzip bombs
def _tar(files: dict[str, int]) -> bytes:
    """A tar of files full of zeros (sizes given), built without holding them."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, size in files.items():
            info = tarfile.TarInfo(name)
            info.size = size
            tar.addfile(info, io.BytesIO(bytes(size)))
    return buf.getvalue()


COMPRESS = {"gz": gzip.compress, "bz2": bz2.compress, "xz": lzma.compress}


@pytest.mark.parametrize("kind", sorted(COMPRESS))
def test_a_bomb_is_refused_with_the_limit_it_hit(engine: LabEngine, kind: str) -> None:
    bomb = COMPRESS[kind](_tar({"zeros": 128 << 20}))
    assert len(bomb) < 200 << 10  # 128 MiB in a few KiB
    cid = docker(engine.env, "run", "-d", "busybox", "sleep", "1000").stdout.strip()
    baseline = rss_mb(engine.pid)  # type: ignore[arg-type]
    status, reply = call(engine.socket, "PUT", f"/containers/{cid}/archive?path=/tmp", bomb)
    assert status == 400
    assert "more than the 67108" in reply["message"] and "memory" in reply["message"]
    assert rss_mb(engine.pid) - baseline < 60  # type: ignore[arg-type]
    docker(engine.env, "rm", "-f", cid)


def test_a_bomb_of_small_files_stops_at_the_unpack_limit() -> None:
    with running_lab_engine(LABKIT_ENGINE_UNPACK_MAX=str(4 << 20)) as lab:
        docker(lab.env, "pull", "busybox")
        cid = docker(lab.env, "create", "busybox").stdout.strip()  # a stopped one, too
        bomb = gzip.compress(_tar({f"f{n}": 1 << 20 for n in range(8)}))
        status, reply = call(lab.socket, "PUT", f"/containers/{cid}/archive?path=/tmp", bomb)
        assert status == 400
        assert "LABKIT_ENGINE_UNPACK_MAX" in reply["message"]
        assert "4194304 bytes" in reply["message"]
        small = gzip.compress(_tar({"ok.txt": 1000}))
        assert call(lab.socket, "PUT", f"/containers/{cid}/archive?path=/tmp", small)[0] == 200


def test_the_engine_serves_others_while_it_unpacks(engine: LabEngine) -> None:
    """Pings sent while a slow archive unpacks are answered before it ends: an engine that
    unpacked on its loop would answer them only after the PUT's reply (an order, not a time)."""
    import threading

    cid = docker(engine.env, "run", "-d", "busybox", "sleep", "1000").stdout.strip()
    archive = lzma.compress(_tar({f"f{n}": 4 << 20 for n in range(12)}))  # 48 MB, slow to unpack
    done: list[tuple[int, object]] = []
    put_ended = threading.Event()
    answered: list[int] = []  # pings answered before the PUT's reply came back

    def pinger() -> None:
        while not put_ended.is_set():
            assert ping_seconds(engine.socket) < PING_S
            if not put_ended.is_set():
                answered.append(1)

    def put() -> None:
        done.append(call(engine.socket, "PUT", f"/containers/{cid}/archive?path=/tmp", archive))
        put_ended.set()

    worker = threading.Thread(target=put)
    pings = threading.Thread(target=pinger)
    worker.start()
    pings.start()
    worker.join()
    pings.join()
    assert done[0][0] == 200, done
    # One ping in flight could be answered just after the PUT and still be counted: two or
    # more prove the engine answered while it unpacked.
    assert len(answered) >= 2, f"only {len(answered)} pings answered during the unpack"
    docker(engine.env, "rm", "-f", cid)


# ---------------------------------------------------------------- pause
def test_a_paused_busy_loop_makes_no_progress_and_uses_no_cpu(engine: LabEngine) -> None:
    counting = "i=0; while true; do i=$((i+1)); echo $i; done"
    cid = docker(engine.env, "run", "-d", "busybox", "sh", "-c", counting).stdout.strip()

    def last() -> str:
        return docker(engine.env, "logs", "--tail", "1", cid).stdout.strip()

    wait_for(lambda: last())
    docker(engine.env, "pause", cid)
    time.sleep(0.3)
    frozen = last()
    used = cpu_seconds(engine.pid)  # type: ignore[arg-type]
    time.sleep(2)
    assert last() == frozen
    assert cpu_seconds(engine.pid) - used < 0.5  # type: ignore[arg-type]  # 2 s of busy loop: ~2
    docker(engine.env, "unpause", cid)
    wait_for(lambda: int(last()) > int(frozen))
    docker(engine.env, "rm", "-f", cid)


# ---------------------------------------------------------------- the runtime's own bounds
def run_sh(command: str, limit: int | None = 8 << 20) -> tuple[bytes, bytes, int, bool]:
    """Run ``sh -c command`` in a simulated process with a memory limit: its stdout, stderr,
    exit code and whether it was OOM-killed."""
    from labkit.engine.runtime import VFS, Process, image_rootfs
    from labkit.engine.runtime.memory import MemoryAccount

    async def go() -> tuple[bytes, bytes, int, bool]:
        out = {1: bytearray(), 2: bytearray()}
        account = MemoryAccount(limit) if limit else None
        fs = VFS(image_rootfs("busybox"))
        if account is not None:
            fs.quota = account.try_add
        process = Process(
            ["sh", "-c", command], fs=fs, env={}, hostname="c0ffee", clock=time.time,
            on_output=lambda stream, data: out[stream].extend(data), memory=account,
        )  # fmt: skip
        process.start()
        process.close_stdin()
        code = await asyncio.wait_for(process.wait(), 60)
        return bytes(out[1]), bytes(out[2]), code, process.oom_killed

    return asyncio.run(go())


@pytest.mark.parametrize(
    "command",
    [
        "x=a; while true; do x=$x$x; done",  # a variable
        "x=$(yes)",  # a command substitution
        "yes | sort",  # input read to its end
        "tail -n 1 /dev/zero",  # a device read to its end (tail keeps it all)
        "x=$(printf '%03000000d' 0); while true; do x=\"$x$x\"; done",  # a quoted expansion
        "x=$(printf '%05000000d' 0); cat <<EOF\n$x$x$x$x\nEOF",  # a here-document
        "set -- $(seq 1 2000000); echo $#",  # words split from a long value
    ],
)
def test_what_a_process_grows_is_counted_and_ends_in_an_oom_kill(command: str) -> None:
    _out, _err, code, oom = run_sh(command)
    assert (code, oom) == (137, True)


def test_a_file_that_does_not_fit_fails_as_on_a_full_disk() -> None:
    out, err, code, oom = run_sh("printf '%020000000d' 0 > /big; echo $?; ls /big")
    assert not oom and code == 0
    assert b"No space left on device" in err and out.startswith(b"1\n")


def test_a_pipe_pushes_back_and_a_gone_reader_ends_its_writer() -> None:
    assert run_sh("yes | head -n 2") == (b"y\ny\n", b"", 0, False)
    assert run_sh("cat /dev/zero | head -c 100000 | wc -c")[0] == b"100000\n"
    # the writer waits on the full pipe instead of filling the memory; sleep ends it all
    assert run_sh("yes | sleep 0.3; echo done") == (b"done\n", b"", 0, False)


def test_arithmetic_wraps_at_64_bits_as_ash_does() -> None:
    out, _err, code, _oom = run_sh(
        "echo $((9**999999999)) $((1<<70)) $((9223372036854775807+1)) $((2**64))"
    )
    assert (out, code) == (b"3591297635458227769 64 -9223372036854775808 0\n", 0)


def test_a_huge_printf_width_streams_in_pieces() -> None:
    out, _err, code, oom = run_sh("printf '%020000000d' 7 | wc -c", limit=4 << 20)
    assert (out, code, oom) == (b"20000000\n", 0, False)  # 20 MB through a 4 MB container

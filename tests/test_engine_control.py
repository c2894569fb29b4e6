"""``labkit engine start|stop|status|env|logs`` and ``ensure_running()``: the engine process."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from engine_fixtures import FIXED_CLOCK, FIXED_SEED, running_lab_engine, short_tempdir

from labkit.engine import control
from labkit.engine.app import settings_from_env

pytestmark = pytest.mark.lab_engine


@pytest.fixture
def home() -> Path:
    """A short LABKIT_HOME of this test's own; whatever engine it started is stopped after."""
    path = short_tempdir()
    yield path
    try:
        control.stop({"LABKIT_HOME": str(path)}, timeout=5)
    finally:
        subprocess.run(["rm", "-rf", str(path)], check=False)


def env_for(home: Path, **extra: str) -> dict[str, str]:
    return {"LABKIT_HOME": str(home), **extra}


def labkit(home: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **env_for(home, **extra)}
    return subprocess.run(
        [sys.executable, "-m", "labkit", "engine", *args],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def ping(sock: Path) -> bytes:
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(5)
        s.connect(str(sock))
        s.sendall(b"GET /_ping HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := s.recv(4096):
            data += chunk
    return data


def test_start_status_stop(home: Path) -> None:
    out = labkit(home, "start")
    assert out.returncode == 0, out.stderr
    assert "the lab engine started" in out.stdout
    sock = home / "engine" / "engine.sock"
    assert f"unix://{sock}" in out.stdout
    assert sock.stat().st_mode & 0o777 == 0o600
    pid = int((home / "engine" / "engine.pid").read_text())
    assert os.getsid(pid) == pid, "the engine should lead its own session (detached)"
    assert ping(sock).startswith(b"HTTP/1.1 200 OK")

    st = labkit(home, "status")
    assert st.returncode == 0
    assert "is running" in st.stdout and f"pid:     {pid}" in st.stdout
    assert "mode 0600" in st.stdout and "uptime:" in st.stdout

    again = labkit(home, "start")
    assert again.returncode == 0
    assert f"already running (pid {pid})" in again.stdout

    stopped = labkit(home, "stop")
    assert stopped.returncode == 0 and f"(pid {pid}) stopped" in stopped.stdout
    assert not sock.exists() and not (home / "engine" / "engine.pid").exists()
    st = labkit(home, "status")
    assert st.returncode == control.EXIT_NOT_RUNNING and "not running" in st.stdout
    assert "not running" in labkit(home, "stop").stdout


def test_a_crashed_engine_is_detected_and_recovered(home: Path) -> None:
    env = env_for(home)
    first = control.start(env)
    os.kill(first.pid, signal.SIGKILL)
    assert wait_until(lambda: not control.lock_held(home / "engine"))
    assert first.socket.exists()  # left behind

    st = control.status(env)
    assert not st.running
    assert any("socket" in s for s in st.stale) and any("pidfile" in s for s in st.stale)
    out = labkit(home, "status")
    assert "left behind by a crash" in out.stdout

    second = control.start(env)
    assert not second.already_running and second.pid != first.pid
    assert any("stale socket" in r for r in second.recovered)
    assert any("stale pidfile" in r for r in second.recovered)
    assert ping(second.socket).startswith(b"HTTP/1.1 200")


def wait_until(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return bool(predicate())


def test_stop_escalates_to_sigkill(home: Path) -> None:
    """An engine that ignores SIGTERM is killed after the timeout."""
    engine_dir = control.engine_home(env_for(home))
    stubborn = textwrap.dedent(
        f"""
        # labkit.engine stand-in that will not stop
        import signal, sys, time
        from pathlib import Path
        from labkit.engine import control
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        home = Path({str(engine_dir)!r})
        fd = control.acquire_lock(home)
        control.write_pidfile(home, __import__("os").getpid())
        print("ready", flush=True)
        time.sleep(120)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", stubborn], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        stopped = control.stop(env_for(home), timeout=0.5)
        assert stopped.was_running and stopped.killed and stopped.pid == proc.pid
        assert proc.wait(10) == -signal.SIGKILL
    finally:
        proc.kill()
        proc.wait()


def test_too_long_a_socket_path_says_what_to_do() -> None:
    base = short_tempdir()
    deep = base / ("x" * 60) / ("y" * 60)
    try:
        with pytest.raises(control.EngineError) as info:
            control.socket_path({"LABKIT_HOME": str(deep)})
        assert "LABKIT_HOME" in str(info.value) and "bytes" in str(info.value)
        out = labkit(deep, "start")
        assert out.returncode == 1
        assert "export LABKIT_HOME=" in out.stderr
    finally:
        subprocess.run(["rm", "-rf", str(base)], check=False)


def test_env_prints_the_line_and_how_to_undo_it(home: Path) -> None:
    out = labkit(home, "env", "--no-start")
    sock = home / "engine" / "engine.sock"
    assert out.stdout.splitlines() == [
        f"export DOCKER_HOST=unix://{sock}",
        "# undo with: unset DOCKER_HOST",
    ]
    assert not sock.exists()
    started = labkit(home, "env")  # starts it, so that eval "$(labkit engine env)" just works
    assert started.stdout.splitlines()[0] == f"export DOCKER_HOST=unix://{sock}"
    assert "started the lab engine" in started.stderr
    assert ping(sock).startswith(b"HTTP/1.1 200")


def test_a_reader_that_stops_early_gets_no_traceback(home: Path) -> None:
    """``labkit engine env | head -1``: the pipe closes before everything is written."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # every write now fails with EPIPE, as after head has exited
    try:
        out = subprocess.run(
            [sys.executable, "-m", "labkit", "engine", "env", "--no-start"],
            env={**os.environ, **env_for(home)}, stdout=write_end, stderr=subprocess.PIPE,
            text=True, timeout=60,
        )  # fmt: skip
    finally:
        os.close(write_end)
    assert out.returncode == 0
    assert "Traceback" not in out.stderr and "BrokenPipe" not in out.stderr, out.stderr


def test_logs(home: Path) -> None:
    assert "has not been started" in labkit(home, "logs").stderr
    control.start(env_for(home))
    out = labkit(home, "logs")
    assert out.returncode == 0 and "listening on unix://" in out.stdout
    assert len(labkit(home, "logs", "-n", "1").stdout.splitlines()) == 1


def test_logs_follow_prints_new_lines(home: Path) -> None:
    control.start(env_for(home))
    env = {**os.environ, **env_for(home)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "labkit", "engine", "logs", "-f"],
        env=env, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        while "listening on" not in proc.stdout.readline():  # the log so far, then it follows
            pass
        control.stop(env_for(home))  # the engine logs "stopping" and "stopped"
        while True:
            line = proc.stdout.readline()
            assert line, "logs -f ended"
            if "stopping" in line:
                break
    finally:
        proc.kill()
        proc.wait()


def test_ensure_running_starts_once(home: Path) -> None:
    env = env_for(home)
    sock = control.ensure_running(env)
    assert sock == control.socket_path(env) == home / "engine" / "engine.sock"
    pid = control.status(env).pid
    assert control.ensure_running(env) == sock
    assert control.status(env).pid == pid


def test_concurrent_starts_make_one_engine(home: Path) -> None:
    env = env_for(home)
    results: list[control.Started] = []
    errors: list[BaseException] = []

    def go() -> None:
        try:
            results.append(control.start(env))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=go) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert len({r.socket for r in results}) == 1
    running = control.status(env)
    assert running.running and running.answering
    # every engine that lost the race has exited: only the lock holder is left
    assert wait_until(
        lambda: all(r.pid == running.pid or not control.pid_alive(r.pid) or _zombie(r.pid)
                    for r in results)
    )  # fmt: skip


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith("Z")
    except OSError:
        return True


def test_clock_seed_and_limits_reach_the_engine(home: Path) -> None:
    env = env_for(
        home, LABKIT_CLOCK=FIXED_CLOCK, LABKIT_SEED=FIXED_SEED, LABKIT_ENGINE_MAX_BODY="100"
    )
    started = control.start(env)
    environ = Path(f"/proc/{started.pid}/environ")
    if environ.exists():
        values = dict(item.split("=", 1) for item in environ.read_text().split("\0") if "=" in item)
        assert values["LABKIT_CLOCK"] == FIXED_CLOCK and values["LABKIT_SEED"] == FIXED_SEED
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(5)
        s.connect(str(started.socket))
        s.sendall(b"POST /_ping HTTP/1.1\r\nHost: d\r\nContent-Length: 200\r\n\r\n" + b"a" * 200)
        head = s.recv(65536)
    assert head.startswith(b"HTTP/1.1 400")
    assert b"at most 100 bytes" in head


def test_settings_from_env() -> None:
    assert settings_from_env({"LABKIT_CLOCK": FIXED_CLOCK, "LABKIT_SEED": "42"}) == {
        "clock": FIXED_CLOCK,
        "seed": 42,
    }
    assert settings_from_env({}) == {"clock": None, "seed": None}


def test_a_failing_engine_is_reported_with_its_log(home: Path) -> None:
    sock = home / "engine" / "engine.sock"
    sock.mkdir(parents=True)  # something that is not a socket sits where the socket goes
    (sock / "keep").write_text("")
    # The engine process itself refuses it (``labkit engine start`` would say so earlier).
    out = subprocess.run(
        [sys.executable, "-m", "labkit.engine", "serve", "--home", str(home / "engine")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 2
    assert f"{sock} is not a socket" in out.stderr and "Traceback" not in out.stderr
    assert (sock / "keep").exists()


def test_the_engine_process_imports_nothing_heavy() -> None:
    code = textwrap.dedent(
        """
        import importlib, json, sys
        import labkit.engine.__main__, labkit.engine.app, labkit.engine.server
        from labkit.engine.app import API_MODULES, import_modules
        import_modules(API_MODULES, [])
        try:
            importlib.import_module("labkit.engine.model")
        except ImportError:
            pass
        print(json.dumps(sorted(sys.modules)))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    modules = set(json.loads(out.stdout))
    heavy = {"requests", "docker", "jupyter_client", "IPython", "ipywidgets", "httpx", "numpy"}
    assert not heavy & modules, f"the engine process imports {sorted(heavy & modules)}"


def test_running_lab_engine_fixture_cleans_up() -> None:
    with running_lab_engine() as engine:
        assert engine.url == f"unix://{engine.socket}"
        assert engine.env["DOCKER_HOST"] == engine.url
        assert engine.env["LABKIT_CLOCK"] == FIXED_CLOCK
        assert len(os.fsencode(engine.socket)) <= 100
        pid = engine.pid
        out = subprocess.run(
            ["docker", "version", "--format", "{{.Server.Platform.Name}}"],
            env=engine.env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert out.stdout.strip() == "labkit lab engine", out.stderr
    assert wait_until(lambda: not control.pid_alive(pid) or _zombie(pid))
    assert not engine.home.exists()

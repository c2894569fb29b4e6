"""Fixtures that start labkit's lab engine for tests.

- ``lab_engine``: a fresh engine for one test, in its own short ``LABKIT_HOME``.
- ``lab_engine_session``: one engine shared by a whole test session, for suites
  that only need something that answers.
- ``serve_app``: an in-process server (a thread with its own event loop) for an
  :class:`~labkit.engine.app.App` you assemble yourself, e.g. with dummy routes.

Both engine fixtures fix ``LABKIT_CLOCK`` and ``LABKIT_SEED``, so ids and times
are the same on every run, and give ``.env`` for docker CLI subprocesses.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from labkit.engine import control

FIXED_CLOCK = "2026-01-05T09:00:00Z"
FIXED_SEED = "42"


def short_tempdir(prefix: str = "lk") -> Path:
    """A new folder with a short path: Unix socket paths must stay under ~100 bytes."""
    base = "/tmp" if os.path.isdir("/tmp") else None
    return Path(tempfile.mkdtemp(prefix=prefix, dir=base))


@dataclass
class LabEngine:
    """A running lab engine: where it listens, and an environment that points at it."""

    home: Path  # LABKIT_HOME
    socket: Path
    url: str  # unix:///…/engine.sock
    env: dict[str, str]  # os.environ plus DOCKER_HOST, LABKIT_HOME, clock and seed
    pid: int | None = None
    labkit_env: dict[str, str] = field(default_factory=dict)  # just the LABKIT_* settings

    def stop(self) -> None:
        control.stop(self.labkit_env)

    def restart(self) -> None:
        """Stop and start again on the same state (the model keeps it across restarts)."""
        control.stop(self.labkit_env)
        started = control.start(self.labkit_env)
        self.pid = started.pid

    def log(self) -> str:
        return control.log_tail(control.engine_home(self.labkit_env), lines=200)


def start_lab_engine(home: Path | None = None, **extra: str) -> LabEngine:
    """Start an engine in ``home`` (a new short temp folder by default)."""
    home = home or short_tempdir()
    labkit_env = {
        "LABKIT_HOME": str(home),
        "LABKIT_CLOCK": FIXED_CLOCK,
        "LABKIT_SEED": FIXED_SEED,
        **extra,
    }
    started = control.start(labkit_env)
    url = f"unix://{started.socket}"
    env = dict(os.environ)
    for var in ("DOCKER_CONTEXT", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH", "LABKIT_DOCKER_HOST"):
        env.pop(var, None)
    docker_config = home / "docker-config"
    docker_config.mkdir(exist_ok=True)
    env.update(labkit_env)
    # The CLI reads (and writes) its config here, not in the user's ~/.docker.
    env.update({"DOCKER_HOST": url, "DOCKER_CONFIG": str(docker_config)})
    return LabEngine(home, started.socket, url, env, started.pid, labkit_env)


def stop_lab_engine(engine: LabEngine, remove: bool = True) -> None:
    try:
        control.stop(engine.labkit_env)
    finally:
        if remove:
            shutil.rmtree(engine.home, ignore_errors=True)


@contextlib.contextmanager
def running_lab_engine(**extra: str) -> Iterator[LabEngine]:
    engine = start_lab_engine(**extra)
    try:
        yield engine
    finally:
        stop_lab_engine(engine)


@pytest.fixture
def lab_engine() -> Iterator[LabEngine]:
    """A lab engine of this test's own, stopped (and its home removed) afterwards."""
    with running_lab_engine() as engine:
        yield engine


@pytest.fixture(scope="session")
def lab_engine_session() -> Iterator[LabEngine]:
    """One lab engine for the whole session: do not rely on it being empty."""
    with running_lab_engine() as engine:
        yield engine


# ---------------------------------------------------------------- in-process server
class ServedApp:
    """An app served on a Unix socket by a loop in a background thread."""

    def __init__(self, app, limits=None, loop: str = "asyncio") -> None:
        from labkit.engine.server import Server

        self.app = app
        self.dir = short_tempdir("lks")
        self.socket = self.dir / "s.sock"
        self.url = f"unix://{self.socket}"
        self.server = Server(app, limits)
        if loop == "uvloop":
            uvloop = pytest.importorskip("uvloop")
            self.loop = uvloop.new_event_loop()
        else:
            self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="served-app", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self.server.listen_unix(self.socket))
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self.loop.run_forever()

    def start(self) -> ServedApp:
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None:
            raise self._error
        return self

    def call(self, fn: Callable[[], object]) -> object:
        """Run a coroutine function on the server's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(fn(), self.loop).result(10)  # type: ignore[arg-type]

    def stop(self) -> None:
        if self._thread.is_alive():
            with contextlib.suppress(Exception):
                self.call(self.server.close)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)
        if not self.loop.is_running():
            self.loop.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def serve_app() -> Iterator[Callable[..., ServedApp]]:
    """``serve_app(app, limits=None, loop="asyncio"|"uvloop")`` serves ``app`` in this process.

    The server stops when the test ends.
    """
    served: list[ServedApp] = []

    def factory(app, limits=None, loop: str = "asyncio") -> ServedApp:
        s = ServedApp(app, limits, loop).start()
        served.append(s)
        return s

    yield factory
    for s in served:
        s.stop()

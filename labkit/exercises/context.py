"""What a check works with: the engine, fresh names and sockets, and a clean-up list.

A check builds the state it tests on itself (random names, fresh socket paths,
containers with random output), so that only an answer that really does the work
passes. Everything it makes is registered here and undone when the check ends,
whatever happened, so the engine is left as the check found it.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import shutil
import string
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labkit.exercises import learner_code
from labkit.exercises.tap import EngineTap, RequestSeen, ScriptedServer, fresh_socket_path
from labkit.exercises.verdict import NotYet, Unchecked

if TYPE_CHECKING:
    from labkit.client.http import Client
    from labkit.exercises.tasks import Task
    from labkit.lab import Lab

LAB_IMAGE = "busybox"  # on both engines: bundled by the lab engine, provisioned on a real one
CHECK_LABEL = "org.labkit.check"


class CheckContext:
    """Handed to every check function; use it as a context manager."""

    def __init__(self, task: Task, lab_factory: Callable[[], Lab] | None = None) -> None:
        self.task = task
        self._lab_factory = lab_factory
        self._lab: Lab | None = None
        self._undo = contextlib.ExitStack()

    def __enter__(self) -> CheckContext:
        return self

    def __exit__(self, *exc: object) -> None:
        self._undo.close()

    # -- the engine ----------------------------------------------------------------

    @property
    def lab(self) -> Lab:
        """The engine this lab talks to (the same one the lessons use)."""
        if self._lab is None:
            try:
                if self._lab_factory is not None:
                    self._lab = self._lab_factory()
                else:
                    import labkit

                    self._lab = labkit.connect()
            except Exception as exc:
                raise Unchecked(
                    f"no engine answers, so this check cannot run ({exc}); run `labkit doctor` "
                    "in a terminal to see why"
                ) from None
        return self._lab

    @property
    def client(self) -> Client:
        return self.lab.client

    @property
    def is_lab_engine(self) -> bool:
        return self.lab.is_lab_engine

    # -- fresh things --------------------------------------------------------------

    @staticmethod
    def token(length: int = 8) -> str:
        """Random lower-case letters and digits (never from the engine's fixed seed)."""
        alphabet = string.ascii_lowercase + string.digits
        return "".join(secrets.choice(alphabet) for _ in range(length))

    def name(self, prefix: str = "check") -> str:
        return f"lk-{prefix}-{self.token(6)}"

    def choice(self, options: list[Any]) -> Any:
        return secrets.choice(options)

    def randint(self, low: int, high: int) -> int:
        return low + secrets.randbelow(high - low + 1)

    def socket_path(self, name: str = "check.sock") -> Path:
        """A path for a new socket in a fresh private folder, removed at the end."""
        folder, path = fresh_socket_path(name)
        self._undo.callback(shutil.rmtree, folder, True)
        return path

    def temp_dir(self) -> Path:
        folder, _ = fresh_socket_path()
        self._undo.callback(shutil.rmtree, folder, True)
        return folder

    def later(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` when the check ends (last registered, first run)."""
        self._undo.callback(_quietly, fn, *args)

    # -- the learner's code --------------------------------------------------------

    def call(self, fn: Any, *args: Any, limit: float | None = None, what: str = "") -> Any:
        """Call the learner's function under the task's time limit."""
        return learner_code.call(fn, *args, limit=limit or self.task.time_limit, what=what)

    def start(self, fn: Any, *args: Any, what: str = "") -> learner_code.Running:
        """Run the learner's function in a thread (a server), stopped when the check ends."""
        running = learner_code.Running(fn, *args, name=what).start()
        self._undo.callback(running.stop)
        return running

    # -- sockets in front of the learner -------------------------------------------

    def tap(self, drip: bool = True) -> EngineTap:
        """A fresh socket that forwards to the engine and records what the learner sent."""
        folder, path = fresh_socket_path("engine.sock")
        tap = EngineTap(self.lab.endpoint, path, folder, drip=drip)
        self._undo.callback(tap.close)
        return tap

    def scripted(self, reply: bytes | Callable[[RequestSeen], bytes], **kwargs: Any) -> Any:
        """A fresh socket that answers each request with ``reply``, sent in pieces."""
        folder, path = fresh_socket_path("server.sock")
        server = ScriptedServer(reply, path, folder, **kwargs)
        self._undo.callback(server.close)
        return server

    # -- engine state the check makes ----------------------------------------------

    def container(
        self,
        command: list[str],
        *,
        name: str | None = None,
        start: bool = True,
        wait: bool = False,
        tty: bool = False,
        labels: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """A container of the lab's busybox image, removed (forced) when the check ends."""
        name = name or self.name("c")
        body = {
            "Image": LAB_IMAGE,
            "Cmd": command,
            "Tty": tty,
            "Labels": {CHECK_LABEL: self.task.id, **(labels or {})},
        }
        try:
            created = self.client.request(
                "POST", "/containers/create", params={"name": name}, json=body
            ).json()
        except Exception as exc:
            raise Unchecked(
                f"the check could not create its container ({exc}); is the lab's busybox "
                "image there? `labkit provision` puts it on a real engine"
            ) from None
        cid = created["Id"]
        self._undo.callback(self._remove_container, cid)
        if start:
            self.client.request("POST", f"/containers/{cid}/start")
        if wait:
            self.client.request("POST", f"/containers/{cid}/wait", timeout=30)
        return {"Id": cid, "Name": name}

    def _remove_container(self, cid: str) -> None:
        with contextlib.suppress(Exception):
            self.client.request(
                "DELETE", f"/containers/{cid}", params={"force": "true", "v": "true"}, timeout=30
            )

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.05)
        return predicate()

    def engine_now(self) -> str:
        """The engine's own clock as ``/events`` takes it (a fixed clock in tests differs)."""
        from labkit.lessons.bytes_view import unix_timestamp

        return unix_timestamp(self.client.get("/info")["SystemTime"])

    def engine_events(self, since: str, until: str, filters: dict[str, list[str]]) -> list[Any]:
        reply = self.client.request(
            "GET", "/events", params={"since": since, "until": until, "filters": filters}
        )
        return [json.loads(line) for line in reply.body.splitlines() if line.strip()]


def _quietly(fn: Callable[..., Any], *args: Any) -> None:
    with contextlib.suppress(Exception):
        fn(*args)


def expect(condition: bool, message: str, mistake: str | None = None) -> None:
    """End the check with "not yet" unless ``condition`` holds."""
    if not condition:
        raise NotYet(message, mistake)


def expect_type(value: Any, types: type | tuple[type, ...], what: str) -> None:
    if value is None:
        raise NotYet(f"{what} is None: is a `return` missing?", mistake="returned-none")
    if not isinstance(value, types):
        names = (
            " or ".join(t.__name__ for t in types) if isinstance(types, tuple) else types.__name__
        )
        kind = type(value).__name__
        raise NotYet(f"{what} should be a {names}, and it is a {kind}: {value!r:.80}")

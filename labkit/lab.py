"""``labkit.connect()``: the one call a notebook makes to get an engine to talk to.

``LABKIT_ENGINE`` chooses: ``auto`` (a real engine if one answers ``/_ping``,
else the lab engine), ``lab`` (always the lab engine, started on demand) or
``docker`` (a real engine, or a clear error saying why none was found).

An engine may stop in the middle of a lesson (``labkit engine stop``, a crash, a
restarted Docker). The lab's client then recovers by itself where it can: it
connects again, and starts the lab engine again if that is the one that stopped;
for a real engine it says in one line what happened and what to do
(:class:`~labkit.transport.errors.EngineGone`).
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from labkit.client.http import Client
from labkit.transport.connect import open_socket
from labkit.transport.discovery import (
    Attempt,
    EngineInfo,
    EngineNotFound,
    find_engine,
    probe,
)
from labkit.transport.errors import EngineGone, TransportError
from labkit.transport.hosts import Endpoint, parse_host

CHOICES = ("auto", "lab", "docker")


class EngineChoiceError(ValueError):
    """``LABKIT_ENGINE`` holds something labkit does not know."""


@dataclass
class Lab:
    """The engine this lab talks to, with a client ready to call it."""

    kind: str  # "lab" (labkit's own engine) or "docker" (a real engine)
    engine: EngineInfo
    api_version: str  # negotiated: the lower of the engine's newest and labkit's
    client: Client
    attempts: list[Attempt] = field(default_factory=list)
    # The environment the lab engine was started with, to start it again the same way.
    start_env: Mapping[str, str] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        # A weak reference: the client must not keep its lab (and its connection) alive.
        lab = weakref.ref(self)

        def recover(gone: TransportError) -> bool:
            found = lab()
            return found is not None and found._recover(gone)

        self.client.on_unreachable = recover

    def answers(self, timeout: float = 2.0) -> bool:
        """Does something accept connections at the engine's address right now?"""
        try:
            open_socket(self.endpoint, timeout).close()
        except (TransportError, OSError):
            return False
        return True

    def wake(self) -> None:
        """Make sure the engine is there before a cell connects to it by hand: the lab
        engine is started again if it stopped; a real one that stopped raises
        :class:`EngineGone`, whose message says what to do."""
        if not self.answers():
            self._recover(None)

    def _recover(self, gone: TransportError | None) -> bool:
        """The engine stopped: start the lab engine again (True: connect again), or say
        in one line what to do about a real one."""
        why = {"missing": " (its socket is gone)", "refused": " (nothing listens on its socket)"}
        why = why.get(gone.kind, f" ({gone.reason})") if gone is not None else ""
        if not self.is_lab_engine:
            raise EngineGone(
                self.endpoint,
                f"the engine does not answer any more{why}: it has stopped. Start it again "
                "(Docker Engine: sudo systemctl start docker; Docker Desktop: open it), then "
                "run this cell again: labkit reconnects by itself.",
            )
        from labkit.engine.control import EngineError, ensure_running

        try:
            path = ensure_running(dict(os.environ if self.start_env is None else self.start_env))
        except EngineError as exc:
            raise EngineGone(
                self.endpoint,
                f"the lab engine stopped{why} and could not be started again: "
                f"{str(exc).splitlines()[0]} See `labkit engine logs`.",
            ) from None
        if self.endpoint.path and Path(self.endpoint.path) != path:
            raise EngineGone(
                self.endpoint,
                f"the lab engine stopped{why}, and the one started now listens elsewhere "
                f"({path}: LABKIT_HOME changed?). Run labkit.connect() again.",
            )
        print(f"labkit: the lab engine had stopped{why}; it is running again.")
        return True

    @property
    def endpoint(self) -> Endpoint:
        return self.engine.endpoint

    @property
    def docker_host(self) -> str:
        """The address in ``DOCKER_HOST`` form, e.g. ``unix:///home/me/.local/share/labkit/…``."""
        return self.endpoint.url

    @property
    def socket_path(self) -> Path | None:
        return Path(self.endpoint.path) if self.endpoint.path else None

    @property
    def is_lab_engine(self) -> bool:
        return self.kind == "lab"

    def env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """An environment for a subprocess (the docker CLI) that talks to this engine."""
        env = dict(os.environ if base is None else base)
        env["DOCKER_HOST"] = self.docker_host
        env.pop("DOCKER_CONTEXT", None)
        if self.endpoint.tls is None:
            env.pop("DOCKER_TLS_VERIFY", None)
        return env

    def describe(self) -> str:
        """One line: what answered, where, and which API version the lab will use."""
        who = "the lab engine" if self.is_lab_engine else self.engine.product
        return (
            f"{who} {self.engine.version} at {self.docker_host} "
            f"(API {self.engine.api_version}; the lab uses {self.api_version})"
        )

    def __str__(self) -> str:
        return self.describe()

    def _repr_pretty_(self, printer: object, cycle: bool) -> None:  # IPython's text/plain
        printer.text(self.describe())  # type: ignore[attr-defined]

    def _repr_markdown_(self) -> str:
        if self.is_lab_engine:
            what = "**the lab engine** (labkit's own Engine API server, private to you)"
        else:
            what = f"**a real engine: {self.engine.product} {self.engine.version}**"
        return (
            f"This notebook talks to {what}  \n"
            f"socket: `{self.docker_host}`  \n"
            f"API version: engine's newest `{self.engine.api_version}`, "
            f"the lab uses `{self.api_version}`"
        )


def engine_choice(env: Mapping[str, str] | None = None, engine: str | None = None) -> str:
    """The engine the learner asked for: the argument, else ``LABKIT_ENGINE``, else auto."""
    env = os.environ if env is None else env
    choice = (engine or env.get("LABKIT_ENGINE") or "auto").strip().lower()
    if choice not in CHOICES:
        raise EngineChoiceError(
            f"LABKIT_ENGINE={choice!r} is not a choice labkit knows; use one of "
            f"{', '.join(CHOICES)} (auto: a real engine if one answers, else the lab engine)"
        )
    return choice


def connect_lab_engine(env: Mapping[str, str] | None = None, timeout: float = 5.0) -> Lab:
    """Start the lab engine if it is not running, and connect to it."""
    from labkit.engine.control import ensure_running

    path = ensure_running(dict(os.environ if env is None else env))
    endpoint = parse_host(f"unix://{path}", source="the lab engine")
    attempt = probe(endpoint, timeout)
    if not attempt.ok or attempt.engine is None or attempt.api_version is None:
        raise RuntimeError(
            f"the lab engine was started but does not answer at {path}: {attempt.reason}. "
            "See its log with `labkit engine logs`, then try `labkit engine stop`."
        )
    client = Client(endpoint, api_version=attempt.api_version)
    lab = Lab("lab", attempt.engine, attempt.api_version, client, [attempt], start_env=env)
    return lab


def connect_real_engine(env: Mapping[str, str] | None = None, timeout: float = 2.0) -> Lab:
    """A real Docker-compatible engine; raises EngineNotFound explaining every attempt."""
    found = find_engine(env, timeout=timeout)
    client = Client(found.endpoint, api_version=found.api_version)
    kind = "lab" if found.engine.product == "labkit lab engine" else "docker"
    return Lab(kind, found.engine, found.api_version, client, found.attempts)


def connect(engine: str | None = None, env: Mapping[str, str] | None = None) -> Lab:
    """The engine this lab talks to (see the module docstring for how it is chosen)."""
    choice = engine_choice(env, engine)
    if choice == "lab":
        lab = connect_lab_engine(env)
    elif choice == "docker":
        lab = connect_real_engine(env)
    else:
        try:
            lab = connect_real_engine(env)
        except EngineNotFound as missing:
            lab = connect_lab_engine(env)
            lab.attempts = [*missing.attempts, *lab.attempts]  # so a notebook can show why
    _remember(lab)
    return lab


_current: Lab | None = None


def current() -> Lab | None:
    """The engine the last ``connect()`` in this process found (a notebook's kernel)."""
    return _current


def _remember(lab: Lab) -> None:
    """Note the lab, and in a notebook, have IPython explain the usual mishaps kindly."""
    global _current
    if _current is not None and _current is not lab:
        _current.client.close()  # its kept-alive connection; it reconnects if used again
    _current = lab
    from labkit.lessons import hints

    hints.install()

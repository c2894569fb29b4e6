"""Lesson 06's chores: a second lab engine to expose, attack and protect.

The lesson is about what an engine on TCP lets a stranger do, and how to stop it; starting
the engine, finding its address, running a program of the notebook as a process of its own
and running the ``docker`` command are chores, done here:

- :class:`ExposedEngine`: a lab engine in a lab home of its own (inside the lesson's scratch
  folder), started and stopped through the ``labkit`` command, whose every call is shown as
  the line a learner would type (``$ labkit engine start --tcp 127.0.0.1:0``) with what
  labkit answered; :meth:`ExposedEngine.address` is its ``DOCKER_HOST`` on TCP, or a
  :class:`~labkit.lessons.ipc.RunFirst` naming the cell to run when it is not listening the
  way a cell needs;
- :func:`run_program`: a function of the notebook run as ``python -c``, in a process that
  shares nothing with the notebook but the arguments it is given (the attacker);
- :func:`docker`: the real ``docker`` command with only the ``DOCKER_*`` settings given, or
  None where it is not installed.

Everything it starts listens on 127.0.0.1 or on a private Unix socket.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from labkit.client.http import Client
from labkit.lessons.ipc import RunFirst, program_of

NO_CLI = "No docker command on this machine: this cell has nothing to run (read on, or install it)."
TIMEOUT = 120.0


class ExposedEngine:
    """A lab engine whose lab home is ``folder/exposed``; its owner talks to its Unix socket."""

    def __init__(self, folder: Path) -> None:
        self.home = Path(folder) / "exposed"
        self.socket = self.home / "engine" / "engine.sock"
        self.url = f"unix://{self.socket}"
        self._owner: Client | None = None

    @property
    def owner(self) -> Client:
        """The owner's client, on the engine's Unix socket (as you use your own engine)."""
        if self._owner is None:
            self._owner = Client(self.url)
        return self._owner

    def labkit(self, *args: str, show: bool = True) -> subprocess.CompletedProcess[str]:
        """``labkit ARGS`` for this engine (its own ``LABKIT_HOME``); shows the command and its
        answer unless ``show`` is false."""
        env = {**os.environ, "LABKIT_HOME": str(self.home)}
        run = subprocess.run([sys.executable, "-m", "labkit", *args], env=env,
                             capture_output=True, text=True, timeout=TIMEOUT)  # fmt: skip
        if show:
            print(f"$ labkit {' '.join(args)}")
            print((run.stdout + run.stderr).rstrip())
        return run

    def start(self, *options: str) -> None:
        """Stop it if it runs (an earlier run of the cell), then start it with ``options``."""
        self.labkit("engine", "stop", show=False)
        self.labkit("engine", "start", *options)
        if self._owner is not None:
            self._owner.close()

    def stop(self) -> str:
        """Stop it, and close the owner's connection to it; what labkit said."""
        if self._owner is not None:
            self._owner.close()
        return self.labkit("engine", "stop", show=False).stdout.strip()

    def address(self, tls: bool = False) -> str:
        """Its ``DOCKER_HOST`` on TCP, as ``labkit engine env`` prints it; RunFirst when it is
        not listening on TCP, or not with (``tls``) or without TLS, as the cell needs."""
        lines = self.labkit("engine", "env", "--no-start", show=False).stdout.splitlines()
        prefix = "export DOCKER_HOST=tcp://"
        found = next((line.split("=", 1)[1] for line in lines if line.startswith(prefix)), "")
        if not found or ("export DOCKER_TLS_VERIFY=1" in lines) != tls:
            where = "section 4, the cell that starts it with TLS" if tls else "section 1"
            raise RunFirst(
                f"the exposed engine is not listening the way this cell needs (TCP "
                f"{'with' if tls else 'without'} TLS): run the cell in {where}, then this one"
            )
        return found

    def log(self, lines: int = 10) -> list[str]:
        """The last lines of its log, each without the time and level in front."""
        text = self.labkit("engine", "logs", "--tail", str(lines), show=False).stdout
        return [line.split(": ", 1)[-1] for line in text.splitlines()]


def run_program(function: Callable[..., object], *args: str | os.PathLike[str]) -> None:
    """Run ``function`` as a program of its own (``python -c``) with ``args``; print what it
    printed. It shares nothing with the notebook: no variables, no connections."""
    program = program_of(function)
    run = subprocess.run([sys.executable, "-c", program, *map(str, args)],
                         capture_output=True, text=True, timeout=TIMEOUT)  # fmt: skip
    print((run.stdout + run.stderr).rstrip())


def docker(*args: str, **settings: str) -> subprocess.CompletedProcess[str] | None:
    """The real ``docker ARGS`` with only the ``DOCKER_*`` settings given (and an empty
    configuration folder, removed afterwards); None where no docker command is installed."""
    found = shutil.which("docker")
    if found is None:
        return None
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    with tempfile.TemporaryDirectory(prefix="lesson06-docker-") as config:
        env.update(DOCKER_CONFIG=config, **settings)
        return subprocess.run([found, *args], env=env, capture_output=True, text=True, timeout=60)

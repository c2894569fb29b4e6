"""What a simulated command sees: its container (:class:`System`) and its own I/O (:class:`Ctx`).

An applet is ``async def applet(ctx: Ctx, argv: list[str]) -> int``: it reads ``ctx.stdin``,
writes ``ctx.out(...)``/``ctx.err(...)``, touches ``ctx.fs`` and returns its exit status.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from labkit.engine.runtime.memory import Memory
from labkit.engine.runtime.streams import InStream, Out, drain
from labkit.engine.runtime.vfs import VFS, normpath

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

Applet = Callable[["Ctx", list[str]], Awaitable[int]]
PsRows = Callable[[], list[tuple[int, str, str]]]


@dataclass
class Child:
    """A command running in the container, for ``ps`` and ``docker top``."""

    pid: int  # as seen inside the container
    host_pid: int  # as seen by the host (docker top)
    argv: list[str]


@dataclass
class System:
    """One simulated process tree: the container's filesystem, clock, identity and processes."""

    fs: VFS
    clock: Callable[[], float]
    sleep: Callable[[float], Awaitable[None]]
    hostname: str
    user: str = "root"
    groups: tuple[int, ...] = ()  # supplementary group ids (HostConfig.GroupAdd)
    tty: bool = False
    columns: int = 80
    host_pid: int = 1
    main_argv: list[str] = field(default_factory=list)
    ps: PsRows | None = None  # the model's view of every process in the container, if given
    stdin: InStream | None = None  # the process's own stdin (an interactive shell reads it)
    children: dict[int, Child] = field(default_factory=dict)
    on_interrupt: Callable[[], None] | None = None  # set by an interactive shell (tty Ctrl-C)
    # The signals the process's program catches or ignores (``trap``), each with the
    # function called when it comes; any other signal has its default action.
    handlers: dict[int, Callable[[int], None]] = field(default_factory=dict)
    # Sends a signal to this process (``kill`` of pid 1 from inside); None where the
    # process is not its container's pid 1.
    deliver: Callable[[int], None] | None = None
    # On a terminal, the programs a shell runs in the foreground: a Ctrl-C there ends them
    # (each is cancelled, its value the signal) even where the shell itself catches it.
    foreground: dict[asyncio.Future, int] = field(default_factory=dict)
    jobs: set[asyncio.Future] = field(default_factory=set)  # background `cmd &` tasks
    # Awaited at every scheduling point (sleeps, long loops): it blocks while the
    # container is paused (``docker pause``), the way the cgroup freezer stops a process,
    # and while the container's output waits for its readers (back-pressure).
    gate: Callable[[], Awaitable[None]] | None = None
    # The container's memory, as this process sees it (None: not counted).
    memory: Memory | None = None
    _next_pid: int = 1

    def stream(self, data: bytes = b"", closed: bool = False) -> InStream:
        """A new pipe or here-document: its waiting bytes count against the container's
        memory, and its reader stops while the container is paused."""
        stream = InStream(data, closed, memory=self.memory)
        stream.gate = self.gate
        return stream

    async def checkpoint(self) -> None:
        """A scheduling point of a busy process: let others run, and wait here while the
        container is paused or its output is backed up."""
        await asyncio.sleep(0)
        if self.gate is not None:
            await self.gate()

    def spawn(self, argv: list[str]) -> Child:
        """Note a command that started (gets the next pid)."""
        self._next_pid += 1
        child = Child(self._next_pid, self.host_pid + self._next_pid - 1, list(argv))
        self.children[child.pid] = child
        return child

    def reap(self, child: Child) -> None:
        self.children.pop(child.pid, None)

    def process_rows(self) -> list[tuple[int, str, str]]:
        """(pid, user, command line) of every process in the container, pid 1 first.

        The model's view (``ps``) lists the container's processes; this process tree's own
        running commands (``ps`` itself, a ``sleep`` in a loop) are added to it.
        """
        rows = (
            list(self.ps()) if self.ps is not None else [(1, self.user, " ".join(self.main_argv))]
        )
        seen = {pid for pid, _, _ in rows}
        rows += [
            (c.pid, self.user, " ".join(c.argv))
            for c in self.children.values()
            if c.pid not in seen
        ]
        return rows


@dataclass
class Ctx:
    """One command's view: the system, its environment, directory and three streams."""

    sys: System
    env: dict[str, str]
    cwd: str
    stdin: InStream
    stdout: Out
    stderr: Out
    # Runs another program as a child (`env CMD`, `sh`); the shell fills this in.
    run: Callable[[Ctx, list[str]], Awaitable[int]] | None = None
    pid: int = 1  # this command's pid inside the container ($$ of a shell)

    @property
    def fs(self) -> VFS:
        return self.sys.fs

    def path(self, p: str) -> str:
        """An absolute, normalised path for an argument relative to the working directory."""
        return normpath(p, self.cwd)

    def out(self, text: str | bytes) -> None:
        self.stdout.write(encode(text) if isinstance(text, str) else text)

    def err(self, text: str | bytes) -> None:
        self.stderr.write(encode(text) if isinstance(text, str) else text)

    def with_io(self, **changes: object) -> Ctx:
        """A copy with some fields replaced (other streams, environment or directory)."""
        fields = dict(self.__dict__)
        fields.update(changes)
        return Ctx(**fields)  # type: ignore[arg-type]

    async def pause(self) -> None:
        """Let other tasks run (long loops call this so the engine stays responsive); wait
        here while the container is paused, or while this command's output is full."""
        await asyncio.sleep(0)
        if self.sys.gate is not None:
            await self.sys.gate()
        await drain(self.stdout)
        await drain(self.stderr)


def decode(data: bytes) -> str:
    """Bytes to text without losing anything (undecodable bytes survive a round trip)."""
    return data.decode("utf-8", "surrogateescape")


def encode(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


class UsageError(Exception):
    """A bad option or argument; the applet prints it and exits 1 (or ``status``)."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


def parse_opts(
    argv: list[str], flags: str, with_value: str = ""
) -> tuple[dict[str, str | bool], list[str]]:
    """getopt-style options: ``-la`` -> {'l': True, 'a': True}; ``-n 5``/``-n5`` for valued ones.

    Stops at ``--`` or the first operand; ``-`` alone is an operand (stdin).
    """
    opts: dict[str, str | bool] = {}
    i = 1
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            i += 1
            break
        if not arg.startswith("-") or arg == "-":
            break
        j = 1
        while j < len(arg):
            ch = arg[j]
            if ch in with_value:
                value = arg[j + 1 :]
                if not value:
                    i += 1
                    if i >= len(argv):
                        raise UsageError(f"option requires an argument -- '{ch}'")
                    value = argv[i]
                opts[ch] = value
                break
            if ch not in flags:
                raise UsageError(f"invalid option -- '{ch}'")
            opts[ch] = True
            j += 1
        i += 1
    return opts, argv[i:]


def to_int(text: str, what: str = "number") -> int:
    """An integer argument, or UsageError ``invalid number 'x'`` as busybox says it."""
    try:
        return int(text.strip())
    except ValueError:
        raise UsageError(f"invalid {what} '{text}'") from None

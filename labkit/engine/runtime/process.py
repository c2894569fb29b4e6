"""A container's simulated process: what the lab engine runs instead of a host process.

The model creates a :class:`Process` for a container's command (or a ``docker exec``), feeds
it stdin, receives its output through ``on_output`` as each write happens, signals it and
waits for its exit code. The process is an asyncio task running the mini shell and busybox
applets against the container's :class:`~labkit.engine.runtime.vfs.VFS`; nothing starts on
the host.

Exit codes are the ones a real container gives: the program's status, 127 when the command
is not found, and 128+N when signal N ended it (143 for ``docker stop``'s SIGTERM, 137 for
SIGKILL, 130 for Ctrl-C).

A container's main process is pid 1 of its PID namespace (``pid1=True``), and Linux does not
deliver to a namespace's init any signal it has no handler for, SIGKILL and SIGSTOP from
outside excepted: ``busybox sleep`` as pid 1 ignores ``docker stop``'s SIGTERM, which then
waits its timeout and kills (137). A shell's ``trap`` is such a handler.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Awaitable, Callable

from labkit.engine.runtime.applets_system import identity
from labkit.engine.runtime.context import DEFAULT_PATH, Ctx, PsRows, System
from labkit.engine.runtime.memory import Memory, MemoryAccount, OutOfMemory
from labkit.engine.runtime.programs import find_executable
from labkit.engine.runtime.shell import exec_program, run_argv
from labkit.engine.runtime.signals import SIGINT, SIGKILL, SIGQUIT, SIGSTOP
from labkit.engine.runtime.streams import SIGPIPE_EXIT, CallbackOut, InStream, PipeClosed
from labkit.engine.runtime.tty import LineDiscipline
from labkit.engine.runtime.vfs import VFS, normpath

# Signals whose default action is not to end a process (0 only checks it exists).
IGNORED_SIGNALS = frozenset({0, 17, 18, 19, 20, 21, 22, 23, 28})

log = logging.getLogger("labkit.engine.runtime")

_PIDS = itertools.count(2100, 16)  # fake host pids; children get the ones in between


class Process:
    """One simulated process (a container's main command, or an exec).

    ``on_output(stream, data)``: stream 1 stdout, 2 stderr, called as each write happens.
    With ``tty=True`` everything goes to stream 1 and ``\\n`` becomes ``\\r\\n`` (the tty's
    onlcr), typed input is echoed back and edited like a terminal's cooked mode.

    Optional keywords beyond the agreed interface: ``sleep`` (an awaitable sleep, for tests
    with a fake clock; default ``asyncio.sleep``), ``pid`` (the host pid ``docker top``
    shows), ``ps`` (a callable giving ``(pid, user, command)`` rows for every process in the
    container, for ``ps`` inside it), ``on_exit(code)`` (called once when it ends),
    ``memory`` (the container's :class:`~labkit.engine.runtime.memory.MemoryAccount`: going
    over it ends this process as an OOM kill, exit 137, ``oom_killed``), ``throttle`` (awaited
    at every scheduling point: the model's back-pressure while this process's output waits
    for its readers), ``pid1`` (it is its container's main process, pid 1 of the PID
    namespace: signals it has no handler for are not delivered, SIGKILL excepted; an exec,
    or the command under ``docker run --init``'s docker-init, is not).
    """

    def __init__(
        self,
        argv: list[str],
        *,
        fs: VFS,
        env: dict[str, str],
        cwd: str = "/",
        hostname: str,
        user: str = "root",
        tty: bool = False,
        clock: Callable[[], float],
        on_output: Callable[[int, bytes], None],
        sleep: Callable[[float], Awaitable[None]] | None = None,
        pid: int | None = None,
        ps: PsRows | None = None,
        on_exit: Callable[[int], None] | None = None,
        memory: MemoryAccount | None = None,
        throttle: Callable[[], Awaitable[None]] | None = None,
        groups: tuple[int, ...] = (),
        pid1: bool = False,
    ) -> None:
        if not argv:
            raise ValueError("a process needs a command: argv is empty")
        self.argv = list(argv)
        self.pid = next(_PIDS) if pid is None else pid
        self.tty = tty
        self.pid1 = pid1
        self.cwd = normpath(cwd or "/")
        self.exit_code: int | None = None
        self.started_at: float | None = None
        self.oom_killed = False
        self._throttle = throttle
        self.stdin = InStream()
        self.stdin.gate = self._gate
        self._thawed = asyncio.Event()
        self._thawed.set()
        self._held_signals: list[int] = []
        self._real_sleep = sleep or asyncio.sleep
        self.sys = System(
            fs=fs,
            clock=clock,
            sleep=self._sleep,
            gate=self._gate,
            hostname=hostname,
            user=user or "root",
            groups=tuple(groups),
            tty=tty,
            host_pid=self.pid,
            main_argv=self.argv,
            ps=ps,
            stdin=self.stdin,
            memory=Memory(memory, self.oom_kill) if memory is not None else None,
        )
        if pid1:
            self.sys.deliver = self.signal
        self.env = self._environment(env)
        self._on_output = on_output
        self._on_exit = on_exit
        self._line = LineDiscipline() if tty else None
        self._task: asyncio.Task | None = None
        self._signum: int | None = None
        self._done = asyncio.Event()

    # ----- the agreed interface ----------------------------------------------------------

    @staticmethod
    def resolve(argv: list[str], fs: VFS, env: dict[str, str], cwd: str = "/") -> str | None:
        """The executable ``argv[0]`` names (``$PATH`` search), or None: the model then fails
        the start with ``exec: "x": executable file not found in $PATH`` (exit code 127)."""
        if not argv:
            return None
        return find_executable(fs, argv[0], env.get("PATH", DEFAULT_PATH), cwd)

    @property
    def fs(self) -> VFS:
        return self.sys.fs

    @property
    def running(self) -> bool:
        return self._task is not None and self.exit_code is None

    def start(self) -> None:
        """Schedule the program on the running asyncio loop."""
        if self._task is not None or self.exit_code is not None:
            raise RuntimeError(f"process {self.pid} was already started")
        self.started_at = self.sys.clock()
        self._task = asyncio.get_running_loop().create_task(self._run())
        self._task.add_done_callback(self._task_done)

    def feed_stdin(self, data: bytes) -> None:
        """Bytes typed or piped in; with a TTY they are echoed and edited line by line."""
        if self.exit_code is not None:
            return
        if self._line is None:
            self.stdin.feed(data)
            return
        typed = self._line.feed(data)
        if typed.echo:
            self._on_output(1, typed.echo)
        for kind, payload in typed.events:
            if kind == "data":
                self.stdin.feed(payload)
            elif kind == "eof":
                self.stdin.push_eof()
            elif self.sys.on_interrupt is not None:
                self.sys.on_interrupt()  # an interactive shell stops its running command
            else:  # the terminal signals its whole foreground: the program and its commands
                signum = SIGINT if kind == "intr" else SIGQUIT
                for command in list(self.sys.foreground):
                    self.sys.foreground[command] = signum
                    command.cancel()
                self.signal(signum)

    def close_stdin(self) -> None:
        """End of input: reads see EOF (the model calls this at start when no stdin is attached)."""
        self.stdin.close()

    def signal(self, signum: int) -> None:
        """Deliver a signal: the program's handler if it has one (a shell's ``trap``), else
        most end the process at once with exit code 128+signum; pid 1 ignores them.

        A frozen (paused) process only feels SIGKILL; other signals wait for the thaw."""
        if signum == 0 or self.exit_code is not None:
            return
        if self.frozen and signum != SIGKILL:
            self._held_signals.append(signum)
            return
        if signum not in (SIGKILL, SIGSTOP):
            handler = self.sys.handlers.get(signum)
            if handler is not None:
                handler(signum)
                return
            if self.pid1:  # the kernel spares a PID namespace's init what it does not handle
                return
        if signum in IGNORED_SIGNALS:
            return
        if self._task is None:
            self._finish(128 + signum)
            return
        if self._signum is None:
            self._signum = signum
            self._task.cancel()

    async def wait(self) -> int:
        """The exit code, once the process has ended."""
        await self._done.wait()
        assert self.exit_code is not None
        return self.exit_code

    def top(self) -> list[list[str]]:
        """Rows for ``/containers/{id}/top``: UID PID PPID C STIME TTY TIME CMD."""
        uid, name, _, _ = identity(self._ctx())
        user = name or str(uid)
        stime = time.strftime("%H:%M", time.gmtime(self.started_at or self.sys.clock()))
        tty = "pts/0" if self.tty else "?"

        def row(pid: int, ppid: int, argv: list[str]) -> list[str]:
            return [user, str(pid), str(ppid), "0", stime, tty, "00:00:00", " ".join(argv)]

        rows = [row(self.pid, self.pid - 1, self.argv)]
        rows += [row(c.host_pid, self.pid, c.argv) for c in self.sys.children.values()]
        return rows

    # ----- extras ------------------------------------------------------------------------

    @property
    def frozen(self) -> bool:
        return not self._thawed.is_set()

    def freeze(self) -> None:
        """``docker pause``: the program stops at its next sleep or scheduling point."""
        self._thawed.clear()

    def thaw(self) -> None:
        """``docker unpause``: it goes on, and feels the signals that came meanwhile."""
        self._thawed.set()
        held, self._held_signals = self._held_signals, []
        for signum in held:
            self.signal(signum)

    def oom_kill(self) -> None:
        """Over the container's memory limit: the kernel's OOM killer sends SIGKILL."""
        self.oom_killed = True
        self.signal(SIGKILL)

    async def _gate(self) -> None:
        if not self._thawed.is_set():
            await self._thawed.wait()
        if self._throttle is not None:
            await self._throttle()

    async def _sleep(self, seconds: float) -> None:
        """A sleep that does not end while the process is frozen."""
        await self._real_sleep(seconds)
        await self._gate()

    def resize(self, height: int, width: int) -> None:
        """The terminal's new size (``ls`` on a TTY lays out columns to fit)."""
        if width > 0:
            self.sys.columns = width

    # ----- internals ---------------------------------------------------------------------

    def _environment(self, env: dict[str, str]) -> dict[str, str]:
        """The environment docker gives a process: PATH, HOSTNAME and HOME if unset."""
        out = dict(env)
        out.setdefault("PATH", DEFAULT_PATH)
        out.setdefault("HOSTNAME", self.sys.hostname)
        if "HOME" not in out:
            _, name, _, _ = identity(self._ctx(out))
            out["HOME"] = _home(self.sys.fs, name) or "/"
        return out

    def _ctx(self, env: dict[str, str] | None = None) -> Ctx:
        return Ctx(
            self.sys,
            dict(self.env if env is None else env),
            self.cwd,
            self.stdin,
            CallbackOut(1, self._emit),
            CallbackOut(2, self._emit),
            run=run_argv,
            pid=1,
        )

    def _emit(self, stream: int, data: bytes) -> None:
        if self.tty:
            self._on_output(1, data.replace(b"\n", b"\r\n"))
        else:
            self._on_output(stream, data)

    async def _run(self) -> None:
        try:
            code = await self._main()
        except asyncio.CancelledError:
            if self._signum is None:  # cancelled by someone else (the engine shutting down)
                self._finish(128 + SIGKILL)
                raise
            code = 128 + self._signum
        except OutOfMemory:
            self.oom_killed = True
            code = 128 + SIGKILL
        except PipeClosed:
            code = SIGPIPE_EXIT
        except Exception as exc:  # a bug in the simulation: say so, do not kill the engine
            log.exception("simulated process %d (%s) failed", self.pid, " ".join(self.argv)[:200])
            self._emit(2, f"labkit: the simulated process failed: {exc!r}\n".encode())
            code = 1
        self._finish(code)

    async def _main(self) -> int:
        ctx = self._ctx()
        if not self.sys.fs.is_dir(self.cwd):
            with contextlib.suppress(OSError):
                self.sys.fs.mkdir(self.cwd, parents=True)
        path = self.resolve(self.argv, self.sys.fs, self.env, self.cwd)
        if path is None:
            ctx.err(f'exec: "{self.argv[0]}": executable file not found in $PATH\n')
            return 127
        return await exec_program(ctx, self.argv, path, spawn=False)

    def _task_done(self, task: asyncio.Task) -> None:
        """Make sure the process ends even when its task was cancelled before it first ran."""
        if self.exit_code is None:
            self._finish(128 + (self._signum or SIGKILL))

    def _finish(self, code: int) -> None:
        if self.exit_code is not None:
            return
        self.exit_code = code
        for job in list(self.sys.jobs):
            job.cancel()
        self._done.set()
        if self._on_exit is not None:
            self._on_exit(code)


def _home(fs: VFS, name: str | None) -> str | None:
    """A user's home directory from the container's /etc/passwd."""
    if name is None:
        return None
    try:
        text = fs.read("/etc/passwd").decode("utf-8", "replace")
    except OSError:
        return None
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) > 5 and fields[0] == name:
            return fields[5]
    return None

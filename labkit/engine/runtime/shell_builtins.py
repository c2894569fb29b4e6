"""The shell's own builtins: the commands that change the shell itself.

``cd``, ``export``, ``exit``, ``read``, ``set``... cannot be programs, because a program
cannot change its parent's directory or variables. :class:`Builtins` is mixed into
:class:`~labkit.engine.runtime.shell.Shell`; ``BUILTINS`` maps each name to its method.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from labkit.engine.runtime.commands import REGULAR_BUILTINS
from labkit.engine.runtime.context import System, decode, encode
from labkit.engine.runtime.memory import Held
from labkit.engine.runtime.programs import find_executable
from labkit.engine.runtime.shell_parse import Seq, ShellSyntaxError, parse
from labkit.engine.runtime.signals import SIGINT, SIGKILL, SIGQUIT, SIGSTOP, SIGTERM
from labkit.engine.runtime.signals import name as signal_name
from labkit.engine.runtime.signals import number as signal_number
from labkit.engine.runtime.streams import InStream, Out
from labkit.engine.runtime.vfs import VFS, normpath

if TYPE_CHECKING:
    from collections.abc import Awaitable

T = TypeVar("T")

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass
class IO:
    """A command's three standard streams."""

    stdin: InStream
    stdout: Out
    stderr: Out


class ShellExit(Exception):
    """``exit N``: ends the shell (or the subshell) with status N."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class LoopJump(Exception):
    """``break``/``continue`` N, unwinding to the loop it names."""

    def __init__(self, kind: str, levels: int) -> None:
        super().__init__(kind)
        self.kind = kind
        self.levels = levels


class Builtins:
    """The builtin commands, as methods ``(self, argv, io) -> status`` of the shell."""

    sys: System
    vars: dict[str, str]
    exported: set[str]
    cwd: str
    args: list[str]
    status: int
    interactive: bool
    _loops: int
    # Signals (``trap``): each trap's commands by number (0 is EXIT; "" ignores it). Only
    # the process's own shell (``main``: not a subshell, not a child ``sh``) is signalled:
    # its handlers are the process's, and a caught signal waits in ``_caught`` until the
    # command in progress ends, as ash runs traps between commands.
    traps: dict[int, str]
    main: bool
    catches_int: bool  # ``sh -c`` and scripts: SIGINT ends the shell after its command
    _caught: list[int]
    _in_trap: bool
    _interruptible: asyncio.Future | None
    _trap_view: dict[int, str] | None  # $(trap) lists its parent's traps

    @property
    def fs(self) -> VFS:
        return self.sys.fs

    # The bytes of the values this shell assigned, held against the container's memory
    # (runtime/memory.py); a subshell starts with none of its own, sharing its parent's.
    _var_memory: Held | None
    _owned: set[str]

    def export(self, name: str, value: str | None = None) -> None:
        if value is not None:
            self.set_var(name, value)
        self.exported.add(name)

    def set_var(self, name: str, value: str) -> None:
        held = self._var_memory
        if held is not None:
            old = self.vars.get(name) if name in self._owned else None
            held.grow(len(value) - (len(old) if old is not None else 0))
            self._owned.add(name)
        self.vars[name] = value

    def unset_var(self, name: str) -> None:
        old = self.vars.pop(name, None)
        if name in self._owned:
            self._owned.discard(name)
            if old is not None and self._var_memory is not None:
                self._var_memory.grow(-len(old))

    def error(self, io: IO, message: str) -> None:
        io.stderr.write(encode(f"sh: {message}\n"))

    def run_seq(self, seq: Seq, io: IO) -> Awaitable[int]:
        raise NotImplementedError

    def invoke(
        self, argv: list[str], assigns: list[tuple[str, str]], io: IO, replace: bool = False
    ) -> Awaitable[int]:
        raise NotImplementedError

    # ----- signals -----------------------------------------------------------------------

    def take_signals(self, catch_int: bool = False) -> None:
        """Install this shell's own handlers, as ash does at start: an interactive shell
        ignores TERM and QUIT (and INT from ``kill``: a terminal's Ctrl-C has its own way);
        ``sh -c`` and scripts (``catch_int``) catch INT."""
        self.catches_int = catch_int
        if not self.main:
            return
        for signum in (SIGINT, SIGTERM, SIGQUIT):
            self._set_handler(signum)

    def _set_handler(self, signum: int) -> None:
        if not self.main or signum in (0, SIGKILL, SIGSTOP):  # those two cannot be caught
            return
        action = self.traps.get(signum)
        own = signum in (SIGINT, SIGTERM, SIGQUIT)
        if action == "" or (action is None and self.interactive and own):
            self.sys.handlers[signum] = ignore_signal
        elif action is not None or (signum == SIGINT and self.catches_int):
            self.sys.handlers[signum] = self._signalled
        else:
            self.sys.handlers.pop(signum, None)

    def drop_handlers(self) -> None:
        """``exec``: the new program starts with default handlers, ignored signals kept."""
        if self.main:
            kept = {s: h for s, h in self.sys.handlers.items() if h is ignore_signal}
            self.sys.handlers.clear()
            self.sys.handlers.update(kept)
            self.main = False

    def _signalled(self, signum: int) -> None:
        """A caught signal came: ``read`` and ``wait`` give way to it at once, anything
        else finishes first."""
        self._caught.append(signum)
        if self._interruptible is not None:
            self._interruptible.cancel()

    async def until_signal(self, aw: Awaitable[T]) -> T | None:
        """``aw``'s result, or None if a caught signal came first."""
        if not self.main:
            return await aw
        task = asyncio.ensure_future(aw)
        self._interruptible = task
        try:
            await asyncio.wait({task})
        except asyncio.CancelledError:
            task.cancel()
            raise
        finally:
            self._interruptible = None
        return None if task.cancelled() else task.result()

    async def run_traps(self, io: IO) -> None:
        """Run the traps of the signals that came (between two commands); $? is kept."""
        if self._in_trap:
            return
        self._in_trap = True
        try:
            while self._caught:
                signum = self._caught.pop(0)
                action = self.traps.get(signum)
                if action is None and signum == SIGINT and not self.interactive:
                    raise ShellExit(128 + SIGINT)
                if action:
                    status = self.status
                    await self._trap_action(action, io)
                    self.status = status
        finally:
            self._in_trap = False

    async def exit_trap(self, code: int, io: IO) -> int:
        """The shell ends with ``code``: its EXIT trap runs first, and may change it."""
        action = self.traps.pop(0, None)
        if not action:
            return code
        self.status = code
        try:
            await self._trap_action(action, io)
        except ShellExit as exc:
            return exc.code
        return code

    async def _trap_action(self, action: str, io: IO) -> None:
        try:
            tree = parse(action)
        except ShellSyntaxError as exc:
            self.error(io, f"syntax error: {exc}")
            raise ShellExit(2) from None
        await self.run_seq(tree, io)

    async def _trap(self, argv: list[str], io: IO) -> int:
        """trap [ACTION SIGNAL...]: set (``-`` resets, ``""`` ignores) or list the traps."""
        args = argv[1:]
        if args[:1] == ["--"]:
            args = args[1:]
        elif args and args[0].startswith("-") and args[0] != "-":
            self.error(io, f"trap: illegal option {args[0]}")
            if self.interactive:
                return 2
            raise ShellExit(2)
        if not args:
            traps = self.traps if self._trap_view is None else self._trap_view
            for signum in sorted(traps):
                quoted = _quote(traps[signum])
                io.stdout.write(encode(f"trap -- {quoted} {signal_name(signum)}\n"))
            return 0
        action: str | None = None
        if len(args) > 1 and not args[0].isdigit():  # a number first: reset them all
            action, args = args[0], args[1:]
        if action == "-":
            action = None
        status = 0
        for spec in args:
            signum = signal_number(spec)
            if signum is None:
                self.error(io, f"trap: {spec}: invalid signal specification")
                status = 1
                continue
            if action is None:
                self.traps.pop(signum, None)
            else:
                self.traps[signum] = action
            self._set_handler(signum)
        return status

    async def _cd(self, argv: list[str], io: IO) -> int:
        args = [a for a in argv[1:] if a not in ("-L", "-P")]
        target = args[0] if args else self.vars.get("HOME", "/")
        if target == "-":
            target = self.vars.get("OLDPWD", self.cwd)
            io.stdout.write(encode(target + "\n"))
        path = normpath(target, self.cwd)
        try:
            info = self.fs.stat(path, follow_symlinks=True)
            if info.kind != "dir":
                raise NotADirectoryError(20, "Not a directory")
        except OSError as exc:
            self.error(io, f"cd: can't cd to {target}: {exc.strerror}")
            return 2
        self.export("OLDPWD", self.cwd)
        self.cwd = path
        self.export("PWD", path)
        return 0

    async def _export(self, argv: list[str], io: IO) -> int:
        names = [a for a in argv[1:] if a != "-p"]
        if not names:
            for name in sorted(self.exported):
                if name in self.vars:
                    io.stdout.write(encode(f"export {name}={_quote(self.vars[name])}\n"))
            return 0
        status = 0
        for item in names:
            name, eq, value = item.partition("=")
            if not _NAME.fullmatch(name):
                self.error(io, f"export: bad variable name '{item}'")
                status = 1
                continue
            self.export(name, value if eq else None)
        return status

    async def _unset(self, argv: list[str], io: IO) -> int:
        for name in argv[1:]:
            if name in ("-v", "-f"):
                continue
            self.unset_var(name)
            self.exported.discard(name)
        return 0

    async def _exit(self, argv: list[str], io: IO) -> int:
        if len(argv) > 1:
            if not re.fullmatch(r"-?\d+", argv[1]):
                self.error(io, f"exit: Illegal number: {argv[1]}")
                raise ShellExit(2)
            raise ShellExit(int(argv[1]) & 0xFF)
        raise ShellExit(self.status)

    async def _set(self, argv: list[str], io: IO) -> int:
        args = argv[1:]
        if not args:
            for name in sorted(self.vars):
                io.stdout.write(encode(f"{name}={_quote(self.vars[name])}\n"))
            return 0
        while args and args[0][:1] in ("-", "+") and args[0] != "--":
            if args[0] in ("-", "+"):
                args = args[1:]
                break
            args = args[1:]  # -e, -x, -u... are accepted but not simulated
        if args and args[0] == "--":
            args = args[1:]
        if args or "--" in argv:
            self.args = list(args)
        return 0

    async def _shift(self, argv: list[str], io: IO) -> int:
        n = int_or_zero(argv[1]) if len(argv) > 1 else 1
        if n > len(self.args):
            self.error(io, "shift: can't shift that many")
            return 1
        self.args = self.args[n:]
        return 0

    async def _read(self, argv: list[str], io: IO) -> int:
        args = argv[1:]
        raw = False
        while args and args[0].startswith("-"):
            flag = args.pop(0)
            if flag == "-r":
                raw = True
            elif flag == "-p" and args:
                io.stderr.write(encode(args.pop(0)))
        names = args or ["REPLY"]
        line = await self.until_signal(io.stdin.readline())
        if line is None:  # a trapped signal came
            return 1
        text = decode(line).rstrip("\n")
        if not raw:
            text = re.sub(r"\\(.)", r"\1", text)
        ifs = self.vars.get("IFS", " \t\n")
        fields = text.strip(ifs).split(None, len(names) - 1) if ifs else [text]
        for n, name in enumerate(names):
            self.set_var(name, fields[n] if n < len(fields) else "")
        return 0 if line.endswith(b"\n") else 1

    async def _exec(self, argv: list[str], io: IO) -> int:
        if len(argv) == 1:
            return 0
        self.drop_handlers()
        raise ShellExit(await self.invoke(argv[1:], [], io, replace=True))

    async def _wait(self, argv: list[str], io: IO) -> int:
        jobs = list(self.sys.jobs)
        if jobs and await self.until_signal(asyncio.wait(jobs)) is None:
            return 128 + self._caught[-1]  # a trapped signal came
        return 0

    async def _jump(self, argv: list[str], io: IO) -> int:
        if not self._loops:
            return 0
        levels = max(1, int_or_zero(argv[1]) if len(argv) > 1 else 1)
        raise LoopJump(argv[0], min(levels, self._loops))

    async def _colon(self, argv: list[str], io: IO) -> int:
        return 0

    async def _eval(self, argv: list[str], io: IO) -> int:
        try:
            tree = parse(" ".join(argv[1:]))
        except ShellSyntaxError as exc:
            self.error(io, f"syntax error: {exc}")
            return 2
        return await self.run_seq(tree, io)

    async def _source(self, argv: list[str], io: IO) -> int:
        if len(argv) < 2:
            self.error(io, f"{argv[0]}: filename argument required")
            return 2
        try:
            text = decode(self.fs.read(normpath(argv[1], self.cwd)))
            tree = parse(text)
        except OSError as exc:
            self.error(io, f"{argv[0]}: can't open '{argv[1]}': {exc.strerror}")
            return 2
        except ShellSyntaxError as exc:
            self.error(io, f"syntax error: {exc}")
            return 2
        return await self.run_seq(tree, io)

    async def _command(self, argv: list[str], io: IO) -> int:
        args = argv[1:]
        if args and args[0] in ("-v", "-V"):
            status = 0
            for name in args[1:]:
                if name in BUILTINS or name in REGULAR_BUILTINS:
                    io.stdout.write(encode(name + "\n"))
                elif path := find_executable(self.fs, name, self.vars.get("PATH"), self.cwd):
                    io.stdout.write(encode(path + "\n"))
                else:
                    status = 127
            return status
        return await self.invoke(args, [], io) if args else 0


BUILTINS = {
    "cd": Builtins._cd,
    "export": Builtins._export,
    "unset": Builtins._unset,
    "exit": Builtins._exit,
    "set": Builtins._set,
    "shift": Builtins._shift,
    "read": Builtins._read,
    "exec": Builtins._exec,
    "wait": Builtins._wait,
    "break": Builtins._jump,
    "continue": Builtins._jump,
    ":": Builtins._colon,
    "eval": Builtins._eval,
    ".": Builtins._source,
    "source": Builtins._source,
    "command": Builtins._command,
    "trap": Builtins._trap,
}


def ignore_signal(signum: int) -> None:
    """The handler of a signal the shell ignores (SIG_IGN)."""


def int_or_zero(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return 0


def _quote(value: str) -> str:
    return "'" + value.replace("'", "'\"'\"'") + "'"

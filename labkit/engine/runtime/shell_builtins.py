"""The shell's own builtins: the commands that change the shell itself.

``cd``, ``export``, ``exit``, ``read``, ``set``... cannot be programs, because a program
cannot change its parent's directory or variables. :class:`Builtins` is mixed into
:class:`~labkit.engine.runtime.shell.Shell`; ``BUILTINS`` maps each name to its method.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from labkit.engine.runtime.commands import REGULAR_BUILTINS
from labkit.engine.runtime.context import System, decode, encode
from labkit.engine.runtime.memory import Held
from labkit.engine.runtime.programs import find_executable
from labkit.engine.runtime.shell_parse import Seq, ShellSyntaxError, parse
from labkit.engine.runtime.streams import InStream, Out
from labkit.engine.runtime.vfs import VFS, normpath

if TYPE_CHECKING:
    from collections.abc import Awaitable

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
    _loops: int

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

    def invoke(self, argv: list[str], assigns: list[tuple[str, str]], io: IO) -> Awaitable[int]:
        raise NotImplementedError

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
        line = await io.stdin.readline()
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
        raise ShellExit(await self.invoke(argv[1:], [], io))

    async def _wait(self, argv: list[str], io: IO) -> int:
        jobs = list(self.sys.jobs)
        if jobs:
            await asyncio.wait(jobs)
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

    async def _trap(self, argv: list[str], io: IO) -> int:
        if len(argv) == 1:
            return 0
        self.error(io, "trap: signal handlers are not simulated by labkit's shell")
        return 1


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


def int_or_zero(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return 0


def _quote(value: str) -> str:
    return "'" + value.replace("'", "'\"'\"'") + "'"

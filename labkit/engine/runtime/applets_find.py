"""``find``: walk the container's filesystem and test or act on each path, as busybox does.

The expression is parsed into async predicates: tests (``-name``, ``-type``...), actions
(``-print``, ``-exec``, ``-delete``) and operators (``!``, ``-a``, ``-o``, parentheses).
Directories are listed in name order (the real one follows the disk's order).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from labkit.engine.runtime.context import Ctx, UsageError
from labkit.engine.runtime.vfs import Stat

Test = Callable[["_Visit"], Awaitable[bool]]

_TYPES = {"f": "file", "d": "dir", "l": "link"}
_WITH_ARG = {"-name", "-iname", "-path", "-ipath", "-type", "-newer", "-maxdepth", "-mindepth"}


@dataclass
class _Visit:
    path: str  # as printed
    real: str  # absolute
    info: Stat
    depth: int
    prune: bool = False


@dataclass
class _Find:
    ctx: Ctx
    argv: list[str]
    pos: int = 0
    acted: bool = False  # the expression has an action: no implicit -print
    depth_first: bool = False
    maxdepth: int = 1 << 30
    mindepth: int = 0
    batches: list[tuple[list[str], list[str]]] = field(default_factory=list)
    status: int = 0

    def peek(self) -> str | None:
        return self.argv[self.pos] if self.pos < len(self.argv) else None

    def take(self) -> str:
        word = self.argv[self.pos]
        self.pos += 1
        return word

    # expr := and ( -o and )* ; and := not ( [-a] not )* ; not := ! not | primary
    def parse_or(self) -> Test:
        left = self.parse_and()
        while self.peek() in ("-o", "-or"):
            self.take()
            right = self.parse_and()
            left = _either(left, right)
        return left

    def parse_and(self) -> Test:
        left = self.parse_not()
        while (word := self.peek()) is not None and word not in ("-o", "-or", ")"):
            if word in ("-a", "-and"):
                self.take()
            right = self.parse_not()
            left = _both(left, right)
        return left

    def parse_not(self) -> Test:
        if self.peek() in ("!", "-not"):
            self.take()
            inner = self.parse_not()

            async def negated(v: _Visit) -> bool:
                return not await inner(v)

            return negated
        return self.primary()

    def primary(self) -> Test:
        word = self.take()
        if word == "(":
            inner = self.parse_or()
            if self.peek() != ")":
                raise UsageError("unrecognized: (")
            self.take()
            return inner
        if word in _WITH_ARG:
            if self.peek() is None:
                raise UsageError(f"{word} requires an argument")
            return self.with_arg(word, self.take())
        if word in ("-print", "-print0"):
            self.acted = True
            end = "\n" if word == "-print" else "\0"

            async def printed(v: _Visit) -> bool:
                self.ctx.out(v.path + end)
                return True

            return printed
        if word == "-exec":
            return self.exec_action()
        if word == "-delete":
            self.acted = True
            self.depth_first = True
            return self.delete
        if word == "-prune":

            async def pruned(v: _Visit) -> bool:
                v.prune = True
                return True

            return pruned
        if word == "-depth":
            self.depth_first = True
            return _always
        if word in ("-true", "-false"):
            value = word == "-true"

            async def constant(v: _Visit) -> bool:
                return value

            return constant
        if word == "-empty":

            async def empty(v: _Visit) -> bool:
                if v.info.kind == "dir":
                    return not self.ctx.fs.listdir(v.real)
                return v.info.kind == "file" and v.info.size == 0

            return empty
        raise UsageError(f"unrecognized: {word}")

    def with_arg(self, word: str, arg: str) -> Test:
        if word in ("-maxdepth", "-mindepth"):
            try:
                number = int(arg)
            except ValueError:
                raise UsageError(f"invalid number '{arg}'") from None
            if word == "-maxdepth":
                self.maxdepth = number
            else:
                self.mindepth = number
            return _always
        if word == "-type":
            if arg not in _TYPES and arg not in "bcps":
                raise UsageError(f"invalid argument '{arg}' to '-type'")
            kind = _TYPES.get(arg, "")

            async def typed(v: _Visit) -> bool:
                return v.info.kind == kind

            return typed
        if word == "-newer":
            when = self.ctx.fs.stat(self.ctx.path(arg), follow_symlinks=True).mtime

            async def newer(v: _Visit) -> bool:
                return v.info.mtime > when

            return newer
        fold = word.startswith("-i")
        pattern = arg.lower() if fold else arg
        whole = word.endswith("path")

        async def named(v: _Visit) -> bool:
            subject = v.path if whole else (v.path.rstrip("/").rsplit("/", 1)[-1] or "/")
            return fnmatch.fnmatchcase(subject.lower() if fold else subject, pattern)

        return named

    def exec_action(self) -> Test:
        self.acted = True
        command: list[str] = []
        while True:
            word = self.peek()
            if word is None:
                raise UsageError("-exec requires an argument")
            self.take()
            if word == ";":
                break
            if word == "+" and command and command[-1] == "{}":
                command.pop()
                self.batches.append((command, []))
                return _gather(self.batches[-1][1])
            command.append(word)
        if not command:
            raise UsageError("-exec requires an argument")

        async def executed(v: _Visit) -> bool:
            argv = [part.replace("{}", v.path) for part in command]
            return await self.run(argv) == 0

        return executed

    async def run(self, argv: list[str]) -> int:
        if self.ctx.run is None:
            raise UsageError("cannot run commands here")
        return await self.ctx.run(self.ctx, argv)

    async def delete(self, v: _Visit) -> bool:
        try:
            if v.info.kind == "dir":
                if v.depth == 0 and v.path in (".", "./"):
                    return True
                self.ctx.fs.rmdir(v.real)
            else:
                self.ctx.fs.remove(v.real)
        except OSError as exc:
            self.ctx.err(f"find: {v.path}: {exc.strerror}\n")
            self.status = 1
            return False
        return True


async def _always(v: _Visit) -> bool:
    return True


def _either(left: Test, right: Test) -> Test:
    async def test(v: _Visit) -> bool:
        return await left(v) or await right(v)

    return test


def _gather(paths: list[str]) -> Test:
    async def gathered(v: _Visit) -> bool:
        paths.append(v.path)
        return True

    return gathered


def _both(left: Test, right: Test) -> Test:
    async def test(v: _Visit) -> bool:
        return await left(v) and await right(v)

    return test


def _child(path: str, name: str) -> str:
    return path + name if path.endswith("/") else f"{path}/{name}"


async def find(ctx: Ctx, argv: list[str]) -> int:
    """find [-HL] [PATH]... [EXPRESSION]: each path under each PATH the expression holds for."""
    args = argv[1:]
    while args and args[0] in ("-H", "-L"):
        args = args[1:]
    starts: list[str] = []
    while args and not (args[0].startswith("-") and len(args[0]) > 1) and args[0] not in "!(":
        starts.append(args.pop(0))
    state = _Find(ctx, args)
    test: Test = _always
    if args:
        test = state.parse_or()
        if state.peek() is not None:
            raise UsageError(f"unrecognized: {state.peek()}")
    if not state.acted:
        inner = test

        async def and_print(v: _Visit) -> bool:
            if await inner(v):
                ctx.out(v.path + "\n")
            return True

        test = and_print
    for start in starts or ["."]:
        real = ctx.path(start)
        try:
            info = ctx.fs.stat(real)
        except OSError as exc:
            ctx.err(f"find: {start}: {exc.strerror}\n")
            state.status = 1
            continue
        await _walk(state, test, _Visit(start, real, info, 0))
    for command, paths in state.batches:
        if paths and await state.run([*command, *paths]) != 0:
            state.status = 1
    return state.status


async def _walk(state: _Find, test: Test, visit: _Visit) -> None:
    ctx = state.ctx
    await ctx.pause()
    wanted = state.mindepth <= visit.depth <= state.maxdepth
    if wanted and not state.depth_first:
        await test(visit)
    if visit.info.kind == "dir" and visit.depth < state.maxdepth and not visit.prune:
        try:
            names = ctx.fs.listdir(visit.real)
        except OSError as exc:
            ctx.err(f"find: {visit.path}: {exc.strerror}\n")
            state.status = 1
            names = []
        for name in names:
            real = _child(visit.real, name)
            try:
                info = ctx.fs.stat(real)
            except OSError:
                continue
            await _walk(state, test, _Visit(_child(visit.path, name), real, info, visit.depth + 1))
    if wanted and state.depth_first:
        await test(visit)


APPLETS = {"find": find}

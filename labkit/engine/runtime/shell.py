"""The mini shell: runs parsed command lines against a container's simulated system.

:class:`Shell` is one ``sh`` process: its variables, working directory and positional
arguments. It runs ``sh -c`` text, scripts, and (bare ``sh``) commands read line by line from
stdin, showing a ``/ # `` prompt when its stdin and stdout are the container's terminal.
Pipeline stages run concurrently, joined by unbounded pipes, so output streams as it happens.

Commands are found the way ash finds them: the shell's own builtins (``cd``, ``export``,
``exit``...), then ash's builtin applets (``echo``, ``printf``, ``test``...), then a ``$PATH``
search in the container's filesystem, where ``/bin/ls`` is a symlink to ``/bin/busybox``.
:func:`exec_program` runs whatever file that finds.
"""

from __future__ import annotations

import asyncio
import fnmatch
import logging
import posixpath
from collections.abc import Coroutine, Mapping
from typing import Any

from labkit.engine.runtime.commands import (
    COMMANDS,
    REGULAR_BUILTINS,
    busybox_help,
    call_applet,
    hello,
)
from labkit.engine.runtime.context import DEFAULT_PATH, Applet, Ctx, System, decode, encode
from labkit.engine.runtime.memory import OutOfMemory
from labkit.engine.runtime.programs import find_executable, program_kind
from labkit.engine.runtime.shell_builtins import (
    BUILTINS,
    IO,
    Builtins,
    LoopJump,
    ShellExit,
    int_or_zero,
)
from labkit.engine.runtime.shell_expand import (
    ExpansionError,
    expand_word,
    expand_word_pattern,
    expand_words,
)
from labkit.engine.runtime.shell_parse import (
    AndOr,
    Case,
    For,
    Group,
    If,
    Incomplete,
    Loop,
    Pipeline,
    Redir,
    Seq,
    ShellSyntaxError,
    Simple,
    parse,
)
from labkit.engine.runtime.streams import (
    SIGPIPE_EXIT,
    CallbackOut,
    CaptureOut,
    FileOut,
    InStream,
    NullOut,
    Out,
    PipeClosed,
    PipeOut,
    drain,
)
from labkit.engine.runtime.vfs import normpath

log = logging.getLogger("labkit.engine.runtime")


class _RedirError(Exception):
    pass


def job_ended(task: asyncio.Future) -> None:
    """A background job's end: a failure of the simulation itself goes to the engine's log
    (an OOM kill has already ended the whole process, and said so)."""
    if task.cancelled():
        return
    exc = task.exception()
    if exc is not None and not isinstance(exc, OutOfMemory):
        log.error("a background job of a simulated process failed", exc_info=exc)


class Shell(Builtins):
    """One shell process: variables, directory, arguments; runs command text."""

    def __init__(
        self,
        sys: System,
        env: Mapping[str, str],
        cwd: str = "/",
        *,
        arg0: str = "sh",
        args: list[str] | tuple[str, ...] = (),
        pid: int = 1,
    ) -> None:
        self.sys = sys
        self.vars: dict[str, str] = dict(env)
        self.exported: set[str] = set(env)
        self.cwd = cwd
        self.arg0 = arg0
        self.args = list(args)
        self.pid = pid
        self.status = 0
        self.interactive = False
        self.in_background = False  # a `cmd &` job: a terminal's Ctrl-C does not reach it
        self.last_bg: str | None = None
        self._io: IO | None = None
        self._sub_status: int | None = None
        self._fg: asyncio.Future | None = None
        self._loops = 0
        self._prompt_out: Out | None = None
        self._owned = set()
        self._var_memory = sys.memory.hold() if sys.memory is not None else None
        self.traps = {}
        self.main = pid == 1  # the process's own shell, not a child sh (see Builtins)
        self.catches_int = False
        self._caught = []
        self._in_trap = False
        self._interruptible = None
        self._trap_view = None
        self.export("PATH", self.vars.get("PATH", DEFAULT_PATH))
        self.export("PWD", cwd)
        self.export("SHLVL", str(int_or_zero(self.vars.get("SHLVL", "0")) + 1))

    # ----- variables (what expansion asks for) -------------------------------------------

    @property
    def memory(self):  # what expansion checks big strings against
        return self.sys.memory

    async def checkpoint(self) -> None:
        """A scheduling point (long loops and expansions): see System.checkpoint."""
        await self.sys.checkpoint()

    def get_var(self, name: str) -> str | None:
        if name == "?":
            return str(self.status)
        if name == "$":
            return str(self.pid)
        if name == "#":
            return str(len(self.args))
        if name == "0":
            return self.arg0
        if name.isdigit():
            n = int(name)
            return self.args[n - 1] if n <= len(self.args) else None
        if name in ("@", "*"):
            return " ".join(self.args)
        if name == "!":
            return self.last_bg
        if name == "-":
            return "i" if self.interactive else ""
        return self.vars.get(name)

    def positional(self) -> list[str]:
        return list(self.args)

    def env(self) -> dict[str, str]:
        """The exported variables: the environment a command started from here gets."""
        return {k: v for k, v in self.vars.items() if k in self.exported}

    async def command_output(self, src: str) -> str:
        """``$(src)``: run it in a subshell and return what it printed."""
        io = self._io or IO(InStream(closed=True), NullOut(), NullOut())
        capture = CaptureOut(self.sys.memory)
        sub = self.subshell()
        sub._trap_view = self.traps  # ash lists the shell's own traps in $(trap)
        self._sub_status = await sub.run_text(src, IO(io.stdin, capture, io.stderr))
        if self.sys.memory is not None:
            self.sys.memory.check(len(capture.data))  # the text made from it
        return decode(capture.data)

    def subshell(self) -> Shell:
        """A copy that can change its variables and directory without touching this one."""
        sub = Shell.__new__(Shell)
        sub.__dict__.update(self.__dict__)
        sub.vars = dict(self.vars)
        sub.exported = set(self.exported)
        sub.args = list(self.args)
        sub.interactive = False
        sub._fg = None
        sub._loops = 0
        sub._owned = set()
        sub.traps = {n: action for n, action in self.traps.items() if not action}  # ignored stay
        sub.main = False
        sub._caught = []
        sub._in_trap = False
        sub._interruptible = None
        sub._trap_view = None
        sub._var_memory = self.sys.memory.hold() if self.sys.memory is not None else None
        return sub

    def ctx(self, io: IO, env: dict[str, str] | None = None) -> Ctx:
        """The context a command run from this shell sees."""
        return Ctx(
            self.sys,
            self.env() if env is None else env,
            self.cwd,
            io.stdin,
            io.stdout,
            io.stderr,
            run=run_argv,
            pid=self.pid,
        )

    # ----- entry points ------------------------------------------------------------------

    async def run_text(self, src: str, io: IO) -> int:
        """Run a whole script or ``sh -c`` string; returns its exit status."""
        try:
            tree = parse(src)
        except ShellSyntaxError as exc:
            self.error(io, f"syntax error: {exc}")
            return 2
        try:
            code = await self.run_seq(tree, io)
        except ShellExit as exc:
            code = exc.code
        return await self.exit_trap(code, io)

    async def run_stdin(self, io: IO, prompt: bool) -> int:
        """Read commands from stdin line by line until end-of-file (a bare ``sh``)."""
        return await self.exit_trap(await self._read_commands(io, prompt), io)

    async def _read_commands(self, io: IO, prompt: bool) -> int:
        self.interactive = prompt
        self.take_signals()
        outer = self.sys.on_interrupt  # a shell started from an interactive shell hands it back
        if prompt:
            self.sys.on_interrupt = self._interrupt
            self._prompt_out = io.stdout
        pending = ""
        try:
            while True:
                if prompt:
                    io.stdout.write(encode(self.prompt() if not pending else "> "))
                line = await io.stdin.readline()
                if not line:
                    if pending:
                        self.error(io, "syntax error: unexpected end of file")
                        self.status = 2
                    return self.status
                pending += decode(line)
                try:
                    tree = parse(pending)
                except Incomplete:
                    continue
                except ShellSyntaxError as exc:
                    self.error(io, f"syntax error: {exc}")
                    self.status, pending = 2, ""
                    continue
                pending = ""
                if prompt:
                    await self._foreground(tree, io)
                else:
                    await self.run_seq(tree, io)
        except ShellExit as exc:
            return exc.code
        finally:
            if prompt:
                self.sys.on_interrupt = outer

    def prompt(self) -> str:
        """``\\w \\$ ``: the directory (``~`` for $HOME) and ``#`` for root, ``$`` otherwise."""
        home = self.vars.get("HOME", "")
        where = self.cwd
        if home and home != "/" and (where == home or where.startswith(home + "/")):
            where = "~" + where[len(home) :]
        mark = "#" if self.sys.user.split(":")[0] in ("root", "0") else "$"
        ps1 = self.vars.get("PS1")
        if ps1 is not None:
            return ps1.replace("\\w", where).replace("\\$", mark).replace("\\h", self.sys.hostname)
        return f"{where} {mark} "

    async def _foreground(self, tree: Seq, io: IO) -> None:
        """Run one interactive line as a task that a terminal Ctrl-C can cancel."""
        task = asyncio.ensure_future(self.run_seq(tree, io))
        self._fg = task
        try:
            await asyncio.wait({task})
        except asyncio.CancelledError:
            task.cancel()
            raise
        finally:
            self._fg = None
        if task.cancelled():
            self.status = 130
        else:
            task.result()

    def _interrupt(self) -> None:
        """Ctrl-C on the terminal: stop the running command, or give a fresh prompt."""
        if self._fg is not None and not self._fg.done():
            self._fg.cancel()
        elif self._prompt_out is not None:
            self._prompt_out.write(encode(self.prompt()))

    # ----- running the tree --------------------------------------------------------------

    async def run_seq(self, seq: Seq, io: IO) -> int:
        for andor, background in seq.items:
            if background:
                self._background(andor, io)
                self.status = 0
            else:
                self.status = await self.run_andor(andor, io)
        return self.status

    async def run_andor(self, node: AndOr, io: IO) -> int:
        status = await self.run_pipeline(node.first, io)
        for op, pipeline in node.rest:
            if (op == "&&") == (status == 0):
                status = await self.run_pipeline(pipeline, io)
        return status

    async def run_pipeline(self, node: Pipeline, io: IO) -> int:
        if len(node.cmds) == 1:
            status = await self.run_command(node.cmds[0], io)
        else:
            status = await self._pipe(node.cmds, io)
        if node.negate:
            status = int(status == 0)
        self.status = status
        if self._caught:
            await self.run_traps(io)
        return status

    async def _pipe(self, cmds: list, io: IO) -> int:
        """Run each stage in a subshell, all at once, stdout of one into stdin of the next.

        A stage whose reader has finished ends with SIGPIPE's status (141), and a stage
        that fails (an OOM kill) takes the others down with it.
        """
        tasks = []
        stdin = io.stdin
        for n, cmd in enumerate(cmds):
            last = n == len(cmds) - 1
            pipe = None if last else self.sys.stream()
            stdout = io.stdout if pipe is None else PipeOut(pipe)
            stage_io = IO(stdin, stdout, io.stderr)
            reads_pipe = stdin if n else None
            tasks.append(
                asyncio.ensure_future(
                    self._stage(cmd, stage_io, None if last else stdout, reads_pipe)
                )
            )
            if pipe is not None:
                stdin = pipe
        try:
            results = await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        return results[-1]

    async def _stage(
        self, cmd, io: IO, closing: Out | None, reads_pipe: InStream | None = None
    ) -> int:
        sub = self.subshell()
        try:
            return await sub.run_command(cmd, io)
        except ShellExit as exc:
            return exc.code
        except PipeClosed:
            return SIGPIPE_EXIT
        finally:
            if closing is not None:
                closing.close()
            if reads_pipe is not None:  # nobody reads this pipe any more: its writer ends
                reads_pipe.close_reader()

    def _background(self, andor: AndOr, io: IO) -> None:
        """``cmd &``: run in a subshell task with stdin at end-of-file; ``$!`` is its pid."""
        sub = self.subshell()
        sub.in_background = True
        child = self.sys.spawn(["sh"])
        self.last_bg = str(child.pid)
        quiet = IO(InStream(closed=True), io.stdout, io.stderr)

        async def job() -> int:
            try:
                return await sub.run_andor(andor, quiet)
            except ShellExit as exc:
                return exc.code
            except PipeClosed:
                return SIGPIPE_EXIT
            finally:
                self.sys.reap(child)

        task = asyncio.ensure_future(job())
        self.sys.jobs.add(task)
        task.add_done_callback(self.sys.jobs.discard)
        task.add_done_callback(job_ended)

    async def run_command(self, cmd, io: IO) -> int:
        self._io = io
        try:
            if isinstance(cmd, Simple):
                return await self._simple(cmd, io)
            try:
                io2 = await self._redirect(cmd.redirs, io)
            except _RedirError as exc:
                self.error(io, str(exc))
                return 1
            self._io = io2
            return await self._compound(cmd, io2)
        except ExpansionError as exc:
            self.error(io, str(exc))
            if self.interactive:
                return 2
            raise ShellExit(2) from None

    async def _compound(self, cmd, io: IO) -> int:
        if isinstance(cmd, Group):
            if not cmd.subshell:
                return await self.run_seq(cmd.body, io)
            sub = self.subshell()
            try:
                code = await sub.run_seq(cmd.body, io)
            except ShellExit as exc:
                code = exc.code
            return await sub.exit_trap(code, io)
        if isinstance(cmd, If):
            for cond, body in cmd.arms:
                if await self.run_seq(cond, io) == 0:
                    return await self.run_seq(body, io)
            return await self.run_seq(cmd.orelse, io) if cmd.orelse else 0
        if isinstance(cmd, Loop):
            return await self._loop(cmd, io)
        if isinstance(cmd, For):
            values = await expand_words(cmd.words, self) if cmd.words is not None else self.args
            return await self._for(cmd, list(values), io)
        if isinstance(cmd, Case):
            return await self._case(cmd, io)
        raise TypeError(f"not a command: {cmd!r}")

    async def _loop(self, cmd: Loop, io: IO) -> int:
        status = 0
        self._loops += 1
        try:
            while True:
                await self._loop_step(io)
                if (await self.run_seq(cmd.cond, io) == 0) == cmd.until:
                    return status
                try:
                    status = await self.run_seq(cmd.body, io)
                except LoopJump as jump:
                    if jump.levels > 1:
                        jump.levels -= 1
                        raise
                    if jump.kind == "break":
                        return 0
        finally:
            self._loops -= 1

    async def _for(self, cmd: For, values: list[str], io: IO) -> int:
        status = 0
        self._loops += 1
        try:
            for value in values:
                await self._loop_step(io)
                self.set_var(cmd.var, value)
                try:
                    status = await self.run_seq(cmd.body, io)
                except LoopJump as jump:
                    if jump.levels > 1:
                        jump.levels -= 1
                        raise
                    if jump.kind == "break":
                        return 0
            return status
        finally:
            self._loops -= 1

    async def _loop_step(self, io: IO) -> None:
        """Each turn of a loop: a busy loop must not starve the engine, must stop while the
        container is paused, and must wait while the pipe or client it writes to is full."""
        await self.sys.checkpoint()
        await drain(io.stdout)
        await drain(io.stderr)

    async def _case(self, cmd: Case, io: IO) -> int:
        subject = await expand_word(cmd.word, self)
        for patterns, body in cmd.arms:
            for pattern in patterns:
                if fnmatch.fnmatchcase(subject, await expand_word_pattern(pattern, self)):
                    return await self.run_seq(body, io)
        return 0

    async def _simple(self, cmd: Simple, io: IO) -> int:
        self._sub_status = None
        argv = await expand_words(cmd.words, self)
        assigns = [(name, await expand_word(word, self)) for name, word in cmd.assigns]
        try:
            io2 = await self._redirect(cmd.redirs, io)
        except _RedirError as exc:
            self.error(io, str(exc))
            return 1
        if not argv:
            for name, value in assigns:
                self.set_var(name, value)
            return self._sub_status or 0
        return await self.invoke(argv, assigns, io2)

    async def invoke(
        self, argv: list[str], assigns: list[tuple[str, str]], io: IO, replace: bool = False
    ) -> int:
        """Run one command: a shell builtin, an ash builtin applet, or a program on $PATH
        (``replace``: ``exec``'s, in this shell's process rather than a child of its own)."""
        name = argv[0]
        builtin = BUILTINS.get(name)
        if builtin is not None:
            for var, value in assigns:
                self.set_var(var, value)
            return await builtin(self, argv, io)
        env = self.env()
        env.update(assigns)
        ctx = self.ctx(io, env)
        if name in REGULAR_BUILTINS:
            return await call_applet(ctx, argv, COMMANDS[name])
        path = find_executable(self.fs, name, env.get("PATH"), self.cwd, require_exec=False)
        if path is None:
            self.error(io, f"{name}: not found")
            return 127
        if self.sys.tty and not self.in_background and not replace:
            return await self._terminal_child(exec_program(ctx, argv, path))
        return await exec_program(ctx, argv, path, spawn=not replace)

    async def _terminal_child(self, program: Coroutine[Any, Any, int]) -> int:
        """A program in the terminal's foreground: a Ctrl-C typed there ends it (130),
        whatever the shell that runs it does with its own SIGINT."""
        task = asyncio.ensure_future(program)
        self.sys.foreground[task] = 0
        try:
            await asyncio.wait({task})
        except asyncio.CancelledError:
            task.cancel()
            raise
        finally:
            signum = self.sys.foreground.pop(task, 0)
        return 128 + signum if task.cancelled() else task.result()

    # ----- redirections ------------------------------------------------------------------

    async def _redirect(self, redirs: list[Redir], io: IO) -> IO:
        if not redirs:
            return io
        fds: dict[int, object] = {0: io.stdin, 1: io.stdout, 2: io.stderr}
        for r in redirs:
            if r.op in ("<<", "<<-"):
                body = r.target[0].text if r.heredoc_quoted else await expand_word(r.target, self)  # type: ignore[index, union-attr, arg-type]
                fds[r.fd] = self.sys.stream(encode(body), closed=True)
                continue
            target = await expand_word(r.target or [], self)
            if r.op in (">&", "<&"):
                if target == "-":
                    fds[r.fd] = NullOut() if r.op == ">&" else InStream(closed=True)
                    continue
                if not target.isdigit() or int(target) not in fds:
                    raise _RedirError(f"{target}: bad file descriptor")
                fds[r.fd] = fds[int(target)]
                continue
            special = {"/dev/stdin": 0, "/dev/stdout": 1, "/dev/stderr": 2}.get(target)
            if special is not None:
                fds[r.fd] = fds[special]
            elif r.op in ("<", "<>"):
                fds[r.fd] = self._open_input(target)
            else:
                out = self._open_output(target, append=r.op == ">>")
                if r.op == "&>":
                    fds[1] = fds[2] = out
                else:
                    fds[r.fd] = out
        stdin, stdout, stderr = fds[0], fds[1], fds[2]
        if (
            not isinstance(stdin, InStream)
            or isinstance(stdout, InStream)
            or isinstance(stderr, InStream)
        ):
            raise _RedirError("bad file descriptor")
        return IO(stdin, stdout, stderr)  # type: ignore[arg-type]

    def _open_input(self, target: str) -> InStream:
        try:
            return InStream(self.fs.read(normpath(target, self.cwd)), closed=True)
        except FileNotFoundError:
            raise _RedirError(f"can't open {target}: no such file") from None
        except OSError as exc:
            raise _RedirError(f"can't open {target}: {exc.strerror}") from None

    def _open_output(self, target: str, append: bool) -> Out:
        try:
            return FileOut(self.fs, normpath(target, self.cwd), append)
        except (FileNotFoundError, NotADirectoryError):
            raise _RedirError(f"can't create {target}: nonexistent directory") from None
        except OSError as exc:
            raise _RedirError(f"can't create {target}: {exc.strerror}") from None


# ----- programs ---------------------------------------------------------------------------


async def exec_program(ctx: Ctx, argv: list[str], path: str, spawn: bool = True) -> int:
    """Run the file at ``path`` with ``argv``: busybox applet, hello-world, or shell script.

    ``spawn`` lists it as a process of its own (for ``ps``/``docker top``) while it runs; the
    container's main process is already listed as pid 1.
    """
    name = argv[0]
    try:
        info = ctx.fs.stat(path, follow_symlinks=True)
    except OSError:
        ctx.err(f"sh: {name}: not found\n")
        return 127
    if info.kind != "file" or not info.mode & 0o111:
        ctx.err(f"sh: {name}: Permission denied\n")
        return 126
    kind = program_kind(ctx.fs, path)
    child = ctx.sys.spawn(argv) if spawn else None
    if child is not None:
        ctx = ctx.with_io(pid=child.pid)
    try:
        if kind == "busybox":
            return await run_busybox(ctx, argv)
        if kind == "hello":
            return await call_applet(ctx, argv, hello)
        return await run_script(ctx, argv, path)
    finally:
        if child is not None:
            ctx.sys.reap(child)


async def run_argv(ctx: Ctx, argv: list[str]) -> int:
    """Find ``argv[0]`` on the context's PATH and run it (``env CMD`` uses this)."""
    path = find_executable(ctx.fs, argv[0], ctx.env.get("PATH"), ctx.cwd)
    if path is None:
        ctx.err(f"{argv[0]}: not found\n")
        return 127
    return await exec_program(ctx, argv, path)


async def run_busybox(ctx: Ctx, argv: list[str]) -> int:
    """The multi-call binary: the applet is the name it was called by (or its first argument)."""
    applet = posixpath.basename(argv[0])
    if applet == "busybox":
        if len(argv) < 2:
            return await busybox_help(ctx, list(APPLETS))
        argv = argv[1:]
        applet = posixpath.basename(argv[0])
    fn = APPLETS.get(applet)
    if fn is None:
        ctx.err(f"{applet}: applet not found\n")
        return 127
    return await call_applet(ctx, argv, fn)


async def run_script(ctx: Ctx, argv: list[str], path: str) -> int:
    """An executable text file: its ``#!`` interpreter if that is a program here, else sh."""
    text = decode(ctx.fs.read(path))
    if text.startswith("#!"):
        line = text[2:].split("\n", 1)[0].split()
        interp = line[0] if line else ""
        if posixpath.basename(interp) not in ("sh", "ash", "bash", ""):
            found = find_executable(ctx.fs, interp, None, ctx.cwd)
            if found is None:
                ctx.err(f"sh: {argv[0]}: not found\n")
                return 127
            return await exec_program(ctx, [interp, *line[1:2], argv[0], *argv[1:]], found)
    shell = Shell(ctx.sys, ctx.env, ctx.cwd, arg0=argv[0], args=argv[1:], pid=ctx.pid)
    shell.take_signals(catch_int=True)
    return await shell.run_text(text, IO(ctx.stdin, ctx.stdout, ctx.stderr))


async def sh_applet(ctx: Ctx, argv: list[str]) -> int:
    """sh [-c COMMAND [ARG0 [ARG]...]] | [SCRIPT [ARG]...] | (read commands from stdin)."""
    args = argv[1:]
    flags: set[str] = set()
    while args and args[0].startswith("-") and args[0] != "-":
        opt = args.pop(0)
        if opt == "--":
            break
        for ch in opt[1:]:
            if ch not in "ceilsxuv":
                ctx.err(f"sh: -{ch}: invalid option\n")
                return 2
            flags.add(ch)
    shell = Shell(ctx.sys, ctx.env, ctx.cwd, arg0=argv[0], pid=ctx.pid)
    io = IO(ctx.stdin, ctx.stdout, ctx.stderr)
    if "c" in flags:
        if not args:
            ctx.err("sh: -c requires an argument\n")
            return 2
        shell.arg0 = args[1] if len(args) > 1 else argv[0]
        shell.args = args[2:]
        shell.take_signals(catch_int=True)
        return await shell.run_text(args[0], io)
    if args and "s" not in flags:
        try:
            text = decode(ctx.fs.read(ctx.path(args[0])))
        except OSError as exc:
            ctx.err(f"sh: can't open '{args[0]}': {exc.strerror}\n")
            return 2
        shell.arg0, shell.args = args[0], args[1:]
        shell.take_signals(catch_int=True)
        return await shell.run_text(text, io)
    shell.args = args
    on_terminal = ctx.sys.tty and ctx.stdin is ctx.sys.stdin and isinstance(ctx.stdout, CallbackOut)
    return await shell.run_stdin(io, prompt=on_terminal or "i" in flags)


async def env_applet(ctx: Ctx, argv: list[str]) -> int:
    """env [-i0] [-u NAME]... [-] [NAME=VALUE]... [COMMAND [ARG]...]: print or change the
    environment."""
    args = argv[1:]
    env = dict(ctx.env)
    end = "\n"
    while args and args[0].startswith("-") and args[0] != "--":
        opt, args = args[0], args[1:]
        if opt == "-":
            env = {}
            continue
        for n, ch in enumerate(opt[1:], 1):
            if ch == "i":
                env = {}
            elif ch == "0":
                end = "\0"
            elif ch == "u":
                name = opt[n + 1 :] or (args.pop(0) if args else "")
                if not name:
                    ctx.err("env: option requires an argument -- 'u'\n")
                    return 1
                env.pop(name, None)
                break
            else:
                ctx.err(f"env: invalid option -- '{ch}'\n")
                return 1
    if args[:1] == ["--"]:
        args = args[1:]
    while args and "=" in args[0] and not args[0].startswith("="):
        name, _, value = args.pop(0).partition("=")
        env[name] = value
    if not args:
        ctx.out("".join(f"{k}={v}{end}" for k, v in env.items()))
        return 0
    sub = ctx.with_io(env=env)
    path = find_executable(ctx.fs, args[0], env.get("PATH"), ctx.cwd)
    if path is None:
        ctx.err(f"env: can't execute '{args[0]}': No such file or directory\n")
        return 127
    return await exec_program(sub, args, path)


APPLETS: dict[str, Applet] = {**COMMANDS, "sh": sh_applet, "ash": sh_applet, "env": env_applet}

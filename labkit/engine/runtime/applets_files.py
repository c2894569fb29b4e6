"""Applets that look at or change files: ls, touch, mkdir, rm, rmdir, cp, mv, ln, chmod, pwd.

They work on the container's :class:`~labkit.engine.runtime.vfs.VFS`, so inside a bind mount
they touch real host files (with the engine's rights, never outside the mounted folder), and
everywhere else only the container's own layer. ``ls -l`` prints modes, owners (names from
the container's own /etc/passwd, as the real ``ls`` does) and dates the way busybox does.
"""

from __future__ import annotations

import posixpath
import re
import stat as st
import time

from labkit.engine.runtime.context import Ctx, UsageError, parse_opts
from labkit.engine.runtime.streams import CallbackOut
from labkit.engine.runtime.vfs import Stat

_HALF_YEAR = 182 * 24 * 3600


def _names_by_id(ctx: Ctx, path: str) -> dict[int, str]:
    """uid (or gid) -> name from the container's /etc/passwd (or /etc/group)."""
    try:
        text = ctx.fs.read(path).decode("utf-8", "replace")
    except OSError:
        return {}
    names: dict[int, str] = {}
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) > 2 and fields[2].isdigit():
            names.setdefault(int(fields[2]), fields[0])
    return names


def mode_string(info: Stat) -> str:
    """``drwxr-xr-x``-style text for a Stat (sticky and setuid bits included)."""
    kind = {"dir": "d", "link": "l"}.get(info.kind, "-")
    mode = info.mode | {"dir": st.S_IFDIR, "link": st.S_IFLNK}.get(info.kind, st.S_IFREG)
    return kind + st.filemode(mode)[1:]


def _date(mtime: float, now: float) -> str:
    t = time.gmtime(mtime)
    month = time.strftime("%b", t)
    if abs(now - mtime) < _HALF_YEAR:
        return f"{month} {t.tm_mday:2d} {t.tm_hour:02d}:{t.tm_min:02d}"
    return f"{month} {t.tm_mday:2d}  {t.tm_year}"


def _human(size: int) -> str:
    value = float(size)
    for unit in ("", "K", "M", "G", "T"):
        if value < 1024 or unit == "T":
            return f"{value:.0f}{unit}" if unit == "" or value >= 10 else f"{value:.1f}{unit}"
        value /= 1024
    return str(size)


class _Lister:
    """One ``ls`` run: its options and the name tables it needs."""

    def __init__(self, ctx: Ctx, opts: dict) -> None:
        self.ctx = ctx
        self.opts = opts
        self.long = bool(opts.get("l") or opts.get("n"))
        self.users = {} if opts.get("n") else _names_by_id(ctx, "/etc/passwd")
        self.groups = {} if opts.get("n") else _names_by_id(ctx, "/etc/group")
        self.now = ctx.sys.clock()

    def entries(self, path: str) -> list[tuple[str, Stat]]:
        names = self.ctx.fs.listdir(path)
        if not (self.opts.get("a") or self.opts.get("A")):
            names = [n for n in names if not n.startswith(".")]
        rows = []
        for name in names:
            try:
                rows.append((name, self.ctx.fs.stat(posixpath.join(path, name))))
            except OSError:
                continue
        if self.opts.get("a"):
            rows = [(".", self.ctx.fs.stat(path, True)), ("..", self._parent(path)), *rows]
        return self.sort(rows)

    def _parent(self, path: str) -> Stat:
        return self.ctx.fs.stat(posixpath.dirname(path.rstrip("/")) or "/", True)

    def sort(self, rows: list[tuple[str, Stat]]) -> list[tuple[str, Stat]]:
        if self.opts.get("t"):
            rows.sort(key=lambda r: -r[1].mtime)
        elif self.opts.get("S"):
            rows.sort(key=lambda r: -r[1].size)
        if self.opts.get("r"):
            rows.reverse()
        return rows

    def decorate(self, name: str, info: Stat) -> str:
        if self.opts.get("F"):
            if info.kind == "dir":
                return name + "/"
            if info.kind == "link":
                return name + "@"
            if info.mode & 0o111:
                return name + "*"
        if self.opts.get("p") and info.kind == "dir":
            return name + "/"
        return name

    def long_line(self, name: str, info: Stat) -> str:
        user = self.users.get(info.uid, str(info.uid))
        group = self.groups.get(info.gid, str(info.gid))
        size = _human(info.size) if self.opts.get("h") else str(info.size)
        line = (
            f"{mode_string(info)} {info.nlink:4d} {user:<8} {group:<8} {size:>9} "
            f"{_date(info.mtime, self.now)} {self.decorate(name, info)}"
        )
        if info.kind == "link":
            line += f" -> {info.target}"
        return line + "\n"

    def block(self, rows: list[tuple[str, Stat]], total: bool) -> str:
        """The listing of some entries: long lines, one per line, or columns on a terminal."""
        if self.long:
            head = ""
            if total:
                blocks = sum(_blocks(info) for _, info in rows)
                head = f"total {blocks}\n"
            return head + "".join(self.long_line(n, i) for n, i in rows)
        names = [self.decorate(n, i) for n, i in rows]
        if not names:
            return ""
        if self.opts.get("1") or not self._to_terminal():
            return "".join(n + "\n" for n in names)
        return _columns(names, self.ctx.sys.columns)

    def _to_terminal(self) -> bool:
        return self.ctx.sys.tty and isinstance(self.ctx.stdout, CallbackOut)


def _blocks(info: Stat) -> int:
    if info.kind == "link":
        return 0
    return max(4, (info.size + 4095) // 4096 * 4) if info.kind == "dir" or info.size else 0


def _columns(names: list[str], width: int) -> str:
    """Names in columns filled top to bottom, like ls on a terminal."""
    col = max(len(n) for n in names) + 2
    ncols = max(1, width // col)
    nrows = -(-len(names) // ncols)
    lines = []
    for r in range(nrows):
        cells = [names[c * nrows + r] for c in range(ncols) if c * nrows + r < len(names)]
        lines.append("".join(cell.ljust(col) for cell in cells[:-1]) + cells[-1])
    return "\n".join(lines) + "\n"


async def ls(ctx: Ctx, argv: list[str]) -> int:
    """ls [-1aAldFprRtShn] [FILE]...: list directory contents."""
    opts, operands = parse_opts(argv, "1aAldFprRtShnLHCx", "w")
    lister = _Lister(ctx, opts)
    status = 0
    files: list[tuple[str, Stat]] = []
    dirs: list[str] = []
    for name in operands or ["."]:
        path = ctx.path(name)
        try:
            info = ctx.fs.stat(path)
            followed = ctx.fs.stat(path, True) if info.kind == "link" else info
        except OSError as exc:
            ctx.err(f"ls: {name}: {exc.strerror}\n")
            status = 1
            continue
        if (
            followed.kind == "dir"
            and not opts.get("d")
            and not (lister.long and info.kind == "link")
        ):
            dirs.append(name)
        else:
            files.append((name, info))
    files.sort(key=lambda row: row[0])
    dirs.sort()
    text = lister.block(lister.sort(files), total=False)
    ctx.out(text)
    printed = bool(text)
    headers = len(operands) > 1 or bool(opts.get("R"))
    for name in dirs:
        status = max(status, await _list_dir(ctx, lister, name, headers, printed))
        printed = True
    return status


async def _list_dir(ctx: Ctx, lister: _Lister, name: str, headers: bool, after: bool) -> int:
    path = ctx.path(name)
    try:
        rows = lister.entries(path)
    except OSError as exc:
        ctx.err(f"ls: {name}: {exc.strerror}\n")
        return 1
    text = (("\n" if after else "") + f"{name}:\n") if headers else ""
    ctx.out(text + lister.block(rows, total=True))
    status = 0
    if lister.opts.get("R"):
        for child, info in rows:
            if info.kind == "dir" and child not in (".", ".."):
                status = max(
                    status, await _list_dir(ctx, lister, posixpath.join(name, child), True, True)
                )
                await ctx.pause()
    return status


async def pwd(ctx: Ctx, argv: list[str]) -> int:
    ctx.out(ctx.cwd + "\n")
    return 0


async def touch(ctx: Ctx, argv: list[str]) -> int:
    """touch [-c] FILE...: create empty files or update their times."""
    opts, names = parse_opts(argv, "cam", "dtr")
    if not names:
        raise UsageError("usage: touch [-c] FILE...")
    status = 0
    for name in names:
        path = ctx.path(name)
        if opts.get("c") and not ctx.fs.exists(path):
            continue
        try:
            ctx.fs.touch(path)
        except OSError as exc:
            ctx.err(f"touch: {name}: {exc.strerror}\n")
            status = 1
    return status


async def mkdir(ctx: Ctx, argv: list[str]) -> int:
    """mkdir [-p] [-m MODE] DIR...: make directories."""
    opts, names = parse_opts(argv, "pv", "m")
    if not names:
        raise UsageError("usage: mkdir [-p] [-m MODE] DIR...")
    status = 0
    for name in names:
        path = ctx.path(name)
        try:
            ctx.fs.mkdir(path, parents=bool(opts.get("p")))
            if "m" in opts:
                ctx.fs.chmod(path, parse_mode(str(opts["m"]), 0o755))
        except OSError as exc:
            ctx.err(f"mkdir: can't create directory '{name}': {exc.strerror}\n")
            status = 1
    return status


async def rm(ctx: Ctx, argv: list[str]) -> int:
    """rm [-rf] FILE...: remove files (and directories with -r)."""
    opts, names = parse_opts(argv, "rRfiv")
    recursive = bool(opts.get("r") or opts.get("R"))
    if not names and not opts.get("f"):
        raise UsageError("usage: rm [-rf] FILE...")
    status = 0
    for name in names:
        path = ctx.path(name)
        try:
            if not recursive and ctx.fs.stat(path).kind == "dir":
                ctx.err(f"rm: '{name}' is a directory\n")
                status = 1
                continue
            ctx.fs.remove(path, recursive=recursive)
        except FileNotFoundError as exc:
            if not opts.get("f"):
                ctx.err(f"rm: can't remove '{name}': {exc.strerror}\n")
                status = 1
        except OSError as exc:
            ctx.err(f"rm: can't remove '{name}': {exc.strerror}\n")
            status = 1
        await ctx.pause()
    return status


async def rmdir(ctx: Ctx, argv: list[str]) -> int:
    """rmdir DIR...: remove empty directories."""
    _, names = parse_opts(argv, "p")
    if not names:
        raise UsageError("usage: rmdir DIR...")
    status = 0
    for name in names:
        try:
            ctx.fs.rmdir(ctx.path(name))
        except OSError as exc:
            ctx.err(f"rmdir: '{name}': {exc.strerror}\n")
            status = 1
    return status


def _copy(ctx: Ctx, src: str, dst: str) -> None:
    """Copy a file, link or (recursively) a directory inside the container."""
    info = ctx.fs.stat(src)
    if info.kind == "link":
        ctx.fs.symlink(info.target or "", dst)
    elif info.kind == "dir":
        if not ctx.fs.is_dir(dst):
            ctx.fs.mkdir(dst)
        for name in ctx.fs.listdir(src):
            _copy(ctx, posixpath.join(src, name), posixpath.join(dst, name))
    else:
        ctx.fs.write(dst, ctx.fs.read(src))
        ctx.fs.chmod(dst, info.mode)


def _targets(ctx: Ctx, cmd: str, names: list[str]) -> list[tuple[str, str, str]]:
    """(operand, source path, destination path) for ``cp``/``mv`` SRC... DEST."""
    if len(names) < 2:
        raise UsageError(f"usage: {cmd} SOURCE... DEST")
    dest = ctx.path(names[-1])
    into = ctx.fs.is_dir(dest)
    if len(names) > 2 and not into:
        raise UsageError(f"'{names[-1]}' is not a directory")
    pairs = []
    for name in names[:-1]:
        src = ctx.path(name)
        pairs.append((name, src, posixpath.join(dest, posixpath.basename(src)) if into else dest))
    return pairs


async def cp(ctx: Ctx, argv: list[str]) -> int:
    """cp [-rRaf] SOURCE... DEST: copy files (directories with -r)."""
    opts, names = parse_opts(argv, "rRafpdPLHv")
    recursive = any(opts.get(c) for c in "rRa")
    status = 0
    for name, src, dst in _targets(ctx, "cp", names):
        try:
            info = ctx.fs.stat(src, True)
        except OSError as exc:
            ctx.err(f"cp: can't stat '{name}': {exc.strerror}\n")
            status = 1
            continue
        if info.kind == "dir" and not recursive:
            ctx.err(f"cp: omitting directory '{name}'\n")
            status = 1
            continue
        try:
            _copy(ctx, src, dst)
        except OSError as exc:
            ctx.err(f"cp: can't create '{dst}': {exc.strerror}\n")
            status = 1
    return status


async def mv(ctx: Ctx, argv: list[str]) -> int:
    """mv [-f] SOURCE... DEST: move (rename) files and directories."""
    _, names = parse_opts(argv, "finv")
    status = 0
    for name, src, dst in _targets(ctx, "mv", names):
        try:
            ctx.fs.stat(src)
        except OSError as exc:
            ctx.err(f"mv: can't rename '{name}': {exc.strerror}\n")
            status = 1
            continue
        try:
            if ctx.fs.exists(dst) and not ctx.fs.is_dir(dst):
                ctx.fs.remove(dst)
            _copy(ctx, src, dst)
            ctx.fs.remove(src, recursive=True)
        except OSError as exc:
            ctx.err(f"mv: can't rename '{name}': {exc.strerror}\n")
            status = 1
    return status


async def ln(ctx: Ctx, argv: list[str]) -> int:
    """ln [-sfn] TARGET... LINK|DIR: make links (symbolic with -s, else hard links)."""
    opts, names = parse_opts(argv, "sfnTv")
    if not names:
        raise UsageError("usage: ln [-sfn] TARGET... LINK|DIR")
    if len(names) == 1:
        names = [names[0], "."]
    *targets, dest = names
    dest_path = ctx.path(dest)
    try:
        dest_info = ctx.fs.stat(dest_path)
    except OSError:
        dest_info = None
    into = ctx.fs.is_dir(dest_path) and not (
        (opts.get("n") or opts.get("T")) and dest_info is not None and dest_info.kind == "link"
    )
    if opts.get("T"):
        into = False
    if len(targets) > 1 and not into:
        raise UsageError(f"'{dest}' is not a directory")
    status = 0
    for target in targets:
        shown = posixpath.join(dest, posixpath.basename(target.rstrip("/"))) if into else dest
        link_path = ctx.path(shown)
        try:
            if opts.get("f"):
                try:
                    if ctx.fs.stat(link_path).kind != "dir":
                        ctx.fs.remove(link_path)
                except FileNotFoundError:
                    pass
            if opts.get("s"):
                ctx.fs.symlink(target, link_path)
            else:
                ctx.fs.link(ctx.path(target), link_path)
        except OSError as exc:
            ctx.err(f"ln: {shown}: {exc.strerror}\n")
            status = 1
    return status


_SYMBOLIC = re.compile(r"([ugoa]*)([-+=])([rwxXst]*)")


def parse_mode(text: str, current: int) -> int:
    """An octal (``755``) or symbolic (``u+x,go-w``) mode applied to the current bits."""
    if re.fullmatch(r"[0-7]{1,4}", text):
        return int(text, 8)
    mode = current
    for clause in text.split(","):
        m = _SYMBOLIC.fullmatch(clause)
        if not m:
            raise UsageError(f"invalid mode '{text}'")
        who, op, perms = m.groups()
        who = who.replace("a", "ugo") or "ugo"
        bits = 0
        for w in who:
            shift = {"u": 6, "g": 3, "o": 0}[w]
            for p, value in (("r", 4), ("w", 2), ("x", 1)):
                if p in perms or (p == "x" and "X" in perms and current & 0o111):
                    bits |= value << shift
            if "s" in perms and w in "ug":
                bits |= 0o4000 if w == "u" else 0o2000
        if "t" in perms:
            bits |= 0o1000
        if op == "+":
            mode |= bits
        elif op == "-":
            mode &= ~bits
        else:
            mask = sum({"u": 0o4700, "g": 0o2070, "o": 0o1007}[w] for w in set(who))
            mode = (mode & ~mask) | bits
    return mode


async def chmod(ctx: Ctx, argv: list[str]) -> int:
    """chmod [-R] MODE FILE...: change permission bits."""
    args = argv[1:]
    recursive = bool(args) and args[0] == "-R"
    if recursive:
        args = args[1:]
    if len(args) < 2:
        raise UsageError("usage: chmod [-R] MODE FILE...")
    spec, names = args[0], args[1:]
    status = 0
    for name in names:
        path = ctx.path(name)
        try:
            paths = [p for p, _ in ctx.fs.walk(path)] if recursive else [path]
            for p in paths:
                ctx.fs.chmod(p, parse_mode(spec, ctx.fs.stat(p, True).mode))
        except OSError as exc:
            ctx.err(f"chmod: {name}: {exc.strerror}\n")
            status = 1
    return status


APPLETS = {
    "ls": ls,
    "pwd": pwd,
    "touch": touch,
    "mkdir": mkdir,
    "rm": rm,
    "rmdir": rmdir,
    "cp": cp,
    "mv": mv,
    "ln": ln,
    "chmod": chmod,
}

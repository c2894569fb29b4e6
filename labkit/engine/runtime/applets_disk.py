"""Applets about files' sizes and the machine's resources: stat, du, df, mktemp, nproc, free.

Sizes follow what a real overlay filesystem shows (4 KiB blocks); the machine's numbers
(``nproc``, ``free``'s total) are the host's, as in a container without limits, or the
container's memory limit when it has one.
"""

from __future__ import annotations

import errno
import os
import posixpath
import secrets
import string
import time

from labkit.engine.runtime.applets_files import mode_string
from labkit.engine.runtime.context import Ctx, UsageError, parse_opts, to_int
from labkit.engine.runtime.vfs import Stat

_KINDS = {"file": "regular file", "dir": "directory", "link": "symbolic link"}


def blocks_of(info: Stat) -> int:
    """512-byte blocks a file takes on a 4 KiB-block filesystem (``stat``'s %b)."""
    if info.kind == "link":
        return 0
    return 8 if info.kind == "dir" else (info.size + 4095) // 4096 * 8


def _kind(info: Stat) -> str:
    if info.kind == "file" and info.size == 0:
        return "regular empty file"
    return _KINDS.get(info.kind, info.kind)


def _stamp(when: float) -> str:
    whole = int(when)
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(whole)) + (
        f".{round((when - whole) * 1e9):09d} +0000"
    )


def _owner(ctx: Ctx, number: int, table: str) -> str:
    try:
        text = ctx.fs.read(table).decode("utf-8", "replace")
    except OSError:
        return "UNKNOWN"
    for row in text.splitlines():
        parts = row.split(":")
        if len(parts) > 2 and parts[2] == str(number):
            return parts[0]
    return "UNKNOWN"


def _format(ctx: Ctx, fmt: str, name: str, info: Stat) -> str:
    fields = {
        "n": name,
        "N": f"'{name}' -> '{info.target}'" if info.target else name,
        "s": str(info.size),
        "a": f"{info.mode & 0o7777:o}",
        "A": mode_string(info),
        "f": f"{_type_bits(info) | info.mode:x}",
        "F": _kind(info),
        "u": str(info.uid),
        "g": str(info.gid),
        "U": _owner(ctx, info.uid, "/etc/passwd"),
        "G": _owner(ctx, info.gid, "/etc/group"),
        "h": str(info.nlink),
        "b": str(blocks_of(info)),
        "B": "512",
        "o": "4096",
        "y": _stamp(info.mtime),
        "Y": str(int(info.mtime)),
        "x": _stamp(info.mtime),
        "X": str(int(info.mtime)),
        "z": _stamp(info.mtime),
        "Z": str(int(info.mtime)),
        "%": "%",
    }
    out: list[str] = []
    i = 0
    while i < len(fmt):
        if fmt[i] == "%" and i + 1 < len(fmt):
            out.append(fields.get(fmt[i + 1], "?"))
            i += 2
            continue
        if fmt[i] == "\\" and i + 1 < len(fmt) and fmt[i + 1] in "nt\\":
            out.append({"n": "\n", "t": "\t", "\\": "\\"}[fmt[i + 1]])
            i += 2
            continue
        out.append(fmt[i])
        i += 1
    return "".join(out)


def _type_bits(info: Stat) -> int:
    return {"file": 0o100000, "dir": 0o040000, "link": 0o120000}.get(info.kind, 0)


async def stat(ctx: Ctx, argv: list[str]) -> int:
    """stat [-L] [-c FMT] FILE...: a file's size, mode, owner and times."""
    opts, names = parse_opts(argv, "Ltf", "c")
    if not names:
        raise UsageError("missing operand")
    status = 0
    for name in names:
        try:
            info = ctx.fs.stat(ctx.path(name), follow_symlinks=bool(opts.get("L")))
        except OSError as exc:
            ctx.err(f"stat: can't stat '{name}': {exc.strerror}\n")
            status = 1
            continue
        if "c" in opts:
            ctx.out(_format(ctx, str(opts["c"]), name, info) + "\n")
            continue
        shown = f"'{name}' -> '{info.target}'" if info.target else name
        uid, gid = info.uid, info.gid
        ctx.out(
            f"  File: {shown}\n"
            f"  Size: {info.size:<10}\tBlocks: {blocks_of(info):<10} IO Block: 4096   "
            f"{_kind(info)}\n"
            f"Device: fe00h/65024d\tInode: {_inode(name)}     Links: {info.nlink}\n"
            f"Access: ({info.mode & 0o7777:04o}/{mode_string(info)})  "
            f"Uid: ({uid:5}/{_owner(ctx, uid, '/etc/passwd'):>8})   "
            f"Gid: ({gid:5}/{_owner(ctx, gid, '/etc/group'):>8})\n"
            f"Access: {_stamp(info.mtime)}\n"
            f"Modify: {_stamp(info.mtime)}\n"
            f"Change: {_stamp(info.mtime)}\n"
        )
    return status


def _inode(name: str) -> int:
    """A stable stand-in inode number (the simulation has none)."""
    return 2400000 + sum(name.encode()) % 100000


def _human(kib: int) -> str:
    """busybox's -h sizes: 0, 4.0K, 20.0K, 1.5M."""
    if kib == 0:
        return "0"
    value = float(kib)
    for unit in "KMGT":
        if value < 1024 or unit == "T":
            return f"{value:.1f}{unit}"
        value /= 1024
    return str(kib)


async def du(ctx: Ctx, argv: list[str]) -> int:
    """du [-ahsk] [-d N] [FILE]...: disk use of each directory (KiB)."""
    opts, names = parse_opts(argv, "ahskmcxHLl", "d")
    status = 0
    depth_limit = 0 if opts.get("s") else (to_int(str(opts["d"])) if "d" in opts else 1 << 30)
    grand = 0

    def show(kib: int, path: str) -> None:
        size = _human(kib) if opts.get("h") else str(kib // 1024 if opts.get("m") else kib)
        ctx.out(f"{size}\t{path}\n")

    def walk(shown: str, real: str, depth: int) -> int:
        info = ctx.fs.stat(real)
        kib = blocks_of(info) // 2
        if info.kind == "dir":
            for name in ctx.fs.listdir(real):
                child = shown + name if shown.endswith("/") else f"{shown}/{name}"
                kib += walk(child, posixpath.join(real, name), depth + 1)
            if depth <= depth_limit:
                show(kib, shown)
        elif depth == 0 or (opts.get("a") and depth <= depth_limit):
            show(kib, shown)
        return kib

    for name in names or ["."]:
        try:
            grand += walk(name, ctx.path(name), 0)
        except OSError as exc:
            ctx.err(f"du: {name}: {exc.strerror}\n")
            status = 1
        await ctx.pause()
    if opts.get("c"):
        show(grand, "total")
    return status


async def df(ctx: Ctx, argv: list[str]) -> int:
    """df [-hkP] [PATH]...: the container's root filesystem (an overlay, as dockerd's)."""
    opts, _names = parse_opts(argv, "hkPmaT", "t")
    total = 264212084
    used = ctx.fs.used // 1024 + 4096
    free = total - used
    pct = f"{(used * 100 + total - 1) // total}%"
    if opts.get("h"):
        header = "Filesystem                Size      Used Available Use% Mounted on\n"
        row = f"{'overlay':<20}{_human(total):>10}{_human(used):>10}{_human(free):>10}"
    elif opts.get("P"):
        header = "Filesystem           1024-blocks    Used Available Capacity Mounted on\n"
        row = f"{'overlay':<20}{total:>12}{used:>8}{free:>10}"
    else:
        header = "Filesystem           1K-blocks      Used Available Use% Mounted on\n"
        row = f"{'overlay':<20}{total:>10}{used:>10}{free:>10}"
    ctx.out(header + f"{row} {pct:>4} /\n")
    return 0


_NAME_CHARS = string.ascii_letters + string.digits


async def mktemp(ctx: Ctx, argv: list[str]) -> int:
    """mktemp [-dqu] [-p DIR] [TEMPLATE]: make a new, unique file (or -d directory)."""
    opts, args = parse_opts(argv, "dqut", "p")
    template = args[0] if args else "tmp.XXXXXX"
    folder = str(opts.get("p", ctx.env.get("TMPDIR") or "/tmp"))
    if "/" not in template or opts.get("t") or "p" in opts:
        template = posixpath.join(folder, template)
    stem = template.rstrip("X")
    if len(template) - len(stem) < 6:
        if not opts.get("q"):
            ctx.err("mktemp: (null): Invalid argument\n")
        return 1
    for _ in range(100):
        name = stem + "".join(secrets.choice(_NAME_CHARS) for _ in template[len(stem) :])
        path = ctx.path(name)
        if ctx.fs.exists(path):
            continue
        try:
            if not opts.get("u"):
                if opts.get("d"):
                    ctx.fs.mkdir(path)
                    ctx.fs.chmod(path, 0o700)
                else:
                    ctx.fs.write(path, b"", mode=0o600)
        except OSError as exc:
            if not opts.get("q"):
                ctx.err(f"mktemp: {exc.strerror}\n")
            return 1
        ctx.out(name + "\n")
        return 0
    raise OSError(errno.EEXIST, os.strerror(errno.EEXIST))


async def nproc(ctx: Ctx, argv: list[str]) -> int:
    """nproc: the processors this process may run on (the host's, as in a container)."""
    parse_opts(argv, "")
    ctx.out(f"{len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else 1}\n")
    return 0


async def free(ctx: Ctx, argv: list[str]) -> int:
    """free [-bkmgh]: memory in use; the total is the container's limit if it has one."""
    opts, _ = parse_opts(argv, "bkmgh")
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    used = 0
    if ctx.sys.memory is not None:
        account = ctx.sys.memory.account
        used = account.used
        if account.limit:
            total = account.limit
    free_bytes = max(0, total - used)
    values = [total, used, free_bytes, 0, 0, free_bytes]

    def cell(n: int) -> str:
        if opts.get("h"):
            return _human(n // 1024) if n else "0"
        for flag, shift in (("b", 0), ("m", 20), ("g", 30)):
            if opts.get(flag):
                return str(n >> shift)
        return str(n >> 10)

    ctx.out(
        "              total        used        free      shared  buff/cache   available\n"
        "Mem:   " + "".join(f"{cell(v):>12}" for v in values) + "\n"
        "Swap:  " + "".join(f"{'0':>12}" for _ in range(3)) + "\n"
    )
    return 0


APPLETS = {
    "stat": stat,
    "du": du,
    "df": df,
    "mktemp": mktemp,
    "nproc": nproc,
    "free": free,
}

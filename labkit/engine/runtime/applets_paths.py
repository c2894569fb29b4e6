"""Applets about names and files a script handles: tee, basename, dirname, readlink, realpath.

Busybox's behaviour and messages for common use (``find`` is in :mod:`applets_find`).
"""

from __future__ import annotations

import errno
import os
import posixpath

from labkit.engine.runtime.context import Ctx, UsageError, parse_opts
from labkit.engine.runtime.vfs import normpath


async def tee(ctx: Ctx, argv: list[str]) -> int:
    """tee [-ai] [FILE]...: copy stdin to stdout and to each FILE, as it arrives."""
    opts, names = parse_opts(argv, "ai")
    status = 0
    paths: list[str] = []
    for name in names:
        path = ctx.path(name)
        try:
            ctx.fs.write(path, b"", append=bool(opts.get("a")))
            paths.append(path)
        except OSError as exc:
            ctx.err(f"tee: {name}: {exc.strerror}\n")
            status = 1
    while chunk := await ctx.stdin.read():
        ctx.out(chunk)
        for path in paths:
            ctx.fs.write(path, chunk, append=True)
        await ctx.pause()
    return status


def base_name(path: str) -> str:
    """POSIX basename: ``/a/b/`` -> ``b``, ``/`` -> ``/``."""
    stripped = path.rstrip("/")
    if not stripped:
        return "/" if path else ""
    return stripped.rsplit("/", 1)[-1]


def dir_name(path: str) -> str:
    """dirname as glibc's: ``a`` -> ``.``, ``/a/b/`` -> ``/a``; exactly two leading slashes
    are kept (``//`` and ``//a`` -> ``//``), as POSIX allows."""
    two = path.startswith("//") and not path.startswith("///")
    stripped = path.rstrip("/")
    if not stripped:
        return "//" if path == "//" else ("/" if path else ".")
    if "/" not in stripped:
        return "."
    head = stripped.rsplit("/", 1)[0].rstrip("/")
    return head or ("//" if two else "/")


async def basename(ctx: Ctx, argv: list[str]) -> int:
    """basename FILE [SUFFIX] | -a FILE... | -s SUFFIX FILE..."""
    opts, args = parse_opts(argv, "a", "s")
    if not args:
        raise UsageError("missing operand")
    suffix = str(opts["s"]) if "s" in opts else ""
    if "s" in opts or opts.get("a"):
        names = args
    else:
        if len(args) > 2:
            raise UsageError(f"extra operand '{args[2]}'")
        names, suffix = args[:1], (args[1] if len(args) > 1 else "")
    for name in names:
        base = base_name(name)
        if suffix and base != suffix and base.endswith(suffix):
            base = base[: -len(suffix)]
        ctx.out(base + "\n")
    return 0


async def dirname(ctx: Ctx, argv: list[str]) -> int:
    """dirname FILENAME: the directory part of a path."""
    _, args = parse_opts(argv, "")
    if len(args) != 1:
        raise UsageError("missing operand" if not args else f"extra operand '{args[1]}'")
    ctx.out(dir_name(args[0]) + "\n")
    return 0


def resolve(ctx: Ctx, name: str, missing_ok: bool) -> str:
    """The canonical path (every symlink resolved); with ``missing_ok`` the last part may
    be absent (``readlink -f``), else every part must exist (``realpath``, ``readlink -e``)."""
    path = ctx.path(name)
    parts = [p for p in path.split("/") if p]
    done = "/"
    hops = 0
    while parts:
        part = parts.pop(0)
        candidate = posixpath.join(done, part)
        try:
            info = ctx.fs.stat(candidate)
        except OSError:
            if missing_ok and not parts and ctx.fs.is_dir(done):
                return candidate
            raise OSError(errno.ENOENT, os.strerror(errno.ENOENT), name) from None
        if info.kind == "link" and info.target is not None:
            hops += 1
            if hops > 40:
                raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), name)
            target = info.target
            parts = [p for p in target.split("/") if p] + parts
            done = "/" if target.startswith("/") else done
            continue
        if parts and info.kind != "dir":
            raise OSError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), name)
        done = normpath(candidate)
    return done


async def readlink(ctx: Ctx, argv: list[str]) -> int:
    """readlink [-fenv] FILE: a symlink's target, or (-f/-e) the canonical path."""
    opts, args = parse_opts(argv, "fenvsq")
    if not args:
        raise UsageError("missing operand")
    status = 0
    for name in args:
        try:
            if opts.get("f") or opts.get("e"):
                text = resolve(ctx, name, missing_ok=not opts.get("e"))
            else:
                text = ctx.fs.readlink(ctx.path(name))
        except OSError:
            status = 1
            continue
        ctx.out(text + ("" if opts.get("n") else "\n"))
    return status


async def realpath(ctx: Ctx, argv: list[str]) -> int:
    """realpath FILE...: the canonical path of each FILE (which must exist)."""
    _, args = parse_opts(argv, "")
    if not args:
        raise UsageError("missing operand")
    status = 0
    for name in args:
        try:
            ctx.out(resolve(ctx, name, missing_ok=True) + "\n")
        except OSError as exc:
            ctx.err(f"realpath: {name}: {exc.strerror}\n")
            status = 1
    return status


APPLETS = {
    "tee": tee,
    "basename": basename,
    "dirname": dirname,
    "readlink": readlink,
    "realpath": realpath,
}

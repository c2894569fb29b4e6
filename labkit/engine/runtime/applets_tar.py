"""tar: create, list and extract archives in the container's own filesystem, as busybox does.

The archive format is Python's :mod:`tarfile` (GNU format, gzip/bzip2/xz via ``-z/-j/-J``);
what is archived and where it lands is the container's filesystem (``ctx.fs``), never the
host's. Busybox's safety rules are kept: leading ``/`` and ``../`` (and everything up to a
``/../``) are stripped from member names with one warning, and a symlink whose target is
absolute or climbs with ``..`` is made only after every other member, so that no member is
written through it.
"""

from __future__ import annotations

import bz2
import errno
import fnmatch
import gzip
import io
import lzma
import os
import posixpath
import stat as st
import tarfile
import time
import zlib
from dataclasses import dataclass, field

from labkit.engine.runtime.context import Ctx, UsageError, decode
from labkit.engine.runtime.rootfs import BUSYBOX_VERSION
from labkit.engine.runtime.vfs import Stat

_FLAGS = "ctxvzjJOmoh"
_WITH_VALUE = "fC"
_COMPRESSORS = {"z": "gz", "j": "bz2", "J": "xz"}

USAGE = f"""BusyBox v{BUSYBOX_VERSION} (labkit stand-in) multi-call binary.

Usage: tar c|x|t [-zjJvOmoh] [-f TARFILE] [-C DIR] [FILE]...

Create, extract, or list files from a tar file

\tc\tCreate
\tx\tExtract
\tt\tList
\t-f FILE\tName of TARFILE ('-' for stdin/out, the default)
\t-C DIR\tChange to DIR before operation
\t-v\tVerbose
\t-O\tExtract to stdout
\t-m\tDon't restore mtime
\t-o\tDon't restore user:group
\t-z\t(De)compress using gzip
\t-j\t(De)compress using bzip2
\t-J\t(De)compress using xz
\t-h\tFollow symlinks
"""


class TarFailed(Exception):
    """A fatal error: busybox prints ``tar: MESSAGE`` and exits 1."""


@dataclass
class Run:
    """One tar invocation: its options, and what it has said so far."""

    ctx: Ctx
    opts: dict[str, str | bool]
    names: list[str]
    warned: bool = False
    failed: bool = False
    later_links: list[tuple[str, str, str]] = field(default_factory=list)

    def flag(self, ch: str) -> bool:
        return bool(self.opts.get(ch))

    def warn(self, message: str) -> None:
        self.ctx.err(f"tar: {message}\n")

    def strip(self, name: str) -> str:
        """busybox's strip_unsafe_prefix: drop leading ``/`` and ``../``, and everything up
        to the last ``/../``; say so once, quoting what the first such name lost."""
        cut = 0
        while True:
            if name.startswith("/", cut):
                cut += 1
            elif name.startswith("../", cut):
                cut += 3
            else:
                inner = name.find("/../", cut)
                if inner < 0:
                    break
                cut = inner + 4
        if cut and not self.warned:
            self.warned = True
            self.warn(f"removing leading '{name[:cut]}' from member names")
        return name[cut:]


def parse(argv: list[str]) -> tuple[dict[str, str | bool], list[str]]:
    """busybox's getopt for tar: the first word may omit its ``-`` (``tar czf x.tgz d``),
    and options may follow operands (``tar tf x.tar -v``)."""
    args = list(argv[1:])
    if args and not args[0].startswith("-"):
        args[0] = "-" + args[0]
    opts: dict[str, str | bool] = {}
    names: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "--":
            names.extend(args[i:])
            break
        if arg.startswith("--"):
            raise UsageError(f"unrecognized option '{arg}'")
        if not arg.startswith("-") or arg == "-":
            names.append(arg)
            continue
        for j, ch in enumerate(arg[1:], 1):
            if ch in _WITH_VALUE:
                value = arg[j + 1 :]
                if not value:
                    if i >= len(args):
                        raise UsageError(f"option requires an argument -- '{ch}'")
                    value = args[i]
                    i += 1
                opts[ch] = value
                break
            if ch not in _FLAGS:
                raise UsageError(f"invalid option -- '{ch}'")
            opts[ch] = True
    modes = [m for m in "ctx" if opts.get(m)]
    if len(modes) != 1:
        raise UsageError("")
    return opts, names


async def tar(ctx: Ctx, argv: list[str]) -> int:
    """tar c|x|t [-zjJvOmoh] [-f TARFILE] [-C DIR] [FILE]..."""
    try:
        opts, names = parse(argv)
    except UsageError as exc:
        if str(exc):
            ctx.err(f"tar: {exc}\n")
        ctx.err(USAGE)
        return 1
    run = Run(ctx, opts, names)
    try:
        if run.flag("c"):
            await create(run)
        else:
            await read_archive(run)
    except TarFailed as exc:
        run.warn(str(exc))
        return 1
    return 1 if run.failed else 0


# ----- where things are -----------------------------------------------------------------


def base_dir(run: Run) -> str:
    """The directory ``-C`` names (checked), else the working directory."""
    ctx = run.ctx
    if "C" not in run.opts:
        return ctx.cwd
    name = str(run.opts["C"])
    path = ctx.path(name)
    try:
        if ctx.fs.stat(path, follow_symlinks=True).kind != "dir":
            raise OSError(errno.ENOTDIR, os.strerror(errno.ENOTDIR))
    except OSError as exc:
        raise TarFailed(f"can't change directory to '{name}': {exc.strerror}") from None
    return path


def archive_name(run: Run) -> str:
    return str(run.opts.get("f", "-"))


def compression(run: Run) -> str:
    return next((kind for ch, kind in _COMPRESSORS.items() if run.flag(ch)), "")


def owner_names(run: Run) -> tuple[dict[int, str], dict[int, str]]:
    """uid -> user and gid -> group names from the container's /etc/passwd and /etc/group."""
    tables: list[dict[int, str]] = []
    for path in ("/etc/passwd", "/etc/group"):
        table: dict[int, str] = {}
        try:
            text = decode(run.ctx.fs.read(path))
        except OSError:
            text = ""
        for line in text.splitlines():
            parts = line.split(":")
            if len(parts) > 2 and parts[2].isdigit():
                table.setdefault(int(parts[2]), parts[0])
        tables.append(table)
    return tables[0], tables[1]


# ----- c: create --------------------------------------------------------------------------


async def create(run: Run) -> None:
    ctx = run.ctx
    target = archive_name(run)
    out_path = None if target == "-" else ctx.path(target)
    if out_path is not None:
        try:
            ctx.fs.write(out_path, b"")  # busybox opens (and truncates) it first
        except OSError as exc:
            raise TarFailed(f"can't open '{target}': {exc.strerror}") from None
    if compression(run) == "xz":  # busybox's xz applet only decompresses
        raise TarFailed("busybox can't compress with xz; use -z (gzip) or -j (bzip2)")
    base = base_dir(run)
    if not run.names:
        raise TarFailed("empty archive")
    users, groups = owner_names(run)
    raw = io.BytesIO()
    verbose_to = ctx.err if out_path is None else ctx.out
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as archive:
        for name in run.names:
            path = posixpath.normpath(posixpath.join(base, name))
            try:
                entries = walk(run, path, name)
            except OSError as exc:
                run.warn(f"{name}: {exc.strerror}")
                run.failed = True
                continue
            for full, shown, info in entries:
                if full == out_path:
                    run.warn(f"{shown}: file is the archive; skipping")
                    continue
                member = run.strip(shown)
                if not member:
                    continue
                add_member(run, archive, member, full, info, users, groups)
                if run.flag("v"):
                    verbose_to(member + ("/" if info.kind == "dir" else "") + "\n")
                await ctx.pause()
        end = archive.offset
    # Two zero blocks end the archive; busybox pads no further (tarfile pads to 10 KiB).
    data = raw.getvalue()[: end + 2 * tarfile.BLOCKSIZE]
    kind = compression(run)
    if kind == "gz":
        data = gzip.compress(data, mtime=0)
    elif kind == "bz2":
        data = bz2.compress(data)
    if out_path is None:
        ctx.out(data)
    else:
        ctx.fs.write(out_path, data)
    if run.failed:
        run.warn("error exit delayed from previous errors")


def walk(run: Run, path: str, shown: str) -> list[tuple[str, str, Stat]]:
    """(container path, name as busybox shows it, facts) for ``path`` and all under it;
    ``-h`` follows symlinks (those inside directories too)."""
    fs = run.ctx.fs
    info = fs.stat(path, follow_symlinks=run.flag("h"))
    out = [(path, shown, info)]
    if info.kind == "dir":
        prefix = shown.rstrip("/") + "/" if shown.rstrip("/") else shown
        for child in fs.listdir(path):
            out.extend(walk(run, posixpath.join(path, child), prefix + child))
    return out


def add_member(
    run: Run,
    archive: tarfile.TarFile,
    member: str,
    full: str,
    info: Stat,
    users: dict[int, str],
    groups: dict[int, str],
) -> None:
    item = tarfile.TarInfo(member)
    item.mode = info.mode & 0o7777
    item.mtime = int(info.mtime)
    item.uid, item.gid = info.uid, info.gid
    item.uname, item.gname = users.get(info.uid, ""), groups.get(info.gid, "")
    if info.kind == "dir":
        item.type = tarfile.DIRTYPE
        archive.addfile(item)
    elif info.kind == "link":
        item.type = tarfile.SYMTYPE
        item.linkname = info.target or ""
        archive.addfile(item)
    else:
        data = run.ctx.fs.read(full)
        item.size = len(data)
        archive.addfile(item, io.BytesIO(data))


# ----- t and x: read ----------------------------------------------------------------------


async def load(run: Run) -> bytes:
    """The archive's bytes, decompressed (gzip is recognised without ``-z`` too, as the
    busybox image's tar does)."""
    ctx = run.ctx
    target = archive_name(run)
    if target == "-":
        data = await ctx.stdin.read_all()
    else:
        try:
            data = ctx.fs.read(ctx.path(target))
        except OSError as exc:
            raise TarFailed(f"can't open '{target}': {exc.strerror}") from None
    kind = compression(run) or ("gz" if data[:2] == b"\x1f\x8b" else "")
    try:
        if kind == "gz":
            return gzip.decompress(data)
        if kind == "bz2":
            return bz2.decompress(data)
        if kind == "xz":
            return lzma.decompress(data)
    except (OSError, EOFError, ValueError, zlib.error, lzma.LZMAError):
        run.warn("invalid magic")
        raise TarFailed("short read") from None
    return data


def open_archive(data: bytes) -> list[tuple[tarfile.TarInfo, bytes]]:
    """Each member with its bytes (empty for all but files); busybox's words when the data
    is not an archive."""
    if not data.strip(b"\0"):
        if len(data) < tarfile.BLOCKSIZE:
            raise TarFailed("short read")
        return []  # only end-of-archive blocks: an empty archive
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as archive:
            out = []
            for item in archive:
                reader = archive.extractfile(item) if item.isfile() else None
                out.append((item, reader.read() if reader is not None else b""))
            return out
    except tarfile.TarError:
        raise TarFailed(
            "short read" if len(data) < tarfile.BLOCKSIZE else "invalid tar magic"
        ) from None


def wanted(member: str, patterns: list[str], found: set[str]) -> bool:
    """Whether a member is asked for: all when no FILE is named, else a FILE matches it
    or a directory it is in."""
    if not patterns:
        return True
    name = member.rstrip("/")
    hit = False
    for pattern in patterns:
        bare = pattern.rstrip("/")
        if name == bare or name.startswith(bare + "/") or fnmatch.fnmatchcase(name, bare):
            found.add(pattern)
            hit = True
    return hit


async def read_archive(run: Run) -> None:
    ctx = run.ctx
    extract = run.flag("x")
    base = base_dir(run) if extract else ctx.cwd
    data = await load(run)
    found: set[str] = set()
    for item, content in open_archive(data):
        name = run.strip(item.name)
        if name and item.isdir():
            name += "/"  # tarfile drops the slash busybox keeps and shows
        if not name or not wanted(name, run.names, found):
            continue
        if not extract:
            ctx.out((verbose_line(item, name) if run.flag("v") else name) + "\n")
        elif run.flag("O"):
            if run.flag("v"):
                ctx.err(name + "\n")
            ctx.out(content)
        else:
            if run.flag("v"):
                ctx.out(name + "\n")
            place(run, item, content, name, base)
        await ctx.pause()
    for target, path, name in run.later_links:
        try:
            run.ctx.fs.symlink(target, path)
        except OSError:
            run.warn(f"can't create symlink '{name}' to '{target}'")
            run.failed = True
    for pattern in run.names:
        if pattern not in found:
            run.warn(f"{pattern}: not found in archive")
            run.failed = True


def verbose_line(item: tarfile.TarInfo, name: str) -> str:
    """``-tv``: busybox's ``ls -l``-like line (owner names if stored, else numbers)."""
    kind = {
        tarfile.DIRTYPE: st.S_IFDIR,
        tarfile.SYMTYPE: st.S_IFLNK,
        tarfile.CHRTYPE: st.S_IFCHR,
        tarfile.BLKTYPE: st.S_IFBLK,
        tarfile.FIFOTYPE: st.S_IFIFO,
    }.get(item.type, st.S_IFREG)
    user = item.uname or str(item.uid)
    group = item.gname or str(item.gid)
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(item.mtime))
    line = f"{st.filemode(kind | item.mode)} {user}/{group} {item.size:9d} {stamp} {name}"
    if item.issym() or item.islnk():
        line += f" -> {item.linkname}"
    return line


def place(run: Run, item: tarfile.TarInfo, content: bytes, name: str, base: str) -> None:
    """Extract one member under ``base``, replacing what was there (not a directory)."""
    fs = run.ctx.fs
    path = posixpath.normpath(posixpath.join(base, name))
    parent = posixpath.dirname(path)
    if not fs.is_dir(parent):
        fs.mkdir(parent, parents=True)
    if item.isdir():
        if not fs.is_dir(path):
            fs.mkdir(path)
        fs.chmod(path, item.mode)
        restore_mtime(run, path, item)
        return
    try:
        old = fs.stat(path)
    except OSError:
        old = None
    if old is not None:
        if old.kind == "dir":
            raise TarFailed(f"can't remove old file {name}: {os.strerror(errno.EISDIR)}")
        fs.remove(path)
    if item.issym():
        target = item.linkname
        if target.startswith("/") or ".." in target.split("/"):
            run.later_links.append((target, path, name))  # made last: nothing lands through it
        else:
            make_symlink(run, target, path, name)
    elif item.islnk():
        source = posixpath.join(base, run.strip(item.linkname))
        try:
            fs.link(source, path)
        except OSError as exc:
            raise TarFailed(f"can't create hardlink '{name}': {exc.strerror}") from None
    elif item.isfile():
        fs.write(path, content, mode=item.mode)
        fs.chmod(path, item.mode)
        restore_mtime(run, path, item)
    else:  # devices and fifos: the simulated filesystem has none
        run.warn(f"{name}: can't create special file in labkit's simulation; skipped")


def make_symlink(run: Run, target: str, path: str, name: str) -> None:
    try:
        run.ctx.fs.symlink(target, path)
    except OSError as exc:
        raise TarFailed(f"can't create symlink '{name}' to '{target}': {exc.strerror}") from None


def restore_mtime(run: Run, path: str, item: tarfile.TarInfo) -> None:
    if not run.flag("m"):
        run.ctx.fs.set_mtime(path, float(item.mtime))


APPLETS = {"tar": tar}

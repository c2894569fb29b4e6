"""``/containers/{id}/archive``: what ``docker cp`` calls (HEAD to stat, GET to copy out,
PUT to copy in), on a container's simulated filesystem.

The stat travels in the ``X-Docker-Container-Path-Stat`` header as base64 JSON with
Go's ``os.FileMode`` bits (a directory has bit 31 set, a symlink bit 27), as dockerd
sends it; the files travel as a tar stream, written out a piece at a time.

An archive sent in may be compressed (gzip, bzip2 or xz, as dockerd accepts). It is
unpacked in a thread, so the engine goes on serving others meanwhile, and with limits:
the stream may expand to at most ``LABKIT_ENGINE_UNPACK_MAX`` bytes, and its files may
hold no more than the container has left of its memory. A gzip bomb is refused with a
400 that says which limit it hit, before anything is written.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import posixpath
import tarfile
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from labkit.engine.model.clock import NS, rfc3339
from labkit.engine.model.output import PIECE
from labkit.engine.replies import ApiError, RawReply, Reply, Request, StreamReply

TAR_TYPE = "application/x-tar"
STAT_HEADER = "X-Docker-Container-Path-Stat"
# Go's os.FileMode type and special bits
_GO_DIR, _GO_LINK = 1 << 31, 1 << 27
_GO_SETUID, _GO_SETGID, _GO_STICKY = 1 << 23, 1 << 22, 1 << 20


def go_mode(kind: str, mode: int) -> int:
    """A Unix mode as Go's ``os.FileMode`` number (what the stat header carries)."""
    out = mode & 0o777
    if kind == "dir":
        out |= _GO_DIR
    elif kind == "link":
        out |= _GO_LINK
    if mode & 0o4000:
        out |= _GO_SETUID
    if mode & 0o2000:
        out |= _GO_SETGID
    if mode & 0o1000:
        out |= _GO_STICKY
    return out


def _path_arg(req: Request) -> str:
    path = req.arg("path") or ""
    if not path:
        raise ApiError(400, "bad parameter: path cannot be empty: add ?path=/the/path")
    return path


def _missing(path: str, ref: str) -> ApiError:
    return ApiError(404, f"Could not find the file {path} in container {ref}")


def _stat(vfs: Any, path: str, ref: str) -> tuple[str, Any]:
    """(the normalised path, its Stat): a symlink in the last part is not followed, unless
    the path ends in ``/`` or ``/.`` (then it names the folder the link leads to, as
    dockerd resolves it). Links resolve inside the container, never on the host."""
    from labkit.engine.runtime.vfs import normpath

    full = normpath(path)
    follow = path.endswith(("/", "/.")) and full != "/"
    try:
        return full, vfs.stat(full, follow_symlinks=follow)
    except OSError:
        raise _missing(path, ref) from None


def _stat_header(path: str, info: Any) -> dict[str, str]:
    name = posixpath.basename(path.rstrip("/")) or "/"
    doc = {
        "name": name,
        "size": 4096 if info.kind == "dir" else info.size,
        "mode": go_mode(info.kind, info.mode),
        "mtime": rfc3339(int(info.mtime * NS)),
        "linkTarget": info.target or "",
    }
    text = json.dumps(doc, separators=(",", ":")).encode()
    return {STAT_HEADER: base64.b64encode(text).decode("ascii")}


async def _tar_of(vfs: Any, path: str, rebase: str | None) -> AsyncIterator[bytes]:
    """A tar of ``path`` (a file, link or whole tree) with names starting at ``rebase``
    (None: relative names, the top itself left out, as ``docker export`` writes them),
    in pieces of about PIECE bytes (the server waits for the client between them).

    The bytes are those of ``tarfile``'s GNU format: each header, the data padded to
    512 bytes, two empty blocks, and the whole padded to a 10240-byte record."""
    entries = vfs.walk(path)
    written = 0
    pending: list[bytes] = []
    size = 0
    for full, info in entries:
        rel = posixpath.relpath(full, path)
        if rebase is None:
            if rel == ".":
                continue
            name = rel
        else:
            name = rebase if rel == "." else posixpath.join(rebase, rel)
        entry = tarfile.TarInfo(name)
        entry.mode = info.mode & 0o7777
        entry.mtime = int(info.mtime)
        entry.uname = entry.gname = "root"
        data = b""
        if info.kind == "dir":
            entry.type = tarfile.DIRTYPE
        elif info.kind == "link":
            entry.type = tarfile.SYMTYPE
            entry.linkname = info.target or ""
        else:
            data = vfs.read(full)
            entry.size = len(data)
        header = entry.tobuf(tarfile.GNU_FORMAT, tarfile.ENCODING, "surrogateescape")
        pad = b"\0" * (-len(data) % tarfile.BLOCKSIZE)
        for part in (header, data, pad):
            for start in range(0, len(part), PIECE):
                piece = part[start : start + PIECE]
                pending.append(piece)
                size += len(piece)
                if size >= PIECE:
                    yield b"".join(pending)
                    written += size
                    pending, size = [], 0
    end = b"\0" * (2 * tarfile.BLOCKSIZE)
    total = written + size + len(end)
    end += b"\0" * (-total % tarfile.RECORDSIZE)
    yield b"".join(pending) + end


async def stat_path(req: Request, id: str) -> Reply:
    """``HEAD``: the stat header alone (``docker cp`` asks it before copying in)."""
    engine = req.engine
    c = engine.container(id)
    full, info = _stat(engine.container_fs(c), _path_arg(req), id)
    return RawReply(b"", TAR_TYPE, 200, _stat_header(full, info))


async def get_archive(req: Request, id: str) -> Reply:
    """``GET``: the path as a tar; ``/.`` at the end means the folder's contents."""
    engine = req.engine
    c = engine.container(id)
    path = _path_arg(req)
    vfs = engine.container_fs(c)
    full, info = _stat(vfs, path, id)
    contents_only = path.endswith("/.")
    rebase = "." if contents_only else posixpath.basename(full) or "."
    return StreamReply(_tar_of(vfs, full, rebase), TAR_TYPE, 200, _stat_header(full, info))


async def put_archive(req: Request, id: str) -> Reply:
    """``PUT``: unpack a tar (maybe compressed) into a folder of the container."""
    engine = req.engine
    c = engine.container(id)
    path = _path_arg(req)
    vfs = engine.container_fs(c)
    full, info = _stat(vfs, path, id)
    if info.kind == "link":
        try:
            info = vfs.stat(full, follow_symlinks=True)
        except OSError:  # a link to nowhere, or a loop of links
            raise _missing(path, id) from None
    if info.kind != "dir":
        raise ApiError(400, "extraction point is not a directory")
    if c.doc["host_config"].get("ReadonlyRootfs") and not vfs.on_mount(full):
        raise ApiError(500, "container rootfs is marked read-only")
    no_clobber = req.flag("noOverwriteDirNonDir")
    if req.body:
        room = _room(vfs)
        limits = Unpack(engine.limits.unpack_max, room)
        try:
            members = await asyncio.to_thread(read_archive, req.body, limits)
        except UnpackLimit as exc:
            raise ApiError(400, f"cannot unpack into {path}: {exc}") from None
        except (tarfile.TarError, OSError, EOFError, zlib.error, _LZMAError) as exc:
            raise ApiError(400, f"the request body is not a tar archive: {exc}") from None
        before = vfs.snapshot()
        try:
            _untar(vfs, full, members, no_clobber)
            engine.save_fs(c, vfs)
        except OSError as exc:
            vfs.restore(before)
            raise ApiError(400, f"cannot unpack into {path}: {exc}") from None
        except ApiError:  # not saved: the container's layer is as it was (host folders are not)
            vfs.restore(before)
            raise
    return RawReply(b"", "text/plain; charset=utf-8", 200)


def _inside(root: str, name: str) -> str | None:
    """Where an archive member named ``name`` goes under ``root``: a leading ``/`` is
    dropped (as tar and dockerd do); a name that climbs out with ``..`` gives None."""
    from labkit.engine.runtime.vfs import normpath

    target = normpath(posixpath.join(root, name.lstrip("/")))
    if target != root and not target.startswith(root.rstrip("/") + "/"):
        return None
    return target


def _room(vfs: Any) -> int | None:
    """Bytes the container's filesystem may still grow by (None: no bound)."""
    quota = getattr(vfs, "quota", None)
    account = getattr(quota, "__self__", None)  # the memory account whose try_add it is
    if account is None:
        return None
    room = account.limit - account.used
    parent = account.parent
    while parent is not None:
        room = min(room, parent.limit - parent.used)
        parent = parent.parent
    return max(room, 0)


# ------------------------------------------------------------------ unpacking with limits
class _LZMAError(Exception):
    """Stands for lzma.LZMAError (caught only once lzma is loaded, see read_archive)."""


class UnpackLimit(Exception):
    """An archive that would unpack past a limit; the message says which."""


@dataclass
class Unpack:
    max_stream: int  # bytes the (decompressed) tar stream may have: LABKIT_ENGINE_UNPACK_MAX
    max_files: int | None  # bytes its files may hold in all: what the container has left


@dataclass
class Member:
    """One entry of an archive, read whole (its data counted against the limits)."""

    info: tarfile.TarInfo
    data: bytes | None


_MAGIC = (
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
)
_READ = 64 << 10


class _Bounded(io.RawIOBase):
    """The decompressed bytes of an archive, refusing to give more than ``limit`` of them."""

    def __init__(self, data: bytes, kind: str, limit: int) -> None:
        self._raw = io.BytesIO(data)
        self._kind = kind
        self._limit = limit
        self._given = 0
        self._inner: Any
        if kind == "gzip":
            self._inner = _GzipStream(self._raw)
        elif kind == "bzip2":
            import bz2  # here, not at start: the engine's memory at rest matters

            self._inner = bz2.BZ2File(self._raw)
        else:
            import lzma

            self._inner = lzma.LZMAFile(self._raw)  # noqa: SIM115

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        want = min(len(buffer), _READ)
        data = self._inner.read(want)
        self._given += len(data)
        if self._given > self._limit:
            raise UnpackLimit(
                f"the {self._kind} archive expands to more than {self._limit} bytes, the most "
                "the lab engine unpacks (LABKIT_ENGINE_UNPACK_MAX): refused before writing "
                "anything; send it uncompressed, or split it"
            )
        buffer[: len(data)] = data
        return len(data)


class _GzipStream:
    """gzip members one after the other, decompressed a bounded piece per read (Python's
    GzipFile would do, but this keeps every read to at most ``n`` bytes out)."""

    def __init__(self, raw: io.BytesIO) -> None:
        self._raw = raw
        self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._done = False

    def read(self, n: int) -> bytes:
        while not self._done:
            if self._z.unconsumed_tail:
                out = self._z.decompress(self._z.unconsumed_tail, n)
            else:
                chunk = self._raw.read(_READ)
                if not chunk:
                    if not self._z.eof:
                        raise EOFError("the gzip stream ends before its end marker")
                    self._done = True
                    break
                out = self._z.decompress(chunk, n)
            if self._z.eof:
                rest = self._z.unused_data
                if rest.strip(b"\0"):  # another gzip member follows
                    self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)
                    self._raw = io.BytesIO(rest + self._raw.read())
                else:
                    self._done = True
            if out:
                return out
        return b""


def read_archive(body: bytes, limits: Unpack) -> list[Member]:
    """Every entry of a tar (plain, gzip, bzip2 or xz), read with the limits: meant for a
    thread, since decompressing is slow. Raises UnpackLimit, or tarfile's errors."""
    kind = next((name for magic, name in _MAGIC if body.startswith(magic)), None)
    if kind == "xz":
        import lzma

        try:
            return _read_tar(body, kind, limits)
        except lzma.LZMAError as exc:
            raise _LZMAError(str(exc)) from None
    return _read_tar(body, kind, limits)


def _read_tar(body: bytes, kind: str | None, limits: Unpack) -> list[Member]:
    source: Any = io.BytesIO(body)
    if kind is not None:
        source = io.BufferedReader(_Bounded(body, kind, limits.max_stream), _READ)
    members: list[Member] = []
    total = 0
    with tarfile.open(fileobj=source, mode="r|") as tar:
        for info in tar:
            data = None
            if info.isfile():
                total += info.size
                if limits.max_files is not None and total > limits.max_files:
                    raise UnpackLimit(
                        f"its files hold more than the {limits.max_files} bytes the container "
                        "has left of its memory (where its files live): no space left on device"
                    )
                member = tar.extractfile(info)
                data = member.read() if member is not None else b""
            members.append(Member(info, data))
    return members


class _Unpacked:
    """What read_archive read, with the part of tarfile's interface _untar uses."""

    def __init__(self, members: list[Member]) -> None:
        self._members = members
        self._data = {id(m.info): m.data for m in members}

    def __enter__(self) -> _Unpacked:
        return self

    def __exit__(self, *exc: object) -> None:
        self._data.clear()

    def __iter__(self) -> Any:
        return (m.info for m in self._members)

    def extractfile(self, info: tarfile.TarInfo) -> io.BytesIO | None:
        data = self._data.get(id(info))
        return io.BytesIO(data) if data is not None else None


def _untar(vfs: Any, dest: str, members: list[Member], no_clobber: bool) -> None:
    """Unpack into ``dest`` as ``tar -x`` would, through the container's own filesystem.

    Every path is resolved inside the container (a symlink in the archive, or one already
    there, can only lead to another place in the container, never to the host), an
    existing entry is replaced rather than written through, and a member that climbs out
    of ``dest`` is skipped, as tar skips it.
    """
    from labkit.engine.runtime.vfs import normpath

    root = normpath(dest)
    with _Unpacked(members) as tar:
        for entry in tar:
            target = _inside(root, entry.name)
            if target is None or target == root:
                continue
            if not (entry.isdir() or entry.issym() or entry.islnk() or entry.isfile()):
                continue  # devices and FIFOs: nothing a container of the lab can use
            parent = posixpath.dirname(target)
            if not vfs.is_dir(parent):
                vfs.mkdir(parent, parents=True)
            try:
                existing = vfs.stat(target)  # the entry itself, a link not followed
            except FileNotFoundError:
                existing = None
            if entry.isdir():
                if existing is not None and existing.kind != "dir":
                    if no_clobber:
                        raise OSError(f"cannot overwrite non-directory {target} with a directory")
                    vfs.remove(target)
                    existing = None
                if existing is None:
                    vfs.mkdir(target)
                vfs.chmod(target, entry.mode & 0o7777)
                continue
            if existing is not None:
                if existing.kind == "dir" and no_clobber:
                    raise OSError(f"cannot overwrite directory {target} with a file")
                vfs.remove(target, recursive=True)
            if entry.issym():
                vfs.symlink(entry.linkname, target)
            elif entry.islnk():
                source = _inside(root, entry.linkname)
                if source is not None:
                    vfs.link(source, target)
            else:
                member = tar.extractfile(entry)
                vfs.write(target, member.read() if member is not None else b"")
                vfs.chmod(target, entry.mode & 0o7777)


async def export_container(req: Request, id: str) -> Reply:
    """``docker export``: the container's whole filesystem as a tar."""
    engine = req.engine
    c = engine.container(id)
    body = _tar_of(engine.container_fs(c), "/", None)
    engine.note("container", "export", c.id, c.event_attributes())
    return StreamReply(body, TAR_TYPE, 200)


ROUTES = [
    ("GET", "/containers/{id}/export", export_container),
    ("HEAD", "/containers/{id}/archive", stat_path),
    ("GET", "/containers/{id}/archive", get_archive),
    ("PUT", "/containers/{id}/archive", put_archive),
]

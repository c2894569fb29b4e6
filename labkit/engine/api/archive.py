"""``/containers/{id}/archive``: what ``docker cp`` calls (HEAD to stat, GET to copy out,
PUT to copy in), on a container's simulated filesystem.

The stat travels in the ``X-Docker-Container-Path-Stat`` header as base64 JSON with
Go's ``os.FileMode`` bits (a directory has bit 31 set, a symlink bit 27), as dockerd
sends it; the files travel as a tar stream.
"""

from __future__ import annotations

import base64
import io
import json
import posixpath
import tarfile
from typing import Any

from labkit.engine.model.clock import NS, rfc3339
from labkit.engine.replies import ApiError, RawReply, Reply, Request

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


def _tar_of(vfs: Any, path: str, rebase: str | None) -> bytes:
    """A tar of ``path`` (a file, link or whole tree) with names starting at ``rebase``
    (None: relative names, the top itself left out, as ``docker export`` writes them)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for full, info in vfs.walk(path):
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
            data = None
            if info.kind == "dir":
                entry.type = tarfile.DIRTYPE
            elif info.kind == "link":
                entry.type = tarfile.SYMTYPE
                entry.linkname = info.target or ""
            else:
                data = vfs.read(full)
                entry.size = len(data)
            tar.addfile(entry, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


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
    body = _tar_of(vfs, full, rebase)
    return RawReply(body, TAR_TYPE, 200, _stat_header(full, info))


async def put_archive(req: Request, id: str) -> Reply:
    """``PUT``: unpack a tar into a folder of the container."""
    engine = req.engine
    c = engine.container(id)
    path = _path_arg(req)
    vfs = engine.container_fs(c)
    full, info = _stat(vfs, path, id)
    if info.kind == "link":
        try:
            info = vfs.stat(full, follow_symlinks=True)
        except OSError:
            raise _missing(path, id) from None
    if info.kind != "dir":
        raise ApiError(400, "extraction point is not a directory")
    no_clobber = req.flag("noOverwriteDirNonDir")
    if req.body:
        before = vfs.snapshot()
        try:
            _untar(vfs, full, req.body, no_clobber)
            engine.save_fs(c, vfs)
        except tarfile.TarError as exc:
            vfs.restore(before)
            raise ApiError(400, f"the request body is not a tar archive: {exc}") from None
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


def _untar(vfs: Any, dest: str, data: bytes, no_clobber: bool) -> None:
    """Unpack into ``dest`` as ``tar -x`` would, through the container's own filesystem.

    Every path is resolved inside the container (a symlink in the archive, or one already
    there, can only lead to another place in the container, never to the host), an
    existing entry is replaced rather than written through, and a member that climbs out
    of ``dest`` is skipped, as tar skips it.
    """
    from labkit.engine.runtime.vfs import normpath

    root = normpath(dest)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
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
    return RawReply(body, TAR_TYPE, 200)


ROUTES = [
    ("GET", "/containers/{id}/export", export_container),
    ("HEAD", "/containers/{id}/archive", stat_path),
    ("GET", "/containers/{id}/archive", get_archive),
    ("PUT", "/containers/{id}/archive", put_archive),
]

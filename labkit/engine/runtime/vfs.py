"""A container's filesystem: the image's shared tree plus this container's own changes.

Like overlayfs under a real container: reads fall through to the image (the *lower* layer)
unless the container wrote, created or deleted that path (the *upper* layer). A deletion is a
*whiteout*; a directory deleted and made again is *opaque* (hides the image's old contents).
Only the upper layer belongs to the container, which is what :meth:`VFS.upper_state` returns
for the model to persist and what :meth:`VFS.changes` reports for ``docker diff``.

Bind mounts and volumes are different on purpose: inside one, reads and writes go to the real
host folder with the engine's own rights. That is lesson 06: whoever can ask the daemon for a
bind mount of ``/`` can read whatever the daemon can. But only the folder that was mounted:
every path is resolved inside the container, as a chroot would, so a symlink (in the image, in
the container's layer or planted in a mounted folder) never leads out of it; an absolute
target starts at the container's root. Host folders are walked with ``O_NOFOLLOW`` from open
directories (:mod:`hostfs`), so a link swapped in mid-way fails instead of escaping.

Paths are absolute POSIX strings, normalised logically (``..`` drops the previous component
before symlinks are looked at, as a shell's ``cd`` does). Errors are OSError subclasses
carrying the container path; ``str(err)`` reads ``/nope: No such file or directory``.
"""

from __future__ import annotations

import base64
import errno
import os
import posixpath
import stat as st
import time
from collections.abc import Callable
from dataclasses import dataclass

from labkit.engine.runtime.hostfs import O_DIR, Root, Spot
from labkit.engine.runtime.rootfs import Node, RootFS

# Files docker bind-mounts into every container; `docker diff` does not report them.
MOUNTED_FILES = frozenset({"/etc/hostname", "/etc/hosts", "/etc/resolv.conf"})
DEV_NULL = "/dev/null"
_MAX_LINKS = 40
_WHITEOUT = None  # the value an upper entry has when the path was deleted
_STATE_VERSION = 1


class VFSError(OSError):
    """An error on a container path; ``str()`` is ``PATH: strerror`` like busybox prints."""

    def __str__(self) -> str:
        return f"{self.filename}: {self.strerror}"


class NoSuchFile(VFSError, FileNotFoundError):
    pass


class IsADir(VFSError, IsADirectoryError):
    pass


class NotADir(VFSError, NotADirectoryError):
    pass


class Exists(VFSError, FileExistsError):
    pass


class Denied(VFSError, PermissionError):
    pass


_CLASSES: dict[int, type[VFSError]] = {
    errno.ENOENT: NoSuchFile,
    errno.EISDIR: IsADir,
    errno.ENOTDIR: NotADir,
    errno.EEXIST: Exists,
    errno.EACCES: Denied,
    errno.EPERM: Denied,
}


def fs_error(code: int, path: str) -> VFSError:
    """The right OSError subclass for an errno, about a container path."""
    return _CLASSES.get(code, VFSError)(code, os.strerror(code), path)


def normpath(path: str, cwd: str = "/") -> str:
    """Absolute, with ``.``, ``..`` and repeated slashes folded: ``normpath('../x', '/a/b')``."""
    if not path.startswith("/"):
        path = cwd.rstrip("/") + "/" + path
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
        else:
            parts.append(part)
    return "/" + "/".join(parts)


def _join(parent: str, name: str) -> str:
    return parent + name if parent == "/" else parent + "/" + name


@dataclass(frozen=True)
class Stat:
    """What ``ls -l`` and the archive endpoint need to know about a path."""

    kind: str  # "file" | "dir" | "link"
    size: int
    mode: int  # permission bits, e.g. 0o755 (0o1777 for /tmp)
    mtime: float
    uid: int = 0
    gid: int = 0
    target: str | None = None  # a link's target
    nlink: int = 1


@dataclass(frozen=True)
class _Bind:
    root: Root
    path: str
    read_only: bool


class _Hit:
    """Where a path leads: a node of the merged tree, a spot in a host folder, or nothing."""

    __slots__ = ("bind", "host", "node", "path")

    def __init__(
        self,
        path: str,
        node: Node | None = None,
        host: Spot | None = None,
        bind: _Bind | None = None,
    ) -> None:
        self.path = path  # canonical container path (symlinks resolved)
        self.node = node
        self.host = host  # owns an open directory: use it in a ``with``
        self.bind = bind


_SYNTH_DIR = Node("dir", 0o755, None, 0.0)  # a directory that exists only to hold a mount point


class VFS:
    """A container's filesystem: a shared read-only image tree plus this container's changes.

    ``upper``: a dict from :meth:`upper_state` (or None / ``{}`` for a fresh container).
    ``binds``: ``(host_path, container_path, read_only[, private])``; inside a bind, reads and
    writes go to the real host folder with the engine's own rights, and never out of it.
    ``private`` marks a volume: what is made there is owner-only and stays so (chmod keeps
    only the owner's bits). Files and folders made in any bind are owner-only when made.
    ``clock``: seconds since the epoch for new files' mtimes (default ``time.time``).

    The model writes a container's hostname at create time with ``fs.write("/etc/hostname",
    b"<short id>\\n")``; that file is left out of :meth:`changes`, as docker does.
    ``generation`` counts changes to the container's layer (not to bind-mounted host files).
    """

    def __init__(
        self,
        lower: RootFS,
        upper: dict | None = None,
        binds: list[tuple] | None = None,
        *,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.lower = lower
        self._clock = clock or time.time
        # The bytes the container's own files and links hold, and who may refuse more: the
        # model sets ``quota(delta) -> bool`` to its memory account (a refusal is ENOSPC).
        self.used = 0
        self.quota: Callable[[int], bool] | None = None
        # A read-only root (``--read-only``): the container's own layer refuses every change
        # (EROFS) outside the ``writable`` folders (its tmpfs mounts); mounts keep their mode.
        self.read_only = False
        self.writable: tuple[str, ...] = ()
        self._upper: dict[str, Node | None] = {}
        self._opaque: set[str] = set()
        # Goes up with every change to the container's layer: the model persists
        # upper_state() only when it moved.
        self.generation = 0
        self._binds: dict[str, _Bind] = {}
        for host, path, ro, *private in binds or ():
            norm = normpath(path)
            root = Root(os.path.abspath(host), bool(private and private[0]))
            self._binds[norm] = _Bind(root, norm, bool(ro))
        self._mount_parents = {
            parent for b in self._binds for parent in _ancestors(b) if parent != "/"
        }
        if upper:
            self._restore(upper)

    # ----- reading -----------------------------------------------------------------------

    def read(self, path: str) -> bytes:
        """The bytes of a file (symlinks followed, inside the container)."""
        hit = self._walk(path, follow=True)
        if hit.host is not None:
            with hit.host as spot:
                return self._host(path, spot.read)
        if hit.node is None:
            raise fs_error(errno.ENOENT, path)
        if hit.node.kind == "dir":
            raise fs_error(errno.EISDIR, path)
        return hit.node.data  # type: ignore[return-value]

    def listdir(self, path: str) -> list[str]:
        """Sorted names in a directory (symlinks followed), without ``.`` and ``..``."""
        hit = self._walk(path, follow=True)
        if hit.host is not None:
            with hit.host as spot:
                names = set(self._host(path, spot.listdir))
            names.update(self._mounts_in(hit.path))
            return sorted(names)
        if hit.node is None:
            raise fs_error(errno.ENOENT, path)
        if hit.node.kind != "dir":
            raise fs_error(errno.ENOTDIR, path)
        return sorted(self._names(hit.path))

    def stat(self, path: str, follow_symlinks: bool = False) -> Stat:
        """Facts about a path; a symlink is reported as ``kind='link'`` unless followed."""
        hit = self._walk(path, follow=follow_symlinks)
        if hit.host is not None:
            with hit.host as spot:
                return self._host(path, lambda: _host_stat(spot))
        if hit.node is None:
            raise fs_error(errno.ENOENT, path)
        node = hit.node
        return Stat(
            kind=node.kind,
            size=node.size,
            mode=node.mode,
            mtime=node.mtime,
            target=node.data if node.kind == "link" else None,  # type: ignore[arg-type]
            nlink=2 if node.kind == "dir" else 1,
        )

    def exists(self, path: str) -> bool:
        """True if the path (symlinks followed) is there."""
        try:
            self.stat(path, follow_symlinks=True)
        except OSError:
            return False
        return True

    def is_dir(self, path: str) -> bool:
        try:
            return self.stat(path, follow_symlinks=True).kind == "dir"
        except OSError:
            return False

    def is_file(self, path: str) -> bool:
        try:
            return self.stat(path, follow_symlinks=True).kind == "file"
        except OSError:
            return False

    def readlink(self, path: str) -> str:
        info = self.stat(path)
        if info.target is None:
            raise VFSError(errno.EINVAL, os.strerror(errno.EINVAL), path)
        return info.target

    def walk(self, path: str) -> list[tuple[str, Stat]]:
        """Every path under ``path`` (itself first), depth first, symlinks not followed."""
        top = normpath(path)
        out = [(top, self.stat(top))]
        if out[0][1].kind == "dir":
            for name in self.listdir(top):
                out.extend(self.walk(_join(top, name)))
        return out

    # ----- writing -----------------------------------------------------------------------

    def write(self, path: str, data: bytes, append: bool = False, mode: int | None = None) -> None:
        """Create or replace (or append to) a file; its directory must exist.

        ``mode`` sets the permission bits of a new file (default 0o644; in a host folder the
        owner's bits only, and 0o600 by default).
        """
        hit = self._walk(path, follow=True)
        if hit.host is not None:
            with hit.host as spot:
                self._writable(hit, path)
                self._host(path, lambda: spot.write(data, append, mode))
            return
        if hit.path == DEV_NULL:
            return
        node = hit.node
        if node is not None and node.kind == "dir":
            raise fs_error(errno.EISDIR, path)
        if node is not None and append:
            self._room(hit.path, len(data))  # before the longer copy is made
            data = node.data + data  # type: ignore[operator]
        new_mode = node.mode if node is not None else (0o644 if mode is None else mode)
        self._put(hit.path, Node("file", new_mode, bytes(data), self._clock()))

    def touch(self, path: str) -> None:
        """Make an empty file if there is none, else set its mtime to now."""
        hit = self._walk(path, follow=True)
        if hit.host is not None:
            with hit.host as spot:
                self._writable(hit, path)
                self._host(path, spot.touch)
        elif hit.node is None:
            self.write(path, b"")
        elif hit.path != DEV_NULL:
            n = hit.node
            self._put(hit.path, Node(n.kind, n.mode, n.data, self._clock()))

    def mkdir(self, path: str, parents: bool = False) -> None:
        """Make a directory; with ``parents``, make missing parents and accept an existing one."""
        if parents:
            for ancestor in [*_ancestors(normpath(path)), normpath(path)]:
                if ancestor != "/" and not self.is_dir(ancestor):
                    self.mkdir(ancestor)
            return
        hit = self._walk(path, follow=False)
        if hit.host is not None:
            with hit.host as spot:
                self._writable(hit, path)
                self._host(path, spot.mkdir)
            return
        if hit.node is not None:
            raise fs_error(errno.EEXIST, path)
        if hit.path in self._upper:  # a whiteout: the image's old contents stay hidden
            self._opaque.add(hit.path)
        self._put(hit.path, Node("dir", 0o755, None, self._clock()))

    def symlink(self, target: str, path: str) -> None:
        """Make ``path`` a symlink to ``target`` (like ``ln -s target path``)."""
        hit = self._walk(path, follow=False)
        if hit.host is not None:
            with hit.host as spot:
                self._writable(hit, path)
                self._host(path, lambda: spot.symlink(target))
            return
        if hit.node is not None:
            raise fs_error(errno.EEXIST, path)
        self._put(hit.path, Node("link", 0o777, target, self._clock()))

    def link(self, source: str, path: str) -> None:
        """Make ``path`` a hard link to ``source`` (like ``ln source path``).

        In a host folder it is a real hard link, within the same mount only (``EXDEV``
        otherwise, as across real mounts). The container's own layer keeps no inodes, so
        there a hard link is a copy made now; it does not follow later changes.
        """
        src = self._walk(source, follow=False)
        try:
            if src.host is None and src.node is None:
                raise fs_error(errno.ENOENT, source)
            dst = self._walk(path, follow=False)
            try:
                exists = dst.node is not None if dst.host is None else _spot_exists(dst.host)
                if exists:
                    raise fs_error(errno.EEXIST, path)
                if src.host is not None and dst.host is not None:
                    if src.bind is not dst.bind:
                        raise fs_error(errno.EXDEV, path)
                    self._writable(dst, path)
                    spot, from_spot = dst.host, src.host
                    self._host(path, lambda: spot.link_from(from_spot))
                    return
                if src.host is not None or dst.host is not None:
                    raise fs_error(errno.EXDEV, path)
                node = src.node
                assert node is not None
                if node.kind == "dir":
                    raise VFSError(errno.EPERM, os.strerror(errno.EPERM), source)
                self._put(dst.path, Node(node.kind, node.mode, node.data, node.mtime))
            finally:
                if dst.host is not None:
                    dst.host.close()
        finally:
            if src.host is not None:
                src.host.close()

    def chmod(self, path: str, mode: int) -> None:
        """Set a path's permission bits (symlinks followed)."""
        hit = self._walk(path, follow=True)
        if hit.host is not None:
            with hit.host as spot:
                self._writable(hit, path)
                self._host(path, lambda: spot.chmod(mode & 0o7777))
            return
        if hit.node is None:
            raise fs_error(errno.ENOENT, path)
        n = hit.node
        self._put(hit.path, Node(n.kind, mode & 0o7777, n.data, n.mtime))

    def set_mtime(self, path: str, mtime: float) -> None:
        """Set a path's modification time (the link itself, not what it points at), as
        ``tar -x`` restores the archive's times."""
        hit = self._walk(path, follow=False)
        if hit.host is not None:
            with hit.host as spot:
                self._writable(hit, path)
                self._host(path, lambda: spot.utime(mtime))
            return
        if hit.node is None:
            raise fs_error(errno.ENOENT, path)
        if hit.path != DEV_NULL:
            n = hit.node
            self._put(hit.path, Node(n.kind, n.mode, n.data, mtime))

    def remove(self, path: str, recursive: bool = False) -> None:
        """Delete a file or link; a directory only with ``recursive`` (IsADirectoryError else)."""
        hit = self._walk(path, follow=False)
        if hit.path == "/" or hit.path in self._binds or self._has_mount_under(hit.path):
            if hit.host is not None:
                hit.host.close()
            raise VFSError(errno.EBUSY, os.strerror(errno.EBUSY), path)
        if hit.host is not None:
            with hit.host as spot:
                self._writable(hit, path)
                self._host(path, lambda: spot.remove(recursive))
            return
        if hit.node is None:
            raise fs_error(errno.ENOENT, path)
        if hit.node.kind == "dir" and not recursive:
            raise fs_error(errno.EISDIR, path)
        self._drop(hit.path)

    def rmdir(self, path: str) -> None:
        """Delete an empty directory."""
        if self.stat(path).kind != "dir":  # stat raises ENOENT for a missing path
            raise fs_error(errno.ENOTDIR, path)
        if self.listdir(path):
            raise VFSError(errno.ENOTEMPTY, os.strerror(errno.ENOTEMPTY), path)
        self.remove(path, recursive=True)

    # ----- the upper layer ---------------------------------------------------------------

    def upper_state(self) -> dict:
        """This container's own changes as JSON-ready data; ``VFS(lower, upper=state)`` restores."""
        entries: dict[str, list] = {}
        for path, node in self._upper.items():
            if node is _WHITEOUT:
                entries[path] = ["whiteout"]
            elif node.kind == "file":
                data = base64.b64encode(node.data).decode("ascii")  # type: ignore[arg-type]
                entries[path] = ["file", node.mode, node.mtime, data]
            else:
                entries[path] = [node.kind, node.mode, node.mtime, node.data]
        return {"version": _STATE_VERSION, "entries": entries, "opaque": sorted(self._opaque)}

    def snapshot(self) -> tuple[dict[str, Node | None], set[str]]:
        """The container's layer as it is now, for :meth:`restore` (host folders aside)."""
        return dict(self._upper), set(self._opaque)

    def restore(self, snapshot: tuple[dict[str, Node | None], set[str]]) -> None:
        """Put the container's layer back as a :meth:`snapshot` found it."""
        upper, opaque = snapshot
        self._upper, self._opaque = dict(upper), set(opaque)
        self.generation += 1

    def changes(self) -> list[tuple[int, str]]:
        """``(kind, path)`` sorted by path, kind 0 modified, 1 added, 2 deleted (docker diff)."""
        kinds: dict[str, int] = {}
        for path, node in self._upper.items():
            if path in MOUNTED_FILES:
                continue
            if node is _WHITEOUT:
                kinds[path] = 2
            else:
                kinds[path] = 0 if self._in_lower(path) else 1
            for parent in _ancestors(path):
                if parent != "/" and parent not in kinds and self._in_lower(parent):
                    kinds[parent] = 0
        return [(kinds[p], p) for p in sorted(kinds)]

    def _restore(self, state: dict) -> None:
        if state.get("version") != _STATE_VERSION or "entries" not in state:
            raise ValueError(
                f"not a VFS upper_state() (version {_STATE_VERSION}): keys {sorted(state)}"
            )
        for path, entry in state["entries"].items():
            kind = entry[0]
            if kind == "whiteout":
                self._upper[path] = _WHITEOUT
            elif kind == "file":
                self._upper[path] = Node("file", entry[1], base64.b64decode(entry[3]), entry[2])
            else:
                self._upper[path] = Node(kind, entry[1], entry[3], entry[2])
        self._opaque = set(state.get("opaque", ()))
        self.used = sum(_held(node) for node in self._upper.values())

    # ----- internals ---------------------------------------------------------------------

    def _walk(self, path: str, follow: bool) -> _Hit:
        """Resolve a path component by component through upper, lower, binds and symlinks.

        Returns a hit whose ``node`` is None when only the last component is missing; raises
        ENOENT/ENOTDIR when a directory on the way is missing or not a directory. Inside a
        bind the walk goes on from open host directories (:meth:`_walk_host`); a symlink's
        target, wherever the link is, is resolved from the container's root.
        """
        if "\0" in path:
            raise VFSError(errno.EINVAL, os.strerror(errno.EINVAL), path.replace("\0", "\\0"))
        todo = [c for c in normpath(path).split("/") if c]
        cur, hidden, hops, i = "/", False, 0, 0
        while i < len(todo):
            cand = _join(cur, todo[i])
            last = i == len(todo) - 1
            if cand in self._binds:
                walked = self._walk_host(path, follow, self._binds[cand], cand, todo[i + 1 :])
                if isinstance(walked, _Hit):
                    return walked
                hops += 1  # a host symlink: go on from the container's root with its target
                if hops > _MAX_LINKS:
                    raise VFSError(errno.ELOOP, os.strerror(errno.ELOOP), path)
                todo, cur, hidden, i = walked, "/", False, 0
                continue
            node, child_hidden = self._merged(cand, hidden)
            if node is None and cand in self._mount_parents:
                node = _SYNTH_DIR
            if node is None:
                if last:
                    return _Hit(cand)
                raise fs_error(errno.ENOENT, path)
            if node.kind == "link" and (follow or not last):
                hops += 1
                if hops > _MAX_LINKS:
                    raise VFSError(errno.ELOOP, os.strerror(errno.ELOOP), path)
                todo = _relink(cur, node.data, todo[i + 1 :])  # type: ignore[arg-type]
                cur, hidden, i = "/", False, 0
                continue
            if not last and node.kind != "dir":
                raise fs_error(errno.ENOTDIR, path)
            cur, hidden = cand, child_hidden
            i += 1
        root, _ = self._merged("/", False)
        return _Hit(cur, node if todo else root)  # type: ignore[possibly-undefined]

    def _walk_host(
        self, path: str, follow: bool, bind: _Bind, mount: str, rest: list[str]
    ) -> _Hit | list[str]:
        """Walk ``rest`` inside a bind from its root, one open directory at a time.

        Returns the hit (its ``host`` spot owns an open directory), or, when a symlink is
        met, the components still to resolve from the container's root. Never follows a
        link on the host: ``lstat`` and ``O_NOFOLLOW`` at every step.
        """
        if not rest:
            return _Hit(mount, host=self._host(path, bind.root.spot), bind=bind)
        cur = mount
        fd = self._host(path, bind.root.open_dir)
        try:
            for j, name in enumerate(rest):
                cand = _join(cur, name)
                last = j == len(rest) - 1
                if cand in self._binds:  # a bind inside a bind: walk on from its root
                    return self._walk_host(path, follow, self._binds[cand], cand, rest[j + 1 :])
                try:
                    info = os.stat(name, dir_fd=fd, follow_symlinks=False)
                except FileNotFoundError:
                    if last:
                        spot, fd = Spot(fd, name, bind.root), -1
                        return _Hit(cand, host=spot, bind=bind)
                    if cand in self._mount_parents:  # only there to hold a deeper mount point
                        return self._walk_synthetic(path, follow, cand, rest[j + 1 :])
                    raise fs_error(errno.ENOENT, path) from None
                except OSError as exc:
                    raise fs_error(exc.errno or errno.EIO, path) from None
                if st.S_ISLNK(info.st_mode) and (follow or not last):
                    try:
                        target = os.readlink(name, dir_fd=fd)
                    except OSError as exc:
                        raise fs_error(exc.errno or errno.EIO, path) from None
                    return _relink(cur, target, rest[j + 1 :])
                if last:
                    spot, fd = Spot(fd, name, bind.root), -1
                    return _Hit(cand, host=spot, bind=bind)
                if not st.S_ISDIR(info.st_mode):
                    raise fs_error(errno.ENOTDIR, path)
                try:
                    inner = os.open(name, O_DIR, dir_fd=fd)
                except OSError as exc:  # ELOOP: it became a link since the lstat
                    raise fs_error(exc.errno or errno.EIO, path) from None
                os.close(fd)
                fd, cur = inner, cand
            raise AssertionError("unreachable: the last component returns")
        finally:
            if fd >= 0:
                os.close(fd)

    def _walk_synthetic(
        self, path: str, follow: bool, cur: str, rest: list[str]
    ) -> _Hit | list[str]:
        """Below a mount point's parent that exists only to hold it: nothing but mounts."""
        for j, name in enumerate(rest):
            cand = _join(cur, name)
            if cand in self._binds:
                return self._walk_host(path, follow, self._binds[cand], cand, rest[j + 1 :])
            if cand not in self._mount_parents:
                if j == len(rest) - 1:
                    return _Hit(cand)
                raise fs_error(errno.ENOENT, path)
            cur = cand
        return _Hit(cur, _SYNTH_DIR)

    def _mounts_in(self, path: str) -> set[str]:
        """Names of mount points (and their parents) directly in a directory."""
        return {
            posixpath.basename(m)
            for m in (*self._binds, *self._mount_parents)
            if posixpath.dirname(m) == path
        }

    def _merged(self, path: str, hidden: bool) -> tuple[Node | None, bool]:
        """The node at a path (links not followed); whether the image's children are hidden."""
        if path in self._upper:
            node = self._upper[path]
            return node, hidden or path in self._opaque
        if hidden:
            return None, True
        return self.lower.get(path), False

    def _names(self, path: str) -> set[str]:
        """The names in a merged directory."""
        names: set[str] = set()
        hidden = any(a in self._opaque for a in [*_ancestors(path), path])
        if not hidden:
            names.update(self.lower.children(path))
        for p, node in self._upper.items():
            if p != "/" and posixpath.dirname(p) == path:
                if node is _WHITEOUT:
                    names.discard(posixpath.basename(p))
                else:
                    names.add(posixpath.basename(p))
        names.update(self._mounts_in(path))
        return names

    def _in_lower(self, path: str) -> bool:
        """Whether the image has this path and the container has not hidden it wholesale."""
        if self.lower.get(path) is None:
            return False
        for a in _ancestors(path):
            if a in self._opaque or (a in self._upper and self._upper[a] is _WHITEOUT):
                return False
        return True

    def _put(self, path: str, node: Node) -> None:
        self._refuse_read_only(path)
        delta = _held(node) - _held(self._upper.get(path))
        if delta and self.quota is not None and not self.quota(delta):
            raise fs_error(errno.ENOSPC, path)
        self.used += delta
        self._upper[path] = node
        self.generation += 1

    def _room(self, path: str, more: int) -> None:
        """ENOSPC unless ``more`` bytes fit the container's memory (files live in it)."""
        if more > 0 and self.quota is not None:
            if not self.quota(more):
                raise fs_error(errno.ENOSPC, path)
            self.quota(-more)

    def on_mount(self, path: str) -> bool:
        """Whether ``path`` is in a bind mount or volume (a read-only root does not reach it)."""
        norm = normpath(path)
        return any(norm == b or norm.startswith(b.rstrip("/") + "/") for b in self._binds)

    def _refuse_read_only(self, path: str) -> None:
        if self.read_only and not any(
            path == top or path.startswith(top.rstrip("/") + "/") for top in self.writable
        ):
            raise VFSError(errno.EROFS, os.strerror(errno.EROFS), path)

    def _drop(self, path: str) -> None:
        """Delete ``path`` and everything under it from the merged view."""
        self._refuse_read_only(path)
        self.generation += 1
        prefix = path + "/"
        for p in [p for p in self._upper if p == path or p.startswith(prefix)]:
            freed = _held(self._upper.pop(p))
            self.used -= freed
            if freed and self.quota is not None:
                self.quota(-freed)
        self._opaque = {p for p in self._opaque if not (p == path or p.startswith(prefix))}
        if self._in_lower(path):
            self._upper[path] = _WHITEOUT
        else:
            self._upper.pop(path, None)

    def _has_mount_under(self, path: str) -> bool:
        prefix = path.rstrip("/") + "/"
        return any(b.startswith(prefix) for b in self._binds)

    @staticmethod
    def _writable(hit: _Hit, path: str) -> None:
        if hit.bind is not None and hit.bind.read_only:
            raise VFSError(errno.EROFS, os.strerror(errno.EROFS), path)

    @staticmethod
    def _host(path: str, op: Callable):
        """Run a host file operation, turning its OSError into one about the container path."""
        try:
            return op()
        except OSError as exc:
            raise fs_error(exc.errno or errno.EIO, path) from None


def _held(node: Node | None) -> int:
    """Bytes a node of the upper layer holds (a file's data, a link's target)."""
    if node is None or node.kind == "dir":
        return 0
    return len(node.data) if node.data is not None else 0


def _ancestors(path: str) -> list[str]:
    """'/a/b/c' -> ['/', '/a', '/a/b']."""
    parts = [p for p in path.split("/") if p]
    return ["/" + "/".join(parts[:i]) for i in range(len(parts))]


def _relink(cur: str, target: str, rest: list[str]) -> list[str]:
    """The components to resolve from the root after a link at ``cur/…`` to ``target``:
    an absolute target starts at the container's root, a relative one at the link's folder,
    and ``..`` never climbs above the root (as in a chroot)."""
    base = target if target.startswith("/") else _join(cur, target)
    return [c for c in normpath(base).split("/") if c] + rest


def _spot_exists(spot: Spot) -> bool:
    try:
        spot.lstat()
    except FileNotFoundError:
        return False
    return True


def _host_stat(spot: Spot) -> Stat:
    s = spot.lstat()
    if st.S_ISDIR(s.st_mode):
        kind = "dir"
    elif st.S_ISLNK(s.st_mode):
        kind = "link"
    else:
        kind = "file"
    return Stat(
        kind=kind,
        size=s.st_size,
        mode=st.S_IMODE(s.st_mode),
        mtime=s.st_mtime,
        uid=s.st_uid,
        gid=s.st_gid,
        target=spot.readlink() if kind == "link" else None,
        nlink=s.st_nlink,
    )

"""Host files inside a bind mount or a volume, reached without following a link on the host.

A container's bind mounts and volumes are real host folders. Whatever a container plants in
one (a symlink to ``/etc``, a link swapped in between a check and a use) must never lead the
engine out of it: that is the family of ``docker cp`` escapes (CVE-2018-15664 and others).
So the VFS never hands a host *path* to the kernel below a mount's root. It walks one
component at a time from an open directory (``openat`` with ``O_NOFOLLOW``), reads a link's
target itself and resolves it inside the container, as a chroot would, and acts on the last
component through its parent's descriptor (:class:`Spot`), again without following links.
A swap between the walk and the act then fails (``ELOOP``) instead of escaping.

A mount's root is the host path the learner named (``-v /host/dir:/data``), resolved once
when the container's filesystem is made and pinned by its device, inode and type, as a real
mount would be: if that path is later made to point elsewhere, using the mount fails
(``ESTALE``). The type matters: a link made in a deleted folder's place may get its inode.
"""

from __future__ import annotations

import errno
import os
import stat as st

O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
O_DIR = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | O_NOFOLLOW | O_CLOEXEC
_O_PATH = getattr(os, "O_PATH", 0)
_PROC_FD = "/proc/self/fd"

# Modes of what the engine creates in a volume (and the most chmod may give there):
# owner-only, whatever the umask, since volumes live in the learner's private lab home.
PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700
PRIVATE_MASK = 0o700


def _err(code: int) -> OSError:
    return OSError(code, os.strerror(code))


def _ident(info: os.stat_result) -> tuple[int, int, int]:
    return info.st_dev, info.st_ino, st.S_IFMT(info.st_mode)


class Root:
    """A bind's root on the host: its real path, pinned by device and inode."""

    __slots__ = ("ident", "name", "parent", "path", "private")

    def __init__(self, host: str, private: bool = False) -> None:
        self.path = os.path.realpath(host)
        self.private = private  # a volume: what is made in it is owner-only
        self.parent, self.name = os.path.split(self.path)
        if not self.name:  # a bind of "/" itself
            self.parent, self.name = "/", "."
        try:
            self.ident: tuple[int, int, int] | None = _ident(os.stat(self.path))
        except OSError:
            self.ident = None

    def spot(self) -> Spot:
        """The root as a :class:`Spot` (its parent's descriptor and its name), checked."""
        if self.ident is None:
            raise _err(errno.ENOENT)
        fd = os.open(self.parent, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | O_CLOEXEC)
        try:
            if _ident(os.stat(self.name, dir_fd=fd, follow_symlinks=False)) != self.ident:
                raise _err(errno.ESTALE)
        except BaseException:
            os.close(fd)
            raise
        return Spot(fd, self.name, self)

    def open_dir(self) -> int:
        """A descriptor of the root directory itself (ENOTDIR for a single-file bind)."""
        spot = self.spot()
        with spot:
            fd = os.open(spot.name, O_DIR, dir_fd=spot.dir_fd)
        try:
            if _ident(os.fstat(fd)) != self.ident:
                raise _err(errno.ESTALE)
        except BaseException:
            os.close(fd)
            raise
        return fd


class Spot:
    """One name in an open host directory: every operation acts on it without following
    a link in its place. Owns ``dir_fd`` (use ``with``)."""

    __slots__ = ("dir_fd", "name", "root")

    def __init__(self, dir_fd: int, name: str, root: Root) -> None:
        self.dir_fd = dir_fd
        self.name = name
        self.root = root

    def __enter__(self) -> Spot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.dir_fd >= 0:
            os.close(self.dir_fd)
            self.dir_fd = -1

    # ----- reading -----------------------------------------------------------------
    def lstat(self) -> os.stat_result:
        return os.stat(self.name, dir_fd=self.dir_fd, follow_symlinks=False)

    def readlink(self) -> str:
        return os.readlink(self.name, dir_fd=self.dir_fd)

    def read(self) -> bytes:
        """A regular file's bytes (a FIFO or a device would block or never end: refused)."""
        flags = os.O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC
        fd = os.open(self.name, flags, dir_fd=self.dir_fd)
        try:
            info = os.fstat(fd)
            if st.S_ISDIR(info.st_mode):
                raise _err(errno.EISDIR)
            if not st.S_ISREG(info.st_mode):
                raise _err(errno.EOPNOTSUPP)
            parts = []
            while True:
                piece = os.read(fd, 1 << 20)
                if not piece:
                    break
                parts.append(piece)
            return b"".join(parts)
        finally:
            os.close(fd)

    def listdir(self) -> list[str]:
        fd = os.open(self.name, O_DIR, dir_fd=self.dir_fd)
        try:
            return os.listdir(fd)
        finally:
            os.close(fd)

    # ----- writing -----------------------------------------------------------------
    def write(self, data: bytes, append: bool, mode: int | None) -> None:
        """Create (exactly ``mode``, owner-only in a volume) or replace or append to a file."""
        fd = self._open_for_write(append, mode)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)

    def _open_for_write(self, append: bool, mode: int | None) -> int:
        flags = os.O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC
        new_mode = PRIVATE_FILE if mode is None else (mode & PRIVATE_MASK) | 0o600
        try:
            fd = os.open(self.name, flags | os.O_CREAT | os.O_EXCL, 0o600, dir_fd=self.dir_fd)
        except FileExistsError:
            fd = os.open(self.name, flags, dir_fd=self.dir_fd)
            created = False
        else:
            created = True
        try:
            info = os.fstat(fd)
            if st.S_ISDIR(info.st_mode):
                raise _err(errno.EISDIR)
            if not st.S_ISREG(info.st_mode):
                raise _err(errno.EOPNOTSUPP)
            if created:
                os.fchmod(fd, new_mode)
            elif append:
                os.lseek(fd, 0, os.SEEK_END)
            else:
                os.ftruncate(fd, 0)
        except BaseException:
            os.close(fd)
            raise
        return fd

    def touch(self) -> None:
        try:
            os.utime(self.name, dir_fd=self.dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            self.write(b"", True, None)

    def utime(self, mtime: float) -> None:
        """Set the access and modification times of what is here (a link itself)."""
        os.utime(self.name, (mtime, mtime), dir_fd=self.dir_fd, follow_symlinks=False)

    def mkdir(self) -> None:
        """A new directory, owner-only whatever the umask."""
        os.mkdir(self.name, PRIVATE_DIR, dir_fd=self.dir_fd)
        fd = os.open(self.name, O_DIR, dir_fd=self.dir_fd)
        try:
            os.fchmod(fd, PRIVATE_DIR)
        finally:
            os.close(fd)

    def symlink(self, target: str) -> None:
        os.symlink(target, self.name, dir_fd=self.dir_fd)

    def link_from(self, source: Spot) -> None:
        """A hard link here to ``source`` (the link itself if ``source`` is a symlink)."""
        os.link(
            source.name,
            self.name,
            src_dir_fd=source.dir_fd,
            dst_dir_fd=self.dir_fd,
            follow_symlinks=False,
        )

    def chmod(self, mode: int) -> None:
        """Set the mode of what is here, never of what a link here points at."""
        if self.root.private:
            mode &= PRIVATE_MASK
        if _O_PATH and os.path.isdir(_PROC_FD):  # Linux: fchmodat cannot refuse a link
            fd = os.open(self.name, _O_PATH | O_NOFOLLOW | O_CLOEXEC, dir_fd=self.dir_fd)
            try:
                if st.S_ISLNK(os.fstat(fd).st_mode):
                    raise _err(errno.EOPNOTSUPP)
                os.chmod(f"{_PROC_FD}/{fd}", mode)
            finally:
                os.close(fd)
        else:  # the BSDs and macOS have lchmod
            os.chmod(self.name, mode, dir_fd=self.dir_fd, follow_symlinks=False)

    def remove(self, recursive: bool) -> None:
        info = self.lstat()
        if st.S_ISDIR(info.st_mode):
            if not recursive:
                raise _err(errno.EISDIR)
            rmtree_at(self.dir_fd, self.name)
        else:
            os.unlink(self.name, dir_fd=self.dir_fd)


def rmtree_at(dir_fd: int, name: str) -> None:
    """Delete a directory tree below an open directory, never following a link."""
    fd = os.open(name, O_DIR, dir_fd=dir_fd)
    try:
        with os.scandir(fd) as entries:
            children = [(e.name, e.is_dir(follow_symlinks=False)) for e in entries]
        for child, is_dir in children:
            if is_dir:
                rmtree_at(fd, child)
            else:
                os.unlink(child, dir_fd=fd)
    finally:
        os.close(fd)
    os.rmdir(name, dir_fd=dir_fd)

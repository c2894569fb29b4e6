"""Owner-only files for the lab engine, in a lab home no one else can write to.

On a shared hub a learner's engine must not be readable or steerable by the next user. So:

- everything the engine makes is created owner-only (folders 0700, files 0600) with an exact
  ``fchmod``, whatever the umask, and an older, looser mode is tightened when the engine starts;
- a file is opened with ``O_NOFOLLOW`` (and made with ``O_EXCL``), so a symlink the engine did
  not make is never followed: its log cannot be aimed at another file, its pidfile or state
  cannot be redirected;
- a lab home (``LABKIT_HOME``, its ``engine/`` folder, and the folders above them) that another
  user could write to, or that belongs to someone else, is refused with a one-line
  :class:`UnsafeHome` saying what is wrong and how to fix it: whoever can write there can move
  the socket away and listen in its place, or plant a link where the log goes.

Standard library only: ``labkit engine`` imports it before anything else.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterable
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700
O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_OTHERS_WRITE = stat.S_IWGRP | stat.S_IWOTH


class UnsafeHome(RuntimeError):
    """The lab home (or a file in it) is not safe to use; the message says why and the fix."""


def _me() -> int:
    return os.geteuid()


def owner_name(uid: int) -> str:
    try:
        import pwd

        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except (ImportError, KeyError):
        return f"uid {uid}"


# ---------------------------------------------------------------- checking a home
def check_home(home: Path, engine_dir: Path | None = None) -> None:
    """Refuse a lab home another user can write to or owns, at every level the engine uses.

    ``home`` is ``LABKIT_HOME``; ``engine_dir`` its ``engine/`` folder, if made yet.
    The folders above ``home`` may be shared (``/tmp``) only if they are sticky, as ``/tmp``
    is, so that no one else can rename what is ours in them.
    """
    home = Path(os.path.abspath(home))
    for ancestor in _ancestors(home):
        _check_ancestor(ancestor, home)
    _check_own_dir(home, "the lab home", home)
    if engine_dir is not None and engine_dir != home:
        _check_own_dir(engine_dir, "the lab engine's folder", home)


def _ancestors(path: Path) -> list[Path]:
    """The folders above ``path``, literal and resolved (a link on the way counts twice)."""
    seen: dict[str, Path] = {}
    for p in (path, Path(os.path.realpath(path))):
        for parent in p.parents:
            seen.setdefault(str(parent), parent)
    return list(seen.values())


def _check_ancestor(folder: Path, home: Path) -> None:
    try:
        link = os.lstat(folder)
        info = os.stat(folder)
    except OSError:
        return  # not there (yet): it is made private when it is made
    me = _me()
    if stat.S_ISLNK(link.st_mode) and link.st_uid not in (0, me):
        raise UnsafeHome(
            f"{folder}, above the lab home {home}, is a symbolic link owned by "
            f"{owner_name(link.st_uid)}, who can point it anywhere: choose a lab home outside it, "
            "e.g. export LABKIT_HOME=~/.local/share/labkit"
        )
    if info.st_uid not in (0, me):
        raise UnsafeHome(
            f"{folder}, above the lab home {home}, belongs to {owner_name(info.st_uid)}, who could "
            "replace the lab home: choose a lab home in a folder of your own, e.g. "
            "export LABKIT_HOME=~/.local/share/labkit"
        )
    if info.st_mode & _OTHERS_WRITE and not info.st_mode & stat.S_ISVTX:
        who = "everyone" if info.st_mode & stat.S_IWOTH else "its group"
        raise UnsafeHome(
            f"{folder}, above the lab home {home}, is writable by {who} (mode "
            f"{stat.S_IMODE(info.st_mode):04o}, no sticky bit), so others could replace the lab "
            f"home: make it private (chmod go-w {folder}) or choose another LABKIT_HOME"
        )


def _check_own_dir(folder: Path, what: str, home: Path) -> None:
    """``folder`` must be our own directory that only we can write; tightened to 0700."""
    try:
        link = os.lstat(folder)
    except FileNotFoundError:
        return
    me = _me()
    if stat.S_ISLNK(link.st_mode):
        if folder == home and link.st_uid in (0, me):
            info = os.stat(folder)  # a link of our own naming our home: check where it leads
        else:
            raise UnsafeHome(
                f"{what} {folder} is a symbolic link (to {os.readlink(folder)}) that the "
                f"engine did not make: remove it (rm {folder}) and start again"
            )
    else:
        info = link
    if not stat.S_ISDIR(info.st_mode):
        raise UnsafeHome(
            f"{what} {folder} is not a folder: move it away (mv {folder} {folder}.old) "
            "and start again"
        )
    if info.st_uid != me:
        raise UnsafeHome(
            f"{what} {folder} belongs to {owner_name(info.st_uid)}, not to you ({owner_name(me)}): "
            "its owner controls your engine's socket and state; use a folder of your own, "
            "e.g. export LABKIT_HOME=~/.local/share/labkit"
        )
    if info.st_mode & _OTHERS_WRITE:
        who = "everyone" if info.st_mode & stat.S_IWOTH else "its group"
        raise UnsafeHome(
            f"{what} {folder} is writable by {who} (mode {stat.S_IMODE(info.st_mode):04o}): "
            f"others could replace the engine's socket or plant links in it; make it "
            f"private: chmod 700 {folder}"
        )
    if folder != home and stat.S_IMODE(info.st_mode) != DIR_MODE:
        os.chmod(folder, DIR_MODE)  # ours and not shared: made owner-only, as it is made


def check_entries(folder: Path, names: Iterable[str], sockets: Iterable[str] = ()) -> None:
    """Refuse a link, a foreign file or a wrong kind of file where the engine keeps its own;
    tighten a regular file of ours to 0600. ``sockets`` may be sockets (or absent)."""
    sockets = set(sockets)
    me = _me()
    for name in [*names, *sockets]:
        path = folder / name
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            continue
        if stat.S_ISLNK(info.st_mode):
            raise UnsafeHome(
                f"{path} is a symbolic link (to {os.readlink(path)}) that the engine did not "
                f"make: remove it (rm {path}) and start again"
            )
        if info.st_uid != me:
            raise UnsafeHome(
                f"{path} belongs to {owner_name(info.st_uid)}, not to you: someone else made it in "
                f"your lab engine's folder; remove it (rm {path}) and start again"
            )
        wanted = stat.S_ISSOCK if name in sockets else stat.S_ISREG
        if not wanted(info.st_mode):
            kind = "socket" if name in sockets else "regular file"
            raise UnsafeHome(
                f"{path} is not a {kind}, so it is not the engine's: move it away "
                f"(mv {path} {path}.old) and start again"
            )
        if stat.S_IMODE(info.st_mode) & ~FILE_MODE:
            os.chmod(path, FILE_MODE)


# ---------------------------------------------------------------- making things
def open_file(path: Path, flags: int, *, create: bool = True, exclusive: bool = False) -> int:
    """Open one of the engine's files, never through a link; made (and kept) 0600."""
    flags |= O_NOFOLLOW | O_CLOEXEC
    if create:
        flags |= os.O_CREAT
    if exclusive:
        flags |= os.O_CREAT | os.O_EXCL
    try:
        fd = os.open(path, flags, FILE_MODE)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafeHome(
                f"{path} is a symbolic link that the engine did not make: remove it "
                f"(rm {path}) and start again"
            ) from None
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnsafeHome(f"{path} is not a regular file: move it away and start again")
        if stat.S_IMODE(info.st_mode) != FILE_MODE:
            os.fchmod(fd, FILE_MODE)
    except BaseException:
        os.close(fd)
        raise
    return fd


def write_file(path: Path, data: bytes) -> None:
    """Write a file atomically (a private temporary beside it, then a rename)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)
    fd = open_file(tmp, os.O_WRONLY, exclusive=True)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)
    os.replace(tmp, path)


def make_dirs(base: Path, *names: str) -> Path:
    """``base/names…``, each level made 0700 if missing (and tightened if not), never
    through a link; ``base`` itself must exist."""
    path = Path(base)
    for name in names:
        path = path / name
        with contextlib.suppress(FileExistsError):
            os.mkdir(path, DIR_MODE)
        try:
            fd = os.open(path, os.O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                raise UnsafeHome(
                    f"{path} is not a folder the engine made (a link or a file): move it away "
                    f"(mv {path} {path}.old) and start again"
                ) from None
            raise
        try:
            if stat.S_IMODE(os.fstat(fd).st_mode) != DIR_MODE:
                os.fchmod(fd, DIR_MODE)
        finally:
            os.close(fd)
    return path


def make_host_dirs(path: str) -> None:
    """A missing bind-mount source and its missing parents, each made 0700 (dockerd makes a
    missing source; the lab keeps what it makes owner-only). Existing ones are left alone."""
    missing = []
    current = os.path.abspath(path)
    while not os.path.lexists(current):
        missing.append(current)
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    for folder in reversed(missing):
        os.mkdir(folder, DIR_MODE)
        os.chmod(folder, DIR_MODE)

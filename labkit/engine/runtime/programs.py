"""Finding a program in a container: the ``$PATH`` search ``exec`` does, and what a file runs as.

A file runs as busybox (dispatching on the name it was called by, like the real multi-call
binary), as the hello-world greeting, or, for anything else, as a shell script: that is what
``sh`` does with an executable text file that has no ``#!`` line it can use.
"""

from __future__ import annotations

from labkit.engine.runtime.context import DEFAULT_PATH
from labkit.engine.runtime.rootfs import program_of
from labkit.engine.runtime.vfs import VFS, normpath


def is_executable(fs: VFS, path: str) -> bool:
    """A regular file (after symlinks) with an execute bit set."""
    try:
        info = fs.stat(path, follow_symlinks=True)
    except OSError:
        return False
    return info.kind == "file" and bool(info.mode & 0o111)


def find_executable(
    fs: VFS, name: str, path_env: str | None, cwd: str = "/", require_exec: bool = True
) -> str | None:
    """Where ``name`` runs from: itself if it holds a ``/``, else the first match on PATH.

    With ``require_exec=False`` a name with a ``/`` only has to exist (so that running a
    non-executable file can say ``Permission denied`` instead of ``not found``).
    """
    if not name:
        return None
    if "/" in name:
        path = normpath(name, cwd)
        if require_exec:
            return path if is_executable(fs, path) else None
        return path if fs.exists(path) else None
    for folder in (DEFAULT_PATH if path_env is None else path_env).split(":"):
        path = normpath(f"{folder or '.'}/{name}", cwd)
        if is_executable(fs, path):
            return path
    return None


def program_kind(fs: VFS, path: str) -> str:
    """ "busybox", "hello" or "script": what running this file does."""
    return program_of(fs.read(path)) or "script"

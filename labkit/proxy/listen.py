"""Listening on a Unix socket safely: private from the first moment, stale files cleared.

Shared by the proxies (the recorder, the guard). ``bind()`` creates the socket file
with the umask's mode (often 0755: anyone may connect), so a socket is bound inside a
fresh private folder, made 0600, and only then renamed to its name. An existing file
at that name is removed only if it is a socket nobody answers on.
"""

from __future__ import annotations

import contextlib
import os
import socket
import stat
import tempfile
from pathlib import Path


class ListenError(RuntimeError):
    """The socket cannot be made; the message says why and what to do."""


def bind(sock: socket.socket, path: Path) -> None:
    try:
        sock.bind(str(path))
    except OSError as exc:
        if len(os.fsencode(path)) > 100:
            raise ListenError(
                f"cannot listen on {path}: a Unix socket path must be shorter than about "
                "100 bytes; choose a shorter one (e.g. in /tmp)"
            ) from exc
        raise ListenError(f"cannot listen on {path}: {exc.strerror or exc}") from exc


def bind_private(sock: socket.socket, path: Path) -> None:
    """Bind at ``path`` with mode 0600 from the first moment."""
    if not path.parent.is_dir():
        raise ListenError(f"cannot listen on {path}: the folder {path.parent} does not exist")
    private = Path(tempfile.mkdtemp(prefix=".lk-", dir=path.parent))
    try:
        temporary = private / "s"
        bind(sock, temporary)
        os.chmod(temporary, 0o600)
        sock.listen(64)  # before it has its name: a client that finds it can connect at once
        os.rename(temporary, path)
    finally:
        with contextlib.suppress(OSError):
            private.rmdir()


def clear_stale_socket(path: Path) -> None:
    """Remove a socket file nobody listens on; refuse to touch anything else."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(info.st_mode):
        raise ListenError(f"cannot listen on {path}: it exists and is not a socket")
    if info.st_uid != os.geteuid():
        raise ListenError(
            f"cannot listen on {path}: a socket of another user is there; choose another path"
        )
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(1)
        try:
            probe.connect(str(path))
        except OSError:
            path.unlink()  # stale: left behind by a process that is gone
            return
    raise ListenError(
        f"cannot listen on {path}: something already listens there; stop it or choose another path"
    )


def remove_socket(path: Path) -> None:
    """Remove ``path`` if it is (still) a socket; leave anything else alone."""
    with contextlib.suppress(FileNotFoundError):
        if stat.S_ISSOCK(os.lstat(path).st_mode):
            path.unlink()

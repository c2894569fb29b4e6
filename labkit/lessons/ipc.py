"""Helpers for lesson 01 (sockets and IPC).

The notebook makes every socket call itself; this module does the chores around
them, so that a learner who re-runs a cell never leaves a process or a file behind:

- ``scratch_dir()``: a private temporary folder, removed when the kernel exits;
- ``program_of()``: a function defined in the notebook as a program of its own, so that a
  second process's code reads as highlighted Python in a cell, not as a string;
- ``start_peer()`` / ``Peer.stop()`` / ``stop_all_peers()``: run a second Python
  process from code shown in the notebook, wait until it says it is ready, stop it;
- ``connect_as()``: try ``connect()`` on a Unix socket as another user (root only),
  to show that the socket file's permission bits decide who may connect;
- ``require_open()`` / ``require_running()``: stop a cell that is run again out of
  order with a message naming the cell to run first, instead of a bare
  ``OSError: Bad file descriptor``.

Unix only (Linux and macOS), like the lesson.
"""

from __future__ import annotations

import atexit
import inspect
import os
import pwd
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# A Unix socket path must fit in sun_path: 108 bytes on Linux, 104 on macOS.
# Keep the folder short so that "<folder>/<name>.sock" always fits.
_MAX_FOLDER_LENGTH = 60


class PeerError(RuntimeError):
    """A peer process did not start, or did not say it was ready in time."""


def scratch_dir(prefix: str = "lesson01-") -> Path:
    """Make a private (mode 0700) temporary folder, removed when this process exits.

    Why: socket files must live somewhere; a fresh folder per run means no clash
    with a stale file from an earlier run, and nothing left behind afterwards.
    """
    base = tempfile.gettempdir()
    if len(base) > _MAX_FOLDER_LENGTH and os.path.isdir("/tmp"):
        base = "/tmp"  # macOS's $TMPDIR is long; socket paths are not allowed to be
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=base))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def program_of(function: Callable[..., object]) -> str:
    """The source of ``function`` as a program: the function, then a call with the command
    line's arguments (``python -c program arg1 arg2`` calls ``function("arg1", "arg2")``).

    The function must import what it uses inside its body: the program has nothing else.
    """
    try:
        source = textwrap.dedent(inspect.getsource(function))
    except (OSError, TypeError) as exc:
        raise PeerError(
            f"cannot read the source of {function!r} ({exc}): define it with def in a cell "
            "and run that cell first"
        ) from None
    call = f"if __name__ == '__main__':\n    import sys\n\n    {function.__name__}(*sys.argv[1:])\n"
    return f"{source}\n\n{call}"


@dataclass
class Peer:
    """A second OS process running Python code shown in the notebook."""

    name: str
    process: subprocess.Popen[str]
    announcement: str  # the first line the peer printed: "I am ready, here is where"

    @property
    def pid(self) -> int:
        return self.process.pid

    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 5.0) -> str:
        """Ask the peer to stop (SIGTERM), kill it if it does not; say how it ended.

        Idempotent: stopping a peer that has already ended just reports how it ended.
        """
        if self.running():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=timeout)
        _, stderr = self.process.communicate()
        if _peers.get(self.name) is self:
            del _peers[self.name]
        return _describe_exit(self.name, self.process.returncode, stderr or "")


_peers: dict[str, Peer] = {}


def _describe_exit(name: str, returncode: int, stderr: str) -> str:
    """One line a newcomer can read: how the process ended, and its last words if any."""
    if returncode >= 0:
        summary = f"peer {name!r} exited with code {returncode}"
    else:
        try:
            signame = signal.Signals(-returncode).name
        except ValueError:
            signame = f"signal {-returncode}"
        summary = f"peer {name!r} was stopped by {signame}"
    last_words = [line for line in stderr.strip().splitlines() if line.strip()]
    if last_words:
        summary += f"; the last line it wrote to stderr: {last_words[-1].strip()}"
    return summary


def start_peer(
    name: str,
    code: str | Callable[..., object],
    *args: str | os.PathLike[str],
    timeout: float = 5.0,
) -> Peer:
    """Run ``python -c code args...`` as a new process and wait for its first line.

    ``code`` is a program's text, or a function defined in the notebook (see
    :func:`program_of`).

    The peer's first line on stdout is its announcement that it is ready (for a
    server: that it listens), so the notebook never connects too early. A peer
    started earlier under the same name is stopped first: re-running a cell never
    leaves two behind.
    """
    old = _peers.pop(name, None)
    if old is not None:
        old.stop()
    program = code if isinstance(code, str) else program_of(code)
    argv = [sys.executable, "-c", program, *(os.fspath(a) for a in args)]
    process = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # Reap the peer the moment it ends. When Jupyter shuts a kernel down, ipykernel
    # signals the kernel's child processes and waits until none is left; an unreaped
    # (zombie) peer would make it wait until the kernel is killed, skipping cleanup.
    threading.Thread(target=process.wait, name=f"reap peer {name}", daemon=True).start()
    peer = Peer(name=name, process=process, announcement="")
    _peers[name] = peer
    line = _first_line(process, timeout)
    if not line:
        how = peer.stop()
        raise PeerError(
            f"the peer {name!r} did not say it was ready within {timeout:g} s ({how}); "
            "read its code above for the mistake, fix it and run the cell again"
        )
    peer.announcement = line
    return peer


def _first_line(process: subprocess.Popen[str], timeout: float) -> str:
    """The process's first line on stdout, or "" if it ended or stayed silent too long."""
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    if not ready:
        return ""
    return process.stdout.readline().strip()


def stop_all_peers() -> list[str]:
    """Stop every peer this module started that is still known; say how each ended."""
    return [peer.stop() for peer in list(_peers.values())]


atexit.register(stop_all_peers)


def connect_as(user: str, path: str | os.PathLike[str], timeout: float = 5.0) -> str:
    """Try ``connect()`` to the Unix socket at *path* as *user*; say what happened.

    Only root may become another user. A forked child drops to *user* (its groups,
    then its group, then its user id), tries to connect, writes the outcome to a
    pipe and ends with ``os._exit``; it never runs the rest of the notebook's code.
    Forking (rather than starting a new Python) works even where the Python
    interpreter lives in a folder that *user* may not enter, such as ``/root``.

    Returns ``"connected"`` or ``"<ErrorName>: <reason>"``, e.g.
    ``"PermissionError: Permission denied"``.
    """
    if os.geteuid() != 0:
        raise PermissionError(
            f"only root can act as another user, and this process runs as uid {os.geteuid()}; "
            "a normal user cannot try connect() as someone else"
        )
    account = pwd.getpwnam(user)  # KeyError names the user if there is no such account
    target = os.fspath(path)
    read_end, write_end = os.pipe()
    with warnings.catch_warnings():
        # Python 3.12+ warns that fork() in a process with threads (a Jupyter kernel
        # has some) may deadlock in the child. This child calls only a few system
        # calls on code already loaded, then leaves through os._exit.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # pragma: no cover - the child; its outcome is checked through the pipe
        try:
            os.close(read_end)
            os.write(write_end, _try_connect_as(account, target, timeout).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    try:
        outcome = _read_all(read_end, timeout)
    finally:
        os.close(read_end)
        _reap(pid, timeout)
    return outcome or f"the child acting as {user!r} reported nothing"


def _try_connect_as(account: pwd.struct_passwd, target: str, timeout: float) -> str:
    """In the forked child: become *account*, then try to connect."""
    try:
        os.setgroups([])
        os.setgid(account.pw_gid)
        os.setuid(account.pw_uid)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(target)
    except OSError as exc:
        return f"{type(exc).__name__}: {exc.strerror or exc}"
    return "connected"


def _read_all(fd: int, timeout: float) -> str:
    """Everything written to the pipe until its writer closes it, within *timeout*."""
    deadline = time.monotonic() + timeout
    chunks = []
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return b"".join(chunks).decode(errors="replace")
        ready, _, _ = select.select([fd], [], [], remaining)
        if not ready:
            continue
        data = os.read(fd, 4096)
        if not data:
            return b"".join(chunks).decode(errors="replace")
        chunks.append(data)


def _reap(pid: int, timeout: float) -> None:
    """Wait for the forked child so it leaves no zombie; kill it if it hangs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done:
            return
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)


class RunFirst(RuntimeError):
    """A cell needs something that another cell makes (or a later cell undid).

    Its message names the cell to run first, so that a learner re-running one
    cell of a conversation knows how to get back on track. In a notebook it shows as
    that one message, without a traceback (IPython's ``_render_traceback_``).
    """

    def _render_traceback_(self) -> list[str]:
        return [f"{type(self).__name__}: {self}"]


def require_open(sock: socket.socket, name: str, cell: str) -> None:
    """Raise ``RunFirst`` if *sock* has been closed: a closed socket has fileno() -1."""
    if sock.fileno() == -1:
        raise RunFirst(
            f"the socket {name!r} is closed already (its conversation has ended): "
            f"run the cell in {cell} first, then this one again"
        )


def require_running(peer: Peer, cell: str) -> None:
    """Raise ``RunFirst`` if *peer* has stopped: nothing listens at its address any more."""
    if not peer.running():
        raise RunFirst(
            f"the peer {peer.name!r} has stopped, so nothing listens at its address: "
            f"run the cell in {cell} that starts it first, then this one again"
        )

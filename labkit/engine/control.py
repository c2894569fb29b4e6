"""Starting, stopping and finding the lab engine process: ``labkit engine …``.

The engine runs in the background, in its own session, and keeps everything in
its folder (``labkit.paths.engine_dir()``): ``engine.sock`` (mode 0600),
``engine.pid``, ``engine.log`` and ``engine.lock``. The engine holds the lock for
as long as it lives; the kernel drops it when the process dies, however it dies,
so "is the lock held?" tells a running engine from one that crashed and left
its socket and pidfile behind. Only a socket left that way (ours, and nobody
answering on it) is ever removed; anything else where the socket goes is refused.

Before it starts an engine, :func:`start` checks the lab home (:mod:`private`):
no other user may write to it or own it, and no link the engine did not make may
sit where its files go. Every file here is owner-only.

This module is imported by the ``labkit`` command and by the engine process, so
it imports only the standard library.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from labkit import paths
from labkit.engine import private, statecheck, tcp

SOCKET_NAME = "engine.sock"
PID_NAME = "engine.pid"
LOG_NAME = "engine.log"
LOCK_NAME = "engine.lock"
STATE_NAME = "state.db"
# The files the engine keeps in its folder (the socket aside): each must be ours, a
# regular file, and never a link; ``labkit engine start`` checks them before it starts.
OWN_FILES = (
    PID_NAME,
    LOG_NAME,
    LOG_NAME + ".1",
    LOCK_NAME,
    STATE_NAME,
    STATE_NAME + "-wal",
    STATE_NAME + "-shm",
    STATE_NAME + "-journal",
    tcp.STATE_NAME,
)
# A log bigger than this is moved to engine.log.1 when the engine starts.
LOG_ROTATE_BYTES = 5 << 20
# An engine answers within 0.3 s on an idle machine; 100 starting at the same moment on a
# 2-CPU hub all answer within about 11 s (bench/hub.py). Past this, something is wrong.
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
EXIT_NOT_RUNNING = 3
EXIT_STATE_DAMAGED = 4  # the engine process found its state.db damaged and set it aside


class EngineError(RuntimeError):
    """The lab engine could not be started, found or stopped; the message says why."""


# ---------------------------------------------------------------- where things are
def engine_home(env: dict[str, str] | None = None) -> Path:
    """The engine's folder (made private if missing); an unusable home is an EngineError."""
    home = paths.lab_home_path(env)
    try:
        return paths.engine_dir(env)
    except OSError as exc:
        raise EngineError(home_problem(home, exc)) from None


def home_problem(home: Path, exc: OSError) -> str:
    """One line for a lab home the engine cannot use: what, where, what to do."""
    reason = exc.strerror or str(exc)
    where = exc.filename or home
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return (
            f"the lab home {home} cannot be written ({reason}: {where}); the lab engine keeps "
            "its socket, state and log there: make it writable, or choose another folder, "
            "e.g. export LABKIT_HOME=/tmp/labkit-$USER"
        )
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return (
            f"the lab home {home} is full ({reason}: {where}): free some space there, or "
            "choose another folder, e.g. export LABKIT_HOME=/tmp/labkit-$USER"
        )
    return (
        f"the lab home {home} cannot be used ({reason}: {where}): fix it, or choose another "
        "folder, e.g. export LABKIT_HOME=/tmp/labkit-$USER"
    )


def checked_home(env: dict[str, str] | None = None, files: bool = True) -> Path:
    """The engine's folder, after refusing a home that is not safe (:mod:`private`);
    ``files``: the engine's own files in it too (links, foreign files, the wrong kinds)."""
    home = paths.lab_home_path(env)
    try:
        private.check_home(home)  # before making anything in it
        engine = engine_home(env)
        private.check_home(home, engine)
        if files:
            check_own_files(engine)
    except private.UnsafeHome as exc:
        raise EngineError(str(exc)) from None
    return engine


def check_own_files(home: Path) -> None:
    """The engine's files in ``home`` (its folder): ours, the right kind, never links."""
    try:
        private.check_entries(home, OWN_FILES, sockets=[SOCKET_NAME])
    except private.UnsafeHome as exc:
        raise EngineError(str(exc)) from None
    except OSError as exc:
        raise EngineError(home_problem(home, exc)) from None


def socket_in(home: Path) -> Path:
    return home / SOCKET_NAME


def socket_path(env: dict[str, str] | None = None) -> Path:
    """The lab engine's socket (it may not be running: see :func:`ensure_running`)."""
    path = socket_in(engine_home(env))
    check_socket_path(path)
    return path


def pid_path(home: Path) -> Path:
    return home / PID_NAME


def log_path(home: Path) -> Path:
    return home / LOG_NAME


def check_socket_path(path: Path) -> None:
    """Refuse a socket path the kernel cannot bind (Linux allows 107 bytes, macOS 103)."""
    size = len(os.fsencode(path))
    if size > paths.MAX_SOCKET_PATH:
        raise EngineError(
            f"the lab engine's socket path is {size} bytes long: {path}\n"
            f"Unix socket paths must stay short (Linux allows 107 bytes, macOS 103; "
            f"labkit keeps to {paths.MAX_SOCKET_PATH}).\n"
            "Choose a shorter lab home, for example: export LABKIT_HOME=/tmp/labkit-$USER"
        )


# ---------------------------------------------------------------- lock and pidfile
def acquire_lock(home: Path) -> int | None:
    """Take the engine's lock (a file descriptor to keep open), or None if another holds it."""
    import fcntl

    try:
        fd = private.open_file(home / LOCK_NAME, os.O_RDWR)
    except private.UnsafeHome as exc:
        raise EngineError(str(exc)) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def lock_held(home: Path) -> bool:
    """True while some engine process holds ``home``'s lock."""
    if not (home / LOCK_NAME).exists():
        return False
    fd = acquire_lock(home)
    if fd is None:
        return True
    os.close(fd)
    return False


def write_pidfile(home: Path, pid: int) -> None:
    """Write the pidfile atomically (0600, never through a link): no reader sees half of it."""
    private.write_file(pid_path(home), f"{pid}\n".encode())


def read_pid(home: Path) -> int | None:
    try:
        fd = os.open(pid_path(home), os.O_RDONLY | private.O_NOFOLLOW | private.O_CLOEXEC)
    except OSError:
        return None
    try:
        text = os.read(fd, 64).decode("ascii", "replace").strip()
    except OSError:
        return None
    finally:
        os.close(fd)
    return int(text) if text.isdigit() else None


def socket_identity(sock: Path) -> tuple[int, int] | None:
    """(device, inode) of the socket file at ``sock``, or None if no socket is there."""
    try:
        info = os.lstat(sock)
    except OSError:
        return None
    return (info.st_dev, info.st_ino) if stat.S_ISSOCK(info.st_mode) else None


def remove_if_ours(home: Path, pid: int, sock: Path, bound: tuple[int, int] | None = None) -> None:
    """On a clean exit, remove the socket and the pidfile if they are still this process's
    (the socket only if it is the very file this process bound, when ``bound`` is given)."""
    if read_pid(home) == pid:
        with contextlib.suppress(OSError):
            pid_path(home).unlink()
    if bound is None or socket_identity(sock) == bound:
        with contextlib.suppress(OSError):
            sock.unlink()


def remove_stale_socket(sock: Path) -> bool:
    """Remove a socket a dead engine left behind; True if one was removed.

    Only a socket file of ours that nobody answers on is removed (call this only while
    holding the engine's lock). A regular file, a folder, a link, someone else's socket or
    a socket something listens on is never touched: that is an EngineError saying so.
    """
    try:
        info = os.lstat(sock)
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise EngineError(home_problem(sock.parent, exc)) from None
    if not stat.S_ISSOCK(info.st_mode):
        kind = (
            "a symbolic link" if stat.S_ISLNK(info.st_mode)
            else "a folder" if stat.S_ISDIR(info.st_mode)
            else "a regular file" if stat.S_ISREG(info.st_mode)
            else "something that is not a socket"
        )  # fmt: skip
        raise EngineError(
            f"there is {kind} at {sock}, where the lab engine's socket goes; the engine removes "
            f"only a socket it left behind: move it away (mv {sock} {sock}.old) and start again"
        )
    if info.st_uid != os.geteuid():
        raise EngineError(
            f"the socket {sock} belongs to {private.owner_name(info.st_uid)}, not to you: "
            f"someone else listens where your engine should; remove it (rm {sock}) and start again"
        )
    if _answers(sock):
        raise EngineError(
            f"something that is not this home's lab engine (it holds no lock) listens on {sock}: "
            "stop it, or remove the socket, and start again"
        )
    sock.unlink()
    return True


def _answers(sock: Path) -> bool:
    """Does anything accept a connection on this socket (even without speaking HTTP)?"""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        try:
            probe.connect(os.fspath(sock))
        except OSError:
            return False
    return True


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# ---------------------------------------------------------------- asking the engine
def ping(sock: Path, timeout: float = 1.0) -> bool:
    """Does something answer ``GET /_ping`` with 200 on this socket?"""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(os.fspath(sock))
            s.sendall(b"GET /_ping HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n")
            return s.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


@dataclass
class Status:
    """What we know about the lab engine in one folder."""

    home: Path
    socket: Path
    running: bool
    pid: int | None
    answering: bool
    started_at: float | None = None  # the pidfile's time, written when the engine started
    stale: list[str] = field(default_factory=list)  # files a dead engine left behind

    @property
    def uptime(self) -> float | None:
        return (
            None if self.started_at is None or not self.running else time.time() - self.started_at
        )


def status(env: dict[str, str] | None = None) -> Status:
    home = engine_home(env)
    sock = socket_in(home)
    check_socket_path(sock)
    running = lock_held(home)
    pid = read_pid(home)
    started = None
    with contextlib.suppress(OSError):
        started = pid_path(home).stat().st_mtime
    stale: list[str] = []
    if not running:
        if pid is not None:
            dead = "" if pid_alive(pid) else ", which is no longer running"
            stale.append(f"pidfile {pid_path(home)} (pid {pid}{dead})")
        if sock.exists() or sock.is_symlink():
            stale.append(f"socket {sock}")
    return Status(home, sock, running, pid if running else None,
                  running and ping(sock), started, stale)  # fmt: skip


# ---------------------------------------------------------------- start and stop
@dataclass
class Started:
    socket: Path
    pid: int | None
    already_running: bool
    seconds: float
    recovered: list[str] = field(default_factory=list)
    tcp: tcp.Listening | None = None  # where it also listens on TCP, if it does


def _child_env(env: dict[str, str] | None) -> dict[str, str]:
    """The engine's environment: ours, the caller's overrides, and a path to this labkit."""
    child = dict(os.environ)
    if env is not None:
        child.update(env)
    # Find this very labkit even when it is not installed (a source checkout on PYTHONPATH).
    root = str(Path(__file__).resolve().parents[2])
    parts = [p for p in child.get("PYTHONPATH", "").split(os.pathsep) if p]
    if root not in parts:
        child["PYTHONPATH"] = os.pathsep.join([root, *parts])
    return child


def _rotate_log(path: Path) -> None:
    with contextlib.suppress(OSError):
        if os.lstat(path).st_size > LOG_ROTATE_BYTES:
            os.replace(path, path.with_name(path.name + ".1"))


def _clean_stale(home: Path, sock: Path, strict: bool = True) -> list[str]:
    """Remove what a dead engine left (only called while no engine holds the lock).

    ``strict``: something other than a stale socket where the socket goes is an
    EngineError (``start``); otherwise (``stop``) it is left alone, for ``start`` to report.
    """
    removed = []
    pid = read_pid(home)
    if pid is not None or os.path.lexists(pid_path(home)):
        with contextlib.suppress(OSError):
            pid_path(home).unlink()
            removed.append(f"a stale pidfile (pid {pid}, no longer running)")
    try:
        if remove_stale_socket(sock):
            removed.append(f"a stale socket {sock}")
    except EngineError:
        if strict:
            raise
    return removed


def _last_error(home: Path) -> str:
    """The message of the log's last ERROR line (what the engine said before it gave up)."""
    for line in reversed(log_tail(home, 20).splitlines()):
        _, found, message = line.partition(" ERROR labkit.engine: ")
        if found:
            return message
    return ""


def _open_log(home: Path) -> int:
    """The engine's log, for reading, never through a link the engine did not make."""
    return os.open(log_path(home), os.O_RDONLY | private.O_NOFOLLOW | private.O_CLOEXEC)


def log_tail(home: Path, lines: int = 20) -> str:
    try:
        with os.fdopen(_open_log(home), "r", errors="replace") as f:
            text = f.read()
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def start(
    env: dict[str, str] | None = None,
    timeout: float = START_TIMEOUT,
    *,
    fresh: bool = False,
    listen: tcp.TCPListen | None = None,
) -> Started:
    """Start the engine in the background unless it runs; wait until it answers /_ping.

    A damaged state.db is refused (and kept aside) before anything starts; ``fresh`` starts
    with an empty state, keeping the previous one aside (:mod:`statecheck`). ``listen``: also
    on TCP (:mod:`labkit.engine.tcp` says where it may, and with what).
    """
    t0 = time.monotonic()
    home = checked_home(env)
    sock = socket_in(home)
    check_socket_path(sock)
    if listen is not None:
        try:
            tcp.check(listen)
        except tcp.TCPRefused as exc:
            raise EngineError(str(exc)) from None
    if lock_held(home):
        if fresh:
            raise EngineError(
                "the lab engine is running, so its state cannot be set aside now: stop it "
                "(labkit engine stop), then labkit engine start --fresh"
            )
        # Running, or starting up: wait for it to answer rather than start another.
        _wait_for_ping(home, sock, None, timeout)
        running = tcp.read_state(home)
        _same_listener(running, listen)
        return Started(sock, read_pid(home), True, time.monotonic() - t0, tcp=running)
    try:
        notes = statecheck.check_state(home / STATE_NAME, fresh=fresh)
    except statecheck.StateDamaged as exc:
        raise EngineError(str(exc)) from None
    except OSError as exc:
        raise EngineError(home_problem(paths.lab_home_path(env), exc)) from None
    try:
        recovered = notes + _clean_stale(home, sock)
        logfile = log_path(home)
        _rotate_log(logfile)
        fd = private.open_file(logfile, os.O_WRONLY | os.O_APPEND)
    except private.UnsafeHome as exc:
        raise EngineError(str(exc)) from None
    except OSError as exc:
        raise EngineError(home_problem(paths.lab_home_path(env), exc)) from None
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "labkit.engine", "serve", "--home", str(home)]
            + (["--fresh"] if fresh else [])
            + (listen.args() if listen is not None else []),
            stdin=subprocess.DEVNULL,
            stdout=fd,
            stderr=fd,
            cwd="/",
            env=_child_env(env),
            start_new_session=True,  # a terminal's Ctrl-C or hang-up does not reach it
            close_fds=True,
        )
    finally:
        os.close(fd)
    _reap()
    _children[proc.pid] = proc
    _wait_for_ping(home, sock, proc, timeout)
    started = Started(sock, proc.pid, False, time.monotonic() - t0, recovered)
    started.tcp = tcp.read_state(home)
    return started


def _same_listener(running: tcp.Listening | None, wanted: tcp.TCPListen | None) -> None:
    """An engine already running must already listen as asked; say so if it does not."""
    if wanted is None:
        return
    how = "on its Unix socket only" if running is None else f"on {running.url}"
    stop = "stop it first (labkit engine stop), then start it again with the new options"
    if running is None or running.tls != (wanted.tls is not None):
        tls = " with TLS" if running is not None and running.tls else ""
        raise EngineError(f"the lab engine is already running, {how}{tls}: {stop}")
    host, port = tcp.parse_address(running.url)
    if host != wanted.bind_host() or (wanted.port and port != wanted.port):
        raise EngineError(f"the lab engine is already running, {how}: {stop}")


def _wait_for_ping(
    home: Path, sock: Path, proc: subprocess.Popen[bytes] | None, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    delay = 0.002
    while True:
        if sock.exists() and ping(sock, timeout=max(0.2, min(2.0, deadline - time.monotonic()))):
            return
        if proc is not None and proc.poll() is not None:
            if proc.returncode == 3 and lock_held(home):
                proc = None  # another start won the race: wait for that engine instead
            elif proc.returncode in (EXIT_STATE_DAMAGED, 2):  # it said why in one log line
                raise EngineError(_last_error(home) or log_tail(home))
            else:
                raise EngineError(
                    f"the lab engine exited with code {proc.returncode} before it answered.\n"
                    f"Its log ({log_path(home)}) ends with:\n{log_tail(home)}"
                )
        if time.monotonic() > deadline:
            raise EngineError(
                f"the lab engine did not answer on {sock} within {timeout:.0f} s.\n"
                f"Look at its log: labkit engine logs\n{log_tail(home)}"
            )
        time.sleep(delay)
        delay = min(delay * 2, 0.01)


def ensure_running(env: dict[str, str] | None = None) -> Path:
    """The socket of a running lab engine, started if it was not running."""
    return start(env).socket


@dataclass
class Stopped:
    pid: int | None
    was_running: bool
    killed: bool = False
    removed: list[str] = field(default_factory=list)


def _is_engine(pid: int) -> bool:
    """Best effort: is ``pid`` a lab engine? (Where /proc is missing, trust the lock.)"""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True
    return b"labkit.engine" in cmdline


# Engines this process started: their exit status is collected here, so none stays a zombie.
_children: dict[int, subprocess.Popen[bytes]] = {}


def _reap(pid: int | None = None) -> None:
    """Collect the exit status of engines we started (``pid``'s, or all that have exited)."""
    for child_pid, proc in list(_children.items()):
        if (pid is None or child_pid == pid) and proc.poll() is not None:
            del _children[child_pid]


def _wait_gone(home: Path, pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _reap(pid)
        if not lock_held(home):
            return True
        time.sleep(0.02)
    return not lock_held(home)


def stop(env: dict[str, str] | None = None, timeout: float = STOP_TIMEOUT) -> Stopped:
    """SIGTERM, wait up to ``timeout`` seconds, then SIGKILL."""
    home = checked_home(env, files=False)  # it signals the pid a pidfile names: a safe home
    sock = socket_in(home)
    if not lock_held(home):
        return Stopped(None, False, removed=_clean_stale(home, sock, strict=False))
    pid = read_pid(home)
    if pid is None or not _is_engine(pid):
        raise EngineError(
            f"an engine holds the lock in {home} but its pidfile does not name it; "
            "find it with: fuser -v " + str(home / LOCK_NAME)
        )
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    killed = False
    if not _wait_gone(home, pid, timeout):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        killed = True
        if not _wait_gone(home, pid, 5.0):
            raise EngineError(f"the lab engine (pid {pid}) survived SIGKILL")
    return Stopped(pid, True, killed, _clean_stale(home, sock, strict=False))


# ---------------------------------------------------------------- the labkit command
def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    stp = sub.add_parser("start", help="start the lab engine in the background (if not running)")
    stp.add_argument(
        "--fresh",
        action="store_true",
        help="start with an empty state, keeping the previous state.db aside (renamed, with the "
        "time); the way on when the state was damaged",
    )
    tcp.add_arguments(stp)
    sp = sub.add_parser("stop", help="stop the lab engine (SIGTERM, then SIGKILL)")
    sp.add_argument("--timeout", type=float, default=STOP_TIMEOUT, help="seconds before SIGKILL")
    sub.add_parser("status", help="is the lab engine running? pid, socket, uptime")
    ep = sub.add_parser("env", help="print the shell line that points docker at the lab engine")
    ep.add_argument("--no-start", action="store_true", help="do not start the engine")
    ep.add_argument("--unix", action="store_true", help="the Unix socket's line even if TCP is on")
    lp = sub.add_parser("logs", help="print the lab engine's log")
    lp.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    lp.add_argument("-n", "--tail", type=int, default=None, help="only the last N lines")


def run(args: argparse.Namespace) -> int:
    action = getattr(args, "action", None) or "status"
    try:
        if action == "start":
            return _cmd_start(args)
        if action == "stop":
            return _cmd_stop(args.timeout)
        if action == "status":
            return _cmd_status()
        if action == "env":
            return _cmd_env(args.no_start, args.unix)
        if action == "logs":
            return _cmd_logs(args.follow, args.tail)
    except (EngineError, tcp.TCPRefused) as exc:
        print(f"labkit engine {action}: {exc}", file=sys.stderr)
        return 1
    print(f"labkit engine: unknown action {action!r}", file=sys.stderr)
    return 2


def _cmd_start(args: argparse.Namespace) -> int:
    started = start(fresh=getattr(args, "fresh", False), listen=tcp.from_args(args))
    for note in started.recovered:
        print(note if note.startswith("kept ") else f"recovered: removed {note}")
    if started.already_running:
        print(f"the lab engine is already running (pid {started.pid}) on unix://{started.socket}")
    else:
        print(
            f"the lab engine started (pid {started.pid}) on unix://{started.socket} "
            f"in {started.seconds:.2f} s"
        )
    if started.tcp is not None:
        if started.tcp.tls:
            print(f"and on {started.tcp.where()}, with TLS: only clients with a certificate its CA "
                  "signed get in")  # fmt: skip
        else:
            print(f"and on {started.tcp.where()}, without TLS")
            for line in tcp.warning_lines(started.tcp.url)[1:]:
                print(f"WARNING: {line}", file=sys.stderr)
    print('point docker at it: eval "$(labkit engine env)"')
    return 0


def _cmd_stop(timeout: float) -> int:
    stopped = stop(timeout=timeout)
    if not stopped.was_running:
        print("the lab engine is not running")
    elif stopped.killed:
        print(f"the lab engine (pid {stopped.pid}) ignored SIGTERM for {timeout:.0f} s: killed")
    else:
        print(f"the lab engine (pid {stopped.pid}) stopped")
    for note in stopped.removed:
        print(f"removed {note}")
    return 0


def format_duration(seconds: float) -> str:
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h {minutes}m"
    if hours:
        return f"{hours}h {minutes}m {secs}s"
    if minutes:
        return f"{minutes}m {secs}s"
    return f"{secs}s"


def _cmd_status() -> int:
    st = status()
    if not st.running:
        print("the lab engine is not running")
        for note in st.stale:
            print(f"  left behind by a crash: {note} (labkit engine start cleans it up)")
        print("  start it with: labkit engine start")
        return EXIT_NOT_RUNNING
    mode = ""
    with contextlib.suppress(OSError):
        mode = f" (mode {st.socket.stat().st_mode & 0o777:04o})"
    print("the lab engine is running" + ("" if st.answering else ", but not answering /_ping"))
    print(f"  pid:     {st.pid}")
    print(f"  socket:  unix://{st.socket}{mode}")
    listening = tcp.read_state(st.home)
    if listening is not None:
        how = "TLS, client certificates required" if listening.tls else "no TLS: your programs only"
        print(f"  tcp:     {listening.where()} ({how})")
    if st.uptime is not None:
        print(f"  uptime:  {format_duration(st.uptime)}")
    print(f"  log:     {log_path(st.home)}")
    return 0 if st.answering else 1


def _cmd_env(no_start: bool, unix: bool = False) -> int:
    if no_start:
        sock = socket_path()
    else:
        started = start()
        sock = started.socket
        if not started.already_running:
            print(f"# started the lab engine (pid {started.pid})", file=sys.stderr)
    home = engine_home()
    listening = None if unix or not lock_held(home) else tcp.read_state(home)
    if listening is not None:
        for line in listening.env_lines():
            print(line)
        print("# undo with: unset DOCKER_HOST DOCKER_TLS_VERIFY DOCKER_CERT_PATH")
        return 0
    print(f"export DOCKER_HOST=unix://{sock}")
    print("# undo with: unset DOCKER_HOST")
    return 0


def _cmd_logs(follow: bool, tail: int | None) -> int:
    home = engine_home()
    path = log_path(home)
    try:
        f = os.fdopen(_open_log(home), "r", errors="replace")
    except FileNotFoundError:
        print(f"no log yet at {path}: the lab engine has not been started", file=sys.stderr)
        return 1
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            print(f"{path} is a symbolic link the engine did not make: not read", file=sys.stderr)
        else:
            print(f"cannot read {path}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    with f:
        lines = f.readlines()
        if tail is not None:
            lines = lines[-tail:] if tail > 0 else []
        sys.stdout.writelines(lines)
        sys.stdout.flush()
        while follow:
            line = f.readline()
            if line:
                sys.stdout.write(line)
                sys.stdout.flush()
            else:
                time.sleep(0.2)
    return 0

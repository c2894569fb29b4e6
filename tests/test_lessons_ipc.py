"""labkit.lessons.ipc: the chores around lesson 01's socket cells."""

from __future__ import annotations

import os
import pwd
import socket
import stat
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from labkit.lessons import ipc

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="Unix sockets and fork")

READY_THEN_WAIT = "import time\nprint('ready', flush=True)\ntime.sleep(60)\n"
CLEAN_ON_SIGTERM = (
    "import signal, sys, time\n"
    "signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))\n"
    "print('listening on nothing', flush=True)\n"
    "time.sleep(60)\n"
)


@pytest.fixture(autouse=True)
def no_peers_left() -> Iterator[None]:
    yield
    ipc.stop_all_peers()


@pytest.fixture
def scratch() -> Iterator[Path]:
    path = ipc.scratch_dir(prefix="t-ipc-")
    yield path
    if path.exists():
        path.chmod(0o700)
        for child in path.iterdir():
            child.unlink()
        path.rmdir()


def test_scratch_dir_is_private_fresh_and_short(scratch: Path) -> None:
    other = ipc.scratch_dir(prefix="t-ipc-")
    try:
        assert scratch.is_dir() and other.is_dir() and scratch != other
        assert stat.S_IMODE(scratch.stat().st_mode) == 0o700
        assert list(scratch.iterdir()) == []
        # room left for "<folder>/guarded.sock" under macOS's 104-byte limit
        assert len(str(scratch / "guarded.sock")) < 104
    finally:
        other.rmdir()


def test_start_peer_waits_for_the_announcement(scratch: Path) -> None:
    peer = ipc.start_peer("t-wait", READY_THEN_WAIT)
    assert peer.announcement == "ready"
    assert peer.running()
    assert peer.pid == peer.process.pid != os.getpid()


def test_start_peer_passes_arguments_as_strings(scratch: Path) -> None:
    code = "import sys\nprint('args', *sys.argv[1:], flush=True)\n"
    peer = ipc.start_peer("t-args", code, scratch / "x.sock", "tcp")
    assert peer.announcement == f"args {scratch / 'x.sock'} tcp"


def test_stop_reports_a_clean_exit_and_is_idempotent() -> None:
    peer = ipc.start_peer("t-clean", CLEAN_ON_SIGTERM)
    assert peer.announcement == "listening on nothing"
    assert peer.stop() == "peer 't-clean' exited with code 0"
    assert not peer.running()
    assert peer.stop() == "peer 't-clean' exited with code 0"


def test_stop_names_the_signal_when_the_peer_does_not_handle_it() -> None:
    peer = ipc.start_peer("t-sig", READY_THEN_WAIT)
    assert peer.stop() == "peer 't-sig' was stopped by SIGTERM"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux)")
def test_a_peer_that_ends_by_itself_is_reaped_without_a_wait() -> None:
    """No zombie: ipykernel's shutdown waits for every child it can still see."""
    peer = ipc.start_peer("t-reap", "print('ready', flush=True)\n")
    proc_entry = Path(f"/proc/{peer.pid}")
    deadline = time.monotonic() + 10
    while proc_entry.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not proc_entry.exists(), f"process {peer.pid} was not reaped"
    assert peer.stop() == "peer 't-reap' exited with code 0"


def test_a_second_start_under_the_same_name_stops_the_first() -> None:
    first = ipc.start_peer("t-same", READY_THEN_WAIT)
    second = ipc.start_peer("t-same", READY_THEN_WAIT)
    assert not first.running()
    assert second.running()
    other = ipc.start_peer("t-other", READY_THEN_WAIT)
    assert second.running() and other.running()


def test_stop_all_peers_stops_every_running_peer() -> None:
    peers = [ipc.start_peer(f"t-all-{i}", READY_THEN_WAIT) for i in range(2)]
    reports = ipc.stop_all_peers()
    assert sorted(reports) == [
        "peer 't-all-0' was stopped by SIGTERM",
        "peer 't-all-1' was stopped by SIGTERM",
    ]
    assert not any(p.running() for p in peers)
    assert ipc.stop_all_peers() == []


def test_a_peer_that_crashes_before_it_is_ready_raises_with_its_last_words() -> None:
    code = "raise SystemExit('cannot bind: address in use')\n"
    with pytest.raises(ipc.PeerError) as info:
        ipc.start_peer("t-crash", code)
    message = str(info.value)
    assert "did not say it was ready" in message
    assert "exited with code 1" in message
    assert "cannot bind: address in use" in message
    assert ipc.stop_all_peers() == []


def test_a_silent_peer_is_stopped_after_the_timeout() -> None:
    with pytest.raises(ipc.PeerError, match="was stopped by SIGTERM"):
        ipc.start_peer("t-silent", "import time\ntime.sleep(60)\n", timeout=0.3)
    assert ipc.stop_all_peers() == []


def test_a_real_chat_peer_over_a_unix_socket(scratch: Path) -> None:
    """The pattern the notebook uses: peer binds, announces, answers; stop removes its file."""
    code = (
        "import os, signal, socket, sys\n"
        "signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))\n"
        "path = sys.argv[1]\n"
        "server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
        "server.bind(path)\n"
        "server.listen()\n"
        "print('listening on', path, flush=True)\n"
        "try:\n"
        "    while True:\n"
        "        conn, _ = server.accept()\n"
        "        with conn:\n"
        "            conn.sendall(conn.recv(100).upper())\n"
        "finally:\n"
        "    os.unlink(path)\n"
    )
    path = scratch / "t.sock"
    peer = ipc.start_peer("t-chat", code, path)
    assert peer.announcement == f"listening on {path}"
    assert stat.S_ISSOCK(path.stat().st_mode)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(5)
        conn.connect(str(path))
        conn.sendall(b"hi\n")
        assert conn.recv(100) == b"HI\n"
    assert peer.stop() == "peer 't-chat' exited with code 0"
    assert not path.exists()


@pytest.mark.parametrize(
    ("returncode", "stderr", "expected"),
    [
        (0, "", "peer 'p' exited with code 0"),
        (
            2,
            "Traceback\n  ...\nOSError: boom\n\n",
            "peer 'p' exited with code 2; the last line it wrote to stderr: OSError: boom",
        ),
        (-9, "", "peer 'p' was stopped by SIGKILL"),
        (-250, "", "peer 'p' was stopped by signal 250"),
    ],
)
def test_describe_exit(returncode: int, stderr: str, expected: str) -> None:
    assert ipc._describe_exit("p", returncode, stderr) == expected


def test_connect_as_needs_root(monkeypatch: pytest.MonkeyPatch, scratch: Path) -> None:
    monkeypatch.setattr(ipc.os, "geteuid", lambda: 1000)
    with pytest.raises(PermissionError, match="only root can act as another user"):
        ipc.connect_as("nobody", scratch / "x.sock")


def _nobody() -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam("nobody")
    except KeyError:
        return None


needs_root_and_nobody = pytest.mark.skipif(
    os.geteuid() != 0 or _nobody() is None,
    reason="acting as another user needs root and a 'nobody' account",
)


@needs_root_and_nobody
def test_connect_as_obeys_the_socket_files_write_bit(scratch: Path) -> None:
    scratch.chmod(0o711)  # others may pass through the folder, so only the socket's bits decide
    path = scratch / "guarded.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(str(path))
        listener.listen(8)
        path.chmod(0o666)
        assert ipc.connect_as("nobody", path) == "connected"
        path.chmod(0o600)
        assert ipc.connect_as("nobody", path) == "PermissionError: Permission denied"
        path.chmod(0o000)
        assert ipc.connect_as("root", path) == "connected"


@needs_root_and_nobody
def test_connect_as_reports_a_missing_socket_and_a_closed_folder(scratch: Path) -> None:
    scratch.chmod(0o711)
    assert ipc.connect_as("nobody", scratch / "missing.sock") == (
        "FileNotFoundError: No such file or directory"
    )
    scratch.chmod(0o700)
    assert ipc.connect_as("nobody", scratch / "missing.sock") == (
        "PermissionError: Permission denied"
    )


@needs_root_and_nobody
def test_connect_as_names_an_unknown_user(scratch: Path) -> None:
    with pytest.raises(KeyError):
        ipc.connect_as("no-such-user-labkit", scratch / "x.sock")


def test_require_open_passes_an_open_socket_and_names_the_cell_for_a_closed_one() -> None:
    left, right = socket.socketpair()
    try:
        ipc.require_open(left, "conn", "2.3")  # open: nothing happens
        left.close()
        with pytest.raises(ipc.RunFirst, match=r"'conn' is closed.*run the cell in 2\.3 first"):
            ipc.require_open(left, "conn", "2.3")
    finally:
        right.close()


def test_require_running_names_the_cell_that_starts_a_stopped_peer() -> None:
    peer = ipc.start_peer("t-require", READY_THEN_WAIT)
    ipc.require_running(peer, "2.1")  # running: nothing happens
    peer.stop()
    with pytest.raises(ipc.RunFirst, match=r"'t-require' has stopped.*cell in 2\.1 that starts it"):
        ipc.require_running(peer, "2.1")

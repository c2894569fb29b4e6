"""The lab engine's files are owner-only, and a lab home others could tamper with is refused.

On a shared hub every learner runs an engine in their own ``LABKIT_HOME``. Another user must
not read its state, logs or volumes, nor move its socket away and listen in its place, nor
aim its log at a file of their choosing with a planted symlink. So: everything the engine
makes is 0700/0600 whatever the umask (``umask 0`` tried here), and ``labkit engine start``
refuses, in one line that says what to do, a home that another user can write to or owns,
and any link or foreign file where the engine's own files go. Tests that need a second
local user run as root (``useradd``) and skip, saying why, otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from engine_fixtures import short_tempdir

from labkit.engine import control, private

pytestmark = pytest.mark.lab_engine

IS_ROOT = os.geteuid() == 0


def labkit(home: Path, *args: str, umask: int = -1) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LABKIT_HOME": str(home)}
    env.pop("DOCKER_HOST", None)
    return subprocess.run(
        [sys.executable, "-m", "labkit", *args],
        env=env, capture_output=True, text=True, timeout=60, umask=umask,
    )  # fmt: skip


@pytest.fixture
def base() -> Iterator[Path]:
    """A private folder to make lab homes in; every engine started there is stopped after."""
    folder = short_tempdir("lkh")
    yield folder
    for top, dirs, _files in os.walk(folder):  # homes at any depth (parent/home, shared/mine)
        if "engine" in dirs and not Path(top, "engine").is_symlink():
            with contextlib.suppress(control.EngineError):
                control.stop({"LABKIT_HOME": top}, timeout=5)
    _kill_engines_under(folder)  # whatever a refused or damaged home kept from stopping
    subprocess.run(["rm", "-rf", str(folder)], check=False)


def _kill_engines_under(folder: Path) -> None:
    """End every engine process whose home is under ``folder`` (found by its command line)."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"labkit.engine" in argv and any(a.startswith(str(folder).encode()) for a in argv):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(proc.name), signal.SIGKILL)


def assert_one_line_refusal(out: subprocess.CompletedProcess[str], *words: str) -> None:
    assert out.returncode != 0, out.stdout
    assert "Traceback" not in out.stderr, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    for word in words:
        assert word in lines[0], lines[0]


def modes_under(folder: Path) -> dict[str, int]:
    out = {}
    for path in [folder, *folder.rglob("*")]:
        out[str(path.relative_to(folder))] = path.lstat().st_mode
    return out


def assert_owner_only(folder: Path) -> None:
    for name, mode in modes_under(folder).items():
        if stat.S_ISDIR(mode):
            assert stat.S_IMODE(mode) == 0o700, f"{name}: {stat.S_IMODE(mode):o}"
        elif stat.S_ISLNK(mode):
            continue  # a container's own links in a volume: their mode means nothing
        else:
            assert stat.S_IMODE(mode) & 0o077 == 0, f"{name}: {stat.S_IMODE(mode):o}"


# ----------------------------------------------------------------- owner-only, any umask
def test_everything_the_engine_makes_is_owner_only_under_umask_0(base: Path) -> None:
    """The CLI, the engine process and SQLite all run under ``umask 0``: still 0700/0600."""
    home = base / "deep" / "home"  # missing parents are made by labkit too
    started = labkit(home, "engine", "start", umask=0)
    assert started.returncode == 0, started.stderr
    import docker

    sdk = docker.DockerClient(base_url=f"unix://{home}/engine/engine.sock", timeout=30)
    try:
        sdk.images.pull("busybox", tag="latest")
        sdk.volumes.create("data")
        run = sdk.containers.run(
            "busybox",
            ["sh", "-c", "mkdir -p /v/d && echo hi > /v/d/f && chmod 777 /v/d && echo logged"],
            volumes={"data": {"bind": "/v"}, str(base / "made-by-bind"): {"bind": "/b"}},
            detach=True,
        )
        assert run.wait(timeout=30)["StatusCode"] == 0
        assert run.logs() == b"logged\n"
        running = sdk.containers.run("busybox", ["sleep", "600"], detach=True)
        assert running.exec_run(["sh", "-c", "echo x > /tmp/x"]).exit_code == 0
        running.rename("renamed")
        sdk.networks.create("net")
    finally:
        sdk.close()
    assert labkit(home, "engine", "stop").returncode == 0
    for name in ("state.db", "engine.log", "engine.lock"):
        assert (home / "engine" / name).exists(), name
    assert_owner_only(home)
    assert_owner_only(base / "deep")
    assert stat.S_IMODE((base / "made-by-bind").stat().st_mode) == 0o700  # bind bookkeeping


def test_sqlites_later_files_are_owner_only(tmp_path: Path) -> None:
    """The model alone, in this process, under umask 0: state.db, -wal and -shm are 0600."""
    from labkit.engine.model import Engine

    old = os.umask(0)
    try:

        async def go() -> None:
            engine = await Engine.open(tmp_path / "engine")
            try:
                engine.create_volume("vol", None)
                for name in ("state.db", "state.db-wal", "state.db-shm"):
                    mode = stat.S_IMODE((tmp_path / "engine" / name).stat().st_mode)
                    assert mode == 0o600, f"{name}: {mode:o}"
            finally:
                await engine.close()

        asyncio.run(go())
    finally:
        os.umask(old)
    assert_owner_only(tmp_path / "engine")


def test_older_looser_files_are_tightened_at_start(base: Path) -> None:
    home = base / "home"
    engine_dir = home / "engine"
    engine_dir.mkdir(parents=True)
    os.chmod(engine_dir, 0o755)
    for name in ("engine.log", "state.db"):
        (engine_dir / name).write_bytes(b"")
        os.chmod(engine_dir / name, 0o644)
    assert labkit(home, "engine", "start").returncode == 0
    assert_owner_only(engine_dir)


# ----------------------------------------------------------------- homes others can write
@pytest.mark.parametrize(
    ("level", "mode", "words"),
    [
        ("home", 0o777, ("writable by everyone", "chmod 700")),
        ("home", 0o770, ("writable by its group", "chmod 700")),
        ("engine", 0o733, ("writable by everyone", "chmod 700")),
        ("parent", 0o777, ("writable by everyone", "no sticky bit", "chmod go-w")),
    ],
)
def test_a_home_others_can_write_to_is_refused(base: Path, level: str, mode: int, words) -> None:
    parent = base / "parent"
    home = parent / "home"
    (home / "engine").mkdir(parents=True)
    target = {"home": home, "engine": home / "engine", "parent": parent}[level]
    os.chmod(target, mode)
    out = labkit(home, "engine", "start")
    assert_one_line_refusal(out, str(target), *words)
    assert not (home / "engine" / "engine.sock").exists()
    assert stat.S_IMODE(target.stat().st_mode) == mode  # reported, not silently changed
    os.chmod(target, 0o700 if level != "parent" else 0o755)
    assert labkit(home, "engine", "start").returncode == 0  # the fix it names works


def test_a_sticky_shared_parent_like_tmp_is_fine(base: Path) -> None:
    shared = base / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)
    out = labkit(shared / "mine", "engine", "start")
    assert out.returncode == 0, out.stderr


@pytest.mark.parametrize(
    "name", ["engine.log", "engine.pid", "engine.lock", "state.db", "state.db-wal", "engine.sock"]
)
def test_a_planted_symlink_where_an_engine_file_goes_is_refused(base: Path, name: str) -> None:
    home = base / "home"
    (home / "engine").mkdir(parents=True)
    victim = base / "victim"
    victim.write_bytes(b"not yours\n")
    os.symlink(victim, home / "engine" / name)
    out = labkit(home, "engine", "start")
    assert_one_line_refusal(out, str(home / "engine" / name), "symbolic link", "rm ")
    assert victim.read_bytes() == b"not yours\n"
    assert (home / "engine" / name).is_symlink()  # left for the learner to look at


def test_a_planted_symlink_as_the_engine_folder_is_refused(base: Path) -> None:
    home = base / "home"
    home.mkdir()
    elsewhere = base / "elsewhere"
    elsewhere.mkdir()
    os.symlink(elsewhere, home / "engine")
    out = labkit(home, "engine", "start")
    assert_one_line_refusal(out, "symbolic link", "rm ")
    assert list(elsewhere.iterdir()) == []


def test_files_are_opened_without_following_links(base: Path) -> None:
    """Even past the checks (a race), the engine's own opens refuse a link."""
    victim = base / "victim"
    victim.write_bytes(b"keep\n")
    os.symlink(victim, base / "engine.log")
    with pytest.raises(private.UnsafeHome, match="symbolic link"):
        private.open_file(base / "engine.log", os.O_WRONLY | os.O_APPEND)
    os.symlink(victim, base / f".engine.pid.{os.getpid()}")
    control.write_pidfile(base, 4242)  # its temporary name was taken by a link: replaced
    assert victim.read_bytes() == b"keep\n"
    assert control.read_pid(base) == 4242


# ----------------------------------------------------------------- what sits where the socket goes
@pytest.mark.parametrize("kind", ["file", "folder", "link", "live socket"])
def test_only_a_stale_socket_of_ours_is_removed(base: Path, kind: str) -> None:
    home = base / "home"
    engine_dir = home / "engine"
    engine_dir.mkdir(parents=True, mode=0o700)
    sock = engine_dir / "engine.sock"
    listener = None
    if kind == "file":
        sock.write_bytes(b"my notes\n")
    elif kind == "folder":
        sock.mkdir()
    elif kind == "link":
        os.symlink(base / "elsewhere.sock", sock)
    else:
        listener = socket.socket(socket.AF_UNIX)
        listener.bind(str(sock))
        listener.listen(1)
    try:
        out = labkit(home, "engine", "start")
        assert_one_line_refusal(out, str(sock))
        assert os.path.lexists(sock)
        if kind == "file":
            assert sock.read_bytes() == b"my notes\n"
    finally:
        if listener is not None:
            listener.close()
    if kind == "live socket":  # once nobody answers, it is a stale socket of ours: removed
        out = labkit(home, "engine", "start")
        assert out.returncode == 0, out.stderr
        assert "removed a stale socket" in out.stdout


def test_the_engine_process_refuses_the_same_things(base: Path) -> None:
    engine_dir = base / "home" / "engine"
    engine_dir.mkdir(parents=True)
    (engine_dir / "engine.sock").write_bytes(b"x")
    out = subprocess.run(
        [sys.executable, "-m", "labkit.engine", "serve", "--home", str(engine_dir)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "is not a socket" in out.stderr
    assert (engine_dir / "engine.sock").read_bytes() == b"x"


# ----------------------------------------------------------------- a read-only home
def test_a_read_only_home_is_one_line(base: Path) -> None:
    home = base / "ro"
    home.mkdir()
    if IS_ROOT:  # root writes through modes: use a file system mounted read-only
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=1m,ro,mode=700", "tmpfs", str(home)],
            capture_output=True, text=True,
        )  # fmt: skip
        if mounted.returncode != 0:
            pytest.skip(f"cannot mount a read-only tmpfs: {mounted.stderr.strip()}")
    else:
        os.chmod(home, 0o500)
    try:
        out = labkit(home, "engine", "start")
        assert_one_line_refusal(out, str(home), "cannot be written", "LABKIT_HOME")
        status = labkit(home, "engine", "status")
        assert "Traceback" not in status.stderr
    finally:
        if IS_ROOT:
            subprocess.run(["umount", str(home)], check=False)
        else:
            os.chmod(home, 0o700)


# ----------------------------------------------------------------- a second local user
@dataclass
class OtherUser:
    name: str
    uid: int
    gid: int

    python: str

    def run(self, code: str) -> subprocess.CompletedProcess[str]:
        """Python (standard library only) run as this user."""
        return subprocess.run(
            [self.python, "-I", "-c", code],
            user=self.uid, group=self.gid, extra_groups=[],
            capture_output=True, text=True, timeout=30, cwd="/",
        )  # fmt: skip


def _python_for_anyone() -> str:
    """A Python interpreter every user may run (this venv's may sit in root's home)."""
    for candidate in (
        os.path.realpath(sys.executable),
        "/usr/bin/python3",
        "/usr/local/bin/python3",
    ):
        path = Path(candidate)
        if path.exists() and all(
            p.stat().st_mode & stat.S_IXOTH for p in [path, *path.parents] if p != Path("/")
        ):
            return str(path)
    pytest.skip("no Python interpreter that a second user may run")


@pytest.fixture
def other_user() -> Iterator[OtherUser]:
    """A second local user (root only), removed afterwards."""
    if not IS_ROOT:
        pytest.skip("needs root to add a second local user (useradd)")
    if shutil.which("useradd") is None or shutil.which("userdel") is None:
        pytest.skip("useradd/userdel are not installed")
    name = "lkt" + secrets.token_hex(4)
    made = subprocess.run(
        ["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
        capture_output=True, text=True,
    )  # fmt: skip
    if made.returncode != 0:
        pytest.skip(f"useradd failed: {made.stderr.strip()}")
    import pwd

    entry = pwd.getpwnam(name)
    try:
        yield OtherUser(name, entry.pw_uid, entry.pw_gid, _python_for_anyone())
    finally:
        subprocess.run(["userdel", name], check=False, capture_output=True)


def test_a_home_owned_by_another_user_is_refused(base: Path, other_user: OtherUser) -> None:
    home = base / "theirs"
    (home / "engine").mkdir(parents=True, mode=0o700)
    os.chown(home, other_user.uid, other_user.gid)
    out = labkit(home, "engine", "start")
    assert_one_line_refusal(out, str(home), "belongs to", other_user.name, "LABKIT_HOME")


def test_a_file_another_user_planted_is_refused(base: Path, other_user: OtherUser) -> None:
    home = base / "home"
    (home / "engine").mkdir(parents=True)
    planted = home / "engine" / "engine.log"
    planted.write_bytes(b"")
    os.chown(planted, other_user.uid, other_user.gid)
    out = labkit(home, "engine", "start")
    assert_one_line_refusal(out, str(planted), "belongs to", other_user.name)


def test_another_user_can_neither_read_nor_connect(base: Path, other_user: OtherUser) -> None:
    """Even with a lab home others may list (0755), the engine's folder and files are shut."""
    home = base / "home"
    home.mkdir()
    os.chmod(base, 0o755)
    os.chmod(home, 0o755)
    assert labkit(home, "engine", "start").returncode == 0
    engine_dir = home / "engine"
    probe = f"""
import os, socket
tries = {{}}
for name in ("state.db", "state.db-wal", "engine.log", "engine.pid"):
    try:
        open({str(engine_dir)!r} + "/" + name, "rb").read(1)
        tries[name] = "read"
    except OSError as exc:
        tries[name] = exc.errno
try:
    os.listdir({str(engine_dir)!r})
    tries["list"] = "listed"
except OSError as exc:
    tries["list"] = exc.errno
s = socket.socket(socket.AF_UNIX)
try:
    s.connect({str(engine_dir / "engine.sock")!r})
    tries["connect"] = "connected"
except OSError as exc:
    tries["connect"] = exc.errno
print(tries)
"""
    out = other_user.run(probe)
    assert out.returncode == 0, out.stderr
    import errno

    tries = eval(out.stdout)  # a dict of names to errno numbers, printed by the probe
    assert set(tries.values()) == {errno.EACCES}, tries

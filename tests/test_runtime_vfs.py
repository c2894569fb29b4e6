"""A container's filesystem: image layer, container layer, whiteouts, persistence, bind mounts."""

from __future__ import annotations

import errno
import json
import os
import tracemalloc
from pathlib import Path

import pytest

from labkit.engine.runtime import VFS, Process, image_rootfs
from labkit.engine.runtime.rootfs import APPLETS, BUSYBOX_PROGRAM, HELLO_PROGRAM, program_of
from labkit.engine.runtime.vfs import normpath

T0 = 1795830000.0


def busybox(**kw) -> VFS:
    return VFS(image_rootfs("busybox"), clock=lambda: T0, **kw)


# ----- images -----------------------------------------------------------------------------


def test_images_are_built_once_and_shared() -> None:
    assert image_rootfs("busybox") is image_rootfs("busybox:latest")
    assert image_rootfs("docker.io/library/alpine:3.20") is image_rootfs("alpine")


def test_unknown_image_is_a_key_error_naming_the_known_ones() -> None:
    with pytest.raises(KeyError, match="busybox"):
        image_rootfs("ubuntu")


def test_busybox_tree_looks_like_the_real_image() -> None:
    fs = busybox()
    for path in ("/bin", "/etc", "/root", "/tmp", "/home", "/usr/bin", "/var"):
        assert fs.is_dir(path), path
    assert fs.stat("/tmp").mode == 0o1777
    assert fs.read("/bin/busybox") == BUSYBOX_PROGRAM
    for name in APPLETS:
        info = fs.stat(f"/bin/{name}")
        assert (info.kind, info.target) == ("link", "busybox")
    assert fs.stat("/bin/sh", follow_symlinks=True).mode == 0o755
    passwd = fs.read("/etc/passwd").decode()
    assert passwd.startswith("root:x:0:0:") and "nobody:" in passwd
    assert b"root:x:0:" in fs.read("/etc/group")


def test_alpine_says_it_is_a_stand_in() -> None:
    text = VFS(image_rootfs("alpine")).read("/etc/os-release").decode()
    assert "ID=alpine" in text and "VERSION_ID=" in text and "labkit" in text


def test_hello_world_holds_only_the_program_and_mount_points() -> None:
    fs = VFS(image_rootfs("hello-world"))
    assert fs.listdir("/") == ["dev", "etc", "hello", "proc", "sys"]
    assert program_of(fs.read("/hello")) == "hello"
    assert fs.read("/hello") == HELLO_PROGRAM
    assert not fs.exists("/bin/sh")


# ----- paths and errors -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "cwd", "expected"),
    [
        ("/etc/../etc//passwd", "/", "/etc/passwd"),
        ("./a/./b/", "/tmp", "/tmp/a/b"),
        ("../../..", "/a/b", "/"),
        ("//x///y", "/", "/x/y"),
        ("", "/root", "/root"),
    ],
)
def test_normpath(path: str, cwd: str, expected: str) -> None:
    assert normpath(path, cwd) == expected


def test_reads_follow_symlinks_and_normalise() -> None:
    fs = busybox()
    assert fs.read("/bin/ls") == BUSYBOX_PROGRAM
    assert fs.read("/tmp/../etc/./passwd").startswith(b"root:")
    assert fs.listdir("/usr/../bin/")[0] == "["


@pytest.mark.parametrize(
    ("op", "exc", "message"),
    [
        (lambda fs: fs.read("/nope"), FileNotFoundError, "/nope: No such file or directory"),
        (lambda fs: fs.read("/etc"), IsADirectoryError, "/etc: Is a directory"),
        (lambda fs: fs.listdir("/etc/passwd"), NotADirectoryError, "/etc/passwd: Not a directory"),
        (lambda fs: fs.read("/etc/passwd/x"), NotADirectoryError, "Not a directory"),
        (lambda fs: fs.write("/no/dir/f", b""), FileNotFoundError, "No such file or directory"),
        (lambda fs: fs.mkdir("/etc"), FileExistsError, "/etc: File exists"),
        (lambda fs: fs.remove("/etc"), IsADirectoryError, "/etc: Is a directory"),
        (lambda fs: fs.remove("/"), OSError, "Device or resource busy"),
        (lambda fs: fs.rmdir("/etc"), OSError, "/etc: Directory not empty"),
    ],
)
def test_errors_carry_the_container_path_and_a_shell_like_message(op, exc, message) -> None:
    with pytest.raises(exc) as info:
        op(busybox())
    assert message in str(info.value)


def test_symlink_loops_are_reported() -> None:
    fs = busybox()
    fs.symlink("/tmp/b", "/tmp/a")
    fs.symlink("/tmp/a", "/tmp/b")
    with pytest.raises(OSError) as info:
        fs.read("/tmp/a")
    assert info.value.errno == errno.ELOOP


def test_dev_null_swallows_writes() -> None:
    fs = busybox()
    fs.write("/dev/null", b"gone")
    assert fs.read("/dev/null") == b""
    assert fs.changes() == []


# ----- the container layer ----------------------------------------------------------------


def test_writes_stay_in_the_container_layer() -> None:
    one, two = busybox(), busybox()
    one.write("/etc/passwd", b"changed\n")
    one.write("/tmp/new", b"a")
    one.write("/tmp/new", b"b", append=True)
    assert one.read("/etc/passwd") == b"changed\n"
    assert one.read("/tmp/new") == b"ab"
    assert two.read("/etc/passwd").startswith(b"root:")
    assert not two.exists("/tmp/new")
    assert image_rootfs("busybox").get("/tmp/new") is None


def test_new_file_stat() -> None:
    fs = busybox()
    fs.write("/tmp/x", b"12345", mode=0o600)
    info = fs.stat("/tmp/x")
    assert (info.kind, info.size, info.mode, info.mtime) == ("file", 5, 0o600, T0)


def test_deleting_an_image_file_leaves_a_whiteout() -> None:
    fs = busybox()
    fs.remove("/etc/group")
    assert not fs.exists("/etc/group")
    assert "group" not in fs.listdir("/etc")
    assert fs.changes() == [(0, "/etc"), (2, "/etc/group")]
    fs.write("/etc/group", b"back\n")
    assert fs.read("/etc/group") == b"back\n"
    assert fs.changes() == [(0, "/etc"), (0, "/etc/group")]


def test_a_directory_deleted_and_made_again_is_empty() -> None:
    fs = busybox()
    fs.remove("/etc", recursive=True)
    assert not fs.exists("/etc/passwd")
    assert fs.changes() == [(2, "/etc")]
    fs.mkdir("/etc")
    assert fs.listdir("/etc") == []
    assert not fs.exists("/etc/passwd")
    fs.write("/etc/motd", b"hi")
    assert fs.listdir("/etc") == ["motd"]


def test_deleting_a_new_file_leaves_no_trace() -> None:
    fs = busybox()
    fs.mkdir("/data")
    fs.write("/data/f", b"x")
    fs.remove("/data", recursive=True)
    assert fs.changes() == []
    assert fs.upper_state()["entries"] == {}


def test_changes_are_what_docker_diff_shows() -> None:
    fs = busybox()
    fs.write("/etc/hostname", b"abc123\n")  # docker's own mount: never reported
    assert fs.changes() == []
    fs.mkdir("/tmp/d")
    fs.write("/tmp/d/f", b"x")
    fs.write("/root/.ash_history", b"ls\n")
    fs.touch("/etc/passwd")
    assert fs.changes() == [
        (0, "/etc"),
        (0, "/etc/passwd"),
        (0, "/root"),
        (1, "/root/.ash_history"),
        (0, "/tmp"),
        (1, "/tmp/d"),
        (1, "/tmp/d/f"),
    ]


def test_mkdir_parents_and_walk() -> None:
    fs = busybox()
    fs.mkdir("/a/b/c", parents=True)
    fs.mkdir("/a/b/c", parents=True)  # already there: fine
    fs.write("/a/b/c/f", b"1")
    assert [p for p, _ in fs.walk("/a")] == ["/a", "/a/b", "/a/b/c", "/a/b/c/f"]


def test_chmod_and_symlink_in_the_container_layer() -> None:
    fs = busybox()
    fs.write("/tmp/run", b"echo hi\n")
    fs.chmod("/tmp/run", 0o755)
    fs.symlink("run", "/tmp/link")
    assert fs.stat("/tmp/link", follow_symlinks=True).mode == 0o755
    assert fs.readlink("/tmp/link") == "run"


# ----- persistence ------------------------------------------------------------------------


def test_generation_counts_changes_to_the_container_layer(tmp_path: Path) -> None:
    fs = busybox(binds=[(str(tmp_path), "/data", False)])
    assert fs.generation == 0
    fs.read("/etc/passwd")
    fs.write("/data/host-file", b"x")
    assert fs.generation == 0
    fs.write("/tmp/x", b"1")
    fs.remove("/tmp/x")
    assert fs.generation == 2


def test_upper_state_survives_json_and_a_restart() -> None:
    fs = busybox()
    fs.write("/etc/hostname", b"abc\n")
    fs.write("/tmp/bin", bytes(range(256)))
    fs.remove("/etc/group")
    fs.remove("/home", recursive=True)
    fs.mkdir("/home")
    fs.write("/home/f", b"x")
    fs.symlink("/tmp/bin", "/root/l")
    state = json.loads(json.dumps(fs.upper_state()))
    again = VFS(image_rootfs("busybox"), upper=state)
    assert again.read("/tmp/bin") == bytes(range(256))
    assert again.read("/etc/hostname") == b"abc\n"
    assert not again.exists("/etc/group")
    assert again.listdir("/home") == ["f"]
    assert again.readlink("/root/l") == "/tmp/bin"
    assert again.changes() == fs.changes()
    assert again.upper_state() == state


def test_a_fresh_container_accepts_an_empty_state() -> None:
    assert VFS(image_rootfs("busybox"), upper={}).changes() == []


def test_a_foreign_state_is_refused_with_a_reason() -> None:
    with pytest.raises(ValueError, match="upper_state"):
        VFS(image_rootfs("busybox"), upper={"/x": "y"})


def test_a_thousand_containers_fit_in_a_few_megabytes() -> None:
    lower = image_rootfs("busybox")
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        keep = []
        for n in range(1000):
            fs = VFS(lower)
            fs.write("/etc/hostname", f"{n:012x}\n".encode())
            keep.append(
                Process(
                    ["sh"],
                    fs=fs,
                    env={"PATH": "/bin"},
                    hostname=f"{n:012x}",
                    clock=lambda: T0,
                    on_output=lambda s, d: None,
                )
            )
        used = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(keep) == 1000
    assert used < 20 * 1024 * 1024, f"{used / 1e6:.1f} MB for 1000 containers"


# ----- bind mounts ------------------------------------------------------------------------


@pytest.fixture
def host(tmp_path: Path) -> Path:
    (tmp_path / "secret.txt").write_text("host data\n")
    (tmp_path / "sub").mkdir()
    return tmp_path


def test_a_bind_reads_and_writes_the_real_host_folder(host: Path) -> None:
    fs = busybox(binds=[(str(host), "/mnt/host", False)])
    assert fs.read("/mnt/host/secret.txt") == b"host data\n"
    assert fs.listdir("/mnt/host") == ["secret.txt", "sub"]
    assert "mnt" in fs.listdir("/") and fs.listdir("/mnt") == ["host"]
    fs.write("/mnt/host/sub/new.txt", b"from the container\n")
    assert (host / "sub" / "new.txt").read_text() == "from the container\n"
    fs.write("/mnt/host/secret.txt", b"more\n", append=True)
    assert (host / "secret.txt").read_text() == "host data\nmore\n"
    fs.mkdir("/mnt/host/made")
    assert (host / "made").is_dir()
    fs.remove("/mnt/host/made", recursive=True)
    assert not (host / "made").exists()
    info = fs.stat("/mnt/host/secret.txt")
    assert (info.kind, info.uid) == ("file", os.getuid())
    assert fs.changes() == []  # host files are not the container's layer


def test_a_read_only_bind_refuses_writes(host: Path) -> None:
    fs = busybox(binds=[(str(host), "/data", True)])
    assert fs.read("/data/secret.txt") == b"host data\n"
    for op in (
        lambda: fs.write("/data/secret.txt", b"x"),
        lambda: fs.write("/data/new", b"x"),
        lambda: fs.remove("/data/secret.txt"),
        lambda: fs.mkdir("/data/d"),
        lambda: fs.touch("/data/secret.txt"),
    ):
        with pytest.raises(OSError) as info:
            op()
        assert info.value.errno == errno.EROFS
        assert "Read-only file system" in str(info.value)
    assert (host / "secret.txt").read_text() == "host data\n"
    assert not (host / "new").exists()


def test_a_bind_errors_name_the_container_path(host: Path) -> None:
    fs = busybox(binds=[(str(host), "/data", False)])
    with pytest.raises(FileNotFoundError) as info:
        fs.read("/data/missing")
    assert str(info.value) == "/data/missing: No such file or directory"
    assert str(host) not in str(info.value)


def test_dotdot_leaves_a_bind_inside_the_container(host: Path) -> None:
    fs = busybox(binds=[(str(host), "/data", False)])
    assert fs.read("/data/../etc/passwd").startswith(b"root:")


def test_a_mount_point_cannot_be_removed(host: Path) -> None:
    fs = busybox(binds=[(str(host), "/data", False)])
    with pytest.raises(OSError) as info:
        fs.remove("/data", recursive=True)
    assert info.value.errno == errno.EBUSY
    assert (host / "secret.txt").exists()


def test_a_single_file_bind(host: Path) -> None:
    fs = busybox(binds=[(str(host / "secret.txt"), "/etc/motd", True)])
    assert fs.read("/etc/motd") == b"host data\n"
    assert "motd" in fs.listdir("/etc")

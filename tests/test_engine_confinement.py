"""A container's filesystem, its volumes included, never leads out of itself.

The family of ``docker cp`` escapes (CVE-2018-15664 and friends): a symlink planted in a
named volume or a bind mount, an archive whose links come before the files written through
them, ``..`` and absolute member names, hard links, and a link swapped in between a check
and a use. Each is tried against a running lab engine, through the real archive endpoint
(``PUT``/``GET``/``HEAD /containers/{id}/archive``) and through shell commands in the
container; the host folder next to the volume must stay untouched and unread. Only an
explicit bind mount reaches the host, and only the folder it names.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import stat
import tarfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import docker.errors
import pytest
from engine_fixtures import LabEngine, running_lab_engine, short_tempdir
from image_fixtures import pull_busybox

from labkit.engine.runtime import hostfs
from labkit.engine.runtime.rootfs import image_rootfs
from labkit.engine.runtime.vfs import VFS

pytestmark = pytest.mark.lab_engine

SECRET = b"the host's secret\n"
LAB_PASSWD = b"root:x:0:0:root:/root:/bin/sh\n"  # the first line of the image's /etc/passwd


@pytest.fixture(scope="module")
def engine() -> Iterator[LabEngine]:
    with running_lab_engine() as running:
        pull_busybox(running.socket)
        yield running


@pytest.fixture
def sdk(engine: LabEngine) -> Iterator[docker.DockerClient]:
    client = docker.DockerClient(base_url=engine.url, version="auto", timeout=30)
    yield client
    for container in client.containers.list(all=True):
        container.remove(force=True)
    for volume in client.volumes.list():
        volume.remove(force=True)
    client.close()


@pytest.fixture
def outside() -> Iterator[Path]:
    """A host folder outside every container: what an escape would read or write."""
    folder = short_tempdir("lkout")
    (folder / "secret.txt").write_bytes(SECRET)
    (folder / "sub").mkdir()
    yield folder
    import shutil

    shutil.rmtree(folder, ignore_errors=True)


def snapshot(folder: Path) -> dict[str, tuple[int, int, bytes | None]]:
    """Every path under ``folder`` with its mode, link count and contents."""
    out = {}
    for path in sorted(folder.rglob("*")):
        info = path.lstat()
        data = path.read_bytes() if stat.S_ISREG(info.st_mode) else None
        out[str(path.relative_to(folder))] = (info.st_mode, info.st_nlink, data)
    return out


def tar_of(*members: tuple[str, str, bytes | str]) -> bytes:
    """A tar from ``(kind, name, data-or-link-target)``: kind file, dir, sym or hard."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for kind, name, data in members:
            info = tarfile.TarInfo(name)
            info.mode = 0o755 if kind == "dir" else 0o644
            if kind == "file":
                assert isinstance(data, bytes)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
                continue
            if kind == "dir":
                info.type = tarfile.DIRTYPE
            elif kind == "sym":
                info.type, info.linkname = tarfile.SYMTYPE, str(data)
            else:
                info.type, info.linkname = tarfile.LNKTYPE, str(data)
            tar.addfile(info)
    return buf.getvalue()


def files_in(tar_bytes: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tar:
        return {
            m.name: tar.extractfile(m).read()  # type: ignore[union-attr]
            for m in tar.getmembers()
            if m.isfile()
        }


def run_with_volume(sdk: docker.DockerClient, **kw: object):
    sdk.volumes.create("vol")
    return sdk.containers.run(
        "busybox", ["sleep", "600"], detach=True, volumes={"vol": {"bind": "/data"}}, **kw
    )


def sh(container, script: str) -> tuple[int, bytes]:
    result = container.exec_run(["sh", "-c", script])
    return result.exit_code, result.output


def volume_folder(sdk: docker.DockerClient, name: str = "vol") -> Path:
    return Path(sdk.volumes.get(name).attrs["Mountpoint"])


# ----------------------------------------------------------------- the archive endpoint
def test_an_archive_cannot_write_through_a_symlink_in_a_volume(sdk, outside: Path) -> None:
    """Links first, then files through them: absolute, relative and chained links."""
    container = run_with_volume(sdk)
    # The same path inside the container, so that a link has somewhere to lead there.
    assert sh(container, f"mkdir -p {outside}/sub")[0] == 0
    before = snapshot(outside)
    climb = "../" * 12 + str(outside).lstrip("/")
    archive = tar_of(
        ("sym", "abs", str(outside)),
        ("file", "abs/pwned.txt", b"through an absolute link\n"),
        ("sym", "rel", climb),
        ("file", "rel/pwned2.txt", b"through a relative link\n"),
        ("sym", "chain", "abs"),
        ("file", "chain/sub/pwned3.txt", b"through a chain\n"),
        ("sym", "secret-link", f"{outside}/secret.txt"),
        ("file", "secret-link", b"overwrite the secret\n"),
    )
    assert container.put_archive("/data", archive)
    assert snapshot(outside) == before
    # Where the bytes went: inside the container, at the path the link names there.
    code, out = sh(container, f"cat {outside}/pwned.txt {outside}/pwned2.txt")
    assert code == 0 and out == b"through an absolute link\nthrough a relative link\n"
    # An archive member replaces an existing link rather than writing through it.
    assert sh(container, "cat /data/secret-link") == (0, b"overwrite the secret\n")


def test_an_archive_put_to_a_path_through_a_planted_link_stays_inside(sdk, outside) -> None:
    container = run_with_volume(sdk)
    os.symlink(outside, volume_folder(sdk) / "door")  # planted, as if by another container
    before = snapshot(outside)
    for path in ("/data/door", "/data/door/sub"):  # not in the container (yet): 404
        with pytest.raises(docker.errors.NotFound):
            container.put_archive(path, tar_of(("file", "x.txt", b"x")))
    assert sh(container, f"mkdir -p {outside}")[0] == 0
    assert container.put_archive("/data/door", tar_of(("file", "x.txt", b"x")))
    assert snapshot(outside) == before
    assert sh(container, f"cat {outside}/x.txt") == (0, b"x")


def test_an_archive_cannot_read_or_stat_through_a_planted_link(sdk, outside: Path) -> None:
    container = run_with_volume(sdk)
    folder = volume_folder(sdk)
    os.symlink(f"{outside}/secret.txt", folder / "to-secret")
    os.symlink(str(outside), folder / "to-dir")
    os.symlink("/etc/passwd", folder / "to-passwd")
    with pytest.raises(docker.errors.NotFound):
        container.get_archive("/data/to-dir/secret.txt")
    # The link itself is there, and copied as a link, never as what it points at.
    stream, info = container.get_archive("/data/to-secret")
    assert info["linkTarget"] == f"{outside}/secret.txt"
    assert files_in(b"".join(stream)) == {}
    # Followed with /. (the folder's contents): the container's own folder, empty here.
    with pytest.raises(docker.errors.NotFound):
        container.get_archive("/data/to-dir/.")
    # An absolute target is the container's own file.
    code, out = sh(container, "cat /data/to-passwd")
    assert code == 0 and out.startswith(LAB_PASSWD)
    whole = files_in(b"".join(container.get_archive("/data")[0]))
    assert not any(SECRET in data for data in whole.values())


def test_archive_member_names_cannot_climb_out(sdk, outside: Path) -> None:
    container = run_with_volume(sdk)
    before = snapshot(outside)
    archive = tar_of(
        ("file", "../../../../../../.." + str(outside) + "/climbed.txt", b"x"),
        ("file", "/absolute.txt", b"kept inside\n"),
        ("file", "a/../../../escape.txt", b"x"),
        ("hard", "hard-out", "../../../../../../.." + str(outside) + "/secret.txt"),
        ("sym", "to-out", str(outside)),
        ("file", "mine.txt", b"mine\n"),
        ("hard", "hard-mine", "mine.txt"),
    )
    assert container.put_archive("/data", archive)
    # A hard link through a link: to the container's file of that name, which is not
    # there (dockerd fails such an archive too); once it is, still no link to the host's.
    through = tar_of(("hard", "hard-through", "to-out/secret.txt"))
    with pytest.raises(docker.errors.APIError) as failed:
        container.put_archive("/data", through)
    assert failed.value.status_code == 400
    assert sh(container, f"mkdir -p {outside} && echo mine > {outside}/secret.txt")[0] == 0
    with pytest.raises(docker.errors.APIError) as across:
        container.put_archive("/data", through)
    assert "Invalid cross-device link" in str(across.value)  # the container's layer
    assert snapshot(outside) == before
    assert (outside / "secret.txt").stat().st_nlink == 1  # no hard link to it anywhere
    folder = volume_folder(sdk)
    assert (folder / "absolute.txt").read_bytes() == b"kept inside\n"
    assert not (folder / "hard-out").exists() and not (folder / "hard-through").exists()
    assert (folder / "hard-mine").stat().st_ino == (folder / "mine.txt").stat().st_ino
    assert not (folder.parent / "escape.txt").exists()


# ----------------------------------------------------------------- shell commands
def test_shell_commands_follow_links_inside_the_container(sdk, outside: Path) -> None:
    container = run_with_volume(sdk)
    folder = volume_folder(sdk)
    os.symlink(str(outside), folder / "door")
    os.symlink(f"{outside}/secret.txt", folder / "secret")
    before = snapshot(outside)
    reads = [
        "cat /data/secret",
        "cat /data/door/secret.txt",
        "cat < /data/door/secret.txt",
        "head /data/door/secret.txt",
        "grep secret /data/door/secret.txt",
        "ls /data/door/",
        "wc -c /data/door/secret.txt",
        "cp /data/door/secret.txt /tmp/copy && cat /tmp/copy",
    ]
    for script in reads:
        code, out = sh(container, script)
        assert SECRET.strip() not in out and code != 0, (script, out)
        assert b"o such file" in out, (script, out)
    assert sh(container, f"mkdir -p {outside}")[0] == 0  # somewhere for the link to lead
    writes = [
        "echo pwned > /data/door/new.txt",
        "echo pwned >> /data/secret",
        "mkdir /data/door/made",
        "mkdir -p /data/door/sub/deeper",
        "touch /data/door/touched",
        "rm -rf /data/door/sub /data/door/secret.txt",
        "mv /data/door/secret.txt /data/moved",
        "ln -s /etc /data/door/link",
        "ln /data/door/secret.txt /data/hard",
        "chmod 777 /data/door/secret.txt /data/door",
        "cp /etc/passwd /data/door/sub/",
    ]
    for script in writes:
        sh(container, script)
    assert snapshot(outside) == before
    # They happened inside the container, at the path the link names there.
    code, out = sh(container, f"cat {outside}/new.txt; ls {outside}")
    assert out.split() == [b"pwned", b"link", b"made", b"new.txt", b"sub", b"touched"], out


def test_a_symlink_made_in_the_container_is_resolved_in_the_container(sdk, outside) -> None:
    container = run_with_volume(sdk)
    before = snapshot(outside)
    code, _ = sh(
        container, f"mkdir -p {outside} && ln -s {outside} /data/door && echo in > /data/door/f.txt"
    )
    assert code == 0
    host_link = volume_folder(sdk) / "door"
    assert host_link.is_symlink() and os.readlink(host_link) == str(outside)
    assert snapshot(outside) == before
    assert sh(container, f"cat {outside}/f.txt") == (0, b"in\n")


def test_a_bind_mount_reaches_only_the_folder_it_names(sdk, outside: Path) -> None:
    """By design a bind mount is the host; a link in it still resolves in the container."""
    shared = short_tempdir("lkbind")
    try:
        (shared / "note.txt").write_bytes(b"shared\n")
        os.symlink("/etc/passwd", shared / "passwd")
        os.symlink(str(outside), shared / "door")
        container = sdk.containers.run(
            "busybox", ["sleep", "600"], detach=True, volumes={str(shared): {"bind": "/w"}}
        )
        assert sh(container, "cat /w/note.txt") == (0, b"shared\n")
        code, out = sh(container, "cat /w/passwd")
        assert code == 0 and out.startswith(LAB_PASSWD)  # the container's, not the host's
        before = snapshot(outside)
        sh(container, "echo x > /w/door/x; cat /w/door/secret.txt")
        assert snapshot(outside) == before
        sh(container, "echo made > /w/made.txt")
        assert (shared / "made.txt").read_bytes() == b"made\n"
    finally:
        import shutil

        shutil.rmtree(shared, ignore_errors=True)


def test_a_nested_bind_whose_source_is_swapped_for_a_link_is_not_followed(sdk, outside) -> None:
    """A container that replaces, through one bind, the source of another with a symlink
    must not reach the link's target through the other bind."""
    shared = short_tempdir("lknest")
    try:
        (shared / "inner").mkdir()
        (shared / "inner" / "mine.txt").write_bytes(b"mine\n")
        container = sdk.containers.run(
            "busybox",
            ["sleep", "600"],
            detach=True,
            volumes={str(shared): {"bind": "/outer"}, str(shared / "inner"): {"bind": "/inner"}},
        )
        assert sh(container, "cat /inner/mine.txt") == (0, b"mine\n")
        code, _ = sh(container, f"rm -r /outer/inner && ln -s {outside} /outer/inner")
        assert code == 0
        assert (shared / "inner").is_symlink()  # the host path now points out...
        code, out = sh(container, "cat /inner/secret.txt; ls /inner")
        assert SECRET.strip() not in out and code != 0
        assert out.count(b"Stale file handle") == 2, out  # as a mount whose source went
    finally:
        import shutil

        shutil.rmtree(shared, ignore_errors=True)


# ----------------------------------------------------------------- owner-only volumes
def test_what_a_container_makes_in_a_volume_is_owner_only(sdk) -> None:
    container = run_with_volume(sdk)
    script = (
        "mkdir -p /data/d/e && echo x > /data/d/e/f && touch /data/t && "
        "chmod 777 /data/d /data/t && cp /bin/busybox /data/bb"
    )
    assert sh(container, script)[0] == 0
    container.put_archive("/data", tar_of(("dir", "tard", b""), ("file", "tard/f", b"y")))
    folder = volume_folder(sdk)
    for path in [folder.parent, folder, *folder.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        if path.is_dir():
            assert mode == 0o700, f"{path}: {mode:o}"
        else:
            assert mode & 0o077 == 0, f"{path}: {mode:o}"


# ----------------------------------------------------------------- races (the VFS alone)
def test_a_link_swapped_in_during_a_walk_is_never_followed(tmp_path: Path) -> None:
    """A thread flips a folder in a bind between a real folder and a symlink to a host
    folder while the container reads and writes through it: never a host byte read,
    never a host file written."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "f").write_bytes(SECRET)
    bound = tmp_path / "bound"
    (bound / "d").mkdir(parents=True)
    (bound / "d" / "f").write_bytes(b"inside\n")
    fs = VFS(image_rootfs("busybox"), binds=[(str(bound), "/data", False, True)])
    stop = threading.Event()

    def flip() -> None:
        spare = bound / "d.real"
        while not stop.is_set():
            os.rename(bound / "d", spare)
            os.symlink(outside, bound / "d")
            os.unlink(bound / "d")
            os.rename(spare, bound / "d")

    flipper = threading.Thread(target=flip, daemon=True)
    flipper.start()
    seen = set()
    deadline = time.monotonic() + 2.0
    try:
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                seen.add(fs.read("/data/d/f"))
            with contextlib.suppress(OSError):
                fs.write("/data/d/new", b"w")
    finally:
        stop.set()
        flipper.join(5)
    assert SECRET not in seen
    assert sorted(p.name for p in outside.iterdir()) == ["f"]


def test_host_spots_never_act_through_a_link(tmp_path: Path) -> None:
    """Each operation on the last component refuses a link there (a swap after the walk)."""
    (tmp_path / "target").write_bytes(SECRET)
    os.symlink(tmp_path / "target", tmp_path / "link")
    root = hostfs.Root(str(tmp_path))
    spot = hostfs.Spot(os.open(tmp_path, os.O_RDONLY), "link", root)
    with spot:
        for op in (
            spot.read,
            lambda: spot.write(b"x", False, None),
            lambda: spot.write(b"x", True, None),
            lambda: spot.chmod(0o777),
        ):
            with pytest.raises(OSError) as info:
                op()
            assert info.value.errno in (errno.ELOOP, errno.EOPNOTSUPP, errno.EEXIST)
        assert spot.listdir is not None
        with pytest.raises(OSError):
            spot.listdir()
    assert (tmp_path / "target").read_bytes() == SECRET
    assert stat.S_IMODE((tmp_path / "target").stat().st_mode) != 0o777


def test_a_fifo_or_device_in_a_bind_is_not_read(tmp_path: Path) -> None:
    """Reading a FIFO would block the whole engine, a device might never end."""
    os.mkfifo(tmp_path / "fifo")
    fs = VFS(image_rootfs("busybox"), binds=[(str(tmp_path), "/data", False)])
    with pytest.raises(OSError) as info:
        fs.read("/data/fifo")
    assert info.value.errno == errno.EOPNOTSUPP


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc/self/fd")
def test_host_walks_leave_no_descriptor_open(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f").write_bytes(b"x")
    os.symlink("/etc", tmp_path / "d" / "to-etc")
    nested = tmp_path / "nested"
    nested.mkdir()
    fs = VFS(
        image_rootfs("busybox"),
        binds=[(str(tmp_path), "/data", False), (str(nested), "/data/d/n", False)],
    )
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(50):
        fs.read("/data/d/f")
        fs.listdir("/data/d")
        fs.stat("/data/d/to-etc/passwd", True)
        fs.write("/data/d/n/w", b"y", append=True)
        fs.link("/data/d/f", "/data/d/h")
        fs.remove("/data/d/h")
        for bad in ("/data/d/nope/x", "/data/d/f/x", "/data", "/data/d/to-etc/nope/x"):
            with contextlib.suppress(OSError):
                fs.remove(bad, recursive=True)
        with contextlib.suppress(OSError):
            fs.link("/data/d/f", "/tmp/x")  # across mounts: EXDEV
    assert len(os.listdir("/proc/self/fd")) == before

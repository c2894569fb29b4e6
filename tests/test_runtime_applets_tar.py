# ruff: noqa: E501  (the table holds outputs recorded from busybox, kept whole)
"""tar in the lab engine: create, list and extract in the container's own filesystem.

Each case's expected output is what busybox prints in a real container on dockerd: the
differential test at the end runs every case there and compares. Every case runs in a
subshell with stderr joined to stdout; where the order of the two would depend on busybox's
stdio buffering, stderr goes to a file that is printed after. Listings are sorted (busybox
archives a directory in readdir order) and ``-tv`` lines lose their timestamps, except for
the archive made with every time at 0.
"""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest
from test_runtime_shell import new_fs, sh

# A small tree to archive, made afresh by each case that needs it.
T = (
    "rm -rf /tmp/w /tmp/o; mkdir -p /tmp/w/d/sub /tmp/o; cd /tmp/w; "
    "echo hi > d/a; ln -s a d/ln; chmod 600 d/a; "
)
# A gzipped archive made by Python's tarfile with every time at 0, holding what busybox's own
# tar never writes: "../up.txt", "a/../../up2.txt", "/abs.txt" (mode 755), a symlink
# "lnk" -> "/tmp/outside" and then "lnk/f.txt" (all files hold "x\n"; "ok.txt" too).
EVIL_TGZ = (
    "H4sIAAAAAAACA+3YXQqCQBRA4XluFa7A+Umn9RgVhNWIjtDym+wlCgyLG4Xne1FUEJRzZQx1Hs9RiTKJ"
    "L8ywTR63ibvbT8et8eVSZUZ9Qd/Fqs0y1YYw+hhenf9T54XCjOW57hvhETC9f2uNpX/6h7RKpwkwDAEn"
    "NgXe6N9bT//0D2m6WnfSK4Br1KuynNJ/up7+6R/SDqda/B63738x0r95Wv97ozKn47HRoY/dfrOV7n++"
    "71/vfm/95/j/w/wHAAAAAAAA8JkL4iNM+AAoAAA="
)
EVIL = f"mkdir -p /tmp/outside /tmp/x; cd /tmp/x; echo {EVIL_TGZ} | base64 -d > /tmp/evil.tgz; "
# -tv without the date and time columns
LONG = "awk '{print $1, $2, $3, $6, $7, $8}'"

# (command, what busybox prints): checked against the real busybox by the last test.
CASES = [
    # create, list; verbose names go to stdout, or to stderr when the archive does
    (T + "tar cf x.tar d; echo rc=$?; tar tf x.tar | sort", "rc=0\nd/\nd/a\nd/ln\nd/sub/\n"),
    (
        T + f"tar cf x.tar d; tar tvf x.tar | {LONG} | sort",
        "-rw------- root/root 3 d/a  \ndrwxr-xr-x root/root 0 d/  \ndrwxr-xr-x root/root 0 d/sub/  \nlrwxrwxrwx root/root 0 d/ln -> a\n",
    ),
    (T + "tar cvf x.tar d | sort", "d/\nd/a\nd/ln\nd/sub/\n"),
    (T + "tar cvf - d 2>/tmp/e >/dev/null; sort /tmp/e", "d/\nd/a\nd/ln\nd/sub/\n"),
    (T + "tar c d | tar t | sort", "d/\nd/a\nd/ln\nd/sub/\n"),
    (T + "tar -c d -f x.tar; tar tf x.tar -v | grep -c root/root", "4\n"),
    # extract: modes, symlinks, directories; gzip and bzip2; combined forms
    (
        T
        + "tar cf - d | tar xf - -C /tmp/o; cd /tmp/o; stat -c '%n %a %F' d d/a d/sub; readlink d/ln; cat d/a",
        "d 755 directory\nd/a 600 regular file\nd/sub 755 directory\na\nhi\n",
    ),
    (T + "tar cf - d | tar xvf - -C /tmp/o | sort", "d/\nd/a\nd/ln\nd/sub/\n"),
    (
        T + "tar czf out.tgz d; tar -xzf out.tgz -C /tmp/o; tar tzf out.tgz | sort; cat /tmp/o/d/a",
        "d/\nd/a\nd/ln\nd/sub/\nhi\n",
    ),
    (
        T + f"tar -czf - d | tar -tzvf - | {LONG} | sort",
        "-rw------- root/root 3 d/a  \ndrwxr-xr-x root/root 0 d/  \ndrwxr-xr-x root/root 0 d/sub/  \nlrwxrwxrwx root/root 0 d/ln -> a\n",
    ),
    (T + "tar cjf x.tbz d; tar tjf x.tbz | sort", "d/\nd/a\nd/ln\nd/sub/\n"),
    # names as busybox writes them: leading '/' stripped, the archive itself skipped
    (
        T + "tar cf - /tmp/w/d 2>/tmp/e | tar tf - | sort; cat /tmp/e",
        "tmp/w/d/\ntmp/w/d/a\ntmp/w/d/ln\ntmp/w/d/sub/\ntar: removing leading '/' from member names\n",
    ),
    (
        T + "tar cf x.tar . 2>/tmp/e; echo rc=$?; cat /tmp/e; tar tf x.tar | sort",
        "rc=0\ntar: ./x.tar: file is the archive; skipping\n./\n./d/\n./d/a\n./d/ln\n./d/sub/\n",
    ),
    (
        T + "tar cf - d/ | tar tf - | sort; tar cf - ./d/a d/ln | tar tf -",
        "d/\nd/a\nd/ln\nd/sub/\n./d/a\nd/ln\n",
    ),
    (T + "tar chf - d/ln | tar tvf - | awk '{print $1, $6}'", "-rw------- d/ln\n"),
    (T + "mkdir m; chmod 700 m; tar cf - m | tar xf - -C /tmp/o; stat -c %a /tmp/o/m", "700\n"),
    # chosen members, -O, replacing what is there
    (T + "tar cf x.tar d; tar tf x.tar d/a d/ln | sort; tar xOf x.tar d/a", "d/a\nd/ln\nhi\n"),
    (
        T + "tar cf x.tar d; tar xf x.tar -C /tmp/o nope; echo rc=$?; ls /tmp/o",
        "tar: nope: not found in archive\nrc=1\n",
    ),
    (
        T + "tar cf x.tar d; mkdir -p /tmp/o/d/a; tar xf x.tar -C /tmp/o d/a; echo rc=$?",
        "tar: can't remove old file d/a: Is a directory\nrc=1\n",
    ),
    (
        T
        + "tar cf x.tar d; mkdir -p /tmp/o/d; echo old > /tmp/o/d/ln; tar xf x.tar -C /tmp/o; readlink /tmp/o/d/ln",
        "a\n",
    ),
    # errors: busybox's messages and exit codes
    (
        T
        + "tar cf x.tar d; tar xf x.tar -C /nope; echo rc=$?; tar cf y.tar -C /nope d; echo rc=$?",
        "tar: can't change directory to '/nope': No such file or directory\nrc=1\ntar: can't change directory to '/nope': No such file or directory\nrc=1\n",
    ),
    (
        "cd /tmp; tar cf n.tar nope; echo rc=$?",
        "tar: nope: No such file or directory\ntar: error exit delayed from previous errors\nrc=1\n",
    ),
    (
        # tar's complaint goes to a file: tar and wc write at once, so their order is racy.
        "cd /tmp; tar cf - nope 2>/tmp/e | wc -c; cat /tmp/e",
        "1024\ntar: nope: No such file or directory\ntar: error exit delayed from previous errors\n",
    ),
    (
        "tar xf /nope.tar; echo rc=$?; tar tzf /nope.tgz; echo rc=$?",
        "tar: can't open '/nope.tar': No such file or directory\nrc=1\ntar: can't open '/nope.tgz': No such file or directory\nrc=1\n",
    ),
    (
        "tar cf /nope/x.tar /etc/hostname; echo rc=$?",
        "tar: can't open '/nope/x.tar': No such file or directory\nrc=1\n",
    ),
    ("cd /tmp; tar cf e.tar; echo rc=$?", "tar: empty archive\nrc=1\n"),
    (
        "tar -q 2>/tmp/e; echo rc=$?; head -1 /tmp/e; sed -n 2p /tmp/e | cut -c1-8",
        "rc=1\ntar: invalid option -- 'q'\nBusyBox \n",
    ),
    (
        "tar --nope 2>/tmp/e; echo rc=$?; head -1 /tmp/e",
        "rc=1\ntar: unrecognized option '--nope'\n",
    ),
    (
        "tar tf 2>/tmp/e; echo rc=$?; head -1 /tmp/e",
        "rc=1\ntar: option requires an argument -- 'f'\n",
    ),
    (
        "tar 2>/tmp/e; echo rc=$?; head -1 /tmp/e | cut -c1-8; tar ctf /tmp/x.tar 2>/dev/null; echo rc=$?",
        "rc=1\nBusyBox \nrc=1\n",
    ),
    (
        T + "tar cf x.tar d; tar tzf x.tar; echo rc=$?",
        "tar: invalid magic\ntar: short read\nrc=1\n",
    ),
    (
        "cd /tmp; echo garbage > g.tar; tar tf g.tar; echo rc=$?; : > e.tar; tar tf e.tar; echo rc=$?",
        "tar: short read\nrc=1\ntar: short read\nrc=1\n",
    ),
    (
        "cd /tmp; head -c 1024 /dev/zero | tr '\\0' x > g.tar; tar tf g.tar; echo rc=$?; head -c 2048 /dev/zero > z.tar; tar tf z.tar; echo rc=$?",
        "tar: invalid tar magic\nrc=1\nrc=0\n",
    ),
    # an archive made elsewhere: '../', '/' and '/../' stripped from names, the unsafe
    # symlink made last (and so refused), times restored unless -m
    (
        EVIL + f"tar tzvf /tmp/evil.tgz 2>/tmp/e | {LONG}; cat /tmp/e",
        "-rw-r----- root/root 2 ok.txt  \n-rw-r----- root/root 2 up.txt  \n-rw-r----- root/root 2 up2.txt  \n-rwxr-xr-x root/root 2 abs.txt  \nlrw-r--r-- 0/0 0 lnk -> /tmp/outside\n-rw-r----- root/root 2 lnk/f.txt  \ntar: removing leading '../' from member names\n",
    ),
    (
        EVIL
        + "tar xzvf /tmp/evil.tgz 2>/tmp/e; echo rc=$?; cat /tmp/e; find /tmp/x /tmp/outside | sort",
        "ok.txt\nup.txt\nup2.txt\nabs.txt\nlnk\nlnk/f.txt\nrc=1\ntar: removing leading '../' from member names\ntar: can't create symlink 'lnk' to '/tmp/outside'\n/tmp/outside\n/tmp/x\n/tmp/x/abs.txt\n/tmp/x/lnk\n/tmp/x/lnk/f.txt\n/tmp/x/ok.txt\n/tmp/x/up.txt\n/tmp/x/up2.txt\n",
    ),
    (
        EVIL + "tar xzf /tmp/evil.tgz ok.txt abs.txt; stat -c '%n %a %Y' ok.txt abs.txt",
        "tar: removing leading '../' from member names\nok.txt 640 0\nabs.txt 755 0\n",
    ),
    (
        EVIL + "tar xzmf /tmp/evil.tgz ok.txt; test $(stat -c %Y ok.txt) -gt 0 && echo now",
        "tar: removing leading '../' from member names\nnow\n",
    ),
    (
        EVIL + "tar xzf /tmp/evil.tgz -O ok.txt; tar tzf /tmp/evil.tgz up2.txt 2>/dev/null",
        "x\ntar: removing leading '../' from member names\nup2.txt\n",
    ),
    # the archive's size: two zero blocks end it, with no padding after
    (T + "tar cf - d | wc -c; tar cf - d/a | wc -c", "3584\n2048\n"),
    (
        EVIL + "tar tzvf /tmp/evil.tgz ok.txt 2>/dev/null",
        "-rw-r----- root/root         2 1970-01-01 00:00:00 ok.txt\n",
    ),
]


def wrapped(command: str) -> str:
    return f"( {command} ) 2>&1"


@pytest.mark.parametrize(("command", "expected"), CASES, ids=[c[0][-60:] for c in CASES])
def test_tar(command: str, expected: str) -> None:
    out, err, _code = sh(wrapped(command))
    assert (out + err).decode() == expected


def test_gzip_is_recognised_without_z() -> None:
    """The busybox image's tar (1.36, seamless decompression) reads a gzipped archive without
    ``-z``; Debian's 1.35, the differential's, does not, so this is checked here only."""
    out, err, code = sh(
        T + "tar czf x.tgz d; tar tf x.tgz | sort; tar xf x.tgz -C /tmp/o; cat /tmp/o/d/a"
    )
    assert (out.decode(), err, code) == ("d/\nd/a\nd/ln\nd/sub/\nhi\n", b"", 0)


def test_xz_reads_but_does_not_write() -> None:
    """busybox unpacks xz but has no xz compressor: -cJ says so and what to use instead."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:xz") as archive:
        item = tarfile.TarInfo("x.txt")
        item.size = 3
        archive.addfile(item, io.BytesIO(b"xz\n"))
    fs = new_fs()
    fs.write("/tmp/a.txz", raw.getvalue())
    out, err, code = sh("cd /tmp; tar tJf a.txz; tar xJf a.txz; cat x.txt", fs=fs)
    assert (out, err, code) == (b"x.txt\nxz\n", b"", 0)
    _out, err, code = sh(T + "tar cJf x.txz d")
    assert code == 1
    assert b"use -z (gzip) or -j (bzip2)" in err


def test_extract_stays_in_the_container() -> None:
    """Archives are read from and written to the container's filesystem, not the host's:
    an absolute name lands under -C there, and nothing of it on the host."""
    fs = new_fs()
    out, err, code = sh(
        T + "tar cf - /tmp/w/d/a 2>/dev/null | tar xf - -C /tmp/o; cat /tmp/o/tmp/w/d/a", fs=fs
    )
    assert (out, err, code) == (b"hi\n", b"", 0)
    assert fs.read("/tmp/o/tmp/w/d/a") == b"hi\n"
    assert not Path("/tmp/o/tmp/w/d/a").exists() and not Path("/tmp/w/d/a").exists()


def test_extract_into_a_bind_mount(tmp_path: Path) -> None:
    """In a bind-mounted folder the members land on the host, with the archive's modes and
    times; a symlink is made as a link, pointing where the archive says."""
    from labkit.engine.runtime.rootfs import image_rootfs
    from labkit.engine.runtime.vfs import VFS

    fs = VFS(image_rootfs("busybox"), binds=[(str(tmp_path), "/data", False)])
    out, err, code = sh(
        f"echo {EVIL_TGZ} | base64 -d | tar xzf - -C /data ok.txt abs.txt 2>/dev/null; "
        "cd /tmp; ln -s ok.txt ln; tar cf - ln | tar xf - -C /data; stat -c '%n %Y' /data/ok.txt",
        fs=fs,
    )
    assert (out, err, code) == (b"/data/ok.txt 0\n", b"", 0)
    assert (tmp_path / "ok.txt").read_bytes() == b"x\n"
    assert (tmp_path / "ok.txt").stat().st_mtime == 0
    assert (tmp_path / "abs.txt").stat().st_mtime == 0
    assert (tmp_path / "abs.txt").stat().st_mode & 0o777 == 0o755
    assert os.readlink(tmp_path / "ln") == "ok.txt"


@pytest.mark.real_engine
def test_cases_match_busybox_on_dockerd(real_engine_url: str) -> None:
    """Every case above, run by the real busybox in one container on dockerd."""
    from image_fixtures import busybox_says

    got = busybox_says(real_engine_url, [wrapped(command) for command, _expected in CASES])
    wrong = [(c, e, got.get(n)) for n, (c, e) in enumerate(CASES) if got.get(n) != e]
    assert not wrong, wrong

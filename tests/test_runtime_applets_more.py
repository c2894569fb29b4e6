# ruff: noqa: E501  (the table holds outputs recorded from busybox, kept whole)
"""The applets scripts reach for beyond the filters: tee, basename, dirname, find, expr,
readlink, realpath, env's options, checksums, base64, rev, nl, tac, mktemp, stat, du, df,
nproc and free (tar has its own file, test_runtime_applets_tar.py).

Each case's expected output is what busybox prints in a real container on dockerd: the
differential test at the end runs every case there and compares. Every case runs in a
subshell with stderr joined to stdout, so that messages land where the real ones do.
"""

from __future__ import annotations

import pytest
from test_runtime_shell import new_fs, sh

# A small tree to search: made afresh by each case that needs it.
TREE = (
    "rm -rf /tmp/w; mkdir -p /tmp/w/d/sub/deep; cd /tmp/w; "
    "touch d/a.txt d/B.TXT d/sub/c.txt; ln -s a.txt d/ln; "
)

# (command, what busybox prints): checked against the real busybox by the last test.
CASES = [
    # tee
    ("echo hi | tee /tmp/t1 /tmp/t2; cat /tmp/t2", "hi\nhi\n"),
    ("echo a > /tmp/t3; echo b | tee -a /tmp/t3 >/dev/null; cat /tmp/t3", "a\nb\n"),
    ("echo x | tee /nope/x; echo rc=$?", "tee: /nope/x: No such file or directory\nx\nrc=1\n"),
    # basename, dirname
    (
        "basename /a/b/c.txt .txt; basename /a/b/; basename /; basename a.txt a.txt",
        "c\nb\n/\na.txt\n",
    ),
    ("basename -s .txt a.txt /x/b.txt; basename -a /p/q r/s", "a\nb\nq\ns\n"),
    (
        "dirname /a/b/; dirname a; dirname /a; dirname //; dirname a/b; dirname ///; dirname //a",
        "/a\n.\n/\n//\na\n/\n//\n",
    ),
    ("basename 2>/dev/null; echo rc=$?; dirname 2>/dev/null; echo rc=$?", "rc=1\nrc=1\n"),
    # find
    (TREE + "find d/ | sort", "d/\nd/B.TXT\nd/a.txt\nd/ln\nd/sub\nd/sub/c.txt\nd/sub/deep\n"),
    (TREE + "find d -name '*.txt' | sort", "d/a.txt\nd/sub/c.txt\n"),
    (TREE + "find d -iname '*.txt' | sort", "d/B.TXT\nd/a.txt\nd/sub/c.txt\n"),
    (TREE + "find d -type d | sort", "d\nd/sub\nd/sub/deep\n"),
    (TREE + "find d -type l; find d -type f -name 'c*'", "d/ln\nd/sub/c.txt\n"),
    (TREE + "find d -maxdepth 1 -type d | sort", "d\nd/sub\n"),
    (TREE + "find d -mindepth 2 | sort", "d/sub/c.txt\nd/sub/deep\n"),
    (TREE + "find d -path '*sub*' | sort", "d/sub\nd/sub/c.txt\nd/sub/deep\n"),
    (TREE + "find d -path '*sub*' -prune -o -print | sort", "d\nd/B.TXT\nd/a.txt\nd/ln\n"),
    (TREE + "find d ! -type d -name '*.txt' | sort", "d/a.txt\nd/sub/c.txt\n"),
    (TREE + "find d -name a.txt -o -type l | sort", "d/a.txt\nd/ln\n"),
    (TREE + "find d \\( -name a.txt -o -name c.txt \\) -print | sort", "d/a.txt\nd/sub/c.txt\n"),
    (TREE + "find . -name c.txt", "./d/sub/c.txt\n"),
    (TREE + "find d -type f -exec echo 'f:{}' \\; | sort", "f:d/B.TXT\nf:d/a.txt\nf:d/sub/c.txt\n"),
    (TREE + "find d/sub -type f -exec echo X {} +", "X d/sub/c.txt\n"),
    (TREE + "find d -name '*.txt' -exec cat {} \\; ; echo rc=$?", "rc=0\n"),
    (TREE + "find d -type f -exec false {} +; echo rc=$?", "rc=1\n"),
    (TREE + "find d -type d -empty", "d/sub/deep\n"),
    ("find /nope; echo rc=$?", "find: /nope: No such file or directory\nrc=1\n"),
    ("find / -type q; echo rc=$?", "find: invalid argument 'q' to '-type'\nrc=1\n"),
    ("find / -name; echo rc=$?", "find: -name requires an argument\nrc=1\n"),
    ("find / -exec echo; echo rc=$?", "find: -exec requires an argument\nrc=1\n"),
    # expr
    ("expr 1 + 2; expr 5 \\* 3; expr 10 % 3; expr -5 / 2", "3\n15\n1\n-2\n"),
    ("expr 0; echo rc=$?; expr 3 - 3; echo rc=$?", "0\nrc=1\n0\nrc=1\n"),
    ("expr abc : 'a\\(.\\)'; expr abc : 'a.'; expr abc : x; echo rc=$?", "b\n2\n0\nrc=1\n"),
    (
        "expr length hello; expr substr hello 2 3; expr index hello l; expr match abc 'a.'",
        "5\nell\n3\n2\n",
    ),
    (
        "expr 3 \\> 2; expr a \\< b; expr 10 \\< 9; expr 2 = 2; expr a != a; echo rc=$?",
        "1\n1\n0\n1\n0\nrc=1\n",
    ),
    ("expr '' \\| 5; expr 0 \\& 1; expr 4 \\| 0; expr \\( 1 + 2 \\) \\* 3", "5\n0\n4\n9\n"),
    ("expr 7 / 0; echo rc=$?", "expr: division by zero\nrc=2\n"),
    ("expr 1 +; echo rc=$?", "expr: syntax error\nrc=2\n"),
    ("expr a + 1; echo rc=$?", "expr: non-numeric argument\nrc=2\n"),
    ("i=1; i=$(expr $i + 1); echo $i", "2\n"),
    # readlink, realpath
    (TREE + "readlink d/ln; readlink d/a.txt; echo rc=$?", "a.txt\nrc=1\n"),
    (
        TREE + "readlink -f d/ln; readlink -f d/sub/../zz; readlink -f /nope/x; echo rc=$?",
        "/tmp/w/d/a.txt\n/tmp/w/d/zz\nrc=1\n",
    ),
    (TREE + "realpath d/ln /tmp/../etc .", "/tmp/w/d/a.txt\n/etc\n/tmp/w\n"),
    ("realpath /nope/x; echo rc=$?", "realpath: /nope/x: No such file or directory\nrc=1\n"),
    # env
    ("env -i A=1 B=2 env", "A=1\nB=2\n"),
    ("env -i -u A A=1 B=2 env -u A", "B=2\n"),
    ("X=5 env | grep ^X=; env -i PATH=/bin sh -c 'echo $PATH'", "X=5\n/bin\n"),
    ("env - Y=1 env", "Y=1\n"),
    (
        "env -i nosuch; echo rc=$?",
        "env: can't execute 'nosuch': No such file or directory\nrc=127\n",
    ),
    # hostname -i: the name's address in /etc/hosts
    ("printf '10.1.2.3\\t%s\\n' $(hostname) >> /etc/hosts; hostname -i", "10.1.2.3\n"),
    # checksums, base64
    (
        "cd /tmp; printf 'abc\\n' > f1; printf x > f2; md5sum f1 f2",
        "0bee89b07a248e27c83fc3d5951213c1  f1\n9dd4e461268c8034f5c8564e155c67a6  f2\n",
    ),
    (
        "echo abc | sha1sum; echo abc | sha256sum",
        "03cfd743661f07975fa2f1220c5194cbaff48451  -\nedeaaff3f1774ad2888673770c6d64097e391bc362d7d6fb34982ddf0efd18cb  -\n",
    ),
    (
        "cd /tmp; printf 'abc\\n' > f1; sha256sum f1 > sums; sha256sum -c sums; echo rc=$?",
        "f1: OK\nrc=0\n",
    ),
    (
        "cd /tmp; printf 'abc\\n' > f1; md5sum f1 > sums; echo zz > f1; md5sum -c sums; echo rc=$?",
        "f1: FAILED\nmd5sum: WARNING: 1 of 1 computed checksums did NOT match\nrc=1\n",
    ),
    (
        "cd /tmp; echo x > f1; md5sum f1 > sums; echo yy > f1; md5sum -c -s sums; echo rc=$?",
        "rc=1\n",
    ),
    ("md5sum /nope; echo rc=$?", "md5sum: can't open '/nope': No such file or directory\nrc=1\n"),
    ("sha256sum -c /nope; echo rc=$?", "sha256sum: /nope: No such file or directory\nrc=1\n"),
    ("echo abc | base64; echo YWJjCg== | base64 -d", "YWJjCg==\nabc\n"),
    (
        "seq 40 | base64 | base64 -d | tail -1; seq 30 | base64 | head -1",
        "40\nMQoyCjMKNAo1CjYKNwo4CjkKMTAKMTEKMTIKMTMKMTQKMTUKMTYKMTcKMTgKMTkKMjAKMjEKMjIK\n",
    ),
    # rev, nl, tac
    ("printf 'abc\\nde\\n' | rev", "cba\ned\n"),
    (
        "printf 'x\\n\\ny\\n' | nl; printf 'a\\n\\nb\\n' | nl -ba",
        "     1\tx\n       \n     2\ty\n     1\ta\n     2\t\n     3\tb\n",
    ),
    (
        "printf 'abc\\n' > /tmp/f1; nl -w2 -s: /tmp/f1; nl -v5 -i2 /tmp/f1 /tmp/f1",
        " 1:abc\n     5\tabc\n     7\tabc\n",
    ),
    ("printf 'a\\nb\\nc\\n' | tac; printf 'a\\nb\\nc' | tac; echo", "c\nb\na\ncb\na\n\n"),
    (
        "echo a | nl -i x; echo $?; du -d x /tmp; echo $?",
        "nl: invalid number 'x'\n1\ndu: invalid number 'x'\n1\n",
    ),
    # mktemp
    (
        "f=$(mktemp); test -f $f && echo file; case $f in /tmp/tmp.??????) echo named;; esac",
        "file\nnamed\n",
    ),
    ("d=$(mktemp -d); test -d $d && stat -c %a $d; stat -c %a $(mktemp)", "700\n600\n"),
    ("f=$(mktemp /tmp/fooXXXXXX); case $f in /tmp/foo??????) echo ok;; esac", "ok\n"),
    ("mktemp /tmp/foo; echo rc=$?", "mktemp: (null): Invalid argument\nrc=1\n"),
    # stat
    (
        "mkdir -p /tmp/s/d; printf x > /tmp/s/a; cd /tmp/s; stat -c '%n|%s|%a|%A|%U|%G|%u|%g|%F|%b' a d",
        "a|1|644|-rw-r--r--|root|root|0|0|regular file|8\nd|4096|755|drwxr-xr-x|root|root|0|0|directory|8\n",
    ),
    (
        "cd /tmp; touch e; ln -sf e l; stat -c '%F %N' e l; stat -L -c %F l",
        "regular empty file e\nsymbolic link 'l' -> 'e'\nregular empty file\n",
    ),
    ("stat /nope; echo rc=$?", "stat: can't stat '/nope': No such file or directory\nrc=1\n"),
    (
        "printf x > /tmp/a; stat /tmp/a | sed -n '1,2p;4p'",
        "  File: /tmp/a\n  Size: 1         \tBlocks: 8          IO Block: 4096   regular file\nAccess: (0644/-rw-r--r--)  Uid: (    0/    root)   Gid: (    0/    root)\n",
    ),
    ("touch /tmp/a; stat /tmp/a | sed -n '5p' | grep -c '^Access: [0-9-]* [0-9:.]* +0000$'", "1\n"),
    # du, df, nproc, free
    (
        "cd /tmp; mkdir -p du/s; printf x > du/a; head -c 5000 /dev/zero > du/s/b; du du | sort; du -s du; du -sh du; du -k du/a; du -h du/s/b",
        "12\tdu/s\n20\tdu\n20\tdu\n20.0K\tdu\n4\tdu/a\n8.0K\tdu/s/b\n",
    ),
    ("cd /tmp; rm -rf u; mkdir -p u/s; printf x > u/a; du -a u | sort", "12\tu\n4\tu/a\n4\tu/s\n"),
    ("du /nope; echo rc=$?", "du: /nope: No such file or directory\nrc=1\n"),
    (
        "df | head -1; df -h | head -1; df -P / | head -1",
        "Filesystem           1K-blocks      Used Available Use% Mounted on\nFilesystem                Size      Used Available Use% Mounted on\nFilesystem           1024-blocks    Used Available Capacity Mounted on\n",
    ),
    ("df / | awk 'NR==2 {print $NF, ($2 > 0)}'", "/ 1\n"),
    ("test $(nproc) -ge 1 && echo ok", "ok\n"),
    (
        "free | head -1; free | awk 'NR>1 {print $1, NF}'",
        "              total        used        free      shared  buff/cache   available\nMem: 7\nSwap: 4\n",
    ),
]


def wrapped(command: str) -> str:
    return f"( {command} ) 2>&1"


@pytest.mark.parametrize(("command", "expected"), CASES, ids=[c[0][-60:] for c in CASES])
def test_applet(command: str, expected: str) -> None:
    out, err, _code = sh(wrapped(command))
    assert (out + err).decode() == expected


def test_find_delete_and_newer() -> None:
    """``-delete`` (busybox 1.36 has it; Debian's 1.35, the differential's, does not)."""
    out, err, code = sh(
        TREE + "find d -name '*.TXT' -delete; find d -type f | sort; find d/sub -delete; ls d"
    )
    assert (out.decode(), err, code) == ("d/a.txt\nd/sub/c.txt\na.txt\nln\n", b"", 0)
    fs = new_fs()
    sh(TREE, fs=fs)
    fs._clock.now += 5  # type: ignore[attr-defined]  # the filesystem's fake clock
    out, err, code = sh("cd /tmp/w; touch d/new; find d -newer d/a.txt", fs=fs)
    assert (out.decode(), err, code) == ("d/new\n", b"", 0)


@pytest.mark.real_engine
def test_cases_match_busybox_on_dockerd(real_engine_url: str) -> None:
    """Every case above, run by the real busybox in one container on dockerd."""
    from image_fixtures import busybox_says

    got = busybox_says(real_engine_url, [wrapped(command) for command, _expected in CASES])
    wrong = [(c, e, got.get(n)) for n, (c, e) in enumerate(CASES) if got.get(n) != e]
    assert not wrong, wrong

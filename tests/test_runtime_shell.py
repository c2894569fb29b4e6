"""The lab engine's mini shell and busybox applets, run as a container's process would run them.

Most cases are one table: a ``sh -c`` command line, what it prints on stdout and stderr, and
its exit status, in a fresh busybox container whose clock is fixed.
"""

from __future__ import annotations

import asyncio

import pytest

from labkit.engine.runtime import VFS, Process, image_rootfs
from labkit.engine.runtime.rootfs import APPLETS
from labkit.engine.runtime.shell import APPLETS as SHELL_APPLETS
from labkit.engine.runtime.shell_parse import Incomplete, ShellSyntaxError, parse

NOW = 1795830000.0  # Sat Nov 28 01:40:00 UTC 2026


class FakeClock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


def new_fs(image: str = "busybox") -> VFS:
    clock = FakeClock()
    fs = VFS(image_rootfs(image), clock=clock)
    fs.write("/etc/hostname", b"c0ffee123456\n")
    return fs


async def run(
    argv: list[str], stdin: bytes | None = None, fs: VFS | None = None, **kw
) -> tuple[bytes, bytes, int]:
    """Run a process to the end; returns (stdout, stderr, exit code)."""
    out: dict[int, bytearray] = {1: bytearray(), 2: bytearray()}
    clock = FakeClock()
    proc = Process(
        argv,
        fs=fs or new_fs(),
        env=kw.pop("env", {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}),
        hostname="c0ffee123456",
        clock=clock,
        sleep=clock.sleep,
        on_output=lambda stream, data: out[stream].extend(data),
        **kw,
    )
    proc.start()
    if stdin is not None:
        proc.feed_stdin(stdin)
    proc.close_stdin()
    code = await asyncio.wait_for(proc.wait(), 10)
    return bytes(out[1]), bytes(out[2]), code


def sh(command: str, stdin: bytes | None = None, fs: VFS | None = None):
    return asyncio.run(run(["sh", "-c", command], stdin, fs))


NF = "No such file or directory"

CASES = [
    # echo, quoting, expansion
    ("echo hello world", "hello world\n", "", 0),
    ("echo -n hi", "hi", "", 0),
    (r"echo -e 'a\tb\nc'", "a\tb\nc\n", "", 0),
    (r"echo 'a\tb'", "a\\tb\n", "", 0),
    ("echo -x", "-x\n", "", 0),
    ("echo 'single $HOME' \"double $HOME\"", "single $HOME double /root\n", "", 0),
    (r"echo a\ b \$x \\", "a b $x \\\n", "", 0),
    ('echo "a  b"   c   d', "a  b c d\n", "", 0),
    ("x='1  2'; echo $x; echo \"$x\"", "1 2\n1  2\n", "", 0),
    ("x=5; echo ${x} ${x}y $xy.", "5 5y .\n", "", 0),
    ("echo ${u:-dflt} ${u-d2} ${x:=set} $x ${x:+alt}", "dflt d2 set set alt\n", "", 0),
    (
        "f=archive.tar.gz; echo ${f%.gz} ${f%%.*} ${f#*.} ${#f}",
        "archive.tar archive tar.gz 14\n",
        "",
        0,
    ),
    ("echo $((1 + 2 * 3)) $((7 / 2)) $((-7 % 3)) $((2 > 1))", "7 3 -1 1\n", "", 0),
    (
        "x=3; echo $((x ** 2)) $((2**3**2)) $((0x10 + 010)) $((x > 2 ? 10 : 20))",
        "9 512 24 10\n",
        "",
        0,
    ),
    ('echo "$(echo inner; echo two)"', "inner\ntwo\n", "", 0),
    ("echo `echo back`quote", "backquote\n", "", 0),
    ("echo ''; echo \"\" x", "\n x\n", "", 0),
    ("echo a#b # a comment", "a#b\n", "", 0),
    ("echo ~ ~/x", "/root /root/x\n", "", 0),
    ("A=1 env | grep ^A=", "A=1\n", "", 0),
    ("export B=2; sh -c 'echo $B'", "2\n", "", 0),
    ("C=3; sh -c 'echo [$C]'", "[]\n", "", 0),
    ('set -- x \'y z\'; for a in "$@"; do echo "<$a>"; done; echo $#', "<x>\n<y z>\n2\n", "", 0),
    ("echo $$", "1\n", "", 0),
    # status, control flow
    ("true; echo $?; false; echo $?", "0\n1\n", "", 0),
    ("false", "", "", 1),
    ("exit 3", "", "", 3),
    ("(exit 4); echo $?", "4\n", "", 0),
    ("true && echo yes || echo no; false && echo yes || echo no", "yes\nno\n", "", 0),
    ("! false && echo negated", "negated\n", "", 0),
    ("if [ -d /tmp ]; then echo dir; else echo nodir; fi", "dir\n", "", 0),
    ("if false; then :; elif true; then echo elif; fi", "elif\n", "", 0),
    ("for i in 1 2 3; do echo -n $i; done; echo", "123\n", "", 0),
    ("i=0; while [ $i -lt 3 ]; do i=$((i+1)); echo $i; done", "1\n2\n3\n", "", 0),
    ("until true; do echo never; done; echo after", "after\n", "", 0),
    ("for i in 1 2 3 4; do [ $i = 3 ] && break; echo $i; done", "1\n2\n", "", 0),
    ("for i in 1 2 3; do [ $i = 2 ] && continue; echo $i; done", "1\n3\n", "", 0),
    ("{ echo a; echo b; } | wc -l", "2\n", "", 0),
    ("cd /tmp; (cd /; pwd); pwd", "/\n/tmp\n", "", 0),
    ("nope", "", "sh: nope: not found\n", 127),
    ("nope 2>/dev/null; echo $?", "127\n", "", 0),
    ("if true; then echo x; fi fi", "", 'sh: syntax error: unexpected "fi"\n', 2),
    ("echo 'open", "", "sh: syntax error: unterminated quoted string\n", 2),
    ("exit 256", "", "", 0),
    # redirections
    ("echo hi > /tmp/f; echo there >> /tmp/f; cat /tmp/f", "hi\nthere\n", "", 0),
    ("echo err >&2", "", "err\n", 0),
    ("cat /nope 2>&1", f"cat: can't open '/nope': {NF}\n", "", 1),
    ("cat /nope 2>/dev/null; echo $?", "1\n", "", 0),
    ("echo x > /zz/f", "", "sh: can't create /zz/f: nonexistent directory\n", 1),
    ("cat < /nope", "", "sh: can't open /nope: no such file\n", 1),
    ("echo data > /tmp/in; wc -c < /tmp/in", "5\n", "", 0),
    ("{ echo out; echo err >&2; } 2>&1 | cat", "out\nerr\n", "", 0),
    ("echo gone > /dev/null; cat /dev/null", "", "", 0),
    ("cat <<EOF\nhi $HOME\nEOF", "hi /root\n", "", 0),
    ("cat <<'EOF'\nhi $HOME\nEOF", "hi $HOME\n", "", 0),
    # pipelines
    ("echo hello | cat", "hello\n", "", 0),
    ("printf 'b\\na\\nc\\n' | sort | head -n 2", "a\nb\n", "", 0),
    ("seq 10 | grep 1 | wc -l", "2\n", "", 0),
    ("false | true", "", "", 0),
    ("true | false", "", "", 1),
    # files
    ("mkdir -p /a/b/c && touch /a/b/c/f && ls /a/b/c", "f\n", "", 0),
    ("mkdir /etc", "", "mkdir: can't create directory '/etc': File exists\n", 1),
    ("mkdir /x/y", "", f"mkdir: can't create directory '/x/y': {NF}\n", 1),
    ("rm /nope", "", f"rm: can't remove '/nope': {NF}\n", 1),
    ("rm -f /nope; echo $?", "0\n", "", 0),
    ("rm /tmp", "", "rm: '/tmp' is a directory\n", 1),
    ("rm -r /etc && ls /etc", "", f"ls: /etc: {NF}\n", 1),
    ("rmdir /etc", "", "rmdir: '/etc': Directory not empty\n", 1),
    ("touch /zz/y", "", f"touch: /zz/y: {NF}\n", 1),
    ("cat /tmp", "", "cat: read error: Is a directory\n", 1),
    ("cp /etc/passwd /tmp/p && head -n 1 /tmp/p", "root:x:0:0:root:/root:/bin/sh\n", "", 0),
    ("cp /nope /tmp", "", f"cp: can't stat '/nope': {NF}\n", 1),
    ("cp /etc /tmp/e", "", "cp: omitting directory '/etc'\n", 1),
    ("cp -r /etc /tmp/e && ls /tmp/e | head -n 1", "group\n", "", 0),
    ("echo 1 > /tmp/a; mv /tmp/a /tmp/b; cat /tmp/b; ls /tmp", "1\nb\n", "", 0),
    ("ln -s /etc/passwd /tmp/l && head -n 1 /tmp/l", "root:x:0:0:root:/root:/bin/sh\n", "", 0),
    ("ln -s a /tmp/l; ln -s b /tmp/l", "", "ln: /tmp/l: File exists\n", 1),
    ("echo B > /tmp/b; ln -s a /tmp/l; ln -sf b /tmp/l; cat /tmp/l", "B\n", "", 0),
    ("echo x > /tmp/f; ln /tmp/f /tmp/h; cat /tmp/h", "x\n", "", 0),
    ("cd /tmp && ln -s /etc && ls -d etc", "etc\n", "", 0),
    ("ln -s /etc/passwd /etc/group /tmp && ls /tmp", "group\npasswd\n", "", 0),
    ("ln /etc /tmp/e", "", "ln: /tmp/e: Operation not permitted\n", 1),
    ("ln", "", "ln: usage: ln [-sfn] TARGET... LINK|DIR\n", 1),
    ("cd /nope", "", f"sh: cd: can't cd to /nope: {NF}\n", 2),
    ("cd /etc && cd .. && pwd && cd - ", "/\n/etc\n", "", 0),
    ("echo x > /tmp/s.sh; /tmp/s.sh", "", "sh: /tmp/s.sh: Permission denied\n", 126),
    (
        "printf 'echo from script $1\\n' > /tmp/s; chmod +x /tmp/s; /tmp/s arg",
        "from script arg\n",
        "",
        0,
    ),
    ("printf 'exit 5\\n' > /tmp/s; sh /tmp/s; echo $?", "5\n", "", 0),
    ("sh /nope", "", f"sh: can't open '/nope': {NF}\n", 2),
    ("ls -d /tmp /etc", "/etc\n/tmp\n", "", 0),
    ("ls /bin/cat /tmp", "/bin/cat\n\n/tmp:\n", "", 0),
    (
        "touch /tmp/x.txt /tmp/y.txt /tmp/z.log; echo /tmp/*.txt; echo '/tmp/*.txt'",
        "/tmp/x.txt /tmp/y.txt\n/tmp/*.txt\n",
        "",
        0,
    ),
    ("cd /tmp; touch a b; echo *; echo nomatch*", "a b\nnomatch*\n", "", 0),
    # text applets
    ("printf '%s-%d%%\\n' x 5", "x-5%\n", "", 0),
    ("printf '%5s|%-3d|%03d\\n' ab 7 9", "   ab|7  |009\n", "", 0),
    ("printf '%s\\n' a b c", "a\nb\nc\n", "", 0),
    ("printf '%d\\n' abc", "0\n", "printf: invalid number 'abc'\n", 1),
    ("printf '%x %o %c\\n' 255 8 hello", "ff 10 h\n", "", 0),
    ("echo 'a b c' | wc", "        1         3         6\n", "", 0),
    (
        "printf 'x\\ny\\n' > /tmp/t; wc -l /tmp/t /tmp/t",
        "        2 /tmp/t\n        2 /tmp/t\n        4 total\n",
        "",
        0,
    ),
    ("seq 5 | tail -n 2", "4\n5\n", "", 0),
    ("seq 5 | tail -n +4", "4\n5\n", "", 0),
    ("seq 2 2 7", "2\n4\n6\n", "", 0),
    ("seq -s , -1 1; seq 3 -1 2; seq 0.5 0.5 1.5", "-1,0,1\n3\n2\n0.5\n1.0\n1.5\n", "", 0),
    ("seq 3 | head -1", "1\n", "", 0),
    ("printf 'Apple\\nbanana\\napple\\n' | grep -i apple", "Apple\napple\n", "", 0),
    ("printf 'a\\nb\\na\\n' | grep -c a", "2\n", "", 0),
    ("printf 'a\\nb\\n' | grep -v a", "b\n", "", 0),
    ("printf 'a\\nb\\n' | grep -n b", "2:b\n", "", 0),
    ("printf 'ab1\\ncd\\n' | grep '[[:digit:]]'", "ab1\n", "", 0),
    ("printf 'aa\\nab\\n' | grep -E 'a(a|c)'", "aa\n", "", 0),
    ("echo x | grep y", "", "", 1),
    ("grep x /nope", "", f"grep: /nope: {NF}\n", 2),
    (
        "head -n 1 /etc/passwd /etc/group",
        "==> /etc/passwd <==\nroot:x:0:0:root:/root:/bin/sh\n\n==> /etc/group <==\nroot:x:0:\n",
        "",
        0,
    ),
    ("head -n x /etc/passwd", "", "head: invalid number 'x'\n", 1),
    ("sort -rn <<EOF\n2\n10\n1\nEOF", "10\n2\n1\n", "", 0),
    # system applets
    ("hostname; uname -n", "c0ffee123456\nc0ffee123456\n", "", 0),
    ("uname; uname -a | grep -c '^Linux c0ffee123456 .* GNU/Linux$'", "Linux\n1\n", "", 0),
    ("id; whoami", "uid=0(root) gid=0(root) groups=0(root)\nroot\n", "", 0),
    ("date", "Sat Nov 28 01:40:00 UTC 2026\n", "", 0),
    ("date +%Y-%m-%dT%H:%M:%S%z", "2026-11-28T01:40:00+0000\n", "", 0),
    ("sleep 2; date +%s", "1795830002\n", "", 0),
    ("sleep x", "", "sleep: invalid number 'x'\n", 1),
    (
        "[ 1 -lt 2 ] && [ abc != abd ] && [ -z '' ] && [ -n x ] && [ -f /etc/passwd ] && echo ok",
        "ok\n",
        "",
        0,
    ),
    ("[ -e /nope ] || [ ! -d /etc/passwd ] && echo ok", "ok\n", "", 0),
    ("[ 1 = 1", "", "sh: missing ]\n", 2),
    ("test -x /bin/ls && test -L /bin/ls && echo links", "links\n", "", 0),
    ("which ls sh; which nope; echo $?", "/bin/ls\n/bin/sh\n1\n", "", 0),
    ("kill 99", "", "sh: can't kill pid 99: No such process\n", 1),
    ("kill -0 1; echo $?", "0\n", "", 0),
    ("busybox echo via-busybox; /bin/busybox ls /home", "via-busybox\n", "", 0),
    ("cat /etc/os-release | grep ^ID=", "ID=busybox\n", "", 0),
    (
        "ls -l /bin/cat",
        "lrwxrwxrwx    1 root     root             7 Sep 26  2024 /bin/cat -> busybox\n",
        "",
        0,
    ),
    ("ls -ld /tmp", "drwxrwxrwt    2 root     root          4096 Sep 26  2024 /tmp\n", "", 0),
    ("env | grep -c ^HOME=/root", "1\n", "", 0),
    ("env -i FOO=bar env", "FOO=bar\n", "", 0),
    ('read a b <<EOF\none two three\nEOF\necho "$a|$b"', "one|two three\n", "", 0),
    ("eval 'echo evaluated'", "evaluated\n", "", 0),
    ("command -v ls cd", "/bin/ls\ncd\n", "", 0),
    (
        "for x in go stop 'a b' z; do case $x in go|run) echo G;; stop) echo S;;"
        " 'a b') echo Q;; *) echo \"?$x\";; esac; done",
        "G\nS\nQ\n?z\n",
        "",
        0,
    ),
    ("case abc in a*c) echo glob;; esac; case x in y) echo no;; esac; echo $?", "glob\n0\n", "", 0),
    ('set --; for a in "$@"; do echo never; done; echo "[$*]"', "[]\n", "", 0),
    ("x=a:b; IFS=:; for p in $x; do echo $p; done", "a\nb\n", "", 0),
    ("echo ${x:?no x here}; echo after", "", "sh: x: no x here\n", 2),
    ("echo $((5/0)); echo after", "", "sh: divide by zero\n", 2),
    ("exec echo replaced; echo not", "replaced\n", "", 0),
    ('echo "$(echo "nested (parens)")"', "nested (parens)\n", "", 0),
    ("sleep 1 & wait; echo waited", "waited\n", "", 0),
]


@pytest.mark.parametrize(("command", "stdout", "stderr", "code"), CASES, ids=[c[0] for c in CASES])
def test_command_line(command: str, stdout: str, stderr: str, code: int) -> None:
    out, err, status = sh(command)
    assert (out.decode(), err.decode(), status) == (stdout, stderr, code)


def test_cat_copies_stdin() -> None:
    assert asyncio.run(run(["cat"], b"line 1\nline 2\n")) == (b"line 1\nline 2\n", b"", 0)


def test_pipeline_reads_process_stdin() -> None:
    out, err, code = sh("cat | grep x", b"ax\nb\ncx\n")
    assert (out, err, code) == (b"ax\ncx\n", b"", 0)


def test_bare_sh_runs_stdin_line_by_line_without_a_prompt() -> None:
    script = b"echo one\nx=2\necho $x\nfor i in a b\ndo echo $i\ndone\nexit 7\necho never\n"
    assert asyncio.run(run(["sh"], script)) == (b"one\n2\na\nb\n", b"", 7)


def test_bare_sh_ends_at_eof_with_the_last_status() -> None:
    assert asyncio.run(run(["sh"], b"false\n")) == (b"", b"", 1)


def test_sh_c_positional_arguments() -> None:
    out, _, _ = asyncio.run(run(["sh", "-c", 'echo "$0|$1|$2|$#|$@"', "zero", "one", "two"]))
    assert out == b"zero|one|two|2|one two\n"


def test_sh_c_without_command_is_an_error() -> None:
    assert asyncio.run(run(["sh", "-c"])) == (b"", b"sh: -c requires an argument\n", 2)


@pytest.mark.parametrize(
    ("argv", "stdout"),
    [
        (["echo", "hi"], b"hi\n"),
        (["/bin/echo", "a", "b"], b"a b\n"),
        (["ls", "/home"], b""),
        (["date", "+%H:%M"], b"01:40\n"),
        (["busybox", "true"], b""),
    ],
)
def test_argv_without_a_shell(argv: list[str], stdout: bytes) -> None:
    out, err, code = asyncio.run(run(argv))
    assert (out, err, code) == (stdout, b"", 0)


def test_argv_is_not_split_or_expanded() -> None:
    out, _, _ = asyncio.run(run(["echo", "$HOME", "a  b", "*"]))
    assert out == b"$HOME a  b *\n"


def test_files_written_by_the_shell_land_in_the_upper_layer() -> None:
    fs = new_fs()
    sh("echo saved > /root/note; rm /etc/group", fs=fs)
    assert fs.read("/root/note") == b"saved\n"
    assert (2, "/etc/group") in fs.changes()
    assert (1, "/root/note") in fs.changes()


def test_alpine_and_hello_world_trees() -> None:
    out, _, _ = asyncio.run(run(["cat", "/etc/os-release"], fs=new_fs("alpine")))
    assert b"ID=alpine" in out and b"labkit" in out and b"VERSION_ID=" in out
    out, err, code = asyncio.run(run(["/hello"], fs=new_fs("hello-world")))
    assert code == 0 and err == b""
    text = out.decode()
    assert "socket" in text and "docker run -it busybox sh" in text
    assert len(text.strip().splitlines()) < 15


def test_every_applet_in_the_image_is_implemented() -> None:
    assert set(APPLETS) == set(SHELL_APPLETS)


def test_an_applet_name_busybox_lacks() -> None:
    fs = new_fs()
    fs.symlink("busybox", "/bin/vi")
    assert asyncio.run(run(["vi"], fs=fs)) == (b"", b"vi: applet not found\n", 127)


@pytest.mark.parametrize(
    ("text", "incomplete"),
    [
        ("echo 'abc", True),
        ('echo "abc', True),
        ("for i in 1; do", True),
        ("if true; then", True),
        ("echo a |", True),
        ("echo a &&", True),
        ("echo $(ls", True),
        ("cat <<EOF\nno end", True),
        ("fi", False),
        ("echo a; ;", False),
        (")", False),
        ("done", False),
        ("echo >", False),
    ],
)
def test_parse_errors_tell_incomplete_from_wrong(text: str, incomplete: bool) -> None:
    with pytest.raises(ShellSyntaxError) as info:
        parse(text)
    assert isinstance(info.value, Incomplete) is incomplete


def test_parse_keeps_quoted_keywords_as_words() -> None:
    out, _, _ = sh("echo if 'then' fi; 'true' && echo ran")
    assert out == b"if then fi\nran\n"


def test_a_busy_loop_lets_other_tasks_run() -> None:
    async def scenario() -> tuple[int, int]:
        ticks = 0
        clock = FakeClock()
        proc = Process(
            ["sh", "-c", "while true; do :; done"],
            fs=new_fs(),
            env={},
            hostname="h",
            clock=clock,
            on_output=lambda s, d: None,
        )
        proc.start()
        for _ in range(5):
            await asyncio.sleep(0)
            ticks += 1
        proc.signal(15)
        return ticks, await proc.wait()

    assert asyncio.run(scenario()) == (5, 143)

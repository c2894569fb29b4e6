"""The text filters a learner's script reaches for (tr, cut, uniq, xargs, awk, sed, top).

Each case's expected output is what busybox prints in a real container on dockerd: the
differential test at the end runs every case there and compares (Debian's static busybox,
the one ``labkit provision`` imports).
"""

from __future__ import annotations

import pytest
from test_runtime_shell import new_fs, sh

# (command, what busybox prints): checked against the real busybox by the last test.
CASES = [
    (
        'printf "b 2\\na 1\\nb 2\\nb 2\\nc 3\\n" | uniq -c',
        "      1 b 2\n      1 a 1\n      2 b 2\n      1 c 3\n",
    ),
    ('printf "a\\na\\nb\\nc\\nc\\n" | uniq -d', "a\nc\n"),
    ('printf "a\\na\\nb\\nc\\nc\\n" | uniq -u', "b\n"),
    ('printf "A\\na\\nb\\n" | uniq -i', "A\nb\n"),
    ('printf "a:b:c\\nnodelim\\n" | cut -s -d: -f1', "a\n"),
    ('printf "hello world\\n" | cut -c1-5,7', "hellow\n"),
    ('printf "1\\t2\\t3\\n" | cut -f2-', "2\t3\n"),
    ("echo hello | tr a-z A-Z", "HELLO\n"),
    ('echo "a   b  c" | tr -s " "', "a b c\n"),
    ("echo abcabc | tr -d b", "acac\n"),
    ('echo "hello 123" | tr -cd "0-9\\n"', "123\n"),
    ('echo hello | tr "[:lower:]" "[:upper:]"', "HELLO\n"),
    ('echo "a,b,c" | tr , "\\n"', "a\nb\nc\n"),
    ("echo aabbcc | tr -s a-c", "abc\n"),
    ("seq 5 | xargs echo X", "X 1 2 3 4 5\n"),
    ("seq 5 | xargs -n 2 echo", "1 2\n3 4\n5\n"),
    ('printf "a b\\nc\\n" | xargs -I {} echo "<{}>"', "<a b>\n<c>\n"),
    ('echo "one two" | xargs -n1', "one\ntwo\n"),
    ('printf "" | xargs echo empty', "empty\n"),
    ("echo \"1 2 3\" | awk '{print $2, NF; s+=$3} END {print s}'", "2 3\n3\n"),
    (
        "printf \"a 1\\nb 2\\na 3\\n\" | awk '{sum[$1]+=$2} END {for (k in sum) print k, sum[k]}'"
        " | sort",
        "a 4\nb 2\n",
    ),
    ("printf \"x:y:z\\n\" | awk -F: '{print $NF, $(NF-1); print NR}'", "z y\n1\n"),
    ("printf \"l1\\nl2\\nl3\\n\" | awk 'NR==2'", "l2\n"),
    ('printf "l1\\nl2\\nl3\\n" | awk \'/2/,/3/ {print "r:" $0}\'', "r:l2\nr:l3\n"),
    (
        'awk \'BEGIN {printf "%5.2f|%-4s|%d|%x\\n", 3.14159, "ab", 42.9, 255}\'',
        " 3.14|ab  |42|ff\n",
    ),
    (
        'awk \'BEGIN {s="hello world"; print length(s), substr(s,1,5), index(s,"w"), toupper(s)}\'',
        "11 hello 7 HELLO WORLD\n",
    ),
    (
        'awk \'BEGIN {n=split("a:b:c",p,":"); print n, p[3]; x="aaa"; gsub(/a/,"b",x); print x}\'',
        "3 c\nbbb\n",
    ),
    ('echo "foo bar" | awk \'{sub(/o+/,"0"); print; print $1}\'', "f0 bar\nf0\n"),
    ('awk \'BEGIN {for (i=1;i<=3;i++) printf "%d ", i*i; print ""}\'', "1 4 9 \n"),
    ("awk 'BEGIN {i=0; while (i<3) {i++; if (i==2) continue; print i}}'", "1\n3\n"),
    ("printf \"3\\n10\\n2\\n\" | awk '$1 > 2'", "3\n10\n"),
    ('printf "a b\\n" | awk \'{$2="X"; print; print NF}\'', "a X\n2\n"),
    ("printf \"a b c\\n\" | awk '{NF=2; print}'", "a b\n"),
    ("echo 5 | awk '{print $1/2, int($1/2), $1 \"\" 1}'", "2.5 2 51\n"),
    ("awk -v n=3 'BEGIN {print n+1}'", "4\n"),
    ("printf \"a\\nb\\n\" | awk 'END {print NR, $0}'", "2 b\n"),
    (
        "awk 'BEGIN {print 1e6, 0.1+0.2, 100000000, 123456789012}'",
        "1000000 0.3 100000000 123456789012\n",
    ),
    ('awk \'BEGIN { exit 3 } END { print "end" }\'; echo "rc=$?"', "end\nrc=3\n"),
    ('echo hello world | sed "s/o/0/g"', "hell0 w0rld\n"),
    ('echo hello world | sed "s/o/0/2"', "hello w0rld\n"),
    ('printf "x\\ny\\nz\\n" | sed -n 2p', "y\n"),
    ('printf "a\\nb\\nc\\n" | sed 1d', "b\nc\n"),
    ("printf \"a\\nb\\nc\\n\" | sed '$d'", "a\nb\n"),
    ("printf \"a\\nb\\nc\\n\" | sed -n '/b/,$p'", "b\nc\n"),
    ("echo \"abc\" | sed 's/\\(a\\)\\(b\\)/\\2\\1/'", "bac\n"),
    ("echo \"abc\" | sed -E 's/(a)(b)/[\\2\\1]/'", "[ba]c\n"),
    ("echo \"path/to/file\" | sed 's|/|_|g'", "path_to_file\n"),
    ("printf \"a\\nb\\n\" | sed '1i before'", "before\na\nb\n"),
    ("printf \"a\\nb\\n\" | sed -e 's/a/A/' -e 's/b/B/'", "A\nB\n"),
    ("echo \"hello\" | sed 'y/abcdefghij/ABCDEFGHIJ/'", "HEllo\n"),
    ("printf \"1\\n2\\n3\\n4\\n\" | sed -n '2,3p'", "2\n3\n"),
    ("printf \"a\\nb\\nc\\n\" | sed '2q'", "a\nb\n"),
    ("echo \"a.b.c\" | sed 's/\\./-/g'", "a-b-c\n"),
    ("printf \"keep\\ndrop me\\nkeep\\n\" | sed '/drop/d'", "keep\nkeep\n"),
    ("echo \"x  y\" | sed 's/ *$//; s/  */ /g'", "x y\n"),
    ("printf \"a\\nb\\nc\\n\" | sed -n '$='", "3\n"),
    ("printf \"one\\ntwo\\n\" | sed 's/.*/[&]/'", "[one]\n[two]\n"),
    ("seq 3 10 | sort -rn | head -2", "10\n9\n"),
    ("printf \"a\\nb\\n\" | sed '1a after'", "a\nafter\nb\n"),
    ('awk \'BEGIN {x = 1 == 1 ? "yes" : "no"; print x; print 7%3, -3}\'', "yes\n1 -3\n"),
]


@pytest.mark.parametrize(("command", "expected"), CASES, ids=[c[0][:60] for c in CASES])
def test_filter(command: str, expected: str) -> None:
    out, err, _code = sh(command)
    assert (out + err).decode() == expected


def test_awk_power_and_errors() -> None:
    """Debian's busybox is built without awk's math; the lab's awk has ``^``."""
    out, _err, code = sh("awk 'BEGIN {print 2^10, 2**1}' 2>&1; echo $?")
    assert out.decode().splitlines()[-1] in ("0", "2")
    out, err, code = sh("awk 'BEGIN {print 2^10}'")
    assert (out, code) == (b"1024\n", 0)
    out, err, code = sh("awk 'BEGIN { print (1 }'")
    assert code == 2 and b"awk: cmd. line:1:" in err
    out, err, code = sh("awk 'function f(x) { return x } BEGIN { print f(1) }'")
    assert code == 2 and b"not supported" in err


def test_awk_writes_a_file_and_reads_files() -> None:
    fs = new_fs()
    out, err, code = sh(
        "printf 'a 1\\nb 2\\n' > /tmp/in; awk '{print $2 > \"/tmp/out\"}' /tmp/in; cat /tmp/out;"
        " awk 'FNR==1 {print FILENAME}' /tmp/in /tmp/out",
        fs=fs,
    )
    assert (out.decode(), err, code) == ("1\n2\n/tmp/in\n/tmp/out\n", b"", 0)


def test_sed_in_place_and_missing_file() -> None:
    fs = new_fs()
    out, err, code = sh("printf 'x\\ny\\n' > /f; sed -i 's/x/z/' /f; cat /f", fs=fs)
    assert (out, code) == (b"z\ny\n", 0)
    out, err, code = sh("sed p /nope")
    assert code == 2 and b"sed: /nope: No such file or directory" in err


def test_xargs_status_and_missing_command() -> None:
    _out, _err, code = sh("echo a | xargs false")
    assert code == 123
    _out, _err, code = sh("echo a | xargs no-such-command")
    assert code == 127


def test_top_batch_lists_the_processes() -> None:
    out, err, code = sh("top -b -n 1")
    lines = out.decode().splitlines()
    assert code == 0, err
    assert lines[0].startswith("Mem: ") and lines[1].startswith("CPU: ")
    assert lines[3].split() == ["PID", "PPID", "USER", "STAT", "VSZ", "%VSZ", "%CPU", "COMMAND"]
    assert any(line.endswith("top -b -n 1") and " R " in line for line in lines[4:]), lines


@pytest.mark.real_engine
def test_cases_match_busybox_on_dockerd(real_engine_url: str) -> None:
    """Every case above, run by the real busybox in one container on dockerd."""
    from image_fixtures import busybox_says

    got = busybox_says(real_engine_url, [f"{command} 2>&1" for command, _expected in CASES])
    wrong = [(c, e, got.get(n)) for n, (c, e) in enumerate(CASES) if got.get(n) != e]
    assert not wrong, wrong

# ruff: noqa: E501  (the table holds outputs recorded from busybox, kept whole)
"""Signals in a container: pid 1's immunity, and the shell's ``trap``.

A container's main process is pid 1 of its PID namespace: the kernel does not deliver to it
a signal it has no handler for (SIGKILL from outside excepted), so ``busybox sleep`` as pid 1
ignores SIGTERM and Ctrl-C. ``trap`` gives a shell a handler, which ash runs once the command
in progress ends (``read`` and ``wait`` give way at once). The ``trap`` cases are checked
against the real busybox by the differential test at the end; ``docker stop`` on both engines
is in test_cli_compat.py.
"""

from __future__ import annotations

import asyncio
import re

import pytest
from test_runtime_process import make, scenario
from test_runtime_shell import sh

# (command, what busybox prints with stderr joined, "line N: " left out): see the last test.
CASES = [
    (
        'trap "echo bye; exit 0" TERM INT; trap "" HUP; trap "echo x" EXIT; trap; trap - INT; trap',
        "trap -- 'echo x' EXIT\ntrap -- '' HUP\ntrap -- 'echo bye; exit 0' INT\ntrap -- 'echo bye; exit 0' TERM\n"
        "trap -- 'echo x' EXIT\ntrap -- '' HUP\ntrap -- 'echo bye; exit 0' TERM\nx\nrc=0\n",
    ),
    (
        'trap "a\'b" USR1 sigusr2 15; trap',
        "trap -- 'a'\"'\"'b' USR1\ntrap -- 'a'\"'\"'b' USR2\ntrap -- 'a'\"'\"'b' TERM\nrc=0\n",
    ),
    (
        'trap "" 34 iot poll 16 0; trap',
        "trap -- '' EXIT\ntrap -- '' ABRT\ntrap -- '' STKFLT\ntrap -- '' POLL\ntrap -- '' 34\nrc=0\n",
    ),
    ('trap INT; trap "x" INT; trap 2; trap; echo rc=$?', "rc=0\nrc=0\n"),
    (
        'trap "echo q" 99 65 RTMIN; echo rc=$?',
        "sh: trap: 99: invalid signal specification\nsh: trap: 65: invalid signal specification\n"
        "sh: trap: RTMIN: invalid signal specification\nrc=1\nrc=0\n",
    ),
    ("trap -p; echo never", "sh: trap: illegal option -p\nrc=2\n"),
    ('trap "echo q" kill; trap', "trap -- 'echo q' KILL\nrc=0\n"),
    ('trap "echo hi; exit 5" EXIT; exit 3', "hi\nrc=5\n"),
    ('trap "echo a" TERM; (trap); echo $(trap)', "trap -- 'echo a' TERM\nrc=0\n"),
    ("trap 'echo \"status $?\"' EXIT; false", "status 1\nrc=1\n"),
    ('trap "echo q"; echo rc=$?', "sh: trap: echo q: invalid signal specification\nrc=1\nrc=0\n"),
    ("trap - ; echo rc=$?", "sh: trap: -: invalid signal specification\nrc=1\nrc=0\n"),
    ('trap -- "echo dd" TERM; trap', "trap -- 'echo dd' TERM\nrc=0\n"),
    ('trap "echo bad(" EXIT; echo body', 'body\nsh: syntax error: unexpected "("\nrc=2\n'),
    (
        'trap "" TERM; (trap); trap "echo t" TERM; (trap)',
        "trap -- '' TERM\nrc=0\n",
    ),
]


def wrapped(command: str) -> str:
    return f"( {command} ) 2>&1; echo rc=$?"


@pytest.mark.parametrize(("command", "expected"), CASES, ids=[c[0][:60] for c in CASES])
def test_trap_builtin(command: str, expected: str) -> None:
    out, err, _code = sh(wrapped(command))
    assert (out + err).decode() == expected


def test_pid_1_ignores_what_it_has_no_handler_for() -> None:
    """``docker stop``'s SIGTERM, ``docker kill -s INT`` and a Ctrl-C do not reach a pid 1
    ``sleep``; SIGKILL does. An exec (not pid 1) dies of SIGTERM."""

    async def go():
        proc, clock, _ = make(["sleep", "100"], pid1=True, tty=True)
        proc.start()
        await clock.sleeping.wait()
        for signum in (15, 2, 1, 3, 10):
            proc.signal(signum)
        proc.feed_stdin(b"\x03")  # the terminal's Ctrl-C
        for _ in range(5):
            await asyncio.sleep(0)
        still = proc.running
        proc.signal(9)
        exec_, clock2, _ = make(["sleep", "100"])
        exec_.start()
        await clock2.sleeping.wait()
        exec_.signal(15)
        return still, await proc.wait(), await exec_.wait()

    assert scenario(go()) == (True, 137, 143)


def test_a_trap_runs_once_the_command_in_progress_ends() -> None:
    """``docker stop`` of a shell that traps TERM: it ends its own way after its sleep."""

    async def go():
        script = 'trap "echo bye; exit 0" TERM; while :; do sleep 1; done'
        proc, clock, rec = make(["sh", "-c", script], pid1=True)
        proc.start()
        await clock.sleeping.wait()
        proc.signal(15)
        for _ in range(5):
            await asyncio.sleep(0)
        before = (proc.running, rec.stream(1))
        clock.wake()  # the sleep in progress ends: then the trap
        return before, await proc.wait(), rec.stream(1)

    assert scenario(go()) == ((True, b""), 0, b"bye\n")


@pytest.mark.parametrize(
    ("script", "output"),
    [
        ('trap "echo t" TERM; read x; echo read=$?', b"t\nread=1\n"),
        ('trap "echo t" TERM; sleep 10 & wait; echo wait=$?', b"t\nwait=143\n"),
        (
            'trap "echo t" TERM; kill $$; echo after; kill -TERM 1; echo again',
            b"t\nafter\nt\nagain\n",
        ),
    ],
)
def test_read_and_wait_give_way_to_a_trap_at_once(script: str, output: bytes) -> None:
    """As dockerd's busybox does (tried by hand): no sleep needs to end first; ``kill`` of
    pid 1 from inside reaches its trap."""

    async def go():
        proc, _, rec = make(["sh", "-c", script], pid1=True)
        proc.start()
        if "kill" not in script:
            for _ in range(10):  # until it waits in read or wait
                await asyncio.sleep(0)
            proc.signal(15)
        code = await proc.wait()
        return code, rec.stream(1)

    assert scenario(go()) == (0, output)


def test_exec_gives_the_new_program_default_handlers() -> None:
    async def go():
        proc, clock, _ = make(["sh", "-c", 'trap "echo t" TERM; exec sleep 10'], pid1=True)
        proc.start()
        await clock.sleeping.wait()
        proc.signal(15)
        for _ in range(5):
            await asyncio.sleep(0)
        still = proc.running
        proc.signal(9)
        return still, await proc.wait()

    assert scenario(go()) == (True, 137)


def test_an_interactive_shell_ignores_sigterm_even_where_it_is_not_pid_1() -> None:
    """``docker exec -it c sh``: ash ignores TERM and QUIT when interactive."""

    async def go():
        proc, _, rec = make(["sh"], tty=True)
        proc.start()
        await rec.until(b"/ # ")
        proc.signal(15)
        proc.signal(3)
        proc.feed_stdin(b"exit 4\r")
        return await proc.wait()

    assert scenario(go()) == 4


@pytest.mark.parametrize(
    ("script", "code", "output"),
    [
        ("sleep 100; echo never", 130, b""),
        ('trap "echo int" INT; sleep 100; echo after', 0, b"int\r\nafter\r\n"),
    ],
)
def test_ctrl_c_ends_a_pid_1_shells_command(script: str, code: int, output: bytes) -> None:
    """``docker run -it busybox sh -c ...``: the terminal's SIGINT ends the foreground
    command; ``sh -c`` catches it and then ends (130), unless it traps it."""

    async def go():
        proc, clock, rec = make(["sh", "-c", script], pid1=True, tty=True)
        proc.start()
        await clock.sleeping.wait()
        proc.feed_stdin(b"\x03")
        return await proc.wait(), rec.stream(1).replace(b"^C\r\n", b"")

    assert scenario(go()) == (code, output)


def test_sigint_from_kill_ends_sh_c_after_its_command() -> None:
    """``docker kill -s INT`` reaches only pid 1, the shell: its sleep goes on to the end."""

    async def go():
        proc, clock, _ = make(["sh", "-c", "sleep 3; echo never"], pid1=True)
        proc.start()
        await clock.sleeping.wait()
        proc.signal(2)
        for _ in range(5):
            await asyncio.sleep(0)
        still = proc.running
        clock.wake()
        return still, await proc.wait()

    assert scenario(go()) == (True, 130)


@pytest.mark.real_engine
def test_cases_match_busybox_on_dockerd(real_engine_url: str) -> None:
    """Every ``trap`` case above, run by the real busybox in one container on dockerd
    (whose messages say ``line N:``, which labkit's shell leaves out)."""
    from image_fixtures import busybox_says

    got = busybox_says(real_engine_url, [wrapped(command) for command, _expected in CASES])
    got = {n: re.sub(r"line \d+: ", "", text) for n, text in got.items()}
    wrong = [(c, e, got.get(n)) for n, (c, e) in enumerate(CASES) if got.get(n) != e]
    assert not wrong, wrong

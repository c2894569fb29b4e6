"""A container's simulated process: streaming, stdin, signals, TTY behaviour, resolve, top."""

from __future__ import annotations

import asyncio

import pytest

from labkit.engine.runtime import VFS, Process, image_rootfs
from labkit.engine.runtime.tty import LineDiscipline

NOW = 1795830000.0


class GatedClock:
    """A fake clock whose sleeps end only when the test opens the gate (or advances time)."""

    def __init__(self) -> None:
        self.now = NOW
        self.sleeping = asyncio.Event()
        self.gate = asyncio.Event()

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeping.set()
        await self.gate.wait()
        self.gate.clear()
        self.sleeping.clear()
        self.now += seconds

    def wake(self) -> None:
        self.gate.set()


class Recorder:
    def __init__(self) -> None:
        self.chunks: list[tuple[int, bytes]] = []
        self.changed = asyncio.Event()

    def __call__(self, stream: int, data: bytes) -> None:
        self.chunks.append((stream, data))
        self.changed.set()

    def stream(self, n: int) -> bytes:
        return b"".join(d for s, d in self.chunks if s == n)

    async def until(self, text: bytes, stream: int = 1) -> None:
        """Wait (without a wall-clock timeout of its own) until the stream holds ``text``."""
        while text not in self.stream(stream):
            self.changed.clear()
            await self.changed.wait()


def fs_for(image: str = "busybox") -> VFS:
    fs = VFS(image_rootfs(image), clock=lambda: NOW)
    if fs.is_dir("/etc"):
        fs.write("/etc/hostname", b"feedfacecafe\n")
    return fs


def make(argv, clock=None, rec=None, **kw) -> tuple[Process, GatedClock, Recorder]:
    clock = clock or GatedClock()
    rec = rec or Recorder()
    proc = Process(
        argv,
        fs=kw.pop("fs", None) or fs_for(),
        env=kw.pop("env", {}),
        hostname="feedfacecafe",
        clock=clock,
        sleep=clock.sleep,
        on_output=rec,
        **kw,
    )
    return proc, clock, rec


def scenario(coro):
    return asyncio.run(asyncio.wait_for(coro, 10))


def test_output_streams_before_a_sleep_ends() -> None:
    async def go():
        proc, clock, rec = make(["sh", "-c", "echo a; sleep 1; echo b >&2; echo c"])
        proc.start()
        proc.close_stdin()
        await clock.sleeping.wait()
        seen_during_sleep = list(rec.chunks)
        clock.wake()
        code = await proc.wait()
        return seen_during_sleep, rec.chunks, code

    during, chunks, code = scenario(go())
    assert during == [(1, b"a\n")]
    assert chunks == [(1, b"a\n"), (2, b"b\n"), (1, b"c\n")]
    assert code == 0


@pytest.mark.parametrize(("signum", "code"), [(15, 143), (9, 137), (3, 131), (1, 129)])
def test_a_signal_ends_a_sleeping_process(signum: int, code: int) -> None:
    async def go():
        proc, clock, rec = make(["sh", "-c", "echo start; sleep 3600; echo never"])
        proc.start()
        proc.close_stdin()
        await clock.sleeping.wait()
        assert proc.running
        proc.signal(signum)
        result = await proc.wait()
        return result, proc.running, rec.stream(1)

    assert scenario(go()) == (code, False, b"start\n")


def test_a_signal_ends_a_process_waiting_for_stdin() -> None:
    async def go():
        proc, _, rec = make(["cat"])
        proc.start()
        proc.feed_stdin(b"partial\n")
        await rec.until(b"partial\n")
        proc.signal(15)
        return await proc.wait()

    assert scenario(go()) == 143


def test_signals_before_start_and_after_exit() -> None:
    async def go():
        never, _, _ = make(["sleep", "10"])
        never.signal(9)
        first = await never.wait()
        done, _, _ = make(["true"])
        done.start()
        await done.wait()
        done.signal(15)
        return first, done.exit_code

    assert scenario(go()) == (137, 0)


def test_a_harmless_signal_is_ignored() -> None:
    async def go():
        proc, clock, _ = make(["sleep", "1"])
        proc.start()
        await clock.sleeping.wait()
        proc.signal(28)  # SIGWINCH
        proc.signal(0)
        still = proc.running
        clock.wake()
        return still, await proc.wait()

    assert scenario(go()) == (True, 0)


def test_stdin_is_read_as_it_arrives_and_eof_ends_it() -> None:
    async def go():
        proc, _, rec = make(["sh", "-c", "cat; echo done"])
        proc.start()
        proc.feed_stdin(b"one\n")
        await rec.until(b"one\n")
        proc.feed_stdin(b"two")
        await rec.until(b"two")
        proc.close_stdin()
        return await proc.wait(), rec.stream(1)

    assert scenario(go()) == (0, b"one\ntwodone\n")


def test_a_bare_shell_runs_each_line_as_it_comes() -> None:
    async def go():
        proc, _, rec = make(["sh"])
        proc.start()
        proc.feed_stdin(b"echo first\n")
        await rec.until(b"first\n")
        proc.feed_stdin(b"cd /tmp; pwd\nexit 9\n")
        return await proc.wait(), rec.stream(1)

    assert scenario(go()) == (9, b"first\n/tmp\n")


def test_exit_codes() -> None:
    async def code(argv, image="busybox"):
        proc, _, rec = make(argv, fs=fs_for(image))
        proc.start()
        proc.close_stdin()
        return await proc.wait(), rec.stream(2)

    async def go():
        return [
            await code(["sh", "-c", "exit 42"]),
            await code(["false"]),
            await code(["sh", "-c", "true; false"]),
            await code(["nope"]),
            await code(["sh"], image="hello-world"),
        ]

    assert scenario(go()) == [
        (42, b""),
        (1, b""),
        (1, b""),
        (127, b'exec: "nope": executable file not found in $PATH\n'),
        (127, b'exec: "sh": executable file not found in $PATH\n'),
    ]


def test_resolve_searches_path_in_the_container() -> None:
    fs = fs_for()
    assert Process.resolve(["echo", "x"], fs, {}) == "/bin/echo"
    assert Process.resolve(["/bin/ls"], fs, {}) == "/bin/ls"
    assert Process.resolve(["nope"], fs, {}) is None
    assert Process.resolve(["echo"], fs, {"PATH": "/usr/bin"}) is None
    assert Process.resolve(["/etc/passwd"], fs, {}) is None  # not executable
    assert Process.resolve([], fs, {}) is None
    hello = fs_for("hello-world")
    assert Process.resolve(["/hello"], hello, {}) == "/hello"
    assert Process.resolve(["sh"], hello, {}) is None


def test_tty_puts_everything_on_stream_1_with_crlf() -> None:
    async def go():
        proc, _, rec = make(["sh", "-c", "echo out; echo err >&2"], tty=True)
        proc.start()
        proc.close_stdin()
        await proc.wait()
        return rec.chunks

    assert scenario(go()) == [(1, b"out\r\n"), (1, b"err\r\n")]


def test_tty_shell_prompts_echoes_and_edits() -> None:
    async def go():
        proc, _, rec = make(["sh"], tty=True)
        proc.start()
        await rec.until(b"/ # ")
        proc.feed_stdin(b"cd /tmp\r")
        await rec.until(b"/tmp # ")
        proc.feed_stdin(b"echo hx\x7fi\r")
        await rec.until(b"hi\r\n/tmp # ")
        proc.feed_stdin(b"\x04")
        return await proc.wait(), rec.stream(1)

    code, screen = scenario(go())
    assert code == 0
    assert screen == b"/ # cd /tmp\r\n/tmp # echo hx\b \bi\r\nhi\r\n/tmp # "


def test_tty_ctrl_c_stops_the_command_not_the_shell() -> None:
    async def go():
        proc, clock, rec = make(["sh"], tty=True)
        proc.start()
        proc.feed_stdin(b"sleep 100\r")
        await clock.sleeping.wait()
        proc.feed_stdin(b"\x03")
        await rec.until(b"^C\r\n/ # ")
        proc.feed_stdin(b"echo $?\r")
        await rec.until(b"130\r\n")
        proc.feed_stdin(b"exit 3\r")
        return await proc.wait()

    assert scenario(go()) == 3


def test_tty_ctrl_c_interrupts_a_plain_command() -> None:
    async def go():
        proc, clock, _ = make(["sleep", "100"], tty=True)
        proc.start()
        await clock.sleeping.wait()
        proc.feed_stdin(b"\x03")
        return await proc.wait()

    assert scenario(go()) == 130


def test_no_prompt_without_a_tty() -> None:
    async def go():
        proc, _, rec = make(["sh"])
        proc.start()
        proc.feed_stdin(b"echo x\n")
        proc.close_stdin()
        await proc.wait()
        return rec.stream(1)

    assert scenario(go()) == b"x\n"


def test_line_discipline() -> None:
    tty = LineDiscipline()
    first = tty.feed(b"ab\x7fc\x1b[Ad\r")
    assert first.echo == b"ab\b \bcd\r\n"
    assert first.events == [("data", b"acd\n")]
    second = tty.feed("é\x7f".encode() + b"x\x04\x04")
    assert second.events == [("data", b"x"), ("eof", b"")]
    assert tty.feed(b"\x03").events == [("intr", b"")]


def test_top_lists_the_process_and_its_running_child() -> None:
    async def go():
        proc, clock, _ = make(["sh", "-c", "sleep 5"], pid=4242)
        proc.start()
        await clock.sleeping.wait()
        rows = proc.top()
        clock.wake()
        await proc.wait()
        return rows, proc.top()

    during, after = scenario(go())
    assert during[0] == ["root", "4242", "4241", "0", "01:40", "?", "00:00:00", "sh -c sleep 5"]
    assert len(during) == 2 and during[1][2] == "4242" and during[1][7] == "sleep 5"
    assert all(len(row) == 8 for row in during)
    assert len(after) == 1


def test_ps_inside_uses_the_models_view_when_given() -> None:
    async def go():
        rows = [(1, "root", "sh"), (9, "root", "top")]
        proc, _, rec = make(["ps"], ps=lambda: rows)
        proc.start()
        await proc.wait()
        return rec.stream(1)

    assert scenario(go()) == (
        b"PID   USER     TIME  COMMAND\n    1 root      0:00 sh\n    9 root      0:00 top\n"
    )


def test_ps_inside_shows_itself_next_to_the_models_rows() -> None:
    async def go():
        proc, _, rec = make(["sh", "-c", "ps; true"], ps=lambda: [(1, "root", "sh -c ps; true")])
        proc.start()
        await proc.wait()
        return rec.stream(1).decode().splitlines()

    lines = scenario(go())
    assert lines[1] == "    1 root      0:00 sh -c ps; true"
    assert lines[2].endswith(" root      0:00 ps") and len(lines) == 3


def test_environment_defaults_like_docker() -> None:
    async def go():
        proc, _, rec = make(["env"], env={"GREETING": "hi"})
        proc.start()
        await proc.wait()
        return rec.stream(1).decode().splitlines()

    lines = scenario(go())
    assert "GREETING=hi" in lines
    assert "HOME=/root" in lines
    assert "HOSTNAME=feedfacecafe" in lines
    assert any(line.startswith("PATH=") and "/bin" in line for line in lines)


def test_a_second_process_sees_the_first_ones_files() -> None:
    async def go():
        fs = fs_for()
        first, _, _ = make(["sh", "-c", "echo shared > /root/f"], fs=fs)
        first.start()
        await first.wait()
        second, _, rec = make(["cat", "/root/f"], fs=fs, cwd="/root")
        second.start()
        await second.wait()
        return rec.stream(1)

    assert scenario(go()) == b"shared\n"


def test_on_exit_is_called_once_and_background_jobs_stop() -> None:
    async def go():
        codes = []
        proc, _, _ = make(["sh", "-c", "sleep 100 & exit 4"], on_exit=codes.append)
        proc.start()
        code = await proc.wait()
        await asyncio.sleep(0)
        return code, codes, proc.sys.jobs

    code, codes, jobs = scenario(go())
    assert (code, codes) == (4, [4])
    assert all(job.done() for job in jobs)


def test_start_twice_is_refused() -> None:
    async def go():
        proc, _, _ = make(["true"])
        proc.start()
        with pytest.raises(RuntimeError, match="already started"):
            proc.start()
        return await proc.wait()

    assert scenario(go()) == 0


def test_working_directory_is_made_when_missing() -> None:
    async def go():
        proc, _, rec = make(["pwd"], cwd="/srv/app")
        proc.start()
        await proc.wait()
        return rec.stream(1), proc.sys.fs.is_dir("/srv/app")

    assert scenario(go()) == (b"/srv/app\n", True)


def test_a_signal_right_after_start_still_ends_it() -> None:
    async def go():
        proc, _, _ = make(["sleep", "10"])
        proc.start()
        proc.signal(15)  # before the task has run a single step
        return await proc.wait()

    assert scenario(go()) == 143


def test_ctrl_c_in_a_nested_shell_goes_back_to_the_outer_one_after_exit() -> None:
    async def go():
        proc, clock, rec = make(["sh"], tty=True)
        proc.start()
        await rec.until(b"/ # ")
        proc.feed_stdin(b"sh\r")
        await rec.until(b"sh\r\n/ # ")
        proc.feed_stdin(b"exit\r")
        await rec.until(b"exit\r\n/ # ")
        proc.feed_stdin(b"sleep 50\r")
        await clock.sleeping.wait()
        proc.feed_stdin(b"\x03")
        await rec.until(b"^C\r\n/ # ")
        proc.feed_stdin(b"exit 0\r")
        return await proc.wait()

    assert scenario(go()) == 0


def test_ls_on_a_terminal_prints_columns() -> None:
    async def go():
        proc, _, rec = make(["ls", "/"], tty=True)
        proc.start()
        await proc.wait()
        return rec.stream(1)

    screen = scenario(go())
    assert screen.startswith(b"bin   dev   etc   home")
    assert screen.endswith(b"\r\n") and b"\n\n" not in screen


@pytest.mark.parametrize("argv", [["sleep", "infinity"], ["tail", "-f", "/dev/null"]])
def test_keep_alive_idioms_wait_until_stopped(argv: list[str]) -> None:
    async def go():
        proc, clock, _ = make(argv)
        proc.start()
        for _ in range(3):
            await asyncio.sleep(0)
        waiting = proc.running and not clock.sleeping.is_set()  # no timer involved
        proc.signal(15)
        return waiting, await proc.wait()

    assert scenario(go()) == (True, 143)


def test_tail_f_prints_what_is_appended() -> None:
    async def go():
        fs = fs_for()
        fs.write("/var/log.txt", b"old\n")
        proc, clock, rec = make(["tail", "-f", "/var/log.txt"], fs=fs)
        proc.start()
        await clock.sleeping.wait()
        fs.write("/var/log.txt", b"new\n", append=True)
        clock.wake()
        await rec.until(b"old\nnew\n")
        proc.signal(2)
        return await proc.wait()

    assert scenario(go()) == 130


def test_a_frozen_process_stops_at_its_next_sleep_and_goes_on_when_thawed() -> None:
    async def go():
        proc, clock, rec = make(["sh", "-c", "echo a; sleep 1; echo b; sleep 1; echo c"])
        proc.start()
        proc.close_stdin()
        await clock.sleeping.wait()
        proc.freeze()  # docker pause
        clock.wake()  # the sleep's time is up, but a frozen process does not run on
        for _ in range(20):
            await asyncio.sleep(0)
        frozen_output = rec.stream(1)
        proc.signal(15)  # held while frozen, as the kernel holds it for a frozen cgroup
        for _ in range(5):
            await asyncio.sleep(0)
        still_running = proc.running
        proc.thaw()  # docker unpause: the held SIGTERM ends it
        return frozen_output, still_running, await proc.wait()

    assert scenario(go()) == (b"a\n", True, 143)


def test_sigkill_ends_a_frozen_process() -> None:
    async def go():
        proc, clock, _rec = make(["sh", "-c", "sleep 3600"])
        proc.start()
        proc.close_stdin()
        await clock.sleeping.wait()
        proc.freeze()
        proc.signal(9)
        return proc.frozen, await proc.wait()

    assert scenario(go()) == (True, 137)

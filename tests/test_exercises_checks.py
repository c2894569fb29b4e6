"""A check never raises: whatever the learner's answer does, the verdict says what happened."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest

from labkit.exercises import learner_code, run_check
from labkit.exercises.runner import hint
from labkit.exercises.tap import RequestSeen
from labkit.exercises.verdict import VERDICT_MIME, NotYet, Verdict


def _mistake(fn, *args, limit: float = 2.0) -> str | None:
    with pytest.raises(NotYet) as caught:
        learner_code.call(fn, *args, limit=limit)
    return caught.value.mistake


def test_the_template_is_recognised() -> None:
    def raw_get(path):
        """Docstring stays."""
        ...  # your code here

    def done(path):
        return path

    assert learner_code.is_template(raw_get)
    assert not learner_code.is_template(done)
    assert _mistake(raw_get, "/x") == "unfinished"


def test_not_implemented_is_unfinished() -> None:
    def f():
        raise NotImplementedError

    assert _mistake(f) == "unfinished"


def test_an_exception_is_reported_with_the_learner_s_line() -> None:
    def f():
        return {}["missing"]

    with pytest.raises(NotYet) as caught:
        learner_code.call(f, limit=2)
    assert caught.value.mistake == "raised"
    assert "KeyError" in caught.value.message and "return {}" in caught.value.message


def test_an_endless_loop_is_stopped_at_the_limit() -> None:
    def spin():
        while True:
            pass

    started = time.monotonic()
    assert _mistake(spin, limit=0.5) == "hang"
    assert time.monotonic() - started < 5


def test_a_loop_that_swallows_everything_still_gets_a_verdict() -> None:
    """Code that catches even the stop signal is left behind, and the verdict says so."""
    finish = threading.Event()

    def stubborn():
        while not finish.is_set():
            try:
                while not finish.is_set():
                    pass
            except:  # noqa: E722  (what a learner might write)
                pass

    try:
        with pytest.raises(NotYet) as caught:
            learner_code.call(stubborn, limit=0.5)
        assert caught.value.mistake == "hang"
        assert "restart the kernel" in caught.value.message
    finally:
        finish.set()


def test_a_recv_that_waits_for_ever_is_stopped(tmp_path: Path) -> None:
    path = str(tmp_path / "s.sock")
    server = socket.socket(socket.AF_UNIX)
    server.bind(path)
    server.listen()

    def waits():
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(None)  # even with no timeout of its own
        s.connect(path)
        return s.recv(10)

    try:
        assert _mistake(waits, limit=0.5) == "hang"
    finally:
        server.close()


def test_a_check_works_from_any_thread() -> None:
    result: list[object] = []

    def spin():
        while True:
            time.sleep(0.001)

    def run() -> None:
        result.append(learner_code.call(lambda: 7, limit=2))
        try:
            learner_code.call(spin, limit=0.5)
        except NotYet as miss:
            result.append(miss.mistake)

    worker = threading.Thread(target=run)
    worker.start()
    worker.join(10)
    assert result == [7, "hang"]


@pytest.mark.parametrize(
    ("answer", "mistake"),
    [
        (Ellipsis, "unfinished"),
        (42, None),  # not a function
        ("def get_request(path): ...", None),
    ],
)
def test_a_wrong_kind_of_answer_is_not_yet_never_an_error(
    answer: object, mistake: str | None, lab_home: Path
) -> None:
    verdict = run_check("02.1", answer)
    assert verdict.outcome == "not-yet"
    assert verdict.mistake == mistake


def test_an_undefined_answer_says_to_run_the_cell(lab_home: Path) -> None:
    verdict = run_check("02.1", namespace={})
    assert verdict.outcome == "not-yet" and verdict.mistake == "undefined"
    assert "run the answer cell" in verdict.message


def test_an_unknown_task_is_said_plainly(lab_home: Path) -> None:
    verdict = run_check("02.99", lambda: None)
    assert verdict.outcome == "unchecked" and "02.1" in verdict.message


def test_a_bug_in_a_check_is_not_blamed_on_the_learner(
    lab_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from labkit.exercises import tasks

    task = tasks.get_task("02.4")

    def broken(ctx, answer):
        raise RuntimeError("oops")

    monkeypatch.setitem(tasks._TASKS, "02.4", tasks.Task(**{**task.__dict__, "check": broken}))
    verdict = run_check("02.4", lambda body: body)
    assert verdict.outcome == "unchecked" and "bug in the lab" in verdict.message


def test_no_engine_means_could_not_check(lab_home: Path) -> None:
    def no_engine():
        raise ConnectionRefusedError("nothing listens")

    def get_request(path):
        return f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode()

    verdict = run_check("02.1", get_request, lab_factory=no_engine)
    assert verdict.outcome == "unchecked" and "labkit doctor" in verdict.message


def test_hints_come_one_at_a_time(lab_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for _ in range(4):
        hint("02.1")
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("Hint 1 of 3 for 02.1")
    assert out[1].startswith("Hint 2 of 3")
    assert any("last hint" in line and "solutions/02-" in line for line in out)


def test_a_verdict_reads_as_one_line_and_carries_its_data() -> None:
    verdict = Verdict("02.2", "not-yet", "only part of the body", "one-recv", "(more)")
    assert verdict.line() == "✘ 02.2 not yet: only part of the body (more)"
    bundle = verdict._repr_mimebundle_()
    assert bundle["text/plain"] == verdict.line()
    assert bundle[VERDICT_MIME]["mistake"] == "one-recv"
    assert "\n" not in verdict.line()


@pytest.mark.parametrize(
    ("data", "mistake"),
    [
        (b"GET / HTTP/1.1\r\nHost: x\r\n", "no-final-crlf"),
        (b"GET / HTTP/1.1\r\n\r\n", "no-host"),
        (b"GET / HTTP/1.1\nHost: x\n\n", "lf-only"),
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", None),
    ],
)
def test_request_mistakes_are_named(data: bytes, mistake: str | None) -> None:
    assert RequestSeen(data).mistake() == mistake


def test_the_default_socket_timeout_is_put_back_whatever_order_threads_end_in() -> None:
    before = socket.getdefaulttimeout()
    release = threading.Event()

    def slow():
        release.wait(5)
        return 1

    running = learner_code.Running(slow).start()  # enters first, leaves last
    assert learner_code.call(lambda: socket.getdefaulttimeout(), limit=2) is not None
    release.set()
    running.join(5)
    assert socket.getdefaulttimeout() == before

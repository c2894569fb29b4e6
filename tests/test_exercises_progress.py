"""Progress: kept in the lab's home, never losing a pass, surviving a kill mid-write."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from labkit.exercises import progress, scoreboard
from labkit.exercises.verdict import Verdict


def test_a_pass_is_kept_after_a_later_failure(lab_home: Path) -> None:
    progress.record_verdict(Verdict("02.1", "not-yet", "no Host", "no-host"))
    progress.record_verdict(Verdict("02.1", "passed", "fine"))
    entry = progress.record_verdict(Verdict("02.1", "not-yet", "broke it again", "one-recv"))
    assert entry.status == "passed"
    assert entry.attempts == 3
    assert entry.last_outcome == "not-yet"
    assert progress.load().record("02.1").first_passed is not None


def test_a_check_that_could_not_run_is_not_an_attempt(lab_home: Path) -> None:
    entry = progress.record_verdict(Verdict("02.1", "unchecked", "no engine"))
    assert entry.attempts == 0 and entry.status == "not-tried"


def test_the_file_is_private_whatever_the_umask(lab_home: Path) -> None:
    old = os.umask(0)
    try:
        progress.record_verdict(Verdict("02.1", "passed", "fine"))
    finally:
        os.umask(old)
    path = progress.progress_path()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text())["tasks"]["02.1"]["status"] == "passed"


def test_hints_are_counted_one_at_a_time(lab_home: Path) -> None:
    assert [progress.next_hint("02.2") for _ in range(3)] == [1, 2, 3]


def test_a_damaged_file_is_kept_aside_and_said(lab_home: Path) -> None:
    path = progress.progress_path()
    path.write_text("{not json")
    loaded = progress.load()
    assert "could not be read" in loaded.warning
    kept = list(lab_home.glob("progress.json.damaged-*"))
    assert len(kept) == 1 and kept[0].read_text() == "{not json"
    assert "Note:" in scoreboard.as_text(loaded)


WRITER = textwrap.dedent(
    """
    import sys
    from labkit.exercises import progress
    from labkit.exercises.verdict import Verdict
    print("ready", flush=True)
    n = 0
    while True:
        n += 1
        progress.record_verdict(Verdict("02.%d" % (n % 5 + 1), "passed", "x" * 5000))
    """
)


@pytest.mark.slow
def test_a_kill_mid_write_loses_nothing(lab_home: Path) -> None:
    """Kill -9 a process writing in a loop, again and again: the file always reads whole."""
    env = {**os.environ, "LABKIT_HOME": str(lab_home)}
    passed_before: set[str] = set()
    for round_ in range(8):
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER], env=env, stdout=subprocess.PIPE, text=True
        )
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        time.sleep(0.05 + 0.03 * round_)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        loaded = progress.load()
        assert loaded.warning == ""
        passed = {k for k, v in loaded.tasks.items() if v.status == "passed"}
        assert passed >= passed_before
        passed_before = passed
    assert passed_before  # the writer got some passes in
    progress.record_verdict(Verdict("03.1", "passed", "fine"))  # the next write tidies up
    assert [p.name for p in lab_home.iterdir() if p.name.endswith(".tmp")] == []


def test_the_scoreboard_names_the_next_task(lab_home: Path) -> None:
    progress.record_verdict(Verdict("02.1", "passed", "fine"))
    progress.record_verdict(Verdict("02.2", "not-yet", "one recv", "one-recv"))
    text = scoreboard.as_text(progress.load(), "02")
    assert "02.1" in text and "✔ passed" in text
    assert "✘ not yet" in text and "· not tried" in text
    assert "Next: 02.2" in text
    data = scoreboard.as_json(progress.load(), "02")
    statuses = {t["task"]: t["status"] for les in data["lessons"] for t in les["tasks"]}
    assert statuses["02.1"] == "passed" and statuses["02.2"] == "not-yet"
    assert data["next"] == "02.2"


def test_labkit_check_prints_the_scoreboard_and_json(lab_home: Path) -> None:
    progress.record_verdict(Verdict("02.1", "passed", "fine"))
    env = {**os.environ, "LABKIT_HOME": str(lab_home)}
    text = subprocess.run(
        [sys.executable, "-m", "labkit", "check"], env=env, capture_output=True, text=True
    )
    assert text.returncode == 0, text.stderr
    assert "Lesson 02" in text.stdout and "tasks passed" in text.stdout
    data = subprocess.run(
        [sys.executable, "-m", "labkit", "check", "--json", "02"],
        env=env,
        capture_output=True,
        text=True,
    )
    parsed = json.loads(data.stdout)
    assert [les["lesson"] for les in parsed["lessons"]] == ["02"]
    wrong = subprocess.run(
        [sys.executable, "-m", "labkit", "check", "99"], env=env, capture_output=True, text=True
    )
    assert wrong.returncode == 2 and "no exercises for lesson" in wrong.stderr
    assert "Traceback" not in wrong.stderr

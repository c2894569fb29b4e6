"""The learner's workspace: copies made once, updates brought in, nothing of theirs lost."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from labkit.workspace import Workspace, WorkspaceError, source_files


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """A small stand-in for the lab's clone: two lessons, an exercise, test files."""
    root = tmp_path / "clone"
    (root / "notebooks").mkdir(parents=True)
    (root / "exercises" / "solutions").mkdir(parents=True)
    (root / "notebooks" / "00-start-here.ipynb").write_text('{"v": 1}')
    (root / "notebooks" / "01-sockets.ipynb").write_text('{"v": 1}')
    (root / "notebooks" / "conftest.py").write_text("# for the tests only")
    (root / "exercises" / "01-sockets.ipynb").write_text('{"ex": 1}')
    (root / "exercises" / "conftest.py").write_text("# for the tests only")
    (root / "exercises" / "solutions" / "01-sockets.py").write_text("# %% 01.1 solution\n")
    (root / "exercises" / "solutions" / "test_helpers.py").write_text("")
    (root / "notebooks" / ".ipynb_checkpoints").mkdir()
    (root / "notebooks" / ".ipynb_checkpoints" / "x.ipynb").write_text("{}")
    return root


@pytest.fixture
def desk(tmp_path: Path) -> Path:
    return tmp_path / "desk"


def files_in(path: Path) -> set[str]:
    return {
        p.relative_to(path).as_posix()
        for p in path.rglob("*")
        if p.is_file() and ".labkit" not in p.parts
    }


def test_first_launch_copies_lessons_and_exercises_and_no_test_file(
    clone: Path, desk: Path
) -> None:
    report = Workspace(desk, clone).sync()
    assert files_in(desk) == {
        "lessons/00-start-here.ipynb",
        "lessons/01-sockets.ipynb",
        "exercises/01-sockets.ipynb",
        "exercises/solutions/01-sockets.py",
    }
    assert len(report.added) == 4
    assert oct(desk.stat().st_mode & 0o777) == "0o700"


def test_the_real_clone_sends_no_test_file_to_a_workspace() -> None:
    names = [Path(rel).name for rel in source_files()]
    assert "conftest.py" not in names
    assert not [n for n in names if n.startswith("test_") or n.startswith(".")]
    assert "lessons/00-start-here.ipynb" in source_files()


def test_an_update_refreshes_untouched_files_and_puts_new_versions_beside_changed_ones(
    clone: Path, desk: Path
) -> None:
    ws = Workspace(desk, clone)
    ws.sync()
    (desk / "lessons" / "01-sockets.ipynb").write_text('{"v": 1, "mine": true}')  # learner's work
    (clone / "notebooks" / "00-start-here.ipynb").write_text('{"v": 2}')  # the lab changes both
    (clone / "notebooks" / "01-sockets.ipynb").write_text('{"v": 2}')
    (clone / "notebooks" / "02-raw.ipynb").write_text('{"v": 2}')  # and adds a lesson

    report = ws.sync()

    assert (desk / "lessons" / "00-start-here.ipynb").read_text() == '{"v": 2}'
    assert (desk / "lessons" / "01-sockets.ipynb").read_text() == '{"v": 1, "mine": true}'
    assert report.added == ["lessons/02-raw.ipynb"]
    assert report.refreshed == ["lessons/00-start-here.ipynb"]
    [(yours, new)] = report.beside
    assert yours == "lessons/01-sockets.ipynb"
    assert "lab-update" in new and (desk / new).read_text() == '{"v": 2}'
    assert any("has your changes" in line for line in report.lines())

    again = ws.sync()  # the same update is offered once, not on every launch
    assert again.beside == [] and again.added == [] and again.refreshed == []
    assert (desk / "lessons" / "01-sockets.ipynb").read_text() == '{"v": 1, "mine": true}'


def test_a_file_the_learner_deleted_stays_deleted(clone: Path, desk: Path) -> None:
    ws = Workspace(desk, clone)
    ws.sync()
    (desk / "lessons" / "01-sockets.ipynb").unlink()
    report = ws.sync()
    assert not (desk / "lessons" / "01-sockets.ipynb").exists()
    assert report.deleted_kept == ["lessons/01-sockets.ipynb"]


def test_a_learner_file_with_a_lab_file_s_name_is_never_overwritten(
    clone: Path, desk: Path
) -> None:
    """No manifest yet (a workspace made by hand, say): existing files count as the learner's."""
    (desk / "lessons").mkdir(parents=True)
    (desk / "lessons" / "00-start-here.ipynb").write_text("my notes")
    report = Workspace(desk, clone).sync()
    assert (desk / "lessons" / "00-start-here.ipynb").read_text() == "my notes"
    assert report.beside and report.beside[0][0] == "lessons/00-start-here.ipynb"


def test_a_symlink_where_a_lesson_goes_is_not_followed(
    clone: Path, desk: Path, tmp_path: Path
) -> None:
    target = tmp_path / "elsewhere.txt"
    target.write_text("not the lab's")
    (desk / "lessons").mkdir(parents=True)
    (desk / "lessons" / "01-sockets.ipynb").symlink_to(target)
    Workspace(desk, clone).sync()
    assert target.read_text() == "not the lab's"


def test_reset_backs_up_then_restores_and_says_where(clone: Path, desk: Path) -> None:
    ws = Workspace(desk, clone)
    ws.sync()
    (desk / "exercises" / "01-sockets.ipynb").write_text("my answers")
    rel, backup = ws.reset("exercises/01")
    assert rel == "exercises/01-sockets.ipynb"
    assert backup is not None and backup.read_text() == "my answers"
    assert desk in backup.parents and "backups" in backup.parts
    assert (desk / rel).read_text() == '{"ex": 1}'
    rel, _ = ws.reset("01")
    assert rel == "lessons/01-sockets.ipynb"
    # after a reset, the file is the lab's again: an update refreshes it
    (clone / "exercises" / "01-sockets.ipynb").write_text('{"ex": 2}')
    assert ws.sync().refreshed == ["exercises/01-sockets.ipynb"]


def test_reset_of_something_unknown_says_what_exists(clone: Path, desk: Path) -> None:
    ws = Workspace(desk, clone)
    with pytest.raises(WorkspaceError, match=re.escape("lessons/00-start-here.ipynb")):
        ws.reset("07")


def test_a_workspace_inside_the_clone_is_refused(clone: Path) -> None:
    with pytest.raises(WorkspaceError, match="inside the lab's clone"):
        Workspace(clone / "notebooks" / "mine", clone)


def test_labkit_reset_and_workspace_commands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    desk = tmp_path / "desk"
    env = {**os.environ, "LABKIT_WORKSPACE": str(desk)}
    run = subprocess.run(
        [sys.executable, "-m", "labkit", "workspace", "sync"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    lesson = desk / "lessons" / "04-the-engine-api.ipynb"
    lesson.write_text("changed by the learner")
    run = subprocess.run(
        [sys.executable, "-m", "labkit", "reset", "04"], env=env, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    assert "is saved as" in run.stdout and "backups" in run.stdout
    assert json.loads(lesson.read_text())["cells"]
    bad = subprocess.run(
        [sys.executable, "-m", "labkit", "reset", "nonsense"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 1 and "does not name" in bad.stderr and "Traceback" not in bad.stderr

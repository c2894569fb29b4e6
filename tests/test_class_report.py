"""The class report: learners' progress copies in the hub's drop folder, read for the instructor.

The drop folder is set up by the hub's admin: mode 3753 (setgid, sticky; others may create
but not list). A copy counts only if its owner is the learner it is named after. Tests that
give a file to another account need root (chown); elsewhere they skip and say so.
"""

from __future__ import annotations

import csv
import io
import json
import os
import pwd
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from labkit.exercises import class_report, progress
from labkit.exercises.verdict import Verdict

ME = pwd.getpwuid(os.geteuid()).pw_name
needs_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="giving a file to another account needs root"
)


def other_account() -> pwd.struct_passwd:
    """A system account that is not the one running the tests (to own a forged file)."""
    for name in ("nobody", "daemon", "bin"):
        try:
            account = pwd.getpwnam(name)
        except KeyError:
            continue
        if account.pw_uid != os.geteuid():
            return account
    pytest.skip("no second account (nobody, daemon or bin) on this machine")


@pytest.fixture
def drop(tmp_path: Path, lab_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A drop folder like the admin's (mode 3753), named by LABKIT_PROGRESS_EXPORT."""
    folder = tmp_path / "drop"
    folder.mkdir()
    folder.chmod(0o3753)
    monkeypatch.setenv(progress.EXPORT_VAR, str(folder))
    return folder


def test_every_check_drops_a_group_readable_copy(drop: Path) -> None:
    progress.record_verdict(Verdict("02.1", "passed", "fine"))
    copy = drop / f"{ME}.json"
    info = copy.stat()
    assert stat.S_IMODE(info.st_mode) == 0o640
    assert info.st_gid == drop.stat().st_gid  # the folder's group (setgid), not the learner's
    data = json.loads(copy.read_text())
    assert data["learner"] == ME and data["tasks"]["02.1"]["status"] == "passed"
    progress.record_verdict(Verdict("02.2", "not-yet", "one recv", "one-recv"))
    assert "02.2" in json.loads(copy.read_text())["tasks"]  # refreshed after every verdict
    assert [p.name for p in drop.iterdir()] == [copy.name]  # no temporary file left behind
    # the learner's own record stays private
    assert stat.S_IMODE(progress.progress_path().stat().st_mode) == 0o600


def test_without_setgid_the_copy_stays_owner_only(tmp_path: Path) -> None:
    folder = tmp_path / "plain"
    folder.mkdir(mode=0o700)
    path = progress.export_copy(progress.Progress(), folder)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_folder_anyone_may_write_without_sticky_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "open"
    folder.mkdir()
    folder.chmod(0o777)
    with pytest.raises(PermissionError, match="sticky"):
        progress.export_copy(progress.Progress(), folder)
    assert list(folder.iterdir()) == []


def test_a_broken_export_is_said_and_the_verdict_still_saved(
    lab_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setenv(progress.EXPORT_VAR, str(tmp_path / "missing"))
    entry = progress.record_verdict(Verdict("02.1", "passed", "fine"))
    assert entry.status == "passed"
    assert progress.load().record("02.1").status == "passed"
    err = capsys.readouterr().err
    assert "your progress is saved" in err and "could not be written" in err


@needs_root
def test_a_learner_cannot_take_over_a_name_another_account_holds(drop: Path) -> None:
    """Someone else's file under my name (squatted first) is not replaced, and I am told."""
    other = other_account()
    squat = drop / f"{ME}.json"
    squat.write_text("{}")
    os.chown(squat, other.pw_uid, -1)
    with pytest.raises(PermissionError, match="belongs to another account"):
        progress.export_copy(progress.Progress(), drop)
    assert squat.read_text() == "{}"


def write_copy(folder: Path, name: str, tasks: dict[str, str]) -> Path:
    record = progress.Progress()
    for task, status in tasks.items():
        record.tasks[task] = progress.TaskRecord(status=status, attempts=2)
    path = folder / f"{name}.json"
    path.write_text(json.dumps({"learner": name, **record.to_json()}))
    return path


def test_the_report_reads_a_learners_own_copy(tmp_path: Path) -> None:
    write_copy(tmp_path, ME, {"02.1": "passed", "02.2": "not-yet"})
    (tmp_path / f".{ME}.abc123.tmp").write_text("half")  # a copy being written: ignored
    (tmp_path / "notes.txt").write_text("not ours")
    report = class_report.read_folder(tmp_path)
    assert [x.name for x in report.learners] == [ME]
    assert report.unreadable == []
    text = class_report.as_text(report, "02")
    assert "Lesson 02" in text and "Lesson 01" not in text
    row = next(line for line in text.splitlines() if line.startswith(ME))
    assert row.split()[1:4] == ["✔", "✘2", "·"]
    rows = list(csv.DictReader(io.StringIO(class_report.as_csv(report, "02"))))
    assert {(r["task"], r["status"]) for r in rows} >= {("02.1", "passed"), ("02.2", "not-yet")}
    assert all(r["learner"] == ME for r in rows)
    data = class_report.as_json(report)
    task = next(t for les in data["lessons"] for t in les["tasks"] if t["task"] == "02.1")
    assert task["passed"] == 1 and task["learners"][ME]["status"] == "passed"


@needs_root
def test_a_copy_owned_by_someone_else_is_not_trusted(tmp_path: Path) -> None:
    other = other_account()
    forged = write_copy(tmp_path, other.pw_name, {"02.1": "passed"})  # written by ME
    report = class_report.read_folder(tmp_path)
    assert report.learners == []
    [why] = report.unreadable
    assert why.name == other.pw_name and f"belongs to {ME}, not to {other.pw_name}" in why.reason
    os.chown(forged, other.pw_uid, -1)  # the same file, now really theirs
    assert [x.name for x in class_report.read_folder(tmp_path).learners] == [other.pw_name]


def test_links_damaged_files_unknown_and_missing_learners_are_each_explained(
    tmp_path: Path,
) -> None:
    (tmp_path / "elsewhere.json").write_text("{}")
    (tmp_path / f"{ME}.json").symlink_to(tmp_path / "elsewhere.json")
    report = class_report.read_folder(tmp_path, expected=[ME, "no-such-learner-h13"])
    reasons = {u.name: u.reason for u in report.unreadable}
    assert "symbolic link" in reasons[ME]
    assert "no progress file yet" in reasons["no-such-learner-h13"]
    (tmp_path / f"{ME}.json").unlink()
    (tmp_path / f"{ME}.json").write_text("{not json")
    (tmp_path / "no-such-learner-h13.json").write_text("{}")
    reasons = {u.name: u.reason for u in class_report.read_folder(tmp_path).unreadable}
    assert "not a labkit progress file" in reasons[ME]
    assert "no account named" in reasons["no-such-learner-h13"]


def test_copies_an_admin_collected_are_taken_by_their_names(tmp_path: Path) -> None:
    """On Kubernetes every pod runs as one uid: the admin collects the files, names are trusted."""
    write_copy(tmp_path, "learner-on-k8s-h13", {"02.1": "passed"})  # no such account here
    assert class_report.read_folder(tmp_path).learners == []
    trusted = class_report.read_folder(tmp_path, trust_names=True)
    assert [x.name for x in trusted.learners] == ["learner-on-k8s-h13"]
    out = labkit("--from", str(tmp_path), "--trust-names", "--json")
    assert [x["learner"] for x in json.loads(out.stdout)["learners"]] == ["learner-on-k8s-h13"]


def labkit(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "labkit", "class-report", *args],
        env={**os.environ, **env}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_labkit_class_report_prints_tables_csv_and_json(tmp_path: Path) -> None:
    write_copy(tmp_path, ME, {"03.1": "passed"})
    text = labkit("--learners", f"{ME},absent-h13", **{progress.EXPORT_VAR: str(tmp_path)})
    assert text.returncode == 0, text.stderr
    assert "Lesson 03" in text.stdout and "Could not read 1" in text.stdout
    assert "absent-h13: no progress file yet" in text.stdout
    out = labkit("--from", str(tmp_path), "--csv", "--learners", f"{ME},absent-h13")
    assert out.returncode == 0 and out.stdout.startswith("learner,lesson,task,")
    assert "could not read absent-h13" in out.stderr  # stdout stays a clean CSV
    data = json.loads(labkit("--from", str(tmp_path), "--json").stdout)
    assert [x["learner"] for x in data["learners"]] == [ME]


def test_labkit_class_report_says_what_is_wrong_without_a_traceback(tmp_path: Path) -> None:
    missing = labkit("--from", str(tmp_path / "nowhere"))
    assert missing.returncode == 1 and "does not exist" in missing.stderr
    lesson = labkit("--from", str(tmp_path), "--lesson", "99")
    assert lesson.returncode == 2 and "no exercises for lesson" in lesson.stderr
    names = labkit("--from", str(tmp_path), "--learners", f"@{tmp_path / 'none.txt'}")
    assert names.returncode == 1 and "cannot read" in names.stderr
    for out in (missing, lesson, names):
        assert "Traceback" not in out.stderr

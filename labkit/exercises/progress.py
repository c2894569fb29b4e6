"""The learner's progress: which tasks passed, kept in the lab's home.

One JSON file, ``$LABKIT_HOME/progress.json``, mode 0600. Every change is a
read-modify-write under a lock (several kernels may check at once) and lands with
an atomic rename after an fsync, so a crash or a kill mid-write leaves either the
old file or the new one, never half of one. A pass is never taken back: a later
failed attempt is recorded as the last attempt, and the task stays passed.

On a workshop hub the instructor reads everyone's progress (``labkit class-report``)
without reading anyone's home: when ``LABKIT_PROGRESS_EXPORT`` names a drop folder the
hub's admin set up (root's, in the instructors' group, setgid and sticky, mode 3753:
learners may create files there but not list or replace anyone else's), every save
also writes ``<user>.json`` there, readable by that group. The report trusts a file
only if its owner is the learner it is named after (docs/WORKSHOPS.md).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pwd
import stat
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from labkit.atomic import write_atomically
from labkit.exercises.verdict import Verdict
from labkit.paths import lab_home

FORMAT = "labkit-progress/1"
FILE_NAME = "progress.json"
EXPORT_VAR = "LABKIT_PROGRESS_EXPORT"


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class TaskRecord:
    status: str = "not-tried"  # passed | not-yet | not-tried
    attempts: int = 0
    first_passed: str | None = None
    last_attempt: str | None = None
    last_outcome: str | None = None  # the newest verdict's outcome, even after a pass
    last_message: str = ""
    mistake: str | None = None
    hints_seen: int = 0

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TaskRecord:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class Progress:
    tasks: dict[str, TaskRecord] = field(default_factory=dict)
    updated: str | None = None
    warning: str = ""  # set when a damaged file had to be put aside

    def record(self, task_id: str) -> TaskRecord:
        return self.tasks.get(task_id) or TaskRecord()

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "updated": self.updated,
            "tasks": {k: asdict(v) for k, v in sorted(self.tasks.items())},
        }


def progress_path(home: Path | None = None) -> Path:
    return (home or lab_home()) / FILE_NAME


def load(home: Path | None = None) -> Progress:
    """The progress on disk (empty if there is none yet)."""
    return _read(progress_path(home))


def record_verdict(verdict: Verdict, home: Path | None = None) -> TaskRecord:
    """Add one check's verdict; a pass is kept for good."""
    with _locked(home) as (progress, save):
        entry = progress.record(verdict.task)
        now = _now()
        entry.last_attempt = now
        entry.last_outcome = verdict.outcome
        entry.last_message = verdict.message
        if verdict.outcome != "unchecked":
            entry.attempts += 1
            entry.mistake = verdict.mistake
            if verdict.passed:
                entry.status = "passed"
                entry.first_passed = entry.first_passed or now
            elif entry.status != "passed":
                entry.status = "not-yet"
        progress.tasks[verdict.task] = entry
        save()
        return entry


def next_hint(task_id: str, home: Path | None = None) -> int:
    """Count one more hint seen for ``task_id``; returns which hint (1, 2, ...) to show."""
    with _locked(home) as (progress, save):
        entry = progress.record(task_id)
        entry.hints_seen += 1
        progress.tasks[task_id] = entry
        save()
        return entry.hints_seen


@contextlib.contextmanager
def _locked(home: Path | None) -> Iterator[tuple[Progress, Any]]:
    path = progress_path(home)
    lock_path = path.with_name(FILE_NAME + ".lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        progress = _read(path)

        def save() -> None:
            progress.updated = _now()
            write_atomically(path, (json.dumps(progress.to_json(), indent=1) + "\n").encode())
            for stale in path.parent.glob(f".{FILE_NAME}.*.tmp"):  # left by a killed writer
                with contextlib.suppress(OSError):
                    stale.unlink()
            _export(progress)

        yield progress, save
    finally:
        os.close(fd)  # closing releases the lock


def parse(text: str) -> Progress:
    """A progress file's content; ValueError if it is not one."""
    try:
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT} file")
        tasks = {str(k): TaskRecord.from_dict(v) for k, v in data.get("tasks", {}).items()}
        return Progress(tasks, data.get("updated"))
    except (TypeError, AttributeError) as exc:
        raise ValueError(str(exc)) from None


def _read(path: Path) -> Progress:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Progress()
    try:
        return parse(text)
    except ValueError as exc:
        aside = path.with_name(f"{path.name}.damaged-{int(time.time())}")
        os.replace(path, aside)
        return Progress(
            warning=f"{path} could not be read ({exc}); it was kept as {aside.name} and a new "
            "record started"
        )


def learner_name() -> str:
    """The account this process runs as: the name its export is filed under."""
    return pwd.getpwuid(os.geteuid()).pw_name


def _export(progress: Progress) -> None:
    """Drop a copy for the instructor, if the hub asks for one; a failure is said, not raised."""
    folder = os.environ.get(EXPORT_VAR)
    if not folder:
        return
    try:
        export_copy(progress, Path(folder))
    except (OSError, KeyError) as exc:  # KeyError: this uid has no account name
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        print(
            f"labkit: your progress is saved, but the copy for your instructor could not be "
            f"written to {folder}: {why}",
            file=sys.stderr,
        )


def export_copy(progress: Progress, folder: Path) -> Path:
    """Write ``<user>.json`` into the drop folder atomically; readable by its group if setgid.

    A folder anyone may write to without the sticky bit is refused: anyone could replace the
    copy there. Without setgid the copy stays owner-only (0600): then only root can read it.
    """
    info = os.stat(folder)
    if not stat.S_ISDIR(info.st_mode):
        raise NotADirectoryError(f"{folder} is not a folder")
    if info.st_mode & stat.S_IWOTH and not info.st_mode & stat.S_ISVTX:
        raise PermissionError(
            0,
            f"{folder} lets anyone replace anyone's files (it needs the sticky bit: mode 3753, "
            "see docs/WORKSHOPS.md)",
        )
    mode = 0o640 if info.st_mode & stat.S_ISGID else 0o600
    target = folder / f"{learner_name()}.json"
    with contextlib.suppress(FileNotFoundError):
        owner = os.lstat(target).st_uid
        if owner != os.geteuid():
            raise PermissionError(
                0,
                f"{target.name} there belongs to another account (uid {owner}); ask the hub's "
                "admin to remove it",
            )
    record = {"learner": learner_name(), **progress.to_json()}
    fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(json.dumps(record, indent=1) + "\n")
            handle.flush()
            os.fchmod(handle.fileno(), mode)
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return target

"""The class report: every learner's progress, read from the hub's drop folder.

Each learner's lab writes ``<user>.json`` into the drop folder after every check
(:func:`labkit.exercises.progress.export_copy`). Learners may create files there, so a
file's name proves nothing: a file counts only if it is a regular file owned by the
account it is named after. Everything that cannot be read, or is not trusted, is
listed with the reason, never silently dropped.
"""

from __future__ import annotations

import csv
import io
import os
import pwd
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labkit.exercises import progress as progress_file
from labkit.exercises.progress import Progress
from labkit.exercises.tasks import Lesson, Task, lessons, tasks

MARKS = {"passed": "✔", "not-yet": "✘", "not-tried": "·"}
MAX_BYTES = 1 << 20  # a progress file is a few kB; anything far bigger is not one


class FolderError(OSError):
    """The drop folder itself cannot be read; the message says what to do."""


@dataclass(frozen=True)
class Learner:
    name: str
    progress: Progress
    path: Path


@dataclass(frozen=True)
class Unreadable:
    name: str
    reason: str


@dataclass
class ClassProgress:
    folder: Path
    learners: list[Learner]
    unreadable: list[Unreadable]


def read_folder(
    folder: Path, expected: list[str] | None = None, trust_names: bool = False
) -> ClassProgress:
    """Every learner's progress in ``folder``; ``expected`` names learners who should be there.

    ``trust_names``: the files were collected by an admin from each learner's own home (as on
    Kubernetes, where every learner's pod runs as the same uid), so their owner proves nothing
    and their names are taken as they are.
    """
    try:
        names = sorted(os.listdir(folder))
    except FileNotFoundError:
        raise FolderError(
            f"{folder} does not exist: it is the drop folder the hub's admin creates "
            "(docs/WORKSHOPS.md, 'The class report'); name another with --from"
        ) from None
    except PermissionError:
        raise FolderError(
            f"you may not list {folder}: the class report's reader must be in the folder's "
            f"group ({_group_of(folder)}); ask the hub's admin to add you (usermod -aG), then log "
            "in again"
        ) from None
    except NotADirectoryError:
        raise FolderError(f"{folder} is not a folder; name the drop folder with --from") from None
    learners: list[Learner] = []
    unreadable: list[Unreadable] = []
    for entry in names:
        if entry.startswith(".") or not entry.endswith(".json"):
            continue  # a learner's half-written copy, or not ours
        name = entry.removesuffix(".json")
        if expected is not None and name not in expected:
            continue
        result = read_one(folder / entry, name, trust_names)
        if isinstance(result, Learner):
            learners.append(result)
        else:
            unreadable.append(result)
    if expected is not None:
        seen = {x.name for x in learners} | {x.name for x in unreadable}
        missing = "no progress file yet: no check run since the hub began collecting progress"
        unreadable += [Unreadable(name, missing) for name in expected if name not in seen]
    unreadable.sort(key=lambda u: u.name)
    return ClassProgress(folder, learners, unreadable)


def read_one(path: Path, name: str, trust_names: bool = False) -> Learner | Unreadable:
    """One learner's file, if it is really theirs and really a progress file."""
    uid = None
    if not trust_names:
        try:
            uid = pwd.getpwnam(name).pw_uid
        except KeyError:
            return Unreadable(name, f"{path.name}: there is no account named {name!r} here")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except PermissionError:
        return Unreadable(name, f"{path.name}: permission denied (is it readable by the group?)")
    except OSError as exc:  # ELOOP: a symbolic link, which a learner could point anywhere
        why = "a symbolic link, not a file" if os.path.islink(path) else exc.strerror
        return Unreadable(name, f"{path.name}: {why}")
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            return Unreadable(name, f"{path.name}: not a regular file")
        if uid is not None and info.st_uid != uid:
            return Unreadable(
                name,
                f"{path.name} belongs to {_user_of(info.st_uid)}, not to {name}: another account "
                "wrote it, so it is ignored (a hub admin can remove it)",
            )
        data = handle.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        return Unreadable(name, f"{path.name}: too big to be a progress file")
    try:
        return Learner(name, progress_file.parse(data.decode("utf-8")), path)
    except (ValueError, UnicodeDecodeError) as exc:
        return Unreadable(name, f"{path.name}: not a labkit progress file ({exc})")


def _user_of(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def _group_of(path: Path) -> str:
    import grp

    try:
        return grp.getgrgid(os.stat(path).st_gid).gr_name
    except (KeyError, OSError):
        return "the instructors' group"


# ------------------------------------------------------------------------ rendering
def _lessons(only: str | None) -> list[tuple[Lesson, list[Task]]]:
    out = []
    for les in lessons():
        if only is None or les.number == only:
            mine = tasks(les.number)
            if mine:
                out.append((les, mine))
    return out


def as_json(report: ClassProgress, lesson: str | None = None) -> dict[str, Any]:
    out_lessons = []
    for les, mine in _lessons(lesson):
        out_lessons.append(
            {
                "lesson": les.number,
                "title": les.title,
                "tasks": [
                    {
                        "task": t.id,
                        "title": t.title,
                        "stretch": t.stretch,
                        "passed": _passed(report.learners, t),
                        "learners": {
                            x.name: _cell(x.progress, t) for x in report.learners
                        },
                    }
                    for t in mine
                ],
            }
        )
    return {
        "folder": str(report.folder),
        "learners": [
            {
                "learner": x.name,
                "updated": x.progress.updated,
                "passed": sum(x.progress.record(t.id).status == "passed" for t in tasks(lesson)),
                "total": len(tasks(lesson)),
            }
            for x in report.learners
        ],
        "unreadable": [{"learner": u.name, "reason": u.reason} for u in report.unreadable],
        "lessons": out_lessons,
    }


def _passed(learners: list[Learner], t: Task) -> int:
    return sum(x.progress.record(t.id).status == "passed" for x in learners)


def _cell(progress: Progress, t: Task) -> dict[str, Any]:
    record = progress.record(t.id)
    return {
        "status": record.status,
        "attempts": record.attempts,
        "hints_seen": record.hints_seen,
        "first_passed": record.first_passed,
        "last_attempt": record.last_attempt,
    }


CSV_COLUMNS = (
    "learner", "lesson", "task", "title", "stretch", "status", "attempts", "hints_seen",
    "first_passed", "last_attempt",
)  # fmt: skip


def as_csv(report: ClassProgress, lesson: str | None = None) -> str:
    """One row per learner and task, for a spreadsheet."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for les, mine in _lessons(lesson):
        for x in report.learners:
            for t in mine:
                cell = _cell(x.progress, t)
                fixed = [x.name, les.number, t.id, t.title, "yes" if t.stretch else "no"]
                writer.writerow(
                    [*fixed, *("" if cell[k] is None else cell[k] for k in CSV_COLUMNS[5:])]
                )
    return buffer.getvalue()


def as_text(report: ClassProgress, lesson: str | None = None) -> str:
    """One table per lesson: a row per learner, a column per task, and how many passed each."""
    who = report.learners
    lines = [f"Class report: {len(who)} learner(s), from {report.folder}", ""]
    if who:
        width = max(len("passed by"), *(len(x.name) for x in who))
        for les, mine in _lessons(lesson):
            lines.append(f"Lesson {les.number} · {les.title}")
            head = [f"{'learner':<{width}}", *(f"{t.id:>6}" for t in mine), "  passed"]
            lines.append("  ".join(head))
            for x in who:
                cells = [_mark(x.progress, t) for t in mine]
                done = sum(x.progress.record(t.id).status == "passed" for t in mine)
                row = [f"{x.name:<{width}}", *(f"{c:>6}" for c in cells), f"{done:>4}/{len(mine)}"]
                lines.append("  ".join(row))
            totals = [f"{_passed(who, t)}/{len(who)}" for t in mine]
            lines.append("  ".join([f"{'passed by':<{width}}", *(f"{s:>6}" for s in totals)]))
            stretch = [t.id for t in mine if t.stretch]
            if stretch:
                lines.append(f"(stretch: {', '.join(stretch)})")
            lines.append("")
        lines.append("✔ passed   ✘N not yet, after N tries   · not tried")
    else:
        lines.append("No learner's progress could be read yet.")
    if report.unreadable:
        lines += ["", f"Could not read {len(report.unreadable)}:"]
        lines += [f"  {u.name}: {u.reason}" for u in report.unreadable]
    return "\n".join(lines)


def _mark(progress: Progress, t: Task) -> str:
    record = progress.record(t.id)
    if record.status == "not-yet":
        return f"{MARKS['not-yet']}{record.attempts}"
    return MARKS[record.status]

"""The scoreboard: every task, passed, not yet or not tried, and what to do next."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from labkit.exercises.progress import Progress
from labkit.exercises.tasks import Lesson, Task, lessons, tasks

MARKS = {"passed": "✔ passed", "not-yet": "✘ not yet", "not-tried": "· not tried"}


@dataclass(frozen=True)
class Row:
    task: Task
    status: str
    attempts: int
    hints_seen: int


def rows(progress: Progress, lesson: str | None = None) -> list[Row]:
    out = []
    for t in tasks(lesson):
        record = progress.record(t.id)
        out.append(Row(t, record.status, record.attempts, record.hints_seen))
    return out


def next_task(all_rows: list[Row]) -> Row | None:
    """The first task not passed yet, core tasks before stretch tasks."""
    open_rows = [r for r in all_rows if r.status != "passed"]
    core = [r for r in open_rows if not r.task.stretch]
    return (core or open_rows or [None])[0]


def as_json(progress: Progress, lesson: str | None = None) -> dict[str, Any]:
    all_rows = rows(progress, lesson)
    nxt = next_task(all_rows)
    by_lesson = []
    for les in lessons():
        mine = [r for r in all_rows if r.task.lesson == les.number]
        if not mine:
            continue
        by_lesson.append(
            {
                "lesson": les.number,
                "title": les.title,
                "notebook": f"exercises/{les.notebook}",
                "passed": sum(r.status == "passed" for r in mine),
                "total": len(mine),
                "tasks": [
                    {
                        "task": r.task.id,
                        "title": r.task.title,
                        "stretch": r.task.stretch,
                        "status": r.status,
                        "attempts": r.attempts,
                        "hints_seen": r.hints_seen,
                    }
                    for r in mine
                ],
            }
        )
    return {
        "passed": sum(r.status == "passed" for r in all_rows),
        "total": len(all_rows),
        "next": nxt.task.id if nxt else None,
        "lessons": by_lesson,
    }


def as_text(progress: Progress, lesson: str | None = None) -> str:
    all_rows = rows(progress, lesson)
    lines = []
    for les in lessons():
        mine = [r for r in all_rows if r.task.lesson == les.number]
        if not mine:
            continue
        done = sum(r.status == "passed" for r in mine)
        lines.append(f"Lesson {les.number} · {les.title}  ({done}/{len(mine)} passed)")
        stretch = 10 if any(r.task.stretch for r in mine) else 0
        width = max(len(r.task.title) for r in mine) + stretch
        for r in mine:
            title = r.task.title + (" (stretch)" if r.task.stretch else "")
            extra = f"  {r.attempts} tries" if r.status == "not-yet" else ""
            lines.append(f"  {r.task.id:>5}  {title:<{width}}  {MARKS[r.status]}{extra}")
        lines.append("")
    passed = sum(r.status == "passed" for r in all_rows)
    lines.append(f"{passed} of {len(all_rows)} tasks passed.")
    nxt = next_task(all_rows)
    if nxt is None:
        lines.append("Every task passed. Well done!")
    else:
        les = _lesson(nxt.task.lesson)
        where = f"exercises/{les.notebook}" if les else "its exercise notebook"
        lines.append(f"Next: {nxt.task.id} {nxt.task.title}, in {where}.")
    if progress.warning:
        lines.append(f"Note: {progress.warning}")
    return "\n".join(lines)


def _lesson(number: str) -> Lesson | None:
    return next((les for les in lessons() if les.number == number), None)

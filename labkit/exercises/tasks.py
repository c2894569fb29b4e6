"""Lessons and their tasks: what there is to do, and the check for each.

Each lesson's tasks live in a module of their own, ``labkit.exercises.lessonNN``,
found by name, so a new lesson adds a module and nothing else changes. A module
declares its :class:`Lesson` and decorates one check function per task::

    LESSON = Lesson("02", "Raw bytes to the daemon", "02-raw-bytes-to-the-daemon.ipynb", 20)

    @task("02.1", "A raw GET /_ping", answer="raw_ping", hints=(...))
    def check_raw_ping(ctx, raw_ping):
        ...                      # raise NotYet(...) when it is not right
        return "it read 200 and b'OK' from a fresh connection"

A check returns the sentence a pass prints, and raises :class:`NotYet` otherwise.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from labkit.exercises.context import CheckContext

Kind = Literal["function", "value", "prediction"]
CheckFunction = Callable[["CheckContext", Any], str]

TASK_ID = re.compile(r"^(\d\d)\.(\d+)$")
_MODULE = re.compile(r"^lesson(\d\d)$")


@dataclass(frozen=True)
class Lesson:
    number: str  # "02"
    title: str
    notebook: str  # the exercise notebook's file name in exercises/
    minutes: int  # how long its exercises take, said at the notebook's top


@dataclass(frozen=True)
class Task:
    id: str  # "02.1": lesson 02, task 1
    title: str
    answer: str  # the name the answer cell defines (a function or a value)
    check: CheckFunction = field(repr=False)
    kind: Kind = "function"
    hints: tuple[str, ...] = ()
    mistakes: dict[str, str] = field(default_factory=dict)  # the task's own mistake hints
    time_limit: float = 10.0  # seconds the learner's code may take, each call
    stretch: bool = False

    @property
    def lesson(self) -> str:
        return self.id.split(".")[0]

    @property
    def number(self) -> int:
        return int(self.id.split(".")[1])


class UnknownTask(LookupError):
    """No task has that id."""


_TASKS: dict[str, Task] = {}
_LESSONS: dict[str, Lesson] = {}
_loaded = False


def task(
    task_id: str,
    title: str,
    *,
    answer: str,
    kind: Kind = "function",
    hints: tuple[str, ...] = (),
    mistakes: dict[str, str] | None = None,
    time_limit: float = 10.0,
    stretch: bool = False,
) -> Callable[[CheckFunction], CheckFunction]:
    """Register the decorated function as the check of task ``task_id``."""
    if not TASK_ID.match(task_id):
        raise ValueError(f"task id {task_id!r} must look like '02.1' (lesson, dot, number)")

    def register(check: CheckFunction) -> CheckFunction:
        if task_id in _TASKS and _TASKS[task_id].check is not check:
            raise ValueError(f"task {task_id} is defined twice")
        _TASKS[task_id] = Task(
            task_id,
            title,
            answer,
            check,
            kind,
            tuple(hints),
            dict(mistakes or {}),
            time_limit,
            stretch,
        )
        return check

    return register


def register_lesson(lesson: Lesson) -> Lesson:
    _LESSONS[lesson.number] = lesson
    return lesson


def _load() -> None:
    """Import every ``labkit.exercises.lessonNN`` module, once."""
    global _loaded
    if _loaded:
        return
    import labkit.exercises as package

    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if _MODULE.match(info.name):
            module = importlib.import_module(f"{package.__name__}.{info.name}")
            lesson = getattr(module, "LESSON", None)
            if isinstance(lesson, Lesson):
                register_lesson(lesson)
    _loaded = True


def lessons() -> list[Lesson]:
    _load()
    return [_LESSONS[n] for n in sorted(_LESSONS)]


def tasks(lesson: str | None = None) -> list[Task]:
    """Every task, in lesson and task order (one lesson's only, if given)."""
    _load()
    found = [t for t in _TASKS.values() if lesson is None or t.lesson == lesson]
    return sorted(found, key=lambda t: (t.lesson, t.number))


def get_task(task_id: str) -> Task:
    _load()
    key = str(task_id).strip()
    if key in _TASKS:
        return _TASKS[key]
    match = re.match(r"^(\d{1,2})\.(\d+)$", key)
    if match and f"{int(match[1]):02d}.{match[2]}" in _TASKS:
        return _TASKS[f"{int(match[1]):02d}.{match[2]}"]
    lesson = key.split(".")[0].zfill(2) if "." in key else ""
    same = [t.id for t in tasks(lesson)] if lesson else []
    known = ", ".join(same) if same else ", ".join(t.id for t in tasks())
    raise UnknownTask(f"there is no task {task_id!r}; the tasks are {known}")


def get_lesson(number: str) -> Lesson:
    _load()
    key = str(number).zfill(2)
    if key not in _LESSONS:
        raise UnknownTask(
            f"there are no exercises for lesson {number!r}; lessons with exercises: "
            + ", ".join(_LESSONS)
        )
    return _LESSONS[key]

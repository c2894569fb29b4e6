"""``check()`` and ``hint()``: what a check cell calls.

``check("02.1")`` finds the learner's answer by the name the task gave it (in the
notebook's own variables), runs the task's check on fresh state, records the
verdict in the learner's progress and shows it: one line. It never raises: a
missing or unfinished answer, a wrong type, an exception or a hang in the
learner's code each become "not yet" with what happened, and a failure of the
check itself says so instead of blaming the answer.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from labkit.exercises import progress
from labkit.exercises.context import CheckContext
from labkit.exercises.mistakes import hint_for
from labkit.exercises.tasks import Task, UnknownTask, get_lesson, get_task
from labkit.exercises.verdict import NotYet, Unchecked, Verdict

if TYPE_CHECKING:
    from labkit.lab import Lab


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()
# Mistakes whose message already says everything: no hint is added after them.
SELF_EXPLAINED = {"raised", "hang", "unfinished", "undefined", "returned-none", "wrong-prediction"}


def run_check(
    task_id: str,
    answer: Any = MISSING,
    *,
    namespace: Mapping[str, Any] | None = None,
    lab_factory: Callable[[], Lab] | None = None,
    record: bool = True,
) -> Verdict:
    """Check one task and return its verdict (recorded in the progress file)."""
    try:
        task = get_task(task_id)
    except UnknownTask as exc:
        return Verdict(str(task_id), "unchecked", str(exc))
    if answer is MISSING:
        answer = (namespace or {}).get(task.answer, MISSING)
    verdict = _judge(task, answer, lab_factory)
    if record:
        try:
            progress.record_verdict(verdict)
        except OSError as exc:
            verdict = Verdict(
                verdict.task,
                verdict.outcome,
                f"{verdict.message} (your progress could not be saved: {exc})",
                verdict.mistake,
                verdict.more,
            )
    return verdict


def _judge(task: Task, answer: Any, lab_factory: Callable[[], Lab] | None) -> Verdict:
    try:
        _check_present(task, answer)
        with CheckContext(task, lab_factory) as ctx:
            message = task.check(ctx, answer)
        return Verdict(task.id, "passed", message or "well done")
    except NotYet as miss:
        return _not_yet(task, miss)
    except Unchecked as exc:
        return Verdict(task.id, "unchecked", str(exc))
    except KeyboardInterrupt:
        return Verdict(
            task.id, "unchecked", "you stopped the check before it finished; run it again"
        )
    except Exception as exc:  # a bug in the check, never the learner's fault
        return Verdict(
            task.id,
            "unchecked",
            f"the check itself failed ({type(exc).__name__}: {exc}); this is a bug in the lab, "
            "not in your answer: please report it",
        )


def _check_present(task: Task, answer: Any) -> None:
    if answer is MISSING:
        raise NotYet(
            f"`{task.answer}` is not defined yet: run the answer cell above (Shift+Enter), then "
            "this check again",
            mistake="undefined",
        )
    if answer is Ellipsis:
        raise NotYet(
            f"`{task.answer}` is still `...`: write your answer in its place, run that cell, "
            "then this check again",
            mistake="unfinished",
        )


def _not_yet(task: Task, miss: NotYet) -> Verdict:
    hint = hint_for(miss.mistake, task.mistakes)
    message = miss.message
    if hint and miss.mistake not in SELF_EXPLAINED:
        message = f"{message}: {hint}" if message else hint
    more = f'(another hint: hint("{task.id}"))' if task.hints else ""
    return Verdict(task.id, "not-yet", message, miss.mistake, more)


def check(task_id: str, answer: Any = MISSING) -> None:
    """Check a task from a notebook cell, and show the verdict under it."""
    namespace = sys._getframe(1).f_globals if answer is MISSING else None
    show(run_check(task_id, answer, namespace=namespace))


def hint(task_id: str) -> None:
    """Show the next hint for a task, each one saying more than the last."""
    try:
        task = get_task(task_id)
    except UnknownTask as exc:
        print(exc)
        return
    if not task.hints:
        print(f"{task.id} has no hints; its check's message says what is missing.")
        return
    try:
        seen = progress.next_hint(task.id)
    except OSError:
        seen = 1
    number = min(seen, len(task.hints))
    text = f"Hint {number} of {len(task.hints)} for {task.id}: {task.hints[number - 1]}"
    if number == len(task.hints):
        text += f"\n(That was the last hint; the worked answer is in {solution_file(task)}.)"
    print(text)


def show_progress(lesson: str | None = None) -> None:
    """The scoreboard, in a notebook: what ``labkit check`` prints in a terminal."""
    from labkit.exercises import scoreboard

    print(scoreboard.as_text(progress.load(), lesson))


def solution_file(task: Task) -> str:
    try:
        notebook = get_lesson(task.lesson).notebook
    except UnknownTask:
        return "exercises/solutions/"
    return f"exercises/solutions/{notebook.removesuffix('.ipynb')}.py"


def show(verdict: Verdict) -> None:
    """Display in a notebook (Markdown and plain text); print elsewhere."""
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:
        print(verdict.line())
        return
    if get_ipython() is None:
        print(verdict.line())
    else:
        display(verdict)

"""Worked answers, kept once, and applied to the exercise notebooks by labkit.

Each exercise notebook ``exercises/NN-name.ipynb`` has a solutions file
``exercises/solutions/NN-name.py``: plain Python, in blocks that start with a marker
line::

    # %% 02.1 solution
    def raw_ping(socket_path): ...

    # %% 02.1 wrong: no-final-crlf
    def raw_ping(socket_path): ...    # a plausible mistake, and the hint it must get

The notebook marks its answer cells with ``{"labkit": {"task": "02.1", "role":
"answer"}}`` in the cell's metadata and its check cells with ``"role": "check"``.
:func:`apply` puts a block in place of each answer cell, which gives the solved
notebook (for the tests, and for anyone who wants to see it run) without a second
hand-kept copy of any notebook.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_MARKER = re.compile(r"^# %% (\d\d\.\d+) (solution|wrong: ([a-z0-9-]+))\s*$")


class SolutionsError(ValueError):
    """A solutions file or a notebook breaks the conventions above."""


@dataclass
class TaskAnswers:
    solution: str = ""
    wrong: list[tuple[str, str]] = field(default_factory=list)  # (mistake, code)


def parse(text: str, where: str = "solutions") -> dict[str, TaskAnswers]:
    """The blocks of a solutions file, by task id."""
    found: dict[str, TaskAnswers] = {}
    current: list[str] | None = None
    for number, line in enumerate(text.splitlines(), 1):
        match = _MARKER.match(line)
        if line.startswith("# %%") and not match:
            raise SolutionsError(
                f"{where}, line {number}: {line!r} is not a marker; write "
                "'# %% 02.1 solution' or '# %% 02.1 wrong: mistake-name'"
            )
        if match:
            answers = found.setdefault(match[1], TaskAnswers())
            current = []
            if match[2] == "solution":
                if answers.solution:
                    raise SolutionsError(
                        f"{where}, line {number}: a second solution for {match[1]}"
                    )
                answers.solution = current  # type: ignore[assignment]  # filled below
            else:
                answers.wrong.append((match[3], current))  # type: ignore[arg-type]
            continue
        if current is not None:
            current.append(line)
    for answers in found.values():
        answers.solution = _code(answers.solution)
        answers.wrong = [(mistake, _code(lines)) for mistake, lines in answers.wrong]
    return found


def _code(lines: Any) -> str:
    if isinstance(lines, str):
        return lines
    return "\n".join(lines).strip("\n") + "\n" if lines else ""


def load(path: Path) -> dict[str, TaskAnswers]:
    return parse(path.read_text(encoding="utf-8"), str(path))


def solutions_path(notebook: Path) -> Path:
    return notebook.parent / "solutions" / f"{notebook.stem}.py"


def cell_role(cell: Any) -> tuple[str | None, str | None]:
    """(task id, role) of a notebook cell, or (None, None)."""
    meta = cell.get("metadata", {}).get("labkit", {})
    return meta.get("task"), meta.get("role")


def apply(notebook: Any, answers: dict[str, str]) -> Any:
    """A copy of ``notebook`` whose answer cells hold ``answers[task]`` where given."""
    solved = copy.deepcopy(notebook)
    used = set()
    for cell in solved.cells:
        task, role = cell_role(cell)
        if role == "answer" and task in answers:
            cell.source = answers[task].rstrip("\n")
            cell.outputs = []
            cell.execution_count = None
            used.add(task)
    missing = set(answers) - used
    if missing:
        raise SolutionsError(f"the notebook has no answer cell for {', '.join(sorted(missing))}")
    return solved


def solved(notebook: Any, all_answers: dict[str, TaskAnswers]) -> Any:
    """The notebook with every task's solution applied."""
    return apply(notebook, {task: a.solution for task, a in all_answers.items() if a.solution})


def with_wrong(
    notebook: Any, all_answers: dict[str, TaskAnswers], variant: int
) -> tuple[Any, dict[str, str]]:
    """The notebook with the ``variant``-th wrong answer of each task that has one.

    Returns the notebook and ``{task: expected mistake}`` for the tasks it changed.
    """
    chosen = {
        task: a.wrong[variant] for task, a in all_answers.items() if len(a.wrong) > variant
    }
    return apply(notebook, {t: code for t, (_, code) in chosen.items()}), {
        t: mistake for t, (mistake, _) in chosen.items()
    }


def run_in_process(
    notebook: Any, answers: dict[str, str] | None = None, lab_factory: Any = None
) -> dict[str, Any]:
    """Run a notebook's code cells here, without a kernel; the verdict of each check cell.

    Answer cells take ``answers[task]`` where given. This is how the tests try many
    wrong answers quickly; a notebook for it must not use IPython's ``!`` or ``%`` syntax.
    """
    from labkit.exercises.runner import run_check

    answers = answers or {}
    namespace: dict[str, Any] = {"__name__": "__main__"}
    verdicts: dict[str, Any] = {}
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        task, role = cell_role(cell)
        if role == "check" and task:
            verdicts[task] = run_check(
                task, namespace=namespace, lab_factory=lab_factory, record=False
            )
            continue
        source = answers[task] if role == "answer" and task in answers else cell.source
        exec(compile(source, f"<cell {task or ''}>", "exec"), namespace)
    return verdicts

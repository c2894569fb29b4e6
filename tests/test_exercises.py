"""Every exercise is solvable, every check can fail, and each known mistake gets its own hint.

The notebooks themselves run under nbval (exercises/conftest.py). Here the checks
run in this process, which is quick enough to try every wrong answer kept in the
solutions files: for each one, the check must say "not yet" and name the mistake
the solutions file says it shows.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from labkit.exercises import solutions
from labkit.exercises.mistakes import MISTAKES
from labkit.exercises.tasks import get_lesson, lessons, tasks

ROOT = Path(__file__).resolve().parents[1]
EXERCISES = ROOT / "exercises"
NOTEBOOKS = sorted(EXERCISES.glob("[0-9][0-9]-*.ipynb"))
SOLUTION_FILES = {nb: solutions.solutions_path(nb) for nb in NOTEBOOKS}
WRONG = [
    (nb, task, n, mistake)
    for nb in NOTEBOOKS
    for task, answers in solutions.load(SOLUTION_FILES[nb]).items()
    for n, (mistake, _code) in enumerate(answers.wrong)
]


def test_every_lesson_with_a_notebook_has_exercises() -> None:
    numbers = {nb.name[:2] for nb in NOTEBOOKS}
    assert numbers == {les.number for les in lessons()}


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_matches_its_tasks(notebook: Path) -> None:
    """One answer cell and one check cell per task, in order; the top says time and how."""
    nb = nbformat.read(notebook, as_version=4)
    lesson = get_lesson(notebook.name[:2])
    assert lesson.notebook == notebook.name
    assert len(tasks(lesson.number)) >= 4, "at least four tasks per lesson"
    assert any(t.stretch for t in tasks(lesson.number)), "one stretch task per lesson"
    roles = [solutions.cell_role(c) for c in nb.cells if solutions.cell_role(c)[1]]
    expected = [(t.id, role) for t in tasks(lesson.number) for role in ("answer", "check")]
    assert roles == expected
    intro = nb.cells[0].source
    minutes = re.search(r"About (\d+) minutes", intro)
    assert minutes and int(minutes[1]) <= 20, "the top says how long, at most 20 minutes"
    assert int(minutes[1]) == lesson.minutes
    assert "check" in intro and "hint(" in intro and f"solutions/{notebook.stem}.py" in intro
    assert nb.metadata["kernelspec"]["name"] == "python3"
    for cell in nb.cells:
        assert "NBVAL" not in cell.source
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, "stored without outputs"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_every_task_has_a_solution_and_a_wrong_answer(notebook: Path) -> None:
    answers = solutions.load(SOLUTION_FILES[notebook])
    for task in tasks(notebook.name[:2]):
        assert answers.get(task.id), f"{task.id} has no block in {SOLUTION_FILES[notebook].name}"
        assert answers[task.id].solution, f"{task.id} has no solution"
        assert answers[task.id].wrong, f"{task.id} keeps no wrong answer beside its solution"
        for mistake, _ in answers[task.id].wrong:
            assert mistake in MISTAKES or mistake in task.mistakes, (
                f"{task.id}'s wrong answer names {mistake!r}, a mistake with no hint"
            )
        assert len(task.hints) >= 2, f"{task.id} needs hints that build up"


@pytest.fixture(scope="module")
def lab_engine_env(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Checks here use a lab engine of their own, like the notebooks do."""
    home = tmp_path_factory.mktemp("exh")
    mp = pytest.MonkeyPatch()
    mp.setenv("LABKIT_HOME", str(home))
    mp.setenv("LABKIT_ENGINE", "lab")
    yield
    import subprocess
    import sys

    subprocess.run(
        [sys.executable, "-m", "labkit", "engine", "stop"], capture_output=True, timeout=30
    )
    mp.undo()


@pytest.mark.lab_engine
@pytest.mark.parametrize(
    ("notebook", "task", "n", "mistake"),
    WRONG,
    ids=[f"{t}-{m}" for _, t, _, m in WRONG],
)
def test_a_wrong_answer_is_turned_down_with_its_hint(
    notebook: Path, task: str, n: int, mistake: str, lab_engine_env: None
) -> None:
    nb = nbformat.read(notebook, as_version=4)
    answers = solutions.load(SOLUTION_FILES[notebook])
    code = answers[task].wrong[n][1]
    verdicts = solutions.run_in_process(nb, {task: code})
    verdict = verdicts[task]
    assert verdict.outcome == "not-yet", verdict.line()
    assert verdict.mistake == mistake, verdict.line()


def test_lessons_01_to_05_have_at_least_24_tasks_and_some_predictions() -> None:
    core = [t for t in tasks() if t.lesson in {"01", "02", "03", "04", "05"}]
    assert len(core) >= 24
    assert {t.lesson for t in core} == {"01", "02", "03", "04", "05"}
    assert sum(t.kind == "prediction" for t in core) >= 2


STRANGER_04_6 = """
def wait_for_event(api, name, action):
    # Another container does the same thing first (on a real engine, someone else's);
    # its event is kept and handed back once the container asked about shows up.
    stranger = name + "-stranger"
    with api.stream("GET", "/events", timeout=None) as events:
        made = api.request(
            "POST", "/containers/create", params={"name": stranger},
            json={"Image": "busybox", "Cmd": ["true"]},
        ).json()
        api.request("POST", f"/containers/{made['Id']}/start")
        api.request("POST", f"/containers/{made['Id']}/wait")
        api.request("DELETE", f"/containers/{made['Id']}")
        kept = None
        for event in events.json():
            who = event["Actor"]["Attributes"].get("name")
            if who == stranger and event["Action"] == action and kept is None:
                kept = event
            if who == name:
                return kept
"""


@pytest.mark.lab_engine
def test_an_event_of_any_other_container_is_named_as_that_mistake(lab_engine_env: None) -> None:
    """04.6: not only the check's decoy; on a real engine other containers have events too."""
    [notebook] = [nb for nb in NOTEBOOKS if nb.name.startswith("04-")]
    verdict = solutions.run_in_process(
        nbformat.read(notebook, as_version=4), {"04.6": STRANGER_04_6}
    )["04.6"]
    assert (verdict.outcome, verdict.mistake) == ("not-yet", "other-container"), verdict.line()
    assert "-stranger" in verdict.line()

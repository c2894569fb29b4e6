"""The solved exercises pass on each real engine too (the dockerd and Podman CI starts).

On the lab engine nbval runs them (exercises/conftest.py). Here each notebook, with
its worked answers applied, runs in a kernel against the real engine, and every
check cell must show a pass.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from notebook_runs import execute, use_real_engine

from labkit.exercises import solutions
from labkit.exercises.context import CheckContext
from labkit.exercises.verdict import VERDICT_MIME

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "exercises").glob("[0-9][0-9]-*.ipynb"))


def verdicts_of(notebook: nbformat.NotebookNode) -> dict[str, dict]:
    found = {}
    for cell in notebook.cells:
        task, role = solutions.cell_role(cell)
        if role != "check":
            continue
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if VERDICT_MIME in data:
                found[task] = data[VERDICT_MIME]
    return found


@pytest.mark.real_engine
@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_solved_exercises_pass_on_the_real_engine(
    path: Path, each_real_engine_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_real_engine(each_real_engine_url, tmp_path / "home", monkeypatch)
    notebook = solutions.solved(
        nbformat.read(path, as_version=4), solutions.load(solutions.solutions_path(path))
    )
    execute(notebook, path.parent)
    verdicts = verdicts_of(notebook)
    expected = {
        solutions.cell_role(c)[0] for c in notebook.cells if solutions.cell_role(c)[1] == "check"
    }
    assert set(verdicts) == expected
    failing = {t: v["message"] for t, v in verdicts.items() if v["outcome"] != "passed"}
    assert failing == {}


# Checks where Podman answers otherwise than Docker: image names and the image list
# (full names such as docker.io/library/busybox:latest; a reference filter that lists
# every name of the images it picks), and the name of a container's last event
# (remove, where Docker says destroy). Each must pass its solution and turn down each
# wrong answer with that answer's own hint on every real engine, as
# tests/test_exercises.py proves on the lab engine.
ENGINE_SENSITIVE = {"03": ("03.3", "03.7"), "04": ("04.1", "04.6")}


@pytest.mark.real_engine
@pytest.mark.slow
@pytest.mark.parametrize("lesson", sorted(ENGINE_SENSITIVE))
def test_engine_sensitive_checks_judge_alike_on_each_real_engine(
    lesson: str, each_real_engine_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_real_engine(each_real_engine_url, tmp_path / "home", monkeypatch)
    # 04.6 picks the event to wait for at random; the last choice is the removal, named
    # differently on Podman, so take that one every time.
    monkeypatch.setattr(CheckContext, "choice", lambda self, options: options[-1])
    [path] = [p for p in NOTEBOOKS if p.name.startswith(f"{lesson}-")]
    notebook = nbformat.read(path, as_version=4)
    answers = solutions.load(solutions.solutions_path(path))
    chosen = {task: answers[task] for task in ENGINE_SENSITIVE[lesson]}
    solved = solutions.apply(notebook, {task: a.solution for task, a in chosen.items()})
    verdicts = solutions.run_in_process(solved)
    for task in chosen:
        assert verdicts[task].outcome == "passed", verdicts[task].line()
    for variant in range(max(len(a.wrong) for a in chosen.values())):
        wrong, mistakes = solutions.with_wrong(notebook, chosen, variant)
        verdicts = solutions.run_in_process(wrong)
        for task, mistake in mistakes.items():
            assert (verdicts[task].outcome, verdicts[task].mistake) == ("not-yet", mistake), (
                verdicts[task].line()
            )

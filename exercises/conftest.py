"""How the test command runs the exercises (never copied to a learner's workspace).

For each exercise notebook, two notebooks are made from it and run under nbval, each
in a kernel of its own on a fresh lab engine:

- **unsolved**, exactly as a learner first opens it: every check must say "not yet"
  (the answer is still the template), and nothing may raise;
- **solved**, with the worked answers of ``solutions/NN-name.py`` applied: every
  check must pass.

Their check cells carry the ``nbval-check-output`` tag and the verdict each must
show: "not yet, still the template" for the first; for the second the pass line,
which the same check gives when run here in-process on the solutions, on a lab
engine of its own. A check that does not pass there fails collection, saying so.
"""

from __future__ import annotations

import contextlib
import copy
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbval.plugin import IPyNbFile

from labkit.exercises import solutions
from labkit.exercises.verdict import VERDICT_MIME, Verdict

HERE = Path(__file__).resolve().parent
FIXED_ENV = {
    "LABKIT_ENGINE": "lab",
    "LABKIT_CLOCK": "2026-01-05T09:00:00Z",
    "LABKIT_SEED": "42",
}
_build = Path(tempfile.mkdtemp(prefix="lk-ex-"))


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """The stored notebooks run through the variants below, not a second time as they are."""
    if collection_path.suffix == ".ipynb" and collection_path.parent == HERE:
        return True
    return None


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.parent == HERE / "solutions" and file_path.suffix == ".py":
        notebook = HERE / f"{file_path.stem}.ipynb"
        if notebook.exists():
            return ExerciseVariants.from_parent(parent, path=file_path)
    return None


@contextlib.contextmanager
def fresh_lab_home() -> Iterator[Path]:
    """A private lab home with the fixed clock and seed; its engine stopped at the end."""
    home = Path(tempfile.mkdtemp(prefix="lk-exh-"))
    saved = {k: os.environ.get(k) for k in [*FIXED_ENV, "LABKIT_HOME"]}
    os.environ.update(FIXED_ENV)
    os.environ["LABKIT_HOME"] = str(home)
    try:
        yield home
    finally:
        subprocess.run(
            [sys.executable, "-m", "labkit", "engine", "stop"],
            env=dict(os.environ),
            capture_output=True,
            timeout=30,
            check=False,
        )
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        shutil.rmtree(home, ignore_errors=True)


def _expect(cell: Any, verdict: Verdict) -> None:
    cell.metadata.setdefault("tags", []).append("nbval-check-output")
    cell.execution_count = 1  # nbval compares only cells that were run
    cell.outputs = [
        nbformat.v4.new_output(
            "display_data",
            data={
                "text/plain": verdict.line(),
                "text/markdown": verdict._repr_markdown_(),
                VERDICT_MIME: verdict.as_dict(),
            },
        )
    ]


def _with_expected(notebook: Any, verdicts: dict[str, Verdict]) -> Any:
    marked = copy.deepcopy(notebook)
    for cell in marked.cells:
        task, role = solutions.cell_role(cell)
        if role == "check" and task in verdicts:
            _expect(cell, verdicts[task])
    return marked


class ExerciseVariants(pytest.File):
    """One exercise notebook's unsolved and solved runs."""

    def collect(self) -> Iterator[pytest.Collector]:
        notebook_path = HERE / f"{self.path.stem}.ipynb"
        notebook = nbformat.read(notebook_path, as_version=4)
        answers = solutions.load(self.path)

        with fresh_lab_home():  # setup cells use an engine: a private one, never the host's
            unsolved = solutions.run_in_process(notebook)
        wrong = {
            t: v.line() for t, v in unsolved.items() if v.outcome != "not-yet" or not v.mistake
        }
        if wrong:
            raise ValueError(f"unsolved checks that do not say 'not yet': {wrong}")
        with fresh_lab_home():
            solved_notebook = solutions.solved(notebook, answers)
            passes = solutions.run_in_process(solved_notebook)
        failing = {t: v.line() for t, v in passes.items() if not v.passed}
        if failing:
            raise ValueError(f"checks that the worked answers do not pass: {failing}")

        for name, nb, verdicts in (
            ("unsolved", notebook, unsolved),
            ("solved", solved_notebook, passes),
        ):
            path = _build / f"{self.path.stem}.{name}.ipynb"
            nbformat.write(_with_expected(nb, verdicts), path)
            yield LabNotebook.from_parent(self, path=path)


class LabNotebook(IPyNbFile):
    """An nbval notebook run in a kernel of its own, on a fresh lab engine."""

    def setup(self) -> None:
        self._home = fresh_lab_home()
        self._home.__enter__()
        super().setup()

    def teardown(self) -> None:
        try:
            super().teardown()
        finally:
            self._home.__exit__(None, None, None)

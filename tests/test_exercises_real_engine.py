"""The solved exercises pass on a real Docker engine too (the dockerd CI starts).

On the lab engine nbval runs them (exercises/conftest.py). Here each notebook, with
its worked answers applied, runs in a kernel against the real engine, and every
check cell must show a pass.
"""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from labkit.exercises import solutions
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
    path: Path, real_engine_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LABKIT_ENGINE", "docker")
    monkeypatch.setenv("DOCKER_HOST", real_engine_url)
    monkeypatch.setenv("LABKIT_HOME", str(tmp_path / "home"))
    for var in ("LABKIT_DOCKER_HOST", "LABKIT_CLOCK", "LABKIT_SEED", "DOCKER_CONTEXT"):
        monkeypatch.delenv(var, raising=False)
    notebook = solutions.solved(
        nbformat.read(path, as_version=4), solutions.load(solutions.solutions_path(path))
    )
    NotebookClient(notebook, timeout=120, kernel_name="python3").execute(env=dict(os.environ))
    verdicts = verdicts_of(notebook)
    expected = {
        solutions.cell_role(c)[0] for c in notebook.cells if solutions.cell_role(c)[1] == "check"
    }
    assert set(verdicts) == expected
    failing = {t: v["message"] for t, v in verdicts.items() if v["outcome"] != "passed"}
    assert failing == {}

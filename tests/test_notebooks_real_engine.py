"""Every lesson also runs top to bottom on a real Docker engine.

nbval (in the test command) runs the notebooks on the lab engine and compares
the outputs that matter. Here each notebook runs on the real dockerd that
.ci/run starts, where outputs differ (ids, sizes, versions) and only one thing
is asked: every cell runs without an error.
"""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))


@pytest.mark.real_engine
@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_on_the_real_engine(
    path: Path, real_engine_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LABKIT_ENGINE", "docker")
    monkeypatch.setenv("DOCKER_HOST", real_engine_url)
    monkeypatch.setenv("LABKIT_HOME", str(tmp_path / "home"))
    for var in ("LABKIT_DOCKER_HOST", "LABKIT_CLOCK", "LABKIT_SEED", "DOCKER_CONTEXT"):
        monkeypatch.delenv(var, raising=False)
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=120,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    try:
        client.execute(env=dict(os.environ))
    except CellExecutionError as exc:
        pytest.fail(f"{path.name} failed on the real engine:\n{exc}")


def test_there_are_notebooks_to_run() -> None:
    assert NOTEBOOKS, "no lesson notebooks found in notebooks/"

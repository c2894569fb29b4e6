"""Every lesson also runs top to bottom on each real engine (dockerd and Podman).

nbval (in the test command) runs the notebooks on the lab engine and compares
the outputs that matter. Here each notebook runs on the real engines that
.ci/run starts, where outputs differ (ids, sizes, versions, image names) and
only one thing is asked: every cell runs without an error.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient.exceptions import CellExecutionError
from notebook_runs import execute, use_real_engine

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))


@pytest.mark.real_engine
@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_on_the_real_engine(
    path: Path, each_real_engine_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_real_engine(each_real_engine_url, tmp_path / "home", monkeypatch)
    notebook = nbformat.read(path, as_version=4)
    try:
        execute(notebook, path.parent)
    except CellExecutionError as exc:
        pytest.fail(f"{path.name} failed on the real engine at {each_real_engine_url}:\n{exc}")


def test_there_are_notebooks_to_run() -> None:
    assert NOTEBOOKS, "no lesson notebooks found in notebooks/"

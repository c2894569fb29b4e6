"""Re-run lesson notebooks on a fresh lab engine and save their outputs.

    .venv/bin/python .ci/refresh_notebooks.py                  # every lesson
    .venv/bin/python .ci/refresh_notebooks.py notebooks/04-*.ipynb

The saved outputs are what a learner sees before running a cell, and what nbval
compares the cells tagged nbval-check-output against. They are made under the
same conditions as the test run (notebooks/conftest.py): the lab engine, a fixed
clock and seed, and a fresh LABKIT_HOME per notebook.

Widgets are saved as their text only (:func:`widgets_as_text`): their state is not
saved, so a saved widget view could only say "Error displaying widget".
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
from jupyter_client.kernelspec import KernelSpecManager
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "notebooks"))
from conftest import FIXED_ENV  # noqa: E402  (the same settings the tests use)


def refresh(path: Path) -> None:
    home = Path(tempfile.mkdtemp(prefix="lk-nb-"))
    env = {**os.environ, **FIXED_ENV, "LABKIT_HOME": str(home)}
    for var in ("DOCKER_HOST", "LABKIT_DOCKER_HOST", "DOCKER_CONTEXT"):
        env.pop(var, None)
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=120,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        record_timing=False,  # timestamps in cell metadata would change at every refresh
        store_widget_state=False,  # a widget's saved output says what it showed (text/plain)
    )
    try:
        client.execute(env=env)
    finally:
        subprocess.run([sys.executable, "-m", "labkit", "engine", "stop"], env=env, check=False,
                       capture_output=True, timeout=30)  # fmt: skip
        shutil.rmtree(home, ignore_errors=True)
    notebook.metadata = as_jupyterlab_writes_it(notebook.metadata)
    widgets_as_text(notebook)
    nbformat.write(notebook, path)
    print(f"refreshed {path.relative_to(ROOT)}")


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def widgets_as_text(notebook: nbformat.NotebookNode) -> None:
    """Keep each widget's text/plain (labkit's say what they are) and drop its view, whose
    state is not saved: JupyterLab then shows the text, not an error."""
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if WIDGET_VIEW in data and data.get("text/plain"):
                del data[WIDGET_VIEW]


def as_jupyterlab_writes_it(metadata: dict) -> dict:
    """The notebook metadata JupyterLab would set on opening the lesson with the installed
    Python kernel (its kernelspec, the kernel's language_info), so that opening a lesson
    changes nothing and shows no unsaved-changes dot."""
    spec = KernelSpecManager().get_kernel_spec("python3")
    kernelspec = {"display_name": spec.display_name, "language": spec.language, "name": "python3"}
    return {"kernelspec": kernelspec, "language_info": metadata.get("language_info", {})}


def main(args: list[str]) -> int:
    paths = [Path(a).resolve() for a in args] or sorted(
        (ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb")
    )
    for path in paths:
        refresh(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

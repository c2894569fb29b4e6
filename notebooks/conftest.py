"""How the test command runs the lessons: each notebook on a fresh, private lab engine.

nbval executes every notebook top to bottom. So that the outputs marked
tagged ``nbval-check-output`` are the same on every machine, each notebook gets its own
empty ``LABKIT_HOME`` (so a fresh lab engine), a fixed clock and a fixed seed.
The CI run on a real dockerd lives in tests/test_notebooks_real_engine.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

FIXED_ENV = {
    "LABKIT_ENGINE": "lab",
    "LABKIT_CLOCK": "2026-01-05T09:00:00Z",
    "LABKIT_SEED": "42",
}

_homes: dict[str, Path] = {}
# What those settings replaced in this process's environment, put back after the notebook, so
# that a test run after it in the same process (pytest-xdist) sees the environment it expects.
_saved: dict[str, str | None] = {}


def _stop_engine(home: Path) -> None:
    env = {**os.environ, "LABKIT_HOME": str(home)}
    subprocess.run(
        [sys.executable, "-m", "labkit", "engine", "stop"],
        env=env,
        capture_output=True,
        timeout=30,
        check=False,
    )


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Before a notebook's kernel starts (its first cell), give it a fresh lab home."""
    notebook = str(item.path)
    if notebook.endswith(".ipynb") and notebook not in _homes:
        home = Path(tempfile.mkdtemp(prefix="lk-nb-"))
        _homes[notebook] = home
        for name in (*FIXED_ENV, "LABKIT_HOME"):
            _saved.setdefault(name, os.environ.get(name))
        os.environ.update(FIXED_ENV)
        os.environ["LABKIT_HOME"] = str(home)


def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """After a notebook's last cell, stop its lab engine."""
    notebook = str(item.path)
    if notebook in _homes and (nextitem is None or str(nextitem.path) != notebook):
        _stop_engine(_homes[notebook])
        shutil.rmtree(_homes[notebook], ignore_errors=True)
        for name, value in _saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        _saved.clear()

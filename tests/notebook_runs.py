"""Running a notebook top to bottom in a kernel that talks to a given real engine.

Shared by the lessons' and the solved exercises' real-engine suites, which run
once per real engine (dockerd and Podman, see ``each_real_engine_url``).
"""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

CELL_TIMEOUT = 120  # seconds for one cell: generous, the machine is shared


def use_real_engine(url: str, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment a kernel inherits: this engine only, a private lab home."""
    monkeypatch.setenv("LABKIT_ENGINE", "docker")
    monkeypatch.setenv("DOCKER_HOST", url)
    monkeypatch.setenv("LABKIT_HOME", str(home))
    for var in ("LABKIT_DOCKER_HOST", "LABKIT_CLOCK", "LABKIT_SEED", "DOCKER_CONTEXT"):
        monkeypatch.delenv(var, raising=False)


def execute(notebook: nbformat.NotebookNode, folder: Path) -> None:
    """Run every cell, in ``folder``; raises nbclient's CellExecutionError on the first error."""
    client = NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        resources={"metadata": {"path": str(folder)}},
    )
    client.execute(env=dict(os.environ))

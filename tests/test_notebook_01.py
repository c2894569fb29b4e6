"""Lesson 01 leaves nothing behind: no scratch folder, no socket file, no peer process.

nbval checks the lesson's outputs; it cannot see what a run leaves on the machine.
This test runs the notebook in a kernel whose temporary folder is private to the
test, then looks there and among the processes for anything the lesson forgot.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "01-sockets-and-ipc.ipynb"

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="the lesson is about Unix sockets")


def _processes_with_env(marker: str) -> list[str]:
    """Processes (Linux: from /proc) whose environment contains *marker*."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue  # gone meanwhile, or not ours to read
        if marker.encode() in environ:
            found.append(f"{entry.name}: {cmdline[:80].decode(errors='replace')}")
    return found


@pytest.fixture
def private_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Short: the lesson's socket paths must fit in ~100 bytes.
    path = Path(tmp_path_factory.mktemp("nb01"))
    assert len(str(path)) < 60, f"{path} is too long for the lesson's socket paths"
    return path


def test_the_kernel_is_python3() -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert nb.metadata["kernelspec"]["name"] == "python3"


def test_a_run_leaves_no_file_and_no_process_behind(private_tmp: Path) -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    env = {**os.environ, "TMPDIR": str(private_tmp)}
    client = nbclient.NotebookClient(
        nb,
        timeout=60,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    )
    client.execute(env=env)  # raises CellExecutionError naming the cell if one fails

    errors = [
        out
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.outputs
        if out.output_type == "error" or (out.output_type == "stream" and out.name == "stderr")
    ]
    assert errors == []
    assert sorted(p.name for p in private_tmp.iterdir()) == []
    if Path("/proc/self/environ").exists():
        assert _processes_with_env(f"TMPDIR={private_tmp}") == []

"""The lessons survive what learners do besides running them top to bottom once.

nbval runs each lesson once, top to bottom. Learners also run a cell twice, run a lesson
again in the same kernel, stop or restart the engine halfway through, run a cell before
the cells it needs, and open and save a lesson in JupyterLab. Each of these gets a test:

- every lesson run twice in one kernel ends with no error, and leaves no thread, no open
  socket and no file behind that it did not leave after the first run;
- the lab engine stopped and started again halfway through a lesson: the later cells work;
- each cell run alone in a fresh namespace either works or says what to run first, never a
  bare NameError (the kernel runs labkit's startup file, as under ``labkit lab``);
- a lesson opened and saved through jupyter_server's contents manager is the same file, and
  its metadata is what JupyterLab sets on opening it (so no unsaved-changes dot);
- no learner-facing cell carries an nbval marker comment (nbval reads cell tags).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from labkit.lessons.hints import STARTUP_FILE

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))
NBVAL_TAGS = {"nbval-check-output", "nbval-ignore-output", "nbval-skip", "nbval-raises-exception"}

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="the lessons use Unix sockets")

# Where, in each lesson, the engine is stopped and started again: before the first cell
# whose source holds this text (a point where no connection opened by hand is still in use).
RESTART_BEFORE = {
    "02-raw-bytes-to-the-daemon.ipynb": "## 5. A body in chunks",
    "03-http-over-a-unix-socket.ipynb": "## 7. Which API version?",
    "04-the-engine-api.ipynb": "## 5. A container's life",
    "05-the-cli-is-just-a-client.ipynb": "## 4. The same with the docker SDK",
    "06-exposed-daemon.ipynb": "## 6. An allow-list: the guard",
}

PROBE = """
import json as _json, os as _os, threading as _threading
_fds = []
for _fd in _os.listdir("/proc/self/fd"):
    try:
        _fds.append(_os.readlink(f"/proc/self/fd/{_fd}"))
    except OSError:
        pass
print("PROBE" + _json.dumps({
    "threads": sorted(t.name for t in _threading.enumerate()),
    "sockets": sum(1 for target in _fds if target.startswith("socket:")),
}))
"""


def _env(tmp: Path) -> dict[str, str]:
    env = dict(os.environ)
    for var in ("DOCKER_HOST", "LABKIT_DOCKER_HOST", "DOCKER_CONTEXT"):
        env.pop(var, None)
    env.update(
        LABKIT_ENGINE="lab",
        LABKIT_HOME=str(tmp / "home"),
        LABKIT_CLOCK="2026-01-05T09:00:00Z",
        LABKIT_SEED="42",
        TMPDIR=str(tmp / "tmp"),
        PYTHONSTARTUP=str(STARTUP_FILE),
    )
    (tmp / "tmp").mkdir()
    return env


@pytest.fixture
def short_tmp() -> Path:
    """A short private folder: the lessons' socket paths must fit in about 100 bytes."""
    path = Path(tempfile.mkdtemp(prefix="lkr-", dir="/tmp"))
    yield path
    from labkit.engine import control

    control.stop({**os.environ, "LABKIT_HOME": str(path / "home")})
    shutil.rmtree(path, ignore_errors=True)


def _code(source: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_code_cell(source)


def _run(cells: list[nbformat.NotebookNode], env: dict[str, str], path: Path) -> list:
    nb = nbformat.v4.new_notebook()
    nb.cells = cells
    client = NotebookClient(
        nb,
        timeout=180,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute(env=env)
    return nb.cells


def _errors(cells: list) -> list[str]:
    found = []
    for cell in cells:
        for out in cell.get("outputs", []):
            if out.output_type == "error":
                text = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(out.traceback))
                found.append(f"{cell.source[:80]!r}\n{text[-1500:]}")
    return found


def _probe(cell: nbformat.NotebookNode) -> dict:
    text = "".join(out.get("text", "") for out in cell.outputs)
    return json.loads(text.split("PROBE", 1)[1])


def _lesson_cells(path: Path) -> list[nbformat.NotebookNode]:
    nb = nbformat.read(path, as_version=4)
    return [_code(cell.source) for cell in nb.cells if cell.cell_type == "code"]


# ---------------------------------------------------------------- run twice in one kernel
@pytest.mark.slow
@pytest.mark.lab_engine
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_a_lesson_run_twice_in_one_kernel(path: Path, short_tmp: Path) -> None:
    lesson = _lesson_cells(path)
    first, second = [_code(c.source) for c in lesson], [_code(c.source) for c in lesson]
    cells = [_code(PROBE), *first, _code(PROBE), *second, _code(PROBE)]
    ran = _run(cells, _env(short_tmp), path)
    assert _errors(ran) == []
    before, after_one, after_two = (
        _probe(ran[0]),
        _probe(ran[len(first) + 1]),
        _probe(ran[-1]),
    )
    started = set(after_two["threads"]) - set(before["threads"])
    assert not {name for name in started if not name.startswith(("IPythonHistory", "Thread-"))}
    assert after_two["threads"] == after_one["threads"], "the second run left threads behind"
    # The lab's own client keeps one connection open to the engine, reused by the next call.
    assert after_two["sockets"] <= before["sockets"] + 1, (before, after_two)
    assert after_two["sockets"] == after_one["sockets"]
    assert sorted(p.name for p in (short_tmp / "tmp").iterdir()) == []


# ---------------------------------------------------------------- the engine restarted
@pytest.mark.slow
@pytest.mark.lab_engine
@pytest.mark.parametrize("name", sorted(RESTART_BEFORE))
def test_the_engine_restarted_mid_lesson(name: str, short_tmp: Path) -> None:
    path = ROOT / "notebooks" / name
    nb = nbformat.read(path, as_version=4)
    cells: list[nbformat.NotebookNode] = []
    restarted = False
    for cell in nb.cells:
        if not restarted and RESTART_BEFORE[name] in cell.source:
            cells.append(
                _code(
                    "from labkit.engine import control\n"
                    "control.stop()\n"
                    "control.start()  # as a learner would, in a terminal: labkit engine start"
                )
            )
            restarted = True
        if cell.cell_type == "code":
            cells.append(_code(cell.source))
    assert restarted, f"{name} has no {RESTART_BEFORE[name]!r}"
    assert _errors(_run(cells, _env(short_tmp), path)) == []


@pytest.mark.slow
@pytest.mark.lab_engine
def test_the_lab_engine_stopped_mid_lesson_starts_again(short_tmp: Path) -> None:
    path = ROOT / "notebooks" / "04-the-engine-api.ipynb"
    cells = []
    for cell in nbformat.read(path, as_version=4).cells:
        if "## 7. The event stream" in cell.source:
            cells.append(_code("from labkit.engine import control\ncontrol.stop()"))
        if cell.cell_type == "code":
            cells.append(_code(cell.source))
    ran = _run(cells, _env(short_tmp), path)
    assert _errors(ran) == []
    said = "".join(out.get("text", "") for cell in ran for out in cell.outputs)
    assert "the lab engine had stopped" in said


# ---------------------------------------------------------------- cells out of order
@pytest.mark.slow
@pytest.mark.lab_engine
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_a_cell_run_before_the_cells_it_needs_says_what_to_do(path: Path, short_tmp: Path) -> None:
    cells = []
    for cell in _lesson_cells(path):
        cells.append(_code("%reset -f"))
        cells.append(cell)
    ran = _run(cells, _env(short_tmp), path)
    unkind = [
        error for error in _errors(ran) if "Run All Above" not in error and "RunFirst" not in error
    ]
    assert unkind == [], "\n\n".join(unkind)
    assert any("is not defined yet" in error for error in _errors(ran))


# ---------------------------------------------------------------- opened and saved by JupyterLab
@pytest.fixture(scope="module")
def kernel_language_info() -> dict:
    """What the installed python3 kernel reports, which JupyterLab writes into a notebook."""
    from jupyter_client.manager import start_new_kernel

    manager, client = start_new_kernel(kernel_name="python3")
    try:
        reply = client.kernel_info(reply=True, timeout=60)
        return reply["content"]["language_info"]
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_opening_and_saving_a_lesson_changes_nothing(
    path: Path, tmp_path: Path, kernel_language_info: dict
) -> None:
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_server.services.contents.filemanager import FileContentsManager

    copy = tmp_path / path.name
    shutil.copy(path, copy)
    manager = FileContentsManager(root_dir=str(tmp_path))
    model = manager.get(path.name, content=True, type="notebook")
    metadata = model["content"]["metadata"]
    spec = KernelSpecManager().get_kernel_spec("python3")
    # What JupyterLab's notebook panel sets once the kernel is there; equal values leave
    # the document clean (no unsaved-changes dot).
    assert metadata["kernelspec"] == {
        "name": "python3",
        "display_name": spec.display_name,
        "language": spec.language,
    }
    assert metadata["language_info"] == kernel_language_info
    manager.save({"type": "notebook", "format": "json", "content": model["content"]}, path.name)
    assert copy.read_bytes() == path.read_bytes()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_test_marker_in_what_learners_read(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        assert "NBVAL_" not in cell.source, f"{path.name}: a # NBVAL_ comment: use a cell tag"
        assert set(cell.metadata.get("tags", [])) <= NBVAL_TAGS, cell.metadata
        assert "execution" not in cell.metadata, "nbclient's timings are noise in a lesson"
    assert "widgets" not in nb.metadata, "saved widget state goes stale: each widget says in text"
    checked = sum("nbval-check-output" in c.metadata.get("tags", []) for c in nb.cells)
    assert checked >= 1, f"{path.name}: nbval compares no output at all"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_saved_widget_output_says_what_it_showed(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if "application/vnd.jupyter.widget-view+json" in data:
                text = data.get("text/plain", "")
                assert text and not re.match(r"^[A-Z]\w*\(", text), f"{path.name}: {text[:80]}"

"""An engine that stops in the middle of a lesson: the lab recovers, or says what to do.

A learner runs ``labkit engine stop`` in a terminal, or Docker restarts, halfway through a
lesson. labkit's client then starts the lab engine again by itself; for a real engine it
raises one line (``EngineGone``) instead of a traceback from deep inside labkit. In a
notebook, IPython is asked (``labkit.lessons.hints``) to treat other clients' connection
errors the same way, and to answer a name no cell has defined yet with what to do.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import nbformat
import pytest
from engine_fixtures import short_tempdir
from nbclient import NotebookClient

from labkit.engine import control
from labkit.lab import connect
from labkit.lessons.hints import STARTUP_FILE
from labkit.transport.errors import EngineGone


@pytest.fixture
def lab_env(clean_docker_env: Path):
    home = short_tempdir()
    env = {
        **os.environ,
        "LABKIT_HOME": str(home),
        "LABKIT_ENGINE": "lab",
        "LABKIT_DOCKER_HOST": f"unix://{home}/no-docker-here.sock",
    }
    yield env
    control.stop(env)


def test_the_client_starts_a_stopped_lab_engine_again(lab_env, capsys) -> None:
    lab = connect("lab", env=lab_env)
    assert lab.client.ping() == "OK"  # a kept-alive connection now exists
    control.stop(lab_env)
    assert lab.client.ping() == "OK"
    assert "the lab engine had stopped (its socket is gone); it is running again" in (
        capsys.readouterr().out
    )
    control.stop(lab_env)
    with lab.client.stream("GET", "/events", params={"since": 0, "until": 1}) as events:
        assert list(events) == []  # a stream's own connection recovers too
    control.stop(lab_env)
    lab.wake()  # what a cell that connects by hand calls first
    assert control.status(lab_env).running


def test_a_restarted_lab_engine_is_found_again_without_a_word(lab_env, capsys) -> None:
    lab = connect("lab", env=lab_env)
    assert lab.client.get("/version")["ApiVersion"]
    control.stop(lab_env)
    control.start(lab_env)
    assert lab.client.ping() == "OK"  # the stale kept-alive connection is replaced
    assert "stopped" not in capsys.readouterr().out


def test_a_real_engine_that_stopped_is_one_line_of_what_to_do(lab_env) -> None:
    lab = connect("lab", env=lab_env)
    lab.kind = "docker"  # as if it were dockerd: labkit cannot start that one
    control.stop(lab_env)
    with pytest.raises(EngineGone) as caught:
        lab.client.ping()
    shown = caught.value._render_traceback_()
    assert len(shown) == 1 and "Start it again" in shown[0] and "run this cell again" in shown[0]
    with pytest.raises(EngineGone):
        lab.wake()


def _run(cells: list[str], env: dict[str, str]) -> list[dict]:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    NotebookClient(nb, timeout=60, kernel_name="python3", allow_errors=True).execute(env=env)
    return [out for cell in nb.cells for out in cell.outputs]


def _errors(outputs: list[dict]) -> list[str]:
    """The text of each error shown, without its colours."""
    shown = ["\n".join(out["traceback"]) for out in outputs if out["output_type"] == "error"]
    return [re.sub(r"\x1b\[[0-9;]*m", "", text) for text in shown]


def test_an_undefined_name_in_a_fresh_kernel_says_what_to_do(lab_env) -> None:
    env = {**lab_env, "PYTHONSTARTUP": str(STARTUP_FILE)}
    errors = _errors(_run(["sock.sendall(b'x')"], env))
    assert len(errors) == 1
    assert "'sock' is not defined yet" in errors[0] and "Run All Above" in errors[0]
    assert "Traceback" not in errors[0] and "Cell In[" not in errors[0]


def test_other_errors_keep_their_traceback(lab_env) -> None:
    env = {**lab_env, "PYTHONSTARTUP": str(STARTUP_FILE)}
    errors = _errors(_run(["import labkit\nlab = labkit.connect()", "1 / 0", "open('/nope')"], env))
    assert len(errors) == 2
    assert "ZeroDivisionError" in errors[0] and "Cell In[" in errors[0]
    assert "FileNotFoundError" in errors[1]  # the engine answers: nothing to say about it


def test_another_clients_connection_error_restarts_the_lab_engine(lab_env) -> None:
    cells = [
        "import labkit, socket\nlab = labkit.connect()",
        "from labkit.engine import control\ncontrol.stop()",
        "s = socket.socket(socket.AF_UNIX)\ns.connect(str(lab.socket_path))",
        "s = socket.socket(socket.AF_UNIX)\ns.connect(str(lab.socket_path))\nprint('connected')",
    ]
    outputs = _run(cells, lab_env)
    errors = _errors(outputs)
    assert len(errors) == 1
    assert "labkit started it again: run this cell again" in errors[0]
    assert any("connected" in out.get("text", "") for out in outputs)

"""`labkit lab`, the README's first command: JupyterLab opens on the learner's workspace."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from labkit.lab_command import jupyter_command
from labkit.workspace import FIRST_LESSON

ROOT = Path(__file__).resolve().parents[1]
LESSON_URL = f"--LabApp.default_url=/lab/tree/{FIRST_LESSON}"


def _workspace(tmp_path: Path) -> Path:
    (tmp_path / "lessons").mkdir()
    (tmp_path / FIRST_LESSON).write_text("{}")
    return tmp_path


def test_it_opens_lesson_00_of_the_workspace(tmp_path: Path) -> None:
    folder = _workspace(tmp_path)
    command = jupyter_command(folder, ["--no-browser"], euid=1000)
    assert command[1:3] == ["lab", f"--ServerApp.root_dir={folder}"]
    assert LESSON_URL in command
    assert "--allow-root" not in command


def test_options_with_a_separate_value_pass_through_and_lesson_00_still_opens(
    tmp_path: Path,
) -> None:
    """`labkit lab --port 8899`: the 8899 is the port's value, not a file to open."""
    folder = _workspace(tmp_path)
    command = jupyter_command(folder, ["--port", "8899"], euid=1000)
    assert command[-2:] == ["--port", "8899"]
    assert LESSON_URL in command


def test_a_notebook_named_on_the_command_line_opens_instead(tmp_path: Path) -> None:
    folder = _workspace(tmp_path)
    command = jupyter_command(folder, ["lessons/03-x.ipynb"], euid=1000)
    assert LESSON_URL not in command and command[-1] == "lessons/03-x.ipynb"


def test_as_root_it_allows_root_since_jupyterlab_refuses_otherwise(tmp_path: Path) -> None:
    assert "--allow-root" in jupyter_command(_workspace(tmp_path), [], euid=0)


def test_the_cli_hands_space_separated_options_to_jupyterlab() -> None:
    from labkit.cli import build_parser

    parser = build_parser()
    args, extra = parser.parse_known_args(["lab", "--port", "8899", "--no-browser"])
    assert [*extra, *args.jupyter_args] == ["--port", "8899", "--no-browser"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_jupyterlab_really_serves_the_workspace(tmp_path: Path) -> None:
    port, token = _free_port(), "labkit-test"
    workspace = tmp_path / "desk"
    env = {
        **os.environ,
        "HOME": str(tmp_path),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "rt"),
        "LABKIT_WORKSPACE": str(workspace),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "labkit", "lab", "--no-browser", "--ip=127.0.0.1",
         "--port", str(port), f"--IdentityProvider.token={token}"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    names: list[str] = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not names:
            try:
                url = f"http://127.0.0.1:{port}/api/contents/lessons?token={token}"
                with urllib.request.urlopen(url, timeout=2) as reply:
                    names = [item["name"] for item in json.load(reply)["content"]]
            except OSError:
                assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
                time.sleep(0.5)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", f"/?token={token}")
        location = conn.getresponse().getheader("Location", "")
        conn.close()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    assert "00-start-here.ipynb" in names
    assert location.split("?")[0].endswith(f"/lab/tree/{FIRST_LESSON}"), location
    assert (workspace / "exercises").is_dir()
    assert not list(workspace.rglob("conftest.py"))


def test_kernels_start_with_labkits_hints_and_keep_the_learners_own_startup() -> None:
    from labkit.lab_command import kernel_env
    from labkit.lessons.hints import STARTUP_FILE

    env = kernel_env({"PATH": "/bin"})
    assert env["PYTHONSTARTUP"] == str(STARTUP_FILE) and STARTUP_FILE.is_file()
    assert "LABKIT_USER_PYTHONSTARTUP" not in env
    mine = kernel_env({"PYTHONSTARTUP": "/home/me/.pythonrc"})
    assert mine["LABKIT_USER_PYTHONSTARTUP"] == "/home/me/.pythonrc"
    assert kernel_env(mine) == mine  # applied twice, nothing changes


def test_a_lesson_opens_with_this_pythons_version_so_nothing_to_save(tmp_path: Path) -> None:
    import asyncio
    import platform
    import shutil

    from labkit.lab_command import jupyter_command
    from labkit.lab_contents import SETTING, LessonContentsManager

    name = "00-start-here.ipynb"
    shutil.copy(Path(__file__).resolve().parents[1] / "notebooks" / name, tmp_path / name)
    before = (tmp_path / name).read_bytes()
    manager = LessonContentsManager(root_dir=str(tmp_path))
    model = asyncio.run(manager.get(name, content=True, type="notebook"))
    assert model["content"]["metadata"]["language_info"]["version"] == platform.python_version()
    assert (tmp_path / name).read_bytes() == before  # the file is not touched
    assert SETTING in jupyter_command(tmp_path, [])

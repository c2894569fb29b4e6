"""`labkit lab`, the README's first command: JupyterLab opens on the lessons."""

from __future__ import annotations

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

from labkit.lab_command import FIRST_LESSON, jupyter_command, notebooks_dir

ROOT = Path(__file__).resolve().parents[1]


def test_it_opens_the_clone_s_notebooks_on_the_first_lesson() -> None:
    folder = notebooks_dir()
    assert folder == ROOT / "notebooks"
    command = jupyter_command(folder, ["--no-browser"], euid=1000)
    assert command[1:3] == ["lab", f"--ServerApp.root_dir={folder}"]
    assert command[-1] == str(folder / FIRST_LESSON)
    assert "--allow-root" not in command


def test_as_root_it_allows_root_since_jupyterlab_refuses_otherwise() -> None:
    command = jupyter_command(ROOT / "notebooks", [], euid=0)
    assert "--allow-root" in command


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_jupyterlab_really_serves_the_lessons(tmp_path: Path) -> None:
    port, token = _free_port(), "labkit-test"
    env = {**os.environ, "HOME": str(tmp_path), "JUPYTER_RUNTIME_DIR": str(tmp_path / "rt")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "labkit", "lab", "--no-browser", "--ip=127.0.0.1",
         f"--port={port}", f"--IdentityProvider.token={token}"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    names: list[str] = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not names:
            try:
                url = f"http://127.0.0.1:{port}/api/contents?token={token}"
                with urllib.request.urlopen(url, timeout=2) as reply:
                    names = [item["name"] for item in json.load(reply)["content"]]
            except OSError:
                assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
                time.sleep(0.5)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    assert FIRST_LESSON in names
    assert "01-sockets-and-ipc.ipynb" in names

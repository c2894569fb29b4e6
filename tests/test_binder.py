"""Binder: what repo2docker makes of .binder/, and that it agrees with the lab's requirements.

repo2docker renders the Dockerfile it would build (``--no-build``): no Docker needed, nothing
fetched. That its install steps really work is shown by ``.ci/binder_check.sh``, which CI runs:
a clean venv, ``.binder/requirements.txt``, ``postBuild`` and ``start``, then lesson 00.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BINDER = ROOT / ".binder"


def requirement_lines(path: Path) -> list[str]:
    lines = [line.split("#")[0].strip() for line in path.read_text().splitlines()]
    return [line for line in lines if line]


def test_binder_installs_what_the_lab_itself_needs() -> None:
    """Every runtime line of requirements.txt (above its tests) is in Binder's, and no more."""
    top = (ROOT / "requirements.txt").read_text().split("\n# Tests")[0]
    runtime = [line.split("#")[0].strip() for line in top.splitlines()]
    assert sorted(filter(None, runtime)) == sorted(requirement_lines(BINDER / "requirements.txt"))


def test_binder_scripts_are_executable_and_start_hands_over() -> None:
    for name in ("postBuild", "start"):
        assert os.access(BINDER / name, os.X_OK), f".binder/{name} must be executable"
    start = (BINDER / "start").read_text()
    assert 'exec "$@"' in start and "LABKIT_ENGINE=lab" in start


@pytest.mark.slow
def test_repo2docker_reads_every_binder_file() -> None:
    pytest.importorskip("repo2docker", reason="jupyter-repo2docker is in requirements.txt")
    out = subprocess.run(
        [sys.executable, "-m", "repo2docker", "--no-build", "--no-run", "--debug", str(ROOT)],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
        env={**os.environ, "DOCKER_HOST": "unix:///nonexistent/docker.sock"},
    )  # fmt: skip
    text = out.stdout + out.stderr
    assert out.returncode == 0, text[-3000:]
    assert "Building conda environment for python=3.11" in text  # runtime.txt
    apt = re.search(r"apt-get install --yes --no-install-recommends ([^&]+)&&", text)
    assert apt and set(apt[1].split()) == set(requirement_lines(BINDER / "apt.txt"))
    assert 'pip install --no-cache-dir -r ".binder/requirements.txt"' in text
    assert "RUN ./.binder/postBuild" in text
    assert 'R2D_ENTRYPOINT="${REPO_DIR}/.binder/start"' in text


def test_the_readme_has_a_binder_badge_that_opens_lesson_00() -> None:
    readme = (ROOT / "README.md").read_text()
    badge = re.search(r"\(https://mybinder\.org/v2/gh/([^)\s]+)\)", readme)
    assert badge, "the README has no Binder launch link"
    assert "urlpath=lab/tree/docker-ipc-lab/lessons/00-start-here.ipynb" in badge[1]

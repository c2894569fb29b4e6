"""`docker run --rm hello-world` says the same thing on both engines, in the lab's own words."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from labkit.hello import HELLO_TEXT


def _docker(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_on_the_lab_engine(lab_engine) -> None:
    out = _docker(lab_engine.env, "run", "--rm", "hello-world")
    assert out.returncode == 0, out.stderr
    assert out.stdout == HELLO_TEXT
    assert "Pulling from library/hello-world" in out.stderr  # the CLI pulled on the 404


@pytest.mark.real_engine
def test_on_each_real_engine(each_real_engine_url: str, tmp_path: Path) -> None:
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(tmp_path)}
    env |= {"DOCKER_HOST": each_real_engine_url, "DOCKER_CONFIG": str(tmp_path / "dc")}
    out = _docker(env, "run", "--rm", "hello-world")
    assert out.returncode == 0, out.stderr
    assert out.stdout == HELLO_TEXT

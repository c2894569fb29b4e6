"""Shared fixtures.

The real Docker engine: `.ci/run` starts a private dockerd and exports its URL as
``LABKIT_TEST_DOCKER_HOST``. Tests that need it take the ``real_engine`` fixture.
Without that variable they skip and say why, except under ``CI=true``, where a
missing engine is a failure: CI must prove the lab against a real dockerd.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

REAL_ENGINE_VAR = "LABKIT_TEST_DOCKER_HOST"


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _ping_unix(path: str) -> bool:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(3)
            s.connect(path)
            s.sendall(b"GET /_ping HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n")
            return s.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


@pytest.fixture(scope="session")
def real_engine_url() -> str:
    """The unix:// URL of a real dockerd for tests, or skip (fail in CI) with the reason."""
    url = os.environ.get(REAL_ENGINE_VAR, "")
    reason = ""
    if not url:
        reason = (
            f"{REAL_ENGINE_VAR} is not set; start one with "
            "`.ci/dockerd.sh start /tmp/labkit-dockerd` and export the URL it prints"
        )
    elif not url.startswith("unix://"):
        reason = f"{REAL_ENGINE_VAR}={url!r} must be a unix:// URL"
    elif not _ping_unix(url[len("unix://") :]):
        reason = f"the real engine at {url} does not answer GET /_ping"
    if reason:
        if _in_ci():
            pytest.fail(f"CI needs the real engine: {reason}")
        pytest.skip(f"needs a real Docker engine: {reason}")
    return url


@pytest.fixture(scope="session")
def real_engine_socket(real_engine_url: str) -> Path:
    return Path(real_engine_url[len("unix://") :])


@pytest.fixture
def lab_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private LABKIT_HOME; short, because Unix socket paths are limited to ~100 bytes."""
    home = Path(tmp_path_factory.mktemp("home"))
    monkeypatch.setenv("LABKIT_HOME", str(home))
    return home


@pytest.fixture
def clean_docker_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No DOCKER_HOST, no docker context, an empty HOME: discovery sees only what a test sets."""
    for var in (
        "DOCKER_HOST",
        "LABKIT_DOCKER_HOST",
        "DOCKER_CONTEXT",
        "DOCKER_TLS_VERIFY",
        "DOCKER_CERT_PATH",
        "DOCKER_CONFIG",
        "XDG_RUNTIME_DIR",
    ):
        monkeypatch.delenv(var, raising=False)
    home = tmp_path / "user-home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    return home


# Fixtures that start labkit's own lab engine live in tests/engine_fixtures.py.
pytest_plugins = ["engine_fixtures"]

"""Shared fixtures.

The real engines: `.ci/run` starts a private dockerd and a private Podman API
service and exports their URLs as ``LABKIT_TEST_DOCKER_HOST`` and
``LABKIT_TEST_PODMAN_HOST``. Tests that need dockerd take ``real_engine_url``,
tests that need Podman take ``podman_engine_url``, and tests that must hold on
every real engine take ``each_real_engine_url`` (run once per engine). Without
the variable they skip and say why, except under ``CI=true``, where a missing
engine is a failure: CI must prove the lab against both.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

REAL_ENGINE_VAR = "LABKIT_TEST_DOCKER_HOST"
PODMAN_ENGINE_VAR = "LABKIT_TEST_PODMAN_HOST"

# name -> (the variable holding its URL, how to start one)
REAL_ENGINES: dict[str, tuple[str, str]] = {
    "dockerd": (REAL_ENGINE_VAR, "`.ci/dockerd.sh start /tmp/labkit-dockerd`"),
    "podman": (PODMAN_ENGINE_VAR, "`.ci/podman.sh start /tmp/labkit-podman`"),
}


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


def engine_url_or_skip(name: str) -> str:
    """The unix:// URL of the real engine ``name`` for tests, or skip (fail in CI) with why."""
    var, how = REAL_ENGINES[name]
    url = os.environ.get(var, "")
    reason = ""
    if not url:
        reason = f"{var} is not set; start one with {how} and export the URL it prints"
    elif not url.startswith("unix://"):
        reason = f"{var}={url!r} must be a unix:// URL"
    elif not _ping_unix(url[len("unix://") :]):
        reason = f"the {name} at {url} does not answer GET /_ping"
    if reason:
        if _in_ci():
            pytest.fail(f"CI needs the real engine ({name}): {reason}")
        pytest.skip(f"needs a real engine ({name}): {reason}")
    return url


@pytest.fixture(scope="session")
def real_engine_url() -> str:
    """The unix:// URL of a real dockerd for tests, or skip (fail in CI) with the reason."""
    return engine_url_or_skip("dockerd")


@pytest.fixture(scope="session")
def real_engine_socket(real_engine_url: str) -> Path:
    return Path(real_engine_url[len("unix://") :])


@pytest.fixture(scope="session")
def podman_engine_url() -> str:
    """The unix:// URL of Podman's Docker-compatible API service, or skip (fail in CI)."""
    return engine_url_or_skip("podman")


@pytest.fixture(scope="session")
def podman_engine_socket(podman_engine_url: str) -> Path:
    return Path(podman_engine_url[len("unix://") :])


@pytest.fixture(scope="session", params=sorted(REAL_ENGINES))
def each_real_engine_url(request: pytest.FixtureRequest) -> str:
    """Each real engine in turn (dockerd, then Podman): for what must hold on all of them."""
    return engine_url_or_skip(request.param)


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

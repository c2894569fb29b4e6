"""Pull and prune, with the real docker CLI and the docker SDK, on the lab engine only.

The compatibility suites run every test on both engines. These two cannot: the
test dockerd has no network, so it cannot pull from a registry, and pruning the
shared test dockerd would delete what the other suites rely on. Each test here
gets a fresh lab engine of its own.
"""

from __future__ import annotations

from pathlib import Path

import docker
import pytest
from image_fixtures import pull_busybox, target_from_lab_engine
from test_cli_compat import ok

pytestmark = pytest.mark.lab_engine


@pytest.fixture
def fresh(lab_engine, tmp_path: Path):
    config = tmp_path / "docker-config"
    config.mkdir()
    return target_from_lab_engine(lab_engine, config)


def test_cli_pulls_from_the_catalogue(fresh) -> None:
    out = ok(fresh, "pull", "busybox")
    lines = out.strip().splitlines()
    assert lines[0] == "Using default tag: latest"
    assert lines[-1] == "docker.io/library/busybox:latest"
    assert any(line.startswith("Status: ") and "busybox:latest" in line for line in lines), out
    again = ok(fresh, "pull", "busybox:latest").strip().splitlines()
    assert "Status: Image is up to date for busybox:latest" in again


def test_cli_system_prune_removes_stopped_containers_only(fresh) -> None:
    pull_busybox(fresh.socket)
    done = ok(fresh, "create", "--name", "finished", "busybox", "echo", "x").strip()
    ok(fresh, "run", "-d", "--name", "busy", "busybox", "sleep", "60")
    out = ok(fresh, "system", "prune", "-f")
    assert "Deleted Containers:" in out
    assert done in out.split()
    assert "Total reclaimed space:" in out
    left = ok(fresh, "ps", "-a", "--format", "{{.Names}}").split()
    assert left == ["busy"]
    assert "busybox:latest" in ok(fresh, "images", "--format", "{{.Repository}}:{{.Tag}}").split()
    ok(fresh, "rm", "-f", "busy")


def test_sdk_pulls_with_streamed_progress(lab_engine) -> None:
    sdk = docker.DockerClient(base_url=str(lab_engine.url), version="auto", timeout=60)
    try:
        progress = list(sdk.api.pull("busybox", tag="latest", stream=True, decode=True))
        assert progress and all(isinstance(item, dict) for item in progress)
        assert not [item for item in progress if "error" in item or "errorDetail" in item]
        statuses = [item.get("status", "") for item in progress]
        assert any(
            s.startswith("Status: Downloaded newer image for busybox:latest") for s in statuses
        )
        image = sdk.images.pull("busybox", tag="latest")
        assert "busybox:latest" in image.tags
        assert image.id.startswith("sha256:")
        assert sdk.images.get("busybox").id == image.id
    finally:
        sdk.close()

"""labkit.connect(): which engine a notebook gets, and the messages when it cannot get one."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from engine_fixtures import short_tempdir

from labkit import API_VERSION_MAX
from labkit.engine import control
from labkit.lab import EngineChoiceError, connect, engine_choice
from labkit.transport.discovery import EngineNotFound
from labkit.transport.versions import negotiate


def test_engine_choice_defaults_to_auto() -> None:
    assert engine_choice({}) == "auto"
    assert engine_choice({"LABKIT_ENGINE": " Lab "}) == "lab"
    assert engine_choice({"LABKIT_ENGINE": "lab"}, engine="docker") == "docker"


def test_an_unknown_choice_says_what_the_choices_are() -> None:
    with pytest.raises(EngineChoiceError, match="auto, lab, docker"):
        engine_choice({"LABKIT_ENGINE": "podman-please"})


@pytest.fixture
def lab_env(clean_docker_env: Path) -> dict[str, str]:
    home = short_tempdir()
    env = {
        **os.environ,
        "LABKIT_HOME": str(home),
        "LABKIT_CLOCK": "2026-01-05T09:00:00Z",
        "LABKIT_SEED": "42",
        # Points auto-discovery at a socket that is certainly missing, so that
        # the host's own Docker (if any) never decides what these tests see.
        "LABKIT_DOCKER_HOST": f"unix://{home}/no-docker-here.sock",
    }
    yield env
    control.stop(env)


def test_docker_mode_without_an_engine_explains_every_attempt(lab_env) -> None:
    with pytest.raises(EngineNotFound) as caught:
        connect("docker", env=lab_env)
    text = str(caught.value)
    assert "no-docker-here.sock" in text
    assert "LABKIT_DOCKER_HOST" in text


def test_lab_mode_starts_the_lab_engine_on_demand(lab_env) -> None:
    lab = connect("lab", env=lab_env)
    assert lab.is_lab_engine
    assert lab.engine.product == "labkit lab engine"
    assert lab.socket_path == control.socket_path(lab_env)
    assert lab.client.ping() == "OK"
    assert "the lab engine" in lab.describe()
    # a second connect finds the running engine instead of starting another
    pid = control.status(lab_env).pid
    assert pid is not None
    connect("lab", env=lab_env)
    assert control.status(lab_env).pid == pid


def test_auto_falls_back_to_the_lab_engine_and_keeps_the_reasons(lab_env) -> None:
    lab = connect(env=lab_env)
    assert lab.is_lab_engine
    failed = [a for a in lab.attempts if not a.ok]
    assert failed and failed[0].kind == "missing"


@pytest.mark.real_engine
def test_docker_mode_finds_the_real_engine(each_real_engine_url: str, lab_env) -> None:
    real_engine_url = each_real_engine_url
    env = {**lab_env, "LABKIT_DOCKER_HOST": real_engine_url}
    lab = connect("docker", env=env)
    assert not lab.is_lab_engine
    assert lab.docker_host == real_engine_url
    assert lab.api_version == negotiate(lab.engine.api_version, API_VERSION_MAX)
    # the environment it gives a subprocess makes the real docker CLI talk to that engine
    out = subprocess.run(
        ["docker", "version", "--format", "{{.Server.APIVersion}}"],
        env=lab.env({**env, "DOCKER_CONFIG": str(Path(env["LABKIT_HOME"]) / "dc")}),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == lab.engine.api_version


@pytest.mark.real_engine
def test_podman_is_named_in_every_description(podman_engine_url: str, lab_env) -> None:
    lab = connect(env={**lab_env, "LABKIT_DOCKER_HOST": podman_engine_url})  # auto
    assert (lab.kind, lab.engine.product) == ("docker", "Podman")
    version = lab.engine.version
    assert lab.describe() == (
        f"Podman {version} at {podman_engine_url} "
        f"(API {lab.engine.api_version}; the lab uses {lab.api_version})"
    )
    banner = lab._repr_markdown_()
    assert f"**a real engine: Podman {version}**" in banner
    assert f"socket: `{podman_engine_url}`" in banner
    assert [a.kind for a in lab.attempts] == ["ok"]

"""The benchmarks still run, end to end, in a tiny configuration.

They are not run for their numbers here (a shared CI machine makes timings
meaningless, and nothing asserts on them): this only keeps ``bench/`` from rotting
while the engine changes under it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.lab_engine


def run_bench(script: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *args, "--no-readme"],
        env={**os.environ, **env}, capture_output=True, text=True, timeout=300, cwd=ROOT,
    )  # fmt: skip


def test_the_engine_benchmark_runs_and_reports_every_floor() -> None:
    docker = os.environ.get("LABKIT_TEST_DOCKER_HOST", "")
    env = {"LABKIT_BENCH_DOCKER_HOST": docker} if docker.startswith("unix://") else {}
    out = run_bench(
        "engine.py", "--duration", "0.2", "--repeat", "1", "--containers", "5",
        "--cold-runs", "1", "--run-runs", "1", "--idle-seconds", "0.2", **env,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    for row in ("| GET /_ping | 1 |", "| GET /images/json | 8 |", "| GET /containers/json?all=1 |"):
        assert row in out.stdout
    assert "RSS, after 5 containers" in out.stdout
    for floor in ("cold start", "idle RSS"):
        assert f": {floor} " in out.stdout
    if env:  # with dockerd beside it, the ratios and the docker run floor are there too
        assert "dockerd (floor 1.0x)" in out.stdout
        assert "requests did not get a 200" not in out.stdout
        if shutil.which("docker"):
            assert ": docker run --rm, lab engine " in out.stdout


def test_the_hub_benchmark_starts_engines_together_and_stops_them() -> None:
    out = run_bench("hub.py", "--engines", "3", "--idle-seconds", "0.2")
    assert out.returncode == 0, out.stderr[-3000:]
    assert "| engines started at the same moment | 3 |" in out.stdout
    assert "until the last one had loaded its model" in out.stdout


def test_the_memory_benchmark_runs_every_load() -> None:
    docker = os.environ.get("LABKIT_TEST_DOCKER_HOST", "")
    env = {"LABKIT_BENCH_DOCKER_HOST": docker} if docker.startswith("unix://") else {}
    out = run_bench("memory.py", "--seconds", "0.3", **env)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "| 5 clients follow a chatty container's logs and stop reading | " in out.stdout
    assert "| a gzip bomb, 128 KiB holding 128 MiB, to `docker cp` | " in out.stdout
    assert "Notes:" not in out.stdout or "no dockerd answered" in out.stdout, out.stdout


@pytest.mark.slow
def test_the_real_hub_benchmark_runs_a_small_class() -> None:
    """bench/hub.py --learners: two learners on the real hub (root and /opt/labkit-hub)."""
    sys.path.insert(0, str(ROOT / "tests"))
    import hub_driver

    problem = hub_driver.environment_problem()
    if problem:
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(f"CI must run the hub benchmark: {problem}")
        pytest.skip(f"the hub benchmark {problem}")
    out = run_bench("hub.py", "--learners", "2", "--rounds", "1")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "| lessons ready (of learners) | 2 of 2 |" in out.stdout
    assert "| stopped or failed | none |" in out.stdout

"""The workshop's hub files read as JupyterHub and helm would read them (no hub started here).

tests/test_hub.py runs the configuration for real, as root; these checks run anywhere.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HUB = ROOT / "docs/hub"


def load_config(prefix: Path, progress: Path) -> dict:
    traitlets = pytest.importorskip("traitlets.config")
    config = traitlets.Config()
    env = {"LABKIT_HUB_PREFIX": str(prefix), "LABKIT_HUB_PROGRESS": str(progress)}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        code = compile((HUB / "jupyterhub_config.py").read_text(), "jupyterhub_config.py", "exec")
        exec(code, {"get_config": lambda: config, "__file__": str(HUB / "jupyterhub_config.py")})
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return config


def test_each_learners_server_is_the_start_script_on_the_lab_engine(tmp_path: Path) -> None:
    config = load_config(ROOT.parent / "prefix", tmp_path / "missing")
    cmd = config.Spawner.cmd
    assert cmd[1].endswith("lab/docs/hub/labkit_singleuser.py")
    assert (HUB / "labkit_singleuser.py").is_file()
    env = config.Spawner.environment
    assert env["LABKIT_ENGINE"] == "lab" and env["LABKIT_SOURCE"].endswith("/lab")
    assert "LABKIT_PROGRESS_EXPORT" not in env  # no drop folder, so none passed on
    assert config.Spawner.default_url == "/lab/tree/lessons/00-start-here.ipynb"
    assert config.JupyterHub.spawner_class == "localprocess"
    assert config.PAMAuthenticator.allowed_groups == {"learners", "instructors"}
    [culler] = config.JupyterHub.services
    assert "jupyterhub_idle_culler" in culler["command"]


def test_the_drop_folder_is_passed_on_when_the_admin_made_it(tmp_path: Path) -> None:
    config = load_config(tmp_path, tmp_path)
    assert config.Spawner.environment["LABKIT_PROGRESS_EXPORT"] == str(tmp_path)


def test_the_zero_to_jupyterhub_values_parse_and_keep_the_measured_guarantee() -> None:
    yaml = pytest.importorskip("yaml")
    values = yaml.safe_load((HUB / "z2jh/values.yaml").read_text())
    single = values["singleuser"]
    assert single["memory"]["guarantee"] == "256M"
    assert single["extraEnv"]["LABKIT_ENGINE"] == "lab"
    assert single["cmd"][-1] == "/opt/labkit-lab/docs/hub/labkit_singleuser.py"
    assert values["cull"]["enabled"] is True
    dockerfile = (HUB / "z2jh/Dockerfile").read_text()
    assert "LABKIT_SOURCE=/opt/labkit-lab" in dockerfile

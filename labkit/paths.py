"""Where the lab keeps its files: the lab's home folder.

Everything private to one learner (the lab engine's socket, its state, progress
records) lives under one folder so that a workshop's JupyterHub can give each
learner their own by setting ``LABKIT_HOME``.
"""

from __future__ import annotations

import os
from pathlib import Path

# Unix socket paths are limited to 107 bytes on Linux (104 on macOS).
MAX_SOCKET_PATH = 100


def lab_home(env: dict[str, str] | None = None) -> Path:
    """The lab's home folder, created with mode 0700 if missing."""
    env = os.environ if env is None else env
    if env.get("LABKIT_HOME"):
        home = Path(env["LABKIT_HOME"]).expanduser()
    else:
        data = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
        home = Path(data) / "labkit"
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    return home


def engine_dir(env: dict[str, str] | None = None) -> Path:
    """The lab engine's folder: its socket, pidfile, log and state database."""
    path = lab_home(env) / "engine"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path

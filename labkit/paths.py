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


def lab_home_path(env: dict[str, str] | None = None) -> Path:
    """Where the lab's home folder is (``LABKIT_HOME``), without making it."""
    env = os.environ if env is None else env
    if env.get("LABKIT_HOME"):
        return Path(env["LABKIT_HOME"]).expanduser()
    data = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data) / "labkit"


def make_private_dirs(path: Path) -> Path:
    """``path`` and its missing parents, each made mode 0700 exactly, whatever the umask
    (a parent made 0777 under ``umask 0`` would let others replace what is below it)."""
    missing = []
    current = Path(os.path.abspath(path))
    while not current.exists() and current != current.parent:
        missing.append(current)
        current = current.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=0o700)
        except FileExistsError:
            continue
        os.chmod(folder, 0o700)
    return path


def lab_home(env: dict[str, str] | None = None) -> Path:
    """The lab's home folder, created with mode 0700 if missing."""
    return make_private_dirs(lab_home_path(env))


def engine_dir(env: dict[str, str] | None = None) -> Path:
    """The lab engine's folder: its socket, pidfile, log and state database."""
    return make_private_dirs(lab_home(env) / "engine")


def certs_dir(env: dict[str, str] | None = None) -> Path:
    """Where ``labkit certs`` keeps the CA and certificates for TLS (not made here)."""
    return lab_home_path(env) / "certs"

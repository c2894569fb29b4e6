"""A learner's server on the workshop hub: lessons in, JupyterLab up, and the lab engine down after.

JupyterHub runs this as the learner (``c.Spawner.cmd`` in jupyterhub_config.py), with the
arguments for ``jupyterhub-singleuser``. It

1. brings the lab's lessons and exercises into the learner's workspace (``labkit workspace
   sync``: new files added, untouched ones refreshed, the learner's changes never overwritten);
2. runs ``jupyterhub-singleuser`` (a little nicer than the hub: see NICENESS; with a short
   private runtime folder: see short_runtime_dir), passing on the signals the hub uses to stop
   it;
3. when that server ends (stopped by the learner, an admin or the idle culler), stops the
   learner's lab engine, which runs in a session of its own and would otherwise outlive it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

BIN = Path(sys.executable).parent


# Learners' servers, kernels and engines run a little nicer than the hub and its proxy: when a
# whole class starts at once the CPUs are full for minutes, and the hub's own requests (adding
# each server to the proxy, answering logins) must not wait behind a hundred JupyterLabs.
NICENESS = 5


def short_runtime_dir() -> Path:
    """A private folder with a short path for Jupyter's runtime files.

    Kernels talk to their server over Unix sockets in it (jupyterhub_config.py), and a socket's
    path must fit in 107 bytes: under a home such as /home/firstname.lastname the usual
    ~/.local/share/jupyter/runtime leaves too little, and the kernel dies of "File name too
    long". mkdtemp's folder is new, 0700 and unguessably named: nobody else can make it first."""
    return Path(tempfile.mkdtemp(prefix="jupyter-"))


def main(argv: list[str]) -> int:
    with contextlib.suppress(OSError):
        os.nice(NICENESS)
    workspace = Path(os.environ.get("LABKIT_WORKSPACE") or "~/docker-ipc-lab").expanduser()
    synced = subprocess.run([str(BIN / "labkit"), "workspace", "sync"], check=False)
    if synced.returncode != 0:  # the learner still gets a server, and the log says why
        print("labkit-singleuser: the workspace could not be brought up to date", file=sys.stderr)
    workspace.mkdir(parents=True, exist_ok=True, mode=0o700)
    runtime = short_runtime_dir()
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(runtime)}
    server = subprocess.Popen([str(BIN / "jupyterhub-singleuser"), *argv], env=env)

    def forward(signum: int, _frame: object) -> None:
        server.send_signal(signum)

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, forward)
    code = server.wait()
    shutil.rmtree(runtime, ignore_errors=True)
    try:
        subprocess.run([str(BIN / "labkit"), "engine", "stop"], check=False, timeout=30)
    except subprocess.TimeoutExpired:
        print("labkit-singleuser: the lab engine did not stop within 30 s", file=sys.stderr)
    return code if code >= 0 else 128 - code  # killed by a signal: the shell's convention


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

"""``labkit lab``: open JupyterLab on the learner's workspace, at lesson 00.

It makes (or updates) the workspace first (see :mod:`labkit.workspace`), so the
learner works on copies and the clone stays clean. Lesson 00 opens through
JupyterLab's ``default_url`` rather than a file argument, so JupyterLab's own
options, ``--port 8899`` included, pass through untouched.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from labkit.workspace import FIRST_LESSON, Workspace, WorkspaceError, workspace_dir

_OWN_URL_OPTIONS = ("--LabApp.default_url", "--ServerApp.default_url", "--NotebookApp.default_url")


def jupyter_command(folder: Path, extra: list[str], euid: int | None = None) -> list[str]:
    jupyter = shutil.which("jupyter", path=str(Path(sys.executable).parent)) or "jupyter"
    command = [jupyter, "lab", f"--ServerApp.root_dir={folder}"]
    if not any("contents_manager_class" in arg for arg in extra):
        from labkit.lab_contents import SETTING

        command.append(SETTING)  # a lesson opens with nothing to save (lab_contents.py)
    opens_a_file = any(not a.startswith("-") and a.endswith(".ipynb") for a in extra)
    if (folder / FIRST_LESSON).exists() and not opens_a_file and not _sets_url(extra):
        command.append(f"--LabApp.default_url=/lab/tree/{FIRST_LESSON}")
    command += extra
    if (os.geteuid() if euid is None else euid) == 0 and "--allow-root" not in extra:
        # JupyterLab refuses root without it; as root in a container this is the usual case.
        command.append("--allow-root")
    return command


def _sets_url(extra: list[str]) -> bool:
    return any(a.split("=")[0] in _OWN_URL_OPTIONS for a in extra)


def kernel_env(env: dict[str, str]) -> dict[str, str]:
    """The environment for JupyterLab and so for its kernels: each kernel runs labkit's
    startup file first, which makes a cell run before the cells it needs say what to do
    instead of raising a bare NameError (``labkit.lessons.hints``). A PYTHONSTARTUP of the
    learner's own still runs, after it."""
    from labkit.lessons.hints import STARTUP_FILE

    env = dict(env)
    own = env.get("PYTHONSTARTUP")
    if own and own != str(STARTUP_FILE):
        env["LABKIT_USER_PYTHONSTARTUP"] = own
    env["PYTHONSTARTUP"] = str(STARTUP_FILE)
    return env


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "jupyter_args",
        nargs=argparse.REMAINDER,
        help="passed to jupyter lab, e.g. --no-browser --port 8899",
    )


def prepare(path: Path | None = None) -> Workspace:
    """Create or update the workspace, and say what changed."""
    workspace = Workspace(path or workspace_dir())
    first = not workspace.exists
    report = workspace.sync()
    if first:
        print(
            f"labkit lab: your workspace is {workspace.path} (lessons/ and exercises/, yours to "
            "change; the lab's own copies stay untouched)"
        )
    else:
        for line in report.lines():
            print(f"labkit lab: {line}")
    return workspace


def run(args: argparse.Namespace) -> int:
    try:
        workspace = prepare()
    except WorkspaceError as exc:
        print(f"labkit lab: {exc}", file=sys.stderr)
        return 1
    choice = os.environ.get("LABKIT_ENGINE") or "auto"
    print(
        f"labkit lab: opening {workspace.path} (LABKIT_ENGINE={choice}; each notebook says "
        "which engine)"
    )
    command = jupyter_command(workspace.path, list(args.jupyter_args))
    os.execvpe(command[0], command, kernel_env(dict(os.environ)))  # JupyterLab takes over
    return 0

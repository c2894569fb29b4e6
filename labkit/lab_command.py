"""``labkit lab``: open JupyterLab on the lessons.

A thin wrapper over ``jupyter lab`` that starts in the right folder, on the
first lesson, and says which engine the notebooks will find, so the README's
quick start is one line. Extra arguments go to JupyterLab unchanged.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

FIRST_LESSON = "00-start-here.ipynb"


def notebooks_dir() -> Path | None:
    """The lessons folder of the clone labkit was installed from, if there is one."""
    candidate = Path(__file__).resolve().parents[1] / "notebooks"
    return candidate if candidate.is_dir() else None


def jupyter_command(folder: Path, extra: list[str], euid: int | None = None) -> list[str]:
    jupyter = shutil.which("jupyter", path=str(Path(sys.executable).parent)) or "jupyter"
    command = [jupyter, "lab", f"--ServerApp.root_dir={folder}", *extra]
    if (os.geteuid() if euid is None else euid) == 0 and "--allow-root" not in extra:
        # JupyterLab refuses root without it; as root in a container this is the usual case.
        command.append("--allow-root")
    if (folder / FIRST_LESSON).exists() and not any(not a.startswith("-") for a in extra):
        command.append(str(folder / FIRST_LESSON))
    return command


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "jupyter_args",
        nargs=argparse.REMAINDER,
        help="passed to jupyter lab, e.g. --no-browser --port 8899",
    )


def run(args: argparse.Namespace) -> int:
    folder = notebooks_dir()
    if folder is None:
        print(
            "labkit lab: no notebooks/ folder next to this labkit; it opens the lessons of a "
            "clone installed with `pip install -e .`. Run `jupyter lab` in the clone's "
            "notebooks/ instead.",
            file=sys.stderr,
        )
        return 1
    choice = os.environ.get("LABKIT_ENGINE") or "auto"
    print(f"labkit lab: opening {folder} (LABKIT_ENGINE={choice}; each notebook says which engine)")
    command = jupyter_command(folder, list(args.jupyter_args))
    os.execvp(command[0], command)  # JupyterLab takes over this process
    return 0

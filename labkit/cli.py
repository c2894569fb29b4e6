"""The ``labkit`` command: one entry point, each subcommand in its own module.

Subcommand modules are imported only when used, so ``labkit engine start`` stays
fast and ``labkit doctor`` works even when an optional package is missing.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

# subcommand -> (module, help). Each module has ``add_arguments(parser)`` and
# ``run(args) -> int``.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "lab": ("labkit.lab_command", "open JupyterLab on your workspace, at lesson 00"),
    "check": ("labkit.check_command", "your exercises' scoreboard: passed, not yet, not tried"),
    "class-report": (
        "labkit.class_report_command",
        "for instructors: every learner's progress on a workshop hub, per lesson and task",
    ),
    "reset": (
        "labkit.reset_command",
        "a fresh copy of a lesson or exercise notebook (yours is backed up first)",
    ),
    "workspace": ("labkit.workspace_command", "where your copies of the lessons are; sync them"),
    "doctor": ("labkit.doctor", "check this machine: Python, packages, the engine, the docker CLI"),
    "engine": ("labkit.engine.control", "start, stop or inspect the lab engine"),
    "sniff": ("labkit.sniff_command", "record a client's traffic to the engine (like socat -v)"),
    "certs": (
        "labkit.certs_command",
        "make a CA, a server and a client certificate for the engine's TLS (lesson 06)",
    ),
    "guard": (
        "labkit.guard_command",
        "an allow-list proxy in front of the engine: only the calls you name get through",
    ),
    "provision": (
        "labkit.provision_command",
        "put the lab's images (hello-world, busybox, alpine) on the engine",
    ),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="labkit",
        description="Docker IPC Lab: Docker is a client and a server talking HTTP over a socket.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        sp = sub.add_parser(name, help=help_text, description=help_text)
        sp.set_defaults(_module=module_name)
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:  # a half-installed lab still gets a helpful message
            sp.set_defaults(_import_error=exc)
            continue
        module.add_arguments(sp)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and getattr(args, "command", None) == "lab":  # JupyterLab's own options pass through
        args.jupyter_args = [*extra, *args.jupyter_args]
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if not getattr(args, "_module", None):
        parser.print_help()
        return 2
    if getattr(args, "_import_error", None):
        print(
            f"labkit {args.command}: cannot load {args._module} ({args._import_error}).\n"
            "Reinstall the lab: python -m pip install -e .",
            file=sys.stderr,
        )
        return 1
    module = importlib.import_module(args._module)
    try:
        return int(module.run(args) or 0)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `labkit engine env | head -1`: the reader had enough
        _quiet_stdout()
        return 0


def _quiet_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)

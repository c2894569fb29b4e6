"""``labkit reset 04``: a fresh copy of a lesson or exercise notebook, the old one backed up."""

from __future__ import annotations

import argparse
import sys

from labkit.workspace import Workspace, WorkspaceError, workspace_dir


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "target",
        help="a lesson number (04), or exercises/04 for an exercise notebook, or a file name",
    )


def run(args: argparse.Namespace) -> int:
    try:
        workspace = Workspace(workspace_dir())
        rel, backup = workspace.reset(args.target)
    except WorkspaceError as exc:
        print(f"labkit reset: {exc}", file=sys.stderr)
        return 1
    if backup is None:
        print(f"labkit reset: {workspace.path / rel} was missing; a fresh copy is in place.")
    else:
        print(f"labkit reset: your copy of {rel} is saved as {backup}; a fresh {rel} is in place.")
    return 0

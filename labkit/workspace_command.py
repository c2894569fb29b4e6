"""``labkit workspace``: where the learner's copies of the lessons are, and bringing updates in."""

from __future__ import annotations

import argparse
import sys

from labkit.workspace import Workspace, WorkspaceError, workspace_dir


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "action",
        nargs="?",
        choices=("path", "sync"),
        default="path",
        help="path: print where the workspace is; sync: create it or bring the lab's updates in",
    )


def run(args: argparse.Namespace) -> int:
    try:
        workspace = Workspace(workspace_dir())
        if args.action == "path":
            print(workspace.path)
            return 0
        report = workspace.sync()
    except WorkspaceError as exc:
        print(f"labkit workspace: {exc}", file=sys.stderr)
        return 1
    for line in report.lines() or ["up to date"]:
        print(f"labkit workspace: {line}")
    return 0

"""``labkit class-report``: every learner's progress, for the instructor of a workshop hub.

It reads the drop folder each learner's lab copies its progress into (see
:mod:`labkit.exercises.progress`), trusting a file only if its owner is the learner it is
named after, and prints one table per lesson (a row per learner, a column per task), or
the same as CSV or JSON. Learners it could not read are listed with the reason.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from labkit.exercises import class_report
from labkit.exercises.progress import EXPORT_VAR
from labkit.exercises.tasks import UnknownTask, get_lesson

DEFAULT_FOLDER = "/srv/labkit/progress"  # the one docs/hub/jupyterhub_config.py passes on


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--from",
        dest="folder",
        help=f"the drop folder (default: ${EXPORT_VAR}, else {DEFAULT_FOLDER})",
    )
    parser.add_argument(
        "--learners",
        help="the learners you expect, as a,b,c or @FILE (one a line): those without a file "
        "are listed too",
    )
    parser.add_argument("--lesson", help="only this lesson's tasks, e.g. 02")
    parser.add_argument(
        "--trust-names",
        action="store_true",
        help="the files were collected by an admin (e.g. from Kubernetes pods, which all run as "
        "one uid): skip the check that each file's owner is the learner it is named after",
    )
    form = parser.add_mutually_exclusive_group()
    form.add_argument("--csv", action="store_true", help="one row per learner and task")
    form.add_argument("--json", action="store_true", help="the same as JSON, for scripts")


def _expected(spec: str | None) -> list[str] | None:
    if not spec:
        return None
    if spec.startswith("@"):
        text = Path(spec[1:]).expanduser().read_text(encoding="utf-8")
        names = [line.split("#")[0].strip() for line in text.splitlines()]
    else:
        names = [part.strip() for part in spec.split(",")]
    return [n for n in names if n]


def run(args: argparse.Namespace) -> int:
    folder = Path(args.folder or os.environ.get(EXPORT_VAR) or DEFAULT_FOLDER).expanduser()
    lesson = None
    try:
        if args.lesson:
            lesson = get_lesson(args.lesson).number
        expected = _expected(args.learners)
        report = class_report.read_folder(folder, expected, args.trust_names)
    except UnknownTask as exc:
        print(f"labkit class-report: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # the folder, or the --learners file
        text = str(exc) if isinstance(exc, class_report.FolderError) else _said(exc)
        print(f"labkit class-report: {text}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(class_report.as_json(report, lesson), indent=1))
        return 0
    if args.csv:
        sys.stdout.write(class_report.as_csv(report, lesson))
        for u in report.unreadable:  # stdout stays a clean CSV
            print(f"labkit class-report: could not read {u.name}: {u.reason}", file=sys.stderr)
        return 0
    print(class_report.as_text(report, lesson))
    return 0


def _said(exc: OSError) -> str:
    where = f" {exc.filename}" if exc.filename else ""
    return f"cannot read{where}: {exc.strerror or exc}"

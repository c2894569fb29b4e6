"""``labkit check``: the scoreboard of every exercise, for a learner or a script."""

from __future__ import annotations

import argparse
import json
import sys

from labkit.exercises import progress, scoreboard
from labkit.exercises.tasks import UnknownTask, get_lesson


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("lesson", nargs="?", help="only this lesson's tasks, e.g. 02")
    parser.add_argument("--json", action="store_true", help="the same as JSON, for scripts")


def run(args: argparse.Namespace) -> int:
    lesson = None
    if args.lesson:
        try:
            lesson = get_lesson(args.lesson).number
        except UnknownTask as exc:
            print(f"labkit check: {exc}", file=sys.stderr)
            return 2
    try:
        record = progress.load()
    except OSError as exc:
        print(f"labkit check: cannot read your progress: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(scoreboard.as_json(record, lesson), indent=1))
    else:
        print(scoreboard.as_text(record, lesson))
    return 0

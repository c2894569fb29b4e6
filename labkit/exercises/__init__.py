"""Exercises that learners check alone.

In an exercise notebook::

    from labkit.exercises import check, hint
    ...                      # the answer cell defines raw_ping
    check("02.1")            # one line: passed, or not yet and why
    hint("02.1")             # hints one at a time, each saying more

``labkit check`` prints the scoreboard. Each lesson's tasks and checks are in
``labkit.exercises.lessonNN``; the machinery is in the other modules here.
"""

from __future__ import annotations

from labkit.exercises.runner import check, hint, run_check, show_progress
from labkit.exercises.verdict import Verdict

__all__ = ["Verdict", "check", "hint", "run_check", "show_progress"]

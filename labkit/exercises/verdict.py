"""What a check says: one line, a pass or "not yet" with what was wrong.

A :class:`Verdict` is what every check returns and every check cell shows. It reads
as one line of text anywhere (a terminal, a saved notebook, nbval's comparison)
and as Markdown in JupyterLab. It also carries a small JSON part
(``application/vnd.labkit.verdict+json``) so that tests and scripts can read the
task, the outcome and the mistake without parsing prose.
"""

from __future__ import annotations

import html
from dataclasses import asdict, dataclass
from typing import Any, Literal

Outcome = Literal["passed", "not-yet", "unchecked"]
VERDICT_MIME = "application/vnd.labkit.verdict+json"

_MARKS = {"passed": "✔", "not-yet": "✘", "unchecked": "…"}
_WORDS = {"passed": "passed", "not-yet": "not yet", "unchecked": "could not check"}


@dataclass(frozen=True)
class Verdict:
    """The outcome of one check.

    ``outcome`` is ``passed``, ``not-yet`` (the answer is not right yet) or
    ``unchecked`` (the check could not run, through no fault of the answer, for
    example because no engine answers). ``mistake`` names a known mistake when the
    check recognised one, so that its hint can be specific.
    """

    task: str
    outcome: Outcome
    message: str
    mistake: str | None = None
    more: str = ""  # a pointer for a second hint, shown after the message

    @property
    def passed(self) -> bool:
        return self.outcome == "passed"

    def line(self) -> str:
        text = f"{_MARKS[self.outcome]} {self.task} {_WORDS[self.outcome]}: {self.message}"
        return f"{text} {self.more}".rstrip()

    def __str__(self) -> str:
        return self.line()

    def __repr__(self) -> str:
        return self.line()

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def _repr_markdown_(self) -> str:
        colour = {"passed": "#1a7f37", "not-yet": "#b35900", "unchecked": "#6e7781"}[self.outcome]
        head = f"{_MARKS[self.outcome]} {self.task} {_WORDS[self.outcome]}"
        more = f" <small>{html.escape(self.more)}</small>" if self.more else ""
        return (
            f'<span style="color:{colour}"><b>{html.escape(head)}</b></span>: '
            f"{html.escape(self.message)}{more}"
        )

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return {
            "text/plain": self.line(),
            "text/markdown": self._repr_markdown_(),
            VERDICT_MIME: self.as_dict(),
        }


class NotYet(Exception):
    """Raised inside a check to end it with "not yet"; the runner turns it into a Verdict."""

    def __init__(self, message: str, mistake: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.mistake = mistake


class Unchecked(Exception):
    """Raised inside a check when it cannot run at all (no engine, say): not the answer's fault."""

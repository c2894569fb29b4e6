"""Cells that show something as it happens, and threads a cell starts, for lessons 04 and 05.

- :class:`LiveText`: an output that a cell (or a thread it started) rewrites in place, through
  IPython's display ids; what stays in the saved notebook is its last text, which is what a
  reader of the notebook sees before running it.
- :class:`WithText`: a widget shown with a ``text/plain`` of our choosing. JupyterLab draws the
  widget while the kernel runs; a saved notebook opened later shows the text instead, so the text
  must say what the widget showed ("alpine: pulled"), not ``HBox(children=(IntProgress(…``.
- :func:`in_background`: run a function in a thread under a name; starting one under the same
  name first stops the one an earlier run of the cell started, so that a cell run twice never
  leaves two threads behind. :func:`stop_background` stops them all (a lesson's clean-up).
- :func:`only_one`: the same for anything a cell starts that has a way to stop (a recorder, a
  server): keeping a new one under a name stops the one kept before.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")


class LiveText:
    """Text in a cell's output that can be replaced while the cell, or a thread, runs."""

    def __init__(self, text: str = "") -> None:
        self.text = text
        self._rich: object = None
        self._handle: Any = None

    def show(self) -> LiveText:
        """Display it below the cell (in a notebook; a no-op elsewhere)."""
        try:
            from IPython.display import display
        except ImportError:  # pragma: no cover - IPython comes with the lab
            return self
        self._handle = display(self, display_id=True)
        return self

    def update(self, text: object) -> None:
        """Replace what it shows: a string, or anything that renders (a Table)."""
        self.text = str(text)
        self._rich = text if not isinstance(text, str) else None
        if self._handle is not None:
            self._handle.update(self)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        bundle = {"text/plain": self.text}
        html = getattr(self._rich, "_repr_html_", None)
        if html is not None:
            bundle["text/html"] = html()
        return bundle

    def __repr__(self) -> str:
        return self.text


class WithText:
    """A widget, with a text/plain that says what it shows (see the module docstring)."""

    def __init__(self, widget: Any, text: str) -> None:
        self.widget = widget
        self.text = text
        self._handle: Any = None

    def show(self) -> WithText:
        from IPython.display import display

        self._handle = display(self, display_id=True)
        return self

    def update(self, text: str) -> None:
        """Say what the widget shows now; the saved notebook keeps the last text."""
        self.text = text
        if self._handle is not None:
            self._handle.update(self)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        bundle = dict(self.widget._repr_mimebundle_() or {})
        bundle["text/plain"] = self.text
        return bundle

    def __repr__(self) -> str:
        return self.text


@dataclass
class Background:
    """A thread a cell started, and how to stop it."""

    name: str
    thread: threading.Thread
    stop_it: Callable[[], object] | None = None
    error: BaseException | None = field(default=None, repr=False)

    def running(self) -> bool:
        return self.thread.is_alive()

    def stop(self, timeout: float = 5.0) -> bool:
        """Ask it to stop (its stop function), wait for it; True if it has ended."""
        if self.thread.is_alive() and self.stop_it is not None:
            self.stop_it()
        self.thread.join(timeout)
        if _running.get(self.name) is self and not self.thread.is_alive():
            del _running[self.name]
        return not self.thread.is_alive()


_running: dict[str, Background] = {}


def in_background(
    name: str,
    target: Callable[..., object],
    *args: object,
    stop: Callable[[], object] | None = None,
) -> Background:
    """Run ``target(*args)`` in a daemon thread named ``name``; ``stop`` makes it return.

    One started earlier under the same name is stopped first. An exception in the thread
    is kept in ``.error`` rather than printed into whichever cell runs at the time.
    """
    old = _running.pop(name, None)
    if old is not None:
        old.stop()
    job = Background(name, threading.Thread(name=name, daemon=True), stop)

    def run() -> None:
        try:
            target(*args)
        except BaseException as exc:  # kept for the cell that asks, not printed anywhere
            job.error = exc

    job.thread = threading.Thread(target=run, name=name, daemon=True)
    _running[name] = job
    job.thread.start()
    return job


def stop_background(timeout: float = 5.0) -> list[str]:
    """Stop every thread :func:`in_background` started that still runs; their names."""
    stopped = []
    for job in list(_running.values()):
        if job.running():
            stopped.append(job.name)
        job.stop(timeout)
    return stopped


_kept: dict[str, tuple[object, Callable[[], object]]] = {}


def only_one(name: str, thing: T, stop: Callable[[], object] | None = None) -> T:
    """Keep ``thing`` under ``name``, first stopping what an earlier run kept there.

    ``stop`` stops it (default: its ``stop()`` method), so that a cell that starts a server
    or a recorder can be run again without leaving the first one running.
    """
    old = _kept.pop(name, None)
    if old is not None and old[0] is not thing:
        old[1]()
    _kept[name] = (thing, stop if stop is not None else thing.stop)  # type: ignore[attr-defined]
    return thing

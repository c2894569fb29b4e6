"""What the live feeds share: a stream followed in a thread, a status line, Stop and Start.

A subclass says what to follow (:meth:`Feed._follow`, run in a
:class:`~labkit.lessons.workers.Worker`) and how to draw what it has so far
(:meth:`Feed._render`, called a few times a second at most, and once at the end).
"""

from __future__ import annotations

import html
import threading

import ipywidgets as widgets

from labkit.client.http import APIError, Client
from labkit.lab import Lab
from labkit.lessons import workers
from labkit.lessons.widget_base import TextFallback, button, client_for, note

_ERROR_STYLE = "color:#c62828"


class Feed(TextFallback, widgets.VBox):
    """A stream followed in the background, shown as it grows; Stop hangs up."""

    title = "feed"

    def __init__(self, lab: Lab | Client | str | None = None, start: bool = True) -> None:
        self.client = client_for(lab)
        self.worker: workers.Worker | None = None
        self._active: workers.Worker | None = None  # the worker still following, if any
        self.connected = threading.Event()  # set once the engine has answered the request
        self.ended = ""  # why the last run ended, in words
        self.failed = False  # it ended because of an error
        self._throttle = workers.Throttle(self._safe_render, 0.2)
        self.heading = widgets.HTML(f"<b>{html.escape(self.title)}</b>")
        self.status = widgets.HTML()
        self.status.add_class("labkit-feed-status")
        self.stop_button = button("Stop", "stop", css="labkit-stop")
        self.stop_button.on_click(lambda _: self.stop())
        self.start_button = button("Follow again", "play")
        self.start_button.on_click(lambda _: self.start())
        self.clear_button = button("Clear", "eraser")
        self.clear_button.on_click(lambda _: self.clear())
        self.view = widgets.HTML()
        self.view.add_class("labkit-feed")
        super().__init__(
            [
                widgets.HBox([self.heading]),
                widgets.HBox([self.stop_button, self.start_button, self.clear_button]),
                self.status,
                self.view,
            ],
            layout=widgets.Layout(width="100%"),
        )
        workers.adopt(self)
        self._buttons()
        self.ready()
        if start:
            self.start()
        else:
            self._safe_render()

    # -- for subclasses -------------------------------------------------------------------

    def _follow(self, worker: workers.Worker) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def _render(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def describe(self) -> str:
        """What is followed, for the status line."""
        return self.title

    def count(self) -> str:
        """How much has arrived, in words."""
        return ""

    def clear(self) -> None:
        """Forget what has arrived (following goes on)."""
        self._safe_render()

    # -- running --------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Following now (False from the moment the stream ends, before the thread does)."""
        return self._active is not None

    def start(self) -> None:
        """Follow the stream (again), in the background."""
        self.stop()
        self.ended = ""
        self.failed = False
        self.connected.clear()
        self.worker = workers.Worker(self.title, self._run)
        self._active = self.worker
        self.worker.start()
        self._buttons()
        self._safe_render()

    def _run(self, worker: workers.Worker) -> None:
        try:
            self._follow(worker)
            if not worker.stopping and not self.ended:
                self.ended = "the engine ended the stream"
        except APIError as exc:
            self.ended = f"the engine refused: {exc.status} {exc.message}"
            self.failed = True
        except Exception as exc:
            if not worker.stopping:
                self.ended = f"the stream broke: {exc}"
                self.failed = True
        finally:
            if worker.stopping and not self.ended:
                self.ended = "stopped: you hung up"
            if self._active is worker:
                self._active = None
            self._buttons(running=False)
            self._throttle.flush()

    def stop(self) -> None:
        """Hang up and wait for the thread to end; nothing is left running."""
        worker, self.worker = self.worker, None
        self._active = None
        if worker is not None:
            worker.stop()
        self.client.close()  # the kept-alive one too; following again reconnects
        self._buttons()

    def wait(self, timeout: float | None = 10.0) -> bool:
        """Wait for the stream to end by itself (True if it has)."""
        return self.worker.wait(timeout) if self.worker is not None else True

    def _buttons(self, running: bool | None = None) -> None:
        running = self.running if running is None else running
        self.stop_button.disabled = not running
        self.start_button.disabled = running

    def _safe_render(self) -> None:
        try:
            self._render()
        except Exception as exc:  # a drawing bug must not kill the feed's thread
            self.view.value = f'<span style="{_ERROR_STYLE}">{html.escape(str(exc))}</span>'
        self.status.value = self._status_html()

    def _status_html(self) -> str:
        count = self.count()
        if self.running:
            text = f"following {self.describe()}" + (f" · {count}" if count else "")
            return f"{html.escape(text)} · {note('Stop hangs up')}"
        if self.ended:
            style = _ERROR_STYLE if self.failed else ""
            text = self.ended + (f" · {count}" if count else "")
            return f'<span style="{style}">{html.escape(text)}</span>'
        return html.escape(f"not following {self.describe()}" + (f" · {count}" if count else ""))

    def shutdown(self) -> None:
        self.stop()
        self._throttle.close()
        self.client.close()

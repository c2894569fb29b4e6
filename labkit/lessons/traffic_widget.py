"""The recording proxy's traffic, live: one row per request and reply, click for the bytes.

:class:`TrafficView` watches a :class:`~labkit.proxy.recorder.Recorder` (``labkit sniff``'s
proxy, or one a notebook started) and lists each exchange as it ends. Clicking a row shows
its bytes: the request as sent, the response as received, and, after a ``101 UPGRADED``
(``docker run`` attaching to its container), the raw stream cut into its frames with
stdout and stderr told apart. Given a finished :class:`~labkit.proxy.recorder.Transcript`
instead, it shows that, without following.
"""

from __future__ import annotations

import threading

import ipywidgets as widgets

from labkit.lessons import workers
from labkit.lessons.traffic_view import exchange_detail, exchanges_table, row_text
from labkit.lessons.widget_base import WIDGET_NOTE, TextFallback, button, note
from labkit.proxy.recorder import Exchange, Recorder, Transcript

POLL_SECONDS = 0.5
_STYLE = (
    "<style>.labkit-traffic select { font-family: var(--jp-code-font-family, monospace); }</style>"
)


class TrafficView(TextFallback, widgets.VBox):
    """``TrafficView(recorder)``: what crossed the recorder, a row per exchange, bytes on click."""

    def __init__(self, source: Recorder | Transcript, follow: bool = True) -> None:
        if not isinstance(source, (Recorder, Transcript)):
            raise TypeError(
                "TrafficView shows a Recorder (labkit.proxy.recorder) or a Transcript, "
                f"not {type(source).__name__}"
            )
        self.source = source
        self.exchanges: list[Exchange] = []
        self.worker: workers.Worker | None = None
        self._seen: tuple[int, int] = (-1, -1)
        self._lock = threading.Lock()
        self.heading = widgets.HTML(_STYLE + "<b>Traffic through the recorder</b>")
        self.status = widgets.HTML()
        self.rows = widgets.Select(options=[], rows=10, layout=widgets.Layout(width="100%"))
        self.rows.add_class("labkit-traffic-rows")
        self.rows.observe(lambda _: self._show_detail(), "value")
        self.detail = widgets.HTML(note("Click a row to see its bytes."))
        self.detail.add_class("labkit-traffic-detail")
        self.stop_button = button("Stop following", "stop")
        self.stop_button.on_click(lambda _: self.stop())
        self.refresh_button = button("Refresh", "refresh")
        self.refresh_button.on_click(lambda _: self.refresh())
        super().__init__(
            [
                widgets.HBox([self.heading, self.refresh_button, self.stop_button]),
                self.status,
                self.rows,
                self.detail,
            ],
            layout=widgets.Layout(width="100%"),
        )
        self.add_class("labkit-traffic")
        workers.adopt(self)
        self.refresh()
        if follow and isinstance(source, Recorder):
            self.follow()
        else:
            self.stop_button.disabled = True
        self.ready()

    def transcript(self) -> Transcript:
        return self.source.transcript if isinstance(self.source, Recorder) else self.source

    def refresh(self) -> bool:
        """Read the recording again; True if it changed."""
        transcript = self.transcript()
        exchanges = list(transcript)
        done = sum(1 for e in exchanges if e.complete)
        with self._lock:
            if (len(exchanges), done) == self._seen:
                return False
            self._seen = (len(exchanges), done)
            self.exchanges = exchanges
        chosen = self.rows.value
        self.rows.options = [(row_text(e, i), i) for i, e in enumerate(exchanges, start=1)]
        if chosen is not None and chosen <= len(exchanges):
            self.rows.value = chosen
        self.status.value = note(self._count_text())
        self._show_detail()
        return True

    def _count_text(self, following: bool | None = None) -> str:
        n = len(self.exchanges)
        words = f"{n} exchange" + ("" if n == 1 else "s")
        if self.following if following is None else following:
            return f"{words} so far; new ones appear as the recorder sees them"
        return words

    def select(self, position: int) -> str:
        """Click a row from code (1 is the first); the detail shown, as HTML."""
        self.rows.value = position
        return self.detail.value

    def _show_detail(self) -> None:
        position = self.rows.value
        if position is None or not 1 <= position <= len(self.exchanges):
            return
        self.detail.value = (
            '<div style="overflow-x:auto;max-width:100%">'
            f"{exchange_detail(self.exchanges[position - 1])}</div>"
        )

    # -- following a live recorder ------------------------------------------------------------

    @property
    def following(self) -> bool:
        return self.worker is not None and self.worker.running

    def follow(self) -> None:
        """Look at the recorder twice a second and add what is new."""
        self.stop()

        def run(worker: workers.Worker) -> None:
            was_running = False
            while not worker.stopping:
                self.refresh()
                running = isinstance(self.source, Recorder) and self.source.running
                if was_running and not running:
                    break  # the recorder has stopped: nothing more will come
                was_running = running
                worker.sleep(POLL_SECONDS)
            self.stop_button.disabled = True
            self.status.value = note(self._count_text(following=False))

        self.worker = workers.Worker("traffic", run).start()
        self.stop_button.disabled = False

    def stop(self) -> None:
        """Stop following (the recorder itself goes on)."""
        worker, self.worker = self.worker, None
        if worker is not None:
            worker.stop()
        self.stop_button.disabled = True
        self.status.value = note(self._count_text())

    def shutdown(self) -> None:
        self.stop()

    def plain_text(self) -> str:
        lines = [
            "Traffic view: one row per request and reply that crossed the recording proxy; "
            f"click a row for its bytes. {WIDGET_NOTE}"
        ]
        if self.exchanges:
            lines.append(exchanges_table(self.exchanges, times=False).text())
        return "\n".join(lines)

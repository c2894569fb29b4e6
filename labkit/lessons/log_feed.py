"""A container's output, followed as it is written, stdout and stderr told apart.

``GET /containers/{id}/logs?follow=1`` sends what the container has written so far, then
keeps the connection open and sends each new piece. Without a TTY the bytes come in
frames (8-byte header: the stream, then the length) so that stdout and stderr can be
told apart; with a TTY they come raw, both streams mixed by the terminal.
"""

from __future__ import annotations

import html
import threading
from typing import Any

from labkit.client.http import Client
from labkit.lab import Lab
from labkit.lessons import workers
from labkit.lessons.feed import Feed
from labkit.lessons.widget_base import STDERR_STYLE, WIDGET_NOTE, pre
from labkit.wire.frames import STDERR, STDOUT, FrameDecoder

MAX_PIECES = 2000
NAMES = {STDOUT: "stdout", STDERR: "stderr"}


def output_html(pieces: list[tuple[int, bytes]]) -> str:
    """Output as it would look in a terminal, stderr marked; a legend above it."""
    spans = []
    for stream, data in pieces:
        name = NAMES.get(stream, "stdout")
        style = STDERR_STYLE if stream == STDERR else ""
        text = html.escape(data.decode("utf-8", "replace"))
        spans.append(f'<span class="labkit-{name}" title="{name}" style="{style}">{text}</span>')
    legend = f'<small>stdout as is, <span style="{STDERR_STYLE}">stderr marked</span></small>'
    body = "".join(spans)
    return (
        f"{legend}"
        '<pre style="white-space:pre-wrap;word-break:break-all;margin:2px 0;'
        f'max-height:24em;overflow:auto">{body}</pre>'
    )


def output_text(pieces: list[tuple[int, bytes]]) -> str:
    """``[stdout] hi`` / ``[stderr] oops``: one line per line of output."""
    lines = []
    for stream, data in pieces:
        for line in data.decode("utf-8", "replace").splitlines():
            lines.append(f"[{NAMES.get(stream, 'stdout')}] {line}")
    return "\n".join(lines)


class LogFeed(Feed):
    """``LogFeed("web", lab)``: what the container writes, as it writes it; Stop hangs up.

    ``tail`` limits the past lines sent first ("all" by default); ``timestamps`` starts
    each line with its time.
    """

    title = "Logs"

    def __init__(
        self,
        container: str,
        lab: Lab | Client | str | None = None,
        tail: int | str = "all",
        timestamps: bool = False,
        start: bool = True,
    ) -> None:
        if not isinstance(container, str) or not container.strip():
            raise ValueError("LogFeed needs a container's name or id, e.g. LogFeed('web', lab)")
        self.container = container.strip()
        self.tail = tail
        self.timestamps = timestamps
        self.tty: bool | None = None
        self.pieces: list[tuple[int, bytes]] = []
        self._lock = threading.Lock()
        super().__init__(lab, start)
        self.heading.value = f"<b>Logs of {html.escape(self.container)}</b>"

    def params(self) -> dict[str, Any]:
        return {
            "follow": True,
            "stdout": True,
            "stderr": True,
            "tail": self.tail,
            "timestamps": self.timestamps,
        }

    def describe(self) -> str:
        path = f"/containers/{self.container}/logs"
        return f"GET {self.client.url_for(path, self.params())}"

    def count(self) -> str:
        with self._lock:
            size = sum(len(d) for _, d in self.pieces)
        return f"{size} bytes" + (" (a TTY: one mixed stream)" if self.tty else "")

    def _follow(self, worker: workers.Worker) -> None:
        info = self.client.get(f"/containers/{self.container}/json")
        self.tty = bool((info.get("Config") or {}).get("Tty"))
        path = f"/containers/{self.container}/logs"
        stream = self.client.stream("GET", path, params=self.params(), timeout=None)
        worker.hold(stream)
        self.connected.set()
        decoder = None if self.tty else FrameDecoder()
        for data in stream:
            if worker.stopping:
                break
            if decoder is None:
                pieces = [(STDOUT, data)]
            else:
                pieces = [(frame.stream, frame.data) for frame in decoder.feed(data)]
            with self._lock:
                self.pieces += pieces
                del self.pieces[:-MAX_PIECES]
            self._throttle.poke()
        if not worker.stopping:
            self.ended = "the container stopped, so the engine ended the stream"

    def clear(self) -> None:
        with self._lock:
            self.pieces.clear()
        super().clear()

    def text(self) -> str:
        """What has arrived so far, one ``[stream] line`` per line."""
        with self._lock:
            return output_text(list(self.pieces))

    def _render(self) -> None:
        with self._lock:
            pieces = list(self.pieces)
        if not pieces:
            self.view.value = pre("(nothing written yet)")
            return
        self.view.value = output_html(pieces)

    def plain_text(self) -> str:
        return (
            f"Logs of {self.container}: its output followed as it is written "
            f"(GET /containers/{{id}}/logs?follow=1), stdout and stderr told apart, with Stop. "
            f"{WIDGET_NOTE}"
        )

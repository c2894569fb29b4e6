"""The engine's event stream as a table that grows while things happen.

``GET /events`` never ends by itself: the engine writes one JSON object per line each
time a container, image, network or volume changes, for as long as the connection stays
open. :class:`EventFeed` follows it in the background; Stop hangs up.
"""

from __future__ import annotations

import html
import threading
from datetime import datetime, timezone
from typing import Any

from labkit.client.http import Client
from labkit.lab import Lab
from labkit.lessons import workers
from labkit.lessons.bytes_view import Table
from labkit.lessons.feed import Feed
from labkit.lessons.widget_base import WIDGET_NOTE

COLUMNS = ("time (UTC)", "type", "action", "actor", "details")
MAX_EVENTS = 1000


def event_time(event: dict[str, Any]) -> str:
    """``09:00:01.234``: when the event happened, from ``timeNano`` (or ``time``)."""
    nanos = event.get("timeNano")
    seconds = nanos / 1e9 if isinstance(nanos, (int, float)) else event.get("time")
    if not isinstance(seconds, (int, float)):
        return ""
    moment = datetime.fromtimestamp(seconds, tz=timezone.utc)
    return moment.strftime("%H:%M:%S.%f")[:-3]


def event_row(event: dict[str, Any]) -> tuple[str, str, str, str, str]:
    """One event as a table row: time, type, action, who it happened to, other details."""
    actor = event.get("Actor") or {}
    attributes = dict(actor.get("Attributes") or {})
    ident = str(actor.get("ID") or event.get("id") or "")
    name = attributes.pop("name", "") or (ident[:12] if len(ident) == 64 else ident)
    details = ", ".join(f"{k}={v}" for k, v in attributes.items())
    if len(details) > 70:
        details = details[:69] + "…"
    kind = str(event.get("Type") or "")
    action = str(event.get("Action") or event.get("status") or "")
    return event_time(event), kind, action, name, details


def events_table(events: list[dict[str, Any]], last: int = 200) -> Table:
    """The newest ``last`` events, oldest first."""
    shown = events[-last:]
    caption = f"the last {len(shown)} of {len(events)} events" if len(events) > last else ""
    return Table(COLUMNS, [event_row(e) for e in shown], caption)


class EventFeed(Feed):
    """``EventFeed(lab)``: every event, as it happens; ``filters`` as in the Engine API.

    ``filters={"type": ["container"]}`` keeps only containers' events; ``since=0`` asks
    for the engine's recent past first.
    """

    title = "Events"

    def __init__(
        self,
        lab: Lab | Client | str | None = None,
        filters: dict[str, list[str]] | None = None,
        since: int | str | None = None,
        shown: int = 200,
        start: bool = True,
    ) -> None:
        self.filters = filters
        self.since = since
        self.shown = shown
        self.events: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        super().__init__(lab, start)

    def params(self) -> dict[str, Any]:
        params: dict[str, Any] = {}
        if self.filters:
            params["filters"] = self.filters
        if self.since is not None:
            params["since"] = self.since
        return params

    def describe(self) -> str:
        return f"GET {self.client.url_for('/events', self.params())}"

    def count(self) -> str:
        return f"{len(self.events)} event" + ("" if len(self.events) == 1 else "s")

    def _follow(self, worker: workers.Worker) -> None:
        stream = self.client.stream("GET", "/events", params=self.params(), timeout=None)
        worker.hold(stream)
        self.connected.set()
        for event in stream.json():
            if worker.stopping:
                break
            if isinstance(event, dict):
                with self._lock:
                    self.events.append(event)
                    del self.events[:-MAX_EVENTS]
                self._throttle.poke()

    def clear(self) -> None:
        with self._lock:
            self.events.clear()
        super().clear()

    def table(self) -> Table:
        with self._lock:
            events = list(self.events)
        return events_table(events, self.shown)

    def _render(self) -> None:
        with self._lock:
            empty = not self.events
        if empty:
            self.view.value = "<i>no events yet: start, stop or remove a container</i>"
            return
        self.view.value = (
            '<div style="overflow:auto;max-height:24em;max-width:100%">'
            f"{self.table()._repr_html_()}</div>"
        )

    def plain_text(self) -> str:
        what = html.unescape(self.title)
        return (
            f"{what}: the engine's event stream (GET /events) as a table that grows while "
            f"containers, images and networks change, with Stop. {WIDGET_NOTE}"
        )

"""The container board: every container with its state, and buttons that call the API.

Each button is one HTTP request (``POST /containers/{id}/start``, ``…/stop``, ``DELETE
/containers/{id}``), and the board shows that request under the container's row, with
the engine's answer, so that a click is never magic. The board keeps itself up to date by
following ``GET /events`` (containers only): whatever changes a container (this board, a
notebook cell, the docker CLI in a terminal) shows here within a moment.
"""

from __future__ import annotations

import contextlib
import html
import shlex
import threading
import time
from typing import Any

import ipywidgets as widgets

from labkit.client.http import APIError, Client, Wiretap
from labkit.lab import Lab
from labkit.lessons import workers
from labkit.lessons.bytes_view import show_exchange
from labkit.lessons.log_feed import LogFeed
from labkit.lessons.widget_base import WIDGET_NOTE, TextFallback, client_for, note, state_chip
from labkit.lessons.widget_base import button as make_button

_ERROR_STYLE = "color:#c62828"
ACTIONS = {
    # button: (method, path, query parameters, what it is in docker CLI terms)
    "start": ("POST", "/containers/{id}/start", None, "docker start"),
    "stop": ("POST", "/containers/{id}/stop", {"t": 2}, "docker stop -t 2"),
    "remove": ("DELETE", "/containers/{id}", None, "docker rm"),
}


def container_name(summary: dict[str, Any]) -> str:
    """``web`` for a container listed as ``"Names": ["/web"]``."""
    names = summary.get("Names") or []
    return names[0].lstrip("/") if names else str(summary.get("Id", ""))[:12]


def sent_html(
    method: str, target: str, tap: Wiretap, status: str, seconds: float, failed: bool
) -> str:
    """One request a button sent: its request line, the answer, and the bytes on a click."""
    style = f' style="{_ERROR_STYLE}"' if failed else ""
    exchange = show_exchange(bytes(tap.sent), bytes(tap.received), 1024)._repr_html_()
    return (
        '<div class="labkit-sent" style="margin-left:1em;overflow-wrap:anywhere">'
        f"<small>sent <code>{html.escape(method)} {html.escape(target)}</code> → "
        f"<span{style}>{html.escape(status)}</span> · {seconds * 1000:.1f} ms</small>"
        f"<details><summary><small>the bytes</small></summary>{exchange}</details></div>"
    )


class BoardRow(widgets.VBox):
    """One container: name, image, state, status, buttons; under them, what was sent."""

    def __init__(self, board: ContainerBoard, summary: dict[str, Any]) -> None:
        self.board = board
        self.id = str(summary.get("Id", ""))
        self.name = widgets.HTML(layout=widgets.Layout(flex="1 1 8em", min_width="6em"))
        self.image = widgets.HTML(layout=widgets.Layout(flex="0 1 9em", min_width="5em"))
        self.state = widgets.HTML(layout=widgets.Layout(width="6.5em", margin="0 0 0 0.5em"))
        self.status = widgets.HTML(layout=widgets.Layout(flex="1 1 8em", min_width="6em"))
        self.buttons = {}
        for action in (*ACTIONS, "logs"):
            button = make_button(action, tooltip=self._tooltip(action), css=f"labkit-{action}")
            button.on_click(lambda _, a=action: board.act(self.id, a))
            self.buttons[action] = button
        self.sent = widgets.HTML()
        buttons = widgets.HBox(list(self.buttons.values()), layout=widgets.Layout(flex="0 0 auto"))
        line = widgets.HBox(
            [self.name, self.image, self.state, self.status, buttons],
            layout=widgets.Layout(width="100%", flex_flow="row wrap", align_items="center"),
        )
        super().__init__([line, self.sent], layout=widgets.Layout(width="100%"))
        self.add_class("labkit-board-row")
        self.update(summary)
        self.add_class(f"labkit-container-{self.container}")

    @staticmethod
    def _tooltip(action: str) -> str:
        if action == "logs":
            return "GET /containers/{id}/logs?follow=1 (docker logs -f), shown below the board"
        method, path, params, cli = ACTIONS[action]
        query = "?" + "&".join(f"{k}={v}" for k, v in params.items()) if params else ""
        return f"{method} {path}{query} ({cli})"

    def update(self, summary: dict[str, Any]) -> None:
        self.summary = summary
        self.container = container_name(summary)
        state = str(summary.get("State") or "")
        wrap = ' style="overflow-wrap:anywhere"'
        self.name.value = f"<b{wrap}>{html.escape(self.container)}</b>"
        self.image.value = f"<code{wrap}>{html.escape(str(summary.get('Image', '')))}</code>"
        self.state.value = state_chip(state)
        self.status.value = f"<small>{html.escape(str(summary.get('Status', '')))}</small>"
        running = state in ("running", "restarting", "paused")
        self.buttons["start"].disabled = running
        self.buttons["stop"].disabled = not running


class ContainerBoard(TextFallback, widgets.VBox):
    """``ContainerBoard(lab)``: the containers, kept up to date, with start/stop/remove/logs.

    From code: :meth:`refresh`, :meth:`act` (``board.act("web", "start")``),
    :meth:`create`, :meth:`stop` (ends its event stream and any logs shown).
    """

    def __init__(
        self,
        lab: Lab | Client | str | None = None,
        all: bool = True,
        follow_events: bool = True,
    ) -> None:
        self.client = client_for(lab)
        self.all = all
        self.rows: dict[str, BoardRow] = {}
        self.sent_log: list[str] = []  # every request the buttons sent, as request lines
        self.logs: LogFeed | None = None
        self.events: workers.Worker | None = None
        self.following = threading.Event()  # set once the event stream is open
        self._actions: list[workers.Worker] = []
        self._lock = threading.RLock()
        self._throttle = workers.Throttle(self._refresh_quietly, 0.3)
        self.heading = widgets.HTML("<b>Containers</b>")
        self.message = widgets.HTML()
        self.message.add_class("labkit-board-message")
        self.table = widgets.VBox(layout=widgets.Layout(width="100%"))
        self.table.add_class("labkit-board")
        self.refresh_button = make_button("Refresh", "refresh")
        self.refresh_button.on_click(lambda _: self.refresh())
        self.stop_button = make_button("Stop following events", "stop")
        self.stop_button.on_click(lambda _: self.stop())
        self.image = widgets.Combobox(
            placeholder="image", ensure_option=False, layout=widgets.Layout(width="10em")
        )
        self.command = widgets.Text(
            value="sleep 300", placeholder="command", layout=widgets.Layout(flex="1 1 10em")
        )
        self.new_name = widgets.Text(
            placeholder="name (optional)", layout=widgets.Layout(width="10em")
        )
        self.create_button = make_button("create", "plus", css="labkit-create")
        self.create_button.on_click(lambda _: self._in_background(self.create))
        self.create_sent = widgets.HTML()
        self.logs_area = widgets.VBox(layout=widgets.Layout(width="100%"))
        super().__init__(
            [
                widgets.HBox([self.heading, self.refresh_button, self.stop_button]),
                self.message,
                self.table,
                widgets.HTML("<small>a new container (POST /containers/create):</small>"),
                widgets.HBox(
                    [self.image, self.command, self.new_name, self.create_button],
                    layout=widgets.Layout(width="100%", flex_flow="row wrap"),
                ),
                self.create_sent,
                self.logs_area,
            ],
            layout=widgets.Layout(width="100%"),
        )
        self.add_class("labkit-container-board")
        workers.adopt(self)
        self.refresh()
        self._offer_images()
        if follow_events:
            self.follow()
        self.ready()

    # -- reading ---------------------------------------------------------------------------

    def refresh(self) -> None:
        """List the containers again (``GET /containers/json?all=true``) and redraw."""
        try:
            found = self.client.get("/containers/json", params={"all": self.all})
        except Exception as exc:
            self.message.value = f'<span style="{_ERROR_STYLE}">{html.escape(str(exc))}</span>'
            return
        with self._lock:
            seen = []
            for summary in found:
                cid = str(summary.get("Id", ""))
                row = self.rows.get(cid)
                if row is None:
                    row = self.rows[cid] = BoardRow(self, summary)
                else:
                    row.update(summary)
                seen.append(cid)
            for cid in [c for c in self.rows if c not in seen]:
                self.rows.pop(cid).close()
            self.table.children = tuple(self.rows[c] for c in seen)
        if not found:
            self.message.value = note("no containers yet: create one below")
        elif not self.message.value.startswith("<span"):
            self.message.value = ""

    def _refresh_quietly(self) -> None:
        with contextlib.suppress(Exception):  # refresh reports its own errors
            self.refresh()

    def state_of(self, container: str) -> str | None:
        """The state the board shows for a container (name or id), or None."""
        row = self._row(container)
        return None if row is None else str(row.summary.get("State") or "")

    def _row(self, container: str) -> BoardRow | None:
        with self._lock:
            for cid, row in self.rows.items():
                if container in (cid, row.container):
                    return row
                if len(container) >= 6 and cid.startswith(container):
                    return row
        return None

    def _offer_images(self) -> None:
        try:
            images = self.client.get("/images/json")
        except Exception:
            return
        tags = [t for i in images for t in (i.get("RepoTags") or []) if t != "<none>:<none>"]
        self.image.options = tuple(dict.fromkeys(tags))
        if not self.image.value and tags:
            preferred = [t for t in tags if t.startswith("busybox")]
            self.image.value = (preferred or tags)[0]

    # -- following events ---------------------------------------------------------------------

    def follow(self) -> None:
        """Redraw whenever a container changes (``GET /events``, containers only)."""
        self._stop_events()
        self.following.clear()

        def run(worker: workers.Worker) -> None:
            params = {"filters": {"type": ["container"]}}
            stream = self.client.stream("GET", "/events", params=params, timeout=None)
            worker.hold(stream)
            self.following.set()
            for _ in stream.json():
                if worker.stopping:
                    break
                self._throttle.poke()

        self.events = workers.Worker("board-events", run).start()
        self.stop_button.disabled = False

    def _stop_events(self) -> None:
        worker, self.events = self.events, None
        if worker is not None:
            worker.stop()

    # -- acting -------------------------------------------------------------------------------

    def act(self, container: str, action: str) -> str:
        """Press a button from code: ``board.act("web", "start")``; the request line sent."""
        row = self._row(container)
        if row is None:
            raise LookupError(f"no container {container!r} on the board; see board.rows")
        if action == "logs":
            self.show_logs(row.container)
            return f"GET /containers/{row.container}/logs?follow=1"
        if action not in ACTIONS:
            raise ValueError(f"no button {action!r}: choose one of {', '.join(ACTIONS)} or logs")
        method, path, params, _ = ACTIONS[action]
        path = path.replace("{id}", row.id[:12])
        row.sent.value = note(f"sending {method} {path}…")
        self._in_background(lambda: self._send_action(row, method, path, params))
        return f"{method} {path}"

    def _send_action(self, row: BoardRow, method: str, path: str, params: Any) -> None:
        tap = Wiretap()
        target = self.client.url_for(path, params)
        started = time.perf_counter()
        failed = False
        try:
            reply = self.client.request(method, path, params=params, wiretap=tap)
            status = f"{reply.status} {reply.reason}".strip()
        except APIError as exc:
            status, failed = f"{exc.status} {exc.reason}: {exc.message}", True
        except Exception as exc:
            status, failed = f"failed: {exc}", True
        seconds = time.perf_counter() - started
        shown = sent_html(method, target, tap, status, seconds, failed)
        row.sent.value = shown
        with self._lock:
            self.sent_log.append(f"{method} {target} → {status}")
        if method == "DELETE" and not failed:
            self.create_sent.value = shown  # the row goes away; keep what removed it in view
        self.refresh()

    def create(self) -> str | None:
        """Create a container from the form (image, command, name); its id, or None."""
        image = self.image.value.strip()
        if not image:
            self.create_sent.value = f'<span style="{_ERROR_STYLE}">choose an image first</span>'
            return None
        try:
            command = shlex.split(self.command.value)
        except ValueError as exc:
            self.create_sent.value = (
                f'<span style="{_ERROR_STYLE}">the command cannot be read: {html.escape(str(exc))}'
                "</span>"
            )
            return None
        body: dict[str, Any] = {"Image": image}
        if command:
            body["Cmd"] = command
        params = {"name": self.new_name.value.strip()} if self.new_name.value.strip() else None
        tap = Wiretap()
        target = self.client.url_for("/containers/create", params)
        started = time.perf_counter()
        created = None
        try:
            reply = self.client.request(
                "POST", "/containers/create", params=params, json=body, wiretap=tap
            )
            status, failed = f"{reply.status} {reply.reason}", False
            created = reply.json().get("Id")
        except APIError as exc:
            status, failed = f"{exc.status} {exc.reason}: {exc.message}", True
        except Exception as exc:
            status, failed = f"failed: {exc}", True
        seconds = time.perf_counter() - started
        self.create_sent.value = sent_html("POST", target, tap, status, seconds, failed)
        with self._lock:
            self.sent_log.append(f"POST {target} → {status}")
        self.refresh()
        return created

    def show_logs(self, container: str) -> LogFeed:
        """Follow a container's logs under the board (stopping the logs shown before)."""
        if self.logs is not None:
            self.logs.close()
        self.logs = LogFeed(container, self.client, tail=100)
        self.logs_area.children = (self.logs,)
        return self.logs

    def _in_background(self, job: Any) -> None:
        """Run a button's request in a thread: a slow stop must not block the kernel."""
        with self._lock:
            self._actions = [w for w in self._actions if w.running]
            worker = workers.Worker("board-action", lambda _w: job())
            self._actions.append(worker)
        worker.start()

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait for every button's request to be answered (True if all were)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            actions = list(self._actions)
        return all(w.wait(max(0.0, deadline - time.monotonic())) for w in actions)

    # -- ending -------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.events is not None and self.events.running

    def stop(self) -> None:
        """Stop following events and logs; buttons and Refresh still work."""
        self._stop_events()
        self._throttle.close()
        self._throttle = workers.Throttle(self._refresh_quietly, 0.3)
        if self.logs is not None:
            self.logs.stop()
        self.wait_idle(10)
        self.client.close()  # the kept-alive connection; a button's next request reconnects
        self.stop_button.disabled = True

    def shutdown(self) -> None:
        self.stop()
        self._throttle.close()
        if self.logs is not None:
            self.logs.close()
        for row in self.rows.values():
            row.close()
        self.client.close()

    def plain_text(self) -> str:
        return (
            "Container board: every container with its state, kept up to date from the "
            "engine's events, with start, stop, remove and logs buttons; under each container, "
            f"the HTTP request its last button sent and the engine's answer. {WIDGET_NOTE}"
        )

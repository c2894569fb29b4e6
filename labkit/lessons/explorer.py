"""The API explorer: Postman for the engine's socket, in a notebook.

Choose a call (or type any path), fill in its parameters and body, press Send, and see
what really crossed the socket: the request's bytes, the reply's bytes (head and body),
the answer as pretty JSON or as a table, its status and how long it took, and the same
request as a ``curl`` command to paste in a terminal. Answers that go on (events, logs
with ``follow``) are shown as they arrive, until Stop. Past requests can be sent again.

The version prefix is the one the lab negotiated with the engine, so the explorer works
on the lab engine and on a real dockerd alike. The logic lives in
:mod:`labkit.lessons.api_call`; this module is the form around it.
"""

from __future__ import annotations

import html
import json
from typing import Any

import ipywidgets as widgets

from labkit.client.http import Client
from labkit.lab import Lab
from labkit.lessons import workers
from labkit.lessons.api_call import Call, Request, RequestError, perform, prepare
from labkit.lessons.bytes_view import show_exchange
from labkit.lessons.endpoints import CUSTOM, OPERATIONS, Operation, by_label
from labkit.lessons.widget_base import WIDGET_NOTE, TextFallback, button, client_for, note, pre

METHODS = ("GET", "POST", "DELETE", "HEAD", "PUT")
MAX_HISTORY = 50
BYTES_SHOWN = 64 * 1024  # of a long stream, the Bytes tab shows the start
_ERROR_STYLE = "color:#c62828"


class ParamRow(widgets.HBox):
    """One query parameter: name, value, and a button that removes the row."""

    def __init__(self, name: str = "", value: str = "", example: str = "", about: str = ""):
        self.name = widgets.Text(value=name, placeholder="name", layout=widgets.Layout(width="9em"))
        self.value = widgets.Text(
            value=value,
            placeholder=example or "value",
            tooltip=about,
            layout=widgets.Layout(flex="1 1 auto", width="auto"),
        )
        self.remove = widgets.Button(
            icon="times", tooltip="remove this parameter", layout=widgets.Layout(width="2.4em")
        )
        super().__init__(
            [self.name, self.value, self.remove],
            layout=widgets.Layout(width="100%"),
        )

    @property
    def pair(self) -> tuple[str, str]:
        return self.name.value, self.value.value


class Explorer(TextFallback, widgets.VBox):
    """``Explorer(lab)``: send any Engine API request and see its bytes.

    ``lab`` is ``labkit.connect()``'s Lab (or a Client, or None to connect now).
    From code: :meth:`set_request`, :meth:`send`, :meth:`wait`, :meth:`stop`;
    :attr:`calls` holds the history, newest last.
    """

    def __init__(
        self,
        lab: Lab | Client | str | None = None,
        method: str = "GET",
        path: str = "/version",
    ) -> None:
        self.client = client_for(lab)
        self.calls: list[Call] = []
        self.worker: workers.Worker | None = None
        self.current: Call | None = None
        self._template: Operation | None = None
        self._throttle = workers.Throttle(self._render, 0.2)
        self._build()
        super().__init__(self._children(), layout=widgets.Layout(width="100%"))
        self.add_class("labkit-explorer")
        op = by_label().get(f"{method.upper()} {path}")
        if op is not None:
            self.choose(op)
        else:
            self.set_request(method, path)
        workers.adopt(self)
        self.ready()

    # -- the form -------------------------------------------------------------------------

    def _build(self) -> None:
        options: list[tuple[str, str]] = [(CUSTOM, "")]
        options += [(f"{op.label}  ·  {op.about}", op.label) for op in OPERATIONS]
        self.operation = widgets.Dropdown(
            options=options, value="", layout=widgets.Layout(width="100%")
        )
        self.operation.observe(self._on_operation, "value")
        self.method = widgets.Dropdown(options=METHODS, layout=widgets.Layout(width="6.5em"))
        self.method.observe(self._on_method, "value")
        self.path = widgets.Text(
            placeholder="/images/json",
            layout=widgets.Layout(flex="1 1 auto", width="auto"),
        )
        self.path.add_class("labkit-path")
        self.path.observe(self._on_path, "value")
        self.send_button = button("Send", css="labkit-send", button_style="primary")
        self.send_button.on_click(lambda _: self.send())
        self.stop_button = button("Stop", css="labkit-stop", disabled=True)
        self.stop_button.on_click(lambda _: self.stop())
        self.versioned = widgets.Checkbox(
            value=True, indent=False, layout=widgets.Layout(width="auto")
        )
        self.versioned.observe(lambda _: self._describe_version(), "value")
        self.placeholders = widgets.VBox(layout=widgets.Layout(width="100%"))
        self.param_rows = widgets.VBox(layout=widgets.Layout(width="100%"))
        self.add_param = button("add a parameter", "plus")
        self.add_param.on_click(lambda _: self._add_row())
        self.body = widgets.Textarea(
            placeholder='JSON, e.g. {"Image": "busybox", "Cmd": ["echo", "hi"]}',
            rows=4,
            layout=widgets.Layout(width="100%"),
        )
        self.about = widgets.HTML(layout=widgets.Layout(width="100%"))
        self.status = widgets.HTML(note("Choose a call, then press Send."))
        self.status.add_class("labkit-status")
        self.view = widgets.ToggleButtons(
            options=[("pretty JSON", "pretty"), ("table", "table")],
            value="pretty",
            style={"button_width": "8em"},
        )
        self.view.observe(lambda _: self._render(), "value")
        self.answer = widgets.HTML()
        self.answer.add_class("labkit-answer")
        self.bytes = widgets.HTML(note("The bytes appear here after Send."))
        self.bytes.add_class("labkit-bytes")
        self.curl = widgets.HTML(note("The curl command appears here after Send."))
        self.curl.add_class("labkit-curl")
        self.history = widgets.Select(options=[], rows=6, layout=widgets.Layout(width="100%"))
        self.resend_button = button("Send again", "redo")
        self.resend_button.on_click(lambda _: self.resend())
        self.load_button = button("Put in the form", "edit")
        self.load_button.on_click(lambda _: self.load())
        self.tabs = widgets.Tab(
            [
                widgets.VBox([self.view, self.answer]),
                self.bytes,
                self.curl,
                widgets.VBox([self.history, widgets.HBox([self.resend_button, self.load_button])]),
            ]
        )
        self.tabs.titles = ("Answer", "Bytes", "curl", "History")
        self.version_note = widgets.HTML()

    def _children(self) -> list[widgets.Widget]:
        return [
            widgets.HTML("<b>API explorer</b>"),
            self.operation,
            self.about,
            widgets.HBox(
                [self.method, self.path, self.send_button, self.stop_button],
                layout=widgets.Layout(width="100%"),
            ),
            self.placeholders,
            widgets.HBox([self.versioned, self.version_note]),
            widgets.HTML("<small>query parameters (blank ones are left out)</small>"),
            self.param_rows,
            self.add_param,
            self.body,
            self.status,
            self.tabs,
        ]

    def _add_row(self, name: str = "", value: str = "", example: str = "", about: str = "") -> None:
        row = ParamRow(name, value, example, about)
        row.remove.on_click(lambda _: self._remove_row(row))
        self.param_rows.children = (*self.param_rows.children, row)

    def _remove_row(self, row: ParamRow) -> None:
        self.param_rows.children = tuple(r for r in self.param_rows.children if r is not row)
        row.close()

    def _on_method(self, change: dict[str, Any]) -> None:
        self.body.layout.display = "" if change["new"] in ("POST", "PUT") else "none"

    def _on_operation(self, change: dict[str, Any]) -> None:
        op = by_label().get(change["new"])
        if op is not None:
            self.choose(op)

    def _on_path(self, change: dict[str, Any]) -> None:
        """A path typed by hand that is no longer the chosen call: say so in the list."""
        op = self._template
        if op is None or op.matches(change["new"]):
            return
        self._template = None
        self.operation.value = ""
        self.about.value = ""

    def _describe_version(self) -> None:
        if self.versioned.value:
            text = f"put /v{self.client.api_version} in front of the path (the version "
            text += "negotiated with this engine)"
        else:
            text = "no version prefix (the engine then uses its newest)"
        self.version_note.value = f"<small>{html.escape(text)}</small>"

    def choose(self, op: Operation) -> None:
        """Fill the form with one of the common calls (its parameters left blank)."""
        self._template = op
        if self.operation.value != op.label:
            self.operation.value = op.label
        self.method.value = op.method
        self.path.value = op.path
        self.versioned.value = op.versioned
        self._describe_version()
        self.about.value = note(op.about)
        self._clear_rows()
        for param in op.params:
            self._add_row(param.name, "", param.example, param.about)
        self.body.value = json.dumps(op.body) if op.body is not None else ""
        self._on_method({"new": op.method})
        self._make_placeholders(op)

    def _make_placeholders(self, op: Operation) -> None:
        for child in self.placeholders.children:
            child.close()
        boxes = []
        for name in op.placeholders:
            box = widgets.Combobox(
                placeholder="a container's name or id" if name == "id" else "an image's name",
                options=self._suggestions(name),
                description=f"{{{name}}}",
                ensure_option=False,
                layout=widgets.Layout(width="100%"),
            )
            box.observe(self._on_placeholder, "value")
            boxes.append(box)
        self.placeholders.children = tuple(boxes)

    def _suggestions(self, name: str) -> tuple[str, ...]:
        """Names a placeholder could take: the containers' or the images' names."""
        try:
            if name == "id":
                found = self.client.get("/containers/json", params={"all": True})
                names = [n.lstrip("/") for c in found for n in (c.get("Names") or [])[:1]]
            else:
                found = self.client.get("/images/json")
                tags = [t for i in found for t in (i.get("RepoTags") or [])]
                names = [t for t in tags if t != "<none>:<none>"]
        except Exception:  # suggestions are a help, never a reason to fail
            return ()
        return tuple(dict.fromkeys(names))

    def _on_placeholder(self, _change: dict[str, Any]) -> None:
        if self._template is None:
            return
        values = {
            box.description.strip("{}"): box.value.strip() for box in self.placeholders.children
        }
        self.path.value = self._template.fill(values)

    def _clear_rows(self) -> None:
        for row in self.param_rows.children:
            row.close()
        self.param_rows.children = ()

    def set_request(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None = None,
        body: Any = None,
        versioned: bool | None = None,
    ) -> None:
        """Fill the form: ``set_request("GET", "/images/json", {"all": "true"})``."""
        self._template = None
        self.operation.value = ""
        self.about.value = ""
        method = method.upper()
        if method not in self.method.options:
            self.method.options = (*self.method.options, method)
        self.method.value = method
        self.path.value = path
        self.versioned.value = path != "/_ping" if versioned is None else versioned
        self._describe_version()
        self._clear_rows()
        for name, value in (params or {}).items():
            self._add_row(name, _text(value))
        if body is None or isinstance(body, str):
            self.body.value = body or ""
        else:
            self.body.value = json.dumps(body)
        self._on_method({"new": method})
        for child in self.placeholders.children:
            child.close()
        self.placeholders.children = ()

    def request(self) -> Request:
        """What the form says to send (not yet checked)."""
        params = tuple(row.pair for row in self.param_rows.children)
        body = self.body.value if self.method.value in ("POST", "PUT") else ""
        return Request(self.method.value, self.path.value, params, body, self.versioned.value)

    # -- sending --------------------------------------------------------------------------

    def send(self, request: Request | None = None, buffers: Any = None) -> Call | None:
        """Send the form's request (or ``request``) in the background; the new Call.

        None, with the reason shown, when the form cannot be sent as it is.
        """
        if isinstance(request, dict):  # ipywidgets' own send(): a message to the browser
            super().send(request, buffers)
            return None
        self.stop()
        try:
            call = prepare(self.client, request or self.request(), len(self.calls) + 1)
        except RequestError as exc:
            self.status.value = f'<span style="{_ERROR_STYLE}">{html.escape(str(exc))}</span>'
            return None
        except Exception as exc:  # the engine is gone, say: tell, do not trace
            self.status.value = (
                f'<span style="{_ERROR_STYLE}">cannot send: {html.escape(str(exc))}</span>'
            )
            return None
        self.current = call
        self.calls.append(call)
        del self.calls[:-MAX_HISTORY]
        self.tabs.selected_index = 0
        self.stop_button.disabled = False
        self.send_button.disabled = True
        self.worker = workers.Worker("explorer", lambda w: self._run(w, call)).start()
        return call

    def _run(self, worker: workers.Worker, call: Call) -> None:
        try:
            perform(self.client, call, worker, on_piece=self._throttle.poke)
        finally:
            self._throttle.flush()
            self.stop_button.disabled = True
            self.send_button.disabled = False
            self._update_history()

    def wait(self, timeout: float | None = 30.0) -> Call | None:
        """Wait for the call under way to end by itself; the last call."""
        if self.worker is not None:
            self.worker.wait(timeout)
        return self.current

    def stop(self) -> None:
        """Hang up the call under way (a stream followed with Stop); close the connection."""
        worker, self.worker = self.worker, None
        if worker is not None:
            worker.stop()
        self.client.close()  # the kept-alive one; the next call opens another

    def resend(self, number: int | None = None) -> Call | None:
        """Send a past request again (the one selected in History, by default)."""
        past = self._past(number)
        if past is None:
            return None
        self.load(past.number)
        return self.send(past.request)

    def load(self, number: int | None = None) -> None:
        """Put a past request back in the form."""
        past = self._past(number)
        if past is None:
            return
        r = past.request
        self.set_request(r.method, r.path, dict(r.params), r.body, r.versioned)

    def _past(self, number: int | None) -> Call | None:
        if number is None:
            number = self.history.value
        for call in self.calls:
            if call.number == number:
                return call
        return None

    def _update_history(self) -> None:
        options = [(c.summary(), c.number) for c in reversed(self.calls)]
        self.history.options = options
        if options:
            self.history.value = options[0][1]

    # -- showing --------------------------------------------------------------------------

    def _render(self) -> None:
        call = self.current
        if call is None:
            return
        style = "" if call.ok or call.status is None else ' style="color:#c62828"'
        if call.error and call.status is None:
            style = f' style="{_ERROR_STYLE}"'
        self.status.value = (
            f"<b>{html.escape(call.request.label())}</b> → "
            f"<span{style}>{html.escape(call.status_line())}</span>"
        )
        answer = call.answer_html(self.view.value)
        self.answer.value = f'<div style="overflow-x:auto;max-width:100%">{answer}</div>'
        shown = call.received[:BYTES_SHOWN]
        more = call.received_size - len(shown)
        tail = note(f"… and {more:,} more bytes".replace(",", " ")) if more > 0 else ""
        self.bytes.value = show_exchange(call.sent, shown, 4096)._repr_html_() + tail
        self.curl.value = (
            "<small>The same request from a terminal:</small>" + pre(call.curl) if call.curl else ""
        )

    def plain_text(self) -> str:
        return (
            "API explorer: choose an Engine API call (or type a path), press Send, and see "
            "the exact bytes of the request and of the reply, the answer as JSON or as a "
            f"table, and the same request as a curl command. {WIDGET_NOTE}\n"
            "Without widgets, the same from code: "
            'labkit.lessons.api_call.send(lab, "GET", "/images/json")'
        )

    def shutdown(self) -> None:
        self.stop()
        self._throttle.close()
        self.client.close()


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)

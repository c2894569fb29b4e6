"""One request to the engine and its answer, kept byte for byte: what the explorer shows.

:func:`send` makes the call through :class:`labkit.client.http.Client` (so the API version
is negotiated, never fixed) with a :class:`~labkit.client.http.Wiretap` on the socket, and
reads the answer as it arrives with :mod:`labkit.wire`: the head, the body, JSON lines
(events, pull progress) and frames (logs, attach). A :class:`Call` displays itself
without any widget too: as text in a terminal or a saved notebook, as HTML in JupyterLab.
"""

from __future__ import annotations

import html
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from labkit.client.http import APIError, Client, Stream, Wiretap
from labkit.lessons.bytes_view import show_exchange
from labkit.lessons.curl import curl_command
from labkit.lessons.endpoints import may_stream
from labkit.lessons.json_view import json_table, pretty
from labkit.lessons.widget_base import STDERR_STYLE
from labkit.lessons.workers import Worker
from labkit.transport.errors import TransportError
from labkit.wire.errors import WireError
from labkit.wire.frames import STDERR, STDOUT, FrameDecoder
from labkit.wire.http import BodyPart, Head, Headers, ResponseParser, Upgraded
from labkit.wire.jsonlines import JsonLinesDecoder

MAX_KEPT = 1 << 20  # bytes of a reply kept for display; a stream followed for hours is cut
MAX_VALUES = 500  # JSON lines or output lines kept from a stream (the newest)
_STREAM_TYPES = ("application/vnd.docker.multiplexed-stream", "application/vnd.docker.raw-stream")
_FRAMED_PATH = re.compile(r"/containers/[^/]+/(logs|attach)$|/exec/[^/]+/start$")
_TOKEN = re.compile(r"[-!#$%&'*+.^_`|~0-9a-zA-Z]+")


class RequestError(ValueError):
    """The request cannot be sent as written; the message says what to change."""


@dataclass(frozen=True)
class Request:
    """What to send: method, path (``/images/json``), query parameters, a JSON body."""

    method: str
    path: str
    params: tuple[tuple[str, str], ...] = ()
    body: str = ""
    versioned: bool = True

    def checked(self) -> Request:
        """This request, tidied (method upper-case, blank parameters dropped), or RequestError."""
        method = self.method.strip().upper()
        if not _TOKEN.fullmatch(method):
            raise RequestError(
                f"{self.method!r} is not an HTTP method; use GET, POST, DELETE, HEAD or PUT"
            )
        path = self.path.strip()
        if not path.startswith("/"):
            raise RequestError(
                f"the path {path!r} must start with '/', e.g. /images/json (no host part: "
                "the socket already says where the engine is)"
            )
        if "?" in path:
            raise RequestError(
                "put query parameters in the parameter rows, not after '?' in the path"
            )
        if re.search(r"\{[a-z_]+\}", path):
            raise RequestError(
                f"the path {path} still has a placeholder in braces: put a container's name "
                "or id (or an image's name) in its place"
            )
        if any(c.isspace() for c in path):
            raise RequestError(f"the path {path!r} has a space in it; a path has none")
        params = []
        for name, value in self.params:
            name, value = name.strip(), value.strip()
            if not name and not value:
                continue
            if not _TOKEN.fullmatch(name):
                raise RequestError(f"{name!r} is not a parameter name (letters, digits, - or _)")
            if value:
                params.append((name, value))
        body = self.body.strip()
        if body:
            try:
                json.loads(body)
            except ValueError as exc:
                raise RequestError(
                    f"the body is not JSON ({exc}); write it like "
                    '{"Image": "busybox", "Cmd": ["echo", "hi"]}, double quotes only'
                ) from None
        return Request(method, path, tuple(params), body, self.versioned)

    def label(self) -> str:
        query = "&".join(f"{k}={v}" for k, v in self.params)
        return f"{self.method} {self.path}" + (f"?{query}" if query else "")


@dataclass
class Call:
    """A request as sent and its reply as received, filled in as the bytes arrive."""

    number: int
    request: Request
    target: str = ""  # as sent: /vX.Y/images/json?all=true
    curl: str = ""
    sent: bytes = b""
    streaming: bool = False  # the answer may go on for ever
    status: int | None = None
    reason: str = ""
    headers: Headers = field(default_factory=Headers)
    received_size: int = 0
    seconds: float | None = None
    error: str = ""
    stopped: bool = False  # the learner hung up
    done: bool = False
    # what the body holds, decided from the head: "json", "frames", "raw" or "text"
    kind: str = "text"

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._received = bytearray()  # the first MAX_KEPT bytes
        self._body = bytearray()  # decoded body (chunks joined), the first MAX_KEPT
        self._parser: ResponseParser | None = None
        self._lines: JsonLinesDecoder | None = None
        self._values: list[Any] = []
        self._values_seen = 0
        self._frames: FrameDecoder | None = None
        self._output: list[tuple[int, bytes]] = []
        self._started = 0.0
        self.pieces = 0

    # -- filled in while the reply arrives ------------------------------------------------

    def _begin(self, method: str) -> None:
        self._parser = ResponseParser(method)
        self._started = time.perf_counter()

    def _feed(self, data: bytes) -> None:
        with self._lock:
            self.pieces += 1
            self.received_size += len(data)
            room = MAX_KEPT - len(self._received)
            if room > 0:
                self._received += data[:room]
            if self._parser is None:
                return
            try:
                events = self._parser.feed(data)
            except WireError as exc:
                self.error = f"the reply is not valid HTTP: {exc}"
                self._parser = None
                return
            for event in events:
                self._event(event)

    def _event(self, event: object) -> None:
        if isinstance(event, (Head, Upgraded)):
            self.status, self.reason, self.headers = event.status, event.reason, event.headers
            self.kind = self._kind(isinstance(event, Upgraded))
            if isinstance(event, Upgraded):
                self._parser = None  # raw bytes from here: not HTTP
                if event.rest:
                    self._body_bytes(event.rest)
        elif isinstance(event, BodyPart):
            self._body_bytes(event.data)

    def _kind(self, upgraded: bool) -> str:
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype == _STREAM_TYPES[0] or (upgraded and not ctype):
            self._frames = FrameDecoder()
            return "frames"
        if ctype == _STREAM_TYPES[1]:
            return "raw"
        if not ctype and self.status == 200 and _FRAMED_PATH.search(self.target.split("?")[0]):
            self._frames = FrameDecoder()  # older engines send logs with no Content-Type
            return "frames"
        if "json" in ctype:
            self._lines = JsonLinesDecoder()
            return "json"
        return "text"

    def _body_bytes(self, data: bytes) -> None:
        room = MAX_KEPT - len(self._body)
        if room > 0:
            self._body += data[:room]
        if self._lines is not None:
            try:
                self._keep_values(self._lines.feed(data))
            except WireError:
                self._lines = None  # not one JSON value per line: a pretty-printed document
        if self._frames is not None:
            try:
                frames = self._frames.feed(data)
            except WireError:
                self._frames = None  # no frames after all (a TTY): show the bytes
                self.kind = "raw"
                self._output = [(STDOUT, bytes(self._body))]
            else:
                self._keep_output([(f.stream, f.data) for f in frames])
        elif self.kind == "raw":
            self._keep_output([(STDOUT, data)])

    def _keep_values(self, values: list[Any]) -> None:
        self._values_seen += len(values)
        self._values += values
        del self._values[:-MAX_VALUES]

    def _keep_output(self, pieces: list[tuple[int, bytes]]) -> None:
        self._output += pieces
        del self._output[:-MAX_VALUES]

    def _finish(self, error: str = "", stopped: bool = False) -> None:
        with self._lock:
            if self.done:
                return
            if self._lines is not None and not stopped and not error:
                try:
                    self._keep_values(self._lines.close())
                except WireError:
                    self._lines = None
            self.seconds = time.perf_counter() - self._started
            self.error = self.error or error
            self.stopped = stopped
            self.done = True

    # -- reading it -----------------------------------------------------------------------

    @property
    def received(self) -> bytes:
        """The reply's bytes exactly as they came (the first MiB of a long stream)."""
        with self._lock:
            return bytes(self._received)

    @property
    def body(self) -> bytes:
        """The reply's body, chunk-size lines removed (the first MiB)."""
        with self._lock:
            return bytes(self._body)

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def json(self) -> Any:
        """The body as JSON: one value, or a list of the values of a JSON-lines stream.

        None when the body is not JSON (or is empty).
        """
        with self._lock:
            body = bytes(self._body)
            values = list(self._values) if self._lines is not None else None
            count = self._values_seen
        if not body.strip():
            return None
        try:
            return json.loads(body)
        except ValueError:
            pass
        if values is not None and (count > 1 or self.streaming):
            return values
        if values is not None and count == 1:
            return values[0]
        return None

    def json_lines(self) -> list[Any]:
        """The JSON values of a stream so far (the newest 500), one per line."""
        with self._lock:
            return list(self._values)

    def output(self) -> list[tuple[int, bytes]]:
        """A container stream's pieces so far: (1 stdout or 2 stderr, bytes)."""
        with self._lock:
            return list(self._output)

    def status_line(self) -> str:
        """``200 OK · 3.1 ms · 1 234 bytes``, or what is happening."""
        if self.error and self.status is None:
            return f"failed: {self.error}"
        if self.status is None:
            return "sent; waiting for the answer…"
        parts = [f"{self.status} {self.reason}".strip()]
        if self.seconds is not None:
            parts.append(_duration(self.seconds))
        elif self._started:
            parts.append(f"{_duration(time.perf_counter() - self._started)} so far")
        parts.append(f"{self.received_size:,} bytes received".replace(",", " "))
        if not self.done and self.streaming:
            parts.append("streaming: Stop hangs up")
        if self.stopped:
            parts.append("stopped (you hung up)")
        elif self.error:
            parts.append(self.error)
        return " · ".join(parts)

    def summary(self) -> str:
        """One line for the history: ``#2 GET /images/json → 200 OK (3.1 ms)``."""
        answer = f"{self.status} {self.reason}".strip() if self.status else "no answer"
        took = f" ({_duration(self.seconds)})" if self.seconds is not None else ""
        if self.stopped:
            took += " stopped"
        return f"#{self.number} {self.request.label()} → {answer}{took}"

    def answer_text(self, view: str = "pretty") -> str:
        """The body for reading: pretty JSON, a table, a container's output, or text."""
        value = self.json()
        if self.kind == "json" and value is not None:
            return json_table(value).text() if view == "table" else pretty(value)
        if self.kind in ("frames", "raw"):
            names = {STDOUT: "stdout", STDERR: "stderr"}
            lines = [
                f"[{names.get(s, 'stream ' + str(s))}] {d.decode('utf-8', 'replace').rstrip()}"
                for s, d in self.output()
            ]
            return "\n".join(lines) or "(no output yet)"
        body = self.body
        return body.decode("utf-8", "replace") if body else "(no body)"

    def answer_html(self, view: str = "pretty") -> str:
        value = self.json()
        if self.kind == "json" and value is not None:
            if view == "table":
                return json_table(value)._repr_html_()
            return _pre(pretty(value))
        if self.kind in ("frames", "raw"):
            parts = []
            for stream, data in self.output():
                style = STDERR_STYLE if stream == STDERR else ""
                name = "stderr" if stream == STDERR else "stdout"
                text = html.escape(data.decode("utf-8", "replace"))
                parts.append(
                    f'<span class="labkit-{name}" title="{name}" style="{style}">{text}</span>'
                )
            legend = (
                f'<small>stdout as is, <span style="{STDERR_STYLE}">stderr marked</span>'
                "</small><br>"
            )
            return legend + _pre_raw("".join(parts) or "(no output yet)")
        return _pre(self.answer_text(view))

    def exchange(self, body_limit: int | None = 2048) -> Any:
        """The bytes sent and received, as :func:`~labkit.lessons.bytes_view.show_exchange`."""
        return show_exchange(self.sent, self.received, body_limit)

    def text(self) -> str:
        lines = [self.summary(), self.status_line(), "", self.exchange().text()]
        lines += ["", "as curl:", self.curl]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.text()

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(self.text())

    def _repr_html_(self) -> str:
        return (
            f"<b>{html.escape(self.summary())}</b><br>{html.escape(self.status_line())}"
            f"{self.exchange()._repr_html_()}<b>as curl</b>{_pre(self.curl)}"
        )


def _duration(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 10 else f"{seconds:.1f} s"


def _pre(text: str) -> str:
    return _pre_raw(html.escape(text))


def _pre_raw(markup: str) -> str:
    return (
        '<pre style="white-space:pre-wrap;word-break:break-all;margin:2px 0;'
        f'max-height:28em;overflow:auto">{markup}</pre>'
    )


class _Tap(Wiretap):
    """A wiretap that hands each piece to the call (which keeps a bounded copy)."""

    def __init__(self, call: Call) -> None:
        super().__init__()
        self._call = call

    def receive(self, data: bytes) -> None:
        self._call._feed(data)


def prepare(client: Client, request: Request, number: int = 1) -> Call:
    """A :class:`Call` for ``request``: checked, its target and curl line worked out."""
    request = request.checked()
    target = client.url_for(request.path, list(request.params), request.versioned)
    streaming = may_stream(request.method, request.path, dict(request.params))
    curl = curl_command(
        client.endpoint,
        request.method,
        target,
        body=request.body or None,
        stream=streaming,
    )
    return Call(number, request, target=target, curl=curl, streaming=streaming)


def perform(
    client: Client,
    call: Call,
    worker: Worker | None = None,
    on_piece: Callable[[], object] | None = None,
    timeout: float = 60.0,
) -> Call:
    """Send ``call``'s request and read the reply into it until it ends or is hung up.

    Run by ``worker``, the open stream is handed to it, so that :meth:`Worker.stop` from
    another thread hangs up (Stop). ``on_piece()`` is called as pieces arrive (to redraw).
    """
    request = call.request
    tap = _Tap(call)
    stream: Stream | None = None
    call._begin(request.method)
    headers = {"Content-Type": "application/json"} if request.body else None
    try:
        stream = client.stream(
            request.method,
            request.path,
            params=list(request.params),
            body=request.body or None,
            headers=headers,
            versioned=request.versioned,
            timeout=None if call.streaming else timeout,
            wiretap=tap,
        )
        call.sent = bytes(tap.sent)
        if worker is not None:
            worker.hold(stream)
        if on_piece is not None:
            on_piece()
        for _ in stream:
            if on_piece is not None:
                on_piece()
    except APIError:
        call.sent = bytes(tap.sent)
        call._finish()  # an answer all the same: its bytes are in the call
    except (TransportError, OSError) as exc:
        call.sent = call.sent or bytes(tap.sent)
        stopped = worker is not None and worker.stopping
        call._finish("" if stopped else str(exc), stopped=stopped)
    else:
        stopped = worker is not None and worker.stopping and not _complete(call)
        call._finish(stopped=stopped)
    finally:
        if stream is not None:
            stream.close()
    return call


def _complete(call: Call) -> bool:
    parser = call._parser
    return parser is not None and parser.done


def send(
    source: Any,
    method: str,
    path: str,
    params: dict[str, Any] | None = None,
    body: Any = None,
    versioned: bool = True,
    timeout: float = 60.0,
) -> Call:
    """Send one request and return the :class:`Call`, bytes and all (no widget needed).

    ``source`` is the lab, a Client or a URL; ``body`` a JSON string or a value to encode.
    A streaming answer (events without ``until``, logs with ``follow``) is read until the
    engine ends it, so give those an end (``until``) when calling without a widget.
    """
    from labkit.lessons.widget_base import client_for

    client = client_for(source)
    text = body if isinstance(body, str) or body is None else json.dumps(body)
    pairs = tuple((k, _param_text(v)) for k, v in (params or {}).items())
    call = prepare(client, Request(method, path, pairs, text or "", versioned))
    try:
        return perform(client, call, timeout=timeout)
    finally:
        client.close()


def _param_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return "" if value is None else str(value)


__all__ = ["Call", "Request", "RequestError", "perform", "prepare", "send"]

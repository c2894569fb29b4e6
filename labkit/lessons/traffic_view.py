"""Display helpers for recorded traffic (lesson 05 and ``labkit sniff``).

A :class:`~labkit.proxy.recorder.Transcript` holds every byte a client and the engine
exchanged. These helpers show it the way the lesson talks about it:

- :func:`exchanges_table`: one row per request and its response, arrows for direction,
  method and path, status, and a few words on each body (frames decoded);
- :func:`frames_table`: a container stream cut into its 8-byte-header frames;
- :func:`route`: ``/v1.XX/containers/f870…/start`` becomes ``/containers/{id}/start``, so
  that two recordings (the CLI's and the SDK's) can be compared: :func:`compare`;
- :func:`sequence_diagram`: a transcript as a mermaid sequence diagram;
- :func:`exchange_detail`: one exchange's bytes, request and response, and after a 101 the
  raw stream as its frames, stdout and stderr told apart (what the traffic widget shows
  when a row is clicked);
- :class:`TrafficPrinter`: the ``socat -v`` style dump ``labkit sniff`` prints, chunk by
  chunk as the bytes cross, CR shown as ``\\r``, frames decoded.
"""

from __future__ import annotations

import difflib
import html
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, TextIO

from labkit.lessons.bytes_view import Table, show_bytes, visible
from labkit.proxy.recorder import ARROWS, CLIENT, Chunk, Exchange, Transcript
from labkit.wire.errors import WireError
from labkit.wire.frames import STREAM_NAMES, Frame, FrameDecoder

SIDES = {CLIENT: "client → engine", "engine": "engine → client"}

# Path segments after these words are ids or names, except for the fixed words below.
_ID_AFTER = {"containers", "exec", "networks", "volumes", "plugins", "secrets", "configs"}
_FIXED = {"json", "create", "prune", "search", "load", "get", "events"}
_IMAGE_ACTIONS = {"json", "history", "push", "tag", "get"}


# --------------------------------------------------------------------------- short texts


def clip(text: str, limit: int = 60) -> str:
    """``text`` cut to ``limit`` characters, with ``…`` when something was cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def route(exchange: Exchange) -> str:
    """The endpoint with ids and names replaced: ``/containers/{id}/wait``."""
    parts = exchange.endpoint.split("/")
    if len(parts) > 2 and parts[1] == "images" and parts[2] not in _FIXED:
        action = parts[-1] if len(parts) > 3 and parts[-1] in _IMAGE_ACTIONS else None
        return "/images/{name}" + (f"/{action}" if action else "")
    if len(parts) > 2 and parts[1] in _ID_AFTER and parts[2] not in _FIXED:
        parts[2] = "{id}"
    return "/".join(parts)


def step(exchange: Exchange, query: bool = False) -> str:
    """``POST /containers/{id}/wait`` (``query=True`` adds the query, long values cut)."""
    text = f"{exchange.method} {route(exchange)}"
    if query and exchange.query:
        pairs = [(k, clip(v, 24)) for k, values in exchange.query.items() for v in values]
        text += "?" + "&".join(f"{k}={v}" for k, v in pairs)
    return text


def status_text(exchange: Exchange) -> str:
    """``201 Created``, or why there is no status."""
    if exchange.status is None:
        return "(no answer)"
    return f"{exchange.status} {exchange.reason}".strip()


def frames_summary(frames: Sequence[Frame], limit: int = 24) -> str:
    """``stdout 'hi\\n' + stderr 'err\\n'``: what each frame carried."""
    if not frames:
        return "no frames"
    parts = [f"{f.stream_name} '{clip(visible(f.data), limit)}'" for f in frames[:4]]
    more = f" + {len(frames) - 4} more frames" if len(frames) > 4 else ""
    return " + ".join(parts) + more


def json_summary(value: Any, limit: int = 60) -> str:
    """A JSON value in a few words: ``{Id, Warnings}`` or ``list of 3 objects``."""
    if isinstance(value, dict):
        keys = list(value)
        shown = ", ".join(keys[:5]) + (", …" if len(keys) > 5 else "")
        return f"{{{shown}}}"
    if isinstance(value, list):
        kinds = {type(item).__name__ for item in value}
        what = "objects" if kinds == {"dict"} else "values"
        return f"list of {len(value)} {what}" if value else "empty list"
    return clip(json.dumps(value), limit)


def body_summary(body: bytes, content_type: str = "", limit: int = 60) -> str:
    """A body in a few words: JSON's shape, a count of JSON lines, or the start of text."""
    if not body:
        return ""
    text = body.decode("utf-8", "replace")
    if "json" in content_type or text.lstrip()[:1] in ("{", "["):
        try:
            return json_summary(json.loads(body), limit)
        except ValueError:
            lines = [line for line in body.splitlines() if line.strip()]
            if len(lines) > 1:
                return f"{len(lines)} JSON lines"
    return f"{len(body)} bytes: {clip(visible(body), limit)}"


def response_summary(exchange: Exchange, limit: int = 60) -> str:
    """What came back, in a few words: a JSON shape, frames decoded, or the raw start."""
    if exchange.upgraded:
        frames = exchange.frames
        if frames is not None:
            return "raw stream: " + frames_summary(frames)
        return f"raw stream: {len(exchange.stream_out)} bytes (not framed: a TTY?)"
    frames = exchange.frames
    if frames is not None:
        return frames_summary(frames)
    return body_summary(exchange.response_body, exchange.content_type, limit)


def request_summary(exchange: Exchange, limit: int = 60) -> str:
    """What the client sent besides the request line: its body, in a few words."""
    content_type = (exchange.request_headers.get("Content-Type") or "").lower()
    return body_summary(exchange.request_body, content_type, limit)


# --------------------------------------------------------------------------- tables


def exchanges_table(
    exchanges: Transcript | Iterable[Exchange], full_paths: bool = False, times: bool = True
) -> Table:
    """One row per exchange: ``#``, connection, time, request, status, both bodies.

    ``#`` counts the rows and ``conn`` the connections in the order they appear here, so
    that a table reads the same whatever the recorder saw before. ``full_paths`` shows the
    target as sent (version prefix, ids); by default it shows the :func:`route`, which
    reads better and stays the same from run to run.
    """
    rows = []
    connections: dict[int, int] = {}
    for position, e in enumerate(exchanges, start=1):
        conn = connections.setdefault(e.connection, len(connections) + 1)
        target = e.target if full_paths else step(e, query=True).split(" ", 1)[1]
        row: list[object] = [position, conn]
        if times:
            row.append(f"{e.started * 1000:.1f}")
        row += [
            f"{ARROWS[CLIENT]} {e.method} {target}",
            request_summary(e),
            f"{ARROWS['engine']} {status_text(e)}",
            response_summary(e),
        ]
        rows.append(row)
    columns = ["#", "conn"] + (["at ms"] if times else [])
    columns += ["request", "sent", "response", "received"]
    return Table(columns, rows)


def frames_table(source: Exchange | bytes, preview: int = 40) -> Table:
    """A container stream frame by frame: the 8 header bytes, the stream, the payload."""
    data = source.container_stream if isinstance(source, Exchange) else source
    rows = []
    offset = 0
    decoder = FrameDecoder()
    try:
        frames = decoder.feed(data or b"")
    except WireError as exc:
        raise ValueError(f"this stream is not framed: {exc}") from None
    for frame in frames:
        header = (data or b"")[offset : offset + 8]
        rows.append(
            (
                offset,
                header.hex(" "),
                f"{frame.stream} = {STREAM_NAMES[frame.stream]}",
                len(frame.data),
                clip(visible(frame.data), preview),
            )
        )
        offset += 8 + len(frame.data)
    return Table(["at byte", "header (hex)", "stream", "length", "payload"], rows)


def chunks_table(transcript: Transcript, preview: int = 48) -> Table:
    """Every piece of bytes as it crossed the proxy, in time order."""
    rows = []
    for chunk in transcript.chunks:
        kind = "raw stream" if chunk.stream else "HTTP"
        first = chunk.data.split(b"\n", 1)[0]
        rows.append(
            (
                f"{chunk.time * 1000:.1f}",
                chunk.connection,
                f"{chunk.arrow} {SIDES[chunk.sender]}",
                len(chunk.data),
                kind,
                clip(visible(first), preview),
            )
        )
    return Table(["at ms", "conn", "direction", "bytes", "kind", "starts with"], rows)


def compare(recordings: dict[str, Transcript | Iterable[Exchange]], query: bool = False) -> Table:
    """Two recordings of the same task side by side, one row per step.

    Steps are lined up by :func:`step` (method and route), the way ``diff`` lines up text,
    so that a request only one client makes gets a row with a blank on the other side.
    """
    if len(recordings) != 2:
        raise ValueError(f"compare() takes two recordings, e.g. CLI and SDK, not {len(recordings)}")
    (name_a, a), (name_b, b) = ((n, list(r)) for n, r in recordings.items())
    keys_a = [step(e, query) for e in a]
    keys_b = [step(e, query) for e in b]
    rows: list[tuple[object, str, str]] = []

    def cell(e: Exchange | None) -> str:
        return "" if e is None else f"{step(e, query)} → {e.status if e.status else '?'}"

    matcher = difflib.SequenceMatcher(a=keys_a, b=keys_b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            pairs = list(zip(a[i1:i2], b[j1:j2], strict=True))
        else:  # a step only one of them takes: a row of its own, blank on the other side
            pairs = [(x, None) for x in a[i1:i2]] + [(None, y) for y in b[j1:j2]]
        for x, y in pairs:
            rows.append((len(rows) + 1, cell(x), cell(y)))
    return Table(["step", name_a, name_b], rows)


# --------------------------------------------------------------------------- one exchange

_STREAM_STYLES = {1: "", 2: "background-color:rgba(244,67,54,0.18)", 3: "color:#c62828"}


def row_text(exchange: Exchange, position: int | None = None) -> str:
    """One exchange in a line: ``#3 → POST /containers/{id}/start ← 204 No Content``."""
    number = exchange.number if position is None else position
    text = f"#{number:<3} → {step(exchange, query=True)}  ← {status_text(exchange)}"
    what = response_summary(exchange, 40)
    return text + (f"  ({what})" if what else "")


def stream_frames_html(exchange: Exchange, limit: int = 200) -> str:
    """A container stream as its frames: header bytes, stream, payload; stderr marked."""
    data = exchange.container_stream or b""
    frames = exchange.frames
    if frames is None:
        return (
            "<p>not framed (a container with a TTY sends its output raw, both streams mixed):"
            f'</p><pre style="white-space:pre-wrap">{html.escape(visible(data[:4096]))}</pre>'
        )
    rows = []
    offset = 0
    for frame in frames[:limit]:
        header = data[offset : offset + 8].hex(" ")
        style = _STREAM_STYLES.get(frame.stream, "")
        rows.append(
            f'<tr class="labkit-frame-{frame.stream_name}" style="{style}">'
            f"<td>{offset}</td><td><code>{header}</code></td><td>{frame.stream_name}</td>"
            f"<td>{len(frame.data)}</td><td><code>{html.escape(visible(frame.data[:200]))}"
            "</code></td></tr>"
        )
        offset += 8 + len(frame.data)
    more = f"<p>… and {len(frames) - limit} more frames</p>" if len(frames) > limit else ""
    head = "".join(
        f'<th style="text-align:left">{c}</th>'
        for c in ("at byte", "header (hex)", "stream", "length", "payload")
    )
    return (
        f'<div style="overflow-x:auto"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>{more}"
    )


def exchange_detail_text(exchange: Exchange, body_limit: int = 2048) -> str:
    """One exchange's bytes as text: request, response, and a raw stream's frames."""
    parts = [
        row_text(exchange),
        show_bytes(exchange.raw_request, "→ the request, as sent", body_limit).text(),
        show_bytes(exchange.raw_response, "← the response, as received", body_limit).text(),
    ]
    if exchange.upgraded:
        parts.append(f"→ into the raw stream (stdin): {socat_text(exchange.stream_in, 512)!s}")
        frames = exchange.frames
        if frames is None:
            parts.append("← raw stream, not framed: " + socat_text(exchange.stream_out, 512))
        else:
            parts.append(frames_table(exchange).text())
    return "\n\n".join(parts)


def exchange_detail(exchange: Exchange, body_limit: int = 2048) -> str:
    """One exchange's bytes as HTML: request and response highlighted, frames told apart."""
    parts = [
        f"<b>{html.escape(row_text(exchange))}</b>",
        show_bytes(exchange.raw_request, "→ the request, as sent", body_limit)._repr_html_(),
        show_bytes(exchange.raw_response, "← the response, as received", body_limit)._repr_html_(),
    ]
    if exchange.upgraded:
        parts.append(
            "<p><b>After the 101</b> the connection is no longer HTTP: a raw stream each way.</p>"
        )
        stdin = exchange.stream_in
        parts.append(
            f"<p>→ the client sent {len(stdin)} bytes into it (the container's stdin)"
            + (f": <code>{html.escape(visible(stdin[:200]))}</code>" if stdin else "")
            + "</p>"
        )
        parts.append("<p>← the engine sent the container's output:</p>")
        parts.append(stream_frames_html(exchange))
    elif exchange.frames is not None:
        parts.append("<p>The body is a container stream, frame by frame:</p>")
        parts.append(stream_frames_html(exchange))
    if exchange.problem:
        parts.append(f"<p><i>{html.escape(exchange.problem)}</i></p>")
    return "".join(parts)


# --------------------------------------------------------------------------- a diagram


class Mermaid:
    """A mermaid diagram: drawn by JupyterLab from Markdown, its source as plain text."""

    def __init__(self, source: str) -> None:
        self.source = source

    def __str__(self) -> str:
        return self.source

    def __repr__(self) -> str:
        return self.source

    def _repr_markdown_(self) -> str:
        return f"```mermaid\n{self.source}\n```"


def sequence_diagram(
    exchanges: Transcript | Iterable[Exchange], client: str = "client", engine: str = "engine"
) -> Mermaid:
    """The exchanges as a mermaid sequence diagram, one arrow each way per exchange."""
    lines = ["sequenceDiagram", f"    participant C as {client}", f"    participant E as {engine}"]
    for e in exchanges:
        lines.append(f"    C->>E: {_mermaid_text(step(e))}")
        lines.append(f"    E-->>C: {_mermaid_text(status_text(e))}")
        if e.upgraded:
            out, err = e.output()
            note = f"raw stream: {len(out)} bytes of stdout, {len(err)} of stderr"
            lines.append(f"    Note over C,E: {note}")
    return Mermaid("\n".join(lines))


def _mermaid_text(text: str) -> str:
    # ";" and "#" mean something to mermaid; braces are fine in message text.
    return text.replace(";", ",").replace("#", "no.")


# --------------------------------------------------------------------------- socat -v


def socat_text(data: bytes, limit: int | None = 2048) -> str:
    """Bytes the way ``socat -v`` prints them: text lines, each CR shown as ``\\r``."""
    hidden = 0
    if limit is not None and len(data) > limit:
        data, hidden = data[:limit], len(data) - limit
    lines = [visible(line.rstrip(b"\n")) for line in data.splitlines(keepends=True)]
    text = "\n".join(lines)
    return text + (f"… ({hidden} more bytes)" if hidden else "")


def clock(started_at: float, seconds: float) -> str:
    """Wall-clock time of a moment ``seconds`` after ``started_at``: ``09:00:01.234567``."""
    return datetime.fromtimestamp(started_at + seconds).strftime("%H:%M:%S.%f")


class TrafficPrinter:
    """Writes traffic as it crosses the proxy, like ``socat -v``, but reading the HTTP.

    Each chunk gets a heading (``>`` client to engine, ``<`` engine to client, the time,
    the connection, the length) and its bytes as text; after a 101 the engine's frames are
    decoded (``[stdout] hi``). Each exchange, once over, gets a one-line summary.
    ``summary_only`` prints only those lines.
    """

    def __init__(
        self,
        started_at: float,
        write: Callable[[str], Any] | None = None,
        body_limit: int | None = 2048,
        summary_only: bool = False,
        out: TextIO | None = None,
    ) -> None:
        self.started_at = started_at
        self.body_limit = body_limit
        self.summary_only = summary_only
        stream = out or sys.stdout
        self._write = write or (lambda text: (stream.write(text + "\n"), stream.flush()))
        self._decoders: dict[int, FrameDecoder | None] = {}

    def chunk(self, chunk: Chunk) -> None:
        if self.summary_only:
            return
        mark = ">" if chunk.sender == CLIENT else "<"
        kind = "  raw stream" if chunk.stream else ""
        heading = (
            f"{mark} {clock(self.started_at, chunk.time)}  conn {chunk.connection}  "
            f"length={len(chunk.data)}  {SIDES[chunk.sender]}{kind}"
        )
        self._write(heading)
        self._write(self._body(chunk))

    def _body(self, chunk: Chunk) -> str:
        if not (chunk.stream and chunk.sender != CLIENT):
            return socat_text(chunk.data, self.body_limit)
        decoder = self._decoders.setdefault(chunk.connection, FrameDecoder())
        if decoder is not None:
            try:
                frames = decoder.feed(chunk.data)
            except WireError:
                self._decoders[chunk.connection] = None  # not framed (a TTY): show it raw
            else:
                lines = [f"[{f.stream_name}] {socat_text(f.data, self.body_limit)}" for f in frames]
                if decoder.pending:
                    lines.append(f"({decoder.pending} bytes of a frame still to come)")
                return "\n".join(lines)
        return socat_text(chunk.data, self.body_limit)

    def exchange(self, exchange: Exchange) -> None:
        took = f"  {exchange.duration * 1000:.1f} ms" if exchange.duration is not None else ""
        line = f"= #{exchange.number} conn {exchange.connection}  {exchange.method} "
        line += f"{exchange.target}  {ARROWS['engine']} {status_text(exchange)}"
        what = response_summary(exchange)
        line += f"  ({what})" if what else ""
        line += took
        if exchange.problem:
            line += f"  [{exchange.problem}]"
        self._write(line)

    def problem(self, message: str) -> None:
        self._write(f"! {message}")


__all__ = [
    "Mermaid",
    "TrafficPrinter",
    "body_summary",
    "chunks_table",
    "clip",
    "compare",
    "exchange_detail",
    "exchange_detail_text",
    "exchanges_table",
    "frames_summary",
    "frames_table",
    "json_summary",
    "request_summary",
    "response_summary",
    "route",
    "row_text",
    "sequence_diagram",
    "socat_text",
    "status_text",
    "step",
    "stream_frames_html",
]

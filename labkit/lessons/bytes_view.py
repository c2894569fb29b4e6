"""Display helpers for lessons 02 and 03: HTTP bytes a learner can actually read.

A reply from the engine is a run of bytes; printed as a Python ``bytes`` literal it is
one long line of ``\\r\\n`` escapes. These helpers show the same bytes the way the lesson
talks about them: line by line, CR and LF made visible, and each part (start line, header
names and values, the blank line, chunk-size lines, body) in its own colour, with a
plain-text rendering too, so that ``print()`` and a terminal show the same thing.

- :func:`show_bytes`: one or more HTTP messages (requests or responses), highlighted;
- :func:`show_exchange`: what was sent and what came back, one above the other;
- :func:`headers_table`: headers as a table, with what the usual ones mean;
- :func:`chunks_table`: a chunked body cut into its chunks, sizes in hex and decimal;
- :class:`Table`: a small table (HTML in JupyterLab, aligned text elsewhere);
- :func:`details`: a one-line summary that opens onto the full value (no walls of JSON);
- :func:`unix_timestamp`: an engine's RFC 3339 time as the ``seconds.nanoseconds`` the
  Engine API's ``since``/``until`` parameters take.

The segmenter here is deliberately forgiving and separate from :mod:`labkit.wire`: it is
for looking at bytes, broken ones included, never for deciding what they mean.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

# --------------------------------------------------------------------------- segments

# Kinds of segment. Line endings get their own kind so that they, the thing a newcomer
# never sees in a bytes literal, stand out.
START = "start"  # request line or status line, without its line ending
NAME = "name"  # a header's name
VALUE = "value"  # ":" and the header's value
EOL = "eol"  # a line ending: CR LF (or a bare LF)
CHUNK_SIZE = "chunk-size"  # "a1" in "a1\r\n": the size of the next chunk, in hex
BODY = "body"  # body bytes (Content-Length, close-delimited, or a chunk's data)
RAW = "raw"  # bytes that do not fit the message's framing

_COLOURS = {
    START: "rgba(66, 133, 244, 0.22)",
    NAME: "rgba(156, 39, 176, 0.20)",
    VALUE: "rgba(156, 39, 176, 0.07)",
    EOL: "rgba(128, 128, 128, 0.28)",
    CHUNK_SIZE: "rgba(255, 152, 0, 0.40)",
    BODY: "rgba(76, 175, 80, 0.20)",
    RAW: "rgba(244, 67, 54, 0.20)",
}
_LEGEND = (
    (START, "start line"),
    (NAME, "header name"),
    (VALUE, "header value"),
    (EOL, "CR LF"),
    (CHUNK_SIZE, "chunk size (hex)"),
    (BODY, "body"),
)

_NO_BODY_STATUSES = {204, 304}
_STATUS_RE = re.compile(rb"HTTP/\d\.\d (\d{3})")
_CHUNK_SIZE_RE = re.compile(rb"([0-9A-Fa-f]+)[ \t]*(;[^\r\n]*)?")


@dataclass(frozen=True)
class Segment:
    """A labelled run of bytes; ``note`` is a hint shown on hover (e.g. a chunk's size)."""

    kind: str
    data: bytes
    note: str = ""


def _line_end(data: bytes, pos: int) -> tuple[int, int]:
    """(end of the line's text, end of its line ending) for the line that starts at ``pos``.

    Both are ``len(data)`` when the line has no ending yet.
    """
    lf = data.find(b"\n", pos)
    if lf < 0:
        return len(data), len(data)
    text_end = lf - 1 if lf > pos and data[lf - 1] == 0x0D else lf
    return text_end, lf + 1


def _header_line(line: bytes) -> tuple[list[Segment], tuple[str, str] | None]:
    name, colon, value = line.partition(b":")
    if not colon:
        return [Segment(RAW, line, "not a header line: it has no colon")], None
    pair = (name.decode("latin-1"), value.strip().decode("latin-1"))
    return [Segment(NAME, name), Segment(VALUE, colon + value)], pair


def _head(data: bytes, pos: int) -> tuple[list[Segment], list[tuple[str, str]], int, bool]:
    """Segments of the head at ``pos``, its headers, where it ends, and whether it is whole."""
    segments: list[Segment] = []
    headers: list[tuple[str, str]] = []
    first = True
    while pos < len(data):
        text_end, line_end = _line_end(data, pos)
        line = data[pos:text_end]
        if first:
            segments.append(Segment(START, line))
            first = False
        elif line:
            parts, pair = _header_line(line)
            segments += parts
            if pair:
                headers.append(pair)
        if line_end > text_end:
            segments.append(Segment(EOL, data[text_end:line_end]))
        pos = line_end
        if not line and not first and line_end > text_end:
            return segments, headers, pos, True  # the blank line: the head is complete
    return segments, headers, pos, False


def _header(headers: list[tuple[str, str]], name: str) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


def _chunk_note(size_text: bytes, size: int) -> str:
    if size == 0:
        return "0: the last chunk; the body ends here"
    return f"0x{size_text.decode('ascii')} = {size} bytes of data follow"


def _trailers(data: bytes, pos: int) -> tuple[list[Segment], int]:
    """After the last chunk: trailer lines, if any, then the blank line ending the message."""
    segments: list[Segment] = []
    while pos < len(data):
        text_end, line_end = _line_end(data, pos)
        if text_end > pos:
            segments += _header_line(data[pos:text_end])[0]
        if line_end > text_end:
            segments.append(Segment(EOL, data[text_end:line_end]))
        blank = text_end == pos
        pos = line_end
        if blank:
            break
    return segments, pos


def _chunked(data: bytes, pos: int) -> tuple[list[Segment], int]:
    """Segments of a chunked body starting at ``pos``, and where the body ends."""
    segments: list[Segment] = []
    while pos < len(data):
        text_end, line_end = _line_end(data, pos)
        match = _CHUNK_SIZE_RE.fullmatch(data[pos:text_end])
        if match is None or line_end == text_end:
            segments.append(Segment(RAW, data[pos:], "expected a chunk-size line here"))
            return segments, len(data)
        size = int(match.group(1), 16)
        segments.append(Segment(CHUNK_SIZE, data[pos:text_end], _chunk_note(match.group(1), size)))
        segments.append(Segment(EOL, data[text_end:line_end]))
        pos = line_end
        if size == 0:
            more, pos = _trailers(data, pos)
            return segments + more, pos
        chunk = data[pos : pos + size]
        segments.append(Segment(BODY, chunk, f"chunk data: {len(chunk)} of {size} bytes"))
        pos += len(chunk)
        if pos >= len(data):
            break
        if data[pos : pos + 2] == b"\r\n":
            segments.append(Segment(EOL, b"\r\n"))
            pos += 2
        elif data[pos : pos + 1] == b"\n":
            segments.append(Segment(EOL, b"\n"))
            pos += 1
        else:
            segments.append(Segment(RAW, data[pos:], "the chunk is longer than its size said"))
            return segments, len(data)
    return segments, pos


def _has_body(start: bytes, headers: list[tuple[str, str]]) -> str:
    """How the body after this head is framed: chunked, length, close, or none."""
    encoding = _header(headers, "transfer-encoding")
    if encoding is not None and "chunked" in encoding.lower():
        return "chunked"
    if _header(headers, "content-length") is not None:
        return "length"
    status = _STATUS_RE.match(start)
    if status is None:
        return "none"  # a request without Content-Length has no body
    code = int(status.group(1))
    if code < 200 or code in _NO_BODY_STATUSES:
        return "none"
    return "close"  # a response body that ends when the connection closes


def segment(data: bytes) -> list[Segment]:
    """Cut ``data`` (one or more HTTP messages, back to back) into labelled segments."""
    segments: list[Segment] = []
    pos = 0
    while pos < len(data):
        head, headers, pos, whole = _head(data, pos)
        segments += head
        if not whole:
            break
        framing = _has_body(head[0].data, headers)
        if framing == "chunked":
            body, pos = _chunked(data, pos)
            segments += body
        elif framing == "length":
            declared = _header(headers, "content-length") or ""
            length = int(declared) if declared.isdigit() else len(data) - pos
            note = f"Content-Length: {declared} bytes"
            if data[pos : pos + length]:
                segments.append(Segment(BODY, data[pos : pos + length], note))
            pos += length
        elif framing == "close":
            note = "no length given: the body runs until the server closes the connection"
            if data[pos:]:
                segments.append(Segment(BODY, data[pos:], note))
            pos = len(data)
        if head[0].data.startswith(b"HTTP/1.1 101"):
            if data[pos:]:
                segments.append(Segment(RAW, data[pos:], "after 101: a raw stream, not HTTP"))
            break
    return segments


# --------------------------------------------------------------------------- visible bytes


def visible(data: bytes) -> str:
    """Bytes as text with nothing hidden: CR is ``\\r``, LF is ``\\n``, others ``\\xNN``."""
    out = []
    for byte in data:
        if byte == 0x0D:
            out.append("\\r")
        elif byte == 0x0A:
            out.append("\\n")
        elif byte == 0x09:
            out.append("\\t")
        elif byte == 0x5C:
            out.append("\\\\")
        elif 0x20 <= byte < 0x7F:
            out.append(chr(byte))
        else:
            out.append(f"\\x{byte:02x}")
    return "".join(out)


def _clip(data: bytes, limit: int | None) -> tuple[bytes, int]:
    if limit is None or len(data) <= limit:
        return data, 0
    return data[:limit], len(data) - limit


def _span(kind: str, text: str, note: str = "") -> str:
    title = f' title="{html.escape(note)}"' if note else ""
    return (
        f'<span style="background-color:{_COLOURS[kind]};border-radius:2px"{title}>'
        f"{html.escape(text)}</span>"
    )


def _more(hidden: int) -> str:
    return f" … ({hidden} more bytes)"


class WireView:
    """Bytes shown as HTTP: highlighted HTML in JupyterLab, visible escapes as text.

    ``body_limit`` clips each body (or chunk) to that many bytes, saying how many more
    there are; the bytes themselves stay whole in ``.data``.
    """

    def __init__(self, data: bytes, title: str = "", body_limit: int | None = 240) -> None:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"show_bytes wants bytes, not {type(data).__name__}")
        self.data = bytes(data)
        self.title = title
        self.body_limit = body_limit
        self.segments = segment(self.data)

    def _pieces(self) -> Iterable[tuple[Segment, str, int]]:
        """Each segment with its visible text (clipped if it is a body) and bytes hidden."""
        for seg in self.segments:
            data, hidden = _clip(seg.data, self.body_limit if seg.kind == BODY else None)
            yield seg, visible(data), hidden

    def text(self) -> str:
        """One line of output per line of the message, endings shown as ``\\r\\n``."""
        lines = [self.title] if self.title else []
        current = ""
        for seg, shown, hidden in self._pieces():
            current += shown + (_more(hidden) if hidden else "")
            if seg.kind == EOL:
                lines.append(current)
                current = ""
        if current:
            lines.append(current)
        if not self.data:
            lines.append("(no bytes)")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.text()

    def __repr__(self) -> str:
        return f"WireView({len(self.data)} bytes)"

    def _repr_pretty_(self, printer, cycle: bool) -> None:  # IPython's text/plain
        printer.text(self.text())

    def _repr_html_(self) -> str:
        parts = []
        for seg, shown, hidden in self._pieces():
            parts.append(_span(seg.kind, shown, seg.note))
            if hidden:
                parts.append(f"<i>{html.escape(_more(hidden))}</i>")
            if seg.kind == EOL:
                parts.append("\n")
        if not self.data:
            parts.append("<i>(no bytes)</i>")
        title = f"<b>{html.escape(self.title)}</b><br>" if self.title else ""
        return (
            f"<div>{title}{_legend(self.segments)}"
            f'<pre style="white-space:pre-wrap;word-break:break-all;margin:4px 0">'
            f"{''.join(parts)}</pre></div>"
        )


def _legend(segments: Sequence[Segment]) -> str:
    used = {seg.kind for seg in segments}
    chips = [_span(kind, label) for kind, label in _LEGEND if kind in used]
    if RAW in used:
        chips.append(_span(RAW, "does not fit the framing"))
    return f"<small>{' '.join(chips)}</small>" if chips else ""


def show_bytes(data: bytes, title: str = "", body_limit: int | None = 240) -> WireView:
    """HTTP bytes made readable: each line on its own, CR LF visible, parts in colour."""
    return WireView(data, title, body_limit)


class Exchange:
    """A request and the reply to it, shown one above the other."""

    def __init__(self, sent: bytes, received: bytes, body_limit: int | None = 240) -> None:
        self.sent = WireView(sent, f"→ sent ({len(sent)} bytes)", body_limit)
        self.received = WireView(received, f"← received ({len(received)} bytes)", body_limit)

    def text(self) -> str:
        return f"{self.sent.text()}\n\n{self.received.text()}"

    def __str__(self) -> str:
        return self.text()

    def __repr__(self) -> str:
        return f"Exchange({len(self.sent.data)} bytes sent, {len(self.received.data)} received)"

    def _repr_pretty_(self, printer, cycle: bool) -> None:
        printer.text(self.text())

    def _repr_html_(self) -> str:
        return self.sent._repr_html_() + self.received._repr_html_()


def show_exchange(sent: bytes, received: bytes, body_limit: int | None = 240) -> Exchange:
    """What went out on the socket and what came back, both made readable."""
    return Exchange(sent, received, body_limit)


# --------------------------------------------------------------------------- tables


class Table:
    """Rows under column names: an HTML table in JupyterLab, aligned text elsewhere."""

    def __init__(
        self, columns: Sequence[str], rows: Iterable[Sequence[object]], caption: str = ""
    ) -> None:
        self.columns = [str(c) for c in columns]
        self.rows = [["" if cell is None else str(cell) for cell in row] for row in rows]
        for row in self.rows:
            if len(row) != len(self.columns):
                raise ValueError(
                    f"a row has {len(row)} cells but the table has {len(self.columns)} "
                    f"columns ({', '.join(self.columns)}): {row!r}"
                )
        self.caption = caption

    def text(self) -> str:
        widths = [len(c) for c in self.columns]
        for row in self.rows:
            widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]

        def line(cells: Sequence[str]) -> str:
            return "  ".join(cell.ljust(w) for cell, w in zip(cells, widths, strict=True)).rstrip()

        out = [self.caption] if self.caption else []
        out += [line(self.columns), line(["-" * w for w in widths])]
        out += [line(row) for row in self.rows]
        return "\n".join(out)

    def __str__(self) -> str:
        return self.text()

    def __repr__(self) -> str:
        return f"Table({len(self.rows)} rows: {', '.join(self.columns)})"

    def _repr_pretty_(self, printer, cycle: bool) -> None:
        printer.text(self.text())

    def _repr_html_(self) -> str:
        def cells(tag: str, values: Sequence[str]) -> str:
            # Long tokens (paths, ids) may break anywhere, so a table fits a narrow window.
            style = ' style="text-align:left;overflow-wrap:anywhere"'
            return "".join(f"<{tag}{style}>{html.escape(v)}</{tag}>" for v in values)

        caption = f"<caption>{html.escape(self.caption)}</caption>" if self.caption else ""
        body = "".join(f"<tr>{cells('td', row)}</tr>" for row in self.rows)
        return (
            f"<table>{caption}<thead><tr>{cells('th', self.columns)}</tr></thead>"
            f"<tbody>{body}</tbody></table>"
        )


# What the headers the engine (and its clients) send are for, in a few words each.
HEADER_MEANINGS = {
    "api-version": "the newest Engine API version this engine speaks",
    "cache-control": "do not cache this answer (a ping must really reach the engine)",
    "pragma": "the HTTP/1.0 way of saying the same: no caching",
    "connection": "keep-alive, close, or upgrade: what happens to the connection next",
    "content-length": "how many body bytes follow the blank line",
    "content-type": "what kind of data the body is",
    "date": "when the server sent the reply",
    "docker-experimental": "whether the engine's experimental features are on",
    "ostype": "the operating system containers run on: linux or windows",
    "server": "the program that answered, and its version",
    "transfer-encoding": "chunked: the body comes in pieces, each preceded by its size",
    "host": "which server the request is for (required in HTTP/1.1, even on a Unix socket)",
    "user-agent": "the program that sent the request",
    "accept": "the kinds of body the client can read",
    "upgrade": "the protocol the client wants to switch to",
    "builder-version": "the default image builder: 1 (classic) or 2 (BuildKit)",
    "swarm": "the node's Swarm state, so the CLI can adapt without another request",
    "x-content-type-options": "nosniff: browsers must not guess another content type",
    "libpod-api-version": "Podman's own API version (Podman answers Docker's API too)",
}


def headers_table(headers: Iterable[tuple[str, str]], meanings: bool = True) -> Table:
    """Header lines as a table (in order, repeats kept), with a word on the usual ones."""
    pairs = list(headers)
    if meanings:
        rows = [(n, v, HEADER_MEANINGS.get(n.lower(), "")) for n, v in pairs]
        return Table(["header", "value", "what it is for"], rows)
    return Table(["header", "value"], pairs)


@dataclass(frozen=True)
class Chunk:
    """One chunk of a chunked body: where its size line starts, the line, its data."""

    offset: int
    size_line: bytes
    size: int
    data: bytes


def split_chunks(body: bytes) -> list[Chunk]:
    """Cut a chunked body (the bytes after the head) into its chunks, the last (0) included.

    Raises ValueError, naming the offset, where a size line is not hexadecimal.
    """
    chunks: list[Chunk] = []
    pos = 0
    while pos < len(body):
        text_end, line_end = _line_end(body, pos)
        match = _CHUNK_SIZE_RE.fullmatch(body[pos:text_end])
        if match is None:
            raise ValueError(
                f"bad chunk-size line {body[pos:line_end]!r} at byte {pos}: a chunk starts "
                "with its size in hexadecimal, then CR LF"
            )
        size = int(match.group(1), 16)
        data = body[line_end : line_end + size]
        chunks.append(Chunk(pos, body[pos:line_end], size, data))
        if size == 0:
            break
        pos = line_end + size + 2  # the data, then its CR LF
    return chunks


def chunks_table(body: bytes, preview: int = 48) -> Table:
    """A chunked body as a table: each size line, its value in decimal, the data's start."""
    rows = []
    for chunk in split_chunks(body):
        start, hidden = _clip(chunk.data, preview)
        shown = visible(start) + ("…" if hidden else "")
        rows.append((chunk.offset, visible(chunk.size_line), chunk.size, shown))
    return Table(["at byte", "size line", "= bytes", "data"], rows)


# --------------------------------------------------------------------------- details


class Details:
    """A summary line that opens onto the full value (JSON pretty-printed)."""

    def __init__(self, summary: str, value: object) -> None:
        self.summary = summary
        self.value = value

    def body_text(self) -> str:
        if isinstance(self.value, (bytes, bytearray)):
            return visible(bytes(self.value))
        if isinstance(self.value, str):
            return self.value
        return json.dumps(self.value, indent=2, sort_keys=False, default=str)

    def __str__(self) -> str:
        return self.summary

    def __repr__(self) -> str:
        return f"Details({self.summary!r})"

    def _repr_pretty_(self, printer, cycle: bool) -> None:
        printer.text(f"{self.summary}  (the full value opens in JupyterLab)")

    def _repr_html_(self) -> str:
        return (
            f"<details><summary>{html.escape(self.summary)}</summary>"
            f'<pre style="white-space:pre-wrap">{html.escape(self.body_text())}</pre></details>'
        )


def details(summary: str, value: object) -> Details:
    """Show ``summary``; a click shows ``value`` in full. Keeps outputs short."""
    return Details(summary, value)


# --------------------------------------------------------------------------- time

_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9})\d*)?(Z|z|[+-]\d{2}:\d{2})$"
)


def unix_timestamp(rfc3339: str) -> str:
    """``2026-01-05T09:00:00.5Z`` -> ``"1767603600.500000000"``.

    Why: the Engine API takes ``since``/``until`` as Unix seconds with an optional
    fraction (the docker CLI converts dates on the client side), while the engine
    tells its own time as RFC 3339 (``SystemTime`` in ``GET /info``).
    """
    match = _RFC3339.match(rfc3339.strip())
    if match is None:
        raise ValueError(
            f"{rfc3339!r} is not an RFC 3339 time; the engine writes e.g. "
            "2026-01-05T09:00:00.123456789Z"
        )
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    offset = timedelta(0)
    if zone not in ("Z", "z"):
        sign = 1 if zone[0] == "+" else -1
        offset = sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
    moment = datetime(
        int(year),
        int(month),
        int(day),
        int(hour),
        int(minute),
        int(second),
        tzinfo=timezone(offset),
    )
    seconds = int(moment.timestamp())
    return f"{seconds}.{(fraction or '').ljust(9, '0')}"


__all__ = [
    "BODY",
    "CHUNK_SIZE",
    "EOL",
    "HEADER_MEANINGS",
    "NAME",
    "RAW",
    "START",
    "VALUE",
    "Chunk",
    "Details",
    "Exchange",
    "Segment",
    "Table",
    "WireView",
    "chunks_table",
    "details",
    "headers_table",
    "segment",
    "show_bytes",
    "show_exchange",
    "split_chunks",
    "unix_timestamp",
    "visible",
]

"""Streams of JSON values, one per line: how the Engine API reports progress and events.

``POST /images/create`` (pull) and ``GET /events`` answer with a body that never really
ends: one JSON object per line, written as things happen. That body arrives in HTTP chunks,
and chunk boundaries fall wherever the network put them, so a line can be split across two
chunks. This decoder holds a partial line until its newline arrives.
"""

from __future__ import annotations

import json

from labkit.wire.errors import WireError, preview


class JsonLinesDecoder:
    """Decodes ``\\n``- or ``\\r\\n``-terminated JSON values fed in pieces of any size.

    Blank lines are skipped. A line that is not JSON raises :class:`WireError` naming its
    line number (from 1), its byte offset and a preview of its text; the decoder is then
    unusable, because the stream can no longer be trusted.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._offset = 0  # stream position of self._buffer[0]
        self._line_number = 0  # lines completed so far
        self._searched = 0  # bytes of the buffer already known to hold no newline
        self._error: WireError | None = None
        self._closed = False

    @property
    def pending(self) -> int:
        """How many bytes of an unfinished line are held back."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[object]:
        """Add bytes; return the values of every line they complete, in order."""
        self._check_usable()
        if self._closed:
            raise ValueError("feed() after close(): this decoder's stream has ended")
        self._buffer += data
        values: list[object] = []
        start = 0
        try:
            while True:
                newline = self._buffer.find(b"\n", max(start, self._searched))
                if newline < 0:
                    break
                line = bytes(self._buffer[start : newline + 1])
                self._decode_into(values, line, self._offset + start)
                start = newline + 1
        finally:
            del self._buffer[:start]
            self._offset += start
            self._searched = len(self._buffer)
        return values

    def close(self) -> list[object]:
        """Say the stream has ended; return the value of a last line that had no newline.

        Raises WireError if that last line is not JSON (e.g. the stream was cut off mid-value).
        """
        self._check_usable()
        if self._closed:
            return []
        self._closed = True
        values: list[object] = []
        if self._buffer:
            line = bytes(self._buffer)
            self._buffer.clear()
            self._decode_into(values, line, self._offset, last=True)
            self._offset += len(line)
        return values

    def _decode_into(
        self, values: list[object], line: bytes, offset: int, last: bool = False
    ) -> None:
        self._line_number += 1
        text = line.strip()
        if not text:
            return
        try:
            values.append(json.loads(text.decode("utf-8")))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            why = "it is not UTF-8" if isinstance(exc, UnicodeDecodeError) else exc.msg
            cut = " (the stream ended without a newline: was it cut off mid-value?)" if last else ""
            self._error = WireError(
                f"bad JSON on line {self._line_number} at byte {offset}: {preview(line)}: "
                f"{why}{cut}",
                offset,
            )
            raise self._error from None

    def _check_usable(self) -> None:
        if self._error is not None:
            raise self._error


__all__ = ["JsonLinesDecoder"]

"""The one error the wire layer raises, and how it quotes the bytes it choked on.

Every parser in ``labkit.wire`` counts the bytes it has been fed, so when something is wrong
it can say *where*: a learner reading ``at byte 112`` can go and look at byte 112 of their
capture. That is worth more than any stack trace.
"""

from __future__ import annotations

PREVIEW_LIMIT = 60


class WireError(ValueError):
    """Bytes that do not follow the format a parser expects.

    ``offset`` is the position in the whole stream (counting every byte ever fed to the
    parser) where the problem starts, or None when no single position is to blame.
    """

    def __init__(self, message: str, offset: int | None = None) -> None:
        super().__init__(message)
        self.offset = offset

    def __reduce__(self):
        # Keep `offset` when the error crosses a process boundary (pickle).
        return (type(self), (str(self), self.offset))


def preview(data: bytes | bytearray, limit: int = PREVIEW_LIMIT) -> str:
    """``repr`` of ``data`` cut to ``limit`` bytes, so one bad line cannot flood a message."""
    data = bytes(data)
    if len(data) <= limit:
        return repr(data)
    return f"{data[:limit]!r}… ({len(data)} bytes)"


__all__ = ["PREVIEW_LIMIT", "WireError", "preview"]

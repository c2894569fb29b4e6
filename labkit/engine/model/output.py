"""Output to clients: framing (multiplexed or raw) and pumping a hijacked stdin into a process."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from labkit.engine.model.clock import rfc3339_fixed
from labkit.engine.model.versions import older_than
from labkit.engine.replies import MULTIPLEXED_TYPE, RAW_STREAM_TYPE, Hijacked
from labkit.wire.frames import encode_frame


def content_type(tty: bool, api_version: str | None = None) -> str:
    """Logs and hijacked streams: multiplexed unless TTY (before API 1.42 always "raw")."""
    if tty or older_than(api_version, "1.42"):
        return RAW_STREAM_TYPE
    return MULTIPLEXED_TYPE


def frame(tty: bool, stream: int, data: bytes, t: int | None = None) -> bytes:
    """One piece of output as the client expects it: raw for a TTY, else a frame."""
    if t is not None:
        data = rfc3339_fixed(t).encode() + b" " + data
    return data if tty else encode_frame(stream, data)


async def pump_stdin(
    conn: Hijacked, feed: Callable[[bytes], None], on_eof: Callable[[], None] | None
) -> None:
    """Client bytes into the process; ``on_eof`` when the client closes its side."""
    while True:
        try:
            data = await conn.read()
        except (ConnectionError, OSError):
            data = b""
        if not data:
            if on_eof is not None:
                on_eof()
            return
        feed(data)


async def relay(
    conn: Hijacked,
    queue: asyncio.Queue[Any],
    tty: bool,
    stdout: bool,
    stderr: bool,
) -> None:
    """Output items ``(t, stream, data)`` to the client until the ``None`` that ends them."""
    while True:
        item = await queue.get()
        if item is None:
            return
        _t, stream, data = item
        if (stream == 1 and stdout) or (stream == 2 and stderr) or (tty and stream == 1):
            if conn.closed:
                return
            conn.write(frame(tty, stream, data))
            await conn.drain()

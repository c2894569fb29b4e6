"""Output to clients: framing (multiplexed or raw), the bounded queue of output waiting
for one attached client, and pumping a hijacked stdin into a process.

No client can make the engine queue output without end: what waits for an attached
client (``docker attach``, ``docker exec``) is held in an :class:`OutputQueue` of a few
bytes' worth; once it is full the process that writes waits at its next scheduling
point (the model's ``throttle``), as a real process blocks on a full pipe and as
dockerd's 1 MiB stream buffer makes it block. A client that follows logs reads them
from the store instead, at its own pace.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from labkit.engine.model.clock import rfc3339_fixed
from labkit.engine.model.versions import older_than
from labkit.engine.replies import MULTIPLEXED_TYPE, RAW_STREAM_TYPE, Hijacked
from labkit.wire.frames import encode_frame

# Bytes written to a client between two waits for it to take them.
PIECE = 64 << 10
# What one queued item costs beyond its bytes (a tuple, a bytes object, an int): counted,
# so that a million one-byte lines weigh what they really weigh.
ITEM_COST = 128


class OutputQueue:
    """Output items ``(t, stream, data)`` waiting for one client, and ``None`` at the end.

    ``put_nowait`` never refuses (the writer cannot wait there); ``full`` says the writer
    should wait (:meth:`room`) before it writes more.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self.closed = False
        self._items: deque[Any] = deque()
        self._getter: asyncio.Future[None] | None = None
        self._room: asyncio.Event | None = None

    @property
    def full(self) -> bool:
        return self.size >= self.limit and not self.closed

    def put_nowait(self, item: Any) -> None:
        if self.closed:
            return
        self._items.append(item)
        if item is not None:
            self.size += len(item[2]) + ITEM_COST
        getter = self._getter
        if getter is not None and not getter.done():
            getter.set_result(None)

    async def get(self) -> Any:
        while not self._items:
            self._getter = asyncio.get_running_loop().create_future()
            try:
                await self._getter
            finally:
                self._getter = None
        item = self._items.popleft()
        if item is not None:
            self.size -= len(item[2]) + ITEM_COST
            if self._room is not None and self.size < self.limit // 2:
                self._room.set()
                self._room = None
        return item

    async def room(self) -> None:
        """Wait until the client has taken half of what waits (or gone)."""
        while self.full:
            if self._room is None:
                self._room = asyncio.Event()
            await self._room.wait()

    def close(self) -> None:
        """Nobody reads any more: drop what waits, let writers go on."""
        self.closed = True
        self._items.clear()
        self.size = 0
        if self._room is not None:
            self._room.set()
            self._room = None


def content_type(tty: bool, api_version: str | None = None) -> str:
    """Logs and hijacked streams: multiplexed unless TTY (before API 1.42 always "raw")."""
    if tty or older_than(api_version, "1.42"):
        return RAW_STREAM_TYPE
    return MULTIPLEXED_TYPE


def logs_content_type(tty: bool, api_version: str | None = None) -> str | None:
    """Logs: as :func:`content_type` from API 1.42; before it dockerd sent no Content-Type."""
    if older_than(api_version, "1.42"):
        return None
    return content_type(tty, api_version)


def frame(tty: bool, stream: int, data: bytes, t: int | None = None) -> bytes:
    """One piece of output as the client expects it: raw for a TTY, else a frame."""
    if t is not None:
        data = rfc3339_fixed(t).encode() + b" " + data
    return data if tty else encode_frame(stream, data)


# ctrl-p ctrl-q: what ends an attached TTY session without stopping the process.
DEFAULT_DETACH_KEYS = b"\x10\x11"
# The names dockerd's ``detachKeys`` understands besides single characters (moby/term).
_CTRL_NAMES = {
    **{f"ctrl-{chr(ord('a') + n)}": n + 1 for n in range(26)},
    "ctrl-@": 0,
    "ctrl-[": 27,
    "ctrl-\\": 28,
    "ctrl-]": 29,
    "ctrl-^": 30,
    "ctrl-_": 31,
    "DEL": 127,
}


def detach_keys(text: str) -> bytes:
    """``ctrl-p,ctrl-q`` -> ``b"\\x10\\x11"``, as dockerd reads ``detachKeys`` (empty: the
    default keys); ValueError names the key it does not know."""
    codes = bytearray()
    for key in text.split(",") if text else ():
        if len(key) == 1:
            codes += key.encode("utf-8")[:1]
        elif key in _CTRL_NAMES:
            codes.append(_CTRL_NAMES[key])
        else:
            raise ValueError(f"Unknown character: '{key}'")
    return bytes(codes)


class DetachMatcher:
    """Finds the detach keys in a TTY session's stdin, as dockerd's escape proxy does.

    Bytes that may begin the sequence are held back until the next byte decides; the
    sequence itself never reaches the process. (As in moby/term, the byte that breaks
    a partial match is not tried as the start of a new one.)
    """

    def __init__(self, keys: bytes = b"") -> None:
        self.keys = keys or DEFAULT_DETACH_KEYS
        self.pos = 0

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        """What to pass on to the process, and whether the sequence is now complete."""
        keys, pos = self.keys, self.pos
        out = bytearray()
        for byte in data:
            if byte == keys[pos]:
                pos += 1
                if pos == len(keys):
                    self.pos = 0
                    return bytes(out), True
                continue
            out += keys[:pos]
            out.append(byte)
            pos = 0
        self.pos = pos
        return bytes(out), False


async def pump_stdin(
    conn: Hijacked,
    feed: Callable[[bytes], None],
    on_eof: Callable[[], None] | None,
    room: Callable[[], Awaitable[None]] | None = None,
    detach: DetachMatcher | None = None,
) -> bool:
    """Client bytes into the process; ``on_eof`` when the client closes its side.

    ``room`` waits while the process has not read what it was given: a client that
    sends faster than the process reads is slowed down, not buffered without end.
    With ``detach`` (a TTY session), True once the client typed the detach keys: the
    session ends there, the process goes on and its stdin stays open.
    """
    while True:
        try:
            data = await conn.read()
        except (ConnectionError, OSError):
            data = b""
        if not data:
            if on_eof is not None:
                on_eof()
            return False
        if detach is not None:
            data, detached = detach.feed(data)
            if data:
                feed(data)
            if detached:
                return True
        else:
            feed(data)
        if room is not None:
            await room()


async def relay(
    conn: Hijacked,
    queue: OutputQueue,
    tty: bool,
    stdout: bool,
    stderr: bool,
) -> None:
    """Output items ``(t, stream, data)`` to the client until the ``None`` that ends them,
    a piece at a time, each waiting until the client has taken the one before."""
    while True:
        item = await queue.get()
        if item is None:
            return
        _t, stream, data = item
        if (stream == 1 and stdout) or (stream == 2 and stderr) or (tty and stream == 1):
            for start in range(0, len(data), PIECE):
                if conn.closed:
                    return
                conn.write(frame(tty, stream, data[start : start + PIECE]))
                await conn.drain()

"""Byte streams between simulated commands: a process's stdin, pipes, and output sinks.

A write never blocks (applets write synchronously); a reader awaits until bytes or
end-of-file arrive. Back-pressure comes at the writer's next scheduling point instead:
a pipe holding more than :data:`PIPE_BUFFER` unread bytes makes its writer wait there
(``Out.drain``), as a full pipe blocks a real process, and a pipe whose reader has gone
ends its writer with :class:`PipeClosed` (SIGPIPE), so ``yes | head -1`` ends. Bytes
waiting in a pipe count against the container's memory (``runtime/memory.py``).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Protocol

from labkit.engine.runtime.memory import Memory
from labkit.engine.runtime.vfs import VFS

# Unread bytes a pipe holds before its writer waits (Linux's default pipe is 64 KiB).
PIPE_BUFFER = 64 << 10
SIGPIPE_EXIT = 128 + 13


class PipeClosed(Exception):
    """A write to a pipe nobody reads any more: the writer ends, as SIGPIPE ends it (141)."""


class InStream:
    """A byte stream one reader awaits; ``close()`` is a permanent end-of-file.

    ``push_eof()`` is a one-shot end-of-file (a terminal's Ctrl-D): the next read returns b""
    and later reads go on with whatever is fed after it. ``memory`` counts the bytes
    waiting in it against the container; ``gate`` is awaited before a read returns (a
    paused container reads nothing).
    """

    def __init__(
        self, data: bytes = b"", closed: bool = False, memory: Memory | None = None
    ) -> None:
        self.memory = memory
        self.pending = 0  # bytes fed and not yet read
        self.reader_gone = False
        self.gate: Callable[[], Awaitable[None]] | None = None
        self._room: asyncio.Event | None = None
        if data and memory is not None:
            memory.charge(len(data))
        self.pending = len(data)
        self._items: deque[bytes] = deque([data] if data else [])
        self._closed = closed
        self._ready = asyncio.Event()
        if self._items or closed:
            self._ready.set()

    def __del__(self) -> None:
        if self.pending and self.memory is not None:
            self.memory.account.add(-self.pending)

    @property
    def closed(self) -> bool:
        return self._closed

    def feed(self, data: bytes) -> None:
        if data and not self._closed and not self.reader_gone:
            if self.memory is not None:
                self.memory.charge(len(data))
            self.pending += len(data)
            self._items.append(bytes(data))
            self._ready.set()

    def _consumed(self, n: int) -> None:
        if n:
            self.pending -= n
            if self.memory is not None:
                self.memory.release(n)
            room = self._room
            if room is not None and self.pending < PIPE_BUFFER:
                self._room = None
                room.set()

    async def room(self, limit: int = PIPE_BUFFER) -> None:
        """Wait while more than ``limit`` bytes wait unread (a full pipe's writer)."""
        while self.pending >= limit and not self.reader_gone:
            if self._room is None:
                self._room = asyncio.Event()
            await self._room.wait()

    def close_reader(self) -> None:
        """The reader is gone: what waits is dropped, and later writes are refused."""
        self.reader_gone = True
        self._items.clear()
        self._consumed(self.pending)
        if self._room is not None:
            self._room.set()
            self._room = None

    def push_eof(self) -> None:
        if not self._closed:
            self._items.append(b"")
            self._ready.set()

    def close(self) -> None:
        self._closed = True
        self._ready.set()

    async def read(self) -> bytes:
        """Whatever bytes are waiting (at least one), or b"" at end-of-file."""
        await self._wait()
        if not self._items:
            return b""
        if not self._items[0]:
            self._items.popleft()
            self._settle()
            return b""
        parts = []
        size = 0
        while self._items and self._items[0] and size < PIPE_BUFFER:
            part = self._items.popleft()
            size += len(part)
            parts.append(part)
        self._consumed(size)
        self._settle()
        return b"".join(parts)

    async def readline(self) -> bytes:
        """One line with its b"\\n"; the rest of the input at end-of-file; b"" when none is left."""
        got = bytearray()
        while True:
            await self._wait()
            if not self._items:
                return bytes(got)
            head = self._items[0]
            if not head:  # one-shot EOF: end the partial line, or report EOF and consume it
                if not got:
                    self._items.popleft()
                    self._settle()
                return bytes(got)
            self._items.popleft()
            cut = head.find(b"\n")
            if cut >= 0:
                got += head[: cut + 1]
                if cut + 1 < len(head):
                    self._items.appendleft(head[cut + 1 :])
                self._consumed(cut + 1)
                self._settle()
                return bytes(got)
            if self.memory is not None:  # a line without end, held here while it grows
                self.memory.check(len(got) + len(head))
            got += head
            self._consumed(len(head))
            self._settle()

    async def read_all(self) -> bytes:
        """Everything up to end-of-file (held against the container's memory as it grows)."""
        parts = []
        held = self.memory.hold() if self.memory is not None else None
        while chunk := await self.read():
            if held is not None:
                held.grow(len(chunk))
            parts.append(chunk)
        if held is not None:
            self.memory.check(held.amount)  # type: ignore[union-attr]  # the joined copy
        return b"".join(parts)

    async def _wait(self) -> None:
        while not self._items and not self._closed:
            await self._ready.wait()
        if self.gate is not None:
            await self.gate()

    def _settle(self) -> None:
        if not self._items and not self._closed:
            self._ready.clear()


class Out(Protocol):
    """Where a command's output goes: ``write`` never blocks. An output that can fill up
    also has ``async drain()``, which waits until there is room (see ``drain``)."""

    def write(self, data: bytes) -> None: ...

    def close(self) -> None: ...


async def drain(out: Out) -> None:
    """Wait until ``out`` has room, for the outputs that can fill up (pipes)."""
    wait = getattr(out, "drain", None)
    if wait is not None:
        await wait()


class CallbackOut:
    """Hands every write to ``emit(stream, data)`` at once (the process's stdout/stderr)."""

    def __init__(self, stream: int, emit: Callable[[int, bytes], None]) -> None:
        self.stream = stream
        self._emit = emit

    def write(self, data: bytes) -> None:
        if data:
            self._emit(self.stream, data)

    def close(self) -> None:
        pass


class PipeOut:
    """The write end of a pipe: closing it gives the reader end-of-file."""

    def __init__(self, pipe: InStream) -> None:
        self.pipe = pipe

    def write(self, data: bytes) -> None:
        if self.pipe.reader_gone:
            raise PipeClosed("write to a pipe nobody reads")
        self.pipe.feed(data)

    async def drain(self) -> None:
        await self.pipe.room()

    def close(self) -> None:
        self.pipe.close()


class FileOut:
    """Output redirected to a file: every write is appended at once (``>`` truncated it first)."""

    def __init__(self, fs: VFS, path: str, append: bool) -> None:
        self.fs = fs
        self.path = path
        fs.write(path, b"", append=append)  # raises now if the file cannot be created

    def write(self, data: bytes) -> None:
        if data:
            self.fs.write(self.path, data, append=True)

    def close(self) -> None:
        pass


class CaptureOut:
    """Collects output in memory (command substitution ``$(...)``), held against the
    container's memory."""

    def __init__(self, memory: Memory | None = None) -> None:
        self.data = bytearray()
        self._held = memory.hold() if memory is not None else None

    def write(self, data: bytes) -> None:
        if self._held is not None:
            self._held.grow(len(data))
        self.data += data

    def close(self) -> None:
        pass


class NullOut:
    def write(self, data: bytes) -> None:
        pass

    def close(self) -> None:
        pass

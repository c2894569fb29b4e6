"""Byte streams between simulated commands: a process's stdin, pipes, and output sinks.

Nothing blocks and nothing is bounded: a writer never waits, a reader awaits until bytes or
end-of-file arrive. That keeps pipelines simple (``yes | head`` is the one shape it cannot do)
and makes every write reach its sink at once, which is what follow-logs and attach rely on.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Protocol

from labkit.engine.runtime.vfs import VFS


class InStream:
    """An unbounded byte stream one reader awaits; ``close()`` is a permanent end-of-file.

    ``push_eof()`` is a one-shot end-of-file (a terminal's Ctrl-D): the next read returns b""
    and later reads go on with whatever is fed after it.
    """

    def __init__(self, data: bytes = b"", closed: bool = False) -> None:
        self._items: deque[bytes] = deque([data] if data else [])
        self._closed = closed
        self._ready = asyncio.Event()
        if self._items or closed:
            self._ready.set()

    @property
    def closed(self) -> bool:
        return self._closed

    def feed(self, data: bytes) -> None:
        if data and not self._closed:
            self._items.append(bytes(data))
            self._ready.set()

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
        while self._items and self._items[0]:
            parts.append(self._items.popleft())
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
                self._settle()
                return bytes(got)
            got += head
            self._settle()

    async def read_all(self) -> bytes:
        """Everything up to end-of-file."""
        parts = []
        while chunk := await self.read():
            parts.append(chunk)
        return b"".join(parts)

    async def _wait(self) -> None:
        while not self._items and not self._closed:
            await self._ready.wait()

    def _settle(self) -> None:
        if not self._items and not self._closed:
            self._ready.clear()


class Out(Protocol):
    """Where a command's output goes: never blocks."""

    def write(self, data: bytes) -> None: ...

    def close(self) -> None: ...


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
        self.pipe.feed(data)

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
    """Collects output in memory (command substitution ``$(...)``)."""

    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, data: bytes) -> None:
        self.data += data

    def close(self) -> None:
        pass


class NullOut:
    def write(self, data: bytes) -> None:
        pass

    def close(self) -> None:
        pass

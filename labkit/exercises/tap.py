"""Sockets a check puts in front of the learner's code: they record and they test.

- :class:`EngineTap` listens on a fresh Unix socket and forwards to the engine. It
  keeps every byte the learner's client sent, so a check can name the mistake in a
  request (no final CR LF, no ``Host``, bare LF), and it hands the engine's reply
  back in several small pieces, a little apart, so that code which takes one
  ``recv()`` for a whole reply is caught, as it would be on a busy network.
- :class:`ScriptedServer` answers with bytes the check chose (a chunked body of
  random pieces, say), also in pieces.

Both give up on a request whose head never ends after a short grace period and
hang up, so that a learner's forgotten ``\\r\\n\\r\\n`` costs a second, not a
time-out.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import struct
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from labkit.transport.connect import open_socket
from labkit.transport.hosts import Endpoint

HEAD_GRACE = 1.5  # seconds a started request may wait for the rest of its head
PIECE_DELAY = 0.05  # between pieces, where the kernel cannot tell when one has been read


def fresh_socket_path(name: str = "check.sock") -> tuple[Path, Path]:
    """A new private folder (0700) in /tmp, short enough for a socket path, and a path in it."""
    folder = Path(tempfile.mkdtemp(prefix="lk-", dir="/tmp" if os.path.isdir("/tmp") else None))
    return folder, folder / name


def head_complete(data: bytes) -> bool:
    return b"\r\n\r\n" in data or b"\n\n" in data


@dataclass
class RequestSeen:
    """The bytes one connection's client sent, and what a check can tell from them."""

    data: bytes = b""
    stalled: bool = False  # the head never ended: the tap hung up
    reply: bytes = b""  # what the engine (or the script) answered
    sent: threading.Event = field(default_factory=threading.Event)  # the whole reply is out

    @property
    def head(self) -> bytes:
        match = re.search(rb"\r?\n\r?\n", self.data)
        return self.data[: match.end()] if match else self.data

    @property
    def ends_head(self) -> bool:
        return head_complete(self.data)

    @property
    def bare_lf(self) -> bool:
        """A line ended in LF without CR."""
        return bool(re.search(rb"(?<!\r)\n", self.head))

    @property
    def has_host(self) -> bool:
        return bool(re.search(rb"(?im)^host[ \t]*:", self.head))

    @property
    def request_line(self) -> str:
        return self.head.split(b"\n", 1)[0].rstrip(b"\r").decode("latin-1")

    @property
    def target(self) -> str:
        parts = self.request_line.split(" ")
        return parts[1] if len(parts) > 1 else ""

    def mistake(self) -> str | None:
        """The first request mistake these bytes show, by how much it matters."""
        if not self.data:
            return None
        if not self.ends_head:
            return "no-final-crlf"
        if not self.has_host:
            return "no-host"
        if self.bare_lf:
            return "lf-only"
        return None


@dataclass
class _Listener:
    """A Unix socket server in a thread; a subclass says what to do with each client."""

    path: Path
    folder: Path
    seen: list[RequestSeen] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_umask = os.umask(0o177)
        try:
            self._server.bind(str(self.path))
        finally:
            os.umask(old_umask)
        self._server.listen(16)
        self._server.settimeout(0.2)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._accepter = threading.Thread(target=self._accept, name="labkit-check-tap", daemon=True)
        self._accepter.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._server.accept()
            except (TimeoutError, BlockingIOError):
                continue
            except OSError:
                return
            record = RequestSeen()
            with self._lock:
                self.seen.append(record)
            thread = threading.Thread(
                target=self._guard, args=(client, record), name="labkit-check-conn", daemon=True
            )
            self._threads.append(thread)
            thread.start()

    def _guard(self, client: socket.socket, record: RequestSeen) -> None:
        with contextlib.suppress(OSError), client:
            self.serve(client, record)

    def serve(self, client: socket.socket, record: RequestSeen) -> None:  # pragma: no cover
        raise NotImplementedError

    def read_head(self, client: socket.socket, record: RequestSeen) -> bool:
        """Read the client's request head into ``record``; False if it never ended."""
        client.settimeout(HEAD_GRACE)
        while not record.ends_head:
            try:
                data = client.recv(65536)
            except (TimeoutError, OSError):
                record.stalled = True
                return False
            if not data:
                return False
            record.data += data
        return True

    def close(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self._server.close()
        self._accepter.join(2)
        for thread in self._threads:
            thread.join(HEAD_GRACE + 1)
        with contextlib.suppress(OSError):
            self.path.unlink()
        with contextlib.suppress(OSError):
            self.folder.rmdir()

    @property
    def first(self) -> RequestSeen:
        return self.seen[0] if self.seen else RequestSeen()


def unread(sock: socket.socket) -> int | None:
    """Bytes this socket sent that the other side has not read yet (Linux), or None."""
    try:
        import fcntl
        import termios

        raw = fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0")
    except (ImportError, AttributeError, OSError):
        return None
    return struct.unpack("i", raw)[0]


def send_piece(sock: socket.socket, piece: bytes, wait: float = 1.0) -> None:
    """Send one piece, then wait until the other side has read it (or ``wait`` s have passed).

    So each piece reaches the other side in a ``recv()`` of its own, even on a busy machine:
    code that takes one ``recv()`` for a whole message is caught every time, not by luck.
    Where the kernel cannot say (not Linux), a short pause does the same job most of the time.
    """
    sock.sendall(piece)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        left = unread(sock)
        if left is None:
            time.sleep(PIECE_DELAY)
            return
        if left == 0:
            return
        time.sleep(0.005)


def send_in_pieces(sock: socket.socket, data: bytes, first_cut: int | None = None) -> None:
    """Send ``data`` as several writes a little apart, never all at once."""
    cut = data.find(b"\r\n") + 2 if first_cut is None else first_cut
    cut = min(max(cut, 1), len(data))
    pieces = [data[:cut]]
    rest = data[cut:]
    while rest:
        size = max(1, min(len(rest), max(len(rest) // 3, 16)))
        pieces.append(rest[:size])
        rest = rest[size:]
    for piece in pieces:
        send_piece(sock, piece)


class EngineTap(_Listener):
    """Forwards to the engine, recording the client's bytes and dripping the engine's."""

    def __init__(self, endpoint: Endpoint, path: Path, folder: Path, drip: bool = True) -> None:
        self.endpoint = endpoint
        self.drip = drip
        super().__init__(path, folder)

    def serve(self, client: socket.socket, record: RequestSeen) -> None:
        complete = self.read_head(client, record)
        if not record.data:
            return
        if not complete and not record.data.endswith(b"\r\n") and not record.stalled:
            return  # the client hung up mid-line
        upstream = open_socket(self.endpoint, timeout=10)
        with upstream:
            upstream.sendall(record.data)
            if not complete:
                return  # sent what came, then hang up: the engine would wait for ever
            client.settimeout(0.05)
            upstream.settimeout(0.05)
            self._pump(client, upstream, record)

    def _pump(self, client: socket.socket, upstream: socket.socket, record: RequestSeen) -> None:
        first = True
        idle_since = time.monotonic()
        while not self._stop.is_set():
            moved = False
            with contextlib.suppress(TimeoutError, BlockingIOError):
                data = client.recv(65536)
                if not data:
                    with contextlib.suppress(OSError):
                        upstream.shutdown(socket.SHUT_WR)
                    return
                record.data += data
                upstream.sendall(data)
                moved = True
            with contextlib.suppress(TimeoutError, BlockingIOError):
                data = upstream.recv(65536)
                if not data:
                    return
                record.reply += data
                if self.drip:
                    send_in_pieces(client, data, None if first else max(1, len(data) // 2))
                else:
                    client.sendall(data)
                first = False
                moved = True
            if moved:
                idle_since = time.monotonic()
            elif time.monotonic() - idle_since > 30:
                return


class ScriptedServer(_Listener):
    """Reads one request head per connection, then sends the check's reply in pieces."""

    def __init__(
        self,
        reply: bytes | Callable[[RequestSeen], bytes],
        path: Path,
        folder: Path,
        pieces: Sequence[int] | None = None,
        close_after: bool = True,
    ) -> None:
        self.reply = reply
        self.pieces = list(pieces) if pieces else None
        self.close_after = close_after
        super().__init__(path, folder)

    def serve(self, client: socket.socket, record: RequestSeen) -> None:
        if not self.read_head(client, record):
            return
        data = self.reply(record) if callable(self.reply) else self.reply
        record.reply = data
        if self.pieces:
            start = 0
            for cut in [*self.pieces, len(data)]:
                if cut > start:
                    send_piece(client, data[start:cut])
                start = max(start, cut)
        else:
            send_in_pieces(client, data)
        record.sent.set()
        if not self.close_after:
            with contextlib.suppress(OSError):
                client.settimeout(5)
                client.recv(1)

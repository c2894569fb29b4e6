"""The Engine API's multiplexed stream: stdout and stderr sharing one connection.

When a container has no TTY, the engine cannot just pass bytes through: the client must be
able to tell stdout from stderr. So logs and attach streams are cut into frames, each with an
8-byte header::

    byte 0      the stream: 0 stdin, 1 stdout, 2 stderr, 3 system error (from the engine)
    bytes 1-3   zero
    bytes 4-7   the payload length, a big-endian unsigned 32-bit integer

followed by the payload. A container started with ``Tty: true`` sends raw bytes instead,
without any frames: the terminal merges the two streams anyway.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from labkit.wire.errors import WireError

STDIN, STDOUT, STDERR, SYSTEMERR = 0, 1, 2, 3
STREAM_NAMES = {STDIN: "stdin", STDOUT: "stdout", STDERR: "stderr", SYSTEMERR: "system error"}

HEADER_SIZE = 8
MAX_PAYLOAD = 2**32 - 1

# ">" big-endian, "B" the stream byte, "3x" three padding bytes, "L" the unsigned 32-bit length.
_HEADER = struct.Struct(">B3xL")

_TTY_HINT = (
    "is this a TTY container's raw stream? those have no frames (check the container's "
    "Config.Tty, or the response's Content-Type: application/vnd.docker.raw-stream)"
)


@dataclass(frozen=True)
class Frame:
    """One frame: which stream it belongs to, and its payload."""

    stream: int
    data: bytes

    @property
    def stream_name(self) -> str:
        """``"stdout"``, ``"stderr"``…: for printing."""
        return STREAM_NAMES[self.stream]


def encode_frame(stream: int, data: bytes) -> bytes:
    """The 8-byte header for ``data`` on ``stream``, followed by ``data``."""
    if stream not in STREAM_NAMES:
        raise ValueError(
            f"unknown stream {stream!r}: use STDIN (0), STDOUT (1), STDERR (2) or SYSTEMERR (3)"
        )
    if len(data) > MAX_PAYLOAD:
        raise ValueError(
            f"a frame holds at most {MAX_PAYLOAD} bytes (its length is 32 bits); "
            f"split these {len(data)} bytes into several frames"
        )
    return _HEADER.pack(stream, len(data)) + bytes(data)


def _check_header(header: bytes, offset: int) -> tuple[int, int]:
    """(stream, length) from a frame header, or a WireError that says what is wrong with it."""
    stream = header[0]
    if stream not in STREAM_NAMES or header[1:4] != b"\0\0\0":
        problem = (
            f"byte 0 is {stream}, not a stream type (0-3)"
            if stream not in STREAM_NAMES
            else f"bytes 1-3 are {bytes(header[1:4])!r}, not zero"
        )
        raise WireError(
            f"bad frame header {bytes(header)!r} at byte {offset}: {problem}; {_TTY_HINT}",
            offset,
        )
    _, length = _HEADER.unpack(header)
    return stream, length


class FrameDecoder:
    """Turns a multiplexed stream, fed in pieces of any size, into whole :class:`Frame` s.

    A payload that arrives split over several ``feed`` calls is held until it is complete, so
    every frame returned is whole. After a malformed header the decoder is stuck: every later
    call raises the same error (the stream has lost its framing and cannot be resynchronised).
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._offset = 0  # stream position of self._buffer[0]
        self._error: WireError | None = None
        self._closed = False

    @property
    def pending(self) -> int:
        """How many bytes are held back, waiting for the rest of their frame."""
        return len(self._buffer)

    @property
    def offset(self) -> int:
        """How many bytes have been decoded into frames so far."""
        return self._offset

    def feed(self, data: bytes) -> list[Frame]:
        """Add bytes; return every frame they complete, in order."""
        if self._error is not None:
            raise self._error
        if self._closed:
            raise ValueError("feed() after close(): this decoder's stream has ended")
        self._buffer += data
        frames: list[Frame] = []
        start = 0
        buffer = self._buffer
        try:
            while len(buffer) - start >= HEADER_SIZE:
                header = buffer[start : start + HEADER_SIZE]
                stream, length = _check_header(header, self._offset + start)
                end = start + HEADER_SIZE + length
                if end > len(buffer):
                    break
                frames.append(Frame(stream, bytes(buffer[start + HEADER_SIZE : end])))
                start = end
        except WireError as exc:
            self._error = exc
            raise
        finally:
            del buffer[:start]
            self._offset += start
        return frames

    def close(self) -> None:
        """Say the stream has ended; raises WireError if it stopped in the middle of a frame."""
        if self._error is not None:
            raise self._error
        self._closed = True
        if not self._buffer:
            return
        held = len(self._buffer)
        if held < HEADER_SIZE:
            where = f"inside a frame header ({held} of its {HEADER_SIZE} bytes arrived)"
        else:
            _, length = _HEADER.unpack(self._buffer[:HEADER_SIZE])
            where = f"inside a frame ({held - HEADER_SIZE} of its {length} payload bytes arrived)"
        raise WireError(
            f"stream cut off at byte {self._offset + held}: it ended {where}; "
            f"the frame began at byte {self._offset}",
            self._offset,
        )


def demux(data: bytes) -> tuple[bytes, bytes]:
    """Split a whole multiplexed stream into (stdout, stderr).

    stdin frames are skipped. A system-error frame means the engine itself failed
    mid-stream; like the docker CLI, this raises rather than mixing it into stderr.
    """
    decoder = FrameDecoder()
    out: list[bytes] = []
    err: list[bytes] = []
    for frame in decoder.feed(data):
        if frame.stream == STDOUT:
            out.append(frame.data)
        elif frame.stream == STDERR:
            err.append(frame.data)
        elif frame.stream == SYSTEMERR:
            text = frame.data.decode("utf-8", "replace")
            raise WireError(f"the engine reported an error inside the stream: {text}", None)
    decoder.close()
    return b"".join(out), b"".join(err)


__all__ = [
    "HEADER_SIZE",
    "MAX_PAYLOAD",
    "STDERR",
    "STDIN",
    "STDOUT",
    "STREAM_NAMES",
    "SYSTEMERR",
    "Frame",
    "FrameDecoder",
    "demux",
    "encode_frame",
]

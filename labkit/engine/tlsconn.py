"""TLS for the engine's TCP listener, able to half-close as Go's TLS can.

asyncio's own TLS (and uvloop's, which follows it) ends a connection as soon as the client
says it has nothing more to send (a TLS ``close_notify``). ``docker run -i`` says exactly
that when its stdin runs out, and then waits for the rest of the container's output; dockerd
(Go) keeps writing, and so must the lab engine, or the output after the end of stdin is lost.

So the engine's TLS runs here, on a plain TCP connection, with :class:`ssl.SSLObject` and
two memory buffers: bytes from the network go in, decrypted requests go to an ordinary
:class:`~labkit.engine.server.HttpProtocol`, its replies come back encrypted. The end of the
client's side reaches the protocol as an end of input, nothing more. A handshake without a
certificate the CA signed fails, and the connection closes before any byte of HTTP is read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Callable
from typing import Any

log = logging.getLogger("labkit.engine")

READ_SIZE = 65536
# OpenSSL's reasons for a failed handshake, in words
REASONS = {
    "PEER_DID_NOT_RETURN_A_CERTIFICATE": "it showed no client certificate",
    "CERTIFICATE_VERIFY_FAILED": "its certificate was not signed by the engine's CA",
    "TLSV1_ALERT_UNKNOWN_CA": "it does not trust the CA that signed the engine's certificate",
    "HTTP_REQUEST": "it spoke plain HTTP, not TLS",
    "WRONG_VERSION_NUMBER": "it did not speak TLS",
}


class TLSConnection(asyncio.Protocol):
    """The TCP side of one connection; the protocol ``inner()`` makes sees plain bytes."""

    def __init__(
        self,
        context: ssl.SSLContext,
        inner: Callable[[], asyncio.Protocol],
        handshake_timeout: float = 10.0,
    ) -> None:
        self._context = context
        self._make_inner = inner
        self._timeout = handshake_timeout
        self._inner: asyncio.Protocol | None = None
        self._raw: asyncio.Transport | None = None
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._ssl: ssl.SSLObject | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._eof_passed = False
        self._shut = False  # our close_notify is sent: nothing more can be written
        self.transport = TLSTransport(self)

    # ------------------------------------------------------------ the network side
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._raw = transport  # type: ignore[assignment]
        self._ssl = self._context.wrap_bio(self._incoming, self._outgoing, server_side=True)
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self._timeout, self._too_slow)
        self._handshake()

    def data_received(self, data: bytes) -> None:
        self._incoming.write(data)
        if self._inner is None:
            self._handshake()
        if self._inner is not None:
            self._read()

    def eof_received(self) -> bool:
        """The TCP connection ended without a close_notify first: an end of input all the same."""
        if self._inner is None:
            return False
        return self._pass_eof()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timer()
        if self._inner is not None:
            self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        if self._inner is not None:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._inner is not None:
            self._inner.resume_writing()

    # ------------------------------------------------------------ TLS
    def _handshake(self) -> None:
        assert self._ssl is not None and self._raw is not None
        try:
            self._ssl.do_handshake()
        except ssl.SSLWantReadError:
            self._flush()
            return
        except (ssl.SSLError, OSError) as exc:
            self._flush()
            self._refuse(getattr(exc, "reason", None) or str(exc))
            return
        self._flush()
        self._cancel_timer()
        self._inner = self._make_inner()
        self._inner.connection_made(self.transport)

    def _read(self) -> None:
        assert self._ssl is not None
        while self._inner is not None and not self._eof_passed:
            try:
                data = self._ssl.read(READ_SIZE)
            except ssl.SSLWantReadError:
                break
            except ssl.SSLZeroReturnError:
                data = b""
            except ssl.SSLError as exc:
                log.warning("a TLS connection broke: %s", getattr(exc, "reason", None) or exc)
                self.close()
                return
            if not data:  # the client's close_notify: it will send nothing more
                if not self._pass_eof():
                    self.close()
                break
            self._inner.data_received(data)
            if self._raw is None or self._raw.is_closing():
                break
        self._flush()  # TLS 1.3 may answer on its own (tickets, key updates)

    def _pass_eof(self) -> bool:
        if self._eof_passed or self._inner is None:
            return True
        self._eof_passed = True
        return bool(self._inner.eof_received())

    def _flush(self) -> None:
        data = self._outgoing.read()
        if data and self._raw is not None and not self._raw.is_closing():
            self._raw.write(data)

    def _refuse(self, reason: str) -> None:
        peer = self._raw.get_extra_info("peername") if self._raw is not None else None
        where = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else "a client"
        meaning = REASONS.get(reason)
        said = f"{meaning} ({reason})" if meaning else reason
        log.warning("turned away %s at the TLS handshake: %s", where, said)
        self._cancel_timer()
        if self._raw is not None:
            self._raw.close()

    def _too_slow(self) -> None:
        self._timer = None
        if self._inner is None:
            self._refuse(f"no handshake within {self._timeout:g} s")

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # ------------------------------------------------------------ what TLSTransport does
    def write(self, data: bytes) -> None:
        if self._shut or self._ssl is None or self._raw is None or self._raw.is_closing():
            return
        view = memoryview(data)
        while view:
            written = self._ssl.write(view)
            view = view[written:]
        self._flush()

    def write_eof(self) -> None:
        """Our side is done: a close_notify, while the client may go on sending."""
        if self._shut or self._ssl is None:
            return
        self._shut = True
        # (SSLWantReadError: the client's close_notify has not come yet, which is fine)
        with contextlib.suppress(ssl.SSLError):
            self._ssl.unwrap()
        self._flush()

    def close(self) -> None:
        if self._raw is None or self._raw.is_closing():
            return
        if self._inner is not None:
            self.write_eof()
        self._raw.close()


class TLSTransport(asyncio.Transport):
    """What the HTTP protocol writes to: plain bytes in, TLS records out."""

    def __init__(self, conn: TLSConnection) -> None:
        super().__init__()
        self._conn = conn

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self._conn.write(bytes(data))

    def write_eof(self) -> None:
        self._conn.write_eof()

    def can_write_eof(self) -> bool:
        return True

    def close(self) -> None:
        self._conn.close()

    def is_closing(self) -> bool:
        raw = self._conn._raw
        return raw is None or raw.is_closing()

    def pause_reading(self) -> None:
        if self._conn._raw is not None:
            self._conn._raw.pause_reading()

    def resume_reading(self) -> None:
        if self._conn._raw is not None:
            self._conn._raw.resume_reading()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "ssl_object":
            return self._conn._ssl
        if name == "peercert":
            return self._conn._ssl.getpeercert() if self._conn._ssl is not None else default
        raw = self._conn._raw
        return raw.get_extra_info(name, default) if raw is not None else default

    def get_write_buffer_size(self) -> int:
        raw = self._conn._raw
        return raw.get_write_buffer_size() if raw is not None else 0

    def abort(self) -> None:
        if self._conn._raw is not None:
            self._conn._raw.abort()

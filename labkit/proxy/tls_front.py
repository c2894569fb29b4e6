"""A TLS front door on loopback TCP for something that listens on a private Unix socket.

A Unix socket can be private (mode 0600); a TCP port cannot: every user of the machine can
connect to 127.0.0.1. So a TCP listener in front of an engine admits only clients that
present a certificate its CA signed (``ssl.CERT_REQUIRED``), and forwards their decrypted
bytes, unchanged, to the Unix socket behind it (the recorder's own, for ``labkit sniff``).

It runs an asyncio loop in one background thread: asyncio's TLS keeps each connection's
SSL object on that one thread, which OpenSSL requires.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from labkit.transport.tlscerts import requires_client_certificates

READ_SIZE = 65536


class TLSFrontError(RuntimeError):
    """The front could not start; the message says why."""


class TLSFront:
    """Listen on ``127.0.0.1:port`` (0: any free port) with ``context``; forward to ``target``.

    ``context`` must require client certificates: a TCP port without them is open to every
    user of the machine, which is refused here. ``on_problem(text)`` hears of clients that
    were turned away (no certificate, a wrong one) and of a target that cannot be reached.
    """

    def __init__(
        self,
        port: int,
        context: ssl.SSLContext,
        target: Path,
        *,
        on_problem: Callable[[str], None] | None = None,
        handshake_timeout: float = 10.0,
    ) -> None:
        if not requires_client_certificates(context):
            raise TLSFrontError(
                "refusing a TCP listener without TLS client verification: any user of this "
                "machine could connect to it (use tlscerts.server_context)"
            )
        self.port = port
        self.context = context
        self.target = Path(target)
        self.on_problem = on_problem
        self.handshake_timeout = handshake_timeout
        self.address: tuple[str, int] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.AbstractServer | None = None
        self._thread: threading.Thread | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    def start(self) -> TLSFront:
        ready = threading.Event()
        failure: list[BaseException] = []
        loop = asyncio.new_event_loop()
        loop.set_exception_handler(self._loop_problem)
        self._loop = loop

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._listen())
            except BaseException as exc:
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

        self._thread = threading.Thread(target=run, name="labkit-tls-front", daemon=True)
        self._thread.start()
        ready.wait(30)
        if failure:
            exc = failure[0]
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            raise TLSFrontError(
                f"cannot listen on 127.0.0.1 port {self.port}: {reason}; choose another port, "
                "or 0 for any free one"
            ) from exc
        return self

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(
            self._serve,
            host="127.0.0.1",
            port=self.port,
            ssl=self.context,
            ssl_handshake_timeout=self.handshake_timeout,
        )
        sock = self._server.sockets[0]
        self.address = sock.getsockname()[:2]

    def close_listener(self) -> None:
        """Stop accepting; connections already in go on (:meth:`stop` ends them)."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None or not thread.is_alive() or self._server is None:
            return
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(self._server.close)

    def stop(self, grace: float = 0.5, timeout: float = 5.0) -> None:
        """Stop accepting; give connections ``grace`` seconds to end, then end them.

        A connection ends by itself once the Unix side behind it has closed and what it
        sent has been passed on: close that side first for a clean end."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None or not thread.is_alive():
            return

        async def shut() -> None:
            if self._server is not None:
                self._server.close()
            if self._tasks:
                await asyncio.wait(list(self._tasks), timeout=grace)
            for task in list(self._tasks):
                task.cancel()
            if self._tasks:
                await asyncio.wait(list(self._tasks), timeout=timeout)
            loop.stop()

        asyncio.run_coroutine_threadsafe(shut(), loop)
        thread.join(timeout)

    # -- one connection ---------------------------------------------------------------
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            try:
                up_reader, up_writer = await asyncio.open_unix_connection(str(self.target))
            except OSError as exc:
                self._problem(f"the TLS front cannot reach {self.target}: {exc.strerror or exc}")
                return
            try:
                await asyncio.gather(
                    _pipe(reader, up_writer, half_close=True),
                    _pipe(up_reader, writer, half_close=False),
                )
            finally:
                up_writer.close()
        finally:
            writer.close()
            # TLS flushes and says goodbye after close(): the connection is done only then
            # (stopping the loop earlier would cut off the last reply).
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), self.handshake_timeout)
            if task is not None:
                self._tasks.discard(task)

    def _problem(self, text: str) -> None:
        if self.on_problem is not None:
            with contextlib.suppress(Exception):
                self.on_problem(text)

    def _loop_problem(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """A refused handshake (no or a wrong client certificate) is news, not a crash."""
        exc = context.get("exception")
        if isinstance(exc, asyncio.CancelledError):
            return  # a connection ended by stop()
        if isinstance(exc, ssl.SSLError):
            reason = exc.reason or str(exc)
            self._problem(f"a TCP client was refused by TLS: {reason}")
        elif isinstance(exc, (ConnectionError, TimeoutError, asyncio.TimeoutError)):
            self._problem(f"a TCP client went away during the TLS handshake: {exc!r}")
        else:
            self._problem(f"the TLS front: {context.get('message')}: {exc!r}")


async def _pipe(
    source: asyncio.StreamReader, sink: asyncio.StreamWriter, *, half_close: bool
) -> None:
    """Copy until end of stream, then pass the end on (TLS cannot half-close: close)."""
    try:
        while data := await source.read(READ_SIZE):
            sink.write(data)
            await sink.drain()
    except (ConnectionError, ssl.SSLError, OSError):
        pass
    finally:
        with contextlib.suppress(OSError, RuntimeError):
            if half_close and sink.can_write_eof():
                sink.write_eof()
            else:
                sink.close()

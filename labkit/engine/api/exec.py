"""Exec endpoints: run another process inside a running container (``docker exec``)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from typing import Any

from labkit.engine.api.containers import resize_args
from labkit.engine.model.errors import ExecStartFailed
from labkit.engine.model.output import (
    DetachMatcher,
    OutputQueue,
    content_type,
    detach_keys,
    frame,
    pump_stdin,
    relay,
)
from labkit.engine.model.signals import SIGKILL
from labkit.engine.model.validate import EXEC_CONFIG, EXEC_START, check
from labkit.engine.replies import (
    HEAD_WAIT,
    ApiError,
    EmptyReply,
    Hijacked,
    HijackReply,
    JSONReply,
    Reply,
    Request,
)


async def create_exec(req: Request, id: str) -> Reply:
    engine = req.engine
    c = engine.container(id)
    body = check(req.json(default={}), EXEC_CONFIG, "ExecConfig")
    if body.get("DetachKeys"):
        try:
            detach_keys(body["DetachKeys"])
        except ValueError:
            # dockerd's words, and its status (the error is not typed there: a 500)
            raise ApiError(500, f"Invalid escape keys ({body['DetachKeys']}) provided") from None
    exec_ = engine.create_exec(c, body, ref=id)
    return JSONReply({"Id": exec_.id}, 201)


async def start_exec(req: Request, id: str) -> Reply:
    """Detached: run in the background and answer 200; else hijack and stream.

    The output waits for the client in a bounded queue: while the client is not reading,
    the exec's process waits (as it would on a full pipe). Once the client has gone,
    the output goes nowhere and the process goes on, as with dockerd, which neither
    keeps a gone client's output nor ends its exec (``docker rm -f`` ends it with its
    container).
    """
    engine = req.engine
    exec_ = engine.exec_(id)
    body = check(req.json(default={}), EXEC_START, "ExecStartConfig")
    # The process gets a terminal if exec create asked for one; the output is framed as
    # exec start asks (dockerd's postContainerExecStart): unframed when the start request
    # says Tty, and then stderr is not sent at all unless the terminal merged it in.
    tty = bool(body.get("Tty"))
    queue = OutputQueue(engine.limits.stream_buffer)

    def output(stream: int, data: bytes) -> None:
        queue.put_nowait((0, stream, data))  # nothing once closed: the client has gone

    async def throttle() -> None:
        if queue.full:
            await queue.room()

    if body.get("Detach"):
        engine.start_exec(exec_, lambda stream, data: None)
        return EmptyReply(200)
    try:
        process = engine.start_exec(exec_, output, throttle)
    except ExecStartFailed as exc:
        return HijackReply(content_type(tty, req.api_version), _report(exc.message, tty))
    want_out = bool(exec_.doc["attach_stdout"])
    want_err = bool(exec_.doc["attach_stderr"]) and not tty

    async def end_of_output() -> None:
        with contextlib.suppress(BaseException):  # shielded: cancelling this must not end it
            await asyncio.shield(exec_.done)  # type: ignore[arg-type]
        queue.put_nowait(None)

    async def session(conn: Hijacked) -> None:
        loop = asyncio.get_running_loop()
        ender = loop.create_task(end_of_output())
        reader = None
        if exec_.doc["attach_stdin"]:
            room = functools.partial(process.stdin.room, engine.limits.stream_buffer)
            # With a terminal (exec create's Tty), the detach keys end the session.
            matcher = None
            if exec_.doc["tty"]:
                matcher = DetachMatcher(detach_keys(exec_.doc["detach_keys"] or ""))
            reader = loop.create_task(
                pump_stdin(conn, process.feed_stdin, process.close_stdin, room, matcher)
            )
            reader.add_done_callback(functools.partial(_on_detach, exec_, process, queue))
        try:
            # Let the 101 head travel alone: docker-py reads it through a buffered file and
            # then reads the raw socket, so output in the same read as the head is lost.
            # dockerd never sends that early (starting a process takes it tens of ms); a
            # client slowed by a busy machine is waited for.
            await conn.until_read(HEAD_WAIT)
            await relay(conn, queue, tty, want_out, want_err)
            if reader is not None and reader.done() and exec_.forced_exit is not None:
                # dockerd 20.10 to 28 report a detach from an exec as this failure (their
                # check for the escape error misses the wrapped error), and end the exec
                conn.write(frame(tty, 1, DETACHED_EXEC_MESSAGE))
                await conn.drain()
        finally:
            queue.close()  # the client has gone (or the exec has ended): keep nothing for it
            for task in (reader, ender):
                if task is not None and not task.done():
                    task.cancel()
                    with contextlib.suppress(BaseException):
                        await task

    return HijackReply(content_type(tty, req.api_version), session)


DETACHED_EXEC_MESSAGE = b"exec attach failed: error on attach stdin: read escape sequence\r\n"
# The exit code dockerd records for an exec whose session failed (its detach included).
DETACHED_EXEC_EXIT = 126


def _on_detach(exec_: Any, process: Any, queue: OutputQueue, reader: asyncio.Task[bool]) -> None:
    """The client typed the detach keys: end the session's output and, as dockerd does,
    the exec's process (the container goes on)."""
    if reader.cancelled() or reader.exception() is not None or not reader.result():
        return
    exec_.forced_exit = DETACHED_EXEC_EXIT
    queue.put_nowait(None)
    if exec_.process is process:
        process.signal(SIGKILL)


def _report(message: str, tty: bool) -> Any:
    """dockerd writes a start failure into the stream it has already hijacked."""

    async def session(conn: Hijacked) -> None:
        conn.write(frame(tty, 1, (message + "\r\n").encode()))
        await conn.drain()

    return session


async def inspect_exec(req: Request, id: str) -> Reply:
    return JSONReply(req.engine.exec_(id).inspect())


async def resize_exec(req: Request, id: str) -> Reply:
    engine = req.engine
    exec_ = engine.exec_(id)
    height, width = resize_args(req)
    engine.resize(exec_.process, height, width)
    return EmptyReply(200)


ROUTES = [
    ("POST", "/containers/{id}/exec", create_exec),
    ("POST", "/exec/{id}/start", start_exec),
    ("GET", "/exec/{id}/json", inspect_exec),
    ("POST", "/exec/{id}/resize", resize_exec),
]

"""Container endpoints: create, list, inspect, start/stop/kill/restart, wait, attach, logs…"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from labkit.engine import goparse
from labkit.engine.model.clock import parse_api_time
from labkit.engine.model.containers import Container
from labkit.engine.model.errors import NotModified
from labkit.engine.model.output import (
    PIECE,
    DetachMatcher,
    OutputQueue,
    content_type,
    detach_keys,
    frame,
    logs_content_type,
    pump_stdin,
    relay,
)
from labkit.engine.replies import (
    HEAD_WAIT,
    RAW_STREAM_TYPE,
    ApiError,
    EmptyReply,
    Hijacked,
    HijackReply,
    JSONReply,
    RawReply,
    Reply,
    Request,
    StreamReply,
)

# The filter keys dockerd accepts here; any other is a 400 "Invalid filter".
LIST_FILTERS = frozenset(
    {"ancestor", "before", "expose", "exited", "health", "id", "isolation", "is-task", "label",
     "name", "network", "publish", "since", "status", "volume"}
)  # fmt: skip
PRUNE_FILTERS = frozenset({"label", "label!", "until"})


def _time_arg(req: Request, name: str) -> int | None:
    """``since``/``until`` of the logs: dockerd's message (strconv's) when it is not a time."""
    value = req.arg(name)
    if value in (None, "", "0"):
        return None
    try:
        return parse_api_time(value, req.engine.now())
    except ValueError as exc:
        raise ApiError(400, str(exc)) from None


# ------------------------------------------------------------------ list / create / inspect
async def list_containers(req: Request) -> Reply:
    engine = req.engine
    found = engine.list_containers(req.flag("all"), req.int_arg("limit"), req.filters(LIST_FILTERS))
    now = engine.now()
    size = req.flag("size")
    version = req.api_version
    return JSONReply([c.summary(now, c.doc["image_id"], size, version) for c in found])


async def create_container(req: Request) -> Reply:
    body = req.json(default=None)
    if body is None:
        raise ApiError(400, "the request body is empty: send the container's config as JSON")
    c = req.engine.create_container(req.arg("name"), body)
    return JSONReply({"Id": c.id, "Warnings": list(c.warnings)}, 201)


async def update_container(req: Request, id: str) -> Reply:
    """``docker update``: resources and restart policy; dockerd's Warnings reply."""
    engine = req.engine
    c = engine.container(id)
    warnings = engine.update_container(c, req.json(default=None), req.api_version)
    return JSONReply({"Warnings": warnings or None})


async def inspect_container(req: Request, id: str) -> Reply:
    engine = req.engine
    c = engine.container(id)
    out = engine.inspect_container(c, req.api_version)
    if req.flag("size"):
        out["SizeRw"] = 0
        out["SizeRootFs"] = c.doc.get("image_size", 0)
    return JSONReply(out)


# ------------------------------------------------------------------ life cycle
async def start_container(req: Request, id: str) -> Reply:
    engine = req.engine
    try:
        engine.start_container(engine.container(id))
    except NotModified:
        return EmptyReply(304)
    return EmptyReply(204)


def _timeout(req: Request) -> int | None:
    return req.int_arg("t", req.int_arg("timeout"))


def resize_args(req: Request) -> tuple[int, int]:
    """``h`` and ``w`` as dockerd reads them (``httputils.Uint32Value``), with its 400s."""
    sizes = []
    for name, what in (("h", "height"), ("w", "width")):
        text = req.arg(name) or ""
        digits = text[1:] if text.startswith("-") else text
        refusal = f"invalid resize {what} {goparse.quote(text)}"
        try:
            value = goparse.parse_uint(digits, 32)
        except goparse.NumError as exc:
            raise ApiError(400, f"{refusal}: {exc.reason}") from None
        if text.startswith("-"):
            raise ApiError(400, f"{refusal}: value out of range")
        sizes.append(value)
    return sizes[0], sizes[1]


async def stop_container(req: Request, id: str) -> Reply:
    engine = req.engine
    try:
        await engine.stop_container(engine.container(id), _timeout(req), req.arg("signal"))
    except NotModified:
        return EmptyReply(304)
    return EmptyReply(204)


async def restart_container(req: Request, id: str) -> Reply:
    engine = req.engine
    await engine.restart_container(engine.container(id), _timeout(req))
    return EmptyReply(204)


async def kill_container(req: Request, id: str) -> Reply:
    engine = req.engine
    engine.kill_container(engine.container(id), req.arg("signal"), ref=id)
    return EmptyReply(204)


async def pause_container(req: Request, id: str) -> Reply:
    engine = req.engine
    engine.pause_container(engine.container(id))
    return EmptyReply(204)


async def unpause_container(req: Request, id: str) -> Reply:
    engine = req.engine
    engine.unpause_container(engine.container(id))
    return EmptyReply(204)


async def remove_container(req: Request, id: str) -> Reply:
    engine = req.engine
    c = engine.container(id)
    if req.flag("link"):  # a container's own name is no link of another's
        raise ApiError(500, "Conflict, cannot remove the default link name of the container")
    await engine.remove_container(c, force=req.flag("force"), volumes=req.flag("v"))
    return EmptyReply(204)


async def remove_link(req: Request, id: str, link: str) -> Reply:
    """``DELETE /containers/{parent}/{alias}?link=1``: a legacy link, no container."""
    engine = req.engine
    if not req.flag("link"):
        raise ApiError(404, f"No such container: {id}/{link}")
    engine.remove_link(engine.container(id), link, f"{id}/{link}")
    return EmptyReply(204)


async def prune_containers(req: Request) -> Reply:
    return JSONReply(req.engine.prune_containers(req.filters(PRUNE_FILTERS)))


async def rename_container(req: Request, id: str) -> Reply:
    engine = req.engine
    engine.rename_container(engine.container(id), req.arg("name") or "")
    return EmptyReply(204)


async def resize_container(req: Request, id: str) -> Reply:
    engine = req.engine
    c = engine.container(id)
    height, width = resize_args(req)
    engine.resize(c.process, height, width)
    return EmptyReply(200)


async def top(req: Request, id: str) -> Reply:
    engine = req.engine
    return JSONReply(engine.top(engine.container(id)))


async def changes(req: Request, id: str) -> Reply:
    engine = req.engine
    return JSONReply(engine.changes(engine.container(id)))


# ------------------------------------------------------------------ wait
async def wait_container(req: Request, id: str) -> Reply:
    """Headers at once; the body once the condition holds (dockerd's wait)."""
    engine = req.engine
    c = engine.container(id)
    fut = engine.waiter(c, req.arg("condition") or "not-running")

    async def body() -> AsyncIterator[bytes]:
        try:
            code = await fut
            text = json.dumps({"Error": None, "StatusCode": code}, separators=(",", ":"))
            yield text.encode() + b"\n"
        finally:
            engine.drop_waiter(c, fut)

    return StreamReply(body())


# ------------------------------------------------------------------ attach
async def attach_container(req: Request, id: str) -> Reply:
    engine = req.engine
    c: Container = engine.container(id)
    want_stdin = req.flag("stdin")
    want_out, want_err = req.flag("stdout"), req.flag("stderr")
    replay, stream = req.flag("logs"), req.flag("stream")
    keys_text = req.arg("detachKeys") or ""
    try:
        keys = detach_keys(keys_text) if keys_text else b""
    except ValueError:
        # dockerd writes this over the connection it has taken over, as a bare response
        return RawReply(
            f"Invalid detach keys ({keys_text}) provided\r\n".encode(),
            RAW_STREAM_TYPE,
            400,
            {"Connection": "close"},
        )
    # Listen now, before the 101 goes out: `docker run` starts the container right after,
    # and its first byte of output must reach this client. A stopped container is listened
    # to as well: `docker start -a` attaches first, then starts it (as with dockerd, the
    # stream ends when the container next stops).
    queue = engine.listen(c) if stream else None
    engine.note("container", "attach", c.id, c.event_attributes())
    tty = c.tty

    # What was logged before this attach (logs=1), read a page at a time from the store.
    upto = None
    if replay:
        engine.flush_logs()
        upto = engine.store.last_log_seq(c.id)

    async def session(conn: Hijacked) -> None:
        reader: asyncio.Task[None] | None = None
        try:
            await conn.until_read(HEAD_WAIT)  # the head alone, as for exec (see there)
            if upto is not None:
                streams = _streams(want_out, want_err)
                pieces = _log_pieces(engine, c, (0, 0), upto, streams, None, None, tty, False)
                async for piece in pieces:
                    conn.write(piece)
                    await conn.drain()
            if queue is None:
                return
            if want_stdin and c.config.get("OpenStdin"):
                stdin_once = bool(c.config.get("StdinOnce"))
                reader = asyncio.get_running_loop().create_task(
                    pump_stdin(
                        conn,
                        lambda data: engine.feed_stdin(c, data),
                        (lambda: engine.close_stdin(c)) if stdin_once else None,
                        lambda: engine.stdin_room(c),
                        DetachMatcher(keys) if tty else None,  # dockerd: only with a TTY
                    )
                )
                # the detach keys end the session (no more output), not the container
                reader.add_done_callback(lambda task: _detached(task, queue))
            await relay(conn, queue, tty, want_out, want_err)
            if reader is not None and reader.done() and _detached(reader):
                engine.note("container", "detach", c.id, c.event_attributes())
        finally:
            if queue is not None:
                engine.unlisten(c, queue)
            if reader is not None:
                reader.cancel()
                with contextlib.suppress(BaseException):
                    await reader

    return HijackReply(content_type(tty, req.api_version), session)


def _detached(reader: asyncio.Task[bool], queue: OutputQueue | None = None) -> bool:
    """Whether a stdin reader ended on the detach keys; then end ``queue``'s relay."""
    detached = not reader.cancelled() and reader.exception() is None and reader.result()
    if detached and queue is not None:
        queue.put_nowait(None)
    return detached


# ------------------------------------------------------------------ logs
def _tail(value: str | None) -> int | None:
    """How many lines ``tail`` asks for; None for all. As dockerd reads it: anything that
    is not a number (``all``, ``1e20``, a number out of range) or is negative means all."""
    if value is None:
        return None
    try:
        n = goparse.atoi(value)
    except goparse.NumError:
        return None
    return None if n < 0 else n


async def container_logs(req: Request, id: str) -> Reply:
    """The container's output from the store, a page at a time; with ``follow``, then what
    comes next until it stops. A client that stops reading holds a position in the log,
    nothing more: dockerd's followers read its log file the same way."""
    engine = req.engine
    c: Container = engine.container(id)
    want_out, want_err = req.flag("stdout"), req.flag("stderr")
    if not (want_out or want_err):
        raise ApiError(400, "Bad parameters: you must choose at least one stream")
    follow, stamps = req.flag("follow"), req.flag("timestamps")
    tail = _tail(req.arg("tail"))
    since, until = _time_arg(req, "since"), _time_arg(req, "until")
    tty = c.tty
    streams = _streams(want_out, want_err)
    store = engine.store
    engine.flush_logs()
    # Following ends when this run of the container ends (as dockerd's follow does).
    run = c.runs if follow and c.running else None
    start = (0, 0) if tail is None else store.tail_start(c.id, tail, streams, since, until)
    upto = None if run is not None else store.last_log_seq(c.id)
    body = _log_pieces(engine, c, start, upto, streams, since, until, tty, stamps, run)
    return StreamReply(body, logs_content_type(tty, req.api_version))


def _streams(want_out: bool, want_err: bool) -> tuple[int, ...]:
    return tuple(n for n, on in ((1, want_out), (2, want_err)) if on)


def _lines(data: bytes) -> list[bytes]:
    """A row's lines, each with its newline (the last may have none: it goes on in the next
    row). Only \\n ends a line, as for dockerd's log driver."""
    if b"\n" not in data[:-1]:
        return [data]
    parts = data.split(b"\n")
    lines = [part + b"\n" for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


async def _log_pieces(
    engine: Any,
    c: Container,
    start: tuple[int, int],
    upto: int | None,
    streams: tuple[int, ...],
    since: int | None,
    until: int | None,
    tty: bool,
    stamps: bool,
    run: int | None = None,
) -> AsyncIterator[bytes]:
    """Log lines from ``start`` (the position to read after, and lines of the first row to
    leave out) up to row ``upto``, a frame per line as dockerd sends them, in pieces of
    about PIECE bytes; with ``run``, then new lines as they are stored until that run ends."""
    store = engine.store
    follow = run is not None
    after, skip = start
    buffer: list[bytes] = []
    size = 0
    waiter: asyncio.Future[None] | None = None
    try:
        while True:
            rows = store.log_page(c.id, after, upto, streams, since, None if follow else until)
            for seq, t, s, data in rows:
                after = seq
                if follow and until is not None and t > until:
                    if buffer:
                        yield b"".join(buffer)
                    return
                lines = _lines(data)
                if skip:
                    lines, skip = lines[skip:], 0
                for line in lines:
                    piece = frame(tty, s, line, t if stamps else None)
                    buffer.append(piece)
                    size += len(piece)
                if size >= PIECE:
                    yield b"".join(buffer)
                    buffer, size = [], 0
            if rows:
                continue
            if buffer:
                yield b"".join(buffer)
                buffer, size = [], 0
            if not follow or c.removed or c.runs != run or not c.running:
                return
            waiter = engine.log_waiter(c)
            await waiter
            waiter = None
    finally:
        if waiter is not None and not waiter.done():
            waiter.cancel()


ROUTES = [
    ("GET", "/containers/json", list_containers),
    ("POST", "/containers/create", create_container),
    ("POST", "/containers/prune", prune_containers),
    ("GET", "/containers/{id}/json", inspect_container),
    ("POST", "/containers/{id}/start", start_container),
    ("POST", "/containers/{id}/stop", stop_container),
    ("POST", "/containers/{id}/restart", restart_container),
    ("POST", "/containers/{id}/kill", kill_container),
    ("POST", "/containers/{id}/pause", pause_container),
    ("POST", "/containers/{id}/unpause", unpause_container),
    ("POST", "/containers/{id}/wait", wait_container),
    ("POST", "/containers/{id}/attach", attach_container),
    ("GET", "/containers/{id}/logs", container_logs),
    ("GET", "/containers/{id}/top", top),
    ("GET", "/containers/{id}/changes", changes),
    ("POST", "/containers/{id}/rename", rename_container),
    ("POST", "/containers/{id}/resize", resize_container),
    ("DELETE", "/containers/{id}", remove_container),
    ("DELETE", "/containers/{id}/{link}", remove_link),
    ("POST", "/containers/{id}/update", update_container),
]

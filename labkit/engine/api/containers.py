"""Container endpoints: create, list, inspect, start/stop/kill/restart, wait, attach, logs…"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

from labkit.engine.model.clock import parse_api_time
from labkit.engine.model.containers import Container
from labkit.engine.model.errors import NotModified
from labkit.engine.model.output import content_type, frame, pump_stdin, relay
from labkit.engine.replies import (
    ApiError,
    EmptyReply,
    Hijacked,
    HijackReply,
    JSONReply,
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
    value = req.arg(name)
    if value in (None, "", "0"):
        return None
    try:
        return parse_api_time(value, req.engine.now())
    except ValueError:
        raise ApiError(400, f"invalid value for {name}: {value!r} is not a time") from None


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
    return JSONReply({"Id": c.id, "Warnings": []}, 201)


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
    await engine.remove_container(c, force=req.flag("force"), volumes=req.flag("v"))
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
    engine.resize(c.process, req.int_arg("h"), req.int_arg("w"))
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
    # Listen now, before the 101 goes out: `docker run` starts the container right after,
    # and its first byte of output must reach this client. A stopped container is listened
    # to as well: `docker start -a` attaches first, then starts it (as with dockerd, the
    # stream ends when the container next stops).
    queue = engine.listen(c) if stream else None
    engine.note("container", "attach", c.id, c.event_attributes())
    tty = c.tty

    async def session(conn: Hijacked) -> None:
        reader: asyncio.Task[None] | None = None
        try:
            if replay:
                for t, s, data in list(engine.log_rows(c)):
                    del t
                    if (s == 1 and want_out) or (s == 2 and want_err):
                        conn.write(frame(tty, s, data))
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
                    )
                )
            await relay(conn, queue, tty, want_out, want_err)
        finally:
            if queue is not None:
                engine.unlisten(c, queue)
            if reader is not None:
                reader.cancel()
                with contextlib.suppress(BaseException):
                    await reader

    return HijackReply(content_type(tty, req.api_version), session)


# ------------------------------------------------------------------ logs
def _tail(value: str | None) -> int | None:
    if value in (None, "", "all"):
        return None
    try:
        n = int(value)
    except ValueError:
        raise ApiError(400, f"invalid value for tail: {value!r}: use a number or all") from None
    return None if n < 0 else n


async def container_logs(req: Request, id: str) -> Reply:
    engine = req.engine
    c: Container = engine.container(id)
    want_out, want_err = req.flag("stdout"), req.flag("stderr")
    if not (want_out or want_err):
        raise ApiError(400, "Bad parameters: you must choose at least one stream")
    follow, stamps = req.flag("follow"), req.flag("timestamps")
    tail = _tail(req.arg("tail"))
    since, until = _time_arg(req, "since"), _time_arg(req, "until")
    tty = c.tty

    def wanted(t: int, s: int) -> bool:
        if (s == 1 and not want_out) or (s == 2 and not want_err):
            return False
        return not ((since is not None and t < since) or (until is not None and t > until))

    # Everything logged so far is read before any await; what comes later arrives on the queue.
    queue = engine.listen(c) if follow and c.running else None
    rows: Any = deque(maxlen=tail) if tail is not None else []
    for t, s, data in engine.log_rows(c):
        if wanted(t, s):
            rows.append((t, s, data))

    async def body() -> AsyncIterator[bytes]:
        try:
            for t, s, data in rows:
                yield frame(tty, s, data, t if stamps else None)
            if queue is None:
                return
            while True:
                item = await queue.get()
                if item is None:
                    return
                t, s, data = item
                if until is not None and t > until:
                    return
                if wanted(t, s):
                    yield frame(tty, s, data, t if stamps else None)
        finally:
            if queue is not None:
                engine.unlisten(c, queue)

    return StreamReply(body(), content_type(tty, req.api_version))


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
]

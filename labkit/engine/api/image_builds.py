"""Endpoints that make images: build, commit, save, load and import."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from labkit.engine.api.images import json_line
from labkit.engine.replies import ApiError, JSONReply, RawReply, Reply, Request, StreamReply


def _json_query(req: Request, name: str) -> dict[str, Any]:
    value = req.arg(name)
    if not value:
        return {}
    try:
        parsed = json.loads(value)
    except ValueError as exc:
        raise ApiError(400, f"invalid {name}: {value!r} is not JSON ({exc})") from None
    if not isinstance(parsed, dict):
        raise ApiError(400, f"invalid {name}: {value!r} is not a JSON object")
    return parsed


async def build(req: Request) -> Reply:
    """``POST /build`` (the classic builder): parse errors are a 400, the rest is streamed."""
    from labkit.engine.model.build import Build, Context, Options, parse_tags

    if req.arg("remote"):
        raise ApiError(
            400, "the lab engine has no network: send the build context, not a remote URL"
        )
    options = Options(
        tags=parse_tags(req.args("t")),
        dockerfile=req.arg("dockerfile") or "Dockerfile",
        buildargs=_json_query(req, "buildargs"),
        labels={str(k): str(v) for k, v in _json_query(req, "labels").items()},
        nocache=req.flag("nocache"),
        rm=req.flag("rm", True),
        forcerm=req.flag("forcerm"),
        quiet=req.flag("q"),
        target=req.arg("target") or "",
    )
    if options.forcerm:
        options.rm = True
    job = Build(req.engine, Context(req.body), options)
    instructions = job.prepare()

    async def chunks() -> AsyncIterator[bytes]:
        async for message in job.run(instructions):
            yield json_line(message)

    return StreamReply(chunks())


async def commit(req: Request) -> Reply:
    """``POST /commit?container=…``: a 201 with the new image's id."""
    from labkit.engine.model.image_making import commit as commit_container

    engine = req.engine
    c = engine.container(req.arg("container") or "")
    config = req.json(None)
    if config is not None and not isinstance(config, dict):
        raise ApiError(400, "the request body must be a container config (a JSON object)")
    paused_here = False
    if req.flag("pause", True) and c.running and c.state["Status"] != "paused":
        engine.pause_container(c)
        paused_here = True
    try:
        image = commit_container(
            engine,
            c,
            repo=req.arg("repo") or "",
            tag_=req.arg("tag") or "",
            comment=req.arg("comment") or "",
            author=req.arg("author") or "",
            changes=req.args("changes"),
            config=config,
        )
    finally:
        if paused_here:
            engine.unpause_container(c)
    attrs = c.event_attributes()
    attrs.update(comment=req.arg("comment") or "", imageID=image.id, imageRef="")
    engine.note("container", "commit", c.id, attrs)
    return JSONReply({"Id": image.id}, status=201)


async def save_one(req: Request, name: str) -> Reply:
    from labkit.engine.model.image_archive import save

    return RawReply(save(req.engine, [name]), content_type="application/x-tar")


async def save_many(req: Request) -> Reply:
    from labkit.engine.model.image_archive import save

    return RawReply(save(req.engine, req.args("names")), content_type="application/x-tar")


async def load(req: Request) -> Reply:
    from labkit.engine.model.image_archive import LoadFailed
    from labkit.engine.model.image_archive import load as load_images

    try:
        lines = load_images(req.engine, req.body)
        failed = ""
    except LoadFailed as exc:
        lines, failed = [], str(exc)

    async def chunks() -> AsyncIterator[bytes]:
        for line in lines:
            yield json_line({"stream": line + "\n"})
        if failed:
            yield json_line({"errorDetail": {"message": failed}, "error": failed})

    return StreamReply(chunks())


async def import_image(req: Request) -> Reply:
    """``POST /images/create?fromSrc=-``: the body is the tarball."""
    from labkit.engine.model.image_archive import import_tarball

    source = req.arg("fromSrc")
    if source != "-":
        raise ApiError(
            400,
            f"the lab engine has no network, so it cannot import from {source!r}: "
            "send the tarball in the request body with fromSrc=-",
        )
    image = import_tarball(
        req.engine,
        req.body,
        repo=req.arg("repo") or "",
        tag=req.arg("tag") or "",
        changes=req.args("changes"),
        message=req.arg("message") or "",
    )

    async def chunks() -> AsyncIterator[bytes]:
        yield json_line({"status": image.id})

    return StreamReply(chunks())


ROUTES = [
    ("POST", "/build", build),
    ("POST", "/commit", commit),
    ("GET", "/images/get", save_many),
    ("GET", "/images/{name*}/get", save_one),
    ("POST", "/images/load", load),
]

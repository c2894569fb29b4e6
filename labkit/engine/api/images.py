"""Image endpoints: list, inspect, history, pull (from the catalogue), tag, delete, prune.

Build, commit, save, load and import are in :mod:`image_builds`."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from labkit.engine.model import refs
from labkit.engine.model.catalogue import ImageSpec
from labkit.engine.model.versions import older_than
from labkit.engine.replies import (
    ApiError,
    EmptyReply,
    JSONReply,
    Reply,
    Request,
    StreamReply,
)

# The filter keys dockerd accepts here; any other is a 400 "Invalid filter".
LIST_FILTERS = frozenset({"before", "dangling", "label", "reference", "since", "until"})
PRUNE_FILTERS = frozenset({"dangling", "label", "label!", "until"})

PULL_SECONDS = 0.3  # the whole progress display, spread over the steps below
DOWNLOAD_STEPS = 6
EXTRACT_STEPS = 4
_UNITS = ("B", "kB", "MB", "GB", "TB")


def human_size(size: float) -> str:
    """Sizes as the docker CLI prints them: 4 significant digits, powers of 1000."""
    unit = 0
    while size >= 1000 and unit < len(_UNITS) - 1:
        size /= 1000
        unit += 1
    return f"{size:.4g}{_UNITS[unit]}"


def progress_bar(current: int, total: int) -> str:
    """dockerd's ``progress`` string: a 50-wide bar and the byte counts."""
    percent = min(int(current / total * 100) // 2, 50) if total else 0
    bar = "[" + "=" * percent + ">" + " " * max(50 - percent, 0) + "] "
    return bar + f"{human_size(current):>8}/{human_size(total)}"


def json_line(obj: dict[str, Any]) -> bytes:
    """One message of a JSON progress stream, encoded as Go's encoder does (``>`` as \\u003e)."""
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return text.encode() + b"\r\n"


def _pull_lines(spec: ImageSpec, ref: refs.Reference, have_content: bool) -> list[dict[str, Any]]:
    """Every message of one pull, in order (without the final status)."""
    lines: list[dict[str, Any]] = []
    for layer in spec.layers:
        short = layer.blob.split(":", 1)[1][:12]
        if have_content:
            lines.append({"status": "Already exists", "progressDetail": {}, "id": short})
            continue
        lines.append({"status": "Pulling fs layer", "progressDetail": {}, "id": short})
        for status, steps in (("Downloading", DOWNLOAD_STEPS), ("Extracting", EXTRACT_STEPS)):
            if status == "Extracting":
                lines.append({"status": "Verifying Checksum", "progressDetail": {}, "id": short})
                lines.append({"status": "Download complete", "progressDetail": {}, "id": short})
            for step in range(1, steps + 1):
                current = layer.size * step // steps
                lines.append(
                    {
                        "status": status,
                        "progressDetail": {"current": current, "total": layer.size},
                        "progress": progress_bar(current, layer.size),
                        "id": short,
                    }
                )
        lines.append({"status": "Pull complete", "progressDetail": {}, "id": short})
    return lines


async def _pull_stream(engine: Any, spec: ImageSpec, ref: refs.Reference) -> AsyncIterator[bytes]:
    have_content, up_to_date = engine.has_pulled(spec, ref)
    shown = str(ref) if ref.digest else ref.tagged()
    yield json_line({"status": f"Pulling from {ref.remote}", "id": ref.digest or ref.tag})
    if not up_to_date:
        lines = _pull_lines(spec, ref, have_content)
        pause = PULL_SECONDS / max(len(lines), 1)
        for line in lines:
            yield json_line(line)
            await asyncio.sleep(pause)
    engine.record_pull(spec, ref)
    yield json_line({"status": f"Digest: {spec.digest}"})
    verdict = "Image is up to date for" if up_to_date else "Downloaded newer image for"
    yield json_line({"status": f"Status: {verdict} {shown}"})


async def create_image(req: Request) -> Reply:
    """``POST /images/create``: a pull from the catalogue (errors come before the stream)."""
    if req.arg("fromSrc") is not None:
        from labkit.engine.api.image_builds import import_image

        return await import_image(req)
    from_image = req.arg("fromImage") or ""
    if not from_image:
        raise ApiError(400, "fromImage is required: name the image to pull, e.g. busybox")
    spec, ref = req.engine.pull_target(from_image, req.arg("tag"))
    return StreamReply(_pull_stream(req.engine, spec, ref))


async def list_images(req: Request) -> Reply:
    filters = req.filters(LIST_FILTERS)
    legacy = req.arg("filter")
    if legacy and older_than(req.api_version, "1.41"):  # API 1.41 dropped it
        filters.setdefault("reference", []).append(legacy)
    engine = req.engine
    images = engine.images.list(req.flag("all"), filters)
    patterns = filters.get("reference")
    out = []
    for image in images:
        summary = image.summary(req.api_version, patterns)
        if not older_than(req.api_version, "1.51"):  # before: always -1
            summary["Containers"] = len(engine.containers_using(image))
        out.append(summary)
    return JSONReply(out)


async def inspect_image(req: Request, name: str) -> Reply:
    return JSONReply(req.engine.images.resolve(name).inspect(req.api_version))


async def image_history(req: Request, name: str) -> Reply:
    from labkit.engine.model.image_making import layer_size

    image = req.engine.images.resolve(name)
    return JSONReply(req.engine.images.history(image, lambda d: layer_size(req.engine, d)))


async def tag_image(req: Request, name: str) -> Reply:
    req.engine.tag_image(name, req.arg("repo") or "", req.arg("tag"))
    return EmptyReply(201)


async def delete_image(req: Request, name: str) -> Reply:
    return JSONReply(req.engine.delete_image(name, force=req.flag("force")))


async def prune_images(req: Request) -> Reply:
    return JSONReply(req.engine.prune_images(req.filters(PRUNE_FILTERS)))


ROUTES = [
    ("GET", "/images/json", list_images),
    ("POST", "/images/create", create_image),
    ("POST", "/images/prune", prune_images),
    ("GET", "/images/{name*}/json", inspect_image),
    ("GET", "/images/{name*}/history", image_history),
    ("POST", "/images/{name*}/tag", tag_image),
    ("DELETE", "/images/{name*}", delete_image),
]

"""Volume endpoints: enough for ``docker volume ls|create|inspect|rm|prune``."""

from __future__ import annotations

from labkit.engine.model.validate import check
from labkit.engine.model.versions import older_than
from labkit.engine.replies import EmptyReply, JSONReply, Reply, Request

# The filter keys dockerd accepts here; any other is a 400 "Invalid filter".
LIST_FILTERS = frozenset({"dangling", "driver", "label", "name"})
PRUNE_FILTERS = frozenset({"all", "label", "label!"})

VOLUME_CREATE = {"Name": "str", "Driver": "str", "Labels": "strmap", "DriverOpts": "strmap"}


async def list_volumes(req: Request) -> Reply:
    engine = req.engine
    filters = req.filters(LIST_FILTERS)
    out = []
    for volume in engine.volumes.volumes.values():
        if "name" in filters and not any(n in volume.name for n in filters["name"]):
            continue
        if "dangling" in filters:
            dangling = filters["dangling"][-1].lower() in ("true", "1")
            if dangling == bool(engine._volume_users(volume.name)):
                continue
        if "driver" in filters and "local" not in filters["driver"]:
            continue
        if "label" in filters and not all(
            _label_ok(volume.labels, label) for label in filters["label"]
        ):
            continue
        out.append(engine.volumes.view(volume))
    out.sort(key=lambda v: v["Name"])
    return JSONReply({"Volumes": out, "Warnings": None})


def _label_ok(labels: dict[str, str], label: str) -> bool:
    key, eq, value = label.partition("=")
    return key in labels and (not eq or labels[key] == value)


async def create_volume(req: Request) -> Reply:
    body = check(req.json(default={}), VOLUME_CREATE, "CreateOptions")
    driver = body.get("Driver") or "local"
    if driver != "local":
        return JSONReply({"message": f'plugin "{driver}" not found'}, 404)
    return JSONReply(req.engine.create_volume(body.get("Name") or "", body.get("Labels")), 201)


async def inspect_volume(req: Request, name: str) -> Reply:
    engine = req.engine
    return JSONReply(engine.volumes.view(engine.volumes.get(name)))


async def remove_volume(req: Request, name: str) -> Reply:
    req.engine.remove_volume(name, force=req.flag("force"))
    return EmptyReply(204)


async def prune_volumes(req: Request) -> Reply:
    filters = req.filters(PRUNE_FILTERS)
    if older_than(req.api_version, "1.42"):
        # API 1.42 made prune take only anonymous volumes; older clients meant all unused
        filters["all"] = ["true"]
    return JSONReply(req.engine.prune_volumes(filters))


ROUTES = [
    ("GET", "/volumes", list_volumes),
    ("POST", "/volumes/create", create_volume),
    ("POST", "/volumes/prune", prune_volumes),
    ("GET", "/volumes/{name}", inspect_volume),
    ("DELETE", "/volumes/{name}", remove_volume),
]

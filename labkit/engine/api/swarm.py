"""Swarm, node, service, task, secret and config routes: the lab engine is a node that is
not part of a swarm, and answers as dockerd answers on such a node.

Clients rely on the status: ``docker node ls`` prints dockerd's message, the SDK raises
its ``APIError`` with status 503, and scripts test for "not part of a swarm" before they
call ``swarm init``. A 404 would read as "this engine has no such API" instead.

Each route reads its input first, as dockerd does (a bad body or version number is a
400 before the 503), then refuses.
"""

from __future__ import annotations

from typing import Any

from labkit.engine import goparse
from labkit.engine.replies import ApiError, Reply, Request

# dockerd's words (daemon/cluster), for every route that needs a manager...
NOT_A_MANAGER = (
    'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" '
    "to connect this node to swarm and try again."
)
# ... and for leaving a swarm it is not in.
NOT_IN_A_SWARM = "This node is not part of a swarm"
# What dockerd would do next (start or join a swarm) the lab engine cannot simulate.
NO_SWARM_HERE = (
    "the lab engine cannot {what} a swarm: it simulates one node without swarm mode. "
    "To try docker swarm, use a real Docker Engine (docker swarm init there)"
)


def _not_a_manager() -> ApiError:
    return ApiError(503, NOT_A_MANAGER)


def _body(req: Request) -> dict[str, Any]:
    """The JSON body as dockerd's ReadJSON reads it: empty is allowed, bad JSON a 400."""
    body = req.json(default={})
    if not isinstance(body, dict):
        raise ApiError(400, "invalid JSON: the request body must be a JSON object")
    return body


def _version(req: Request, kind: str) -> int:
    """The ``version`` query value an update names (the object's version, not the API's)."""
    raw = req.arg("version") or ""
    try:
        return goparse.parse_uint(raw)
    except goparse.NumError as exc:
        if kind in ("secret", "config"):
            raise ApiError(400, f"invalid {kind} version") from None
        raise ApiError(400, f"invalid {kind} version '{raw}': {exc}") from None


def _check_addr(field: str, value: Any) -> None:
    """dockerd's validateAddr: an address must not be empty."""
    if not isinstance(value, str) or not value.strip():
        shown = goparse.quote(str(value or ""))
        raise ApiError(400, f"invalid {field} {shown}: invalid empty address")


async def swarm_init(req: Request) -> Reply:
    body = _body(req)
    _check_addr("ListenAddr", body.get("ListenAddr"))
    raise ApiError(501, NO_SWARM_HERE.format(what="start"))


async def swarm_join(req: Request) -> Reply:
    body = _body(req)
    _check_addr("ListenAddr", body.get("ListenAddr"))
    remotes = body.get("RemoteAddrs") or []
    if not remotes:
        raise ApiError(400, "at least 1 RemoteAddr is required to join")
    for remote in remotes:
        _check_addr("remoteAddr", remote)
    raise ApiError(501, NO_SWARM_HERE.format(what="join"))


async def swarm_leave(req: Request) -> Reply:
    req.flag("force")
    raise ApiError(503, NOT_IN_A_SWARM)


async def manager_only(req: Request, **_ids: str) -> Reply:
    """Inspect, list, remove, create, unlock: nothing to read first that could fail."""
    if req.method == "GET" and "filters" in req.query:
        req.filters()  # a filter that is not JSON is a 400 first
    if req.method == "POST":
        _body(req)
    raise _not_a_manager()


def _updater(kind: str) -> Any:
    async def update(req: Request, **_ids: str) -> Reply:
        _body(req)
        _version(req, kind)
        raise _not_a_manager()

    update.__name__ = f"update_{kind}"
    return update


async def swarm_logs(req: Request, id: str) -> Reply:
    """Service and task logs: the streams are checked first, as for a container's logs."""
    if not (req.flag("stdout") or req.flag("stderr")):
        raise ApiError(400, "Bad parameters: you must choose at least one stream")
    raise _not_a_manager()


ROUTES = [
    ("POST", "/swarm/init", swarm_init),
    ("POST", "/swarm/join", swarm_join),
    ("POST", "/swarm/leave", swarm_leave),
    ("GET", "/swarm", manager_only),
    ("GET", "/swarm/unlockkey", manager_only),
    ("POST", "/swarm/update", _updater("swarm")),
    ("POST", "/swarm/unlock", manager_only),
    ("GET", "/services", manager_only),
    ("POST", "/services/create", manager_only),
    ("GET", "/services/{id}/logs", swarm_logs),
    ("POST", "/services/{id}/update", _updater("service")),
    ("GET", "/services/{id}", manager_only),
    ("DELETE", "/services/{id}", manager_only),
    ("GET", "/nodes", manager_only),
    ("POST", "/nodes/{id}/update", _updater("node")),
    ("GET", "/nodes/{id}", manager_only),
    ("DELETE", "/nodes/{id}", manager_only),
    ("GET", "/tasks", manager_only),
    ("GET", "/tasks/{id}/logs", swarm_logs),
    ("GET", "/tasks/{id}", manager_only),
    ("GET", "/secrets", manager_only),
    ("POST", "/secrets/create", manager_only),
    ("POST", "/secrets/{id}/update", _updater("secret")),
    ("GET", "/secrets/{id}", manager_only),
    ("DELETE", "/secrets/{id}", manager_only),
    ("GET", "/configs", manager_only),
    ("POST", "/configs/create", manager_only),
    ("POST", "/configs/{id}/update", _updater("config")),
    ("GET", "/configs/{id}", manager_only),
    ("DELETE", "/configs/{id}", manager_only),
]

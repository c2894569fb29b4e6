"""The Engine API calls the explorer offers, with their parameters, in a learner's words.

A small map of the API, not all of it: the calls the lessons use and a few more worth
trying. Facts are the Engine API's (moby's ``api/swagger.yaml``); any other path can still
be typed into the explorer by hand.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


@dataclass(frozen=True)
class Param:
    """A query parameter: its name, an example value, and what it does."""

    name: str
    example: str
    about: str


@dataclass(frozen=True)
class Operation:
    """One call: method, path (``{id}`` for a container's id or name), and what it is for."""

    method: str
    path: str
    about: str
    params: tuple[Param, ...] = ()
    body: Any = None  # an example JSON body
    streams: bool = False  # the answer may go on for ever (events, logs with follow)
    versioned: bool = True  # False for /_ping, which every version answers

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def placeholders(self) -> list[str]:
        """The names in braces in the path: ``["id"]`` for ``/containers/{id}/start``."""
        return _PLACEHOLDER.findall(self.path)

    def matches(self, path: str) -> bool:
        """Whether ``path`` is this call's path, placeholders filled in or not."""
        if path == self.path:
            return True
        parts = _PLACEHOLDER.split(self.path)
        pattern = "".join("[^/]+" if i % 2 else re.escape(part) for i, part in enumerate(parts))
        return re.fullmatch(pattern, path) is not None

    def fill(self, values: dict[str, str]) -> str:
        """The path with each ``{name}`` replaced by ``values[name]`` (left as is if empty)."""
        return _PLACEHOLDER.sub(lambda m: values.get(m.group(1)) or m.group(0), self.path)


_ALL = Param("all", "true", "include stopped containers (or intermediate images)")
_FILTERS = Param("filters", '{"status":["running"]}', "JSON: which ones to list")
_FORCE = Param("force", "true", "do it even if it is in use or running")

OPERATIONS: tuple[Operation, ...] = (
    Operation("GET", "/_ping", "is the engine there? answers OK", versioned=False),
    Operation("GET", "/version", "the engine's version and the newest API version it speaks"),
    Operation("GET", "/info", "the engine's settings and counts"),
    Operation(
        "GET",
        "/images/json",
        "the images on this host (docker images)",
        (
            _ALL,
            Param("filters", '{"reference":["busybox"]}', "JSON: which images to list"),
        ),
    ),
    Operation("GET", "/images/{name}/json", "one image in detail (docker image inspect)"),
    Operation(
        "POST",
        "/images/create",
        "pull an image; progress streams as JSON lines (docker pull)",
        (
            Param("fromImage", "alpine", "the image to pull"),
            Param("tag", "latest", "which tag"),
        ),
        streams=True,
    ),
    Operation("DELETE", "/images/{name}", "remove an image (docker rmi)", (_FORCE,)),
    Operation(
        "GET",
        "/containers/json",
        "the containers (docker ps); running ones only unless all=true",
        (_ALL, _FILTERS, Param("limit", "5", "at most this many, newest first")),
    ),
    Operation(
        "POST",
        "/containers/create",
        "make a container from an image, without starting it (docker create)",
        (Param("name", "explorer-demo", "a name of your choosing"),),
        body={"Image": "busybox", "Cmd": ["sh", "-c", "echo hello; sleep 300"]},
    ),
    Operation("GET", "/containers/{id}/json", "one container in detail (docker inspect)"),
    Operation("POST", "/containers/{id}/start", "start a created or stopped container"),
    Operation(
        "POST",
        "/containers/{id}/stop",
        "stop it: SIGTERM, then SIGKILL after t seconds",
        (Param("t", "2", "seconds to wait before SIGKILL"),),
    ),
    Operation(
        "POST",
        "/containers/{id}/kill",
        "send a signal",
        (Param("signal", "SIGKILL", "the signal"),),
    ),
    Operation(
        "POST",
        "/containers/{id}/wait",
        "answers when the container stops, with its exit code",
        (Param("condition", "not-running", "not-running, next-exit or removed"),),
        streams=True,
    ),
    Operation(
        "GET",
        "/containers/{id}/logs",
        "what it wrote: a multiplexed stream (stdout and stderr in frames)",
        (
            Param("stdout", "true", "include stdout"),
            Param("stderr", "true", "include stderr"),
            Param("follow", "true", "keep the connection open and send new output"),
            Param("timestamps", "true", "start each line with its time"),
            Param("tail", "10", "only the last lines"),
        ),
        streams=True,
    ),
    Operation(
        "GET",
        "/containers/{id}/top",
        "the processes in a running container (docker top)",
    ),
    Operation(
        "DELETE",
        "/containers/{id}",
        "remove a container (docker rm)",
        (_FORCE, Param("v", "true", "remove its anonymous volumes too")),
    ),
    Operation(
        "GET",
        "/events",
        "what happens on the engine, as it happens: JSON lines, for ever",
        (
            Param("since", "0", "also send past events since this Unix time"),
            Param("until", "", "stop at this Unix time"),
            Param("filters", '{"type":["container"]}', "JSON: which events"),
        ),
        streams=True,
    ),
    Operation("GET", "/networks", "the networks (docker network ls)"),
    Operation("GET", "/volumes", "the volumes (docker volume ls)"),
    Operation("GET", "/system/df", "disk use by images, containers and volumes"),
)

CUSTOM = "(type a path)"


def find(method: str, path: str) -> Operation | None:
    """The operation for ``method`` and a path template, if the map has it."""
    for op in OPERATIONS:
        if op.method == method.upper() and op.path == path:
            return op
    return None


def by_label() -> dict[str, Operation]:
    """``{"GET /images/json": Operation(...)}``, in the map's order."""
    return {op.label: op for op in OPERATIONS}


def may_stream(method: str, path: str, params: dict[str, str] | None = None) -> bool:
    """Whether an answer to this request may go on for long (so: no timeout, a Stop)."""
    params = params or {}
    if path.rstrip("/").endswith("/events"):
        return "until" not in params or not params["until"]
    if re.search(r"/containers/[^/]+/(logs|stats)$", path):
        return params.get("follow", params.get("stream", "")).lower() in ("1", "true")
    if re.search(r"/containers/[^/]+/(wait|attach)$", path):
        return True
    return path.endswith(("/images/create", "/build"))

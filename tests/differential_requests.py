"""The differential test's script and judge: the same requests to the lab engine, dockerd, Podman.

Three parts:

- ``SCRIPT``: the scripted requests, in order. Later steps use what earlier ones
  returned (``{a_id}`` is the ``Id`` that ``create-a`` captured) and the names
  of this run (``{a}``, ``{vol}``, ... all carry a random token so that runs
  never collide on a shared dockerd).
- :func:`run_script`: sends the script to one engine and keeps every reply.
- :func:`compare`: judges one step's two replies on status code, Content-Type,
  a few headers, and the *shape* of the JSON (key sets and value types at every
  depth; a list is judged by the merged shape of its elements). Values are not
  compared: ids, times and sizes differ between any two engines. A few bodies
  are deterministic and compared exactly (``OK`` from ``/_ping``, a container's
  output), and so are counts and orders the script makes certain (the results
  of a filter on this run's names, the actions of one container's events).

dockerd is the reference. The lab engine's replies are compared with it, and so
are Podman's (its Docker-compatible API service), the third column: what the lab
must live with on an engine many learners run. Every difference that is allowed
is in ``ALLOWED`` (the lab engine) or ``PODMAN_ALLOWED`` (Podman) with its reason,
and in ``docs/differential.md``; any other difference fails the step's test.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import json
import os
import re
import struct
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from image_fixtures import Reply, build_target, engine_now_ns, http_call, unix_time_arg

# --- the script

# Names this run creates; every one carries the run's token.
NAME_TEMPLATES = {
    "a": "lkd-{token}-a",
    "a2": "lkd-{token}-a2",
    "b": "lkd-{token}-b",
    "c": "lkd-{token}-c",
    "vol": "lkd-{token}-vol",
    "tag_repo": "lkd-{token}-tag",
}
MISSING = "labkit-no-such-thing"


@dataclass(frozen=True)
class Step:
    """One request of the script.

    ``body`` is JSON (a dict or list, placeholders substituted in its strings),
    raw ``bytes`` (sent as is), or None. ``capture`` maps a placeholder name to a
    top-level key of the JSON reply. ``check`` says how the bodies are compared:
    ``shape`` (JSON), ``lines`` (JSON lines, judged as a list), ``exact`` (the
    bytes), ``frames`` (the stdout and stderr carried by a multiplexed stream).
    ``headers`` are response headers whose presence must match. Where the script
    makes a list's content certain (a filter on this run's unique names, one
    container's events), ``count`` names that list (``$``, ``$.Volumes``,
    ``$[0].RepoTags``) and
    its length must match, and ``sequence`` names a key whose values, element by
    element, must match (the ``Action`` of each event, in order).
    """

    name: str
    method: str
    path: str
    # What a real dockerd answers (any of these): proves the script does what its step
    # names say. Two are (400, 500): dockerd 20.10 says 500 where Docker 23+ says 400.
    status: int | tuple[int, ...]
    query: Mapping[str, Any] = field(default_factory=dict)
    body: Any = None
    versioned: bool = True
    capture: Mapping[str, str] = field(default_factory=dict)
    check: str = "shape"
    headers: tuple[str, ...] = ()
    count: str | None = None
    sequence: str | None = None


def _step(name: str, status: int | tuple[int, ...], method: str, path: str, **kw: Any) -> Step:
    return Step(name, method, path, status, **kw)


TOKEN_LABEL = {"org.labkit.differential": "{token}"}
PING_HEADERS = ("Api-Version", "Ostype", "Docker-Experimental", "Cache-Control", "Pragma")
ONE_NAME = {"name": ["{token}"]}

SCRIPT: tuple[Step, ...] = (
    # system
    _step("ping", 200, "GET", "/_ping", versioned=False, check="exact", headers=PING_HEADERS),
    _step("ping-head", 200, "HEAD", "/_ping", versioned=False, check="exact", headers=PING_HEADERS),
    _step("ping-versioned", 200, "GET", "/_ping", check="exact", headers=PING_HEADERS),
    _step("version-unversioned", 200, "GET", "/version", versioned=False, headers=("Api-Version",)),
    _step("version", 200, "GET", "/version", headers=("Api-Version",)),
    _step("info", 200, "GET", "/info"),
    # images
    _step("images-list", 200, "GET", "/images/json"),
    _step(
        "images-list-reference",
        200,
        "GET",
        "/images/json",
        query={"filters": {"reference": ["busybox"]}},
        count="$",
    ),
    _step(
        "images-list-dangling",
        200,
        "GET",
        "/images/json",
        query={"filters": {"dangling": ["true"], "reference": ["busybox"]}},
        count="$",
    ),
    _step("image-inspect", 200, "GET", "/images/busybox/json", capture={"image_id": "Id"}),
    _step("image-inspect-by-id", 200, "GET", "/images/{image_id}/json"),
    _step("image-history", 200, "GET", "/images/busybox/history"),
    _step("image-inspect-404", 404, "GET", f"/images/{MISSING}/json"),
    _step("image-history-404", 404, "GET", f"/images/{MISSING}/history"),
    _step(
        "image-tag",
        201,
        "POST",
        "/images/busybox/tag",
        query={"repo": "{tag_repo}", "tag": "v1"},
        check="exact",
    ),
    _step("image-inspect-tagged", 200, "GET", "/images/{tag_repo}:v1/json"),
    # a reference filter lists only the tags that match it, not every tag of the image
    _step(
        "images-list-reference-tagged",
        200,
        "GET",
        "/images/json",
        query={"filters": {"reference": ["{tag_repo}"]}},
        count="$[0].RepoTags",
    ),
    _step(
        "image-tag-404",
        404,
        "POST",
        f"/images/{MISSING}/tag",
        query={"repo": "{tag_repo}", "tag": "v2"},
    ),
    _step("image-delete-tag", 200, "DELETE", "/images/{tag_repo}:v1", count="$"),
    _step("image-delete-404", 404, "DELETE", "/images/{tag_repo}:v1"),
    # containers: a runs to completion, b sleeps, c sleeps and hosts an exec
    _step(
        "create-a",
        201,
        "POST",
        "/containers/create",
        query={"name": "{a}"},
        body={
            "Image": "busybox",
            "Cmd": ["sh", "-c", "echo hello; echo oops >&2"],
            "Labels": TOKEN_LABEL,
        },
        capture={"a_id": "Id"},
    ),
    _step(
        "create-404-image",
        404,
        "POST",
        "/containers/create",
        body={"Image": MISSING, "Cmd": ["echo"]},
    ),
    _step(
        "create-409-name",
        409,
        "POST",
        "/containers/create",
        query={"name": "{a}"},
        body={"Image": "busybox"},
    ),
    _step("create-400-bad-json", (400, 500), "POST", "/containers/create", body=b'{"Image": '),
    _step("inspect-created", 200, "GET", "/containers/{a_id}/json"),
    _step("start-a", 204, "POST", "/containers/{a_id}/start", check="exact"),
    _step("wait-a", 200, "POST", "/containers/{a_id}/wait"),
    _step(
        "wait-a-not-running",
        200,
        "POST",
        "/containers/{a_id}/wait",
        query={"condition": "not-running"},
    ),
    _step(
        "wait-bad-condition-400",
        (200, 400),
        "POST",
        "/containers/{a_id}/wait",
        query={"condition": "bogus"},
    ),
    _step("inspect-exited-by-name", 200, "GET", "/containers/{a}/json"),
    _step(
        "logs-a",
        200,
        "GET",
        "/containers/{a_id}/logs",
        query={"stdout": "1", "stderr": "1"},
        check="frames",
    ),
    _step(
        "logs-a-stdout",
        200,
        "GET",
        "/containers/{a_id}/logs",
        query={"stdout": "1"},
        check="frames",
    ),
    # attach without an upgrade: a 200 and the raw stream; stream=0 replays the logs and ends
    _step(
        "attach-logs",
        200,
        "POST",
        "/containers/{a_id}/attach",
        query={"logs": "1", "stream": "0", "stdout": "1", "stderr": "1"},
        check="frames",
    ),
    _step(
        "create-b",
        201,
        "POST",
        "/containers/create",
        query={"name": "{b}"},
        body={"Image": "busybox", "Cmd": ["sleep", "60"], "Labels": TOKEN_LABEL},
        capture={"b_id": "Id"},
    ),
    _step("start-b", 204, "POST", "/containers/{b_id}/start", check="exact"),
    _step("start-b-again-304", 304, "POST", "/containers/{b_id}/start", check="exact"),
    _step("containers-list", 200, "GET", "/containers/json"),
    _step(
        "containers-list-all-name",
        200,
        "GET",
        "/containers/json",
        query={"all": "1", "filters": ONE_NAME},
        count="$",
    ),
    _step(
        "containers-list-label-exited",
        200,
        "GET",
        "/containers/json",
        query={
            "all": "1",
            "filters": {"label": ["org.labkit.differential={token}"], "status": ["exited"]},
        },
        count="$",
    ),
    _step(
        "containers-list-bad-filter",
        (400, 500),
        "GET",
        "/containers/json",
        query={"filters": "not json"},
    ),
    _step("top-b", 200, "GET", "/containers/{b_id}/top"),
    _step("top-stopped-409", 409, "GET", "/containers/{a_id}/top"),
    _step("stop-b", 204, "POST", "/containers/{b_id}/stop", query={"t": "1"}, check="exact"),
    _step(
        "stop-b-again-304", 304, "POST", "/containers/{b_id}/stop", query={"t": "1"}, check="exact"
    ),
    _step("restart-b", 204, "POST", "/containers/{b_id}/restart", query={"t": "1"}, check="exact"),
    _step("kill-b", 204, "POST", "/containers/{b_id}/kill", check="exact"),
    _step("wait-b", 200, "POST", "/containers/{b_id}/wait"),
    _step("kill-stopped-409", 409, "POST", "/containers/{b_id}/kill"),
    _step(
        "rename-a", 204, "POST", "/containers/{a_id}/rename", query={"name": "{a2}"}, check="exact"
    ),
    _step("inspect-renamed", 200, "GET", "/containers/{a2}/json"),
    _step("rename-409", 409, "POST", "/containers/{b_id}/rename", query={"name": "{a2}"}),
    _step(
        "create-c",
        201,
        "POST",
        "/containers/create",
        query={"name": "{c}"},
        body={"Image": "busybox", "Cmd": ["sleep", "60"], "Labels": TOKEN_LABEL},
        capture={"c_id": "Id"},
    ),
    _step("start-c", 204, "POST", "/containers/{c_id}/start", check="exact"),
    _step("delete-running-409", 409, "DELETE", "/containers/{c_id}"),
    _step(
        "exec-create",
        201,
        "POST",
        "/containers/{c_id}/exec",
        body={
            "Cmd": ["sh", "-c", "echo hi; echo ho >&2"],
            "AttachStdout": True,
            "AttachStderr": True,
        },
        capture={"exec_id": "Id"},
    ),
    _step("exec-inspect", 200, "GET", "/exec/{exec_id}/json"),
    _step(
        "exec-start",
        200,
        "POST",
        "/exec/{exec_id}/start",
        body={"Detach": False, "Tty": False},
        check="frames",
    ),
    _step("exec-inspect-done", 200, "GET", "/exec/{exec_id}/json"),
    _step(
        "exec-create-stopped-409",
        409,
        "POST",
        "/containers/{a_id}/exec",
        body={"Cmd": ["echo"], "AttachStdout": True},
    ),
    _step("exec-inspect-404", 404, "GET", f"/exec/{MISSING}/json"),
    _step(
        "delete-c-force", 204, "DELETE", "/containers/{c_id}", query={"force": "1"}, check="exact"
    ),
    _step("delete-a", 204, "DELETE", "/containers/{a_id}", check="exact"),
    # prune only this run's containers (a shared dockerd has other suites' too): removes b
    _step(
        "containers-prune-label",
        200,
        "POST",
        "/containers/prune",
        query={"filters": {"label": ["org.labkit.differential={token}"]}},
        count="$.ContainersDeleted",
    ),
    _step("delete-pruned-404", 404, "DELETE", "/containers/{b_id}"),
    _step("build-prune", 200, "POST", "/build/prune"),
    _step("inspect-deleted-404", 404, "GET", "/containers/{a_id}/json"),
    _step("delete-404", 404, "DELETE", f"/containers/{MISSING}"),
    _step("start-404", 404, "POST", f"/containers/{MISSING}/start"),
    _step("logs-404", 404, "GET", f"/containers/{MISSING}/logs", query={"stdout": "1"}),
    _step("stop-404", 404, "POST", f"/containers/{MISSING}/stop"),
    _step("kill-404", 404, "POST", f"/containers/{MISSING}/kill"),
    _step("wait-404", 404, "POST", f"/containers/{MISSING}/wait"),
    _step("top-404", 404, "GET", f"/containers/{MISSING}/top"),
    _step(
        "exec-start-404",
        404,
        "POST",
        f"/exec/{MISSING}/start",
        body={"Detach": False, "Tty": False},
    ),
    # networks
    _step("networks-list", 200, "GET", "/networks"),
    _step(
        "networks-list-name",
        200,
        "GET",
        "/networks",
        query={"filters": {"name": ["none"]}},
        count="$",
    ),
    _step("network-inspect", 200, "GET", "/networks/none"),
    _step("network-inspect-404", 404, "GET", f"/networks/{MISSING}"),
    # volumes
    _step(
        "volume-create",
        201,
        "POST",
        "/volumes/create",
        body={"Name": "{vol}", "Labels": TOKEN_LABEL},
    ),
    _step(
        "volume-create-again",
        201,
        "POST",
        "/volumes/create",
        body={"Name": "{vol}", "Labels": TOKEN_LABEL},
    ),
    _step("volumes-list", 200, "GET", "/volumes"),
    _step(
        "volumes-list-name",
        200,
        "GET",
        "/volumes",
        query={"filters": {"name": ["{vol}"]}},
        count="$.Volumes",
    ),
    _step("volume-inspect", 200, "GET", "/volumes/{vol}"),
    _step("volume-delete", 204, "DELETE", "/volumes/{vol}", check="exact"),
    _step("volume-inspect-404", 404, "GET", "/volumes/{vol}"),
    _step("volume-delete-404", 404, "DELETE", "/volumes/{vol}"),
    # events, bounded by until so that the stream ends
    _step(
        "events-container",
        200,
        "GET",
        "/events",
        query={"since": "{since}", "until": "{now}", "filters": {"container": ["{a_id}"]}},
        check="lines",
        sequence="Action",
    ),
    _step(
        "events-volume",
        200,
        "GET",
        "/events",
        query={
            "since": "{since}",
            "until": "{now}",
            "filters": {"type": ["volume"], "volume": ["{vol}"]},
        },
        check="lines",
        sequence="Action",
    ),
    # routing and versions
    _step("unknown-path-404", 404, "GET", "/labkit/no/such/path", versioned=False),
    _step("unknown-versioned-path-404", 404, "GET", "/labkit/no/such/path"),
    _step("version-too-new-400", 400, "GET", "/v9.99/version", versioned=False),
)


# --- running it


@dataclass
class Outcome:
    """What one engine answered to one step (or why the step could not be sent)."""

    step: Step
    target: str = ""
    status: int | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    error: str | None = None

    def header(self, name: str) -> str | None:
        return Reply(self.status or 0, self.headers, self.body).header(name)

    def describe(self) -> str:
        return f"{self.step.method} {self.target or self.step.path}"

    def status_expected(self) -> bool:
        """Whether the status is the one a real dockerd gives this step."""
        wanted = self.step.status
        return self.status in (wanted if isinstance(wanted, tuple) else (wanted,))


class MissingValue(KeyError):
    """A placeholder whose value an earlier step should have captured but did not."""


# How ``{now}`` is read: set per run to the engine's own clock (see :func:`run_script`).
NowReader = Callable[[], str]


class _Context(dict):
    def __init__(self, values: Mapping[str, str], now: NowReader | None) -> None:
        super().__init__(values)
        self._now = now

    def __missing__(self, key: str) -> str:
        if key == "now" and self._now is not None:
            return self._now()
        raise MissingValue(key)


def new_context(token: str, since: str = "0") -> dict[str, str]:
    """Placeholder values for one run: the names, and the start of the events window.

    ``since`` is in the API's ``seconds.nanoseconds`` form, read from the engine's clock.
    """
    ctx = {key: template.format(token=token) for key, template in NAME_TEMPLATES.items()}
    ctx["token"] = token
    ctx["since"] = since
    return ctx


def substitute(value: Any, ctx: Mapping[str, str], now: NowReader | None = None) -> Any:
    """Fill ``{placeholders}`` in every string inside ``value`` (dicts, lists, keys too)."""
    if isinstance(value, str):
        return value.format_map(_Context(ctx, now))
    if isinstance(value, dict):
        return {substitute(k, ctx, now): substitute(v, ctx, now) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [substitute(v, ctx, now) for v in value]
    return value


def request_target(
    step: Step, api_version: str, ctx: Mapping[str, str], now: NowReader | None = None
) -> str:
    path = substitute(step.path, ctx, now)
    if step.versioned:
        path = f"/v{api_version}{path}"
    return build_target(path, substitute(dict(step.query), ctx, now))


def request_body(step: Step, ctx: Mapping[str, str]) -> bytes | None:
    if step.body is None or isinstance(step.body, bytes):
        return step.body
    return json.dumps(substitute(step.body, ctx)).encode()


def engine_clock(socket_path: str | os.PathLike[str]) -> NowReader:
    """``{now}`` for one engine: its own ``SystemTime``, as ``seconds.nanoseconds``."""
    return lambda: unix_time_arg(engine_now_ns(socket_path))


def run_step(
    socket_path: str | os.PathLike[str], step: Step, api_version: str, ctx: dict[str, str]
) -> Outcome:
    """Send one step; on success store what it captures in ``ctx``."""
    try:
        target = request_target(step, api_version, ctx, engine_clock(socket_path))
        body = request_body(step, ctx)
    except MissingValue as missing:
        producer = next((s.name for s in SCRIPT if missing.args[0] in s.capture), "an earlier step")
        return Outcome(
            step, error=f"not sent: needs {{{missing.args[0]}}}, which {producer} did not capture"
        )
    try:
        reply = http_call(socket_path, step.method, target, body=body)
    except OSError as exc:
        return Outcome(step, target, error=f"no reply: {exc.__class__.__name__}: {exc}")
    outcome = Outcome(step, target, reply.status, reply.headers, reply.body)
    if step.capture and 200 <= reply.status < 300:
        try:
            data = reply.json()
        except ValueError:
            data = None
        for key, field_name in step.capture.items():
            if isinstance(data, dict) and isinstance(data.get(field_name), str):
                ctx[key] = data[field_name]
    return outcome


def run_script(
    socket_path: str | os.PathLike[str],
    api_version: str,
    ctx: dict[str, str],
    steps: Iterable[Step] = SCRIPT,
) -> dict[str, Outcome]:
    """Send every step in order to one engine; returns the outcomes by step name.

    The events window opens now, by the engine's clock, unless ``ctx`` says otherwise.
    """
    if ctx.get("since", "0") == "0":
        ctx["since"] = engine_clock(socket_path)()
    return {step.name: run_step(socket_path, step, api_version, ctx) for step in steps}


def cleanup(socket_path: str | os.PathLike[str], api_version: str, ctx: Mapping[str, str]) -> None:
    """Remove whatever the script may have left: containers, the volume, the tag (404s are fine)."""
    prefix = f"/v{api_version}"
    for key in ("a", "a2", "b", "c", "a_id", "b_id", "c_id"):
        if key in ctx:
            http_call(socket_path, "DELETE", f"{prefix}/containers/{ctx[key]}?force=1")
    http_call(socket_path, "DELETE", f"{prefix}/volumes/{ctx['vol']}?force=1")
    for tag in ("v1", "v2"):
        http_call(socket_path, "DELETE", f"{prefix}/images/{ctx['tag_repo']}:{tag}")


# --- shapes

# A shape is "string" | "number" | "boolean" | "null", or a dict:
#   {"object": {key: shape}}   a struct: its key set is compared
#   {"map": shape | None}      a map with free keys (labels, attributes): only value shapes compared
#   {"array": shape | None}    a list: its elements' merged shape (None when empty)
#   {"union": [shape, ...]}    a list whose elements disagree with each other

# Keys whose objects are maps (free keys), not structs: Go ``map[string]...`` fields.
MAP_KEYS = frozenset(
    {
        "Labels",
        "Attributes",
        "Networks",
        "Ports",
        "ExposedPorts",
        "Volumes",
        "Options",
        "DriverOpts",
        "IndexConfigs",
        "Runtimes",
        "Data",
        "Containers",
        "Status",
        "Annotations",
        "Sysctls",
        "Tmpfs",
        "StorageOpt",
        "Details",
        "Config",
    }
)
# ...but only where the key is really a map: "Config" is a map in LogConfig, a struct elsewhere.
MAP_ONLY_UNDER = {"Config": "LogConfig"}


def _is_map(path: str) -> bool:
    parts = path.split(".")
    key = parts[-1]
    if key not in MAP_KEYS:
        return False
    parent = MAP_ONLY_UNDER.get(key)
    return parent is None or (len(parts) >= 2 and parts[-2] == parent)


def shape_of(value: Any, path: str = "$") -> Any:
    """The shape of a JSON value (see the comment above); ``path`` decides map vs struct."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        element = None
        for item in value:
            element = merge(element, shape_of(item, path + "[]"))
        return {"array": element}
    if isinstance(value, dict):
        if _is_map(path):
            element = None
            for item in value.values():
                element = merge(element, shape_of(item, path + ".*"))
            return {"map": element}
        return {"object": {key: shape_of(item, f"{path}.{key}") for key, item in value.items()}}
    raise TypeError(f"not a JSON value at {path}: {value!r}")


def merge(a: Any, b: Any) -> Any:
    """The shape that covers both ``a`` and ``b`` (``None`` means: nothing seen yet)."""
    if a is None:
        return b
    if b is None or a == b:
        return a
    if a == "null":
        return b
    if b == "null":
        return a
    if isinstance(a, dict) and isinstance(b, dict) and a.keys() == b.keys():
        kind = next(iter(a))
        if kind == "object":
            keys = list(a["object"]) + [k for k in b["object"] if k not in a["object"]]
            return {"object": {k: merge(a["object"].get(k), b["object"].get(k)) for k in keys}}
        if kind in ("array", "map"):
            return {kind: merge(a[kind], b[kind])}
    unique: list[Any] = []
    for option in [*_union_members(a), *_union_members(b)]:
        if option not in unique:
            unique.append(option)
    return {"union": unique}


def _union_members(shape: Any) -> list[Any]:
    if isinstance(shape, dict) and "union" in shape:
        return list(shape["union"])
    return [shape]


def describe_shape(shape: Any) -> str:
    """A short human name for a shape: ``string``, ``object{Id,Names,...}``, ``array of number``."""
    if shape is None:
        return "nothing"
    if isinstance(shape, str):
        return shape
    kind, inner = next(iter(shape.items()))
    if kind == "object":
        keys = list(inner)
        shown = ",".join(keys[:6]) + (",..." if len(keys) > 6 else "")
        return f"object{{{shown}}}"
    if kind == "union":
        return " | ".join(describe_shape(s) for s in inner)
    return f"{kind} of {describe_shape(inner)}"


# --- comparing


@dataclass(frozen=True)
class Difference:
    """One way the lab engine's reply differs from dockerd's.

    ``where``: ``status``, ``header Content-Type``, ``body``, or a JSON path such
    as ``$.State.Health`` (``[]`` stands for every element of a list, ``*`` for
    every value of a map). ``kind``: ``value``, ``missing`` (dockerd has it, the
    lab engine lacks it), ``extra`` (the lab engine has it, dockerd lacks it),
    ``type`` (both have it, with different types).
    """

    step: str
    where: str
    kind: str
    lab: str
    real: str
    subject: str = "the lab engine"  # the engine compared with dockerd (``lab`` is its side)

    def __str__(self) -> str:
        if self.kind == "missing":
            return f"{self.where}: dockerd has it ({self.real}), {self.subject} lacks it"
        if self.kind == "extra":
            return f"{self.where}: {self.subject} has it ({self.lab}), dockerd lacks it"
        return f"{self.where}: {self.subject.removeprefix('the ')} {self.lab} / dockerd {self.real}"


def compare_shapes(step: str, lab: Any, real: Any, path: str = "$") -> list[Difference]:
    """Every difference between two shapes, depth first."""
    if lab == real or lab is None or real is None:
        return []  # equal, or an empty list/map on one side: nothing to compare element-wise
    if "null" in (lab, real):
        other = real if lab == "null" else lab
        if isinstance(other, dict) and next(iter(other)) in ("array", "map", "object"):
            return []  # Go sends a nil slice, map or pointer as null: clients accept both
        return [Difference(step, path, "type", describe_shape(lab), describe_shape(real))]
    if isinstance(lab, dict) and isinstance(real, dict):
        lab_kind, real_kind = next(iter(lab)), next(iter(real))
        if lab_kind == real_kind == "object":
            return _compare_objects(step, lab["object"], real["object"], path)
        if lab_kind == real_kind == "array":
            return compare_shapes(step, lab["array"], real["array"], path + "[]")
        if lab_kind == real_kind == "map":
            return compare_shapes(step, lab["map"], real["map"], path + ".*")
    return [Difference(step, path, "type", describe_shape(lab), describe_shape(real))]


def _compare_objects(step: str, lab: dict, real: dict, path: str) -> list[Difference]:
    out: list[Difference] = []
    for key in real:
        where = f"{path}.{key}"
        if key not in lab:
            out.append(Difference(step, where, "missing", "", describe_shape(real[key])))
        else:
            out.extend(compare_shapes(step, lab[key], real[key], where))
    for key in lab:
        if key not in real:
            out.append(Difference(step, f"{path}.{key}", "extra", describe_shape(lab[key]), ""))
    return out


def media_type(value: str | None) -> str | None:
    """A Content-Type, normalised: lower case, no spaces around ``;``."""
    if value is None:
        return None
    return ";".join(part.strip() for part in value.lower().split(";"))


def body_shape(outcome: Outcome) -> Any:
    """The shape of a JSON body (``lines``: a JSON-lines body, as a list); None when empty.

    Raises ValueError when the body is not JSON.
    """
    text = outcome.body.decode("utf-8")
    if outcome.step.check == "lines":
        return shape_of([json.loads(line) for line in text.splitlines() if line.strip()])
    if not text.strip():
        return None
    return shape_of(json.loads(text))


def demux(data: bytes) -> tuple[bytes, bytes, bytes]:
    """(stdout, stderr, bytes left over) from a multiplexed stream."""
    streams = {1: b"", 2: b""}
    offset = 0
    while len(data) - offset >= 8:
        kind, size = struct.unpack(">B3xI", data[offset : offset + 8])
        if len(data) - offset - 8 < size:
            break
        chunk = data[offset + 8 : offset + 8 + size]
        streams[kind] = streams.get(kind, b"") + chunk
        offset += 8 + size
    return streams[1], streams[2], data[offset:]


def compare_as(subject: str, ours: Outcome, real: Outcome) -> list[Difference]:
    """:func:`compare` for another engine than the lab engine, named ``subject`` in reports."""
    return [dataclasses.replace(diff, subject=subject) for diff in compare(ours, real)]


def compare(lab: Outcome, real: Outcome) -> list[Difference]:
    """Every difference between the two engines' replies to one step (before allowances)."""
    step = lab.step
    name = step.name
    if real.error or lab.error:
        return [Difference(name, "request", "value", lab.error or "sent", real.error or "sent")]
    out: list[Difference] = []
    if lab.status != real.status:
        out.append(Difference(name, "status", "value", str(lab.status), str(real.status)))
    lab_type, real_type = (
        media_type(lab.header("Content-Type")),
        media_type(real.header("Content-Type")),
    )
    if lab_type != real_type:
        out.append(Difference(name, "header Content-Type", "value", str(lab_type), str(real_type)))
    for header in step.headers:
        has_lab, has_real = lab.header(header) is not None, real.header(header) is not None
        if has_lab != has_real:
            out.append(
                Difference(
                    name,
                    f"header {header}",
                    "missing" if has_real else "extra",
                    str(lab.header(header)),
                    str(real.header(header)),
                )
            )
    if lab.status != real.status:
        return out  # bodies of different statuses say different things; the status says it all
    out.extend(_compare_bodies(lab, real))
    if step.count or step.sequence:
        out.extend(_compare_contents(lab, real))
    return out


def _parsed(outcome: Outcome) -> Any:
    text = outcome.body.decode("utf-8", "replace")
    if outcome.step.check == "lines":
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    return json.loads(text)


def _at(data: Any, path: str) -> Any:
    """The value at a simple path (``$``, ``$.Volumes``, ``$[0].RepoTags``); None when absent."""
    for key, index in re.findall(r"\.([A-Za-z_]+)|\[(\d+)\]", path):
        if key:
            data = data.get(key) if isinstance(data, dict) else None
        else:
            data = data[int(index)] if isinstance(data, list) and len(data) > int(index) else None
    return data


def _compare_contents(lab: Outcome, real: Outcome) -> list[Difference]:
    """Lengths and key sequences the script makes certain (see :class:`Step`)."""
    step = lab.step
    try:
        lab_data, real_data = _parsed(lab), _parsed(real)
    except ValueError:
        return []  # not JSON: _compare_bodies has said so already
    out: list[Difference] = []
    if step.count:
        lab_list, real_list = _at(lab_data, step.count), _at(real_data, step.count)
        lab_len = len(lab_list) if isinstance(lab_list, list) else 0
        real_len = len(real_list) if isinstance(real_list, list) else 0
        if lab_len != real_len:
            where = f"{step.count} length"
            out.append(Difference(step.name, where, "value", str(lab_len), str(real_len)))
    if step.sequence:
        key = step.sequence

        def values(data: Any) -> list[Any]:
            items = data if isinstance(data, list) else []
            return [item.get(key) if isinstance(item, dict) else None for item in items]

        if values(lab_data) != values(real_data):
            where = f"$[].{key} in order"
            out.append(
                Difference(step.name, where, "value", str(values(lab_data)), str(values(real_data)))
            )
    return out


def _compare_bodies(lab: Outcome, real: Outcome) -> list[Difference]:
    name = lab.step.name
    if lab.step.check == "exact":
        if lab.body != real.body:
            return [Difference(name, "body", "value", repr(lab.body[:200]), repr(real.body[:200]))]
        return []
    if lab.step.check == "frames":
        if lab.body == real.body:
            return []
        lab_out, lab_err, lab_rest = demux(lab.body)
        real_out, real_err, _ = demux(real.body)
        found = []
        if lab_rest:
            found.append(
                Difference(
                    name, "body", "value", f"bytes outside any frame {lab_rest[:60]!r}", "none"
                )
            )
        if (lab_out, lab_err) != (real_out, real_err):
            found.append(
                Difference(
                    name,
                    "body",
                    "value",
                    f"stdout {lab_out!r} stderr {lab_err!r}",
                    f"stdout {real_out!r} stderr {real_err!r}",
                )
            )
        return found
    try:
        real_shape = body_shape(real)
    except ValueError:
        return []  # dockerd's body is not JSON here: nothing to compare shapes with
    try:
        lab_shape = body_shape(lab)
    except (ValueError, UnicodeDecodeError):
        return [Difference(name, "body", "value", f"not JSON: {lab.body[:120]!r}", "JSON")]
    return compare_shapes(name, lab_shape, real_shape)


# --- what is allowed


@dataclass(frozen=True)
class Allowance:
    """A difference that is expected, and why. ``steps``/``where`` are fnmatch patterns."""

    steps: str
    where: str
    kind: str  # value | missing | extra | type | * (any)
    reason: str

    def covers(self, diff: Difference) -> bool:
        return (
            fnmatch.fnmatchcase(diff.step, self.steps)
            and fnmatch.fnmatchcase(diff.where, self.where)
            and self.kind in ("*", diff.kind)
        )


# dockerd here is 20.10 (API 1.41); the lab engine speaks API 1.51, and the script
# talks to both at the lower version. Newer dockerds add fields at every API version
# and drop deprecated ones only at newer versions; the lab engine has one shape.
ALLOWED: tuple[Allowance, ...] = (
    Allowance(
        "create-400-bad-json",
        "status",
        "value",
        "dockerd 20.10 answers a malformed JSON body with 500; Docker 23+ (and the lab "
        "engine) with 400 'invalid JSON' (moby commit 0c9ff0b4, httputils.ReadJSON()).",
    ),
    Allowance(
        "containers-list-bad-filter",
        "status",
        "value",
        "dockerd 20.10 answers a filters value that is not JSON with 500; Docker 23+ (and "
        "the lab engine) with 400 (moby commit 2d45b5dd, 'return correct status on invalid "
        "filters').",
    ),
    Allowance(
        "inspect-exited-*",
        "$.Config.NetworkDisabled",
        "missing",
        "The test dockerd runs with --bridge=none, so it sets Config.NetworkDisabled=true on "
        "every container it starts; the field is omitempty, and a dockerd with a bridge (like "
        "the lab engine, which has one) leaves it out.",
    ),
    Allowance(
        "inspect-renamed",
        "$.Config.NetworkDisabled",
        "missing",
        "Same container as inspect-exited-by-name: --bridge=none on the test dockerd.",
    ),
    Allowance(
        "wait-bad-condition-400",
        "status",
        "value",
        "API 1.42 (Docker 23) made POST /containers/{id}/wait answer 400 to an unknown "
        "condition; dockerd 20.10 ignores it and waits (200). The lab engine rejects it.",
    ),
)


# What moby's API version history (api/docs/CHANGELOG.md) says changed between dockerd's
# version here (1.41) and the lab engine's newest: a client at the newest version gets
# these differences from dockerd 20.10's replies, and no others.
_IMAGE_CONFIG_DROPPED = (
    "Hostname",
    "Domainname",
    "AttachStdin",
    "AttachStdout",
    "AttachStderr",
    "Tty",
    "OpenStdin",
    "StdinOnce",
    "Image",
)
VERSION_CHANGES: tuple[Allowance, ...] = (
    Allowance(
        "*",
        "header Content-Type",
        "value",
        "API 1.42: logs, attach and exec start say application/vnd.docker.multiplexed-stream "
        "when they send frames (dockerd 20.10 sends raw-stream on attach and exec, and no "
        "Content-Type on logs).",
    ),
    Allowance(
        "inspect-*",
        "$.HostConfig.KernelMemory*",
        "missing",
        "API 1.42: container inspect omits KernelMemory and KernelMemoryTCP when unset.",
    ),
    Allowance(
        "*",
        "$.NetworkSettings.Networks.*.DNSNames",
        "extra",
        "API 1.44: each endpoint lists DNSNames.",
    ),
    Allowance(
        "containers-list*",
        "$[].NetworkSettings.Networks.*.DNSNames",
        "extra",
        "API 1.44: each endpoint lists DNSNames.",
    ),
    Allowance(
        "*",
        "$.NetworkSettings.Networks.*.GwPriority",
        "extra",
        "API 1.48: endpoints have a GwPriority.",
    ),
    Allowance(
        "containers-list*",
        "$[].NetworkSettings.Networks.*.GwPriority",
        "extra",
        "API 1.48: endpoints have a GwPriority.",
    ),
    Allowance("images-list*", "$[].VirtualSize", "missing", "API 1.44 omits VirtualSize."),
    Allowance("image-inspect*", "$.VirtualSize", "missing", "API 1.44 omits VirtualSize."),
    Allowance(
        "image-inspect*",
        "$.Container*",
        "missing",
        "API 1.45: image inspect omits Container and ContainerConfig.",
    ),
    *(
        Allowance(
            "image-inspect*",
            f"$.Config.{key}",
            "missing",
            "API 1.50: image inspect's Config omits the fields only a container has.",
        )
        for key in _IMAGE_CONFIG_DROPPED
    ),
    Allowance("info", "$.CDISpecDirs", "extra", "API 1.44: /info lists CDISpecDirs."),
    Allowance(
        "info",
        "$.RegistryConfig.AllowNondistributableArtifacts*",
        "missing",
        "API 1.49 (moby's router: from 1.47) omits the AllowNondistributableArtifacts fields.",
    ),
    Allowance(
        "info",
        "$.*Commit.Expected",
        "missing",
        "API 1.49 omits ContainerdCommit/RuncCommit/InitCommit.Expected.",
    ),
    Allowance(
        "info", "$.BridgeNfIp*tables", "missing", "API 1.50 omits BridgeNfIptables/Ip6tables."
    ),
    Allowance("network*", "$.EnableIPv4", "extra", "API 1.48: networks say EnableIPv4."),
    Allowance("networks-list*", "$[].EnableIPv4", "extra", "API 1.48: networks say EnableIPv4."),
)


# Podman 4.3 (Debian's podman, its compat API at 1.41) against dockerd 20.10 at the same
# version. Podman is not the lab's to change: each rule says where it simply differs,
# so that the lab's client, lessons and checks can live with it (docs/differential.md).
PODMAN_ALLOWED: tuple[Allowance, ...] = (
    Allowance(
        "*",
        "$*",
        "extra",
        "Podman adds fields of its own beside Docker's (Names, Digest, History in the image "
        "list; cause and response in every error body; Rootless, BuildahVersion in /info; "
        "StopSignal, Health, SizeRootFs in inspect). Clients ignore fields they do not know.",
    ),
    Allowance(
        "ping*",
        "header Ostype",
        "missing",
        "Podman's /_ping carries no Ostype header; the docker CLI then assumes linux.",
    ),
    Allowance(
        "ping-head",
        "header Content-Type",
        "value",
        "Podman answers HEAD /_ping with no Content-Type.",
    ),
    Allowance(
        "images-list-reference-tagged",
        "*.RepoTags length",
        "value",
        "Podman's reference filter picks images and lists every name of each (busybox:latest "
        "beside the tag that matched); dockerd lists only the names that match. Exercise 04.1 "
        "takes both.",
    ),
    Allowance(
        "image-tag",
        "*",
        "value",
        "Podman answers a tag's 201 with a text/plain body holding a newline; dockerd's is empty.",
    ),
    Allowance(
        "create-409-name",
        "status",
        "value",
        "Podman answers a container name already in use with 500 ('the container name ... is "
        "already in use'), where dockerd says 409.",
    ),
    Allowance(
        "*-409",
        "status",
        "value",
        "Podman answers a request the container's state forbids (kill or exec on a stopped "
        "container, delete of a running one) with 500 'container state improper'; top of a "
        "stopped container with 200 and an empty body. dockerd says 409.",
    ),
    Allowance(
        "top-*",
        "header Content-Type",
        "value",
        "Podman sends top's JSON with no Content-Type.",
    ),
    Allowance(
        "inspect-*",
        "$.HostConfig.*",
        "type",
        "Podman writes its defaults as numbers (MemorySwappiness, PidsLimit) where dockerd "
        "writes null for a value nobody set.",
    ),
    Allowance(
        "inspect-*",
        "$.Config.NetworkDisabled",
        "missing",
        "The test dockerd runs with --bridge=none, which sets Config.NetworkDisabled; Podman's "
        "containers are on its bridge network, so the omitempty field is absent.",
    ),
    Allowance(
        "logs-*",
        "header Content-Type",
        "value",
        "Podman sends logs as application/octet-stream; dockerd 20.10 sends no type, Docker 23+ "
        "application/vnd.docker.multiplexed-stream. labkit's recorder takes all three.",
    ),
    Allowance(
        "attach-logs",
        "body",
        "value",
        "A Podman 4.3 bug: attach with logs=1 replays the log with each frame's length one byte "
        "short (the newline is left outside the frame), so a demultiplexer loses step.",
    ),
    Allowance(
        "containers-list*",
        "$[].HostConfig",
        "missing",
        "Podman's container list has no HostConfig (dockerd gives its NetworkMode).",
    ),
    Allowance(
        "containers-list-label-exited",
        "$ length",
        "value",
        "A Podman 4.3 bug: attach to an exited container (attach-logs, earlier) turns it back "
        "into a created one, so the exited filter no longer finds it.",
    ),
    Allowance(
        "exec-inspect",
        "$.ExitCode",
        "type",
        "Before an exec has run, Podman gives ExitCode 0; dockerd gives null (no exit yet).",
    ),
    Allowance(
        "build-prune",
        "*",
        "*",
        "Podman 4.3's compat API has no POST /build/prune (404, text/plain 'Not Found').",
    ),
    Allowance(
        "networks-list-name",
        "$ length",
        "value",
        "Podman has no network object called none ('none' is a mode, not a network), so the "
        "name filter finds nothing.",
    ),
    Allowance(
        "network-inspect",
        "status",
        "value",
        "Podman has no network object called none: inspecting it is 404.",
    ),
    Allowance(
        "events-*",
        "$[].Action in order",
        "value",
        "With its file events backend (no journald here), Podman 4.3 returns no past events "
        "when until has passed already (podman issue 29579); where journald keeps its events, "
        "and for a live stream, the events are there.",
    ),
    Allowance(
        "unknown-*",
        "*",
        "value",
        "Podman's router answers a path it does not know with text/plain 'Not Found'.",
    ),
    Allowance(
        "version-too-new-400",
        "status",
        "value",
        "Podman 4.3 does not check the version in the path: /v9.99/version is served (200).",
    ),
    Allowance(
        "wait-bad-condition-400",
        "status",
        "value",
        "Podman refuses an unknown wait condition with 400, as Docker 23+ does; dockerd 20.10 "
        "ignores it and waits (200).",
    ),
)


def unexplained(
    diffs: Iterable[Difference], allowed: Iterable[Allowance] = ALLOWED
) -> list[Difference]:
    rules = list(allowed)
    return [d for d in diffs if not any(rule.covers(d) for rule in rules)]


def report(
    lab: Outcome, real: Outcome, diffs: list[Difference], subject: str = "the lab engine"
) -> str:
    """A readable failure message: the request, and each difference on its own line."""
    lines = [f"step {lab.step.name}: {lab.describe()}"]
    if lab.step.body is not None:
        lines.append(f"  request body: {request_body_preview(lab.step)}")
    lines.extend(f"  {diff}" for diff in diffs)
    lines.append(f"  {subject.removeprefix('the ')} replied {lab.status}: {lab.body[:300]!r}")
    lines.append(f"  dockerd replied {real.status}: {real.body[:300]!r}")
    return "\n".join(lines)


def request_body_preview(step: Step) -> str:
    if isinstance(step.body, bytes):
        return repr(step.body)
    return json.dumps(step.body)

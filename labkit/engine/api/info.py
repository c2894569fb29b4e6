"""``/info`` (what ``docker info`` prints), ``/events`` (the event stream) and ``/system/df``."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from typing import Any

from labkit.engine import identity
from labkit.engine.model.clock import NS, parse_api_time, rfc3339
from labkit.engine.model.events import matches
from labkit.engine.model.versions import older_than
from labkit.engine.replies import ApiError, JSONReply, Reply, Request, StreamReply


def _engine_id(engine: Any) -> str:
    """A stable id in dockerd's newer (UUID) form, kept in the state so it survives restarts."""
    value = engine.store.get_meta("engine_id")
    if value is None:
        raw = engine._new_id()
        value = f"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:32]}"
        engine.store.set_meta("engine_id", value)
    return value


def _mem_total() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0


async def info(req: Request) -> Reply:
    return JSONReply(info_for_version(_info(req), req.api_version))


def info_for_version(body: dict[str, Any], api_version: str | None) -> dict[str, Any]:
    """The fields of ``/info`` that came or went between API versions, as moby's version
    history and its router (getInfo) give them."""
    if older_than(api_version, "1.47"):
        body["RegistryConfig"] = {
            "AllowNondistributableArtifactsCIDRs": [],
            "AllowNondistributableArtifactsHostnames": [],
            **body["RegistryConfig"],
        }
    if older_than(api_version, "1.49"):
        for key in ("ContainerdCommit", "RuncCommit", "InitCommit"):
            body[key] = {**body[key], "Expected": body[key]["ID"]}
    if older_than(api_version, "1.50"):
        body["BridgeNfIptables"] = False
        body["BridgeNfIp6tables"] = False
    if not older_than(api_version, "1.44"):
        body["CDISpecDirs"] = []
    return body


def _info(req: Request) -> dict[str, Any]:
    """``/info`` at the newest API version."""
    engine = req.engine
    states = [c.status for c in engine.containers.values()]
    running = sum(s == "running" for s in states)
    paused = sum(s == "paused" for s in states)
    return dict(
        {
            "ID": _engine_id(engine),
            "Containers": len(states),
            "ContainersRunning": running,
            "ContainersPaused": paused,
            "ContainersStopped": len(states) - running - paused,
            "Images": len(engine.images.images),
            "Driver": "vfs",
            "DriverStatus": [],
            "Plugins": {
                "Volume": ["local"],
                "Network": ["bridge", "host", "null"],
                "Authorization": None,
                "Log": ["json-file"],
            },
            "MemoryLimit": False,
            "SwapLimit": False,
            "CpuCfsPeriod": False,
            "CpuCfsQuota": False,
            "CPUShares": False,
            "CPUSet": False,
            "PidsLimit": False,
            "KernelMemory": False,
            "KernelMemoryTCP": False,
            "IPv4Forwarding": False,
            "Debug": False,
            "NFd": 0,
            "OomKillDisable": False,
            "NGoroutines": len(asyncio.all_tasks()),
            "SystemTime": rfc3339(engine.now()),
            "LoggingDriver": "json-file",
            "CgroupDriver": "none",
            "CgroupVersion": "",
            "NEventsListener": engine.events.listener_count,
            "KernelVersion": identity.kernel_version(),
            "OperatingSystem": "labkit lab engine (simulated containers)",
            "OSVersion": identity.ENGINE_VERSION,
            "OSType": identity.OS_TYPE,
            "Architecture": "x86_64" if identity.go_arch() == "amd64" else identity.go_arch(),
            "IndexServerAddress": "https://index.docker.io/v1/",
            "RegistryConfig": {
                "InsecureRegistryCIDRs": [],
                "IndexConfigs": {},
                "Mirrors": [],
            },
            "NCPU": os.cpu_count() or 1,
            "MemTotal": _mem_total(),
            "GenericResources": None,
            "DockerRootDir": str(engine.home),
            "HttpProxy": "",
            "HttpsProxy": "",
            "NoProxy": "",
            "Name": "labkit",
            "Labels": [],
            "ExperimentalBuild": False,
            "ServerVersion": identity.ENGINE_VERSION,
            # dockerd's names (containers say HostConfig.Runtime "runc"); the path says what
            # runs them here
            "Runtimes": {
                "io.containerd.runc.v2": {"path": "labkit.engine.runtime"},
                "runc": {"path": "labkit.engine.runtime"},
            },
            "DefaultRuntime": "runc",
            "Swarm": {
                "NodeID": "",
                "NodeAddr": "",
                "LocalNodeState": "inactive",
                "ControlAvailable": False,
                "Error": "",
                "RemoteManagers": None,
            },
            "LiveRestoreEnabled": False,
            "Isolation": "",
            "InitBinary": "",
            "ContainerdCommit": {"ID": ""},
            "RuncCommit": {"ID": ""},
            "InitCommit": {"ID": ""},
            "SecurityOptions": [],
            "Warnings": None,
        }
    )


def _event_line(event: dict[str, Any]) -> bytes:
    text = json.dumps(event, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").encode() + b"\n"


def _time(req: Request, name: str, now: int) -> int | None:
    value = req.arg(name)
    if not value:
        return None
    try:
        return parse_api_time(value, now)
    except ValueError as exc:  # strconv's message, as dockerd gives it
        raise ApiError(400, str(exc)) from None


async def events(req: Request) -> Reply:
    """History in [since, until], then (unless until has passed) new events as they happen."""
    engine = req.engine
    filters = req.filters()
    now = engine.now()
    since, until = _time(req, "since", now), _time(req, "until", now)
    if until is not None and since is not None and until < since:
        raise ApiError(
            400,
            f"`since` time ({req.arg('since')}) cannot be after `until` time ({req.arg('until')})",
        )
    history: list[dict[str, Any]] = []
    if since is not None or until is not None:
        history = engine.events.history(since or 0, until)
    queue = engine.events.subscribe() if until is None or until > now else None

    async def body() -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        deadline = None if until is None else loop.time() + (until - now) / NS
        try:
            for event in history:
                if matches(event, filters):
                    yield _event_line(event)
            if queue is None:
                return
            while True:
                timeout = None if deadline is None else deadline - loop.time()
                if timeout is not None and timeout <= 0:
                    return
                try:
                    event = await asyncio.wait_for(queue.get(), timeout)
                except asyncio.TimeoutError:
                    return
                if event is None:
                    return
                if matches(event, filters):
                    yield _event_line(event)
        finally:
            if queue is not None:
                engine.events.unsubscribe(queue)

    return StreamReply(body())


async def disk_usage(req: Request) -> Reply:
    """``docker system df``: sizes are the catalogue's; containers add nothing measurable."""
    engine = req.engine
    now = engine.now()
    images = []
    for image in engine.images.images.values():
        summary = image.summary(req.api_version)
        summary["Containers"] = len(engine.containers_using(image))
        summary["SharedSize"] = 0
        images.append(summary)
    containers = [
        c.summary(now, c.doc["image_id"], True, req.api_version) for c in engine.containers.values()
    ]
    volumes = []
    for volume in engine.volumes.volumes.values():
        view = engine.volumes.view(volume)
        view["UsageData"] = {"Size": 0, "RefCount": len(engine._volume_users(volume.name))}
        volumes.append(view)
    return JSONReply(
        {
            "LayersSize": sum(i["Size"] for i in images),
            "Images": images,
            "Containers": containers,
            "Volumes": volumes,
            "BuildCache": [],
            # before API 1.42, the builder's size, long unused (always 0 since API 1.40)
            **({"BuilderSize": 0} if older_than(req.api_version, "1.42") else {}),
        }
    )


async def prune_build_cache(req: Request) -> Reply:
    """``docker system prune`` calls this too; the lab engine builds nothing to remove."""
    return JSONReply({"CachesDeleted": None, "SpaceReclaimed": 0})


ROUTES = [
    ("GET", "/info", info),
    ("POST", "/build/prune", prune_build_cache),
    ("GET", "/events", events),
    ("GET", "/system/df", disk_usage),
]

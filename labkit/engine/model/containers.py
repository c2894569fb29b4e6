"""Container records: what is persisted, and the views the API shows of them.

A record is a small dict (``Container.doc``) kept in memory and in SQLite; the
running parts (process, filesystem, listeners) live on the object only while
the container runs. Logs and the filesystem's changes live in SQLite.
"""

from __future__ import annotations

import asyncio
import re
import shlex
from typing import Any

from labkit.engine.model import endpoints, hostconfig
from labkit.engine.model.clock import NS, human_duration, rfc3339

RUNNING_STATES = {"running", "paused", "restarting"}
VALID_NAME = re.compile(r"/?[a-zA-Z0-9][a-zA-Z0-9_.-]+")  # used with fullmatch: no "\n" at the end


class Container:
    """One container: ``doc`` is the persisted record; the rest exists while it runs."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.process: Any = None  # runtime.process.Process while running
        self.vfs: Any = None  # runtime.vfs.VFS while running
        self.listeners: set[Any] = set()  # output.OutputQueue of each attach session
        # Futures that log followers wait on: set when new output is stored, or the run ends.
        self.log_waiters: list[asyncio.Future[None]] = []
        self.runs = 0  # how many times it was started since the engine opened
        self.memory: Any = None  # runtime.memory.MemoryAccount while running
        self.exit_waiters: list[asyncio.Future[int]] = []
        self.remove_waiters: list[asyncio.Future[int]] = []
        self.stdin_pending: list[bytes] = []
        self.stdin_closed = False
        self.removed = False
        self.removing = False
        self.stopping = False
        self.supervisor: asyncio.Task[None] | None = None
        self.warnings: list[str] = []  # what create warned about (its reply's Warnings)
        self.restart_timer: asyncio.TimerHandle | None = None  # a restart policy's next start
        self.backoff = 0.0  # seconds before the next restart (dockerd's restart manager)
        self.health: Any = None  # the healthcheck monitor's task while it runs

    # identity ----------------------------------------------------------------------
    @property
    def id(self) -> str:
        return self.doc["id"]

    @property
    def short(self) -> str:
        return self.doc["id"][:12]

    @property
    def name(self) -> str:
        """Without the leading slash."""
        return self.doc["name"].lstrip("/")

    @property
    def config(self) -> dict[str, Any]:
        return self.doc["config"]

    @property
    def state(self) -> dict[str, Any]:
        return self.doc["state"]

    @property
    def status(self) -> str:
        return self.state["Status"]

    @property
    def running(self) -> bool:
        return self.status in RUNNING_STATES

    @property
    def argv(self) -> list[str]:
        return [self.doc["path"], *self.doc["args"]] if self.doc["path"] else []

    @property
    def manually_stopped(self) -> bool:
        """Stopped or killed by the user: no policy restarts it until the engine restarts
        (then only ``always`` does). Kept in the record, as dockerd keeps
        HasBeenManuallyStopped, since it decides what comes back after a restart."""
        return bool(self.doc.get("manually_stopped"))

    @manually_stopped.setter
    def manually_stopped(self, value: bool) -> None:
        self.doc["manually_stopped"] = value

    @property
    def tty(self) -> bool:
        return bool(self.config.get("Tty"))

    @property
    def auto_remove(self) -> bool:
        return bool(self.doc["host_config"].get("AutoRemove"))

    def event_attributes(self, **extra: str) -> dict[str, str]:
        """What dockerd puts in a container event's Actor.Attributes."""
        attrs = dict(self.config.get("Labels") or {})
        attrs["image"] = self.config.get("Image", "")
        attrs["name"] = self.name
        attrs.update(extra)
        return attrs

    # views -------------------------------------------------------------------------------
    def status_text(self, now: int) -> str:
        state = self.state
        if state["Status"] == "running":
            up = f"Up {human_duration((now - state['StartedAt']) / NS)}"
            health = (state.get("Health") or {}).get("Status")
            if health:
                return f"{up} (health: starting)" if health == "starting" else f"{up} ({health})"
            return up
        if state["Status"] == "paused":
            return f"Up {human_duration((now - state['StartedAt']) / NS)} (Paused)"
        if state["Status"] == "restarting":
            ago = human_duration((now - state["FinishedAt"]) / NS)
            return f"Restarting ({state['ExitCode']}) {ago} ago"
        if state["Status"] == "exited":
            if not state["FinishedAt"]:
                return f"Exited ({state['ExitCode']})"
            ago = human_duration((now - state["FinishedAt"]) / NS)
            return f"Exited ({state['ExitCode']}) {ago} ago"
        if state["Status"] == "removing":
            return "Removal In Progress"
        if state["Status"] == "dead":
            return "Dead"
        return "Created"

    def command_text(self) -> str:
        return " ".join(shlex.quote(a) if a else "''" for a in self.argv) if self.argv else ""

    def mounts_view(self) -> list[dict[str, Any]]:
        return [dict(m) for m in self.doc.get("mounts", [])]

    def networks_view(self, api_version: str | None = None) -> dict[str, Any]:
        return {
            name: endpoints.view(name, settings, self.doc, api_version)
            for name, settings in endpoints.attached(self.doc).items()
        }

    def summary(
        self, now: int, image_id_to_show: str, size: bool = False, api_version: str | None = None
    ) -> dict[str, Any]:
        """One entry of ``GET /containers/json``."""
        out: dict[str, Any] = {
            "Id": self.id,
            "Names": [self.doc["name"]],
            "Image": self.config.get("Image", ""),
            "ImageID": image_id_to_show,
            "Command": self.command_text(),
            "Created": self.doc["created"] // NS,
            "Ports": [],
            "Labels": dict(self.config.get("Labels") or {}),
            "State": self.status,
            "Status": self.status_text(now),
            "HostConfig": {"NetworkMode": self.doc["host_config"].get("NetworkMode") or "default"},
            "NetworkSettings": {"Networks": self.networks_view(api_version)},
            "Mounts": self.mounts_view(),
        }
        if size:
            out["SizeRw"] = self.doc.get("size_rw", 0)
            out["SizeRootFs"] = self.doc.get("size_root", 0)
        return out

    def inspect(self, image_id: str, api_version: str | None = None) -> dict[str, Any]:
        """``GET /containers/{id}/json``."""
        state = self.state
        host_config = hostconfig.view(
            self.doc["host_config"], api_version, bool(state["StartedAt"])
        )
        state_view = {
            "Status": state["Status"],
            "Running": state["Status"] in RUNNING_STATES,
            "Paused": state["Status"] == "paused",
            "Restarting": state["Status"] == "restarting",
            "OOMKilled": bool(state.get("OOMKilled")),
            "Dead": state["Status"] == "dead",
            "Pid": state["Pid"],
            "ExitCode": state["ExitCode"],
            "Error": state["Error"],
            "StartedAt": rfc3339(state["StartedAt"]),
            "FinishedAt": rfc3339(state["FinishedAt"]),
        }
        if state.get("Health"):
            state_view["Health"] = health_view(state["Health"])
        return {
            "Id": self.id,
            "Created": rfc3339(self.doc["created"]),
            "Path": self.doc["path"],
            "Args": list(self.doc["args"]),
            "State": state_view,
            "Image": image_id,
            "ResolvConfPath": "",
            "HostnamePath": "",
            "HostsPath": "",
            "LogPath": "",
            "Name": self.doc["name"],
            "RestartCount": self.doc.get("restart_count", 0),
            "Driver": "vfs",
            "Platform": "linux",
            "MountLabel": "",
            "ProcessLabel": "",
            "AppArmorProfile": "",
            "ExecIDs": list(self.doc.get("exec_ids") or []) or None,
            "HostConfig": host_config,
            "GraphDriver": {"Data": None, "Name": "vfs"},
            "Mounts": self.mounts_view(),
            "Config": dict(self.config),
            "NetworkSettings": {
                "Bridge": "",
                "SandboxID": "",
                "SandboxKey": "",
                "Ports": {},
                "HairpinMode": False,
                "LinkLocalIPv6Address": "",
                "LinkLocalIPv6PrefixLen": 0,
                "SecondaryIPAddresses": None,
                "SecondaryIPv6Addresses": None,
                "EndpointID": "",
                "Gateway": "",
                "GlobalIPv6Address": "",
                "GlobalIPv6PrefixLen": 0,
                "IPAddress": "",
                "IPPrefixLen": 0,
                "IPv6Gateway": "",
                "MacAddress": "",
                "Networks": self.networks_view(api_version),
            },
        }


def health_view(health: dict[str, Any]) -> dict[str, Any]:
    """State.Health: its log's times as RFC 3339, as dockerd writes them."""
    log = [
        {"Start": rfc3339(e["Start"]), "End": rfc3339(e["End"]), "ExitCode": e["ExitCode"],
         "Output": e["Output"]}
        for e in health.get("Log") or []
    ]  # fmt: skip
    return {"Status": health["Status"], "FailingStreak": health["FailingStreak"], "Log": log}


def new_state() -> dict[str, Any]:
    return {
        "Status": "created",
        "Pid": 0,
        "ExitCode": 0,
        "Error": "",
        "StartedAt": 0,
        "FinishedAt": 0,
    }


def matches(c: Container, filters: dict[str, list[str]], image_ids: set[str] | None) -> bool:
    """dockerd's container list filters (``before``/``since`` are handled by the caller)."""
    if "status" in filters and c.status not in filters["status"]:
        return False
    if "health" in filters:
        health = (c.state.get("Health") or {}).get("Status") or "none"
        if health not in filters["health"]:
            return False
    if "id" in filters and not any(c.id.startswith(v) for v in filters["id"]):
        return False
    if "name" in filters and not any(_name_matches(c.name, v) for v in filters["name"]):
        return False
    if "exited" in filters and (
        c.status != "exited" or str(c.state["ExitCode"]) not in filters["exited"]
    ):
        return False
    if "label" in filters:
        labels = c.config.get("Labels") or {}
        for label in filters["label"]:
            key, eq, value = label.partition("=")
            if key not in labels or (eq and labels[key] != value):
                return False
    if image_ids is not None and c.doc["image_id"] not in image_ids:
        return False
    if "volume" in filters:
        names = {m.get("Name") for m in c.doc.get("mounts", [])} | {
            m.get("Destination") for m in c.doc.get("mounts", [])
        }
        if not any(v in names for v in filters["volume"]):
            return False
    networks = c.networks_view()
    return "network" not in filters or any(v in networks for v in filters["network"])


def _name_matches(name: str, pattern: str) -> bool:
    try:
        return re.search(pattern.lstrip("/"), name) is not None
    except re.error:
        return pattern.lstrip("/") in name

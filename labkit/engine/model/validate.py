"""Type checks for request bodies, worded the way dockerd's Go JSON decoder words them.

A client that sends ``"Tty": "yes"`` gets a 400 that says which field and which
type, instead of a traceback.
"""

from __future__ import annotations

import os
from typing import Any

from labkit.engine import goparse
from labkit.engine.model.errors import BadRequest
from labkit.engine.model.limits import MIN_CONTAINER_MEMORY

# kinds: str, bool, int, strslice (str | list[str]), strlist, strmap, object, list
CONTAINER_CONFIG = {
    "Hostname": "str",
    "Domainname": "str",
    "User": "str",
    "AttachStdin": "bool",
    "AttachStdout": "bool",
    "AttachStderr": "bool",
    "Tty": "bool",
    "OpenStdin": "bool",
    "StdinOnce": "bool",
    "Env": "strlist",
    "Cmd": "strslice",
    "Entrypoint": "strslice",
    "Image": "str",
    "Labels": "strmap",
    "WorkingDir": "str",
    "StopSignal": "str",
    "StopTimeout": "goint",
    "NetworkDisabled": "bool",
    "MacAddress": "str",
    "Volumes": "object",
    "ExposedPorts": "object",
    "Healthcheck": "object",
    "ArgsEscaped": "bool",
    "OnBuild": "strlist",
    "Shell": "strlist",
    "HostConfig": "object",
    "NetworkingConfig": "object",
}
HEALTHCHECK = {
    "Test": "strlist",
    "Interval": "duration",
    "Timeout": "duration",
    "StartPeriod": "duration",
    "StartInterval": "duration",
    "Retries": "goint",
}
# The Resources part of HostConfig (what ``POST /containers/{id}/update`` may change).
RESOURCES = {
    "CpuShares": "int",
    "Memory": "int",
    "NanoCpus": "int",
    "CgroupParent": "str",
    "BlkioWeight": "uint16",
    "BlkioWeightDevice": "list",
    "BlkioDeviceReadBps": "list",
    "BlkioDeviceWriteBps": "list",
    "BlkioDeviceReadIOps": "list",
    "BlkioDeviceWriteIOps": "list",
    "CpuPeriod": "int",
    "CpuQuota": "int",
    "CpuRealtimePeriod": "int",
    "CpuRealtimeRuntime": "int",
    "CpusetCpus": "str",
    "CpusetMems": "str",
    "Devices": "list",
    "DeviceCgroupRules": "strlist",
    "DeviceRequests": "list",
    "KernelMemory": "int",
    "KernelMemoryTCP": "int",
    "MemoryReservation": "int",
    "MemorySwap": "int",
    "MemorySwappiness": "int",
    "OomKillDisable": "bool",
    "PidsLimit": "int",
    "Ulimits": "list",
    "CpuCount": "int",
    "CpuPercent": "int",
    "IOMaximumIOps": "uint64",
    "IOMaximumBandwidth": "uint64",
}
# Every HostConfig field of the Engine API (moby's api/types/container/hostconfig.go), in
# the order dockerd writes them, with its type.
HOST_CONFIG = {
    "Binds": "strlist",
    "ContainerIDFile": "str",
    "LogConfig": "object",
    "NetworkMode": "str",
    "PortBindings": "object",
    "RestartPolicy": "object",
    "AutoRemove": "bool",
    "VolumeDriver": "str",
    "VolumesFrom": "strlist",
    "ConsoleSize": "uintpair",
    "Annotations": "strmap",
    "CapAdd": "strslice",
    "CapDrop": "strslice",
    "CgroupnsMode": "str",
    "Dns": "strlist",
    "DnsOptions": "strlist",
    "DnsSearch": "strlist",
    "ExtraHosts": "strlist",
    "GroupAdd": "strlist",
    "IpcMode": "str",
    "Cgroup": "str",
    "Links": "strlist",
    "OomScoreAdj": "goint",
    "PidMode": "str",
    "Privileged": "bool",
    "PublishAllPorts": "bool",
    "ReadonlyRootfs": "bool",
    "SecurityOpt": "strlist",
    "StorageOpt": "strmap",
    "Tmpfs": "strmap",
    "UTSMode": "str",
    "UsernsMode": "str",
    "ShmSize": "int",
    "Sysctls": "strmap",
    "Runtime": "str",
    "Isolation": "str",
    **RESOURCES,
    "Mounts": "list",
    "MaskedPaths": "strlist",
    "ReadonlyPaths": "strlist",
    "Init": "bool",
}
UPDATE_CONFIG = {**RESOURCES, "RestartPolicy": "object"}
RESTART_POLICY = {"Name": "str", "MaximumRetryCount": "goint"}
LOG_CONFIG = {"Type": "str", "Config": "strmap"}
MOUNT = {"Type": "str", "Source": "str", "Target": "str", "ReadOnly": "bool"}
EXEC_CONFIG = {
    "AttachStdin": "bool",
    "AttachStdout": "bool",
    "AttachStderr": "bool",
    "Tty": "bool",
    "Env": "strlist",
    "Cmd": "strslice",
    "User": "str",
    "WorkingDir": "str",
    "Privileged": "bool",
    "DetachKeys": "str",
    "ConsoleSize": "uintpair",
}
EXEC_START = {"Detach": "bool", "Tty": "bool", "ConsoleSize": "uintpair"}

_GO_TYPES = {
    "str": "string",
    "bool": "bool",
    "int": "int64",
    "goint": "int",
    "duration": "time.Duration",
    "uint16": "uint16",
    "uint64": "uint64",
    "strslice": "string",
    "strlist": "[]string",
    "strmap": "map[string]string",
    "object": "struct",
    "list": "[]",
    "uintpair": "uint",
}


def json_kind(value: Any) -> str:
    """The JSON type's name as Go's decoder says it."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def _ok(kind: str, value: Any) -> bool:
    if value is None:
        return True
    if kind == "str":
        return isinstance(value, str)
    if kind == "bool":
        return isinstance(value, bool)
    if kind in ("int", "goint", "duration"):
        return _is_int(value, goparse.INT64_MIN, goparse.INT64_MAX)
    if kind == "uint16":
        return _is_int(value, 0, 0xFFFF)
    if kind == "uint64":
        return _is_int(value, 0, goparse.UINT64_MAX)
    if kind == "uintpair":
        return isinstance(value, list) and all(
            _is_int(v, 0, goparse.UINT64_MAX) for v in value if v is not None
        )
    if kind == "strslice":
        return isinstance(value, str) or (
            isinstance(value, list) and all(isinstance(v, str) for v in value)
        )
    if kind == "strlist":
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if kind == "strmap":
        return isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
    if kind == "object":
        return isinstance(value, dict)
    if kind == "list":
        return isinstance(value, list)
    return True


def _is_int(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _culprit(kind: str, value: Any) -> tuple[str, str]:
    """What Go's decoder names in its type error: the JSON kind (a number with its text,
    when it is a number that does not fit), and the Go type it was meant for."""
    go_type = _GO_TYPES[kind]
    if kind == "strmap" and isinstance(value, dict):
        bad = next(v for v in value.values() if not isinstance(v, str))
        return json_kind(bad), "string"
    if kind == "uintpair" and isinstance(value, list):
        bad = next(v for v in value if v is not None and not _is_int(v, 0, goparse.UINT64_MAX))
        if isinstance(bad, (int, float)) and not isinstance(bad, bool):
            return f"number {goparse.number_text(bad)}", go_type
        return json_kind(bad), go_type
    numeric = ("int", "goint", "duration", "uint16", "uint64")
    if kind in numeric and isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"number {goparse.number_text(value)}", go_type
    return json_kind(value), go_type


def check(body: Any, schema: dict[str, str], struct: str) -> dict[str, Any]:
    """``body`` as a dict, or a 400 naming the first field of the wrong type."""
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise BadRequest(f"json: cannot unmarshal {json_kind(body)} into Go value of type {struct}")
    for key, kind in schema.items():
        if key in body and not _ok(kind, body[key]):
            what, go_type = _culprit(kind, body[key])
            raise BadRequest(
                f"json: cannot unmarshal {what} into Go struct field {struct}.{key} of type "
                f"{go_type}"
            )
    return body


def check_container_body(body: Any) -> dict[str, Any]:
    body = check(body, CONTAINER_CONFIG, "ContainerConfigWrapper")
    check(body.get("Healthcheck"), HEALTHCHECK, "ContainerConfigWrapper.Healthcheck")
    host = check(body.get("HostConfig"), HOST_CONFIG, "ContainerConfigWrapper.HostConfig")
    check(
        host.get("RestartPolicy"), RESTART_POLICY, "ContainerConfigWrapper.HostConfig.RestartPolicy"
    )
    check(host.get("LogConfig"), LOG_CONFIG, "ContainerConfigWrapper.HostConfig.LogConfig")
    for mount in host.get("Mounts") or []:
        check(mount, MOUNT, "HostConfig.Mounts")
    check_resources(host)
    return body


def check_update_body(body: Any) -> dict[str, Any]:
    """``POST /containers/{id}/update``'s body: Resources and a RestartPolicy."""
    body = check(body, UPDATE_CONFIG, "UpdateConfig")
    check(body.get("RestartPolicy"), RESTART_POLICY, "UpdateConfig.RestartPolicy")
    check_resources(body)
    return body


def check_resources(host: dict[str, Any]) -> None:
    """dockerd's checks of a container's resources (verifyPlatformContainerResources)."""
    memory = host.get("Memory") or 0
    if memory != 0 and memory < MIN_CONTAINER_MEMORY:
        raise BadRequest("Minimum memory limit allowed is 6MB")
    cpus = host.get("NanoCpus") or 0
    count = os.cpu_count() or 1
    if cpus != 0 and not 0 < cpus <= count * 1_000_000_000:
        raise BadRequest(
            f"range of CPUs is from 0.01 to {count}.00, as there are only {count} CPUs available"
        )


def strslice(value: Any) -> list[str] | None:
    """Cmd and Entrypoint may be a string (one word) or a list; None stays None."""
    if value is None:
        return None
    return [value] if isinstance(value, str) else list(value)

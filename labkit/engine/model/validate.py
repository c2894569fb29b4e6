"""Type checks for request bodies, worded the way dockerd's Go JSON decoder words them.

A client that sends ``"Tty": "yes"`` gets a 400 that says which field and which
type, instead of a traceback.
"""

from __future__ import annotations

from typing import Any

from labkit.engine.model.errors import BadRequest

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
    "StopTimeout": "int",
    "NetworkDisabled": "bool",
    "MacAddress": "str",
    "Volumes": "object",
    "ExposedPorts": "object",
    "HostConfig": "object",
    "NetworkingConfig": "object",
}
HOST_CONFIG = {
    "Binds": "strlist",
    "AutoRemove": "bool",
    "NetworkMode": "str",
    "RestartPolicy": "object",
    "Mounts": "list",
    "Privileged": "bool",
    "ReadonlyRootfs": "bool",
    "PortBindings": "object",
    "Memory": "int",
    "NanoCpus": "int",
    "ConsoleSize": "list",
}
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
    "ConsoleSize": "list",
}
EXEC_START = {"Detach": "bool", "Tty": "bool", "ConsoleSize": "list"}

_GO_TYPES = {
    "str": "string",
    "bool": "bool",
    "int": "int64",
    "strslice": "string",
    "strlist": "[]string",
    "strmap": "map[string]string",
    "object": "struct",
    "list": "[]",
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
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
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


def check(body: Any, schema: dict[str, str], struct: str) -> dict[str, Any]:
    """``body`` as a dict, or a 400 naming the first field of the wrong type."""
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise BadRequest(f"json: cannot unmarshal {json_kind(body)} into Go value of type {struct}")
    for key, kind in schema.items():
        if key in body and not _ok(kind, body[key]):
            raise BadRequest(
                f"json: cannot unmarshal {json_kind(body[key])} into Go struct field "
                f"{struct}.{key} of type {_GO_TYPES[kind]}"
            )
    return body


def check_container_body(body: Any) -> dict[str, Any]:
    body = check(body, CONTAINER_CONFIG, "ContainerConfigWrapper")
    host = check(body.get("HostConfig"), HOST_CONFIG, "ContainerConfigWrapper.HostConfig")
    for mount in host.get("Mounts") or []:
        check(mount, MOUNT, "HostConfig.Mounts")
    return body


def strslice(value: Any) -> list[str] | None:
    """Cmd and Entrypoint may be a string (one word) or a list; None stays None."""
    if value is None:
        return None
    return [value] if isinstance(value, str) else list(value)

"""Binds (``-v /host:/ctr:ro``, ``-v vol:/data``) and ``HostConfig.Mounts`` into mount records."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from labkit.engine import private
from labkit.engine.model.errors import BadRequest


def parse_bind(spec: str) -> tuple[str, str, str]:
    """``src:dst[:mode]``; 400 ``invalid volume specification`` like dockerd."""
    parts = spec.split(":")
    if len(parts) == 2:
        src, dst, mode = parts[0], parts[1], ""
    elif len(parts) == 3:
        src, dst, mode = parts
    else:
        raise BadRequest(f"invalid volume specification: '{spec}'")
    if not src or not dst.startswith("/"):
        raise BadRequest(
            f"invalid volume specification: '{spec}': write HOST_PATH:CONTAINER_PATH[:ro], "
            "both paths absolute (or a volume name first)"
        )
    if mode and not set(mode.split(",")) <= {"ro", "rw", "z", "Z", "nocopy", "rprivate", "private"}:
        raise BadRequest(f"invalid mode: {mode}")
    return src, dst, mode


def bind_mount(src: str, dst: str, read_only: bool, mode: str = "") -> dict[str, Any]:
    return {
        "Type": "bind",
        "Source": src,
        "Destination": dst,
        "Mode": mode,
        "RW": not read_only,
        "Propagation": "rprivate",
    }


def volume_mount(name: str, source: str, dst: str, read_only: bool, mode: str) -> dict[str, Any]:
    return {
        "Type": "volume",
        "Name": name,
        "Source": source,
        "Destination": dst,
        "Driver": "local",
        "Mode": mode,
        "RW": not read_only,
        "Propagation": "",
    }


def resolve_mounts(
    host_config: dict[str, Any],
    volume_source: Callable[[str], str],
    new_volume_name: Callable[[], str],
) -> list[dict[str, Any]]:
    """Mount records for a new container; ``volume_source(name)`` creates a volume if needed."""
    mounts: list[dict[str, Any]] = []
    for spec in host_config.get("Binds") or []:
        src, dst, mode = parse_bind(spec)
        read_only = "ro" in mode.split(",")
        if src.startswith("/"):
            with contextlib.suppress(OSError):
                private.make_host_dirs(src)  # dockerd creates a missing bind source (0700 here)
            mounts.append(bind_mount(src, dst, read_only, mode))
        else:
            mounts.append(volume_mount(src, volume_source(src), dst, read_only, mode or "z"))
    for m in host_config.get("Mounts") or []:
        kind = m.get("Type") or "volume"
        target = m.get("Target") or ""
        if not target.startswith("/"):
            raise BadRequest(
                f'invalid mount config for type "{kind}": field Target must be an absolute path'
            )
        read_only = bool(m.get("ReadOnly"))
        if kind == "bind":
            src = m.get("Source") or ""
            if not src.startswith("/"):
                raise BadRequest(
                    'invalid mount config for type "bind": invalid mount path: '
                    f"'{src}' mount path must be absolute"
                )
            if not Path(src).exists():
                raise BadRequest(
                    f'invalid mount config for type "bind": bind source path does not exist: {src}'
                )
            mounts.append(bind_mount(src, target, read_only))
        elif kind == "volume":
            name = m.get("Source") or new_volume_name()
            mounts.append(volume_mount(name, volume_source(name), target, read_only, "z"))
        elif kind == "tmpfs":
            continue  # an in-memory folder: the container's own filesystem serves as well
        else:
            raise BadRequest(f"mount type unknown: {kind!r}: use bind, volume or tmpfs")
    return mounts


def vfs_binds(mounts: list[dict[str, Any]]) -> list[tuple[str, str, bool, bool]]:
    """What ``runtime.vfs.VFS`` takes: (host folder, container path, read only, private);
    a volume is private (owner-only), a bind mount is the learner's own host folder."""
    return [(m["Source"], m["Destination"], not m["RW"], m.get("Type") == "volume") for m in mounts]

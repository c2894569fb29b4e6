"""Put the lab's images on a real engine, even with no network.

Lessons use three image names on both engines: ``hello-world``, ``busybox`` and
``alpine``. The lab engine ships them; a real engine pulls them when it can.
When it cannot (no network, as in CI or a workshop behind a firewall), labkit
builds stand-ins from a statically linked busybox found on this machine and
sends them to the engine as a tar stream:

    POST /images/create?fromSrc=-&repo=busybox&tag=latest   (body: the tar)

That request is the lesson: an image is a tarball, and importing one is just an
HTTP request over the socket. Stand-ins are labelled ``org.labkit.provisioned=true``
so that they are recognisable and ``labkit provision --remove`` can delete them.
"""

from __future__ import annotations

import io
import json
import shutil
import struct
import subprocess
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labkit.client.names import familiar
from labkit.hello import HELLO_TEXT

PROVISIONED_LABEL = "org.labkit.provisioned"
LAB_IMAGES = ("hello-world", "busybox", "alpine")
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
BUSYBOX_CANDIDATES = ("/bin/busybox", "/usr/bin/busybox", "/usr/local/bin/busybox")
PASSWD = b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n"
_FIXED_MTIME = 1_700_000_000  # stand-in files get one fixed time, so the tar is reproducible


class ProvisionError(RuntimeError):
    """Provisioning could not finish; the message says what to do."""


@dataclass(frozen=True)
class Outcome:
    name: str
    action: str  # "present", "pulled", "imported", "removed", "failed"
    detail: str = ""
    # The JSON lines the engine streamed back for a pull or an import, as a lesson shows them.
    messages: list[Any] = field(default_factory=list, compare=False, repr=False)

    def line(self) -> str:
        mark = "ok  " if self.action != "failed" else "FAIL"
        text = f"{mark} {self.name + ':':13} {self.action}"
        return f"{text} ({self.detail})" if self.detail else text


# --- finding a busybox that can live in an empty image --------------------


def is_static_elf(path: Path) -> bool:
    """True for an ELF executable with no program interpreter (no ld.so needed)."""
    with path.open("rb") as f:
        head = f.read(64)
        if len(head) < 64 or head[:4] != b"\x7fELF":
            return False
        is64 = head[4] == 2
        order = "<" if head[5] == 1 else ">"
        if is64:
            (phoff,) = struct.unpack_from(order + "Q", head, 0x20)
            phentsize, phnum = struct.unpack_from(order + "HH", head, 0x36)
        else:
            (phoff,) = struct.unpack_from(order + "I", head, 0x1C)
            phentsize, phnum = struct.unpack_from(order + "HH", head, 0x2A)
        for i in range(phnum):
            f.seek(phoff + i * phentsize)
            (p_type,) = struct.unpack(order + "I", f.read(4))
            if p_type == 3:  # PT_INTERP: dynamically linked
                return False
    return True


def find_static_busybox(candidates: Iterable[str] = BUSYBOX_CANDIDATES) -> Path:
    """A statically linked busybox on this machine, or a clear error saying how to get one."""
    seen: list[str] = []
    found = shutil.which("busybox")
    for name in [*candidates, *([found] if found else [])]:
        path = Path(name)
        if not path.is_file():
            continue
        if is_static_elf(path):
            return path
        seen.append(f"{path} is dynamically linked")
    why = "; ".join(seen) if seen else "no busybox found"
    raise ProvisionError(
        f"cannot build offline stand-in images: {why}. An image built from scratch needs a "
        "statically linked busybox: on Debian/Ubuntu `sudo apt-get install busybox-static`."
    )


def busybox_applets(busybox: Path) -> list[str]:
    """The commands this busybox provides (each becomes a symlink in /bin)."""
    out = subprocess.run(
        [str(busybox), "--list"], capture_output=True, text=True, timeout=10, check=True
    ).stdout
    return sorted({a.strip() for a in out.split() if a.strip() and "/" not in a})


# --- building the stand-in root filesystems --------------------------------


def _os_release(name: str) -> str:
    if name == "alpine":
        return (
            'NAME="Alpine Linux (labkit stand-in)"\nID=alpine\nVERSION_ID=3.20.0\n'
            'PRETTY_NAME="labkit stand-in for Alpine Linux, built offline from busybox"\n'
        )
    return (
        'NAME="BusyBox (labkit stand-in)"\nID=busybox\n'
        'PRETTY_NAME="labkit stand-in for busybox, built offline"\n'
    )


def _hello_script() -> str:
    body = HELLO_TEXT.replace("'", "'\\''")
    return f"#!/bin/sh\nprintf '%s' '{body}'\n"


def build_rootfs_tar(name: str, busybox: Path, applets: list[str]) -> bytes:
    """The stand-in image's root filesystem as an uncompressed tar, in memory."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:

        def add_dir(path: str, mode: int = 0o755) -> None:
            info = tarfile.TarInfo(path)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, mode, _FIXED_MTIME
            tar.addfile(info)

        def add_file(path: str, data: bytes, mode: int = 0o644) -> None:
            info = tarfile.TarInfo(path)
            info.size, info.mode, info.mtime = len(data), mode, _FIXED_MTIME
            tar.addfile(info, io.BytesIO(data))

        def add_link(path: str, target: str) -> None:
            info = tarfile.TarInfo(path)
            info.type, info.linkname, info.mode = tarfile.SYMTYPE, target, 0o777
            info.mtime = _FIXED_MTIME
            tar.addfile(info)

        for d in ("bin", "etc", "root", "home", "usr", "usr/bin", "var", "dev", "proc", "sys"):
            add_dir(d, 0o700 if d == "root" else 0o755)
        add_dir("tmp", 0o1777)
        add_file("bin/busybox", busybox.read_bytes(), 0o755)
        for applet in applets:
            if applet != "busybox":
                add_link(f"bin/{applet}", "busybox")
        add_file("etc/passwd", PASSWD)
        add_file("etc/group", b"root:x:0:\nnogroup:x:65534:\n")
        add_file("etc/os-release", _os_release(name).encode())
        if name == "hello-world":
            add_file("hello", _hello_script().encode(), 0o755)
    return buf.getvalue()


def image_changes(name: str) -> list[str]:
    """Dockerfile-style instructions applied at import (the `changes` query parameter)."""
    cmd = {"hello-world": ["/hello"], "busybox": ["sh"], "alpine": ["/bin/sh"]}[name]
    return [
        f"CMD {json.dumps(cmd)}",
        f"ENV PATH={DEFAULT_PATH}",
        f"LABEL {PROVISIONED_LABEL}=true",
    ]


# --- talking to the engine -------------------------------------------------


def _has_image(client, name: str) -> bool:
    from labkit.client.http import APIError

    try:
        client.request("GET", f"/images/{name}/json")
    except APIError as exc:
        if exc.status == 404:
            return False
        raise
    return True


def _messages(lines: bytes) -> list[Any]:
    """The JSON values of a JSON-lines progress stream."""
    from labkit.wire.jsonlines import JsonLinesDecoder

    decoder = JsonLinesDecoder()
    return [*decoder.feed(lines), *decoder.close()]


def _stream_error(messages: list[Any]) -> str | None:
    """The first error a JSON-lines progress stream reported, if any."""
    for item in messages:
        if isinstance(item, dict) and item.get("error"):
            return str(item.get("error"))
    return None


def try_pull(client, name: str) -> str | None:
    """Pull ``name:latest``; None on success, else the engine's reason."""
    return _pull(client, name)[0]


def _pull(client, name: str) -> tuple[str | None, list[Any]]:
    from labkit.client.http import APIError

    try:
        body = b"".join(
            client.stream("POST", "/images/create", params={"fromImage": name, "tag": "latest"})
        )
    except APIError as exc:
        return exc.message, []
    messages = _messages(body)
    return _stream_error(messages), messages


def import_standin(client, name: str, busybox: Path, applets: list[str]) -> list[Any]:
    """Send the stand-in's tar to the engine: POST /images/create?fromSrc=-."""
    tar = build_rootfs_tar(name, busybox, applets)
    params = {"fromSrc": "-", "repo": name, "tag": "latest", "changes": image_changes(name)}
    body = b"".join(
        client.stream(
            "POST",
            "/images/create",
            params=params,
            body=tar,
            headers={"Content-Type": "application/x-tar"},
        )
    )
    messages = _messages(body)
    error = _stream_error(messages)
    if error:
        raise ProvisionError(f"the engine refused the {name} stand-in: {error}")
    return messages


def provision(
    client, names: Iterable[str] = LAB_IMAGES, *, pull: bool = True, busybox: Path | None = None
) -> list[Outcome]:
    """Make sure every lab image is on the engine: present, pulled, or imported."""
    outcomes: list[Outcome] = []
    applets: list[str] | None = None
    for name in names:
        if name not in LAB_IMAGES:
            raise ProvisionError(
                f"{name!r} is not a lab image; choose from {', '.join(LAB_IMAGES)}"
            )
        if _has_image(client, name):
            outcomes.append(Outcome(name, "present"))
            continue
        reason, messages = _pull(client, name) if pull else ("pull skipped", [])
        if reason is None:
            outcomes.append(Outcome(name, "pulled", messages=messages))
            continue
        if busybox is None:
            busybox = find_static_busybox()
        if applets is None:
            applets = busybox_applets(busybox)
        messages = import_standin(client, name, busybox, applets)
        outcomes.append(
            Outcome(
                name,
                "imported",
                f"offline stand-in; pull failed: {_short(reason)}",
                messages=messages,
            )
        )
    return outcomes


def _short(text: str, limit: int = 90) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def remove_provisioned(client) -> list[Outcome]:
    """Delete every image labkit imported (those labelled org.labkit.provisioned=true)."""
    from labkit.client.http import APIError

    filters = json.dumps({"label": [f"{PROVISIONED_LABEL}=true"]})
    images = client.request("GET", "/images/json", params={"filters": filters}).json()
    outcomes = []
    for image in images:
        # as the docker CLI shows them: Podman writes docker.io/library/alpine:latest
        tags = [familiar(str(t)) for t in image.get("RepoTags") or []] or [image["Id"]]
        try:
            client.request("DELETE", f"/images/{image['Id']}", params={"force": "1"})
        except APIError as exc:
            outcomes.append(Outcome(", ".join(tags), "failed", exc.message))
            continue
        outcomes.append(Outcome(", ".join(tags), "removed"))
    return outcomes

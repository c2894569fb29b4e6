"""Image references the way dockerd reads them.

``busybox``, ``busybox:latest``, ``library/busybox`` and
``docker.io/library/busybox:latest`` all name the same thing; the engine keeps
the short ("familiar") form, ``busybox:latest``, as dockerd shows it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from labkit.engine.model.errors import BadRequest

DEFAULT_TAG = "latest"
_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_TAG = re.compile(r"^[\w][\w.-]{0,127}$")
_DIGEST = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[0-9a-fA-F]{32,}$")
_HEX64 = re.compile(r"^(sha256:)?[0-9a-f]{64}$")


@dataclass(frozen=True)
class Reference:
    repo: str  # familiar: "busybox", "me/app", "localhost:5000/app"
    tag: str | None
    digest: str | None

    @property
    def remote(self) -> str:
        """The repository path on the registry: ``library/busybox``."""
        first = self.repo.split("/", 1)[0]
        if "/" in self.repo and ("." in first or ":" in first or first == "localhost"):
            return self.repo.split("/", 1)[1]
        return self.repo if "/" in self.repo else f"library/{self.repo}"

    def tagged(self) -> str:
        return f"{self.repo}:{self.tag or DEFAULT_TAG}"

    def __str__(self) -> str:
        if self.digest:
            return f"{self.repo}@{self.digest}"
        return self.tagged()


def is_full_id(text: str) -> bool:
    return bool(_HEX64.match(text))


def parse(text: str, default_tag: bool = True) -> Reference:
    """A reference in familiar form; 400 ``invalid reference format`` like dockerd."""
    name, _, digest = text.partition("@")
    if digest and not _DIGEST.match(digest):
        raise BadRequest(f"invalid reference format: {text!r} has a malformed digest")
    tag = None
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        name, tag = name[:colon], name[colon + 1 :]
        if not _TAG.match(tag):
            raise BadRequest(f"invalid reference format: {text!r} has a malformed tag")
    if not name:
        raise BadRequest("invalid reference format: the image name is empty")
    parts = name.split("/")
    domain = None
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        domain, parts = parts[0], parts[1:]
    if name != name.lower() and all(_COMPONENT.match(p.lower()) for p in parts):
        raise BadRequest(f"invalid reference format: repository name ({name}) must be lowercase")
    if not parts or not all(_COMPONENT.match(p) for p in parts):
        raise BadRequest(f"invalid reference format: {text!r} is not a valid image name")
    if domain in ("docker.io", "index.docker.io", "registry-1.docker.io"):
        domain = None
    if domain is None and len(parts) == 2 and parts[0] == "library":
        parts = parts[1:]
    repo = "/".join(parts) if domain is None else f"{domain}/{'/'.join(parts)}"
    if tag is None and not digest and default_tag:
        tag = DEFAULT_TAG
    return Reference(repo=repo, tag=tag, digest=digest or None)

"""The images the lab engine can "pull" without a network: fixed metadata only.

Ids, digests, sizes and dates are stable, so outputs are the same on every run.
The file trees behind them come from ``engine.runtime.rootfs.image_rootfs``.
These are labkit's stand-ins, not Docker Hub's images: the ids are hashes of
labkit's own descriptions, so they never collide with a real image's.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _sha(text: str) -> str:
    return "sha256:" + hashlib.sha256(f"labkit catalogue: {text}".encode()).hexdigest()


@dataclass(frozen=True)
class Layer:
    diff_id: str  # what RootFS.Layers lists
    blob: str  # the compressed blob's digest; its first 12 hex digits label pull progress
    size: int  # compressed bytes "downloaded"
    created_by: str


@dataclass(frozen=True)
class ImageSpec:
    """One catalogue image: what ``/images/{name}/json`` reports once it is pulled."""

    repo: str  # familiar name: "busybox"
    tags: tuple[str, ...]
    rootfs: str  # the key for runtime.rootfs.image_rootfs
    version: str
    created: str  # RFC3339
    size: int
    layers: tuple[Layer, ...]
    cmd: tuple[str, ...]
    env: tuple[str, ...] = (f"PATH={DEFAULT_PATH}",)
    entrypoint: tuple[str, ...] | None = None
    working_dir: str = ""
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return _sha(f"image {self.repo} {self.version}")

    @property
    def digest(self) -> str:
        return _sha(f"manifest list {self.repo} {self.version}")

    def config(self) -> dict[str, object]:
        return {
            "Cmd": list(self.cmd),
            "Env": list(self.env),
            "Entrypoint": list(self.entrypoint) if self.entrypoint else None,
            "WorkingDir": self.working_dir,
            "Labels": dict(self.labels) or None,
        }


def _layer(repo: str, version: str, size: int, created_by: str) -> Layer:
    return Layer(
        diff_id=_sha(f"layer {repo} {version}"),
        blob=_sha(f"blob {repo} {version}"),
        size=size,
        created_by=created_by,
    )


CATALOGUE: tuple[ImageSpec, ...] = (
    ImageSpec(
        repo="hello-world",
        tags=("latest",),
        rootfs="hello-world",
        version="labkit-1",
        created="2025-08-08T19:05:17Z",
        size=10_072,
        layers=(_layer("hello-world", "labkit-1", 2_460, "COPY hello / # buildkit"),),
        cmd=("/hello",),
    ),
    ImageSpec(
        repo="busybox",
        tags=("latest", "1.37"),
        rootfs="busybox",
        version="1.37.0",
        created="2024-09-26T21:31:42Z",
        size=4_261_550,
        layers=(_layer("busybox", "1.37.0", 2_152_262, "ADD busybox.tar.xz / # buildkit"),),
        cmd=("sh",),
    ),
    ImageSpec(
        repo="alpine",
        tags=("latest", "3.20"),
        rootfs="alpine",
        version="3.20.3",
        created="2024-09-06T22:20:07Z",
        size=7_797_760,
        layers=(
            _layer(
                "alpine", "3.20.3", 3_623_807, "ADD alpine-minirootfs-3.20.3.tar.gz / # buildkit"
            ),
        ),
        cmd=("/bin/sh",),
    ),
)


def find(repo: str) -> ImageSpec | None:
    """The catalogue entry for a familiar repository name (``busybox``), or None."""
    for spec in CATALOGUE:
        if spec.repo == repo:
            return spec
    return None

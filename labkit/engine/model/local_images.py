"""Images made in the lab engine (built, committed, imported, loaded), as dockerd keeps them.

Such an image is its *image configuration*, the JSON document ``docker save`` writes as
``<id>.json`` (its sha256 is the image id), and a stack of layer tars named by their sha256
(``rootfs.diff_ids``). The tars live in the store's ``layers`` table; a lab image's own tree
is a layer too, whose tar is written on demand (:func:`catalogue_layer`), so an image built
FROM busybox shares busybox's tree instead of copying it.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from labkit.engine.model import catalogue
from labkit.engine.model.clock import NS, parse_instant, rfc3339
from labkit.engine.model.versions import older_than

if TYPE_CHECKING:
    from labkit.engine.model.images import Image
    from labkit.engine.runtime.rootfs import RootFS

LAYERS_KEY = "layers:"  # a container's ``rootfs`` for an image made here: its diff ids
DOCKER_VERSION = "20.10.24"
# Go's order for container.Config fields (what dockerd's JSON shows).
CONFIG_KEYS = (
    "Hostname", "Domainname", "User", "AttachStdin", "AttachStdout", "AttachStderr",
    "ExposedPorts", "Tty", "OpenStdin", "StdinOnce", "Env", "Cmd", "Healthcheck", "ArgsEscaped",
    "Image", "Volumes", "WorkingDir", "Entrypoint", "NetworkDisabled", "MacAddress", "OnBuild",
    "Labels", "StopSignal", "StopTimeout", "Shell",
)  # fmt: skip
_OMIT_EMPTY = {"ExposedPorts", "Healthcheck", "ArgsEscaped", "NetworkDisabled", "MacAddress"}
_OMIT_EMPTY |= {"StopSignal", "StopTimeout", "Shell"}


def go_json(doc: Any) -> str:
    """JSON as Go's encoder writes it: compact, ``<``, ``>`` and ``&`` escaped."""
    text = json.dumps(doc, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def shaped_config(cfg: dict[str, Any]) -> dict[str, Any]:
    """A container.Config in dockerd's order with its defaults (omitempty fields left out)."""
    defaults: dict[str, Any] = {
        "Hostname": "", "Domainname": "", "User": "", "AttachStdin": False,
        "AttachStdout": False, "AttachStderr": False, "Tty": False, "OpenStdin": False,
        "StdinOnce": False, "Env": None, "Cmd": None, "Image": "", "Volumes": None,
        "WorkingDir": "", "Entrypoint": None, "OnBuild": None, "Labels": None,
    }  # fmt: skip
    out: dict[str, Any] = {}
    for key in CONFIG_KEYS:
        value = cfg.get(key, defaults.get(key))
        if key in _OMIT_EMPTY and not value:
            continue
        out[key] = value
    return out


@functools.cache
def catalogue_layer(repo: str) -> tuple[str, bytes]:
    """(diff id, tar) of a lab image's tree as one layer; the same bytes on every run."""
    from labkit.engine.runtime.layers import tar_of_tree
    from labkit.engine.runtime.rootfs import image_rootfs

    data = tar_of_tree(image_rootfs(repo))
    return sha256(data), data


def catalogue_repo_of(diff_id: str) -> str | None:
    """The lab image whose tree this layer is, if it is one."""
    for spec in catalogue.CATALOGUE:
        if catalogue_layer(spec.rootfs)[0] == diff_id:
            return spec.rootfs
    return None


def catalogue_document(image: Image) -> dict[str, Any]:
    """A lab image's configuration as ``docker save`` writes it (real diff ids, so that
    dockerd accepts the layer it saves)."""
    spec = image.spec
    created = spec.created
    layer = spec.layers[0]
    return {
        "architecture": "amd64",
        "config": shaped_config(spec.config()),
        "created": created,
        "history": [
            {
                "created": created,
                "created_by": layer.created_by,
                "comment": "buildkit.dockerfile.v0",
            },
            {
                "created": created,
                "created_by": "CMD " + go_json(list(spec.cmd)),
                "comment": "buildkit.dockerfile.v0",
                "empty_layer": True,
            },
        ],
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [catalogue_layer(spec.rootfs)[0]]},
    }


def encode_document(doc: dict[str, Any]) -> str:
    """An image configuration's bytes: keys sorted, as dockerd marshals it."""
    return go_json(json.loads(json.dumps(doc, sort_keys=True)))


class LocalImage:
    """A read-only view of an image made here: its configuration, parsed once."""

    def __init__(self, own: dict[str, Any]) -> None:
        self.raw: str = own["raw"]
        self.doc: dict[str, Any] = json.loads(self.raw)
        self.size: int = int(own.get("size", 0))
        self.config: dict[str, Any] = self.doc.get("config") or {}

    @property
    def created_ns(self) -> int:
        try:
            return parse_instant(self.doc.get("created") or "")
        except ValueError:
            return 0

    @property
    def diff_ids(self) -> list[str]:
        return list((self.doc.get("rootfs") or {}).get("diff_ids") or [])

    @property
    def history(self) -> list[dict[str, Any]]:
        return list(self.doc.get("history") or [])

    def container_config(self) -> dict[str, Any]:
        """What ``POST /containers/create`` starts from (the catalogue's ``config()`` keys)."""
        cfg = self.config
        return {
            "Cmd": cfg.get("Cmd"),
            "Env": cfg.get("Env"),
            "Entrypoint": cfg.get("Entrypoint"),
            "WorkingDir": cfg.get("WorkingDir") or "",
            "Labels": cfg.get("Labels"),
            "User": cfg.get("User") or "",
            "Volumes": cfg.get("Volumes"),
            "ExposedPorts": cfg.get("ExposedPorts"),
            "StopSignal": cfg.get("StopSignal"),
        }

    def inspect(self, image: Image, api_version: str | None) -> dict[str, Any]:
        doc = self.doc
        out: dict[str, Any] = {
            "Id": image.id,
            "RepoTags": list(image.tags),
            "RepoDigests": list(image.digests),
            "Parent": image.parent,
            "Comment": doc.get("comment", ""),
            "Created": rfc3339(self.created_ns),
            "DockerVersion": doc.get("docker_version", ""),
            "Author": doc.get("author", ""),
            "Config": shaped_config(self.config),
            "Architecture": doc.get("architecture", "amd64"),
            "Os": doc.get("os", "linux"),
            "Size": self.size,
            "GraphDriver": {"Data": None, "Name": "vfs"},
            "RootFS": {"Type": "layers", "Layers": self.diff_ids},
            "Metadata": {
                "LastTagTime": rfc3339(image.tagged) if image.tagged else "0001-01-01T00:00:00Z"
            },
        }
        if older_than(api_version, "1.45"):
            out["Container"] = doc.get("container", "")
            out["ContainerConfig"] = shaped_config(doc.get("container_config") or {})
        if older_than(api_version, "1.44"):
            out["VirtualSize"] = self.size
        return out


def history_rows(chain: list[Image], layer_size: Any) -> list[dict[str, Any]]:
    """``GET /images/{name}/history`` for an image made here. ``chain``: the image, its
    parent, and so on as far as they are here (each names the rows it added);
    ``layer_size(diff_id)``: a layer's size."""
    top = chain[0]
    local = top.local
    assert local is not None
    entries = local.history
    owners = {}
    for image in chain:
        count = len(image.local.history) if image.local is not None else 2
        owners.setdefault(count, image)
    diff_ids = local.diff_ids
    sizes = []
    layer = 0
    for entry in entries:
        if entry.get("empty_layer"):
            sizes.append(0)
        else:
            sizes.append(layer_size(diff_ids[layer]) if layer < len(diff_ids) else 0)
            layer += 1
    rows = []
    for index in range(len(entries) - 1, -1, -1):
        entry = entries[index]
        owner = owners.get(index + 1)
        try:
            created = parse_instant(entry.get("created") or "") // NS
        except ValueError:
            created = 0
        rows.append(
            {
                "Comment": entry.get("comment", ""),
                "Created": created,
                "CreatedBy": entry.get("created_by", ""),
                "Id": owner.id if owner is not None else "<missing>",
                "Size": sizes[index],
                "Tags": (list(owner.tags) or None) if owner is not None else None,
            }
        )
    return rows


class TreeCache:
    """The file trees of images made here, by their layers: a few kept, the rest rebuilt."""

    def __init__(self, keep: int = 8) -> None:
        self.keep = keep
        self._trees: OrderedDict[tuple[str, ...], RootFS] = OrderedDict()

    def tree(self, diff_ids: list[str], layer: Any) -> RootFS:
        """``layer(diff_id) -> bytes``, for the layers that are not a lab image's tree."""
        from labkit.engine.runtime.layers import tree_of
        from labkit.engine.runtime.rootfs import image_rootfs

        key = tuple(diff_ids)
        if key in self._trees:
            self._trees.move_to_end(key)
            return self._trees[key]
        base = None
        rest = list(diff_ids)
        if rest:
            repo = catalogue_repo_of(rest[0])
            if repo is not None:
                base = image_rootfs(repo)
                rest = rest[1:]
        tree = tree_of(f"layers of {len(diff_ids)}", base, (layer(d) for d in rest))
        self._trees[key] = tree
        while len(self._trees) > self.keep:
            self._trees.popitem(last=False)
        return tree


def rootfs_key(diff_ids: list[str]) -> str:
    return LAYERS_KEY + ",".join(diff_ids)


def diff_ids_of_key(key: str) -> list[str] | None:
    if not key.startswith(LAYERS_KEY):
        return None
    rest = key[len(LAYERS_KEY) :]
    return rest.split(",") if rest else []


def layer_size_of(spec_size_by_diff: dict[str, int], content: Any, diff_id: str) -> int:
    if diff_id in spec_size_by_diff:
        return spec_size_by_diff[diff_id]
    return content(diff_id)


def catalogue_sizes() -> dict[str, int]:
    """A lab image's tree as a layer counts its catalogue size."""
    return {catalogue_layer(s.rootfs)[0]: s.size for s in catalogue.CATALOGUE}


def created_text(ns: int) -> str:
    return rfc3339(ns)

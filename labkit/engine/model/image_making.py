"""Making images in the lab engine: recording one, committing a container, finding a tree.

The engine's operations for images that are not the catalogue's; the builder
(:mod:`build`) and the archive endpoints (:mod:`image_archive`) use them.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from labkit.engine.model import local_images as li
from labkit.engine.model import refs
from labkit.engine.model.errors import BadRequest, NotFound
from labkit.engine.model.images import Image

if TYPE_CHECKING:
    from labkit.engine.model.containers import Container
    from labkit.engine.model.engine import Engine


def layer_bytes(engine: Engine, diff_id: str) -> bytes:
    repo = li.catalogue_repo_of(diff_id)
    if repo is not None:
        return li.catalogue_layer(repo)[1]
    data = engine.store.get_layer(diff_id)
    if data is None:
        raise NotFound(f"layer {diff_id} is missing from the lab engine's store")
    return data


def layer_size(engine: Engine, diff_id: str) -> int:
    from labkit.engine.runtime.layers import content_size

    sizes = li.catalogue_sizes()
    if diff_id in sizes:
        return sizes[diff_id]
    return content_size(layer_bytes(engine, diff_id))


def tree(engine: Engine, key: str) -> Any:
    """The file tree a container's ``rootfs`` names: a lab image's, or a stack of layers."""
    from labkit.engine.runtime.rootfs import image_rootfs

    diff_ids = li.diff_ids_of_key(key)
    if diff_ids is None:
        return image_rootfs(key)
    return engine.trees.tree(diff_ids, lambda d: layer_bytes(engine, d))


def document_of(image: Image) -> dict[str, Any]:
    """The image configuration of any image (a lab image's as ``docker save`` writes it)."""
    local = image.local
    if local is not None:
        return dict(local.doc)
    return li.catalogue_document(image)


def diff_ids_of(image: Image) -> list[str]:
    return list(document_of(image)["rootfs"]["diff_ids"])


def record_image(
    engine: Engine,
    doc: dict[str, Any],
    new_layers: list[bytes],
    parent: str = "",
    cache: str = "",
    raw: str | None = None,
) -> Image:
    """Store an image configuration and its new layers (in one transaction); the image,
    new or the one with the same id. ``raw``: the configuration's exact bytes, if given."""
    raw = raw if raw is not None else li.encode_document(doc)
    image_id = li.sha256(raw.encode())
    existing = engine.images.images.get(image_id)
    if existing is not None:
        return existing
    diff_ids = list((doc.get("rootfs") or {}).get("diff_ids") or [])
    with engine.store.tx():
        for data in new_layers:
            engine.store.put_layer(li.sha256(data), data)
        size = sum(layer_size(engine, d) for d in diff_ids)
        own = {"raw": raw, "parent": parent, "size": size, "cache": cache}
        image = Image(id=image_id, repo="", pulled=engine.now(), own=own)
        engine.images.images[image.id] = image
        engine.images.save(image)
    return image


def tag(engine: Engine, image: Image, name: str) -> str:
    """Point ``name`` (``repo[:tag]``) at the image, as ``docker tag`` does; its familiar form."""
    ref = refs.parse(name)
    if ref.digest:
        raise BadRequest("refusing to create a tag with a digest reference")
    with engine.store.tx():
        before = engine.images.tag(image, ref, engine.now())
        if before is not None:
            engine.image_event("untag", before, before.id)
        engine.image_event("tag", image, ref.tagged())
    return ref.tagged()


def forget_unused_layers(engine: Engine) -> None:
    """Delete the layer tars no image and no container uses any more."""
    used: set[str] = set()
    for image in engine.images.images.values():
        if image.local is not None:
            used.update(image.local.diff_ids)
    for c in engine.containers.values():
        used.update(li.diff_ids_of_key(c.doc.get("rootfs", "")) or [])
    for diff_id in engine.store.layer_ids() - used:
        with contextlib.suppress(Exception):
            engine.store.delete_layer(diff_id)


def container_layer(engine: Engine, c: Container) -> bytes:
    """A container's own changes as a layer tar (``docker commit``, a build step)."""
    from labkit.engine.runtime.layers import tar_of_changes

    vfs = engine.container_fs(c)
    upper, opaque = vfs.snapshot()
    parents = {}
    for path in upper:
        parent = path.rsplit("/", 1)[0] or "/"
        while parent != "/" and parent not in parents:
            node = upper.get(parent) or vfs.lower.get(parent)
            if node is not None:
                parents[parent] = node
            parent = parent.rsplit("/", 1)[0] or "/"
    return tar_of_changes(upper, opaque, parents)


def commit(
    engine: Engine,
    c: Container,
    *,
    repo: str = "",
    tag_: str = "",
    comment: str = "",
    author: str = "",
    changes: list[str] | None = None,
    config: dict[str, Any] | None = None,
    replace: bool = False,
    created_by: str | None = None,
    history_extra: dict[str, Any] | None = None,
    cache: str = "",
    empty: bool = False,
) -> Image:
    """A container's filesystem changes and config as a new image (``POST /commit``)."""
    from labkit.engine.model.dockerfile import apply_changes

    base = engine.images.images.get(c.doc["image_id"])
    if base is None:
        raise NotFound(f"the image of container {c.short} is gone; commit needs it")
    parent_doc = document_of(base)
    layer = None if empty else container_layer(engine, c)
    image_cfg = dict(c.config)
    image_cfg.pop("Hostname", None)
    image_cfg["Hostname"] = ""
    image_cfg["Image"] = base.id if base.local is not None else image_cfg.get("Image", "")
    for key in ("AttachStdin", "AttachStdout", "AttachStderr", "Tty", "OpenStdin", "StdinOnce"):
        image_cfg[key] = False
    if config:  # a build step's is the whole truth; a client's fills in what it sets
        image_cfg.update(config if replace else {k: v for k, v in config.items() if v})
    if changes:
        apply_changes(image_cfg, changes)
    now = li.created_text(engine.now())
    entry: dict[str, Any] = {"created": now}
    if author:
        entry["author"] = author
    entry["created_by"] = created_by if created_by is not None else " ".join(c.argv)
    if comment:
        entry["comment"] = comment
    if empty:
        entry["empty_layer"] = True
    entry.update(history_extra or {})
    diff_ids = list(parent_doc["rootfs"]["diff_ids"])
    new_layers = []
    if layer is not None:
        diff_ids.append(li.sha256(layer))
        new_layers.append(layer)
    doc: dict[str, Any] = {
        "architecture": "amd64",
        "config": li.shaped_config(image_cfg),
        "container": c.id,
        "container_config": li.shaped_config(c.config),
        "created": now,
        "docker_version": li.DOCKER_VERSION,
        "history": [*parent_doc.get("history", []), entry],
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }
    if author:
        doc["author"] = author
    if comment:
        doc["comment"] = comment
    image = record_image(engine, doc, new_layers, parent=base.id, cache=cache)
    if repo:
        tag(engine, image, f"{repo}:{tag_}" if tag_ else repo)
    return image


def is_id_like(name: str) -> bool:
    bare = name.removeprefix("sha256:")
    return bool(bare) and all(c in "0123456789abcdef" for c in bare) and len(bare) >= 12

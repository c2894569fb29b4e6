"""``docker save``, ``docker load`` and ``docker import``: images as tar files.

The save format is dockerd 20.10's (``docker save`` without the OCI index): per layer a
folder named by its v1 id holding ``VERSION``, ``json`` and ``layer.tar``; the image
configuration as ``<id>.json``; ``manifest.json``; and ``repositories``. Load reads that
format (from the lab engine or from dockerd); an OCI ``index.json`` without a
``manifest.json`` is refused with a clear message.
"""

from __future__ import annotations

import hashlib
import io
import json
import posixpath
import tarfile
from typing import TYPE_CHECKING, Any

from labkit.engine.model import image_making as im
from labkit.engine.model import local_images as li
from labkit.engine.model import refs
from labkit.engine.model.dockerfile import apply_changes
from labkit.engine.model.errors import BadRequest

if TYPE_CHECKING:
    from labkit.engine.model.engine import Engine
    from labkit.engine.model.images import Image

_EPOCH = 0
_EMPTY_V1_CONFIG = li.shaped_config({})


def _add(tar: tarfile.TarFile, name: str, data: bytes | None, mtime: int = _EPOCH) -> None:
    info = tarfile.TarInfo(name)
    info.mtime = mtime
    info.uname = info.gname = ""
    if data is None:
        info.type = tarfile.DIRTYPE
        info.mode = 0o755
        tar.addfile(info)
    else:
        info.mode = 0o644
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))


def _v1_ids(diff_ids: list[str]) -> list[str]:
    """Layer folder names: chained from the diff ids, as dockerd's v1 ids are."""
    out = []
    parent = ""
    for diff_id in diff_ids:
        value = hashlib.sha256(f"{parent} {diff_id}".encode()).hexdigest()
        out.append(value)
        parent = value
    return out


def save(engine: Engine, names: list[str]) -> bytes:
    """The tar of ``GET /images/get``; dockerd's 404 for a name it does not know."""
    if not names:
        raise BadRequest("no image names given: name at least one image to save")
    chosen: list[tuple[Image, list[str]]] = []
    for name in names:
        image = engine.images.resolve(name)
        tags: list[str] = []
        try:
            ref = refs.parse(name)
        except BadRequest:
            ref = None
        if ref is not None and ref.tagged() in image.tags:
            tags = [ref.tagged()]
        elif ref is not None and not im.is_id_like(name):
            tags = [t for t in image.tags if t.rsplit(":", 1)[0] == ref.tagged().rsplit(":", 1)[0]]
        entry = next((e for e in chosen if e[0].id == image.id), None)
        if entry is None:
            chosen.append((image, tags))
        else:
            entry[1].extend(t for t in tags if t not in entry[1])
    out = io.BytesIO()
    manifest = []
    repositories: dict[str, dict[str, str]] = {}
    written: set[str] = set()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for image, tags in chosen:
            doc = im.document_of(image)
            raw = image.local.raw if image.local is not None else li.encode_document(doc)
            config_id = li.sha256(raw.encode()).split(":", 1)[1]
            diff_ids = list(doc["rootfs"]["diff_ids"])
            v1 = _v1_ids(diff_ids)
            for n, (diff_id, folder) in enumerate(zip(diff_ids, v1, strict=True)):
                if folder in written:
                    continue
                written.add(folder)
                layer_json: dict[str, Any] = {"id": folder}
                if n:
                    layer_json["parent"] = v1[n - 1]
                if n == len(diff_ids) - 1:
                    layer_json.update(
                        {
                            "created": doc.get("created", ""),
                            "container_config": doc.get("container_config") or _EMPTY_V1_CONFIG,
                            "config": doc.get("config"),
                            "architecture": "amd64",
                            "os": "linux",
                        }
                    )
                else:
                    layer_json.update(
                        {
                            "created": "1970-01-01T00:00:00Z",
                            "container_config": _EMPTY_V1_CONFIG,
                            "os": "linux",
                        }
                    )
                _add(tar, folder + "/", None)
                _add(tar, f"{folder}/VERSION", b"1.0")
                _add(tar, f"{folder}/json", li.go_json(layer_json).encode())
                _add(tar, f"{folder}/layer.tar", im.layer_bytes(engine, diff_id))
            _add(tar, f"{config_id}.json", raw.encode())
            manifest.append(
                {
                    "Config": f"{config_id}.json",
                    "RepoTags": tags or None,
                    "Layers": [f"{folder}/layer.tar" for folder in v1],
                }
            )
            for tagged in tags:
                repo, _, tag = tagged.rpartition(":")
                if v1:
                    repositories.setdefault(repo, {})[tag] = v1[-1]
        _add(tar, "manifest.json", li.go_json(manifest).encode())
        if repositories:
            _add(tar, "repositories", (li.go_json(repositories) + "\n").encode())
    return out.getvalue()


class LoadFailed(Exception):
    """An archive ``docker load`` cannot use: dockerd says so in the stream, after a 200."""


def _read_tar(data: bytes, what: str) -> dict[str, bytes]:
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
            out = {}
            for info in tar.getmembers():
                if info.isfile():
                    handle = tar.extractfile(info)
                    out[posixpath.normpath(info.name).lstrip("./")] = (
                        handle.read() if handle else b""
                    )
            return out
    except (tarfile.TarError, EOFError) as exc:
        raise BadRequest(f"{what} is not a tar archive ({exc})") from None


def load(engine: Engine, data: bytes) -> list[str]:
    """``POST /images/load``: the lines of its stream (``Loaded image: ...``)."""
    files = _read_tar(data, "the uploaded file")
    if "manifest.json" not in files:
        raise LoadFailed(
            "this is not an image archive: it has neither manifest.json nor repositories "
            "(make one with docker save)"
        )
    try:
        manifest = json.loads(files["manifest.json"])
    except ValueError as exc:
        raise BadRequest(f"manifest.json is not JSON: {exc}") from None
    lines = []
    for entry in manifest if isinstance(manifest, list) else []:
        raw = files.get(entry.get("Config", ""))
        if raw is None:
            raise BadRequest(
                f"the archive has no {entry.get('Config')!r}, which its manifest names"
            )
        text = raw.decode()
        doc = json.loads(text)
        diff_ids = list((doc.get("rootfs") or {}).get("diff_ids") or [])
        layer_paths = entry.get("Layers") or []
        if len(layer_paths) != len(diff_ids):
            raise BadRequest(
                f"invalid manifest, layers length mismatch: expected {len(diff_ids)}, "
                f"got {len(layer_paths)}"
            )
        new_layers = []
        for n, (path, diff_id) in enumerate(zip(layer_paths, diff_ids, strict=True)):
            if li.catalogue_repo_of(diff_id) is not None:
                continue
            layer = files.get(path)
            if layer is None:
                raise BadRequest(f"the archive has no {path!r}, which its manifest names")
            layer = _uncompressed(layer)
            actual = li.sha256(layer)
            if actual != diff_id:
                raise BadRequest(
                    f"invalid diffID for layer {n}: expected {diff_id!r}, got {actual!r}"
                )
            new_layers.append(layer)
        image = _catalogue_image(engine, text) or im.record_image(engine, doc, new_layers, raw=text)
        tags = entry.get("RepoTags") or []
        for tagged in tags:
            owner = engine.images.find_tag(refs.parse(tagged).tagged())
            if owner is not None and owner is not image:
                lines.append(
                    f"The image {refs.parse(tagged).tagged()} already exists, renaming the old "
                    f"one with ID {owner.id} to empty string"
                )
            shown = im.tag(engine, image, tagged)
            lines.append(f"Loaded image: {shown}")
        if not tags:
            lines.append(f"Loaded image ID: {image.id}")
        engine.image_event("load", image, image.id)
    return lines


def _uncompressed(layer: bytes) -> bytes:
    if layer[:2] == b"\x1f\x8b":
        import gzip

        return gzip.decompress(layer)
    return layer


def _catalogue_image(engine: Engine, raw: str) -> Image | None:
    """A lab image that the lab engine saved comes back as itself (the same id)."""
    from labkit.engine.model import catalogue

    for spec in catalogue.CATALOGUE:
        image = engine.images.images.get(spec.id)
        if image is not None and li.encode_document(li.catalogue_document(image)) == raw:
            return image
        if image is None:
            probe = _probe(spec)
            if li.encode_document(li.catalogue_document(probe)) == raw:
                ref = refs.parse(f"{spec.repo}:{spec.tags[0]}")
                return engine.images.add(spec, ref, engine.now())[0]
    return None


def _probe(spec: Any) -> Image:
    from labkit.engine.model.images import Image

    return Image(id=spec.id, repo=spec.repo)


def import_tarball(
    engine: Engine,
    data: bytes,
    repo: str = "",
    tag: str = "",
    changes: list[str] | None = None,
    message: str = "",
) -> Image:
    """``POST /images/create?fromSrc=-``: the tar is the filesystem of a one-layer image."""
    from labkit.engine.runtime.layers import LayerError, tree_of

    layer = _uncompressed(data)
    try:
        tree_of("import", None, [layer])
    except LayerError as exc:
        raise BadRequest(f"the uploaded file cannot be imported: {exc}") from None
    cfg: dict[str, Any] = {}
    if changes:
        apply_changes(cfg, changes)
    now = li.created_text(engine.now())
    entry: dict[str, Any] = {"created": now, "comment": message or "Imported from -"}
    doc = {
        "architecture": "amd64",
        "comment": message or "Imported from -",
        "config": li.shaped_config(cfg) if cfg else None,
        "container_config": li.shaped_config({}),
        "created": now,
        "docker_version": li.DOCKER_VERSION,
        "history": [entry],
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [li.sha256(layer)]},
    }
    image = im.record_image(engine, doc, [layer])
    engine.image_event("import", image, image.id)
    if repo:
        im.tag(engine, image, f"{repo}:{tag}" if tag else repo)
    return image

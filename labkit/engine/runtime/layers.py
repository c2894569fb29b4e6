"""Image layers as docker writes them: tar files, with ``.wh.`` whiteouts for deletions.

A built, committed, imported or loaded image is a stack of such tars (a lab image's own
tree counts as its bottom layer). :func:`tree_of` applies a stack to get the image's
:class:`~labkit.engine.runtime.rootfs.RootFS`; :func:`tar_of_tree` and :func:`tar_of_changes`
write one, byte for byte the same for the same content, so that a layer's digest (its
``diff_id``) names its content as in dockerd.
"""

from __future__ import annotations

import io
import posixpath
import tarfile
from collections.abc import Iterable

from labkit.engine.runtime.rootfs import Node, RootFS

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
# Files the runtime writes into every container; a commit leaves them out, as docker does.
MOUNTED_FILES = frozenset({"/etc/hostname", "/etc/hosts", "/etc/resolv.conf"})


class LayerError(ValueError):
    """A tar that cannot be an image layer; the message says which entry and why."""


def _info(path: str, node: Node) -> tarfile.TarInfo:
    name = path.lstrip("/")
    info = tarfile.TarInfo(name + "/" if node.kind == "dir" else name)
    info.mode = node.mode & 0o7777
    info.mtime = int(node.mtime)
    info.uname = info.gname = ""
    if node.kind == "dir":
        info.type = tarfile.DIRTYPE
    elif node.kind == "link":
        info.type = tarfile.SYMTYPE
        info.linkname = str(node.data)
    else:
        info.size = node.size
    return info


def _write(tar: tarfile.TarFile, path: str, node: Node) -> None:
    info = _info(path, node)
    data = node.data if node.kind == "file" else None
    tar.addfile(info, io.BytesIO(data) if isinstance(data, bytes) else None)


def _empty_marker(tar: tarfile.TarFile, path: str) -> None:
    info = tarfile.TarInfo(path.lstrip("/"))
    info.mode = 0
    info.uname = info.gname = ""
    tar.addfile(info, io.BytesIO(b""))


def tar_of_tree(tree: RootFS) -> bytes:
    """The whole tree as one layer (a lab image's bottom layer, or ``docker export``)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(p for p in tree.paths() if p != "/"):
            node = tree.get(path)
            if node is not None:
                _write(tar, path, node)
    return out.getvalue()


def tar_of_changes(
    upper: dict[str, Node | None], opaque: Iterable[str], parents: dict[str, Node]
) -> bytes:
    """A container's own changes as a layer: what it wrote, ``.wh.NAME`` for what it deleted,
    ``.wh..wh..opq`` in a directory it emptied and made again. ``parents``: the merged
    tree's node for each parent directory of a change (a layer lists them too)."""
    entries: dict[str, Node | None] = {}
    for path, node in upper.items():
        if path in MOUNTED_FILES or path == "/":
            continue
        if node is None:
            entries[
                posixpath.join(posixpath.dirname(path), WHITEOUT + posixpath.basename(path))
            ] = None
        else:
            entries[path] = node
    for path in opaque:
        entries[posixpath.join(path, OPAQUE)] = None
    for path in list(entries):
        parent = posixpath.dirname(path)
        while parent != "/" and parent not in entries:
            node = upper.get(parent) or parents.get(parent)
            if node is not None:
                entries[parent] = node
            parent = posixpath.dirname(parent)
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(entries):
            node = entries[path]
            if node is None:
                _empty_marker(tar, path)
            else:
                _write(tar, path, node)
    return out.getvalue()


def apply_layer(nodes: dict[str, Node], data: bytes, what: str = "layer") -> None:
    """Apply one layer tar to a tree (path -> Node) in place, whiteouts included."""
    try:
        tar = tarfile.open(fileobj=io.BytesIO(data), mode="r:*")  # noqa: SIM115 (closed below)
    except tarfile.TarError as exc:
        raise LayerError(f"{what} is not a tar archive ({exc})") from None
    with tar:
        try:
            members = tar.getmembers()
        except (tarfile.TarError, EOFError) as exc:
            raise LayerError(f"{what} is not a whole tar archive ({exc})") from None
        for info in members:
            path = "/" + posixpath.normpath("/" + info.name).strip("/")
            if path == "/" and not info.isdir():
                continue
            base = posixpath.basename(path)
            parent = posixpath.dirname(path)
            if base == OPAQUE:
                _drop_children(nodes, parent)
                continue
            if base.startswith(WHITEOUT):
                _drop(nodes, posixpath.join(parent, base[len(WHITEOUT) :]))
                continue
            _parents(nodes, path, info.mtime)
            mode = info.mode & 0o7777
            if info.isdir():
                old = nodes.get(path)
                if old is None or old.kind != "dir":
                    _drop(nodes, path)
                nodes[path] = Node("dir", mode, None, float(info.mtime))
            elif info.issym():
                _drop(nodes, path)
                nodes[path] = Node("link", 0o777, info.linkname, float(info.mtime))
            elif info.islnk():
                target = nodes.get("/" + info.linkname.strip("/"))
                if target is None or target.kind != "file":
                    raise LayerError(f"{what}: hard link {info.name} -> {info.linkname}: no file")
                _drop(nodes, path)
                nodes[path] = Node("file", mode or target.mode, target.data, float(info.mtime))
            elif info.isfile():
                handle = tar.extractfile(info)
                content = handle.read() if handle is not None else b""
                _drop(nodes, path)
                nodes[path] = Node("file", mode, content, float(info.mtime))
            else:  # devices and fifos: an empty file stands in (runtime/devices.py acts)
                _drop(nodes, path)
                nodes[path] = Node("file", mode, b"", float(info.mtime))


def _parents(nodes: dict[str, Node], path: str, mtime: float) -> None:
    parent = posixpath.dirname(path)
    missing = []
    while parent not in nodes:
        missing.append(parent)
        parent = posixpath.dirname(parent)
    for p in reversed(missing):
        nodes[p] = Node("dir", 0o755, None, float(mtime))


def _drop(nodes: dict[str, Node], path: str) -> None:
    nodes.pop(path, None)
    _drop_children(nodes, path)


def _drop_children(nodes: dict[str, Node], path: str) -> None:
    prefix = path.rstrip("/") + "/"
    for p in [p for p in nodes if p.startswith(prefix)]:
        del nodes[p]


def tree_of(name: str, base: RootFS | None, layers: Iterable[bytes]) -> RootFS:
    """The file tree of an image: ``base`` (or an empty root) with ``layers`` applied."""
    nodes: dict[str, Node] = {"/": Node("dir", 0o755, None, 0.0)}
    if base is not None:
        nodes.update({p: base.get(p) for p in base.paths()})  # type: ignore[misc]
    for n, data in enumerate(layers, start=1):
        apply_layer(nodes, data, f"layer {n}")
    return RootFS(name, nodes)


def content_size(data: bytes) -> int:
    """What a layer adds, as ``docker images`` counts it: the bytes of its files."""
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
        return sum(info.size for info in tar.getmembers() if info.isfile())

"""The lab images' file trees: immutable, built once, shared by every container.

A container never copies its image: its :class:`~labkit.engine.runtime.vfs.VFS` keeps a
reference to the image's :class:`RootFS` (the lower layer) and stores only its own changes.
That is how the lab engine holds a thousand containers in a few megabytes, and it is also how
overlay filesystems make real containers cheap.

Programs are files whose bytes the runtime recognises (:func:`program_of`): ``/bin/busybox``
(every applet under ``/bin`` is a symlink to it, as in the real image) and ``/hello``. Nothing
here is ever executed on the host.
"""

from __future__ import annotations

import functools
import posixpath
from collections.abc import Iterator

# The bytes of the two "binaries". Copying one (cp /bin/busybox /tmp/bb) keeps it runnable,
# because the runtime recognises programs by content, not by path.
BUSYBOX_PROGRAM = b"\x7fELF labkit busybox stand-in: its applets run inside the lab engine\n"
HELLO_PROGRAM = b"\x7fELF labkit hello: prints the lab engine's greeting\n"
_PROGRAMS = {BUSYBOX_PROGRAM: "busybox", HELLO_PROGRAM: "hello"}

BUSYBOX_VERSION = "1.36.1"
ALPINE_VERSION = "3.20.3"

# Every applet the runtime implements; each is a symlink /bin/NAME -> busybox in the images.
APPLETS: tuple[str, ...] = (
    "[",
    "ash",
    "awk",
    "base64",
    "basename",
    "cat",
    "chmod",
    "cp",
    "cut",
    "date",
    "df",
    "dirname",
    "du",
    "echo",
    "env",
    "expr",
    "false",
    "find",
    "free",
    "grep",
    "head",
    "hostname",
    "id",
    "kill",
    "ln",
    "ls",
    "md5sum",
    "mkdir",
    "mktemp",
    "mv",
    "nl",
    "nproc",
    "printf",
    "ps",
    "pwd",
    "readlink",
    "realpath",
    "rev",
    "rm",
    "rmdir",
    "sed",
    "seq",
    "sh",
    "sha1sum",
    "sha256sum",
    "sha512sum",
    "sleep",
    "sort",
    "stat",
    "tac",
    "tail",
    "tar",
    "tee",
    "test",
    "top",
    "touch",
    "tr",
    "true",
    "uname",
    "uniq",
    "wc",
    "which",
    "whoami",
    "xargs",
    "yes",
)

# When each image's files were "built" (their mtime): fixed, so listings are reproducible.
_BUILT = {"busybox": 1727308800.0, "alpine": 1725926400.0, "hello-world": 1683849600.0}


def program_of(data: bytes) -> str | None:
    """Which built-in program these file bytes are ("busybox", "hello"), or None.

    A real static busybox (in an image loaded or imported from dockerd) counts as busybox:
    its applets are the runtime's own."""
    known = _PROGRAMS.get(data)
    if known is None and data[:4] == b"\x7fELF" and b"BusyBox v" in data:
        return "busybox"
    return known


class Node:
    """One file, directory or symlink. ``data``: bytes (file), target (link), None (dir)."""

    __slots__ = ("data", "kind", "mode", "mtime")

    def __init__(self, kind: str, mode: int, data: bytes | str | None, mtime: float) -> None:
        self.kind = kind
        self.mode = mode
        self.data = data
        self.mtime = mtime

    @property
    def size(self) -> int:
        """Bytes in a file, the target's length for a link, 4096 for a directory (like ext4)."""
        if self.kind == "dir":
            return 4096
        return len(self.data) if self.data is not None else 0

    def __repr__(self) -> str:
        return f"Node({self.kind!r}, {oct(self.mode)}, size={self.size})"


class RootFS:
    """An image's file tree: path -> :class:`Node`, read-only once built."""

    def __init__(self, name: str, nodes: dict[str, Node]) -> None:
        self.name = name
        self._nodes = dict(nodes)
        children: dict[str, list[str]] = {path: [] for path, n in nodes.items() if n.kind == "dir"}
        for path in nodes:
            if path != "/":
                children[posixpath.dirname(path)].append(posixpath.basename(path))
        self._children = {path: tuple(sorted(names)) for path, names in children.items()}

    def get(self, path: str) -> Node | None:
        """The node at a normalised absolute path (symlinks not followed), or None."""
        return self._nodes.get(path)

    def children(self, path: str) -> tuple[str, ...]:
        """Sorted names in the directory at ``path`` (empty for anything else)."""
        return self._children.get(path, ())

    def paths(self) -> Iterator[str]:
        return iter(self._nodes)

    def __len__(self) -> int:
        return len(self._nodes)

    def __repr__(self) -> str:
        return f"RootFS({self.name!r}, {len(self)} entries)"


class _Builder:
    """Collects nodes for a RootFS, creating parent directories as it goes."""

    def __init__(self, mtime: float) -> None:
        self.mtime = mtime
        self.nodes: dict[str, Node] = {"/": Node("dir", 0o755, None, mtime)}

    def dir(self, path: str, mode: int = 0o755) -> None:
        self._parents(path)
        self.nodes[path] = Node("dir", mode, None, self.mtime)

    def file(self, path: str, data: bytes | str, mode: int = 0o644) -> None:
        self._parents(path)
        raw = data.encode() if isinstance(data, str) else data
        self.nodes[path] = Node("file", mode, raw, self.mtime)

    def link(self, path: str, target: str) -> None:
        self._parents(path)
        self.nodes[path] = Node("link", 0o777, target, self.mtime)

    def _parents(self, path: str) -> None:
        parent = posixpath.dirname(path)
        if parent not in self.nodes:
            self.dir(parent)


_PASSWD = """\
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/home:/bin/false
"""
_GROUP = """\
root:x:0:
nobody:x:65534:
"""


def _busybox_like(b: _Builder, os_release: str) -> None:
    """The tree busybox and alpine share: /bin with the applets, /etc, /tmp, /root..."""
    for d in ("/dev", "/home", "/proc", "/sys", "/usr/bin", "/usr/sbin", "/var", "/root"):
        b.dir(d, 0o700 if d == "/root" else 0o755)
    b.dir("/var/tmp", 0o1777)
    b.dir("/tmp", 0o1777)
    b.file("/dev/null", b"", 0o666)
    for device in ("/dev/zero", "/dev/random", "/dev/urandom"):  # see runtime/devices.py
        b.file(device, b"", 0o666)
    b.file("/bin/busybox", BUSYBOX_PROGRAM, 0o755)
    for name in APPLETS:
        b.link(f"/bin/{name}", "busybox")
    b.file("/etc/passwd", _PASSWD)
    b.file("/etc/group", _GROUP)
    b.file("/etc/os-release", os_release)


def _busybox() -> RootFS:
    b = _Builder(_BUILT["busybox"])
    _busybox_like(
        b,
        f'NAME="BusyBox"\nID=busybox\nVERSION_ID={BUSYBOX_VERSION}\n'
        f'PRETTY_NAME="labkit\'s BusyBox stand-in {BUSYBOX_VERSION}"\n',
    )
    return RootFS("busybox", b.nodes)


def _alpine() -> RootFS:
    b = _Builder(_BUILT["alpine"])
    short = ".".join(ALPINE_VERSION.split(".")[:2])
    _busybox_like(
        b,
        f'NAME="Alpine Linux"\nID=alpine\nVERSION_ID={ALPINE_VERSION}\n'
        f'PRETTY_NAME="labkit\'s stand-in for Alpine Linux v{short}"\n',
    )
    for d in ("/lib", "/media", "/mnt", "/opt", "/run", "/sbin", "/srv", "/usr/lib", "/etc/apk"):
        b.dir(d)
    b.file("/etc/alpine-release", ALPINE_VERSION + "\n")
    return RootFS("alpine", b.nodes)


def _hello_world() -> RootFS:
    b = _Builder(_BUILT["hello-world"])
    b.file("/hello", HELLO_PROGRAM, 0o755)
    # Not in the image, but in every container: the runtime makes these mount points, and
    # the model writes /etc/hostname into each container.
    for d in ("/dev", "/etc", "/proc", "/sys"):
        b.dir(d)
    return RootFS("hello-world", b.nodes)


_IMAGES = {"busybox": _busybox, "alpine": _alpine, "hello-world": _hello_world}


def image_rootfs(name: str) -> RootFS:
    """The shared tree of a lab image ("hello-world", "busybox", "alpine"); KeyError otherwise.

    Accepts the name with a tag or the docker.io/library prefix ("busybox:latest"). The tree
    is built once per process and then shared.
    """
    base = name.rsplit("/", 1)[-1].split("@", 1)[0].split(":", 1)[0]
    if base not in _IMAGES:
        raise KeyError(f"no file tree for image {name!r}; the lab knows {sorted(_IMAGES)}")
    return _built(base)


@functools.cache
def _built(base: str) -> RootFS:
    return _IMAGES[base]()


def image_names() -> tuple[str, ...]:
    return tuple(_IMAGES)

"""Named volumes: a folder under ``<home>/volumes/<name>/_data`` bound into containers.

The folders are owner-only (0700) and made without following a link; what a container makes
in a volume is owner-only too (``runtime.hostfs``), and no link in it leads out of it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labkit.engine import goparse, private
from labkit.engine.model.clock import rfc3339
from labkit.engine.model.errors import BadRequest, NotFound
from labkit.engine.model.store import Store

log = logging.getLogger("labkit.engine.model")

VALID_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+")  # fullmatch: no "\n" at the end
MAX_NAME_BYTES = 255  # a file name's longest (NAME_MAX)


@dataclass
class Volume:
    name: str
    created: int
    labels: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)
    anonymous: bool = False

    def doc(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "created": self.created,
            "labels": self.labels,
            "options": self.options,
            "anonymous": self.anonymous,
        }


class VolumeStore:
    def __init__(self, store: Store, root: Path) -> None:
        self.store = store
        self.root = root
        self.volumes: dict[str, Volume] = {
            Volume(**d).name: Volume(**d) for d in store.all("volumes")
        }
        self._tighten()

    def _tighten(self) -> None:
        """Volume folders made by an older labkit (0755) are made owner-only too."""
        if not self.root.is_dir():
            return
        for name in ["", *self.volumes]:
            parts = [self.root.name, name, "_data"] if name else [self.root.name]
            try:
                private.make_dirs(self.root.parent, *parts)
            except (OSError, private.UnsafeHome) as exc:
                log.warning("volume folder %s left as it is: %s", self.root / name, exc)

    def mountpoint(self, name: str) -> Path:
        return self.root / name / "_data"

    def size(self, name: str) -> int:
        """The bytes of the files in a volume (what removing it gives back), links not
        followed: what dockerd's prune reports as SpaceReclaimed."""
        total = 0
        for folder, dirs, files in os.walk(self.mountpoint(name)):
            for entry in files + dirs:
                with contextlib.suppress(OSError):
                    info = os.lstat(os.path.join(folder, entry))
                    if not stat.S_ISDIR(info.st_mode):
                        total += info.st_size
        return total

    def view(self, volume: Volume) -> dict[str, Any]:
        return {
            "CreatedAt": rfc3339(volume.created).split(".")[0].rstrip("Z") + "Z",
            "Driver": "local",
            "Labels": dict(volume.labels) or None,
            "Mountpoint": str(self.mountpoint(volume.name)),
            "Name": volume.name,
            "Options": dict(volume.options) or None,
            "Scope": "local",
        }

    def get(self, name: str) -> Volume:
        volume = self.volumes.get(name)
        if volume is None:
            raise NotFound(f"get {name}: no such volume")
        return volume

    def create(
        self, name: str, now: int, labels: dict[str, str] | None = None, anonymous: bool = False
    ) -> tuple[Volume, bool]:
        """The volume (existing or new) and whether it was created now."""
        if name in self.volumes:
            return self.volumes[name], False
        self.check_name(name)
        volume = Volume(name=name, created=now, labels=dict(labels or {}), anonymous=anonymous)
        private.make_dirs(self.root.parent, self.root.name, name, "_data")
        self.volumes[name] = volume
        self.store.put("volumes", name, volume.doc())
        return volume, True

    def check_name(self, name: str) -> None:
        """dockerd's local driver's rules (validateName), and the file system's length."""
        if len(name) == 1:
            raise BadRequest(
                f"create {name}: volume name is too short, names should be at least two "
                "alphanumeric characters"
            )
        if not VALID_NAME.fullmatch(name):
            raise BadRequest(
                f"create {name}: {goparse.quote(name)} includes invalid characters for a local "
                'volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to '
                "pass a host directory, use absolute path"
            )
        if len(name.encode()) > MAX_NAME_BYTES:  # where dockerd's mkdir fails, with a 500
            raise BadRequest(
                f"create {name}: mkdir {self.mountpoint(name)}: file name too long (a volume's "
                f"name is a folder's name: at most {MAX_NAME_BYTES} bytes)"
            )

    def remove(self, name: str) -> None:
        """Forget a volume; its files go only once that is saved (never before)."""
        self.volumes.pop(name, None)
        self.store.delete("volumes", name)
        folder = self.root / name
        self.store.after_commit(lambda: shutil.rmtree(folder, ignore_errors=True))

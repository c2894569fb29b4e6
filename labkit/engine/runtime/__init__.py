"""The lab engine's simulated runtime: containers as simulated processes, never host ones.

- :mod:`.rootfs`: the lab images' shared, read-only file trees (:func:`image_rootfs`).
- :mod:`.vfs`: a container's filesystem, the image plus its own changes and bind mounts.
- :mod:`.process`: :class:`Process`, the container's command as an asyncio task.
- :mod:`.shell` (with ``shell_parse``, ``shell_expand``) and the ``applets_*`` modules: the
  mini shell and the busybox applets the process runs.

Everything is pure asyncio and the standard library, and cheap to import.
"""

from __future__ import annotations

from labkit.engine.runtime.process import Process
from labkit.engine.runtime.rootfs import RootFS, image_rootfs
from labkit.engine.runtime.vfs import VFS, Stat

__all__ = ["VFS", "Process", "RootFS", "Stat", "image_rootfs"]

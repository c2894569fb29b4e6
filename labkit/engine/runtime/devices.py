"""The endless character devices of a container's ``/dev``: ``/dev/zero`` and the random ones.

They exist in the images as empty files (``ls /dev`` shows them); the applets that
stream (``cat``, ``head -c``) read them through :func:`endless`, a piece at a time, and
anything that would read one to its end fills the container's memory trying, as it
does in a real container.
"""

from __future__ import annotations

import os
from collections.abc import Callable

PIECE = 64 << 10  # bytes one read of a device gives

_ZEROS = bytes(PIECE)


def _random() -> bytes:
    return os.urandom(PIECE)


_DEVICES: dict[str, Callable[[], bytes]] = {
    "/dev/zero": lambda: _ZEROS,
    "/dev/urandom": _random,
    "/dev/random": _random,
}
DEVICES = tuple(_DEVICES)


def endless(path: str) -> Callable[[], bytes] | None:
    """A function giving the next piece of an endless device at ``path``; None for others."""
    return _DEVICES.get(path)

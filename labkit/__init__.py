"""labkit: the Docker IPC Lab's toolkit.

Layers, bottom to top (a lower layer never imports an upper one):

1. ``labkit.wire``       bytes in, events out; no I/O
2. ``labkit.transport``  sockets and finding the engine
3. ``labkit.client``     calling the Engine API
4. ``labkit.engine``     the lab engine (and the proxies)
5. ``labkit.lab``, ``labkit.doctor``, ``labkit.cli``  what learners touch
"""

from __future__ import annotations

__version__ = "0.1.0"

# The newest Engine API version labkit speaks; it negotiates down from here.
API_VERSION_MAX = "1.51"
# The oldest it accepts from an engine.
API_VERSION_MIN = "1.24"


def connect(*args, **kwargs):
    """Find (or start) the engine this lab talks to; see :func:`labkit.lab.connect`."""
    from labkit.lab import connect as _connect

    return _connect(*args, **kwargs)


__all__ = ["API_VERSION_MAX", "API_VERSION_MIN", "__version__", "connect"]

"""The lab engine's model: state in SQLite, the image catalogue, containers, events.

``Engine`` is the one object the API handlers use (``req.engine``).
"""

from __future__ import annotations

from labkit.engine.model.engine import Engine

__all__ = ["Engine"]

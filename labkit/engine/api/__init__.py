"""The lab engine's API handlers, one module per part of the Engine API.

Each module exposes ``ROUTES: list[tuple[str, str, Handler]]``: (method, pattern,
async handler). ``{name}`` in a pattern is one path segment, ``{name*}`` a value
that may hold slashes. ``labkit.engine.app.API_MODULES`` lists the modules in
the order they are registered; the handler contract is in ``engine/replies.py``.
"""

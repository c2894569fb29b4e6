"""Sockets and discovery: reaching an engine, and finding which one to reach.

- :mod:`~labkit.transport.hosts`: engine addresses (``DOCKER_HOST`` syntax).
- :mod:`~labkit.transport.contexts`: the docker CLI's config.json and contexts.
- :mod:`~labkit.transport.connect`: opening Unix, TCP and TLS connections.
- :mod:`~labkit.transport.exchange`: one request and its reply over a socket.
- :mod:`~labkit.transport.discovery`: trying each candidate, saying why each failed.
- :mod:`~labkit.transport.versions`: API version comparison and negotiation.

Names are imported on first use, so that ``import labkit.transport.hosts``
stays cheap and does not load the HTTP machinery.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "open_socket": "connect",
    "USUAL_SOCKETS": "discovery",
    "Attempt": "discovery",
    "EngineInfo": "discovery",
    "EngineNotFound": "discovery",
    "Found": "discovery",
    "candidates": "discovery",
    "find_engine": "discovery",
    "probe": "discovery",
    "ConnectionLost": "errors",
    "ConnectionRefused": "errors",
    "NoReply": "errors",
    "SendFailed": "errors",
    "NotHTTP": "errors",
    "PermissionDenied": "errors",
    "SocketMissing": "errors",
    "Timeout": "errors",
    "TLSFailure": "errors",
    "TransportError": "errors",
    "Unsupported": "errors",
    "Endpoint": "hosts",
    "HostError": "hosts",
    "TLSConfig": "hosts",
    "parse_host": "hosts",
    "IncompatibleEngine": "versions",
    "negotiate": "versions",
    "parse_api_version": "versions",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'labkit.transport' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"labkit.transport.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])

"""Calling the Engine API: labkit's small HTTP client (layer 3).

:class:`~labkit.client.http.Client` speaks HTTP/1.1 over labkit's own wire and
transport layers; the lessons show the same calls made with ``http.client``,
requests-unixsocket, the docker SDK and the docker CLI.
"""

from __future__ import annotations

from labkit.client.http import APIError, Client, Response, Stream, Wiretap, encode_params

__all__ = ["APIError", "Client", "Response", "Stream", "Wiretap", "encode_params"]

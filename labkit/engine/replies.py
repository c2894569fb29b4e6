"""The contract between the lab engine's HTTP server and its API handlers.

A handler gets a :class:`Request` and returns one of the reply types below; the
server (``engine/server.py``) turns that into bytes on the wire. Keeping this
apart means handlers can be tested without a socket, and the server without a
model.
"""

from __future__ import annotations

from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Collection,
    Mapping,
    Sequence,
)
from dataclasses import dataclass, field
from typing import Any, Protocol

from labkit.engine import goparse

JSON_TYPE = "application/json"
MULTIPLEXED_TYPE = "application/vnd.docker.multiplexed-stream"
RAW_STREAM_TYPE = "application/vnd.docker.raw-stream"

_TRUE = {"1", "true", "True", "TRUE", "yes"}
_FALSE = {"", "0", "false", "False", "FALSE", "no"}


class ApiError(Exception):
    """An error the client sees as ``{"message": ...}`` with this status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Headers:
    """Case-insensitive, read-only view of request headers (last value wins)."""

    def __init__(self, pairs: list[tuple[str, str]] | None = None) -> None:
        self._pairs = list(pairs or [])
        self._map = {k.lower(): v for k, v in self._pairs}

    def get(self, name: str, default: str | None = None) -> str | None:
        return self._map.get(name.lower(), default)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._map

    def items(self) -> list[tuple[str, str]]:
        return list(self._pairs)


@dataclass
class Request:
    method: str
    path: str  # without the /vX.Y prefix, e.g. "/containers/json"
    api_version: str | None  # "1.51" when the client used a prefix, else None
    query: Mapping[str, Sequence[str]] = field(default_factory=dict)  # shared: read only
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""
    engine: Any = None  # the Engine model (engine/model); Any keeps this module import-light
    raw_target: str = ""

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    def args(self, name: str) -> list[str]:
        return list(self.query.get(name, []))

    def flag(self, name: str, default: bool = False) -> bool:
        """dockerd's boolean query values: 1/true/yes are true, 0/false/no/empty false."""
        value = self.arg(name)
        if value is None:
            return default
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
        raise ApiError(400, f"invalid value for {name}: {value!r} is not a boolean")

    def int_arg(self, name: str, default: int | None = None) -> int | None:
        """An integer as dockerd reads one (``strconv.Atoi``), with its message when it
        is not: ``strconv.Atoi: parsing "1e20": invalid syntax`` (a 400)."""
        value = self.arg(name)
        if value is None or value == "":
            return default
        try:
            return goparse.atoi(value)
        except goparse.NumError as exc:
            raise ApiError(400, str(exc)) from None

    def json(self, default: Any = None) -> Any:
        """The body as JSON; an empty body gives ``default``; bad JSON is a 400."""
        if not self.body.strip():
            return default
        try:
            return goparse.loads(self.body)
        except goparse.JSONInputError as exc:
            raise ApiError(400, f"invalid JSON in request body: {exc}") from None

    def filters(self, allowed: Collection[str] | None = None) -> dict[str, list[str]]:
        """The ``filters`` query value, in either encoding dockerd accepts.

        ``{"label": ["a=b"]}`` (current) and ``{"label": {"a=b": true}}`` (old clients).
        A key outside ``allowed`` is a 400, as dockerd answers it: a typo in a
        filter must not silently list everything.
        """
        raw = self.arg("filters")
        if not raw:
            return {}
        try:
            data = goparse.loads(raw)
        except goparse.JSONInputError as exc:
            why = f": {exc}" if exc.too_deep else ""
            raise ApiError(400, f"invalid filter: {raw[:200]!r} is not JSON{why}") from None
        if not isinstance(data, dict):
            raise ApiError(400, "invalid filter: expected a JSON object of lists")
        out: dict[str, list[str]] = {}
        for key, value in data.items():
            if isinstance(value, list):
                out[key] = [str(v) for v in value]
            elif isinstance(value, dict):
                out[key] = [str(k) for k, on in value.items() if on]
            else:
                raise ApiError(400, f"invalid filter {key!r}: expected a list of values")
            if allowed is not None and key not in allowed:
                raise ApiError(400, f"Invalid filter '{key}'")
        return out


@dataclass
class JSONReply:
    obj: Any
    status: int = 200
    headers: Mapping[str, str] | None = None


@dataclass
class RawReply:
    body: bytes
    content_type: str = "text/plain; charset=utf-8"
    status: int = 200
    headers: Mapping[str, str] | None = None


@dataclass
class EmptyReply:
    status: int = 204
    headers: Mapping[str, str] | None = None


@dataclass
class StreamReply:
    """Chunked; each piece the iterator yields is flushed at once.

    The server closes the iterator (``aclose``) when the client goes away, so a
    handler frees what it holds in a ``finally``.
    """

    chunks: AsyncIterator[bytes]
    content_type: str | None = JSON_TYPE  # None: no Content-Type (logs before API 1.42)
    status: int = 200
    headers: Mapping[str, str] | None = None


# At most this many seconds between a stream's 101 head and its first output, waiting for
# the client to read the head alone (see Hijacked.until_read).
HEAD_WAIT = 5.0


class Hijacked(Protocol):
    """The raw two-way stream after a ``101 UPGRADED`` (or a 200 raw stream)."""

    async def read(self) -> bytes:
        """The next bytes from the client; b"" once it has closed its side."""

    def write(self, data: bytes) -> None: ...

    async def drain(self) -> None: ...

    async def until_read(self, limit: float) -> None:
        """Wait (at most ``limit`` seconds) until the client has read all sent so far."""

    def close(self) -> None: ...

    @property
    def closed(self) -> bool: ...


@dataclass
class HijackReply:
    """Attach and exec start: 101 when the client asked to upgrade, else 200 and a raw stream."""

    content_type: str
    session: Callable[[Hijacked], Awaitable[None]]


Reply = JSONReply | RawReply | EmptyReply | StreamReply | HijackReply
# A route answers with a coroutine function, or with a fixed RawReply when its answer never
# changes and needs nothing (``/_ping``): the server may then send it without routing.
Handler = Callable[..., Awaitable[Reply]] | RawReply

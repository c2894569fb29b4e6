"""The model's errors: ApiErrors with the status dockerd uses for each kind."""

from __future__ import annotations

from labkit.engine.replies import ApiError


class NotFound(ApiError):
    def __init__(self, message: str) -> None:
        super().__init__(404, message)


class Conflict(ApiError):
    def __init__(self, message: str) -> None:
        super().__init__(409, message)


class BadRequest(ApiError):
    def __init__(self, message: str) -> None:
        super().__init__(400, message)


class ExecStartFailed(BadRequest):
    """The exec's command is missing: dockerd reports it inside the hijacked stream."""


class NotModified(ApiError):
    """304: start of a started container, stop of a stopped one (no body)."""

    def __init__(self) -> None:
        super().__init__(304, "")


class Forbidden(ApiError):
    def __init__(self, message: str) -> None:
        super().__init__(403, message)


class StateNotSaved(ApiError):
    """A change the store could not write (a full disk, a read-only or damaged file): it was
    not made, in memory either. 500, as dockerd answers a failure of its own storage."""

    def __init__(self, message: str) -> None:
        super().__init__(500, message)


class ServerError(ApiError):
    """500: what dockerd reports as its own failure (a start its runtime refuses)."""

    def __init__(self, message: str) -> None:
        super().__init__(500, message)

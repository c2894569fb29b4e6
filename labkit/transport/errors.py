"""Why a connection to an engine failed, one class per kind of failure.

Each kind has a different cause and a different fix, so each gets its own
class, its own ``kind`` word (used by discovery and ``labkit doctor``) and its
own plain-words advice in :mod:`labkit.transport.advice`.
"""

from __future__ import annotations

from labkit.transport.hosts import Endpoint


class TransportError(Exception):
    """Could not talk to an engine; ``kind`` says which way it went wrong."""

    kind = "error"

    def __init__(self, endpoint: Endpoint | None, reason: str) -> None:
        super().__init__(reason)
        self.endpoint = endpoint
        self.reason = reason

    def __str__(self) -> str:
        if self.endpoint is None:
            return self.reason
        return f"{self.endpoint.url}: {self.reason}"


class SocketMissing(TransportError):
    """No file at the socket path: no engine has ever listened there."""

    kind = "missing"


class PermissionDenied(TransportError):
    """The socket exists but this user may not open it."""

    kind = "permission"


class ConnectionRefused(TransportError):
    """Something is at the address but no process accepts connections."""

    kind = "refused"


class NotHTTP(TransportError):
    """A process answered, but not in HTTP; ``first_bytes`` is what it sent."""

    kind = "not-http"

    def __init__(self, endpoint: Endpoint | None, reason: str, first_bytes: bytes = b"") -> None:
        super().__init__(endpoint, reason)
        self.first_bytes = first_bytes


class Timeout(TransportError):
    """Connected (or tried to), but nothing came back in time."""

    kind = "timeout"


class TLSFailure(TransportError):
    """The TLS handshake or the certificate files were the problem."""

    kind = "tls"


class Unsupported(TransportError):
    """An address labkit recognises but does not connect to (ssh://, npipe://)."""

    kind = "unsupported"


class ConnectionLost(TransportError):
    """The engine closed the connection in the middle of a reply."""

    kind = "error"


class NoReply(ConnectionLost):
    """The engine closed the connection before sending a single byte of reply.

    On a reused keep-alive connection this usually means the engine had already
    closed it while idle, so the request can safely be sent again on a new one.
    """


class SendFailed(ConnectionLost):
    """The connection broke while the request was being written."""


class EngineGone(TransportError):
    """An engine that answered earlier no longer does (it stopped, crashed or restarted
    elsewhere), and labkit cannot start it again: the message says what to do.

    In a notebook it shows as its one-line message instead of a traceback (IPython's
    ``_render_traceback_``), since the traceback would only show labkit's insides.
    """

    kind = "gone"

    def _render_traceback_(self) -> list[str]:
        return [f"{type(self).__name__}: {self}"]

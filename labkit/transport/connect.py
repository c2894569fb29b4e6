"""Opening a connection to an engine: a Unix socket, TCP, or TCP with TLS.

Every ``OSError`` becomes one of the :mod:`labkit.transport.errors` classes, so
that callers (discovery, the client, ``labkit doctor``) can tell a missing
socket from a permission problem from a daemon that is not running.
"""

from __future__ import annotations

import errno
import os
import socket
import ssl
import stat

try:  # pwd and grp exist on every Unix, not on Windows
    import grp
    import pwd
except ImportError:  # pragma: no cover - Windows
    grp = pwd = None  # type: ignore[assignment]

from labkit.transport.errors import (
    ConnectionRefused,
    PermissionDenied,
    SocketMissing,
    Timeout,
    TLSFailure,
    TransportError,
    Unsupported,
)
from labkit.transport.hosts import Endpoint, TLSConfig


def open_socket(endpoint: Endpoint, timeout: float | None = 5.0) -> socket.socket:
    """A connected socket to ``endpoint``, with ``timeout`` set for later reads too.

    Raises a :class:`~labkit.transport.errors.TransportError` subclass that
    names the kind of failure.
    """
    if endpoint.problem:
        raise TransportError(endpoint, endpoint.problem)
    if endpoint.scheme == "unix":
        return _open_unix(endpoint, timeout)
    if endpoint.scheme == "tcp":
        # TLS files are read first, so that a missing certificate is reported as such.
        context = tls_context(endpoint.tls, endpoint) if endpoint.tls else None
        sock = _open_tcp(endpoint, timeout)
        return sock if context is None else _wrap_tls(sock, endpoint, context)
    if endpoint.scheme == "ssh":
        raise Unsupported(
            endpoint,
            "labkit does not connect over ssh:// (the docker CLI runs `ssh HOST docker system "
            "dial-stdio` for that)",
        )
    if endpoint.scheme == "npipe":
        raise Unsupported(endpoint, "named pipes (npipe://) exist only on Windows")
    raise TransportError(endpoint, f"unknown kind of address {endpoint.scheme!r}")


def _open_unix(endpoint: Endpoint, timeout: float | None) -> socket.socket:
    path = endpoint.path or ""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(path)
    except BaseException as exc:
        sock.close()
        if isinstance(exc, OSError):
            raise _unix_error(endpoint, path, exc, timeout) from exc
        raise
    return sock


def _unix_error(
    endpoint: Endpoint, path: str, exc: OSError, timeout: float | None
) -> TransportError:
    if isinstance(exc, (FileNotFoundError, NotADirectoryError)):
        return SocketMissing(endpoint, f"no such file: {path}")
    if isinstance(exc, PermissionError):
        return PermissionDenied(endpoint, f"permission denied opening {path} ({_owner_text(path)})")
    if isinstance(exc, ConnectionRefusedError):
        kind = _file_kind(path)
        if kind != "socket":
            return TransportError(endpoint, f"{path} is a {kind}, not a socket")
        return ConnectionRefused(
            endpoint,
            f"connection refused: {path} is a socket file, but no process is listening on it",
        )
    if isinstance(exc, socket.timeout):
        return Timeout(endpoint, f"connecting to {path} took longer than {timeout} s")
    if exc.errno == errno.EAGAIN:
        return Timeout(endpoint, f"{path} is not accepting connections (its queue is full)")
    return TransportError(endpoint, f"cannot connect to {path}: {exc.strerror or exc}")


def _file_kind(path: str) -> str:
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return "socket"  # it vanished; report the refusal as it happened
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISDIR(mode):
        return "folder"
    return "regular file" if stat.S_ISREG(mode) else "special file"


def _owner_text(path: str) -> str:
    """``srw-rw---- root:docker``, to show who may open a socket."""
    try:
        st = os.stat(path)
    except OSError:
        return "cannot read its owner"
    return f"{stat.filemode(st.st_mode)} {user_name(st.st_uid)}:{group_name(st.st_gid)}"


def user_name(uid: int) -> str:
    """The login name for ``uid``, or the number when it has none."""
    try:
        return pwd.getpwuid(uid).pw_name if pwd else str(uid)
    except KeyError:
        return str(uid)


def group_name(gid: int) -> str:
    """The group name for ``gid``, or the number when it has none."""
    try:
        return grp.getgrgid(gid).gr_name if grp else str(gid)
    except KeyError:
        return str(gid)


def _open_tcp(endpoint: Endpoint, timeout: float | None) -> socket.socket:
    address = (endpoint.host or "localhost", endpoint.port or 2375)
    where = f"{address[0]}:{address[1]}"
    try:
        sock = socket.create_connection(address, timeout=timeout)
    except ConnectionRefusedError as exc:
        raise ConnectionRefused(
            endpoint, f"connection refused: nothing is listening on {where}"
        ) from exc
    except TimeoutError as exc:
        raise Timeout(endpoint, f"no answer from {where} within {timeout} s") from exc
    except socket.gaierror as exc:
        raise TransportError(
            endpoint, f"cannot find the address of {address[0]!r} ({exc.strerror})"
        ) from exc
    except OSError as exc:
        raise TransportError(endpoint, f"cannot connect to {where}: {exc.strerror or exc}") from exc
    sock.settimeout(timeout)
    return sock


def tls_context(tls: TLSConfig, endpoint: Endpoint | None = None) -> ssl.SSLContext:
    """An SSL context for a client: the CA to trust, and the client's own certificate."""
    for label, path in (("CA certificate", tls.ca), ("client certificate", tls.cert)):
        if path is not None and not os.path.isfile(path):
            raise TLSFailure(
                endpoint,
                f"the {label} file {path} does not exist; set DOCKER_CERT_PATH to the folder "
                "that holds ca.pem, cert.pem and key.pem",
            )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        if tls.verify:
            if tls.ca:
                context.load_verify_locations(cafile=str(tls.ca))
            else:
                context.load_default_certs()
        else:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if tls.cert and tls.key:
            context.load_cert_chain(certfile=str(tls.cert), keyfile=str(tls.key))
    except (OSError, ssl.SSLError) as exc:
        raise TLSFailure(
            endpoint,
            f"cannot load the TLS files (ca={tls.ca}, cert={tls.cert}, key={tls.key}): {exc}",
        ) from exc
    return context


def _wrap_tls(sock: socket.socket, endpoint: Endpoint, context: ssl.SSLContext) -> socket.socket:
    try:
        return context.wrap_socket(sock, server_hostname=endpoint.host)
    except ssl.SSLCertVerificationError as exc:
        sock.close()
        raise TLSFailure(
            endpoint, f"the server's certificate was not accepted: {exc.verify_message}"
        ) from exc
    except ssl.SSLError as exc:
        sock.close()
        raise TLSFailure(endpoint, f"the TLS handshake failed: {exc.reason or exc}") from exc
    except TimeoutError as exc:
        sock.close()
        raise Timeout(endpoint, "the TLS handshake did not finish in time") from exc
    except OSError as exc:
        sock.close()
        raise TLSFailure(endpoint, f"the TLS handshake failed: {exc}") from exc

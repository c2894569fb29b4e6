"""What each kind of connection failure means, and what to do about it.

One paragraph per kind, written for a learner: the cause in plain words, then
the fix. Discovery's :class:`EngineNotFound` and ``labkit doctor`` print these.
"""

from __future__ import annotations

from labkit.transport.hosts import Endpoint

LAB_ENGINE_HINT = (
    "No engine at all? labkit's own lab engine needs nothing installed and no privileges: "
    "set LABKIT_ENGINE=lab."
)

_MISSING = (
    "missing: there is no file at that path, so no engine is listening there. Start your engine "
    "(Docker, Docker Desktop, Colima or Podman), or point DOCKER_HOST at the socket it uses, "
    "e.g. DOCKER_HOST=unix:///path/to/docker.sock."
)

_PERMISSION = (
    "permission denied: the socket exists, but your user may not open it. The Docker socket is "
    "usually shared through the 'docker' group: members may use the socket, and that is the same "
    "as being root on this machine, because whoever can call the API can run a container that "
    "mounts the host's files. To join the group: `sudo usermod -aG docker $USER`, then log out "
    "and back in (a new login is needed before the group counts). Safer choices: rootless Docker "
    "(the socket belongs to you), or labkit's lab engine: LABKIT_ENGINE=lab."
)

_REFUSED_UNIX = (
    "refused: a socket file is there, but no process is listening behind it. The engine is not "
    "running, or it stopped and left a stale socket file behind. Start it: "
    "`sudo systemctl start docker` on Linux, or open Docker Desktop (`colima start` for Colima)."
)

_REFUSED_TCP = (
    "refused: nothing is listening on that host and port. The engine is not running there, or "
    "it listens on another port (2375 is plain HTTP, 2376 is TLS)."
)

_NOT_HTTP = (
    "not HTTP: a process answered, but not in HTTP, so it is not a Docker engine (the Engine API "
    "is HTTP). Its first bytes, shown above, often say what it is: SSH-2.0 is an SSH server. "
    "Check the address."
)

_TLS = (
    "TLS: the encrypted connection could not be set up. DOCKER_CERT_PATH (or the context) must "
    "hold ca.pem, cert.pem and key.pem for this engine, DOCKER_TLS_VERIFY must match how the "
    "engine is set up, and the port must speak TLS (usually 2376) rather than plain HTTP (2375)."
)

_UNSUPPORTED = (
    "not supported: labkit talks to engines over a Unix socket or TCP only. For an engine behind "
    "SSH, forward its socket, e.g. `ssh -nNT -L /tmp/remote-docker.sock:/var/run/docker.sock "
    "me@server`, then DOCKER_HOST=unix:///tmp/remote-docker.sock (or a docker context with that "
    "address: `docker context create`)."
)

# Podman has no daemon: its Docker-compatible API is a service of its own, off until
# started, usually through systemd's socket activation. Its sockets need their own words.
_PODMAN_START = (
    "`systemctl --user enable --now podman.socket` for rootless Podman (the socket is then "
    "$XDG_RUNTIME_DIR/podman/podman.sock), `sudo systemctl enable --now podman.socket` for "
    "root's (/run/podman/podman.sock); without systemd, "
    "`podman system service --time=0 unix://$XDG_RUNTIME_DIR/podman/podman.sock &`"
)

_PODMAN_MISSING = (
    "missing (Podman): no Podman API socket there. Podman runs containers without a daemon, so "
    "`podman` works while its Docker-compatible API is off; the lab needs that API. Start it: "
    f"{_PODMAN_START}."
)

_PODMAN_REFUSED = (
    "refused (Podman): the socket file is there, but Podman's API service is not listening "
    f"behind it (it stopped and left the file). Start it again: {_PODMAN_START}."
)

_PODMAN_PERMISSION = (
    "permission denied (Podman): root's Podman socket is for root only, and there is no group "
    "to join. Use rootless Podman's own socket instead, which runs as you with no privileges: "
    "`systemctl --user enable --now podman.socket`, then "
    "DOCKER_HOST=unix://$XDG_RUNTIME_DIR/podman/podman.sock. Or labkit's lab engine: "
    "LABKIT_ENGINE=lab."
)

_INCOMPATIBLE = (
    "incompatible: the engine answered, but it and labkit share no API version; the line above "
    "says which one to upgrade."
)

_ERROR = "error: the line above says what went wrong with that address."


def is_podman_socket(endpoint: Endpoint | None) -> bool:
    """Is this Podman's API socket (``…/podman/podman.sock``, or a usual place named Podman)?"""
    if endpoint is None or endpoint.scheme != "unix":
        return False
    return "podman" in (endpoint.path or "").lower() or "podman" in endpoint.source.lower()


def advice(kind: str, endpoint: Endpoint | None = None) -> str:
    """The explanation for one kind of failure (see ``Attempt.kind``)."""
    if is_podman_socket(endpoint):
        podman = {
            "missing": _PODMAN_MISSING,
            "refused": _PODMAN_REFUSED,
            "permission": _PODMAN_PERMISSION,
        }
        if kind in podman:
            return podman[kind]
    if kind == "missing":
        return _MISSING
    if kind == "permission":
        return _PERMISSION
    if kind == "refused":
        tcp = endpoint is not None and endpoint.scheme == "tcp"
        return _REFUSED_TCP if tcp else _REFUSED_UNIX
    if kind == "not-http":
        return _NOT_HTTP
    if kind == "timeout":
        return _timeout(endpoint)
    if kind == "tls":
        return _TLS
    if kind == "unsupported":
        return _UNSUPPORTED
    if kind == "incompatible":
        return _INCOMPATIBLE
    return _ERROR


def _timeout(endpoint: Endpoint | None) -> str:
    if endpoint is not None and endpoint.scheme == "unix":
        check = f"`curl --unix-socket {endpoint.path} http://docker/_ping`"
    elif endpoint is not None and endpoint.scheme == "tcp":
        check = f"`curl http://{endpoint.host}:{endpoint.port}/_ping`"
    else:
        check = "`docker version`"
    return (
        "timeout: the connection opened but no reply came in time. The engine may be hung or very "
        f"busy, or the process there is not an engine at all. Check with {check}, or restart "
        "the engine."
    )

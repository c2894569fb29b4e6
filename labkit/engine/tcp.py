"""The lab engine on TCP (``labkit engine start --tcp``): where it may listen, and who gets in.

A Unix socket has an owner and a mode; a TCP port has neither. Whoever reaches it can send
the engine anything, and an engine obeys whoever writes to it (lesson 06). So:

- without TLS, the engine listens on loopback only (127.0.0.0/8, ::1, ``localhost``); any
  other address is refused, saying why. Even there, every program of every user of the
  machine can connect, so the engine also looks up who owns each connecting socket (Linux
  lists it in ``/proc/net/tcp``) and lets in only its own user's programs; and it refuses
  requests that come from a web browser (an ``Origin`` header, or a ``Host`` that is not a
  loopback name, which is what a page using DNS rebinding sends). dockerd does neither;
- with ``--tlsverify``, only a client holding a certificate signed by the given CA gets
  past the TLS handshake; then any address is allowed, as with dockerd.

dockerd, for comparison (moby's ``loadListeners``): on TCP without client verification it
logs warnings and a deprecation notice, and pauses a second; on an address that is not
loopback it adds more warnings and pauses 15 s more, unless ``--tls=false`` or
``--tlsverify=false`` was given; then it serves, unauthenticated.

Imported by ``labkit engine`` and by the engine process: standard library only.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import os
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labkit import paths

STATE_NAME = "engine.tcp"  # in the engine's folder, while it listens on TCP: what env prints
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
# What dockerd and the docker CLI call these files in DOCKER_CERT_PATH (``labkit certs``).
CA_FILE, SERVER_CERT, SERVER_KEY = "ca.pem", "server-cert.pem", "server-key.pem"
CLIENT_CERT, CLIENT_KEY = "cert.pem", "key.pem"


class TCPRefused(ValueError):
    """An address or TLS setting the engine will not listen with; the message says why."""


@dataclass(frozen=True)
class TLSFiles:
    """The server's side of ``--tlsverify``: the CA its clients' certificates must come from,
    and its own certificate and key."""

    ca: Path
    cert: Path
    key: Path

    def args(self) -> list[str]:
        return ["--tlsverify", "--tlscacert", str(self.ca), "--tlscert", str(self.cert),
                "--tlskey", str(self.key)]  # fmt: skip


@dataclass(frozen=True)
class TCPListen:
    """Where to listen: ``host`` (an IP address or ``localhost``), ``port`` (0: any free one)."""

    host: str
    port: int
    tls: TLSFiles | None = None

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)

    def bind_host(self) -> str:
        return "127.0.0.1" if self.host == "localhost" else self.host

    def args(self) -> list[str]:
        return [
            "--tcp",
            format_address(self.host, self.port),
            *(self.tls.args() if self.tls else []),
        ]


def parse_address(text: str) -> tuple[str, int]:
    """``"127.0.0.1:2375"``, ``"[::1]:2375"``, ``"localhost:0"`` -> (host, port)."""
    value = text.strip()
    if value.startswith("tcp://"):
        value = value[len("tcp://") :]
    host, sep, port_text = value.rpartition(":")
    if not sep or not port_text.isdigit():
        raise TCPRefused(
            f"--tcp {text!r} is not HOST:PORT: write e.g. 127.0.0.1:2375 (or port 0 for any "
            "free port)"
        )
    port = int(port_text)
    if port > 65535:
        raise TCPRefused(f"--tcp {text!r}: a port is a number from 0 to 65535")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not host:
        raise TCPRefused(
            f"--tcp {text!r} names no address; an empty one would mean every network "
            "interface: write 127.0.0.1:PORT"
        )
    if host != "localhost":
        try:
            host = str(ipaddress.ip_address(host))
        except ValueError:
            raise TCPRefused(
                f"--tcp {text!r}: {host!r} is not an IP address; give one (127.0.0.1, ::1) "
                "or 'localhost', so that it is clear which network the engine listens on"
            ) from None
    return host, port


def format_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def client_url(host: str, port: int) -> str:
    """The ``DOCKER_HOST`` a client on this machine uses for a listener bound at ``host``
    (an engine on every interface, 0.0.0.0 or ::, is reached at the loopback address)."""
    connect = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    return f"tcp://{format_address(connect, port)}"


def is_loopback(host: str) -> bool:
    """Is ``host`` an address only this machine can reach?"""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check(listen: TCPListen) -> None:
    """Refuse what would hand the engine to the network; a clear TCPRefused otherwise."""
    if listen.tls is None and not listen.loopback:
        raise TCPRefused(
            f"refusing to listen on {format_address(listen.host, listen.port)} without TLS: "
            "anyone who can reach that address over the network could run containers, read "
            "your files through a bind mount and stop what you run, with nothing to prove who "
            "they are. Without TLS the lab engine listens on loopback only (127.0.0.1:PORT). To "
            "listen further, require client certificates: labkit certs, then add --tlsverify"
        )
    if listen.tls is not None:
        for what, path in (("CA", listen.tls.ca), ("certificate", listen.tls.cert),
                           ("key", listen.tls.key)):  # fmt: skip
            if not Path(path).is_file():
                raise TCPRefused(
                    f"--tlsverify: the server's {what} file {path} does not exist; make a CA "
                    "and certificates with: labkit certs (or give --tlscacert, --tlscert and "
                    "--tlskey)"
                )


def warning_lines(url: str) -> list[str]:
    """What the engine says when it listens on TCP without TLS (its log, and the terminal)."""
    return [
        f"the lab engine also listens on {url} WITHOUT TLS.",
        "Whoever connects to that port needs no password and no certificate: it can list, "
        "stop and start your containers, run new ones and, through a bind mount, read any "
        "file you can read. With dockerd, that means root on the machine.",
        "Only programs of this machine can reach a loopback address, and the lab engine lets "
        "in only yours (and no web page); dockerd checks neither, so on a shared machine "
        "every user could. Require client certificates instead: labkit certs, then "
        "labkit engine start --tcp ADDRESS --tlsverify.",
    ]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--tcp`` and dockerd's TLS flags (``labkit engine start`` takes the same)."""
    parser.add_argument(
        "--tcp",
        metavar="HOST:PORT",
        help="also listen on TCP: loopback only (127.0.0.1:PORT) without TLS; port 0: any free one",
    )
    parser.add_argument(
        "--tlsverify",
        action="store_true",
        help="TLS on the TCP listener, admitting only clients whose certificate the CA signed",
    )
    parser.add_argument("--tlscacert", metavar="FILE", type=Path, help="that CA (ca.pem)")
    parser.add_argument("--tlscert", metavar="FILE", type=Path, help="the engine's certificate")
    parser.add_argument("--tlskey", metavar="FILE", type=Path, help="the engine's private key")


def from_args(args: argparse.Namespace, env: dict[str, str] | None = None) -> TCPListen | None:
    """The TCP listener the flags ask for, checked; None without ``--tcp``."""
    tls_flags = [f for f in ("tlscacert", "tlscert", "tlskey") if getattr(args, f, None)]
    if args.tcp is None:
        if args.tlsverify or tls_flags:
            raise TCPRefused("--tlsverify and the TLS files go with --tcp HOST:PORT")
        return None
    host, port = parse_address(args.tcp)
    tls = None
    if args.tlsverify:
        certs = paths.certs_dir(env)
        tls = TLSFiles(
            *(
                Path(given or certs / default).expanduser().absolute()
                for given, default in (
                    (args.tlscacert, CA_FILE),
                    (args.tlscert, SERVER_CERT),
                    (args.tlskey, SERVER_KEY),
                )
            )
        )
    elif tls_flags:
        raise TCPRefused(
            f"--{tls_flags[0]} without --tlsverify: TLS that does not check the client's "
            "certificate encrypts the traffic but still lets anyone in; add --tlsverify"
        )
    listen = TCPListen(host, port, tls)
    check(listen)
    return listen


# ---------------------------------------------------------------- who owns a connection
def _proc_address(host: str, port: int) -> str:
    """An address the way /proc/net/tcp{,6} writes it: each 32-bit word of the address in the
    machine's byte order, in hex, then the port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    raw = socket.inet_pton(family, host)
    words = [raw[i : i + 4] for i in range(0, len(raw), 4)]
    if sys.byteorder == "little":
        words = [w[::-1] for w in words]
    return "".join(w.hex().upper() for w in words) + f":{port:04X}"


def peer_uid(peer: tuple[Any, ...], local: tuple[Any, ...]) -> int | None:
    """The user id owning the client socket of a loopback connection (``peer`` is the
    client's address as the server sees it, ``local`` the server's), or None if unknown.

    The client's socket is on this machine too, so the kernel lists it: its own address is
    ``peer``, its remote one ``local``. (No /proc, as on macOS: None.)"""
    host, port = peer[0], int(peer[1])
    table = "/proc/net/tcp6" if ":" in host else "/proc/net/tcp"
    want = (_proc_address(host, port), _proc_address(local[0], int(local[1])))
    try:
        with open(table, encoding="ascii") as f:
            next(f, None)
            for line in f:
                fields = line.split()
                if len(fields) > 7 and (fields[1], fields[2]) == want:
                    return int(fields[7])
    except (OSError, ValueError):
        return None
    return None


def stranger(peer: Any, local: Any) -> str | None:
    """Why a connection to the plain-TCP listener is refused, or None to let it in."""
    if not isinstance(peer, tuple) or not isinstance(local, tuple):
        return None
    if not os.path.exists("/proc/net/tcp"):
        return None  # nowhere to look it up; the warning at start says so
    uid = peer_uid(peer, local)
    if uid == os.geteuid():
        return None
    who = "an unknown user" if uid is None else f"user id {uid}"
    return (
        f"refused a TCP connection from {format_address(peer[0], peer[1])}: its socket belongs "
        f"to {who}, not to the engine's owner (uid {os.geteuid()}); without TLS only your own "
        "programs may connect"
    )


_LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]", "::1", "api.moby.localhost", "docker")


def browser_problem(host_header: str | None, origin: str | None) -> str | None:
    """Why a request on the plain-TCP listener looks like a web page's, or None.

    A page in a browser can send requests to 127.0.0.1; it always says where it comes from
    (``Origin``) on anything but a plain GET, and a page that renamed itself to a loopback
    address (DNS rebinding) still sends its own host name in ``Host``."""
    if origin is not None:
        return f"refused: a request from a web page ({origin}); the engine is not for browsers"
    if host_header is None:
        return None
    host = host_header.strip().lower()
    if host.startswith("["):
        host = host[: host.find("]") + 1]
    else:
        host = host.rpartition(":")[0] if host.count(":") == 1 else host
    if host in _LOOPBACK_HOSTS or host.startswith("127."):
        return None
    return (
        f"refused: Host {host_header!r} is not this machine's loopback address (a web page "
        "using DNS rebinding would send its own name); use 127.0.0.1"
    )


# ---------------------------------------------------------------- what env and status read
@dataclass(frozen=True)
class Listening:
    """What the engine wrote in ``engine.tcp``: where it listens and how to reach it."""

    url: str  # what a client here connects to: tcp://127.0.0.1:40123
    tls: bool
    cert_path: str | None  # a DOCKER_CERT_PATH with the client's files, when one is known
    address: str = ""  # where it listens, if that is not the url's (0.0.0.0:40123)

    def where(self) -> str:
        """The listener in words: its url, and the address it is bound to if that differs."""
        bound = self.address and f"tcp://{self.address}" != self.url
        return f"tcp://{self.address} (reach it at {self.url})" if bound else self.url

    def env_lines(self) -> list[str]:
        lines = [f"export DOCKER_HOST={self.url}"]
        if self.tls:
            lines.append("export DOCKER_TLS_VERIFY=1")
            if self.cert_path:
                lines.append(f"export DOCKER_CERT_PATH={self.cert_path}")
            else:
                lines.append(
                    "# set DOCKER_CERT_PATH to the folder holding ca.pem, cert.pem and key.pem"
                )
        else:
            lines.append("unset DOCKER_TLS_VERIFY DOCKER_CERT_PATH")
        return lines


def client_cert_path(tls: TLSFiles | None) -> str | None:
    """The folder a client would point DOCKER_CERT_PATH at: the CA's, if the client's files
    are beside it (as ``labkit certs`` writes them)."""
    if tls is None:
        return None
    folder = Path(tls.ca).parent
    if all((folder / name).is_file() for name in (CA_FILE, CLIENT_CERT, CLIENT_KEY)):
        return str(folder)
    return None


def state_text(url: str, tls: TLSFiles | None, address: str = "") -> bytes:
    data = {"url": url, "tls": tls is not None, "cert_path": client_cert_path(tls)}
    data["address"] = address
    return (json.dumps(data) + "\n").encode()


def write_state(home: Path, url: str, tls: TLSFiles | None, address: str = "") -> None:
    """``engine.tcp``, atomically and owner-only: where the engine listens on TCP."""
    from labkit.engine import private

    private.write_file(home / STATE_NAME, state_text(url, tls, address))


def remove_state(home: Path) -> None:
    with contextlib.suppress(OSError):
        (home / STATE_NAME).unlink()


def read_state(home: Path) -> Listening | None:
    """What a running engine in ``home`` listens on over TCP, or None (no TCP, or not running)."""
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        fd = os.open(home / STATE_NAME, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, encoding="utf-8") as f:
            data = json.load(f)
        return Listening(
            str(data["url"]), bool(data["tls"]), data.get("cert_path"), data.get("address", "")
        )
    return None

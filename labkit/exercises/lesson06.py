"""Exercises for lesson 06, an exposed daemon: find it, use it as a stranger, then close it.

The attacker's tasks (06.1 to 06.3) run against an engine the check exposes itself: a
second lab engine in a private home of the check's own, listening on 127.0.0.1 without
TLS (which the lab engine allows to its owner's programs only), filled with containers
and a "host" file of random names and content. It is the same on both engines: a check
never exposes nor attacks the learner's real Docker. 06.4 judges an allow-list by what a
guard built from it lets through; 06.5 judges dockerd command lines.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from labkit.exercises.context import LAB_IMAGE, CheckContext, expect, expect_type
from labkit.exercises.learner_code import is_template, unfinished
from labkit.exercises.tasks import Lesson, task
from labkit.exercises.verdict import NotYet, Unchecked

LESSON = Lesson("06", "An exposed daemon", "06-exposed-daemon.ipynb", 20)

DOCKER_TIMEOUT = 60.0  # seconds a docker command the check runs may take
WEB_PAGE = b"<!doctype html><title>Welcome</title><h1>It works!</h1>\n"
SSH_BANNER = b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n"


def ready(fn: Any, name: str) -> None:
    """A function that is not the template any more, before the check starts an engine."""
    if not callable(fn):
        raise NotYet(f"`{name}` should be a function, and it is a {type(fn).__name__}")
    if is_template(fn):
        raise NotYet(unfinished(f"`{name}`"), mistake="unfinished")


# -- what the attacker's checks share: an engine exposed on loopback -------------------


@dataclass
class Exposed:
    """An engine the check exposed: its TCP address, and its owner's client (Unix socket)."""

    address: str  # tcp://127.0.0.1:PORT
    owner: Any  # labkit.client.http.Client

    @property
    def port(self) -> int:
        return int(self.address.rsplit(":", 1)[1])

    def names(self, field: str = "State") -> dict[str, str]:
        """Every container's name and state (or another ``field``), as its owner sees them."""
        listed = self.owner.get("/containers/json", params={"all": "1"})
        return {c["Names"][0].lstrip("/"): c.get(field) for c in listed if c.get("Names")}

    def container(self, name: str, command: list[str], start: bool = True) -> None:
        self.owner.request(
            "POST", "/containers/create", params={"name": name},
            json={"Image": LAB_IMAGE, "Cmd": command},
        )  # fmt: skip
        if start:
            self.owner.request("POST", f"/containers/{name}/start")


def exposed_engine(ctx: CheckContext) -> Exposed:
    """A lab engine of the check's own on 127.0.0.1 (any free port), stopped at the end."""
    from labkit.client.http import Client
    from labkit.client.provision import provision
    from labkit.engine import control, tcp

    env = {**os.environ, "LABKIT_HOME": str(ctx.temp_dir() / "home")}
    try:
        started = control.start(env, listen=tcp.TCPListen("127.0.0.1", 0))
    except (control.EngineError, OSError) as exc:
        raise Unchecked(f"the check could not start an exposed engine of its own ({exc})") from None
    ctx.later(control.stop, env)
    if started.tcp is None:
        raise Unchecked("the check's exposed engine did not say where it listens on TCP")
    owner = Client(f"unix://{started.socket}")
    ctx.later(owner.close)
    provision(owner, [LAB_IMAGE])
    return Exposed(started.tcp.url, owner)


class Listener:
    """A TCP server on 127.0.0.1 that answers each connection with ``serve`` (a decoy)."""

    def __init__(self, serve: Callable[[socket.socket], None]) -> None:
        self._serve = serve
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.2)
        self.port = self._server.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="labkit-check-decoy", daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn, contextlib.suppress(OSError):
                conn.settimeout(2)
                self._serve(conn)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self._server.close()


def _web_server(conn: socket.socket) -> None:
    """Any request gets 200 and a web page: a web server, not an engine."""
    data = b""
    while b"\r\n\r\n" not in data and b"\n\n" not in data:
        piece = conn.recv(4096)
        if not piece:
            return
        data += piece
    head = (
        "HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: text/html\r\n"
        f"Content-Length: {len(WEB_PAGE)}\r\nConnection: close\r\n\r\n"
    )
    conn.sendall(head.encode() + (b"" if data.startswith(b"HEAD ") else WEB_PAGE))


def _ssh_server(conn: socket.socket) -> None:
    """An SSH server's greeting, then it hangs up at the first line it does not like."""
    conn.sendall(SSH_BANNER)
    with contextlib.suppress(OSError):
        conn.recv(4096)
    conn.sendall(b"Invalid SSH identification string.\r\n")


def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens (it did a moment ago)."""
    with socket.create_server(("127.0.0.1", 0)) as probe:
        return probe.getsockname()[1]


def decoy(ctx: CheckContext, serve: Callable[[socket.socket], None]) -> int:
    listener = Listener(serve)
    ctx.later(listener.close)
    return listener.port


# -- 06.1 ------------------------------------------------------------------------------


@task(
    "06.1",
    "Which port is the engine?",
    answer="find_engine",
    hints=(
        "Try each port in turn: connect to ('127.0.0.1', port), send GET /_ping, and look at "
        "what comes back. Some ports refuse, some answer something else.",
        "http.client.HTTPConnection('127.0.0.1', port) does the HTTP for you; wrap each try "
        "in try/except (OSError, http.client.HTTPException) so that a port that refuses, or "
        "speaks something other than HTTP, only moves you on to the next one.",
        "An engine answers GET /_ping with 200, the body b'OK' and an Api-Version header; a "
        "web server answers 200 too, with a page. Return the first port whose reply has "
        "reply.getheader('Api-Version').",
    ),
    mistakes={
        "first-open": (
            "a port that accepts a connection is not yet an engine: many services listen on "
            "TCP. Send GET /_ping and keep the port only if the reply is an engine's"
        ),
        "any-200": (
            "a web server answers 200 too. An engine's reply to GET /_ping has the body OK and "
            "an Api-Version header (GET /version gives JSON with ApiVersion): look for those"
        ),
    },
)
def check_find_engine(ctx: CheckContext, find_engine: Any) -> str:
    ready(find_engine, "find_engine")
    engine = exposed_engine(ctx)
    web, ssh, closed = decoy(ctx, _web_server), decoy(ctx, _ssh_server), closed_port()
    what = {
        web: ("any-200", "a web server, which answers every path"),
        ssh: ("first-open", "an SSH server, which greeted with SSH-2.0-…"),
        closed: (None, "nothing: connecting there is refused"),
    }
    for order in ([closed, ssh, web, engine.port], [web, engine.port, closed, ssh]):
        shown = f"find_engine({order})"
        got = ctx.call(find_engine, list(order), what=shown)
        if isinstance(got, str) and got.strip().isdigit():
            raise NotYet(f"{shown} returned the text {got!r}; return the port as an int")
        expect_type(got, int, f"what {shown} returned")
        if got == engine.port:
            continue
        if got in what:
            mistake, there = what[got]
            raise NotYet(f"{shown} returned {got}; at that port listens {there}", mistake)
        raise NotYet(f"{shown} returned {got}, which is not one of the ports it was given")
    return (
        "find_engine() picked the engine out among a web server, an SSH server and a closed "
        "port, wherever it was in the list"
    )


# -- 06.2 ------------------------------------------------------------------------------


@task(
    "06.2",
    "The attacker lists the containers",
    answer="containers_of",
    hints=(
        "Over TCP, the API is the same as on the Unix socket: connect with "
        "http.client.HTTPConnection(host, port), with host and port taken from the address "
        "(tcp://127.0.0.1:PORT).",
        "GET /containers/json lists running containers only; add ?all=1 for all of them. The "
        "reply is a JSON list; each container has Names (a list) and State.",
        "A name comes with a leading slash ('/web'): strip it. Build the dict with "
        "{c['Names'][0].lstrip('/'): c['State'] for c in containers}.",
    ),
    mistakes={
        "running-only": (
            "GET /containers/json shows running containers only, as docker ps does; add "
            "?all=1 to see the stopped ones too (docker ps -a)"
        ),
        "leading-slash": (
            "the engine writes names with a leading slash ('/web'); docker ps shows them "
            "without it: strip it"
        ),
        "status-for-state": (
            "Status is a sentence for people ('Up 3 minutes', 'Exited (0) …'); State is the "
            "word the task asks for (running, exited, created)"
        ),
        "not-that-engine": (
            "use the address you are given: the check's engine listens there, on TCP, and "
            "yours is not the one it asks about"
        ),
    },
)
def check_containers_of(ctx: CheckContext, containers_of: Any) -> str:
    ready(containers_of, "containers_of")
    engine = exposed_engine(ctx)
    running, stopped, created = ctx.name("web"), ctx.name("job"), ctx.name("new")
    engine.container(running, ["sleep", "3600"])
    engine.container(stopped, ["echo", ctx.token()])
    engine.container(created, ["true"], start=False)
    engine.owner.request("POST", f"/containers/{stopped}/wait", timeout=30)
    truth = engine.names()
    got = ctx.call(containers_of, engine.address, what=f"containers_of({engine.address!r})")
    expect_type(got, dict, "what containers_of() returned")
    if any(f"/{n}" in got for n in truth):
        raise NotYet(f"containers_of() returned names such as '/{running}'", "leading-slash")
    if running in got and stopped not in got:
        raise NotYet(f"containers_of() missed {stopped!r}, which has exited", "running-only")
    if not set(got) & set(truth):
        raise NotYet(
            f"containers_of() returned {sorted(got)!r:.100}, none of the containers at "
            f"{engine.address}",
            "not-that-engine",
        )
    missing = sorted(set(truth) - set(got))
    expect(not missing, f"containers_of() missed {', '.join(missing)}")
    extra = sorted(set(got) - set(truth))
    if extra:
        raise NotYet(f"containers_of() returned {extra[0]!r:.60}, which names no container")
    statuses = engine.names("Status")
    for name, state in truth.items():
        if got[name] != state:
            mistake = "status-for-state" if got[name] == statuses.get(name) else None
            raise NotYet(
                f"containers_of() said {name!r} is {got[name]!r:.40}; its State is {state!r}",
                mistake,
            )
    return (
        "containers_of() listed every container of an engine it knew only by its TCP "
        "address: running, exited and created"
    )


# -- 06.3 ------------------------------------------------------------------------------


@task(
    "06.3",
    "The attacker reads a host file",
    answer="read_host_file",
    time_limit=30.0,
    hints=(
        "The file is on the engine's machine, not in any container. Run a container of your "
        "own that mounts the host's folder (a bind mount) and prints the file: "
        "HostConfig.Binds = [f'{folder}:/host:ro'], Cmd = ['cat', f'/host/{name}'].",
        "The steps: POST /containers/create (Image busybox, Cmd, HostConfig), POST "
        "/containers/{id}/start, POST /containers/{id}/wait, GET "
        "/containers/{id}/logs?stdout=1, then DELETE /containers/{id} so nothing is left.",
        "Create the container with 'Tty': True and its logs come back as plain text; without "
        "a TTY they come in frames, each with an 8-byte header in front (lesson 04).",
    ),
    mistakes={
        "no-bind": (
            "a container sees only its own files: the host's folder must be mounted into it, "
            "with HostConfig.Binds ['FOLDER:/host:ro'], and the file read at /host/NAME"
        ),
        "frame-headers": (
            "the logs of a container without a TTY come in frames, each behind an 8-byte "
            "header (stream type, three zeros, length): create the container with 'Tty': "
            "True, or take the payload out of each frame"
        ),
        "left-behind": (
            "the attacker left its container behind, for the owner to find: remove it once "
            "you have its output (DELETE /containers/ID)"
        ),
    },
)
def check_read_host_file(ctx: CheckContext, read_host_file: Any) -> str:
    ready(read_host_file, "read_host_file")
    engine = exposed_engine(ctx)
    folder = ctx.temp_dir() / "host"
    folder.mkdir(mode=0o700)
    name = f"secret-{ctx.token(6)}.txt"
    secret = f"db_password={ctx.token(16)}"
    (folder / name).write_text(secret + "\n")
    (folder / name).chmod(0o600)
    before = set(engine.names())
    shown = f"read_host_file({engine.address!r}, {str(folder)!r}, {name!r})"
    got = ctx.call(read_host_file, engine.address, str(folder), name, what=shown)
    if isinstance(got, bytes):
        got = got.decode("utf-8", "replace")
    expect_type(got, str, "what read_host_file() returned")
    if secret not in got:
        if "\x00\x00\x00" in got:
            raise NotYet(f"read_host_file() returned {got!r:.60}", "frame-headers")
        if "can't open" in got or "No such file" in got:
            raise NotYet(f"read_host_file() returned {got.strip()!r:.90}", "no-bind")
        raise NotYet(f"read_host_file() returned {got!r:.80}, not what the file holds")
    if got.strip() != secret:
        mistake = "frame-headers" if "\x00" in got else None
        raise NotYet(f"read_host_file() returned {got!r:.80}: more than the file holds", mistake)
    left = sorted(set(engine.names()) - before)
    expect(not left, f"a container is left on the engine: {', '.join(left)}", "left-behind")
    return (
        "read_host_file() read a file only its owner may read, through an engine it reached "
        "over TCP, and left no container behind"
    )


# -- 06.4 ------------------------------------------------------------------------------

MUST_DENY = (
    ("POST", "/containers/create?name={name}"),
    ("POST", "/containers/{name}/start"),
    ("POST", "/containers/{name}/stop"),
    ("POST", "/containers/{name}/kill"),
    ("POST", "/containers/{name}/exec"),
    ("POST", "/containers/{name}/update"),
    ("PUT", "/containers/{name}/archive?path=/etc"),
    ("DELETE", "/containers/{name}?force=1"),
    ("POST", "/images/create?fromImage=busybox"),
    ("DELETE", "/images/busybox"),
    ("POST", "/build"),
    ("POST", "/volumes/create"),
)


@task(
    "06.4",
    "An allow-list for docker ps",
    answer="PS_RULES",
    kind="value",
    hints=(
        "Look at what docker ps sends (lesson 05's recorder, or the guard's decisions in "
        "lesson 06): a ping first, then one GET.",
        "A rule is a method and a path, without the /vX.Y prefix: 'GET /_ping' (a GET rule "
        "also allows HEAD) and 'GET /containers/json'. The query string (?all=1) is not part "
        "of the match.",
        "Two rules are enough: PS_RULES = ['GET /_ping', 'GET /containers/json']. Anything "
        "with * may let through more than docker ps needs.",
    ),
    mistakes={
        "no-ping": (
            "every docker command starts with HEAD /_ping (to learn the API version); without "
            "a rule for it the guard answers 403 and docker gives up"
        ),
        "too-wide": (
            "a rule with * (or a method other than GET) lets through requests that change "
            "things. Name only the endpoints docker ps uses"
        ),
        "version-in-rule": (
            "leave the /vX.Y prefix out of a rule: the guard ignores it, so that one rule "
            "covers every API version a client picks"
        ),
    },
)
def check_ps_rules(ctx: CheckContext, ps_rules: Any) -> str:
    from labkit.proxy.guard import GuardError, Policy

    if isinstance(ps_rules, str):
        raise NotYet("PS_RULES is one string; make it a list of rules: ['GET /_ping', …]")
    expect_type(ps_rules, (list, tuple), "PS_RULES")
    expect(bool(ps_rules), "PS_RULES is empty: the guard would let nothing through")
    for rule in ps_rules:
        expect_type(rule, str, "each rule in PS_RULES")
    try:
        policy = Policy(ps_rules)
    except GuardError as exc:
        raise NotYet(str(exc), "version-in-rule" if "API version" in str(exc) else None) from None
    version = f"1.{ctx.randint(40, 47)}"
    name = ctx.name("web")
    needed = (
        ("HEAD", "/_ping"),
        ("GET", "/_ping"),
        ("GET", f"/v{version}/containers/json?all=1"),
        ("GET", f"/v{version}/containers/json?filters=%7B%22status%22%3A%5B%22exited%22%5D%7D"),
    )
    for method, target in needed:
        if not policy.decide(method, target).allowed:
            mistake = "no-ping" if target == "/_ping" else None
            raise NotYet(f"your rules refuse {method} {target}, which docker ps sends", mistake)
    for method, path in MUST_DENY:
        target = f"/v{version}{path.format(name=name)}"
        decision = policy.decide(method, target)
        if decision.allowed:
            rule = decision.rule.text if decision.rule else "?"
            raise NotYet(f"your rule {rule!r} lets {method} {target} through", "too-wide")
    _docker_ps_through_guard(ctx, list(ps_rules))
    return (
        "a guard with your rules lets docker ps through and refuses every request that would "
        "change something"
    )


def _docker_ps_through_guard(ctx: CheckContext, rules: list[str]) -> None:
    """Where the docker command is installed: docker ps -a through a guard with ``rules``
    shows a container the check made, and docker rm is refused."""
    import shutil

    from labkit.proxy.guard import Guard

    docker = shutil.which("docker")
    if docker is None:
        return  # the made-up requests above are the whole check
    made = ctx.container(["sleep", "60"], start=False)
    guard = Guard(ctx.lab.endpoint, ctx.socket_path("guard.sock"), rules).start()
    ctx.later(guard.stop)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    env.update(DOCKER_HOST=guard.docker_host, DOCKER_CONFIG=str(ctx.temp_dir()))

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run([docker, *args], env=env, capture_output=True, text=True,
                                  timeout=DOCKER_TIMEOUT)  # fmt: skip
        except subprocess.TimeoutExpired:
            raise Unchecked(
                f"docker {args[0]} did not finish within {DOCKER_TIMEOUT:g} s"
            ) from None

    ps = run("ps", "-a", "--format", "{{.Names}}")
    said = (ps.stderr.strip().splitlines() or [""])[-1]
    expect(ps.returncode == 0, f"through a guard with your rules, docker ps -a failed: {said:.160}")
    expect(
        made["Name"] in ps.stdout.split(),
        f"through a guard with your rules, docker ps -a did not show {made['Name']}",
    )
    removed = run("rm", "-f", made["Name"])
    expect(
        removed.returncode != 0,
        f"through a guard with your rules, docker rm -f {made['Name']} worked",
        "too-wide",
    )


# -- 06.5 ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    args: list[str]
    safe: bool
    mistake: str  # what judging it wrongly shows


def configurations(ctx: CheckContext) -> list[Config]:
    """dockerd command lines, safe and not, with random ports and flag spellings."""
    port = ctx.randint(2300, 2399)
    lan = f"192.168.{ctx.randint(0, 9)}.{ctx.randint(2, 250)}"
    certs = ["--tlscacert", "/etc/docker/ca.pem", "--tlscert", "/etc/docker/server-cert.pem",
             "--tlskey", "/etc/docker/server-key.pem"]  # fmt: skip
    server_only = certs[2:]
    host = ctx.choice(["-H", "--host"])
    return [
        Config([], True, "default-unsafe"),
        Config(["-H", "unix:///var/run/docker.sock"], True, "unix-unsafe"),
        Config(
            ["-H", "fd://", "--containerd=/run/containerd/containerd.sock"], True, "unix-unsafe"
        ),
        Config([host, f"tcp://0.0.0.0:{port}"], False, "plain-tcp"),
        Config([host, f"tcp://127.0.0.1:{port}"], False, "loopback-is-safe"),
        Config(
            ["-H", "unix:///var/run/docker.sock", "-H", f"tcp://{lan}:{port}"],
            False,
            "only-first-host",
        ),
        Config(["-H", f"tcp://0.0.0.0:{port}", "--tls", *server_only], False, "tls-without-verify"),
        Config([f"--host=tcp://0.0.0.0:{port}", "--tlsverify", *certs], True, "verify-unsafe"),
        Config(
            ["--tlsverify", *certs, "-H", "fd://", "-H", f"tcp://{lan}:{port}"],
            True,
            "verify-unsafe",
        ),
        Config(["-H", f"tcp://0.0.0.0:{port}", "--tlsverify=true", *certs], True, "verify-unsafe"),
        Config(
            ["-H", f"tcp://0.0.0.0:{port}", "--tls", "--tlsverify=false", *certs],
            False,
            "tlsverify-false",
        ),
        Config([f"--host=tcp://[::1]:{port}", "--tls=false"], False, "loopback-is-safe"),
    ]


@task(
    "06.5",
    "Safe or not?",
    answer="is_safe",
    stretch=True,
    hints=(
        "Safe means: nobody gets to drive the engine without either permission on its Unix "
        "socket or a client certificate. So look at every address dockerd listens on (each "
        "-H or --host), and at whether client certificates are required.",
        "A unix:// or fd:// address (or none at all: the default socket) is safe. A tcp:// "
        "address is safe only with --tlsverify (or --tlsverify=true): --tls alone encrypts, it "
        "asks no one for a certificate, and 127.0.0.1 lets in every user and web page of the "
        "machine.",
        "Walk through args with an index: for '-H' or '--host' the address is the next item; "
        "for '--host=ADDR' it is after the '='. Remember whether '--tlsverify' or "
        "'--tlsverify=true' appears, and that '--tlsverify=false' turns it off.",
    ),
    mistakes={
        "default-unsafe": (
            "with no -H at all, dockerd listens on its Unix socket only "
            "(/var/run/docker.sock): safe from the network"
        ),
        "unix-unsafe": (
            "unix:// and fd:// are Unix sockets: only users its mode lets in (root and the "
            "docker group) can connect, nobody over the network"
        ),
        "plain-tcp": (
            "a tcp:// address without --tlsverify lets in whoever reaches the port, with no "
            "password and no certificate"
        ),
        "loopback-is-safe": (
            "127.0.0.1 (or ::1) keeps other machines out, not the other users of this one, nor "
            "a web page's scripts: dockerd lets in every program that connects"
        ),
        "only-first-host": (
            "dockerd listens on every -H it is given; one plain tcp:// among them is enough "
            "to give the engine away: look at them all"
        ),
        "tls-without-verify": (
            "--tls encrypts the traffic but asks the client for nothing; only --tlsverify makes "
            "every client show a certificate your CA signed"
        ),
        "verify-unsafe": (
            "with --tlsverify only a client holding a certificate your CA signed gets past "
            "the handshake: that is the safe way to listen on the network"
        ),
        "tlsverify-false": (
            "--tlsverify=false turns verification off: read the value after the '='"
        ),
    },
)
def check_is_safe(ctx: CheckContext, is_safe: Any) -> str:
    ready(is_safe, "is_safe")
    cases = configurations(ctx)
    wrong: list[tuple[Config, Any]] = []
    for config in cases:
        shown = f"is_safe({config.args!r})"
        got = ctx.call(is_safe, list(config.args), what=f"is_safe({config.args!r:.80})")
        if got is None:
            expect_type(got, bool, shown)
        if not isinstance(got, bool):
            raise NotYet(f"{shown:.120} returned {got!r:.40}; return True or False")
        if got != config.safe:
            wrong.append((config, got))
    if wrong:
        config, got = wrong[0]
        more = f" (and {len(wrong) - 1} more wrong)" if len(wrong) > 1 else ""
        raise NotYet(
            f"is_safe({' '.join(config.args) or '(no arguments)'!s:.120}) said {got}{more}",
            config.mistake,
        )
    return f"is_safe() judged all {len(cases)} dockerd command lines right"

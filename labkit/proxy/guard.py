"""The guard: an allow-list proxy in front of an engine, deny by default.

Whoever can talk to an engine's socket can do anything the engine can (lesson 06).
The guard listens on a socket of its own (0600) and lets through only the requests
an allow-list names, by method and path, so a tool that only needs to list
containers gets exactly that. Anything else is answered ``403 Forbidden`` with a
JSON ``message`` saying which request no rule allowed and the rule that would.

Rules are ``METHOD /path/pattern``:

- the version prefix is ignored: ``GET /containers/json`` covers ``/vX.Y/containers/json``;
- ``*`` is one path segment (``POST /containers/*/start``), ``**`` any number of them
  (``GET /images/**``), so a rule can be as narrow as one endpoint: ``POST
  /containers/*/exec`` is its own rule, and allowing ``POST /containers/*/start`` does
  not let exec through (with socket proxies that allow a whole section, it does);
- ``*`` as the method means any method; a ``GET`` rule also allows ``HEAD``;
- the query string is not part of the match;
- a rule sees the path the way dockerd's router does, percent-escapes decoded
  (``/v%31.41/containers/json`` is ``/containers/json``, and ``%2F`` is a slash); a path
  that is not in its plain form (``.`` or ``..`` segments, ``//``) is refused, whatever the
  rules say, since what it names depends on who cleans it up (a path filter that matched
  the raw bytes was the first hole found in docker-socket-proxy).

What is allowed passes byte for byte, in both directions, streams and the hijacked
connection of ``attach`` and ``exec`` included: the guard parses requests only to
find where each one ends and what it asks for.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import threading
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import h11

from labkit.proxy.listen import ListenError, bind_private, clear_stale_socket, remove_socket
from labkit.proxy.recorder import engine_endpoint
from labkit.transport.connect import open_socket
from labkit.transport.errors import TransportError
from labkit.transport.hosts import Endpoint
from labkit.wire.errors import WireError
from labkit.wire.http import End, Head, ResponseParser, Upgraded

_VERSION = re.compile(r"^/v\d+(\.\d+)?(?=/)")
_RULE = re.compile(r"^\s*([A-Za-z]+|\*)\s+(/\S*)\s*$")
MAX_DENIED_BODY = 1 << 20  # a refused request's body is read (to keep the connection) up to this


class GuardError(ValueError):
    """A rule cannot be read, or the guard cannot start; the message says why."""


@dataclass(frozen=True)
class Rule:
    method: str  # upper case, or "*"
    pattern: str  # "/containers/*/json"
    regex: re.Pattern[str]

    @property
    def text(self) -> str:
        return f"{self.method} {self.pattern}"

    def allows(self, method: str, path: str) -> bool:
        if self.method not in ("*", method) and not (self.method == "GET" and method == "HEAD"):
            return False
        return bool(self.regex.fullmatch(path))


def parse_rule(text: str) -> Rule:
    """``"GET /containers/json"`` -> a :class:`Rule`; a clear error for anything else."""
    match = _RULE.match(text)
    if not match:
        raise GuardError(
            f"the rule {text!r} is not METHOD /path: write e.g. 'GET /containers/json' or "
            "'POST /containers/*/start' (* is one path segment, ** any number)"
        )
    method, pattern = match[1].upper(), match[2].split("?")[0]
    if _VERSION.match(pattern):
        raise GuardError(
            f"the rule {text!r} names an API version; leave it out ('{method} "
            f"{_VERSION.sub('', pattern)}'): rules match every version"
        )
    parts = []
    for segment in pattern.strip("/").split("/"):
        if segment == "**":
            parts.append("(?:/[^/]+)*")
        elif segment == "*":
            parts.append("/[^/]+")
        elif "*" in segment:
            raise GuardError(
                f"in the rule {text!r}, * must be a whole path segment ('/containers/*/json')"
            )
        elif segment:
            parts.append("/" + re.escape(segment))
    regex = re.compile("".join(parts) or "/")
    return Rule(method, "/" + pattern.strip("/"), regex)


def request_path(target: str) -> str:
    """The path a rule sees: decoded, no query, no ``/vX.Y`` prefix, no trailing slash."""
    path = urllib.parse.unquote(target.split("?", 1)[0]) or "/"
    path = _VERSION.sub("", path) or "/"
    return path.rstrip("/") or "/"


def unclear_path(target: str) -> str | None:
    """Why this request's path cannot be judged as it is written, or None if it can."""
    raw = target.split("?", 1)[0]
    if not raw.startswith("/"):
        return "its target is not a path (it should start with /)"
    segments = urllib.parse.unquote(raw).split("/")[1:]
    if any(s in (".", "..") for s in segments):
        return "its path has a '.' or '..' segment"
    if "" in segments[:-1]:
        return "its path has an empty segment ('//')"
    if any(c in s for s in segments for c in "\0?#"):
        return "its path hides a character (NUL, ? or #) in a percent-escape"
    return None


@dataclass(frozen=True)
class Decision:
    method: str
    target: str
    rule: Rule | None
    unclear: str | None = None  # why the path could not be judged, when it could not

    @property
    def allowed(self) -> bool:
        return self.rule is not None

    def line(self) -> str:
        if self.rule is not None:
            return f"allowed {self.method} {self.target} (rule: {self.rule.text})"
        if self.unclear:
            return f"denied  {self.method} {self.target}: {self.unclear}"
        return f"denied  {self.method} {self.target}: no rule allows it"


class Policy:
    """An allow-list: a request passes if one rule allows it."""

    def __init__(self, rules: Iterable[str | Rule]) -> None:
        self.rules = [r if isinstance(r, Rule) else parse_rule(r) for r in rules]

    def decide(self, method: str, target: str) -> Decision:
        unclear = unclear_path(target)
        if unclear is not None:
            return Decision(method.upper(), target, None, unclear)
        path = request_path(target)
        rule = next((r for r in self.rules if r.allows(method.upper(), path)), None)
        return Decision(method.upper(), target, rule)

    def refusal(self, decision: Decision) -> str:
        if decision.unclear:
            return (
                f"labkit guard: {decision.method} {decision.target.split('?', 1)[0]} is refused: "
                f"{decision.unclear}. Write the path plainly; no rule is consulted for it"
            )
        path = request_path(decision.target)
        allowed = ", ".join(r.text for r in self.rules) or "nothing"
        return (
            f"labkit guard: {decision.method} {path} is not allowed. No rule matches it; the rule "
            f"that would let it through is '{decision.method} {path}'. Allowed: {allowed}"
        )


def forbidden(message: str, close: bool) -> bytes:
    body = json.dumps({"message": message}).encode() + b"\n"
    head = (
        "HTTP/1.1 403 Forbidden\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n" + ("Connection: close\r\n" if close else "") + "\r\n"
    )
    return head.encode("ascii") + body


class Guard:
    """The proxy, in background threads: ``Guard(upstream, listen, rules).start()``."""

    def __init__(
        self,
        upstream: str | os.PathLike[str] | Endpoint,
        listen: str | os.PathLike[str],
        rules: Iterable[str | Rule],
        on_decision: Callable[[Decision], None] | None = None,
    ) -> None:
        self.upstream = engine_endpoint(upstream, "the guard's upstream")
        self.socket_path = Path(listen).absolute()
        self.policy = Policy(rules)
        self.on_decision = on_decision
        self.decisions: list[Decision] = []
        self._server: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        if self.upstream.scheme == "unix" and Path(self.upstream.path or "") == self.socket_path:
            raise GuardError("the guard would forward to its own socket: give another --listen")

    @property
    def docker_host(self) -> str:
        return f"unix://{self.socket_path}"

    def start(self) -> Guard:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            clear_stale_socket(self.socket_path)
            bind_private(sock, self.socket_path)
            sock.listen(64)
            sock.settimeout(0.25)  # so the accept loop notices stop() promptly
        except ListenError as exc:
            sock.close()
            raise GuardError(str(exc)) from None
        self._server = sock
        self._spawn("labkit-guard-accept", self._accept)
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.close()
        with self._lock:
            for sock in list(self._open):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        for thread in list(self._threads):
            thread.join(5)
        remove_socket(self.socket_path)

    def __enter__(self) -> Guard:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- threads -------------------------------------------------------------------

    def _spawn(self, name: str, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        self._threads = [t for t in self._threads if t.is_alive()]
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        assert self._server is not None
        while not self._stopping.is_set():
            try:
                client, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            self._spawn("labkit-guard-conn", self._serve, client)

    def _track(self, *socks: socket.socket) -> None:
        with self._lock:
            self._open.update(socks)

    def _untrack(self, *socks: socket.socket) -> None:
        with self._lock:
            self._open.difference_update(socks)
        for sock in socks:
            with contextlib.suppress(OSError):
                sock.close()

    def _serve(self, client: socket.socket) -> None:
        upstream: socket.socket | None = None
        self._track(client)
        try:
            pending = b""
            while not self._stopping.is_set():
                outcome = self._one_request(client, upstream, pending)
                if outcome is None:
                    return
                upstream, pending, keep_going = outcome
                if not keep_going:
                    return
        except (OSError, WireError, h11.ProtocolError, TransportError):
            return
        finally:
            self._untrack(client, *([upstream] if upstream else []))

    def _one_request(
        self, client: socket.socket, upstream: socket.socket | None, pending: bytes
    ) -> tuple[socket.socket | None, bytes, bool] | None:
        """Handle the next request; (upstream, bytes already read, keep serving) or None."""
        parser = h11.Connection(h11.SERVER)
        data = bytearray(pending)
        if pending:  # (h11 takes b"" to mean the peer closed)
            parser.receive_data(bytes(pending))
        sent = 0  # how much of ``data`` went upstream
        decision: Decision | None = None
        while True:
            event = parser.next_event()
            if event is h11.NEED_DATA:
                more = client.recv(65536)
                parser.receive_data(more)
                if not more and not data:
                    return None
                data += more
                if decision is not None and decision.allowed and upstream is not None:
                    upstream.sendall(bytes(data[sent:]))
                    sent = len(data)
                elif decision is not None and len(data) > MAX_DENIED_BODY:
                    client.sendall(forbidden(self.policy.refusal(decision), close=True))
                    return None
                continue
            if isinstance(event, h11.ConnectionClosed):
                return None
            if isinstance(event, h11.Request):
                decision = self.policy.decide(event.method.decode(), event.target.decode())
                self._note(decision)
                if decision.allowed:
                    if upstream is None:
                        upstream = open_socket(self.upstream, timeout=10)
                        upstream.settimeout(None)
                        self._track(upstream)
                    consumed = len(data) - len(parser.trailing_data[0])
                    upstream.sendall(bytes(data[:consumed]))
                    sent = consumed
            elif isinstance(event, h11.EndOfMessage) or event is h11.PAUSED:
                break
        rest = bytes(parser.trailing_data[0])
        if decision is not None and decision.allowed and upstream is not None:
            consumed = len(data) - len(rest)
            if consumed > sent:
                upstream.sendall(bytes(data[sent:consumed]))
        assert decision is not None
        client_closes = parser.their_state is h11.MUST_CLOSE
        if not decision.allowed:
            close = client_closes or event is h11.PAUSED
            client.sendall(forbidden(self.policy.refusal(decision), close=close))
            return upstream, rest, not close
        assert upstream is not None
        upstream, rest, keep_alive = self._relay_response(client, upstream, decision.method, rest)
        return upstream, rest, keep_alive and not client_closes

    def _relay_response(
        self, client: socket.socket, upstream: socket.socket, method: str, rest: bytes
    ) -> tuple[socket.socket | None, bytes, bool]:
        """Copy the engine's reply to the client as it comes, up to its end (or the hijack)."""
        parser = ResponseParser(method)
        closes = False
        while True:
            data = upstream.recv(65536)
            if not data:  # a close-delimited body ends here, and so does the connection
                return upstream, rest, False
            client.sendall(data)
            for event in parser.feed(data):
                if isinstance(event, Head):
                    closes = "close" in (event.headers.get("Connection") or "").lower()
                elif isinstance(event, Upgraded):
                    if rest:
                        upstream.sendall(rest)
                    self._pipe(client, upstream)
                    return upstream, b"", False
                elif isinstance(event, End):
                    return upstream, rest, not closes

    def _pipe(self, client: socket.socket, upstream: socket.socket) -> None:
        """After a 101: raw bytes both ways until either side closes."""

        def copy(src: socket.socket, dst: socket.socket) -> None:
            try:
                while data := src.recv(65536):
                    dst.sendall(data)
            except OSError:
                pass
            finally:
                with contextlib.suppress(OSError):
                    dst.shutdown(socket.SHUT_WR)

        other = threading.Thread(target=copy, args=(client, upstream), daemon=True)
        other.start()
        copy(upstream, client)
        other.join()

    def _note(self, decision: Decision) -> None:
        self.decisions.append(decision)
        if self.on_decision is not None:
            with contextlib.suppress(Exception):
                self.on_decision(decision)

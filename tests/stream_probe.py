"""Talking to an engine the way a terminal client does: a hijacked attach or exec stream,
bytes typed into it, and what comes back until the engine ends the stream.

Shared by the stream tests, which run the same script against the lab engine and dockerd.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from image_fixtures import build_target, json_call

# How long to wait for an engine to answer or end a stream (generous: a busy machine).
WAIT = 20.0


@dataclass
class Hijack:
    """A stream after ``101 UPGRADED``: the head, and the socket to type into."""

    status: int
    headers: dict[str, str]
    sock: socket.socket
    early: bytes  # body bytes that arrived with the head

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read_until(
        self, done: Callable[[bytes], bool], timeout: float = WAIT
    ) -> tuple[bytes, bool]:
        """Bytes until ``done(bytes so far)``, or until the engine ends the stream (then the
        second value is True). Fails if neither happens within ``timeout``."""
        got = bytearray(self.early)
        self.early = b""
        deadline = time.monotonic() + timeout
        while not done(bytes(got)):
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no end of stream within {timeout} s; got {bytes(got)!r}")
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            if not data:
                return bytes(got), True
            got += data
        return bytes(got), False

    def read_to_end(self, timeout: float = WAIT) -> bytes:
        data, ended = self.read_until(lambda _: False, timeout)
        assert ended
        return data

    def close(self) -> None:
        self.sock.close()


def hijack(
    socket_path: str | os.PathLike[str],
    target: str,
    body: Any = None,
    version: str = "1.41",
) -> Hijack:
    """POST ``target`` asking for an upgrade; returns once the head has arrived."""
    sock = socket.socket(socket.AF_UNIX)
    sock.settimeout(WAIT)
    sock.connect(str(socket_path))
    data = b"" if body is None else json.dumps(body).encode()
    head = (
        f"POST /v{version}{target} HTTP/1.1\r\nHost: docker\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n"
        "Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
    )
    sock.sendall(head.encode() + data)
    buf = b""
    while b"\r\n\r\n" not in buf:
        piece = sock.recv(65536)
        if not piece:
            break
        buf += piece
    head_bytes, _, rest = buf.partition(b"\r\n\r\n")
    lines = head_bytes.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Hijack(status, headers, sock, rest)


def api(
    socket_path: str | os.PathLike[str],
    method: str,
    path: str,
    payload: Any = None,
    api_version: str = "1.41",
    **query: Any,
) -> tuple[int, Any]:
    """One JSON call at ``api_version``: (status, parsed body or None)."""
    target = build_target(f"/v{api_version}{path}", query)
    reply = json_call(socket_path, method, target, payload)
    try:
        parsed = json.loads(reply.body) if reply.body.strip() else None
    except ValueError:
        parsed = reply.body
    return reply.status, parsed


def remove(socket_path: str | os.PathLike[str], names: Iterable[str]) -> None:
    for name in names:
        api(socket_path, "DELETE", f"/containers/{name}", force="1")


def run_container(socket_path: str | os.PathLike[str], name: str, **config: Any) -> str:
    status, body = api(
        socket_path, "POST", "/containers/create", {"Image": "busybox", **config}, name=name
    )
    assert status == 201, body
    cid = body["Id"]
    status, body = api(socket_path, "POST", f"/containers/{cid}/start")
    assert status == 204, body
    return cid

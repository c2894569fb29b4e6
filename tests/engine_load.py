"""Helpers for the tests that put a running lab engine under load and watch what it costs.

The engine runs in its own process (``lab_engine``); these read its memory and CPU time
from /proc, talk to it over its socket (as a client that stops reading would), and run the
docker CLI against it.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

# The docker CLI's commands here end in seconds; this is how long a test waits at most.
CLI_TIMEOUT = 60


def rss_mb(pid: int) -> float:
    """The process's resident memory (VmRSS), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for pid {pid}")


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def docker(env: dict[str, str], *args: str, timeout: float = CLI_TIMEOUT, check: bool = True):
    """Run the docker CLI against the engine ``env`` points at."""
    result = subprocess.run(
        ["docker", *args], env=env, capture_output=True, text=True, timeout=timeout
    )
    if check:
        assert result.returncode == 0, (
            f"`docker {' '.join(args)}` exited {result.returncode}: {result.stderr}"
        )
    return result


def connect(sock_path: Path | str, receive_buffer: int | None = None) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    if receive_buffer is not None:  # a client that reads nothing fills this and stops
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.settimeout(30)
    sock.connect(str(sock_path))
    return sock


def stalled(sock_path: Path | str, method: str, target: str, body: bytes = b"") -> socket.socket:
    """A client that sends one request and then never reads its answer."""
    sock = connect(sock_path, receive_buffer=4096)
    head = f"{method} {target} HTTP/1.1\r\nHost: docker\r\nContent-Length: {len(body)}\r\n"
    if body:
        head += "Content-Type: application/json\r\n"
    sock.sendall(head.encode() + b"\r\n" + body)
    return sock


def ping_seconds(sock_path: Path | str) -> float:
    """How long ``GET /_ping`` takes on a new connection (the engine must still answer)."""
    start = time.monotonic()
    with connect(sock_path) as sock:
        sock.sendall(b"GET /_ping HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n")
        reply = b""
        while chunk := sock.recv(4096):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 200") and reply.endswith(b"OK"), reply
    return time.monotonic() - start


def call(sock_path: Path | str, method: str, target: str, body: Any = None) -> tuple[int, Any]:
    """One request; the status and the JSON body (None when empty)."""
    conn = http.client.HTTPConnection("docker", timeout=CLI_TIMEOUT)
    conn.sock = connect(sock_path)
    data = (
        None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    )
    headers = {"Content-Type": "application/json"} if data else {}
    conn.request(method, target, body=data, headers=headers)
    reply = conn.getresponse()
    raw = reply.read()
    conn.close()
    try:
        return reply.status, json.loads(raw) if raw else None
    except ValueError:
        return reply.status, raw


def start_exec(sock_path: Path | str, cid: str, cmd: list[str]) -> tuple[socket.socket, str]:
    """``docker exec`` as the CLI does it (create, then start with an upgrade): the hijacked
    connection once its 101 head has arrived (unread after that), and the exec's id."""
    status, created = call(
        sock_path, "POST", f"/containers/{cid}/exec",
        {"Cmd": cmd, "AttachStdout": True, "AttachStderr": True},
    )  # fmt: skip
    assert status == 201, created
    body = b'{"Detach":false,"Tty":false}'
    sock = connect(sock_path, receive_buffer=4096)
    sock.sendall(
        f"POST /exec/{created['Id']}/start HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\n"
        f"Upgrade: tcp\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        .encode() + body
    )  # fmt: skip
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock, created["Id"]


def wait_for(condition: Any, timeout: float = 30, every: float = 0.1) -> Any:
    """Poll ``condition()`` until it gives something true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still not true after {timeout} s: {condition}")
        time.sleep(every)

"""The lab engine's memory under hostile loads, beside dockerd's, in one run.

    .venv/bin/python bench/memory.py              # about a minute; updates bench/README.md
    .venv/bin/python bench/memory.py --quick      # a quick look; writes nothing

Each load runs for a few seconds against a fresh lab engine (and against the real
dockerd at ``LABKIT_BENCH_DOCKER_HOST``, where it is safe to: dockerd keeps every line
a container prints in its log file, so the huge write runs on the lab engine only),
while the engine's RSS is read from /proc; the table gives it before the load and the
most it reached during it:

- clients that follow a chatty container's logs and stop reading;
- clients attached to a chatty container that stop reading;
- chatty ``docker exec`` clients that go away, and ones that stay but stop reading;
- one huge write (``printf '%0400000000d' 1``);
- a shell growing a variable without end (``--memory 64m``), to its OOM kill;
- a gzip bomb (128 KiB of tar.gz holding 128 MiB) sent to ``docker cp``'s endpoint.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from engine import DEFAULT_DOCKER, README, answers, http, peer_pid, rss_mb, write_readme  # noqa: E402

from labkit.engine import control  # noqa: E402

START, END = "<!-- memory:start -->", "<!-- memory:end -->"
LINE = "a line of output that goes on and on, as the logs of a chatty program do, for a while"
CHATTY = ["sh", "-c", f"while true; do echo '{LINE}'; done"]


@dataclass
class Target:
    name: str
    sock: str
    pid: int
    docker_env: dict[str, str] = field(default_factory=dict)

    def docker(self, *args: str, check: bool = True) -> str:
        out = subprocess.run(
            ["docker", *args], env=self.docker_env, capture_output=True, text=True, timeout=120
        )
        if check and out.returncode != 0:
            raise RuntimeError(f"docker {' '.join(args)}: {out.stderr.strip()}")
        return out.stdout.strip()


def stalled(sock: str, method: str, target: str, body: bytes = b"") -> socket.socket:
    """A client that sends one request and never reads the answer."""
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    conn.connect(sock)
    head = f"{method} {target} HTTP/1.1\r\nHost: docker\r\nContent-Length: {len(body)}\r\n"
    extra = "Content-Type: application/json\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n"
    conn.sendall((head + (extra if body else "") + "\r\n").encode() + body)
    return conn


def exec_client(t: Target, cid: str) -> socket.socket:
    status, data = http(
        t.sock, "POST", f"/containers/{cid}/exec",
        json.dumps({"Cmd": CHATTY, "AttachStdout": True, "AttachStderr": True}).encode(),
    )  # fmt: skip
    if status != 201:
        raise RuntimeError(f"exec create: {status} {data[:200]!r}")
    eid = json.loads(data)["Id"]
    return stalled(t.sock, "POST", f"/exec/{eid}/start", b'{"Detach":false,"Tty":false}')


def peak_during(pid: int, seconds: float) -> float:
    """The most RSS seen over ``seconds``, read ten times a second."""
    most = 0.0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        most = max(most, rss_mb(pid) or 0.0)
        time.sleep(0.1)
    return most


def _tar_gz(size: int) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        info = tarfile.TarInfo("zeros")
        info.size = size
        tar.addfile(info, io.BytesIO(bytes(size)))
    return gzip.compress(raw.getvalue())


# ---------------------------------------------------------------- the loads
def followers(t: Target, seconds: float) -> float:
    cid = t.docker("run", "-d", "busybox", *CHATTY)
    clients = [
        stalled(t.sock, "GET", f"/containers/{cid}/logs?follow=1&stdout=1") for _ in range(5)
    ]
    try:
        return peak_during(t.pid, seconds)
    finally:
        for c in clients:
            c.close()
        t.docker("rm", "-f", cid)


def attached(t: Target, seconds: float) -> float:
    cid = t.docker("run", "-d", "busybox", *CHATTY)
    clients = [
        stalled(t.sock, "POST", f"/containers/{cid}/attach?stream=1&stdout=1") for _ in range(3)
    ]
    try:
        return peak_during(t.pid, seconds)
    finally:
        for c in clients:
            c.close()
        t.docker("rm", "-f", cid)


def execs_gone(t: Target, seconds: float) -> float:
    cid = t.docker("run", "-d", "busybox", "sleep", "1000")
    try:
        for _ in range(3):
            exec_client(t, cid).close()
        return peak_during(t.pid, seconds)
    finally:
        t.docker("rm", "-f", cid)


def execs_stalled(t: Target, seconds: float) -> float:
    cid = t.docker("run", "-d", "busybox", "sleep", "1000")
    clients = [exec_client(t, cid) for _ in range(3)]
    try:
        return peak_during(t.pid, seconds)
    finally:
        for c in clients:
            c.close()
        t.docker("rm", "-f", cid)


def huge_write(t: Target, seconds: float) -> float:
    cid = t.docker("run", "-d", "busybox", "printf", "%0400000000d", "1")
    try:
        return peak_during(t.pid, seconds)
    finally:
        t.docker("rm", "-f", cid)


def growing(t: Target, seconds: float) -> float:
    grow = "x=a; while true; do x=$x$x; done"
    cid = t.docker("run", "-d", "--memory", "64m", "busybox", "sh", "-c", grow)
    try:
        return peak_during(t.pid, seconds)
    finally:
        t.docker("rm", "-f", cid)


def bomb(t: Target, seconds: float) -> float:
    cid = t.docker("run", "-d", "busybox", "sleep", "1000")
    body = _tar_gz(128 << 20)
    worker = threading.Thread(
        target=http, args=(t.sock, "PUT", f"/containers/{cid}/archive?path=/tmp", body)
    )
    try:
        worker.start()
        return peak_during(t.pid, seconds)
    finally:
        worker.join()
        t.docker("rm", "-f", cid)


LOADS: list[tuple[str, Callable[[Target, float], float], bool]] = [
    # (what, the load, whether dockerd gets it too)
    ("5 clients follow a chatty container's logs and stop reading", followers, True),
    ("3 clients attached to a chatty container stop reading", attached, True),
    ("3 chatty `docker exec` clients go away", execs_gone, True),
    ("3 chatty `docker exec` clients stay and stop reading", execs_stalled, True),
    ("one huge write: `printf '%0400000000d' 1`", huge_write, False),
    ("`x=$x$x` for ever, `--memory 64m` (to its OOM kill)", growing, True),
    ("a gzip bomb, 128 KiB holding 128 MiB, to `docker cp`", bomb, False),
]


# ---------------------------------------------------------------- the run
@dataclass
class Row:
    what: str
    lab: tuple[float, float] | None = None  # RSS before, most during
    dockerd: tuple[float, float] | None = None


def measure(
    t: Target, load: Callable[[Target, float], float], seconds: float
) -> tuple[float, float]:
    time.sleep(0.5)
    before = rss_mb(t.pid) or 0.0
    return before, load(t, seconds)


def run(seconds: float) -> tuple[list[Row], list[str]]:
    notes: list[str] = []
    docker_sock = os.environ.get("LABKIT_BENCH_DOCKER_HOST", DEFAULT_DOCKER).removeprefix("unix://")
    work = Path(tempfile.mkdtemp(prefix="lkm", dir="/tmp"))
    lab_env = {"LABKIT_HOME": str(work / "home")}
    rows = [Row(what) for what, _, _ in LOADS]
    try:
        started = control.start(lab_env)
        env = {**os.environ, "DOCKER_HOST": f"unix://{started.socket}"}
        env.pop("DOCKER_CONTEXT", None)
        targets = [Target("lab", str(started.socket), started.pid or 0, env)]
        if answers(docker_sock) and (pid := peer_pid(docker_sock)):
            real_env = {**os.environ, "DOCKER_HOST": f"unix://{docker_sock}"}
            real_env.pop("DOCKER_CONTEXT", None)
            targets.append(Target("dockerd", docker_sock, pid, real_env))
        else:
            notes.append(f"no dockerd answered at {docker_sock}: its column is empty")
        targets[0].docker("pull", "busybox")
        targets[0].docker("run", "--rm", "busybox", "true")  # everything loaded
        for row, (what, load, both) in zip(rows, LOADS, strict=True):
            for t in targets:
                if t.name == "dockerd" and not both:
                    continue
                print(f"{t.name:8} {what} ...", flush=True)
                try:
                    setattr(row, t.name, measure(t, load, seconds))
                except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
                    notes.append(f"{what} on {t.name}: {exc}")
    finally:
        control.stop(lab_env)
        shutil.rmtree(work, ignore_errors=True)
    return rows, notes


def _cell(value: tuple[float, float] | None) -> str:
    if value is None:
        return "—"
    before, most = value
    return f"{before:.0f} → {most:.0f} MB (+{max(most - before, 0):.0f})"


def report(rows: list[Row], notes: list[str], seconds: float) -> str:
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    lines = [
        f"Machine: {os.cpu_count()} CPUs. Run on {when}; each load for {seconds:g} s; "
        "RSS before it → the most during it.",
        "",
        "| load | lab engine | dockerd |",
        "|---|---:|---:|",
    ]
    lines += [f"| {row.what} | {_cell(row.lab)} | {_cell(row.dockerd)} |" for row in rows]
    if notes:
        lines += ["", "Notes:", *[f"- {n}" for n in notes]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="how long each load runs")
    parser.add_argument("--quick", action="store_true", help="short loads; README untouched")
    parser.add_argument("--no-readme", action="store_true", help="do not update bench/README.md")
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds, args.no_readme = 1.5, True
    rows, notes = run(args.seconds)
    text = report(rows, notes, args.seconds)
    print()
    print(text)
    if not args.no_readme:
        write_readme(text, START, END, "Memory under hostile loads")
        print(f"\nwritten to {README.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

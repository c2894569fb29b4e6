"""The lab engine against dockerd and against a raw socket, side by side, in one run.

    .venv/bin/python bench/engine.py            # prints a table, updates bench/README.md
    .venv/bin/python bench/engine.py --quick    # shorter runs, nothing written

What it measures, for each target that answers:
- requests/s and p50/p99 latency of GET /_ping, GET /images/json and
  GET /containers/json?all=1, on one keep-alive connection and with 8 clients;
- wall time of ``docker run --rm busybox echo hi`` (the real docker CLI);
- the lab engine's cold start (``control.start()`` until the first /_ping answer);
- the lab engine's memory (RSS) idle and after 1,000 containers.

Targets: the lab engine (started here, in a fresh LABKIT_HOME), the real dockerd
(``LABKIT_BENCH_DOCKER_HOST`` or /tmp/labkit-dockerd/docker.sock) and the floor:
a minimal server on uvloop that answers every request with a fixed reply, the
fastest any Python server here could be.

The load comes from one client process per CPU (like wrk's threads), which
share the keep-alive connections between them, so the load generator is not held
back by one interpreter's lock; clients and servers share the machine's cores, the
same way for every target.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import platform
import re
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from labkit.engine import control  # noqa: E402
from labkit.engine.server import POLL_WINDOW, Poller  # noqa: E402

README = ROOT / "bench" / "README.md"
START, END = "<!-- results:start -->", "<!-- results:end -->"
PATHS = ("/_ping", "/images/json", "/containers/json?all=1")
DEFAULT_DOCKER = "/tmp/labkit-dockerd/docker.sock"
FLOORS = {
    "rps_vs_dockerd": 1.0,  # lab engine requests/s ≥ this × dockerd's, on /_ping and /images/json
    "cold_start_s": 0.3,
    "run_vs_dockerd": 0.5,  # `docker run --rm` on the lab engine ≤ this × dockerd's time
    "idle_rss_mb": 40.0,
}


# ---------------------------------------------------------------- the load generator
_LENGTH = re.compile(rb"\r\ncontent-length: *(\d+)")


def response_end(buf: bytes) -> tuple[int, int] | None:
    """(bytes the first whole response in ``buf`` takes, its status); None if it is not all in."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = buf[:end].lower()
    status = int(head[9:12])
    pos = end + 4
    m = _LENGTH.search(head)
    if m:
        pos += int(m.group(1))
        return (pos, status) if len(buf) >= pos else None
    if b"transfer-encoding: chunked" in head:
        while True:
            eol = buf.find(b"\r\n", pos)
            if eol < 0:
                return None
            size = int(buf[pos:eol].split(b";")[0], 16)
            pos = eol + 2 + size + 2
            if len(buf) < pos:
                return None
            if size == 0:
                return pos, status
    return pos, status


def request_bytes(target: str) -> bytes:
    return f"GET {target} HTTP/1.1\r\nHost: docker\r\n\r\n".encode()


class Conn:
    """One blocking keep-alive connection: send, wait, read the whole response."""

    def __init__(self, path: str, target: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(30)
        self.sock.connect(path)
        self.request = request_bytes(target)
        self.buf = b""

    def call(self) -> int:
        self.sock.sendall(self.request)
        while (done := response_end(self.buf)) is None:
            data = self.sock.recv(262144)
            if not data:
                raise ConnectionError("the server closed the connection")
            self.buf += data
        self.buf = self.buf[done[0] :]
        return done[1]


class _Caller(asyncio.Protocol):
    """One connection of a multi-connection client: the next request as soon as one is answered."""

    def __init__(self, request: bytes, lat: list[float], counts: list[int]) -> None:
        self.request = request
        self.lat = lat
        self.counts = counts  # [errors]
        self.buf = b""
        self.t0 = 0.0
        self.end = 0.0
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport) -> None:
        self.transport = transport

    def go(self, end: float) -> None:
        self.end = end
        self.t0 = time.perf_counter()
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while (done := response_end(self.buf)) is not None:
            self.buf = self.buf[done[0] :]
            now = time.perf_counter()
            if self.end:
                self.lat.append(now - self.t0)
                if done[1] != 200:
                    self.counts[0] += 1
            if now >= self.end:
                if not self.done.done():
                    self.done.set_result(None)
                return
            self.t0 = now
            self.transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_exception(ConnectionError("the server closed the connection"))


async def _many(path: str, target: str, conns: int, start_at: float, duration: float):
    loop = asyncio.get_running_loop()
    lat: list[float] = []
    counts = [0]
    callers = []
    for _ in range(conns):
        _, caller = await loop.create_unix_connection(
            lambda: _Caller(request_bytes(target), lat, counts), path
        )
        callers.append(caller)
    warm = Conn(path, target)  # warm the server's caches before the clock starts
    for _ in range(50):
        warm.call()
    warm.sock.close()
    await asyncio.sleep(max(0.0, start_at - time.time()))
    end = time.perf_counter() + duration
    for caller in callers:
        caller.go(end)
    await asyncio.gather(*(c.done for c in callers))
    for caller in callers:
        caller.transport.close()
    return lat, counts[0]


def _client(path: str, target: str, conns: int, start_at: float, duration: float, out) -> None:
    if conns > 1:
        try:
            import uvloop

            uvloop.install()
        except ImportError:
            pass
        lat, errors = asyncio.run(_many(path, target, conns, start_at, duration))
        out.send((lat, errors))
        out.close()
        return
    conn = Conn(path, target)
    for _ in range(50):  # warm up: the connection, the server's caches
        conn.call()
    while time.time() < start_at:
        time.sleep(0.0005)
    lat = []
    errors = 0
    perf = time.perf_counter
    end = perf() + duration
    while (t0 := perf()) < end:
        if conn.call() != 200:
            errors += 1
        lat.append(perf() - t0)
    out.send((lat, errors))
    out.close()


@dataclass
class Load:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    cpu_us: float | None = None  # the server's CPU time per request, in microseconds


def peer_pid(path: str) -> int | None:
    """The pid of the process listening on a Unix socket (SO_PEERCRED), where the OS says."""
    if not hasattr(socket, "SO_PEERCRED"):
        return None
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(path)
        creds = s.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    pid = struct.unpack("3i", creds)[0]
    return pid or None


def cpu_seconds(pid: int | None) -> float | None:
    """User plus system CPU time of ``pid`` (all its threads), from /proc."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load(path: str, target: str, clients: int, duration: float) -> Load:
    """``clients`` keep-alive connections, spread over one client process per CPU (like wrk)."""
    ctx = mp.get_context("fork")
    pipes, procs = [], []
    start_at = time.time() + 0.5 + 0.05 * clients
    nproc = max(1, min(clients, os.cpu_count() or 1))
    shares = [clients // nproc + (1 if i < clients % nproc else 0) for i in range(nproc)]
    for conns in shares:
        recv, send = ctx.Pipe(duplex=False)
        p = ctx.Process(target=_client, args=(path, target, conns, start_at, duration, send))
        p.start()
        pipes.append(recv)
        procs.append(p)
    pid = peer_pid(path)
    while time.time() < start_at:
        time.sleep(0.001)
    cpu0 = cpu_seconds(pid)
    lat: list[float] = []
    errors = 0
    for recv in pipes:
        got, errs = recv.recv()
        lat += got
        errors += errs
    cpu1 = cpu_seconds(pid)
    for p in procs:
        p.join()
    lat.sort()
    if not lat:
        return Load(0.0, 0.0, 0.0, errors)
    cpu_us = None
    if cpu0 is not None and cpu1 is not None:
        cpu_us = (cpu1 - cpu0) / len(lat) * 1e6
    return Load(
        len(lat) / duration,
        lat[len(lat) // 2] * 1000,
        lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000,
        errors,
        cpu_us,
    )


# ---------------------------------------------------------------- the floor
FIXED = (
    b"HTTP/1.1 200 OK\r\nApi-Version: 1.51\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Content-Length: 2\r\n\r\nOK"
)


class _Floor(asyncio.Protocol):
    """Counts request ends and answers each with the same bytes: no parsing at all.

    It polls between requests exactly as the lab engine does (``server.Poller``),
    so that it stays a floor: the lab engine's only advantage there is not its own."""

    def __init__(self, poller: Poller) -> None:
        self.poller = poller

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.tail = b""

    def data_received(self, data: bytes) -> None:
        data = self.tail + data
        n = data.count(b"\r\n\r\n")
        self.tail = data[data.rfind(b"\r\n\r\n") + 4 :] if n else data
        if n:
            self.transport.write(FIXED * n)
        self.poller.stay_awake()


def floor_server(path: str) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        poller = Poller(POLL_WINDOW)
        server = await loop.create_unix_server(lambda: _Floor(poller), path)
        async with server:
            await server.serve_forever()

    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(main())


def start_floor(folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    path = str(folder / "floor.sock")
    proc = subprocess.Popen([sys.executable, __file__, "--floor-server", path])
    deadline = time.time() + 10
    while not os.path.exists(path):
        if time.time() > deadline or proc.poll() is not None:
            raise RuntimeError("the floor server did not start")
        time.sleep(0.01)
    return proc, path


# ---------------------------------------------------------------- engine helpers
def http(path: str, method: str, target: str, body: bytes = b"") -> tuple[int, bytes]:
    """One request on a fresh connection (Connection: close): status and body."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(120)
        s.connect(path)
        head = f"{method} {target} HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n"
        if body:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        s.sendall(head.encode() + b"\r\n" + body)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    if b"transfer-encoding: chunked" in head.lower():
        out = b""
        while rest:
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line.split(b";")[0] or b"0", 16)
            if size == 0:
                break
            out, rest = out + rest[:size], rest[size + 2 :]
        rest = out
    return int(head[9:12]), rest


def answers(path: str) -> bool:
    try:
        return http(path, "GET", "/_ping")[0] == 200
    except OSError:
        return False


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def docker_run_seconds(sock: str, runs: int) -> float | None:
    docker = shutil.which("docker")
    if docker is None:
        return None
    env = {**os.environ, "DOCKER_HOST": f"unix://{sock}"}
    env.pop("DOCKER_CONTEXT", None)
    times = []
    for _ in range(runs + 1):  # the first run warms caches and is not counted
        t0 = time.perf_counter()
        out = subprocess.run(
            [docker, "run", "--rm", "busybox", "echo", "hi"],
            env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        if out.returncode != 0 or out.stdout.strip() != "hi":
            raise RuntimeError(out.stderr.strip() or out.stdout.strip())
        times.append(time.perf_counter() - t0)
    return statistics.median(times[1:])


def pull(sock: str, image: str) -> bool:
    name, _, tag = image.partition(":")
    status, _ = http(sock, "POST", f"/images/create?fromImage={name}&tag={tag or 'latest'}")
    return status == 200


def cold_starts(runs: int) -> list[float]:
    """control.start() until the first /_ping answer, each in a fresh LABKIT_HOME."""
    times = []
    for _ in range(runs):
        home = tempfile.mkdtemp(prefix="lkb", dir="/tmp")
        env = {"LABKIT_HOME": home}
        try:
            t0 = time.perf_counter()
            control.start(env)
            times.append(time.perf_counter() - t0)
        finally:
            control.stop(env)
            shutil.rmtree(home, ignore_errors=True)
    return times


def idle_cpu_percent(pids: dict[str, int | None], seconds: float) -> dict[str, float | None]:
    """The share of one CPU each process used while nobody sent it anything."""
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    time.sleep(seconds)
    out: dict[str, float | None] = {}
    for name, pid in pids.items():
        after, start = cpu_seconds(pid), before[name]
        out[name] = None if after is None or start is None else (after - start) / seconds * 100
    return out


def make_containers(sock: str, count: int) -> int:
    """Create and start ``count`` short containers; how many made it."""
    made = 0
    body = json.dumps({"Image": "busybox", "Cmd": ["true"]}).encode()
    for _ in range(count):
        status, data = http(sock, "POST", "/containers/create", body)
        if status != 201:
            raise RuntimeError(f"create: {status} {data[:200]!r}")
        cid = json.loads(data)["Id"]
        status, data = http(sock, "POST", f"/containers/{cid}/start")
        if status not in (204, 304):
            raise RuntimeError(f"start: {status} {data[:200]!r}")
        made += 1
    return made


# ---------------------------------------------------------------- the run
@dataclass
class Results:
    machine: dict[str, str] = field(default_factory=dict)
    loads: dict[tuple[str, str, int], Load] = field(default_factory=dict)
    run_s: dict[str, float | None] = field(default_factory=dict)
    cold: list[float] = field(default_factory=list)
    rss: dict[str, float | None] = field(default_factory=dict)
    idle_cpu: dict[str, float | None] = field(default_factory=dict)  # percent of one CPU
    notes: list[str] = field(default_factory=list)


def machine_info(docker_sock: str | None) -> dict[str, str]:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {
        "nproc": str(os.cpu_count()),
        "cpu": cpu or "unknown",
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
    }
    for mod in ("uvloop", "httptools"):
        try:
            info[mod] = __import__(mod).__version__
        except ImportError:
            info[mod] = "not installed"
    if docker_sock and answers(docker_sock):
        v = json.loads(http(docker_sock, "GET", "/version")[1])
        info["dockerd"] = f"{v.get('Version')} (API {v.get('ApiVersion')})"
    return info


def run(args: argparse.Namespace) -> Results:
    res = Results()
    docker_sock = os.environ.get("LABKIT_BENCH_DOCKER_HOST", DEFAULT_DOCKER)
    docker_sock = docker_sock.removeprefix("unix://")
    if not answers(docker_sock):
        res.notes.append(f"no dockerd answered at {docker_sock}: its columns are empty")
        docker_sock = ""
    res.machine = machine_info(docker_sock)

    work = Path(tempfile.mkdtemp(prefix="lkb", dir="/tmp"))
    lab_env = {"LABKIT_HOME": str(work / "home")}
    floor_proc = None
    try:
        print("cold starts ...", flush=True)
        res.cold = cold_starts(args.cold_runs)

        started = control.start(lab_env)
        lab_sock = str(started.socket)
        http(lab_sock, "GET", "/images/json")  # the model and all routes are loaded
        time.sleep(0.5)
        res.rss["lab idle"] = rss_mb(started.pid)
        model_ready = pull(lab_sock, "busybox:latest")
        if not model_ready:
            res.notes.append("the lab engine could not pull busybox: model steps skipped")

        floor_proc, floor_sock = start_floor(work)
        targets = {"lab engine": lab_sock, "floor": floor_sock}
        if docker_sock:
            targets["dockerd"] = docker_sock
        for target in PATHS:
            for clients in (1, args.clients):
                # Rounds alternate the targets; the best round of each counts, which keeps
                # the comparison fair when other work on the machine comes and goes.
                for round_ in range(args.repeat):
                    for name, sock in targets.items():
                        if name == "floor" and target != "/_ping":
                            continue  # the floor answers the same bytes whatever the path
                        print(
                            f"{name:10} {target:24} {clients} client(s), round {round_ + 1} ...",
                            flush=True,
                        )
                        got = load(sock, target, clients, args.duration)
                        key = (name, target, clients)
                        best = res.loads.get(key)
                        if best is None or got.rps > best.rps:
                            res.loads[key] = got

        for name, sock in (("lab engine", lab_sock), ("dockerd", docker_sock)):
            if not sock or (name == "lab engine" and not model_ready):
                res.run_s[name] = None
                continue
            print(f"docker run --rm busybox echo hi on {name} ...", flush=True)
            try:
                res.run_s[name] = docker_run_seconds(sock, args.run_runs)
            except (RuntimeError, subprocess.TimeoutExpired) as exc:
                res.run_s[name] = None
                res.notes.append(f"docker run on {name} failed: {exc}")

        idle_pids = {"lab engine": started.pid}
        if docker_sock:
            idle_pids["dockerd"] = peer_pid(docker_sock)
        print(f"CPU while idle, {args.idle_seconds:g} s ...", flush=True)
        time.sleep(1.0)  # past any polling window and timers of the last requests
        res.idle_cpu = idle_cpu_percent(idle_pids, args.idle_seconds)

        if model_ready and args.containers:
            print(f"creating and starting {args.containers} containers ...", flush=True)
            try:
                make_containers(lab_sock, args.containers)
                time.sleep(1.0)
                res.rss[f"lab after {args.containers} containers"] = rss_mb(started.pid)
            except (RuntimeError, OSError) as exc:
                res.notes.append(f"{args.containers} containers: {exc}")
        if docker_sock:
            dockerd_pid = peer_pid(docker_sock)
            if dockerd_pid is not None:
                res.rss["dockerd idle"] = rss_mb(dockerd_pid)
    finally:
        if floor_proc is not None:
            floor_proc.terminate()
            floor_proc.wait()
        control.stop(lab_env)
        shutil.rmtree(work, ignore_errors=True)
    return res


# ---------------------------------------------------------------- the report
def _fmt(value: float | None, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def report(res: Results, clients: int) -> str:
    lines = []
    m = res.machine
    lines.append(
        f"Machine: {m.get('nproc')} CPUs ({m.get('cpu')}), {m.get('system')}, "
        f"Python {m.get('python')}, uvloop {m.get('uvloop')}, httptools {m.get('httptools')}"
        + (f"; dockerd {m['dockerd']}" if "dockerd" in m else "")
        + "."
    )
    lines.append(f"Run on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.")
    lines.append("")
    lines.append(
        "| request | clients | lab engine req/s | p50 / p99 ms | CPU µs/req "
        "| dockerd req/s | p50 / p99 ms | CPU µs/req | lab ÷ dockerd | floor req/s |"
    )
    lines.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for target in PATHS:
        for n in (1, clients):
            lab = res.loads.get(("lab engine", target, n))
            dock = res.loads.get(("dockerd", target, n))
            floor = res.loads.get(("floor", target, n))
            ratio = lab.rps / dock.rps if lab and dock and dock.rps else None
            lines.append(
                f"| GET {target} | {n} "
                f"| {_fmt(lab and lab.rps, ',.0f')} "
                f"| {_fmt(lab and lab.p50_ms, '.2f')} / {_fmt(lab and lab.p99_ms, '.2f')} "
                f"| {_fmt(lab and lab.cpu_us, '.0f')} "
                f"| {_fmt(dock and dock.rps, ',.0f')} "
                f"| {_fmt(dock and dock.p50_ms, '.2f')} / {_fmt(dock and dock.p99_ms, '.2f')} "
                f"| {_fmt(dock and dock.cpu_us, '.0f')} "
                f"| {_fmt(ratio, '.2f')}x | {_fmt(floor and floor.rps, ',.0f')} |"
            )
    lines.append("")
    lines.append("| measure | lab engine | dockerd |")
    lines.append("|---|---:|---:|")
    lines.append(
        "| `docker run --rm busybox echo hi` (median) "
        f"| {_fmt(res.run_s.get('lab engine'), '.3f')} s "
        f"| {_fmt(res.run_s.get('dockerd'), '.3f')} s |"
    )
    if res.cold:
        lines.append(
            f"| cold start to first /_ping (median of {len(res.cold)}; min–max) "
            f"| {statistics.median(res.cold):.3f} s ({min(res.cold):.3f}–{max(res.cold):.3f}) | — |"
        )
    for key, value in res.rss.items():
        if key.startswith("lab"):
            lines.append(f"| RSS, {key[4:]} | {_fmt(value, '.1f')} MB | — |")
    if "dockerd idle" in res.rss:
        lines.append(
            f"| RSS, dockerd idle (for scale) | — | {_fmt(res.rss['dockerd idle'], '.1f')} MB |"
        )
    if res.idle_cpu:
        lines.append(
            "| CPU while idle, share of one CPU "
            f"| {_fmt(res.idle_cpu.get('lab engine'), '.1f')} % "
            f"| {_fmt(res.idle_cpu.get('dockerd'), '.1f')} % |"
        )
    errors = sum(v.errors for v in res.loads.values())
    if errors:
        res.notes.append(f"{errors} requests did not get a 200")
    lines.append("")
    lines.append("Floors:")
    lines += [f"- {line}" for line in floor_checks(res, clients)]
    if res.notes:
        lines.append("")
        lines.append("Notes:")
        lines += [f"- {n}" for n in res.notes]
    return "\n".join(lines)


def floor_checks(res: Results, clients: int) -> list[str]:
    out = []
    for target in ("/_ping", "/images/json"):
        for n in (1, clients):
            lab = res.loads.get(("lab engine", target, n))
            dock = res.loads.get(("dockerd", target, n))
            if lab and dock and dock.rps:
                ratio = lab.rps / dock.rps
                ok = ratio >= FLOORS["rps_vs_dockerd"]
                out.append(
                    f"{'pass' if ok else 'FAIL'}: GET {target}, {n} client(s): lab engine "
                    f"{ratio:.2f}x dockerd (floor {FLOORS['rps_vs_dockerd']:.1f}x)"
                )
    if res.cold:
        med = statistics.median(res.cold)
        ok = med <= FLOORS["cold_start_s"]
        out.append(
            f"{'pass' if ok else 'FAIL'}: cold start {med:.3f} s (floor {FLOORS['cold_start_s']} s)"
        )
    lab_run, dockerd_run = res.run_s.get("lab engine"), res.run_s.get("dockerd")
    if lab_run and dockerd_run:
        ratio = lab_run / dockerd_run
        ok = ratio <= FLOORS["run_vs_dockerd"]
        out.append(
            f"{'pass' if ok else 'FAIL'}: docker run --rm, lab engine {ratio:.2f}x dockerd's "
            f"time (floor at most {FLOORS['run_vs_dockerd']}x)"
        )
    idle = res.rss.get("lab idle")
    if idle is not None:
        ok = idle <= FLOORS["idle_rss_mb"]
        out.append(
            f"{'pass' if ok else 'FAIL'}: idle RSS {idle:.1f} MB "
            f"(floor {FLOORS['idle_rss_mb']:.0f} MB)"
        )
    return out


def write_readme(
    text: str, start: str = START, end: str = END, heading: str = "Latest results"
) -> None:
    """Put ``text`` between the ``start`` and ``end`` markers of bench/README.md (added
    under ``heading`` when they are missing); the rest of the file is kept."""
    current = README.read_text() if README.exists() else "# Benchmarks\n"
    if start not in current or end not in current:
        current = current.rstrip() + f"\n\n## {heading}\n\n{start}\n{end}\n"
    head, _, rest = current.partition(start)
    _, _, tail = rest.partition(end)
    README.write_text(f"{head}{start}\n{text}\n{end}{tail}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per load run")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients")
    parser.add_argument("--repeat", type=int, default=3, help="rounds per cell; the best counts")
    parser.add_argument("--containers", type=int, default=1000, help="containers for the RSS run")
    parser.add_argument("--cold-runs", type=int, default=5)
    parser.add_argument("--run-runs", type=int, default=5, help="timed `docker run`s")
    parser.add_argument(
        "--idle-seconds", type=float, default=5.0, help="how long idle CPU is measured"
    )
    parser.add_argument("--quick", action="store_true", help="short runs; README untouched")
    parser.add_argument("--no-readme", action="store_true", help="do not update bench/README.md")
    parser.add_argument("--floor-server", metavar="PATH", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.floor_server:
        floor_server(args.floor_server)
        return 0
    if args.quick:
        args.duration, args.containers, args.cold_runs, args.run_runs = 1.0, 100, 3, 2
        args.repeat, args.idle_seconds = 1, 2.0
        args.no_readme = True
    res = run(args)
    text = report(res, args.clients)
    print()
    print(text)
    if not args.no_readme:
        write_readme(text)
        print(f"\nwritten to {README.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

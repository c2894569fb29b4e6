"""A real workshop, measured: N learners on a JupyterHub, each with JupyterLab, kernel, engine.

Run through ``bench/hub.py --learners N [N ...]`` (as root, after ``bash docs/hub/install.sh``).
For each N it makes N learner accounts, starts a JupyterHub with the workshop's configuration
(docs/hub/jupyterhub_config.py) on loopback, and then, as a class that starts together:

1. requests all N servers at the same moment through the hub's REST API;
2. as each server is ready, opens lesson 00 from the learner's workspace and runs its code
   cells in a new kernel (which starts the learner's lab engine): "lesson ready";
3. reads the memory of every learner's processes, by kind (the server, the kernel, the engine),
   as PSS (shared pages divided among the processes sharing them) and RSS;
4. has all N kernels run a cell that calls the engine, ``--rounds`` times each, all at once,
   and times each cell from request to reply through the hub's proxy.

The machine's free memory is watched throughout: below MEMORY_FLOOR_MB the run stops and says
so, rather than push a shared machine into the kernel's out-of-memory killer. Accounts, hub
and servers are removed at the end, whatever happens.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "tests"))

import engine as bench  # noqa: E402  (bench/engine.py: machine info, README writing)
import hub_driver as hd  # noqa: E402  (tests/hub_driver.py: accounts, the hub, kernels)

START, END = "<!-- classroom:start -->", "<!-- classroom:end -->"
MEMORY_FLOOR_MB = 2048
ROUND_TRIP_CELL = "len(lab.client.get('/containers/json', params={'all': 1}))"


class MemoryFloor(RuntimeError):
    """The machine's available memory fell below the floor."""


@dataclass
class Seat:
    name: str
    uid: int
    server_ready: float | None = None
    lesson_ready: float | None = None
    kernel: hd.Kernel | None = None
    error: str = ""
    round_trips: list[float] = field(default_factory=list)


def mem_available_mb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _memory_kb(pid: int, key: str) -> int:
    path = f"/proc/{pid}/smaps_rollup" if key == "Pss:" else f"/proc/{pid}/status"
    key = key if key == "Pss:" else "VmRSS:"
    with contextlib.suppress(OSError, ValueError):
        for line in Path(path).read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1])
    return 0


def kind_of(pid: int) -> str:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return "gone"
    if b"labkit.engine" in cmdline:
        return "engine"
    if b"ipykernel" in cmdline:
        return "kernel"
    return "server"  # the start script and jupyterhub-singleuser (JupyterLab)


def memory_by_kind(seats: list[Seat]) -> dict[str, dict[str, float]]:
    """MB per learner, by kind: {"pss": {...}, "rss": {...}}, averaged over ready learners."""
    ready = [s for s in seats if s.lesson_ready is not None]
    totals: dict[str, dict[str, float]] = {"pss": {}, "rss": {}}
    for seat in ready:
        for pid in hd.processes_of(seat.uid):
            kind = kind_of(pid)
            for measure, key in (("pss", "Pss:"), ("rss", "VmRSS:")):
                mb = _memory_kb(pid, key) / 1024
                totals[measure][kind] = totals[measure].get(kind, 0.0) + mb
    n = max(1, len(ready))
    return {m: {k: v / n for k, v in by.items() if k != "gone"} for m, by in totals.items()}


async def seat_flow(hub: hd.Hub, seat: Seat, t0: float) -> None:
    try:
        await hub.spawn(seat.name, timeout=1800)
        seat.server_ready = time.monotonic() - t0
        notebook = await hub.server_api(seat.name, "GET", "/contents/lessons/00-start-here.ipynb")
        seat.kernel = await hub.kernel(seat.name)
        for number, code in enumerate(hd.code_cells(notebook), 1):
            result = await seat.kernel.run(code, timeout=1800)
            if result.error:
                raise hd.HubError(f"lesson 00, cell {number}: {result.error}")
        seat.lesson_ready = time.monotonic() - t0
    except Exception as exc:  # one learner's failure is a result, not the end of the run
        seat.error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"


async def watch(seats: list[Seat], t0: float) -> None:
    """Say how far the class got every 15 s; stop everything if memory runs low."""
    last = 0.0
    while True:
        free = mem_available_mb()
        if free < MEMORY_FLOOR_MB:
            raise MemoryFloor(f"the machine's available memory fell to {free:,.0f} MB")
        if time.monotonic() - last > 15:
            last = time.monotonic()
            ready = sum(s.lesson_ready is not None for s in seats)
            servers = sum(s.server_ready is not None for s in seats)
            failed = sum(bool(s.error) for s in seats)
            print(
                f"  {time.monotonic() - t0:6.0f} s: {servers} servers up, {ready} lessons ready, "
                f"{failed} failed; {free:,.0f} MB available; load {os.getloadavg()[0]:.1f}",
                flush=True,
            )
        await asyncio.sleep(0.5)


async def round_trips(seat: Seat, rounds: int) -> None:
    assert seat.kernel is not None
    for _ in range(rounds):
        result = await seat.kernel.run(ROUND_TRIP_CELL, timeout=600)
        if result.error:
            seat.error = f"round trip: {result.error}"
            return
        seat.round_trips.append(result.seconds)


async def classroom(hub: hd.Hub, seats: list[Seat], rounds: int) -> dict[str, object]:
    out: dict[str, object] = {"stopped": ""}
    t0 = time.monotonic()
    flows = asyncio.gather(*(seat_flow(hub, s, t0) for s in seats))
    watcher = asyncio.ensure_future(watch(seats, t0))
    done, _ = await asyncio.wait({flows, watcher}, return_when=asyncio.FIRST_COMPLETED)
    if watcher in done:
        flows.cancel()
        out["stopped"] = str(watcher.exception())
        # what the learners who got that far take: the memory where the class stopped
        out["memory"] = memory_by_kind(seats)
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await flows
        return out
    finished = [s.lesson_ready for s in seats if s.lesson_ready is not None]
    if finished:
        out["all_ready"] = max(finished)
    await asyncio.sleep(5)  # let start-up work settle before reading memory
    out["memory"] = memory_by_kind(seats)
    out["available_after"] = mem_available_mb()
    ready = [s for s in seats if s.kernel is not None and s.lesson_ready is not None]
    trips = asyncio.gather(*(round_trips(s, rounds) for s in ready))
    done, _ = await asyncio.wait({trips, watcher}, return_when=asyncio.FIRST_COMPLETED)
    if watcher in done:
        trips.cancel()
        out["stopped"] = str(watcher.exception())
    watcher.cancel()
    for seat in ready:
        with contextlib.suppress(Exception):
            await seat.kernel.close()  # type: ignore[union-attr]
    return out


def hub_memory_mb(hub: hd.Hub) -> float:
    pids = [hub.proc.pid] if hub.proc else []
    with contextlib.suppress(OSError, ValueError):
        pids.append(int((hub.dir / "proxy.pid").read_text()))
    return sum(_memory_kb(pid, "Pss:") for pid in pids) / 1024


def run_one(n: int, rounds: int) -> dict[str, object]:
    print(f"\n{n} learners: making accounts ...", flush=True)
    hd.Accounts.remove_leftovers()
    accounts = hd.Accounts()
    hub = None
    row: dict[str, object] = {"n": n, "load": os.getloadavg()[0]}
    try:
        made = [accounts.add(f"{i:03d}") for i in range(n)]
        seats = [Seat(a.name, a.uid) for a in made]
        hub = hd.Hub([a.name for a in made], None)
        hub.start()
        row["available_before"] = mem_available_mb()
        print(f"{n} learners: all request their server at once ...", flush=True)
        row.update(asyncio.run(classroom(hub, seats, rounds)))
        row["hub_mb"] = hub_memory_mb(hub)
        row["seats"] = seats
    finally:
        print(f"{n} learners: stopping the hub and removing the accounts ...", flush=True)
        if hub is not None:
            kept = Path(tempfile.gettempdir()) / f"labkit-bench-hub-{n}.log"
            with contextlib.suppress(OSError):
                shutil.copyfile(hub.log, kept)
                print(f"{n} learners: the hub's log is kept at {kept}", flush=True)
            hub.stop()
        accounts.remove()
    return row


def _ms(values: list[float]) -> str:
    if not values:
        return "—"
    values = sorted(values)
    p90 = values[min(len(values) - 1, int(len(values) * 0.9))]
    median = statistics.median(values)
    return f"{median * 1000:,.0f} ms; {p90 * 1000:,.0f} ms; {values[-1] * 1000:,.0f} ms"


def _s(values: list[float]) -> str:
    return f"{statistics.median(values):.0f} s; {max(values):.0f} s" if values else "—"


def table(rows: list[dict[str, object]], rounds: int) -> str:
    measures: dict[str, list[str]] = {}

    def put(name: str, value: str) -> None:
        measures.setdefault(name, []).append(value)

    for row in rows:
        seats: list[Seat] = row.get("seats", [])  # type: ignore[assignment]
        ready = [s for s in seats if s.lesson_ready is not None]
        put("load average (1 min) at the start", f"{row['load']:.1f}")
        put("lessons ready (of learners)", f"{len(ready)} of {row['n']}")
        put(
            "until the last lesson was ready",
            f"{row['all_ready']:.0f} s" if "all_ready" in row else "—",
        )
        put("spawn request → server ready (median; slowest)", _s([s.server_ready for s in ready]))  # type: ignore[misc]
        put("spawn request → lesson 00 run (median; slowest)", _s([s.lesson_ready for s in ready]))  # type: ignore[misc]
        mem = row.get("memory") or {"pss": {}, "rss": {}}
        pss, rss = mem["pss"], mem["rss"]  # type: ignore[index]
        if pss:
            put(
                "per learner, PSS: server + kernel + engine = total",
                " + ".join(f"{pss.get(k, 0):.0f}" for k in ("server", "kernel", "engine"))
                + f" = **{sum(pss.values()):.0f} MB**",
            )
            put("per learner, RSS (shared pages counted in each)", f"{sum(rss.values()):.0f} MB")
        else:
            put("per learner, PSS: server + kernel + engine = total", "—")
            put("per learner, RSS (shared pages counted in each)", "—")
        if "available_after" in row:
            drop = row["available_before"] - row["available_after"]  # type: ignore[operator]
            put("machine memory taken (MemAvailable before − after)", f"{drop:,.0f} MB")
        else:
            put("machine memory taken (MemAvailable before − after)", "—")
        put("the hub and its proxy (PSS)", f"{row.get('hub_mb', 0):.0f} MB")
        trips = [t for s in seats for t in s.round_trips]
        put(
            f"a cell's round trip, all kernels at once, {rounds} each (median; p90; max)",
            _ms(trips),
        )
        failed = [s for s in seats if s.error]
        note = row.get("stopped") or ""
        if failed:
            note = f"{len(failed)} failed, e.g. {failed[0].name}: {failed[0].error}" + (
                f"; {note}" if note else ""
            )
        put("stopped or failed", str(note) or "none")
    header = "| measure | " + " | ".join(f"{r['n']} learners" for r in rows) + " |"
    lines = [header, "|---|" + "---:|" * len(rows)]
    lines += [f"| {name} | " + " | ".join(values) + " |" for name, values in measures.items()]
    return "\n".join(lines)


def settle(quiet: float = 3.0, patience: float = 600) -> None:
    """Wait (a while) for the last run's teardown and start-up work to leave the CPUs."""
    deadline = time.monotonic() + patience
    while os.getloadavg()[0] >= quiet and time.monotonic() < deadline:
        print(f"  waiting for the load to settle: {os.getloadavg()[0]:.1f}", flush=True)
        time.sleep(30)


def main(sizes: list[int], rounds: int, write: bool) -> int:
    problem = hd.environment_problem()
    if problem:
        print(f"bench/hub.py --learners: {problem}", file=sys.stderr)
        return 1
    rows = []
    for number, n in enumerate(sizes):
        if number:
            settle()
        rows.append(run_one(n, rounds))
        if rows[-1].get("stopped"):
            print(
                f"{n} learners: stopped: {rows[-1]['stopped']}; larger classes not tried",
                flush=True,
            )
            break
    m = bench.machine_info(None)
    mem_total = int(Path("/proc/meminfo").read_text().split()[1]) / 1024 / 1024
    text = "\n".join(
        [
            f"Machine: {m['nproc']} CPUs ({m['cpu']}), {mem_total:.0f} GiB, {m['system']}; "
            f"JupyterHub from {hd.PREFIX}.",
            f"Run on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
            "",
            table(rows, rounds),
        ]
    )
    print()
    print(text)
    if write:
        bench.write_readme(
            text, START, END, "A real workshop: JupyterHub, JupyterLab, kernels, engines"
        )
        print(f"\nwritten to {bench.README.relative_to(bench.ROOT)}")
    return 0

"""``GET /containers/{id}/stats``: what ``docker stats`` shows, for simulated processes.

A simulated container uses no real CPU or memory, so the numbers are small and
steady (a few hundred KiB per process, no CPU), but the document has dockerd's
shape, so ``docker stats`` and the SDK read it as they would a real one. A
container that is not running gets dockerd's all-zero document.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from labkit.engine.model.clock import NS, ZERO_TIME, rfc3339
from labkit.engine.replies import JSONReply, Reply, Request, StreamReply

MEMORY_LIMIT = 2 << 30  # what the lab engine says a container may use
PROCESS_MEMORY = 256 << 10  # what it says each simulated process uses
ONLINE_CPUS = 2
_BLKIO = (
    "io_service_bytes_recursive",
    "io_serviced_recursive",
    "io_queue_recursive",
    "io_service_time_recursive",
    "io_wait_time_recursive",
    "io_merged_recursive",
    "io_time_recursive",
    "sectors_recursive",
)
_THROTTLING = {"periods": 0, "throttled_periods": 0, "throttled_time": 0}


def _cpu(running: bool, system_ns: int) -> dict[str, Any]:
    usage = {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0}
    out: dict[str, Any] = {"cpu_usage": usage, "throttling_data": dict(_THROTTLING)}
    if running:
        usage["percpu_usage"] = [0] * ONLINE_CPUS
        out["system_cpu_usage"] = system_ns
        out["online_cpus"] = ONLINE_CPUS
    return out


def _process_count(engine: Any, c: Any) -> int:
    """The container's processes, as ``docker top`` lists them (without its event)."""
    count = len(c.process.top())
    for exec_ in engine.execs.values():
        if exec_.cid == c.id and exec_.running and exec_.process is not None:
            count += len(exec_.process.top())
    return count


def stats_doc(engine: Any, c: Any, read_ns: int, pre_ns: int) -> dict[str, Any]:
    """One stats document, shaped like dockerd's (cgroup v1 keys)."""
    running = c.running and c.process is not None
    procs = _process_count(engine, c) if running else 0
    doc: dict[str, Any] = {
        "read": rfc3339(read_ns) if running else ZERO_TIME,
        "preread": rfc3339(pre_ns) if running and pre_ns else ZERO_TIME,
        "pids_stats": {"current": procs} if running else {},
        "blkio_stats": {key: [] if running else None for key in _BLKIO},
        "num_procs": 0,
        "storage_stats": {},
        "cpu_stats": _cpu(running, read_ns * ONLINE_CPUS),
        "precpu_stats": _cpu(running and bool(pre_ns), pre_ns * ONLINE_CPUS),
        "memory_stats": {},
        "name": c.doc["name"],
        "id": c.id,
    }
    if running:
        used = procs * PROCESS_MEMORY
        doc["memory_stats"] = {
            "usage": used,
            "max_usage": used,
            "stats": {"cache": 0, "rss": used},
            "limit": MEMORY_LIMIT,
        }
        doc["networks"] = {
            "eth0": {
                "rx_bytes": 0,
                "rx_packets": 0,
                "rx_errors": 0,
                "rx_dropped": 0,
                "tx_bytes": 0,
                "tx_packets": 0,
                "tx_errors": 0,
                "tx_dropped": 0,
            }
        }
    return doc


def _encode(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode() + b"\n"


async def container_stats(req: Request, id: str) -> Reply:
    """One document (``stream=false`` or ``one-shot``), else one a second until it stops."""
    engine = req.engine
    c = engine.container(id)
    if not req.flag("stream", True):
        now = engine.now()
        pre = 0 if req.flag("one-shot") else now - NS
        return JSONReply(stats_doc(engine, c, now, pre))

    async def pieces() -> AsyncIterator[bytes]:
        previous = 0
        while True:
            now = engine.now()
            yield _encode(stats_doc(engine, c, now, previous))
            if not c.running or c.removed:
                return
            previous = now
            await asyncio.sleep(1.0)

    return StreamReply(pieces())


ROUTES = [("GET", "/containers/{id}/stats", container_stats)]

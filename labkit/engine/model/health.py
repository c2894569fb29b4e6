"""Healthchecks (``Config.Healthcheck``): the probe dockerd runs in a running container,
and the State.Health it keeps (moby's daemon/health.go, its numbers and words)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from labkit.engine.model.errors import StateNotSaved

log = logging.getLogger("labkit.engine.model")

NS = 1_000_000_000
DEFAULT_INTERVAL = 30 * NS
DEFAULT_TIMEOUT = 30 * NS
DEFAULT_START_INTERVAL = 5 * NS
DEFAULT_RETRIES = 3
MAX_OUTPUT = 4096
MAX_LOG = 5
DEFAULT_SHELL = ["/bin/sh", "-c"]


def probe_argv(config: dict[str, Any], shell: list[str] | None = None) -> list[str] | None:
    """The probe's command: ``CMD`` runs its words, ``CMD-SHELL`` its text in the shell;
    None for ``NONE``, an empty test or a kind dockerd does not know."""
    test = list((config.get("Healthcheck") or {}).get("Test") or [])
    if not test:
        return None
    kind, words = test[0], test[1:]
    if kind == "CMD" and words:
        return words
    if kind == "CMD-SHELL" and words:
        return [*(shell or config.get("Shell") or DEFAULT_SHELL), " ".join(words)]
    return None


def reset(state: dict[str, Any]) -> None:
    """A (re)started container's health: starting, no failures, its old log kept."""
    health = state.get("Health") or {}
    state["Health"] = {"Status": "starting", "FailingStreak": 0, "Log": health.get("Log") or []}


def stop(c: Any) -> None:
    """The monitor ends with the run; dockerd then shows the health as unhealthy."""
    task = c.health
    c.health = None
    if task is not None:
        task.cancel()
        if c.state.get("Health"):
            c.state["Health"]["Status"] = "unhealthy"


def start(engine: Any, c: Any) -> asyncio.Task[None]:
    """The monitor of one run, as a task that ends (is cancelled) with the run; a failure
    goes to the engine's log and leaves the health as it was."""
    task = asyncio.get_running_loop().create_task(monitor(engine, c))

    def ended(task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("the healthcheck of %s failed", c.short, exc_info=task.exception())

    task.add_done_callback(ended)
    return task


def _seconds(config: dict[str, Any], key: str, default: int) -> float:
    return ((config.get("Healthcheck") or {}).get(key) or default) / NS


async def monitor(engine: Any, c: Any) -> None:
    """Probe every Interval (StartInterval while starting within StartPeriod) until the run
    ends; each result goes to State.Health, each change of status to an event."""
    config = c.config
    interval = _seconds(config, "Interval", DEFAULT_INTERVAL)
    start_interval = _seconds(config, "StartInterval", DEFAULT_START_INTERVAL)
    start_period = _seconds(config, "StartPeriod", 0)
    loop = asyncio.get_running_loop()
    began = loop.time()
    while True:
        wait = interval
        in_start = loop.time() - began < start_period
        if (
            in_start
            and c.state["Health"]["Status"] == "starting"
            and config["Healthcheck"].get("StartInterval")
        ):
            wait = start_interval
        await asyncio.sleep(wait)
        if c.vfs is None or c.status != "running":
            if c.status == "paused":
                continue
            return
        started = engine.now()
        code, output = await run_probe(engine, c)
        if c.health is None or c.vfs is None:
            return  # the run ended while the probe ran
        record(engine, c, started, code, output, loop.time() - began < start_period)


async def run_probe(engine: Any, c: Any) -> tuple[int, str]:
    """One probe, as an exec dockerd does not keep: its exit code and first 4 KiB of output."""
    argv = probe_argv(c.config)
    if argv is None:
        return -1, f"healthcheck for container {c.id} has no command"
    exec_id = engine.ids.new_id()
    attrs = c.event_attributes(execID=exec_id)
    engine.note("container", f"exec_create: {argv[0]} {' '.join(argv[1:])}", c.id, attrs)
    env = engine.process_env(c)
    if engine.process_class.resolve(argv, c.vfs, env) is None:
        reason = engine.missing_executable(argv).split("unable to start container process: ")[1]
        return (
            -1,
            f"OCI runtime exec failed: exec failed: unable to start container process: {reason}",
        )
    output = bytearray()

    def collect(_stream: int, data: bytes) -> None:
        output.extend(data[: max(0, MAX_OUTPUT - len(output))])

    process = engine.process_class(
        argv,
        fs=c.vfs,
        env=env,
        cwd=c.config.get("WorkingDir") or "/",
        hostname=c.config.get("Hostname") or c.short,
        user=c.config.get("User") or "root",
        tty=False,
        clock=engine.clock.time,
        on_output=collect,
        **engine._process_extras(c.memory, None),
    )
    process.close_stdin()
    engine.note("container", f"exec_start: {argv[0]} {' '.join(argv[1:])}", c.id, attrs)
    process.start()
    timeout = _seconds(c.config, "Timeout", DEFAULT_TIMEOUT)
    try:
        code = await asyncio.wait_for(asyncio.shield(process.wait()), timeout)
    except asyncio.CancelledError:  # the run ended: so does its probe
        with contextlib.suppress(Exception):
            process.signal(9)
        raise
    except asyncio.TimeoutError:
        with contextlib.suppress(Exception):
            process.signal(9)
        text = output.decode("utf-8", "replace")
        message = f"Health check exceeded timeout ({go_duration(timeout)})"
        return -1, f"{message}: {text}" if text else message
    engine.note(
        "container", "exec_die", c.id, c.event_attributes(execID=exec_id, exitCode=str(code))
    )
    return code, output.decode("utf-8", "replace")


def go_duration(seconds: float) -> str:
    """A duration as Go's time.Duration prints it (``500ms``, ``2s``, ``1m30s``)."""
    if seconds < 1:
        return f"{seconds * 1000:g}ms"
    minutes, rest = divmod(seconds, 60)
    if not minutes:
        return f"{rest:g}s"
    return f"{int(minutes)}m{rest:g}s"


def record(engine: Any, c: Any, started: int, code: int, output: str, in_start: bool) -> None:
    """moby's handleProbeResult: the log (last 5), the failing streak, the status, the event."""
    health = c.state["Health"]
    entry = {"Start": started, "End": engine.now(), "ExitCode": code, "Output": output}
    health["Log"] = [*health["Log"], entry][-MAX_LOG:]
    before = health["Status"]
    retries = (c.config.get("Healthcheck") or {}).get("Retries") or DEFAULT_RETRIES
    if code == 0:
        health["FailingStreak"] = 0
        health["Status"] = "healthy"
    elif not (before == "starting" and in_start):
        health["FailingStreak"] += 1
        if health["FailingStreak"] >= retries:
            health["Status"] = "unhealthy"
    try:
        with engine.store.tx():
            engine._save(c)
            if health["Status"] != before:
                action = f"health_status: {health['Status']}"
                engine.events.emit("container", action, c.id, c.event_attributes())
    except StateNotSaved as exc:
        log.warning("the health of %s was not saved: %s", c.short, exc.message)

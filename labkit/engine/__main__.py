"""The lab engine process: ``python -m labkit.engine serve --home DIR``.

``labkit engine start`` runs this in the background; run it in a terminal to
watch the engine's log as it serves. It holds a lock in DIR for as long as it
lives, so that two engines never share a socket and a crashed one is easy to
tell from a running one.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import os
import signal
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from labkit import paths
from labkit.engine import control, private, statecheck, tcp

log = logging.getLogger("labkit.engine")

EXIT_ALREADY_RUNNING = 3
EXIT_STATE_DAMAGED = control.EXIT_STATE_DAMAGED
LOG_LEVELS = ("debug", "info", "warning", "error")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m labkit.engine",
        description="The lab engine: a Docker Engine API server on a private Unix socket.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = sub.add_parser("serve", help="serve the Engine API in the foreground")
    serve.add_argument(
        "--home",
        type=Path,
        default=None,
        help="the engine's folder: socket, pidfile, log, state (default: labkit's engine folder)",
    )
    serve.add_argument(
        "--socket", type=Path, default=None, help="listen here instead of HOME/engine.sock"
    )
    tcp.add_arguments(serve)
    serve.add_argument(
        "--fresh",
        action="store_true",
        help="start with an empty state, keeping the previous state.db aside (renamed)",
    )
    serve.add_argument(
        "--log-level",
        default=None,
        choices=LOG_LEVELS,
        help="how much to log (default: LABKIT_ENGINE_LOG, else info)",
    )
    return parser


class _UTCFormatter(logging.Formatter):
    converter = time.gmtime

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        t = self.converter(record.created)
        return time.strftime("%Y-%m-%dT%H:%M:%S", t) + f".{int(record.msecs):03d}Z"


def setup_logging(level: str | None) -> None:
    """Log to stderr (``labkit engine start`` sends it to the log file), times in UTC."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_UTCFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    wrong = None
    if level is None:
        level = os.environ.get("LABKIT_ENGINE_LOG", "") or "info"
        if level.lower() not in LOG_LEVELS:
            wrong, level = level, "info"
    root.setLevel(level.upper())
    if wrong is not None:
        log.warning("LABKIT_ENGINE_LOG=%r is not one of %s: logging at info", wrong, LOG_LEVELS)


def _number_from_env(
    env: Mapping[str, str] | None,
    name: str,
    parse: Callable[[str], float],
    valid: Callable[[float], bool],
    meaning: str,
) -> float | None:
    """A numeric setting from the environment; None when unset, or (with a warning in the
    engine's log) when it is not ``meaning``."""
    text = (os.environ if env is None else env).get(name, "")
    if not text:
        return None
    try:
        value = parse(text)
    except ValueError:
        value = None
    if value is None or not valid(value):
        log.warning("%s=%r is not %s: ignored", name, text, meaning)
        return None
    return value


def max_body_from_env(env: Mapping[str, str] | None = None) -> int | None:
    """``LABKIT_ENGINE_MAX_BODY``: the largest request body, in bytes."""
    value = _number_from_env(
        env, "LABKIT_ENGINE_MAX_BODY", int, lambda n: n >= 0, "a number of bytes"
    )
    return None if value is None else int(value)


def read_timeout_from_env(env: Mapping[str, str] | None = None) -> float | None:
    """``LABKIT_ENGINE_READ_TIMEOUT``: seconds a half-received request may stall (0: no limit)."""
    value = _number_from_env(
        env, "LABKIT_ENGINE_READ_TIMEOUT", float, math.isfinite,
        "a number of seconds (0 turns the limit off)",
    )  # fmt: skip
    return None if value is None else max(value, 0.0)


def poll_window_from_env(env: Mapping[str, str] | None = None) -> float | None:
    """``LABKIT_ENGINE_POLL_US``: microseconds to keep polling after a request (0: never)."""
    value = _number_from_env(
        env, "LABKIT_ENGINE_POLL_US", int, lambda n: 0 <= n <= 100_000,
        "a whole number of microseconds from 0 to 100000",
    )  # fmt: skip
    return None if value is None else value / 1e6


async def listen_tcp(server: Any, listen: tcp.TCPListen) -> tuple[str, str]:
    """The TCP listener (TLS with client verification, or plain on loopback): the URL a
    client here uses, and the address it is bound to."""
    context = None
    if listen.tls is not None:
        from labkit.transport.tlscerts import server_context

        context = server_context(listen.tls.ca, listen.tls.cert, listen.tls.key)
        bound = await server.listen_tcp(listen.bind_host(), listen.port, context)
    else:
        bound = await server.listen_tcp(
            listen.bind_host(), listen.port, admit=tcp.stranger, screen=tcp.browser_problem
        )
    url = tcp.client_url(bound[0], bound[1])
    if context is None:
        for line in tcp.warning_lines(url):
            log.warning("%s", line)
        if not os.path.exists("/proc/net/tcp"):
            log.warning("this system has no /proc/net/tcp: any local user's program can connect")
    else:
        log.info("listening on tcp://%s with TLS: only clients with a certificate from %s "
                 "get in", tcp.format_address(bound[0], bound[1]), listen.tls.ca)  # fmt: skip
    return url, tcp.format_address(bound[0], bound[1])


async def serve(home: Path, sock_path: Path, listen: tcp.TCPListen | None = None) -> int:
    """Listen, write the pidfile, serve until SIGTERM or SIGINT, then clean up."""
    from labkit.engine.app import App, settings_from_env
    from labkit.engine.server import Limits, Server

    limits = Limits()
    max_body = max_body_from_env()
    if max_body is not None:
        limits.max_body = max_body
    read_timeout = read_timeout_from_env()
    if read_timeout is not None:
        limits.read_timeout = read_timeout
    poll_window = poll_window_from_env()
    if poll_window is not None:
        limits.poll_window = poll_window
    app = App()
    server = Server(app, limits)
    try:
        # We hold the lock: a socket nobody answers on was left by an engine that died.
        if control.remove_stale_socket(sock_path):
            log.info("removed a stale socket left at %s", sock_path)
        tcp.remove_state(home)  # an engine that died may have left it: it says nothing now
        if listen is not None:  # first: if it cannot be, the engine does not start at all
            url, address = await listen_tcp(server, listen)
        await server.listen_unix(sock_path)
        if listen is not None:
            tcp.write_state(home, url, listen.tls, address)  # what labkit engine env prints
    except control.EngineError as exc:
        log.error("%s", exc)
        return 1
    except OSError as exc:
        where = sock_path if exc.filename else f"{sock_path} or {listen and listen.args()[1]}"
        log.error("cannot listen on %s: %s", where, exc.strerror or exc)
        return 1
    except Exception as exc:  # a TLS file that cannot be loaded (TLSSetupError)
        log.error("%s", exc)
        return 2
    bound = control.socket_identity(sock_path)
    control.write_pidfile(home, os.getpid())
    log.info("listening on unix://%s (pid %d)", sock_path, os.getpid())
    stop = asyncio.Event()
    damaged: list[str] = []

    def on_damage(reason: str) -> None:
        damaged.append(reason)
        stop.set()

    app.on_damage = on_damage
    app.start(home, **settings_from_env())

    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    log.info("stopping")
    try:
        await server.close()
        await app.close()
    finally:
        control.remove_if_ours(home, os.getpid(), sock_path, bound)
        if listen is not None:
            tcp.remove_state(home)
    if damaged:
        state = home / control.STATE_NAME
        kept = statecheck.set_aside(state)
        log.error(
            "the lab engine's state %s is damaged: SQLite cannot read it (%s). It is kept as %s "
            "and the engine stopped; to start with an empty state: labkit engine start --fresh",
            state, damaged[0], kept,
        )  # fmt: skip
        return EXIT_STATE_DAMAGED
    log.info("stopped")
    return 0


def main(argv: list[str] | None = None) -> int:
    # Whatever the engine makes (SQLite's files, logs, volumes) is owner-only, even where
    # it does not say so itself: the caller's umask (0 on some hubs) does not reach it.
    os.umask(0o077)
    args = build_parser().parse_args(argv)
    setup_logging(args.log_level)
    try:
        home = args.home if args.home is not None else control.engine_home()
        private.check_home(home)
        paths.make_private_dirs(home)
        private.check_home(home)
        control.check_own_files(home)
        sock_path = args.socket if args.socket is not None else control.socket_in(home)
        control.check_socket_path(sock_path)
        listen = tcp.from_args(args)
    except (control.EngineError, private.UnsafeHome, tcp.TCPRefused) as exc:
        log.error("%s", exc)
        return 2
    except OSError as exc:
        log.error("%s", control.home_problem(home, exc))
        return 2
    try:
        lock = control.acquire_lock(home)
    except control.EngineError as exc:
        log.error("%s", exc)
        return 2
    except OSError as exc:
        log.error("%s", control.home_problem(home, exc))
        return 2
    if lock is None:
        log.error("another lab engine already holds %s: not starting a second one", home)
        return EXIT_ALREADY_RUNNING
    try:
        for note in statecheck.check_state(
            home / control.STATE_NAME, fresh=args.fresh, thorough=False
        ):
            log.info("%s", note)
    except statecheck.StateDamaged as exc:
        log.error("%s", exc)
        os.close(lock)
        return EXIT_STATE_DAMAGED
    except OSError as exc:
        log.error("%s", control.home_problem(home, exc))
        os.close(lock)
        return 2
    from labkit.engine.server import loop_name, run

    log.info(
        "lab engine starting in %s on %s (python %s)", home, loop_name(), sys.version.split()[0]
    )
    try:
        return run(serve(home, sock_path, listen))
    except Exception:
        log.exception("the lab engine crashed")
        return 1
    finally:
        os.close(lock)


if __name__ == "__main__":
    raise SystemExit(main())

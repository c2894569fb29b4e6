"""``labkit sniff``: listen on a socket, forward to the engine, print every byte that crosses.

The classic way to watch a Docker client is socat::

    socat -v UNIX-LISTEN:/tmp/x.sock,fork UNIX-CONNECT:/var/run/docker.sock

``labkit sniff`` does the same with :class:`labkit.proxy.recorder.Recorder`, and reads the
HTTP while it prints: each exchange ends with a one-line summary, and the framed output of
a ``docker run`` or ``docker attach`` is shown as ``[stdout] …`` / ``[stderr] …``.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time

from labkit.lessons.traffic_view import TrafficPrinter
from labkit.proxy.recorder import Exchange, Recorder, RecorderError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--engine",
        metavar="URL",
        help="the engine to forward to (unix:///path or tcp://host:port; default: the "
        "engine the lab uses, as `labkit doctor` finds it)",
    )
    parser.add_argument(
        "--socket",
        metavar="PATH",
        help="where to listen (default: proxy.sock in a new private temporary folder)",
    )
    parser.add_argument(
        "--tcp",
        metavar="PORT",
        type=int,
        help="also listen on 127.0.0.1 at this port (0: any free port); never on the network",
    )
    parser.add_argument(
        "--count", metavar="N", type=int, help="stop after N exchanges (default: until Ctrl-C)"
    )
    parser.add_argument(
        "--timeout", metavar="SECONDS", type=float, help="stop after this many seconds"
    )
    parser.add_argument(
        "--summary", action="store_true", help="one line per exchange instead of every byte"
    )
    parser.add_argument(
        "--body-limit",
        metavar="BYTES",
        type=int,
        default=2048,
        help="print at most this many bytes of each piece (default: 2048; 0: no limit)",
    )


def _engine_url(args: argparse.Namespace) -> tuple[str, str]:
    """(URL, words for the banner) of the engine to forward to."""
    if args.engine:
        return args.engine, args.engine
    from labkit.lab import connect

    lab = connect()
    return lab.docker_host, lab.describe()


def run(args: argparse.Namespace) -> int:
    if args.count is not None and args.count < 1:
        print("labkit sniff: --count must be 1 or more", file=sys.stderr)
        return 2
    try:
        url, words = _engine_url(args)
    except Exception as exc:  # EngineNotFound, a bad LABKIT_ENGINE...: say it, do not trace
        print(f"labkit sniff: no engine to forward to: {exc}", file=sys.stderr)
        return 1
    done = threading.Event()
    seen = 0
    printer = TrafficPrinter(0.0, body_limit=args.body_limit or None, summary_only=args.summary)

    def on_exchange(exchange: Exchange) -> None:
        nonlocal seen
        printer.exchange(exchange)
        seen += 1
        if args.count is not None and seen >= args.count:
            done.set()

    try:
        recorder = Recorder(
            url,
            args.socket,
            tcp_port=args.tcp,
            on_chunk=printer.chunk,
            on_exchange=on_exchange,
            on_problem=printer.problem,
            keep=False,  # everything is printed as it comes: nothing to keep
        ).start()
    except (RecorderError, ValueError) as exc:
        print(f"labkit sniff: {exc}", file=sys.stderr)
        return 1
    printer.started_at = recorder.started_at
    _print_banner(recorder, words)
    _stop_on_signals(done)
    try:
        _wait(done, args.timeout)
    except KeyboardInterrupt:
        print()
    finally:
        recorder.stop()
    print(
        f"labkit sniff: stopped; recorded {seen} exchanges on "
        f"{recorder.connections_opened} connections.",
        flush=True,
    )
    return 0


def _print_banner(recorder: Recorder, engine: str) -> None:
    lines = [
        f"labkit sniff: recording the traffic to {engine}",
        "Point a client at the recorder, e.g. in another terminal:",
        f"    export DOCKER_HOST={recorder.docker_host}",
    ]
    if recorder.tcp_url:
        lines.append(f"    (or DOCKER_HOST={recorder.tcp_url})")
    lines += ["    docker version", "Press Ctrl-C to stop.", ""]
    print("\n".join(lines), flush=True)


def _stop_on_signals(done: threading.Event) -> None:
    """Ctrl-C (SIGINT) and SIGTERM stop the recording cleanly.

    SIGINT gets Python's usual handler back even when the parent started us with it
    ignored (as a shell does for a command run in the background with ``&``).
    """
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, lambda *_: done.set())


def _wait(done: threading.Event, timeout: float | None) -> None:
    deadline = None if timeout is None else time.monotonic() + timeout
    while not done.is_set():
        left = 0.5 if deadline is None else min(0.5, deadline - time.monotonic())
        if left <= 0:
            return
        done.wait(left)  # short waits, so that Ctrl-C is noticed at once

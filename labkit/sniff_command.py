"""``labkit sniff``: listen on a socket, forward to the engine, print every byte that crosses.

The classic way to watch a Docker client is socat::

    socat -v UNIX-LISTEN:/tmp/x.sock,fork UNIX-CONNECT:/var/run/docker.sock

``labkit sniff`` does the same with :class:`labkit.proxy.recorder.Recorder`, and reads the
HTTP while it prints: each exchange ends with a one-line summary, and the framed output of
a ``docker run`` or ``docker attach`` is shown as ``[stdout] …`` / ``[stderr] …``.

``--tcp`` adds a TCP listener on 127.0.0.1, and only with TLS client verification: every user
of a machine can connect to its loopback, so a plain TCP proxy in front of an engine would be
lesson 06's exposed daemon, open to all of them. By default a fresh CA and certificates are
made for the session in a private folder (only you can read the client key) and removed at
the end; ``--tlscacert/--tlscert/--tlskey`` use your own, as dockerd's flags of those names.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import ssl
import sys
import tempfile
import threading
import time
from pathlib import Path

from labkit.lessons.traffic_view import TrafficPrinter
from labkit.proxy.recorder import Exchange, Recorder, RecorderError
from labkit.transport import tlscerts
from labkit.transport.tlscerts import TLSSetupError


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
        help="also listen on 127.0.0.1 at this port (0: any free port), with TLS that admits "
        "only clients holding this session's client certificate; never on the network",
    )
    parser.add_argument(
        "--tlscacert",
        metavar="FILE",
        help="with --tcp: admit clients whose certificate this CA signed (default: a fresh CA)",
    )
    parser.add_argument("--tlscert", metavar="FILE", help="with --tcp: the listener's certificate")
    parser.add_argument("--tlskey", metavar="FILE", help="with --tcp: the listener's key")
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
    try:
        tls, cert_folder = _tls_for(args)
    except (TLSSetupError, ValueError) as exc:
        print(f"labkit sniff: {exc}", file=sys.stderr)
        return 1
    done = threading.Event()
    _stop_on_signals(done)  # before the socket appears: a signal right after it stops us too
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
            tls=tls,
            on_chunk=printer.chunk,
            on_exchange=on_exchange,
            on_problem=printer.problem,
            keep=False,  # everything is printed as it comes: nothing to keep
        ).start()
    except (RecorderError, ValueError) as exc:
        print(f"labkit sniff: {exc}", file=sys.stderr)
        _remove_certs(cert_folder)
        return 1
    printer.started_at = recorder.started_at
    _print_banner(recorder, words, cert_folder or _own_cert_hint(args))
    try:
        _wait(done, args.timeout)
    except KeyboardInterrupt:
        print()
    finally:
        recorder.stop()
        _remove_certs(cert_folder)
    print(
        f"labkit sniff: stopped; recorded {seen} exchanges on "
        f"{recorder.connections_opened} connections.",
        flush=True,
    )
    return 0


def _tls_for(args: argparse.Namespace) -> tuple[ssl.SSLContext | None, Path | None]:
    """The TCP listener's TLS (client certificates required), and the folder of the
    session's own certificates when labkit made them (None: none made)."""
    own = (args.tlscacert, args.tlscert, args.tlskey)
    if args.tcp is None:
        if any(own):
            raise ValueError("--tlscacert, --tlscert and --tlskey go with --tcp PORT")
        return None, None
    if any(own):
        if not all(own):
            raise ValueError(
                "give all of --tlscacert, --tlscert and --tlskey, or none of them "
                "(labkit then makes a CA and certificates for this session)"
            )
        return tlscerts.server_context(Path(own[0]), Path(own[1]), Path(own[2])), None
    folder = Path(tempfile.mkdtemp(prefix="labkit-sniff-tls-"))
    try:
        bundle = tlscerts.write_bundle(folder)
        context = tlscerts.server_context(bundle.ca, bundle.server_cert, bundle.server_key)
    except BaseException:
        _remove_certs(folder)
        raise
    return context, folder


def _own_cert_hint(args: argparse.Namespace) -> str | None:
    """With your own certificates: where the client's files are is yours to say."""
    return "<a folder with your ca.pem, cert.pem and key.pem>" if args.tlscacert else None


def _remove_certs(folder: Path | None) -> None:
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)


def _print_banner(recorder: Recorder, engine: str, cert_path: Path | str | None) -> None:
    lines = [
        f"labkit sniff: recording the traffic to {engine}",
        "Point a client at the recorder, e.g. in another terminal:",
        f"    export DOCKER_HOST={recorder.docker_host}",
    ]
    if recorder.tcp_url:
        lines += [
            "or over TCP, with TLS: only a client holding this session's client certificate",
            "gets in (any user of this machine can reach 127.0.0.1, so plain TCP would let",
            "them all drive your engine):",
            f"    export DOCKER_HOST={recorder.tcp_url} DOCKER_TLS_VERIFY=1 "
            f"DOCKER_CERT_PATH={cert_path}",
        ]
    lines += ["    docker version", "Press Ctrl-C to stop.", ""]
    print("\n".join(lines), flush=True)


def _stop_on_signals(done: threading.Event) -> None:
    """Ctrl-C (SIGINT) and SIGTERM stop the recording cleanly.

    Both just set ``done``, even when the parent started us with SIGINT ignored (as a shell
    does for a command run in the background with ``&``), so that a signal that comes while
    the recorder is still starting stops it as cleanly as one that comes later.
    """
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: done.set())


def _wait(done: threading.Event, timeout: float | None) -> None:
    deadline = None if timeout is None else time.monotonic() + timeout
    while not done.is_set():
        left = 0.5 if deadline is None else min(0.5, deadline - time.monotonic())
        if left <= 0:
            return
        done.wait(left)  # short waits, so that Ctrl-C is noticed at once

"""``labkit guard``: an allow-list proxy in front of the engine (lesson 06's last defence).

    labkit guard --listen /tmp/guarded.sock --allow 'GET /_ping' --allow 'GET /images/json'

Then ``DOCKER_HOST=unix:///tmp/guarded.sock docker images`` works, and ``docker run``
is refused with 403 and a message saying which rule is missing. Every decision is
printed as it is made.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from labkit.proxy.guard import Decision, Guard, GuardError, parse_rule


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--listen", metavar="PATH", required=True, help="the guard's own socket")
    parser.add_argument(
        "--upstream",
        metavar="URL",
        help="the engine to protect (unix:///path or a path; default: the engine the lab uses)",
    )
    parser.add_argument(
        "--allow",
        metavar="RULE",
        action="append",
        default=[],
        help="let 'METHOD /path' through; * is one path segment, ** any number; repeat it",
    )
    parser.add_argument(
        "--rules", metavar="FILE", help="a file of rules, one per line (# starts a comment)"
    )
    parser.add_argument("--quiet", action="store_true", help="do not print each decision")


def rules_from(args: argparse.Namespace) -> list[str]:
    rules = list(args.allow)
    if args.rules:
        for line in Path(args.rules).read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                rules.append(line)
    return rules


def run(args: argparse.Namespace) -> int:
    try:
        rules = rules_from(args)
        for rule in rules:
            parse_rule(rule)
    except (GuardError, OSError) as exc:
        print(f"labkit guard: {exc}", file=sys.stderr)
        return 2
    if not rules:
        print(
            "labkit guard: no --allow rules: everything would be refused. Give at least one, "
            "e.g. --allow 'GET /_ping'",
            file=sys.stderr,
        )
        return 2
    upstream = args.upstream
    if not upstream:
        try:
            from labkit.lab import connect

            upstream = connect().docker_host
        except Exception as exc:  # no engine: say so in one line
            print(f"labkit guard: no engine to protect: {exc}", file=sys.stderr)
            return 1

    def show(decision: Decision) -> None:
        if not args.quiet:
            print(decision.line(), flush=True)

    try:
        guard = Guard(upstream, args.listen, rules, on_decision=show).start()
    except GuardError as exc:
        print(f"labkit guard: {exc}", file=sys.stderr)
        return 1
    print(f"labkit guard: {guard.docker_host} -> {upstream}, allowing:", flush=True)
    for rule in guard.policy.rules:
        print(f"  {rule.text}", flush=True)
    print(
        f"export DOCKER_HOST={guard.docker_host}   # in another terminal; Ctrl-C stops", flush=True
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        guard.stop()
    return 0

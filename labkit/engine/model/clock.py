"""The engine's clock: real time, or a fixed start that ticks deterministically.

Notebooks are checked by re-running them and comparing outputs (nbval), so every
timestamp the engine shows (Created, StartedAt, event times, log prefixes) must
come out the same on every run. ``LABKIT_CLOCK=2026-01-01T00:00:00Z`` starts the
clock at that instant and advances it by a fixed step on every reading.
"""

from __future__ import annotations

import os
import re
import time
from datetime import datetime, timedelta, timezone

from labkit.engine import goparse

NS = 1_000_000_000
STEP_NS = 1_000_000  # one millisecond per reading of a fixed clock
ZERO_TIME = "0001-01-01T00:00:00Z"  # what Go prints for a time that was never set

_ISO = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|z|[+-]\d{2}:\d{2})?$"
)


def parse_instant(text: str) -> int:
    """An ISO-8601 instant as nanoseconds since the epoch; ValueError says what is expected."""
    match = _ISO.match(text.strip())
    if not match:
        raise ValueError(
            f"LABKIT_CLOCK={text!r} is not an ISO-8601 instant; write e.g. 2026-01-01T00:00:00Z"
        )
    year, month, day, hour, minute, second, frac, zone = match.groups()
    tz = timezone.utc
    if zone and zone not in ("Z", "z"):
        sign = 1 if zone[0] == "+" else -1
        hours, minutes = int(zone[1:3]), int(zone[4:6])
        tz = timezone(sign * timedelta(hours=hours, minutes=minutes))
    moment = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), 0, tz)
    nanos = int((frac or "0").ljust(9, "0"))
    return int(moment.timestamp()) * NS + nanos


class Clock:
    """``now_ns()`` is the only reading; a fixed clock advances ``STEP_NS`` per reading."""

    def __init__(self, start_ns: int | None = None) -> None:
        self._next = start_ns
        self.fixed = start_ns is not None

    @classmethod
    def from_env(cls, value: str | None = None) -> Clock:
        value = os.environ.get("LABKIT_CLOCK", "") if value is None else value
        return cls(parse_instant(value) if value else None)

    def now_ns(self) -> int:
        if self._next is None:
            return time.time_ns()
        now = self._next
        self._next += STEP_NS
        return now

    def peek_ns(self) -> int | None:
        """A fixed clock's next reading, without moving it on; None for real time.

        For the HTTP Date header: reading the clock for every response would shift
        every later timestamp by how many requests came before it."""
        return self._next

    def time(self) -> float:
        """Seconds since the epoch, for the runtime's ``date``."""
        return self.now_ns() / NS

    def advance_past(self, ns: int) -> None:
        """After a restart, keep a fixed clock later than anything already recorded."""
        if self._next is not None and ns >= self._next:
            self._next = ns + STEP_NS


def rfc3339(ns: int) -> str:
    """Go's RFC3339Nano: trailing zeros of the fraction dropped (``…:05.1Z``, ``…:05Z``)."""
    if ns <= 0:
        return ZERO_TIME
    seconds, nanos = divmod(ns, NS)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    frac = f"{nanos:09d}".rstrip("0")
    return f"{base}.{frac}Z" if frac else f"{base}Z"


def rfc3339_fixed(ns: int) -> str:
    """RFC3339 with all nine digits, as dockerd prefixes log lines (``logs --timestamps``)."""
    seconds, nanos = divmod(max(ns, 0), NS)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{nanos:09d}Z"


def parse_api_time(value: str, now_ns: int) -> int:
    """dockerd's ``since``/``until`` values: unix seconds (``1700000000.5``), as dockerd
    reads them (``strconv.ParseInt`` on each part); and, as the docker CLI would turn
    them into those, RFC3339 and a duration back from now (``10m``, ``1h30m``).
    ValueError on anything else, with strconv's message, as dockerd gives it."""
    try:
        return goparse.timestamp_ns(value)
    except goparse.NumError as exc:
        refusal = exc
    value = value.strip()
    if re.fullmatch(r"(\d+(\.\d+)?(ns|us|ms|s|m|h))+", value) and len(value) < 64:
        units = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": NS, "m": 60 * NS, "h": 3600 * NS}
        total = 0.0
        for amount, _, unit in re.findall(r"(\d+(\.\d+)?)(ns|us|ms|s|m|h)", value):
            total += float(amount) * units[unit]
        return now_ns - int(total)
    try:
        return parse_instant(value)
    except (ValueError, OverflowError):
        raise ValueError(str(refusal)) from None


def human_duration(seconds: float) -> str:
    """How ``docker ps`` words an age ("Less than a second", "About a minute", "3 hours")."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    minutes = s // 60
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = round(s / 3600)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{hours // 24 // 365} years"

"""Linux signal names and numbers, as ``docker kill --signal`` accepts them.

Containers are Linux whatever the host is, so the table is fixed rather than
taken from the host's ``signal`` module (macOS numbers differ).
"""

from __future__ import annotations

from labkit.engine.model.errors import BadRequest

SIGNALS = {
    "HUP": 1,
    "INT": 2,
    "QUIT": 3,
    "ILL": 4,
    "TRAP": 5,
    "ABRT": 6,
    "IOT": 6,
    "BUS": 7,
    "FPE": 8,
    "KILL": 9,
    "USR1": 10,
    "SEGV": 11,
    "USR2": 12,
    "PIPE": 13,
    "ALRM": 14,
    "TERM": 15,
    "STKFLT": 16,
    "CHLD": 17,
    "CONT": 18,
    "STOP": 19,
    "TSTP": 20,
    "TTIN": 21,
    "TTOU": 22,
    "URG": 23,
    "XCPU": 24,
    "XFSZ": 25,
    "VTALRM": 26,
    "PROF": 27,
    "WINCH": 28,
    "IO": 29,
    "POLL": 29,
    "PWR": 30,
    "SYS": 31,
}
SIGKILL = 9
SIGTERM = 15


def parse_signal(text: str | None, default: int = SIGKILL) -> int:
    """``KILL``, ``SIGKILL`` or ``9``; 400 ``Invalid signal: X`` otherwise, like dockerd."""
    if text is None or text == "":
        return default
    if text.isascii() and text.isdigit():  # Go's digits only (Python's include others)
        number = int(text) if len(text) < 20 else 0
        if 0 < number <= 64:
            return number
        raise BadRequest(f"Invalid signal: {text}")
    name = text.upper()
    name = name[3:] if name.startswith("SIG") else name
    if name in SIGNALS:
        return SIGNALS[name]
    if name.startswith("RTMIN") or name.startswith("RTMAX"):
        try:
            offset = int(name[5:] or 0)
        except ValueError:
            raise BadRequest(f"Invalid signal: {text}") from None
        return 34 + offset if name.startswith("RTMIN") else 64 + offset
    raise BadRequest(f"Invalid signal: {text}")

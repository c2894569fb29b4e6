"""Linux signal names and numbers as busybox reads and prints them (``trap``, ``kill``).

Containers are Linux whatever the host is, so the table is fixed rather than taken from the
host's ``signal`` module. Where two names share a number, the one busybox prints comes first
in :data:`NAMES` (``ABRT`` for 6, ``POLL`` for 29).
"""

from __future__ import annotations

SIGHUP, SIGINT, SIGQUIT, SIGKILL, SIGTERM, SIGSTOP = 1, 2, 3, 9, 15, 19
NSIG = 65  # numbers 0 (the shell's EXIT) to 64

NAMES = {
    0: "EXIT", 1: "HUP", 2: "INT", 3: "QUIT", 4: "ILL", 5: "TRAP", 6: "ABRT", 7: "BUS",
    8: "FPE", 9: "KILL", 10: "USR1", 11: "SEGV", 12: "USR2", 13: "PIPE", 14: "ALRM",
    15: "TERM", 16: "STKFLT", 17: "CHLD", 18: "CONT", 19: "STOP", 20: "TSTP", 21: "TTIN",
    22: "TTOU", 23: "URG", 24: "XCPU", 25: "XFSZ", 26: "VTALRM", 27: "PROF", 28: "WINCH",
    29: "POLL", 30: "PWR", 31: "SYS",
}  # fmt: skip
_NUMBERS = {name: n for n, name in NAMES.items()} | {"IOT": 6, "IO": 29}


def number(spec: str) -> int | None:
    """``TERM``, ``sigterm``, ``15`` or ``EXIT`` (0): the signal's number, None if unknown."""
    if spec.isascii() and spec.isdigit():
        n = int(spec)
        return n if n < NSIG else None
    name = spec.upper()
    return _NUMBERS.get(name[3:] if name.startswith("SIG") else name)


def name(signum: int) -> str:
    """The name busybox prints for a number (the number itself when it has none)."""
    return NAMES.get(signum, str(signum))

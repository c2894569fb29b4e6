"""Is the engine's state (``state.db``) whole? Damage is found at start, said plainly, and the
damaged file is kept aside, never deleted.

A truncated or corrupted ``state.db`` used to be opened anyway, and every list then failed
with a 500 about ``NoneType``. Now:

- :func:`header_problem` reads the file's first 100 bytes (no SQLite needed, microseconds):
  the magic string, a page size, and a length that is a whole number of pages, at least as
  many as the header counts. The engine process runs it before it listens.
- :func:`thorough_problem` adds SQLite's own ``PRAGMA quick_check``; ``labkit engine start``
  runs it before it starts the engine (a few milliseconds for a learner's state).
- :func:`check_state` puts them together: a damaged ``state.db`` (with its ``-wal`` and
  ``-shm``) is renamed ``state.db.damaged-<UTC time>`` and :class:`StateDamaged` says what
  happened and the way on, ``labkit engine start --fresh``; until then a start without
  ``--fresh`` is refused again. ``--fresh`` keeps a healthy state aside the same way.

Standard library only (``sqlite3`` is imported only by the thorough check).
"""

from __future__ import annotations

import os
import struct
import time
from pathlib import Path

MAGIC = b"SQLite format 3\x00"
HEADER_SIZE = 100
COMPANIONS = ("-wal", "-shm", "-journal")
DAMAGED = "damaged"
SET_ASIDE = "set-aside"


class StateDamaged(RuntimeError):
    """The engine's state cannot be used; the message says what happened and what to do."""


def header_problem(path: Path) -> str | None:
    """What is wrong with the file's header or length, in plain words; None if it looks whole.

    A missing or empty file is fine: the engine makes a new state there."""
    try:
        size = os.lstat(path).st_size
        if size == 0:
            return None
        with open(path, "rb") as f:
            head = f.read(HEADER_SIZE)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"it cannot be read ({exc.strerror or exc})"
    if len(head) < HEADER_SIZE:
        return f"it is cut short: {size} bytes, less than a database's 100-byte header"
    if head[:16] != MAGIC:
        return f"it is not an SQLite database (it starts with {head[:16]!r})"
    page_size = struct.unpack(">H", head[16:18])[0]
    page_size = 65536 if page_size == 1 else page_size
    if page_size < 512 or page_size & (page_size - 1):
        return f"its header is garbled (a page size of {page_size} bytes)"
    if size % page_size:
        return f"it is cut short: {size} bytes is not a whole number of {page_size}-byte pages"
    pages = size // page_size
    counted, change, valid_for = struct.unpack(">I", head[28:32]), head[24:28], head[92:96]
    if change == valid_for and counted[0] > pages:
        return f"it is cut short: {pages} pages of the {counted[0]} its header counts"
    return None


def thorough_problem(path: Path) -> str | None:
    """:func:`header_problem`, then SQLite's ``quick_check`` over every page."""
    problem = header_problem(path)
    if problem is not None or not path.exists() or path.stat().st_size == 0:
        return problem
    import sqlite3

    try:
        db = sqlite3.connect(str(path))
        try:
            rows = db.execute("PRAGMA quick_check(3)").fetchall()
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        return f"SQLite cannot read it ({exc})"
    found = [" ".join(str(r[0]).split()) for r in rows]
    if found != ["ok"]:
        return "SQLite finds it damaged (" + "; ".join(found) + ")"
    return None


def set_aside(path: Path, why: str = DAMAGED) -> Path:
    """Rename the state (and its -wal, -shm) to ``<name>.<why>-<UTC time>``; the new name."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    kept = path.with_name(f"{path.name}.{why}-{stamp}")
    n = 1
    while os.path.lexists(kept):
        kept = path.with_name(f"{path.name}.{why}-{stamp}-{n}")
        n += 1
    for suffix in COMPANIONS:
        companion = path.with_name(path.name + suffix)
        if os.path.lexists(companion):
            os.replace(companion, kept.with_name(kept.name + suffix))
    os.replace(path, kept)
    return kept


def damaged_copies(path: Path) -> list[Path]:
    """The damaged states kept aside beside ``path``, oldest first."""
    prefix = f"{path.name}.{DAMAGED}-"
    try:
        names = os.listdir(path.parent)
    except OSError:
        return []
    found = [
        path.with_name(n) for n in names if n.startswith(prefix) and not n.endswith(COMPANIONS)
    ]
    return sorted(found, key=lambda p: p.name)


def check_state(path: Path, *, fresh: bool = False, thorough: bool = True) -> list[str]:
    """Refuse (StateDamaged) a damaged state, keeping it aside; notes on what was done.

    ``fresh``: start with an empty state, keeping the present one (damaged or not) aside.
    """
    if fresh:
        if not os.path.lexists(path):
            return []
        why = DAMAGED if header_problem(path) is not None else SET_ASIDE
        kept = set_aside(path, why)
        return [f"kept the previous state as {kept}; starting with an empty state"]
    if not os.path.lexists(path):
        copies = damaged_copies(path)
        if copies:
            raise StateDamaged(
                f"the lab engine's last state was damaged and is kept as {copies[-1]}; "
                "to start with an empty state (that copy stays): labkit engine start --fresh"
            )
        return []
    problem = (thorough_problem if thorough else header_problem)(path)
    if problem is None:
        return []
    kept = set_aside(path, DAMAGED)
    raise StateDamaged(
        f"the lab engine's state {path} is damaged: {problem}. It is kept as {kept} and the "
        "engine did not start; the containers, images, volumes and networks it recorded "
        "cannot be read back (volume folders stay in place). To start with an empty state: "
        "labkit engine start --fresh"
    )

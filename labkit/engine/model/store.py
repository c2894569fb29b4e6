"""The engine's state on disk: one SQLite file, ``<home>/state.db``.

WAL and ``synchronous=FULL`` make every committed transaction durable: the
engine can be killed at any moment (kill -9 included) and comes back with all
it had committed and nothing half-written. Records are JSON documents keyed by
id; container logs are rows, so that they never have to sit in memory.

Logs are written in batches (:meth:`Store.flush_logs`, which the engine calls a
fraction of a second after output, or sooner when much is waiting) and without a
disk sync of their own: a crash of the machine may lose the last moments of output,
never a committed change of state (the next state change's sync covers them too).
They are bounded per container and in total, oldest first, and the space they
leave is given back to the file system (``auto_vacuum=INCREMENTAL``).

A change that cannot be written (a full disk, a read-only file) must leave no trace:
:meth:`Store.tx` rolls the transaction back, hands the keys it touched to
``on_rollback`` (the model reloads them, so memory matches the disk again) and raises
:class:`StateNotSaved`; what was queued with :meth:`Store.after_commit` (events for
listeners, deleting a volume's files) runs only once the change is on disk.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from labkit.engine import private
from labkit.engine.model.errors import StateNotSaved

log = logging.getLogger("labkit.engine.model")

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS images(id TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS containers(id TEXT PRIMARY KEY, doc TEXT NOT NULL, upper TEXT);
CREATE TABLE IF NOT EXISTS logs(
    seq INTEGER PRIMARY KEY AUTOINCREMENT, cid TEXT NOT NULL,
    t INTEGER NOT NULL, stream INTEGER NOT NULL, data BLOB NOT NULL,
    lines INTEGER NOT NULL DEFAULT 1);
CREATE INDEX IF NOT EXISTS logs_by_container ON logs(cid, seq);
CREATE TABLE IF NOT EXISTS events(seq INTEGER PRIMARY KEY AUTOINCREMENT,
    t INTEGER NOT NULL, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS execs(id TEXT PRIMARY KEY, cid TEXT NOT NULL, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS volumes(name TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS networks(id TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS layers(id TEXT PRIMARY KEY, data BLOB NOT NULL);
"""

TABLES = {"images": "id", "containers": "id", "execs": "id", "volumes": "name", "networks": "id"}
MAX_EVENTS = 10_000  # older events are dropped; dockerd keeps far fewer
# Output kept per container. Past it the oldest lines go, a quarter of the limit at a time,
# as dockerd's json-file driver rotates with --log-opt max-size: a learner's endless
# `while true; do echo; done` must not fill the disk of a shared hub.
MAX_LOG_BYTES = 16 << 20
MAX_TOTAL_LOG_BYTES = 256 << 20  # all containers' output together
LOG_PAGE = 256  # rows read at a time (a row holds at most LOG_ROW bytes)
LOG_ROW = 16 << 10  # output is stored in rows of at most this (dockerd's 16 KiB messages)
ROW_COST = 128  # what a waiting row costs in memory beyond its bytes
VACUUM_PAGES = 512  # free pages given back to the file system at a time (a few ms)
VACUUM_KEEP = 1024  # free pages kept for new rows to reuse rather than given back
WAL_LIMIT = 8 << 20  # the write-ahead log is cut back to this after a checkpoint
_INT64_MAX = (1 << 63) - 1


def _clamp(ns: int | None) -> int | None:
    """A time for a query: SQLite integers are 64-bit."""
    return None if ns is None else max(-_INT64_MAX, min(ns, _INT64_MAX))


def _make_private(path: Path) -> None:
    """The database owner-only (0600) before SQLite opens it: SQLite gives its ``-wal``,
    ``-shm`` and ``-journal`` files the database's own mode, whatever the umask. A link
    where the database goes is refused, never followed."""
    fd = private.open_file(path, os.O_RDWR)
    os.close(fd)
    private.check_entries(path.parent, [path.name + s for s in ("-wal", "-shm", "-journal")])


def _dumps(doc: Any) -> str:
    return json.dumps(doc, separators=(",", ":"))


class Store:
    """A thin layer over sqlite3: documents, logs, events and a key-value ``meta``."""

    def __init__(
        self,
        path: Path,
        max_log_bytes: int = MAX_LOG_BYTES,
        max_total_log_bytes: int = MAX_TOTAL_LOG_BYTES,
    ) -> None:
        self.path = path
        self.max_log_bytes = max_log_bytes
        self.max_total_log_bytes = max_total_log_bytes
        self._log_sizes: dict[str, int] = {}  # bytes of output stored, per container
        _make_private(path)
        self.db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._incremental_vacuum()
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute(f"PRAGMA journal_size_limit={WAL_LIMIT}")
        self.db.execute("PRAGMA cache_size=-1024")  # 1 MB: memory matters more than speed
        self.db.executescript(SCHEMA)
        self._add_lines_column()
        self._depth = 0
        self._pending_logs: list[tuple[str, int, int, bytes, int]] = []
        self.pending_bytes = 0  # memory the output waiting for flush_logs takes
        self._freed = 0  # bytes deleted since space was last given back
        # Called with the ids of the containers whose output flush_logs has just written.
        self.on_flush: Callable[[set[str]], None] | None = None
        self._touched: set[tuple[str, str]] = set()  # (table, key) written in this transaction
        self._after: list[Callable[[], None]] = []
        self._doomed: sqlite3.Error | None = None  # a write failed: the transaction cannot commit
        # Called with the touched keys after a rollback, so the model can reload them.
        self.on_rollback: Callable[[set[tuple[str, str]]], None] | None = None
        self._count_logs()

    def _incremental_vacuum(self) -> None:
        """Have deleted pages given back to the file system on request (reclaim()). A file
        made before this needs one full VACUUM to change its mode."""
        try:
            if self.db.execute("PRAGMA auto_vacuum").fetchone()[0] == 2:
                return
            self.db.execute("PRAGMA auto_vacuum=INCREMENTAL")
            if self.db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
                self.db.execute("VACUUM")
        except sqlite3.Error as exc:
            log.warning("state.db keeps deleted space for reuse only (%s)", exc)

    def _add_lines_column(self) -> None:
        """Rows used to hold one line each; now a row holds the lines of one write."""
        columns = {row[1] for row in self.db.execute("PRAGMA table_info(logs)")}
        if "lines" not in columns:
            self.db.execute("ALTER TABLE logs ADD COLUMN lines INTEGER NOT NULL DEFAULT 1")

    def _count_logs(self) -> None:
        rows = self.db.execute("SELECT cid, sum(length(data)) FROM logs GROUP BY cid").fetchall()
        self._log_sizes = {cid: int(size or 0) for cid, size in rows}

    def close(self) -> None:
        self.flush_logs()
        self.db.close()

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """One transaction; nested uses join the outer one, so a model call commits once.

        A write that fails anywhere inside dooms the whole transaction, even if the caller
        swallowed the error: the outermost level rolls back and raises StateNotSaved.
        """
        if self._depth == 0:
            self._touched, self._after, self._doomed = set(), [], None
            try:
                self.db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise self._not_saved(exc) from exc
        elif self._doomed is not None:
            raise self._not_saved(self._doomed)
        self._depth += 1
        try:
            yield self.db
        except BaseException as exc:
            self._depth -= 1
            if isinstance(exc, sqlite3.Error) and self._doomed is None:
                self._doomed = exc
            if self._depth == 0:
                self._rollback()
                if isinstance(exc, sqlite3.Error):
                    raise self._not_saved(exc) from exc
            raise
        self._depth -= 1
        if self._depth == 0:
            if self._doomed is not None:
                self._rollback()
                raise self._not_saved(self._doomed)
            try:
                self.db.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                raise self._not_saved(exc) from exc
            after, self._after, self._touched = self._after, [], set()
            for callback in after:
                callback()

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once the current transaction is on disk (at once outside one)."""
        if self._depth == 0:
            callback()
        else:
            self._after.append(callback)

    def _touch(self, table: str, key: str) -> None:
        if self._depth > 0:
            self._touched.add((table, key))

    def _rollback(self) -> None:
        """Undo the transaction on disk, then let the model undo it in memory."""
        touched, self._touched, self._after = self._touched, set(), []
        if self.db.in_transaction:  # SQLite may have rolled back by itself (a full disk)
            with suppress(sqlite3.Error):
                self.db.execute("ROLLBACK")
        if self.on_rollback is not None:
            self.on_rollback(touched)

    def _not_saved(self, exc: sqlite3.Error) -> StateNotSaved:
        reason = str(exc) or type(exc).__name__
        return StateNotSaved(
            f"the lab engine could not save this change, so it did not make it: {reason} "
            f"(its state is in {self.path}); free some space there, or look at "
            "`labkit engine logs`, then try again"
        )

    def get_doc(self, table: str, key: str) -> dict[str, Any] | None:
        """One committed document, or None."""
        row = self.db.execute(f"SELECT doc FROM {table} WHERE {TABLES[table]}=?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    # documents -----------------------------------------------------------------
    def put(self, table: str, key: str, doc: Any) -> None:
        """Insert or replace one document (a container's ``upper`` column is kept)."""
        column = TABLES[table]
        with self.tx():
            self._touch(table, key)
            if table == "containers":
                self.db.execute(
                    "INSERT INTO containers(id, doc) VALUES (?, ?) "
                    "ON CONFLICT(id) DO UPDATE SET doc=excluded.doc",
                    (key, _dumps(doc)),
                )
            else:
                self.db.execute(
                    f"INSERT OR REPLACE INTO {table}({column}, doc) VALUES (?, ?)",
                    (key, _dumps(doc)),
                )

    def put_exec(self, eid: str, cid: str, doc: Any) -> None:
        with self.tx():
            self._touch("execs", eid)
            self.db.execute(
                "INSERT OR REPLACE INTO execs(id, cid, doc) VALUES (?, ?, ?)",
                (eid, cid, _dumps(doc)),
            )

    def delete(self, table: str, key: str) -> None:
        with self.tx():
            self._touch(table, key)
            self.db.execute(f"DELETE FROM {table} WHERE {TABLES[table]}=?", (key,))

    def all(self, table: str) -> list[dict[str, Any]]:
        rows = self.db.execute(f"SELECT doc FROM {table} ORDER BY rowid").fetchall()
        return [json.loads(doc) for (doc,) in rows]

    def put_upper(self, cid: str, upper: dict[str, Any]) -> None:
        with self.tx():
            self._touch("upper", cid)
            self.db.execute("UPDATE containers SET upper=? WHERE id=?", (_dumps(upper), cid))

    def get_upper(self, cid: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT upper FROM containers WHERE id=?", (cid,)).fetchone()
        return json.loads(row[0]) if row and row[0] else None

    # image layers (tars, by diff id) -------------------------------------------------
    def put_layer(self, diff_id: str, data: bytes) -> None:
        with self.tx():
            self._touch("layers", diff_id)
            self.db.execute("INSERT OR IGNORE INTO layers(id, data) VALUES (?, ?)", (diff_id, data))

    def get_layer(self, diff_id: str) -> bytes | None:
        row = self.db.execute("SELECT data FROM layers WHERE id=?", (diff_id,)).fetchone()
        return bytes(row[0]) if row else None

    def layer_ids(self) -> set[str]:
        return {key for (key,) in self.db.execute("SELECT id FROM layers").fetchall()}

    def delete_layer(self, diff_id: str) -> None:
        with self.tx():
            self._touch("layers", diff_id)
            self.db.execute("DELETE FROM layers WHERE id=?", (diff_id,))

    # meta ----------------------------------------------------------------------
    def get_meta(self, key: str, default: str | None = None) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else default

    def set_meta(self, key: str, value: str) -> None:
        with self.tx():
            self._touch("meta", key)
            self.db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    # events --------------------------------------------------------------------
    def add_event(self, t: int, doc: dict[str, Any]) -> None:
        with self.tx():
            cur = self.db.execute("INSERT INTO events(t, doc) VALUES (?, ?)", (t, _dumps(doc)))
            if cur.lastrowid and cur.lastrowid % 1000 == 0:
                self.db.execute("DELETE FROM events WHERE seq <= ?", (cur.lastrowid - MAX_EVENTS,))

    def events(self, since: int, until: int | None) -> list[dict[str, Any]]:
        sql, args = "SELECT doc FROM events WHERE t >= ?", [_clamp(since)]
        if until is not None:
            sql += " AND t <= ?"
            args.append(_clamp(until))
        rows = self.db.execute(sql + " ORDER BY seq", args).fetchall()
        return [json.loads(doc) for (doc,) in rows]

    # logs ------------------------------------------------------------------------
    def append_log(self, cid: str, t: int, stream: int, data: bytes) -> None:
        """Queued, written by :meth:`flush_logs`: a row of at most :data:`LOG_ROW` bytes, the
        lines of one write (the last maybe unfinished: it goes on in the next row)."""
        lines = data.count(b"\n") + (not data.endswith(b"\n"))
        self._pending_logs.append((cid, t, stream, data, lines))
        self.pending_bytes += len(data) + ROW_COST

    def flush_logs(self) -> set[str]:
        """Write the queued output in one transaction; the ids of the containers it was for.

        Past a container's limit its oldest rows go (down to three quarters of the limit),
        rows of this very batch included, so a burst bigger than the limit never reaches
        the disk whole; past the total limit, the biggest containers' oldest rows go.
        """
        if not self._pending_logs:
            return set()
        rows, self._pending_logs = self._pending_logs, []
        self.pending_bytes = 0
        added: dict[str, int] = {}
        for cid, _t, _stream, data, _lines in rows:
            added[cid] = added.get(cid, 0) + len(data)
        skip: dict[str, int] = {}  # per container: bytes of this batch that go unwritten
        clear: list[str] = []  # containers whose stored rows all go
        trim: dict[str, int] = {}  # containers whose oldest stored rows go, at least these bytes
        for cid, size in added.items():
            before = self._log_sizes.get(cid, 0)
            if before + size <= self.max_log_bytes:
                continue
            need = before + size - self.max_log_bytes * 3 // 4
            if need >= before:
                clear.append(cid)
                skip[cid] = need - before
            else:
                trim[cid] = need
        if skip:
            kept = []
            for row in rows:
                left = skip.get(row[0], 0)
                if left > 0:
                    skip[row[0]] = left - len(row[3])
                    added[row[0]] -= len(row[3])
                    continue
                kept.append(row)
            rows = kept
        outer = self._depth > 0
        try:
            if not outer:  # output needs no sync of its own (see the module's docstring)
                self.db.execute("PRAGMA synchronous=NORMAL")
            with self.tx():
                for cid in clear:
                    self._freed += self._log_sizes.get(cid, 0)
                    self.db.execute("DELETE FROM logs WHERE cid=?", (cid,))
                    self._log_sizes[cid] = 0
                for cid, need in trim.items():
                    self._log_sizes[cid] -= self._drop_oldest_logs(cid, need)
                self.db.executemany(
                    "INSERT INTO logs(cid, t, stream, data, lines) VALUES (?,?,?,?,?)", rows
                )
                for cid, size in added.items():
                    self._log_sizes[cid] = self._log_sizes.get(cid, 0) + size
                self._bound_total()
        finally:
            if not outer:
                self.db.execute("PRAGMA synchronous=FULL")
        cids = set(added)
        if self.on_flush is not None:
            self.on_flush(cids)
        return cids

    def _bound_total(self) -> None:
        """Past the total limit, the biggest containers lose their oldest output first."""
        total = sum(self._log_sizes.values())
        if total <= self.max_total_log_bytes:
            return
        need = total - self.max_total_log_bytes * 3 // 4
        for cid in sorted(self._log_sizes, key=self._log_sizes.__getitem__, reverse=True):
            if need <= 0:
                break
            share = min(need, self._log_sizes[cid])
            dropped = self._drop_oldest_logs(cid, share)
            self._log_sizes[cid] -= dropped
            need -= dropped

    def reclaim(self, pages: int = VACUUM_PAGES) -> bool:
        """Give space freed by deleted output back to the file system, one bounded step
        (outside any transaction); True while there is more to give back."""
        if self._depth or self._freed <= 0:
            return False
        try:
            free = self.db.execute("PRAGMA freelist_count").fetchone()[0]
            if free <= VACUUM_KEEP:
                self._freed = 0
                return False
            self.db.execute("PRAGMA synchronous=NORMAL")
            try:
                self.db.executescript(f"PRAGMA incremental_vacuum({min(pages, free)})")
            finally:
                self.db.execute("PRAGMA synchronous=FULL")
            return True
        except sqlite3.Error as exc:
            log.warning("could not give freed space back: %s", exc)
            self._freed = 0
            return False

    def log_size(self, cid: str) -> int:
        return self._log_sizes.get(cid, 0)

    def _drop_oldest_logs(self, cid: str, at_least: int) -> int:
        """Delete a container's oldest rows, ``at_least`` bytes of them; the bytes deleted."""
        dropped, last = 0, None
        cursor = self.db.execute(
            "SELECT seq, length(data) FROM logs WHERE cid=? ORDER BY seq", (cid,)
        )
        try:
            for seq, size in cursor:
                dropped, last = dropped + size, seq
                if dropped >= at_least:
                    break
        finally:
            cursor.close()
        if last is not None:
            self.db.execute("DELETE FROM logs WHERE cid=? AND seq<=?", (cid, last))
        self._freed += dropped
        return dropped

    def read_logs(self, cid: str) -> Iterator[tuple[int, int, bytes]]:
        """``(t, stream, data)`` rows of one container, oldest first."""
        self.flush_logs()
        last = 0
        while rows := self.log_page(cid, last):
            for seq, t, stream, data in rows:
                last = seq
                yield t, stream, data

    def _log_filter(
        self, streams: Sequence[int] | None, since: int | None, until: int | None
    ) -> tuple[str, list[Any]]:
        sql, args = "", []
        if streams is not None and len(streams) == 1:
            sql += " AND stream=?"
            args.append(streams[0])
        if since is not None:
            sql += " AND t>=?"
            args.append(_clamp(since))
        if until is not None:
            sql += " AND t<=?"
            args.append(_clamp(until))
        return sql, args

    def log_page(
        self,
        cid: str,
        after: int,
        upto: int | None = None,
        streams: Sequence[int] | None = None,
        since: int | None = None,
        until: int | None = None,
        limit: int = LOG_PAGE,
    ) -> list[tuple[int, int, int, bytes]]:
        """The next rows ``(seq, t, stream, data)`` after ``after`` (up to ``upto``): a page
        at a time, so that a reader holds a position, never the whole log."""
        sql, args = self._log_filter(streams, since, until)
        if upto is not None:
            sql += " AND seq<=?"
            args.append(upto)
        rows = self.db.execute(
            f"SELECT seq, t, stream, data FROM logs WHERE cid=? AND seq>?{sql} "
            "ORDER BY seq LIMIT ?",
            (cid, after, *args, limit),
        ).fetchall()
        return [(seq, t, stream, bytes(data)) for seq, t, stream, data in rows]

    def last_log_seq(self, cid: str) -> int:
        row = self.db.execute("SELECT max(seq) FROM logs WHERE cid=?", (cid,)).fetchone()
        return int(row[0] or 0)

    def tail_start(
        self,
        cid: str,
        count: int,
        streams: Sequence[int] | None = None,
        since: int | None = None,
        until: int | None = None,
    ) -> tuple[int, int]:
        """Where the last ``count`` lines that pass the filter begin: the position to read
        after, and how many lines of the first row read to leave out."""
        if count <= 0:
            return self.last_log_seq(cid), 0
        sql, args = self._log_filter(streams, since, until)
        row = self.db.execute(
            "SELECT seq, total FROM (SELECT seq, sum(lines) OVER (ORDER BY seq DESC) AS total "
            f"FROM logs WHERE cid=?{sql}) WHERE total>=? ORDER BY seq DESC LIMIT 1",
            (cid, *args, min(count, _INT64_MAX)),
        ).fetchone()
        if row is None:
            return 0, 0
        return int(row[0]) - 1, int(row[1]) - count

    def delete_logs(self, cid: str) -> None:
        with self.tx():
            self.db.execute("DELETE FROM logs WHERE cid=?", (cid,))
        self._freed += self._log_sizes.pop(cid, 0)

    def latest_time(self) -> int:
        """The latest instant recorded anywhere: a fixed clock resumes after it."""
        self.flush_logs()
        row = self.db.execute(
            "SELECT max(coalesce((SELECT max(t) FROM events), 0), "
            "coalesce((SELECT max(t) FROM logs), 0))"
        ).fetchone()
        return int(row[0] or 0)

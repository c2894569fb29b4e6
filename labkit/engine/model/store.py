"""The engine's state on disk: one SQLite file, ``<home>/state.db``.

WAL and ``synchronous=FULL`` make every committed transaction durable: the
engine can be killed at any moment (kill -9 included) and comes back with all
it had committed and nothing half-written. Records are JSON documents keyed by
id; container logs are rows, so that they never have to sit in memory.

A change that cannot be written (a full disk, a read-only file) must leave no trace:
:meth:`Store.tx` rolls the transaction back, hands the keys it touched to
``on_rollback`` (the model reloads them, so memory matches the disk again) and raises
:class:`StateNotSaved`; what was queued with :meth:`Store.after_commit` (events for
listeners, deleting a volume's files) runs only once the change is on disk.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from labkit.engine import private
from labkit.engine.model.errors import StateNotSaved

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS images(id TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS containers(id TEXT PRIMARY KEY, doc TEXT NOT NULL, upper TEXT);
CREATE TABLE IF NOT EXISTS logs(
    seq INTEGER PRIMARY KEY AUTOINCREMENT, cid TEXT NOT NULL,
    t INTEGER NOT NULL, stream INTEGER NOT NULL, data BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS logs_by_container ON logs(cid, seq);
CREATE TABLE IF NOT EXISTS events(seq INTEGER PRIMARY KEY AUTOINCREMENT,
    t INTEGER NOT NULL, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS execs(id TEXT PRIMARY KEY, cid TEXT NOT NULL, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS volumes(name TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS networks(id TEXT PRIMARY KEY, doc TEXT NOT NULL);
"""

TABLES = {"images": "id", "containers": "id", "execs": "id", "volumes": "name", "networks": "id"}
MAX_EVENTS = 10_000  # older events are dropped; dockerd keeps far fewer
# Output kept per container. Past it the oldest lines go, a quarter of the limit at a time,
# as dockerd's json-file driver rotates with --log-opt max-size: a learner's endless
# `while true; do echo; done` must not fill the disk of a shared hub.
MAX_LOG_BYTES = 16 << 20


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

    def __init__(self, path: Path, max_log_bytes: int = MAX_LOG_BYTES) -> None:
        self.path = path
        self.max_log_bytes = max_log_bytes
        self._log_sizes: dict[str, int] = {}  # bytes of output stored, per container seen
        _make_private(path)
        self.db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute("PRAGMA cache_size=-1024")  # 1 MB: memory matters more than speed
        self.db.executescript(SCHEMA)
        self._depth = 0
        self._pending_logs: list[tuple[str, int, int, bytes]] = []
        self._touched: set[tuple[str, str]] = set()  # (table, key) written in this transaction
        self._after: list[Callable[[], None]] = []
        self._doomed: sqlite3.Error | None = None  # a write failed: the transaction cannot commit
        # Called with the touched keys after a rollback, so the model can reload them.
        self.on_rollback: Callable[[set[tuple[str, str]]], None] | None = None

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
        sql, args = "SELECT doc FROM events WHERE t >= ?", [since]
        if until is not None:
            sql += " AND t <= ?"
            args.append(until)
        rows = self.db.execute(sql + " ORDER BY seq", args).fetchall()
        return [json.loads(doc) for (doc,) in rows]

    # logs ------------------------------------------------------------------------
    def append_log(self, cid: str, t: int, stream: int, data: bytes) -> None:
        """Queued, written by :meth:`flush_logs` (the engine flushes once per loop turn)."""
        self._pending_logs.append((cid, t, stream, data))

    def flush_logs(self) -> None:
        if not self._pending_logs:
            return
        rows, self._pending_logs = self._pending_logs, []
        added: dict[str, int] = {}
        for cid, _t, _stream, data in rows:
            added[cid] = added.get(cid, 0) + len(data)
        with self.tx():
            before = {cid: self._log_size(cid) for cid in added}
            self.db.executemany("INSERT INTO logs(cid, t, stream, data) VALUES (?,?,?,?)", rows)
            for cid, size in added.items():
                total = before[cid] + size
                if total > self.max_log_bytes:
                    total -= self._drop_oldest_logs(cid, total - self.max_log_bytes * 3 // 4)
                self._log_sizes[cid] = total

    def _log_size(self, cid: str) -> int:
        size = self._log_sizes.get(cid)
        if size is None:  # first output since the engine started: count what is stored
            row = self.db.execute(
                "SELECT coalesce(sum(length(data)), 0) FROM logs WHERE cid=?", (cid,)
            ).fetchone()
            size = int(row[0])
        return size

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
        return dropped

    def read_logs(self, cid: str) -> Iterator[tuple[int, int, bytes]]:
        """``(t, stream, data)`` rows of one container, oldest first."""
        self.flush_logs()
        last = 0
        while True:  # pages, so that no statement stays open while the caller awaits
            rows = self.db.execute(
                "SELECT seq, t, stream, data FROM logs "
                "WHERE cid=? AND seq>? ORDER BY seq LIMIT 500",
                (cid, last),
            ).fetchall()
            if not rows:
                return
            for seq, t, stream, data in rows:
                last = seq
                yield t, stream, bytes(data)

    def delete_logs(self, cid: str) -> None:
        with self.tx():
            self.db.execute("DELETE FROM logs WHERE cid=?", (cid,))
        self._log_sizes.pop(cid, None)

    def latest_time(self) -> int:
        """The latest instant recorded anywhere: a fixed clock resumes after it."""
        self.flush_logs()
        row = self.db.execute(
            "SELECT max(coalesce((SELECT max(t) FROM events), 0), "
            "coalesce((SELECT max(t) FROM logs), 0))"
        ).fetchone()
        return int(row[0] or 0)

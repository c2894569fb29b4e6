"""Background work for the widgets, and the promise that none of it outlives its use.

A feed follows a stream that may never end (``GET /events``, ``logs?follow=1``), so it
reads in a thread. Such a thread must stop when the learner presses Stop, when the cell
that made the widget runs again (the old widget is gone from the page, its thread must
go too), and when the kernel shuts down. This module keeps that promise:

- :class:`Worker`: one thread and the stream it reads; :meth:`Worker.stop` hangs the
  stream up (which wakes the thread) and waits for the thread to end;
- :func:`adopt`: a new widget stops the widgets an earlier run of the same cell made;
- :func:`stop_all`: run at exit, so a kernel shutting down closes every socket first;
- :class:`Throttle`: redraws at most a few times a second, however fast bytes arrive.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any, Protocol


class Stoppable(Protocol):
    def stop(self) -> Any: ...


class Closable(Protocol):
    def close(self) -> Any: ...


class Worker:
    """A daemon thread running ``target(worker)``, stoppable from any other thread.

    ``target`` checks :attr:`stopping` between pieces of work and registers what it is
    blocked on with :meth:`hold` (a :class:`~labkit.client.http.Stream`), so that
    :meth:`stop` can close it and so wake the thread. Errors end the thread and are kept
    in :attr:`error` (after a stop, the error a hung-up stream raises is not one).
    """

    def __init__(self, name: str, target: Callable[[Worker], None]) -> None:
        self.name = name
        self._target = target
        self._stopping = threading.Event()
        self._held: list[Closable] = []
        self._lock = threading.Lock()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name=f"labkit-{name}", daemon=True)

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    @property
    def running(self) -> bool:
        return self.thread.is_alive()

    def start(self) -> Worker:
        self.thread.start()
        return self

    def hold(self, thing: Closable) -> None:
        """Close ``thing`` when the worker stops (at once, if it is stopping already)."""
        with self._lock:
            if not self._stopping.is_set():
                self._held.append(thing)
                return
        with contextlib.suppress(Exception):
            thing.close()

    def stop(self, timeout: float = 5.0) -> bool:
        """Ask the thread to stop, hang up what it holds, wait; True once it has ended."""
        with self._lock:
            self._stopping.set()
            held, self._held = self._held, []
        for thing in held:
            with contextlib.suppress(Exception):
                thing.close()
        if self.thread.is_alive() and self.thread is not threading.current_thread():
            self.thread.join(timeout)
        return not self.thread.is_alive()

    def sleep(self, seconds: float) -> bool:
        """Pause the thread for ``seconds``, waking early on stop; True if stopping."""
        return self._stopping.wait(seconds)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the thread to end by itself; True if it has."""
        if self.thread.is_alive():
            self.thread.join(timeout)
        return not self.thread.is_alive()

    def _run(self) -> None:
        try:
            self._target(self)
        except BaseException as exc:
            if not self._stopping.is_set():
                self.error = exc
        finally:
            with self._lock:
                held, self._held = self._held, []
            for thing in held:
                with contextlib.suppress(Exception):
                    thing.close()


class Throttle:
    """Calls ``fn()`` at most once per ``interval`` seconds, and always after the last poke.

    A stream can bring hundreds of pieces a second; redrawing a widget for each would
    flood the browser. :meth:`poke` says "something changed"; the call happens at once if
    the last one is old enough, otherwise once, on a timer, when it is.
    """

    def __init__(self, fn: Callable[[], object], interval: float = 0.2) -> None:
        self._fn = fn
        self.interval = interval
        self._lock = threading.Lock()
        self._last = 0.0
        self._timer: threading.Timer | None = None
        self._closed = False

    def poke(self) -> None:
        with self._lock:
            if self._closed or self._timer is not None:
                return
            wait = self._last + self.interval - time.monotonic()
            if wait > 0:
                self._timer = threading.Timer(wait, self._fire)
                self._timer.daemon = True
                self._timer.start()
                return
            self._last = time.monotonic()
        self._fn()

    def flush(self) -> None:
        """Call ``fn()`` now, cancelling a pending call."""
        self._cancel_timer()
        with self._lock:
            self._last = time.monotonic()
        self._fn()

    def close(self) -> None:
        """No more calls, pending or future."""
        with self._lock:
            self._closed = True
        self._cancel_timer()

    def _cancel_timer(self) -> None:
        with self._lock:
            timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()

    def _fire(self) -> None:
        with self._lock:
            self._timer = None
            if self._closed:
                return
            self._last = time.monotonic()
        self._fn()


# --------------------------------------------------------------------------- the registry

_lock = threading.Lock()
# Every widget with background work, with the cell that made it: (key, execution count).
_owners: list[tuple[weakref.ref[Any], tuple[str, int] | None]] = []


def current_cell() -> tuple[str, int] | None:
    """(the running cell, its execution count), or None when no cell is running.

    JupyterLab names each cell in the request that runs it (``cellId``); nbclient does
    not, so the cell's source stands in for it there (a cell run again has the same).
    """
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with ipykernel
        return None
    shell = get_ipython()
    if shell is None:
        return None
    count = int(getattr(shell, "execution_count", 0) or 0)
    cell_id = None
    kernel = getattr(shell, "kernel", None)
    if kernel is not None:
        try:
            parent = kernel.get_parent("shell") or {}
        except Exception:
            parent = {}
        if (parent.get("header") or {}).get("msg_type") != "execute_request":
            return None  # a button's click (a comm message), not a cell being run
        cell_id = (parent.get("metadata") or {}).get("cellId")
    if cell_id:
        return f"cell:{cell_id}", count
    inputs = shell.user_ns.get("In") or [""]
    source = inputs[-1] if isinstance(inputs[-1], str) else ""
    return "source:" + hashlib.sha256(source.encode()).hexdigest(), count


def adopt(owner: Stoppable) -> None:
    """Track ``owner``; stop what an earlier run of the current cell left running."""
    cell = current_cell()
    older: list[Stoppable] = []
    with _lock:
        kept = []
        for ref, where in _owners:
            other = ref()
            if other is None:
                continue
            if _earlier_run(where, cell):
                older.append(other)
            else:
                kept.append((ref, where))
        kept.append((weakref.ref(owner), cell))
        _owners[:] = kept
    for other in older:
        with contextlib.suppress(Exception):
            other.stop()


def _earlier_run(where: tuple[str, int] | None, cell: tuple[str, int] | None) -> bool:
    """Whether ``where`` is the same cell as ``cell``, run before it."""
    return where is not None and cell is not None and where[0] == cell[0] and where[1] < cell[1]


def owners() -> list[Stoppable]:
    """Every tracked widget still alive."""
    with _lock:
        return [o for o in (ref() for ref, _ in _owners) if o is not None]


def stop_all() -> list[str]:
    """Stop every tracked widget's background work and close its connections.

    Run at exit (the kernel is shutting down), and by a lesson's last cell. Returns the
    kinds of widget stopped (``["ContainerBoard", "EventFeed"]``), each once, in the order
    they were made. A widget stopped can be used again: its next request reconnects.
    """
    stopped: dict[str, None] = {}
    for owner in owners():
        with contextlib.suppress(Exception):
            owner.stop()
        stopped[type(owner).__name__] = None
    return list(stopped)


atexit.register(stop_all)

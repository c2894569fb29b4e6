"""Calling the learner's code so that nothing it does can crash or hang a check.

An answer may be unfinished (the template's ``...``), raise, return the wrong type,
or wait for ever on a socket. Every one of those must become a "not yet" that says
what happened. Two tools do it:

- :func:`call` runs the function in the calling thread under a time limit. In the
  main thread (a notebook's cells run there) the limit is a SIGALRM timer, which
  interrupts even a blocked ``recv()``; elsewhere a watchdog thread raises into it.
- :class:`Running` runs a function in a thread of its own (a server the check then
  talks to) and stops it when the check ends.

While learner code runs, new sockets get a default timeout, so a forgotten reply
ends in ``TimeoutError`` rather than a hang.
"""

from __future__ import annotations

import contextlib
import ctypes
import dis
import signal
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from labkit.exercises.verdict import NotYet

SOCKET_TIMEOUT = 5.0
_LABKIT_DIR = str(Path(__file__).resolve().parents[1])


class TimeUp(BaseException):  # noqa: N818  (a BaseException, so `except Exception` lets it by)
    """The learner's code ran past its time limit."""


def is_template(fn: Any) -> bool:
    """True for a function whose body is only a docstring, ``...`` or ``pass``."""
    code = getattr(fn, "__code__", None)
    if code is None:
        return False
    steps = [
        (i.opname, i.argval)
        for i in dis.get_instructions(code)
        if i.opname not in ("RESUME", "NOP", "CACHE")
    ]
    return steps in ([("LOAD_CONST", None), ("RETURN_VALUE", None)], [("RETURN_CONST", None)])


def unfinished(name: str) -> str:
    return (
        f"{name} is still the template: write your code in the answer cell above, run that "
        "cell, then run this check again"
    )


@contextlib.contextmanager
def socket_default_timeout(seconds: float) -> Iterator[None]:
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(old)


def call(fn: Callable[..., Any], *args: Any, limit: float = 10.0, what: str = "") -> Any:
    """``fn(*args)``, or :class:`NotYet` saying why it gave no answer."""
    name = what or f"{getattr(fn, '__name__', 'your function')}()"
    if not callable(fn):
        raise NotYet(
            f"this task wants a function, and {type(fn).__name__} {fn!r:.60} is not one",
            mistake=None,
        )
    if is_template(fn):
        raise NotYet(unfinished(f"`{getattr(fn, '__name__', name)}`"), mistake="unfinished")
    try:
        with socket_default_timeout(min(SOCKET_TIMEOUT, limit)), _time_limit(limit):
            return fn(*args)
    except TimeUp:
        raise NotYet(
            f"{name} did not finish within {limit:g} s and was stopped; is it waiting for bytes "
            "that never come, or looping for ever?",
            mistake="hang",
        ) from None
    except NotImplementedError:
        raise NotYet(unfinished(name), mistake="unfinished") from None
    except NotYet:
        raise
    except Exception as exc:  # the learner's own error, told as such
        raise NotYet(f"{name} raised {describe_exception(exc)}", mistake="raised") from None


@contextlib.contextmanager
def _time_limit(limit: float) -> Iterator[None]:
    if threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer"):
        with _alarm(limit):
            yield
    else:
        with _watchdog(limit):
            yield


@contextlib.contextmanager
def _alarm(limit: float) -> Iterator[None]:
    """SIGALRM after ``limit`` s; an alarm someone else had set (pytest-timeout) is put back."""

    def time_up(signum: int, frame: Any) -> None:
        raise TimeUp()

    previous = signal.signal(signal.SIGALRM, time_up)
    # Repeat every 0.5 s, in case the code swallows the first one with a bare except.
    outer_delay, outer_interval = signal.setitimer(signal.ITIMER_REAL, limit, 0.5)
    started = time.monotonic()
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer_delay > 0:
            left = max(outer_delay - (time.monotonic() - started), 0.001)
            signal.setitimer(signal.ITIMER_REAL, left, outer_interval)


@contextlib.contextmanager
def _watchdog(limit: float) -> Iterator[None]:
    target = threading.get_ident()
    done = threading.Event()

    def watch() -> None:
        if not done.wait(limit):
            raise_in_thread(target, TimeUp)

    watcher = threading.Thread(target=watch, name="labkit-check-watchdog", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join()


def raise_in_thread(ident: int | None, exc_type: type[BaseException]) -> bool:
    """Ask Python to raise ``exc_type`` in thread ``ident`` at its next bytecode."""
    if ident is None:
        return False
    done = ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(ident), ctypes.py_object(exc_type)
    )
    return done == 1


def describe_exception(exc: BaseException) -> str:
    """``TypeError: …`` with the line of the learner's code it came from, if there is one."""
    text = f"{type(exc).__name__}: {exc}".rstrip(": ")
    frames = [
        f
        for f in traceback.extract_tb(exc.__traceback__)
        if not f.filename.startswith(_LABKIT_DIR)
        and not f.filename.startswith(sys.prefix)
        and not f.filename.startswith(sys.base_prefix)
    ]
    if frames:
        last = frames[-1]
        where = f"line {last.lineno}" + (f", `{last.line.strip()}`" if last.line else "")
        text += f" (in your code, {where})"
    return text


class Running:
    """The learner's function running in a thread of its own (for example a server)."""

    def __init__(self, fn: Callable[..., Any], *args: Any, name: str = "") -> None:
        self.name = name or f"{getattr(fn, '__name__', 'your function')}()"
        self.result: Any = None
        self.error: BaseException | None = None
        self._fn = fn
        self._args = args
        self._thread = threading.Thread(target=self._run, name="labkit-check-learner", daemon=True)

    def _run(self) -> None:
        try:
            with socket_default_timeout(SOCKET_TIMEOUT):
                self.result = self._fn(*self._args)
        except BaseException as exc:  # reported through .error, never lost in a thread
            self.error = exc

    def start(self) -> Running:
        if not callable(self._fn):
            raise NotYet(f"this task wants a function, and {type(self._fn).__name__} is not one")
        if is_template(self._fn):
            raise NotYet(unfinished(self.name), mistake="unfinished")
        self._thread.start()
        return self

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def join(self, timeout: float) -> bool:
        """Wait for the function to return; True if it did."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def raise_error(self) -> None:
        """Turn an exception the function raised into a NotYet."""
        if self.error is None or isinstance(self.error, TimeUp):
            return
        if isinstance(self.error, NotImplementedError):
            raise NotYet(unfinished(self.name), mistake="unfinished")
        raise NotYet(f"{self.name} raised {describe_exception(self.error)}", mistake="raised")

    def stop(self, grace: float = 1.0) -> None:
        """End the thread: wait a little, then raise into it."""
        if not self._thread.is_alive():
            return
        if self.join(grace):
            return
        raise_in_thread(self._thread.ident, TimeUp)
        self.join(SOCKET_TIMEOUT + 1)

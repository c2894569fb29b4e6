"""Calling the learner's code so that nothing it does can crash or hang a check.

An answer may be unfinished (the template's ``...``), raise, return the wrong type,
or wait for ever on a socket. Every one of those must become a "not yet" that says
what happened, and the check must come back whatever the code does. So the
learner's code runs in a thread of its own (:class:`Running`): the check waits for
it up to a time limit, then raises into it to stop it (which ends ordinary loops);
code that swallows even that is left behind, and the verdict says so, rather than
hanging the notebook.

While learner code runs, new sockets get a default timeout, so a forgotten reply
ends in ``TimeoutError`` rather than a wait for ever.
"""

from __future__ import annotations

import contextlib
import ctypes
import dis
import socket
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from labkit.exercises.verdict import NotYet

SOCKET_TIMEOUT = 5.0
_LABKIT_DIR = str(Path(__file__).resolve().parents[1])


class TimeUp(BaseException):  # a BaseException, so `except Exception` lets it by
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


_default_lock = threading.Lock()
_default_users = 0
_default_saved: float | None = None


@contextlib.contextmanager
def socket_default_timeout(seconds: float = SOCKET_TIMEOUT) -> Iterator[None]:
    """Give new sockets a timeout while any learner code runs, then put the old default back.

    The default is one setting for the whole process, and learner code runs in threads
    that may end in any order; so the first to enter saves the old value and the last to
    leave restores it, whatever the order.
    """
    global _default_users, _default_saved
    with _default_lock:
        if _default_users == 0:
            _default_saved = socket.getdefaulttimeout()
            socket.setdefaulttimeout(seconds)
        _default_users += 1
    try:
        yield
    finally:
        with _default_lock:
            _default_users -= 1
            if _default_users == 0:
                socket.setdefaulttimeout(_default_saved)


def call(fn: Callable[..., Any], *args: Any, limit: float = 10.0, what: str = "") -> Any:
    """``fn(*args)``, or :class:`NotYet` saying why it gave no answer."""
    name = what or f"{getattr(fn, '__name__', 'your function')}()"
    if not callable(fn):
        raise NotYet(f"this task wants a function, and {type(fn).__name__} {fn!r:.60} is not one")
    if is_template(fn):
        raise NotYet(unfinished(f"`{getattr(fn, '__name__', name)}`"), mistake="unfinished")
    running = Running(fn, *args, name=name)
    with socket_default_timeout():
        running.start()
        try:
            finished = running.join(limit)
        except KeyboardInterrupt:
            running.stop(grace=0)
            raise
        if not finished:
            running.stop(grace=0)
            message = (
                f"{name} did not finish within {limit:g} s and was stopped; is it waiting for "
                "bytes that never come, or looping for ever?"
            )
            if running.alive:
                message += (
                    " It would not stop and is still running in the background: restart the "
                    "kernel (Kernel menu, Restart Kernel) to end it"
                )
            raise NotYet(message, mistake="hang")
    running.raise_error()
    return running.result


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
        self._state = threading.Lock()
        self._done = False

    def _run(self) -> None:
        try:
            with socket_default_timeout():
                self.result = self._fn(*self._args)
        except BaseException as exc:  # reported through .error, never lost in a thread
            self.error = exc
        finally:
            self._finish()

    def _finish(self) -> None:
        """Mark the thread done, so no stop() raises into it after this (or into its exit)."""
        while True:
            try:
                with self._state:
                    self._done = True
                return
            except TimeUp:  # a stop() that raced the function's own end
                continue

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
        if isinstance(self.error, NotYet):
            raise self.error
        if isinstance(self.error, NotImplementedError):
            raise NotYet(unfinished(self.name), mistake="unfinished")
        raise NotYet(f"{self.name} raised {describe_exception(self.error)}", mistake="raised")

    def stop(self, grace: float = 1.0) -> None:
        """End the thread: wait a little, then raise into it, a few times."""
        if not self._thread.is_alive() or self.join(grace):
            return
        for _ in range(5):
            with self._state:
                if self._done:
                    break
                raise_in_thread(self._thread.ident, TimeUp)
            if self.join(0.2):
                return
        self.join(0.5)

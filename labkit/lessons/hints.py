"""Kind words for the mishaps of a learner working through a lesson, in place of a traceback.

A lesson's cells build on one another, and learners run them out of order, run one
after a kernel restart, or stop the engine in a terminal halfway through. Python's
answers (``NameError: name 'sock' is not defined``, a ``ConnectionRefusedError``
twenty frames deep in a library) are true but do not say what to do. :func:`install`
asks IPython to answer those two kinds of error itself:

- a name that no cell has defined yet in this kernel: which is almost always a cell
  above that has not run (or a typo), so it says that, and how to run the cells above;
- a connection error while the engine is not answering: if it is the lab engine, it is
  started again and the learner is asked to run the cell again; if it is a real engine,
  one line says what to do. When the engine answers, the error is about something
  else, and the usual traceback shows.

It is installed by ``labkit.connect()`` (so in every lesson once its first cell has run)
and, for a kernel that runs a later cell first, at kernel start through
``PYTHONSTARTUP`` (``labkit lab`` sets it to :data:`STARTUP_FILE`). Outside IPython it
does nothing.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

STARTUP_FILE = Path(__file__).with_name("startup.py")


def _connection_errors() -> tuple[type[BaseException], ...]:
    """OSError covers the socket module, requests and urllib3; labkit's and httpx's own
    transport errors are not OSErrors."""
    from labkit.transport.errors import TransportError

    found: list[type[BaseException]] = [OSError, TransportError]
    httpx = sys.modules.get("httpx")
    if httpx is not None:
        found.append(httpx.TransportError)
    docker_errors = sys.modules.get("docker.errors")
    if docker_errors is not None:
        found.append(docker_errors.DockerException)
    return tuple(found)


def install() -> bool:
    """Have IPython explain undefined names and a stopped engine; False outside IPython."""
    shell = _shell()
    if shell is None:
        return False
    # Every Exception comes here, so that the connection errors of libraries imported later
    # (httpx in lesson 03) count too; what is not a mishap of ours is shown as usual.
    shell.set_custom_exc((Exception,), _explain)
    return True


def _shell() -> Any:
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return None
    get = getattr(ipython, "get_ipython", None)
    return get() if get is not None else None


def name_hint(name: str) -> str:
    """What to do about a name no cell has defined yet."""
    return (
        f"'{name}' is not defined yet. A lesson's cells build on one another, and the cell "
        f"that makes '{name}' has not run in this kernel (a kernel restart forgets every "
        "cell). Run the cells above this one first (menu Run > Run All Above Selected Cell), "
        f"then this one again. If '{name}' is a name you typed, check its spelling."
    )


def engine_hint(error: BaseException) -> str | None:
    """One line about a connection error if the engine has stopped, else None."""
    from labkit.lab import current

    lab = current()
    if lab is None or lab.answers():
        return None
    if lab.is_lab_engine:
        lab.wake()  # starts it again, and says so
        return (
            f"the lab engine was not answering ({type(error).__name__}), so labkit started it "
            "again: run this cell again."
        )
    return (
        f"the engine at {lab.docker_host} does not answer any more ({type(error).__name__}): it "
        "has stopped or restarted. Start it again, then run this cell again."
    )


def _explain(shell: Any, etype: type, value: BaseException, tb: Any, tb_offset: Any = None) -> Any:
    hint = None
    if issubclass(etype, NameError) and not hasattr(value, "_render_traceback_"):
        name = getattr(value, "name", None)
        if name:
            hint = name_hint(name)
    elif isinstance(value, _connection_errors()) and not hasattr(value, "_render_traceback_"):
        try:
            hint = engine_hint(value)
        except Exception as failed:  # the hint must never hide the error
            hint = f"{value} (and the engine could not be started again: {failed})"
    if hint is None:
        shell.showtraceback((etype, value, tb), tb_offset=tb_offset)
    else:
        shell._showtraceback(etype, value, [f"{etype.__name__}: {hint}"])
    return []

"""Nothing a widget starts outlives its use: Stop, the cell run again, the kernel shut down.

The first tests drive :mod:`labkit.lessons.workers` directly; the last ones run a real
IPython kernel (jupyter_client), the way JupyterLab and nbclient do, against a lab engine.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from engine_fixtures import LabEngine, running_lab_engine
from jupyter_client.manager import KernelManager

from labkit.client.http import Client
from labkit.lessons import workers

# --------------------------------------------------------------------------- the pieces


def test_stop_wakes_a_worker_blocked_on_a_stream_and_closes_it() -> None:
    with running_lab_engine() as engine:
        client = Client(engine.url)
        opened = threading.Event()
        streams = []

        def follow(worker: workers.Worker) -> None:
            stream = client.stream("GET", "/events", timeout=None)
            streams.append(stream)
            worker.hold(stream)
            opened.set()
            for _ in stream:
                pass

        worker = workers.Worker("test", follow).start()
        assert opened.wait(10) and worker.running
        assert worker.stop(timeout=5), "the thread should end once its stream is hung up"
        assert streams[0].closed and worker.error is None
        client.close()


def test_a_worker_keeps_its_error_and_closes_what_it_held() -> None:
    closed = []

    class Thing:
        def close(self) -> None:
            closed.append(True)

    def fail(worker: workers.Worker) -> None:
        worker.hold(Thing())
        raise RuntimeError("boom")

    worker = workers.Worker("failing", fail).start()
    assert worker.wait(5)
    assert isinstance(worker.error, RuntimeError) and closed == [True]
    late = Thing()
    worker.stop()
    worker.hold(late)  # held after the stop: closed at once
    assert closed == [True, True]


def test_throttle_calls_rarely_but_always_after_the_last_poke() -> None:
    calls: list[float] = []
    throttle = workers.Throttle(lambda: calls.append(time.monotonic()), interval=0.2)
    for _ in range(200):
        throttle.poke()
    assert len(calls) == 1  # the first poke at once, the rest wait
    deadline = time.monotonic() + 5
    while len(calls) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(calls) == 2, "a last call must follow the last poke"
    time.sleep(0.4)
    assert len(calls) == 2
    throttle.poke()
    throttle.close()
    throttle.poke()
    time.sleep(0.3)
    assert len(calls) == 3  # nothing after close()


class Owner:
    def __init__(self) -> None:
        self.stopped = 0

    def stop(self) -> None:
        self.stopped += 1


def test_a_new_widget_stops_what_an_earlier_run_of_its_cell_left(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    where = {"cell": ("cell:a", 1)}
    monkeypatch.setattr(workers, "current_cell", lambda: where["cell"])
    first, twin = Owner(), Owner()
    workers.adopt(first)
    workers.adopt(twin)  # the same run of the same cell: both stay
    where["cell"] = ("cell:b", 2)
    other = Owner()
    workers.adopt(other)
    where["cell"] = ("cell:a", 3)  # cell a run again
    again = Owner()
    workers.adopt(again)
    assert (first.stopped, twin.stopped, other.stopped, again.stopped) == (1, 1, 0, 0)
    assert workers.stop_all()[-1] == "Owner"
    assert (other.stopped, again.stopped) == (1, 1)


def test_outside_a_running_cell_nothing_is_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(workers, "current_cell", lambda: None)
    first, second = Owner(), Owner()
    workers.adopt(first)
    workers.adopt(second)
    assert first.stopped == second.stopped == 0


# --------------------------------------------------------------------------- in a real kernel


@pytest.fixture(scope="module")
def engine() -> Iterator[LabEngine]:
    with running_lab_engine() as engine:
        yield engine


@pytest.fixture
def kernel(engine: LabEngine, tmp_path: Path) -> Iterator[Any]:
    env = {**os.environ, **engine.labkit_env, "LABKIT_ENGINE": "lab"}
    manager = KernelManager(kernel_name="python3")
    manager.start_kernel(env=env, cwd=str(tmp_path))
    client = manager.client()
    client.start_channels()
    client.wait_for_ready(timeout=60)
    run(client, f"from labkit.client.http import Client\nURL = {engine.url!r}")
    yield manager, client
    client.stop_channels()
    if manager.is_alive():
        manager.shutdown_kernel(now=True)


def run(client: Any, code: str, cell_id: str | None = None, **expressions: str) -> dict[str, str]:
    """Execute ``code`` as JupyterLab would (with ``cellId``) or as nbclient does (without)."""
    content = {
        "code": code,
        "silent": False,
        "store_history": True,
        "user_expressions": expressions,
        "allow_stdin": False,
        "stop_on_error": True,
    }
    metadata = {"cellId": cell_id} if cell_id else {}
    msg = client.session.msg("execute_request", content, metadata=metadata)
    client.shell_channel.send(msg)
    while True:
        reply = client.get_shell_msg(timeout=60)
        if reply["parent_header"].get("msg_id") == msg["header"]["msg_id"]:
            break
    result = reply["content"]
    assert result["status"] == "ok", result.get("traceback") or result
    return {k: v["data"]["text/plain"] for k, v in result.get("user_expressions", {}).items()}


FEED_CELL = "from labkit.lessons.event_feed import EventFeed\nfeed = EventFeed(Client(URL))\nfeed"


@pytest.mark.slow
def test_running_a_cell_again_stops_the_feed_it_made_before(kernel: Any) -> None:
    _, client = kernel
    run(client, FEED_CELL, cell_id="cell-a")
    run(client, "first = feed")
    run(client, "from labkit.lessons.event_feed import EventFeed\nother = EventFeed(Client(URL))")
    state = run(client, FEED_CELL, cell_id="cell-a", old="first.running", new="feed.running")
    assert state == {"old": "False", "new": "True"}
    assert run(client, "", other="other.running") == {"other": "True"}
    threads = run(
        client,
        "import threading",
        n="sum(t.name == 'labkit-Events' for t in threading.enumerate())",
    )
    assert threads == {"n": "2"}  # feed and other; first's thread has ended


@pytest.mark.slow
def test_without_cell_ids_the_same_source_counts_as_the_same_cell(kernel: Any) -> None:
    _, client = kernel
    run(client, FEED_CELL)
    run(client, "first = feed")
    state = run(client, FEED_CELL, old="first.running", new="feed.running")
    assert state == {"old": "False", "new": "True"}


@pytest.mark.slow
def test_shutting_the_kernel_down_stops_every_feed(kernel: Any, tmp_path: Path) -> None:
    manager, client = kernel
    marks = tmp_path / "stopped.txt"
    run(
        client,
        "import labkit.lessons.workers as workers\n"
        "_stop = workers.Worker.stop\n"
        "def stop(self, timeout=5.0):\n"
        "    ended = _stop(self, timeout)\n"
        f"    open({str(marks)!r}, 'a').write(f'{{self.name}} {{ended}}\\n')\n"
        "    return ended\n"
        "workers.Worker.stop = stop",
    )
    run(client, FEED_CELL, cell_id="cell-z")
    assert run(client, "", running="feed.running") == {"running": "True"}
    manager.shutdown_kernel(now=False)  # as JupyterLab does: a shutdown request, then exit
    deadline = time.monotonic() + 20
    while not marks.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert marks.read_text().splitlines() == ["Events True"]

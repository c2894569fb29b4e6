"""A client that stops reading, or goes away, costs the engine a bounded amount.

Before: five clients following a chatty container's logs without reading made the engine
queue 80 MB in 5 s, and chatty execs whose clients had gone queued 85 MB in 4 s, for
ever. Now a follower reads the store at its own pace (holding a position, not output),
an attached client's output waits in a bounded queue while its process waits too (as
a full pipe makes a real process wait), and the output of a client that has gone goes
nowhere. Each test reads the engine's RSS from /proc; the bounds are generous (a busy
shared machine) but far below what the unbounded queues reached.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from engine_fixtures import LabEngine, running_lab_engine
from engine_load import (
    call,
    docker,
    ping_seconds,
    rss_mb,
    stalled,
    start_exec,
    wait_for,
)

pytestmark = pytest.mark.timeout(180)

# What the engine may grow by under each load: a few MB of queues and buffers, against the
# hundreds the same loads reached when queues had no bound.
GROWTH_MB = 40
# A ping must be answered within this while the load runs (it takes milliseconds).
PING_S = 30.0  # a hang guard, not a timing: a ping takes ms, a stalled engine never answers
CHATTY = ["sh", "-c", "yes 'a line of output that goes on and on, as logs do'"]


@pytest.fixture
def engine() -> Iterator[LabEngine]:
    with running_lab_engine() as lab:
        docker(lab.env, "pull", "busybox")
        docker(lab.env, "run", "--rm", "busybox", "true")  # everything loaded: a fair baseline
        yield lab


def watch(engine: LabEngine, seconds: float, baseline: float) -> float:
    """Keep pinging for ``seconds``; the most the engine grew meanwhile, in MB."""
    grown = 0.0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert ping_seconds(engine.socket) < PING_S
        grown = max(grown, rss_mb(engine.pid) - baseline)  # type: ignore[arg-type]
        time.sleep(0.2)
    return grown


def last_line(engine: LabEngine, cid: str) -> str:
    return docker(engine.env, "logs", "--tail", "1", cid).stdout


def test_log_followers_that_stop_reading_cost_a_bounded_amount(engine: LabEngine) -> None:
    cid = docker(engine.env, "run", "-d", "busybox", *CHATTY).stdout.strip()
    baseline = rss_mb(engine.pid)  # type: ignore[arg-type]
    followers = [
        stalled(engine.socket, "GET", f"/containers/{cid}/logs?follow=1&stdout=1&stderr=1")
        for _ in range(5)
    ]
    try:
        grown = watch(engine, 5, baseline)
        assert grown < GROWTH_MB, f"the engine grew {grown:.0f} MB for 5 stalled followers"
        status, info = call(engine.socket, "GET", f"/containers/{cid}/json")
        assert status == 200 and info["State"]["Running"]  # followers slow nobody down
    finally:
        for sock in followers:
            sock.close()
    docker(engine.env, "rm", "-f", cid, timeout=20)


def test_a_stalled_attach_makes_its_container_wait_not_the_engine_grow(
    engine: LabEngine,
) -> None:
    counting = "i=0; while true; do i=$((i+1)); echo $i; done"
    cid = docker(engine.env, "run", "-d", "busybox", "sh", "-c", counting).stdout.strip()
    baseline = rss_mb(engine.pid)  # type: ignore[arg-type]
    attached = [
        stalled(engine.socket, "POST", f"/containers/{cid}/attach?stream=1&stdout=1")
        for _ in range(3)
    ]
    grown = watch(engine, 3, baseline)
    assert grown < GROWTH_MB, f"the engine grew {grown:.0f} MB for 3 stalled attach clients"
    # Its queue is full: the container waits for them, as dockerd's waits on a full pipe.
    waiting = wait_for(
        lambda: (line := last_line(engine, cid)) == last_line(engine, cid) and line, timeout=120
    )  # the stalled clients' socket buffers fill first: slow on a busy machine
    for sock in attached:
        sock.close()
    wait_for(
        lambda: last_line(engine, cid) != waiting, timeout=120
    )  # and goes on once they have gone
    docker(engine.env, "rm", "-f", cid, timeout=20)


def test_chatty_execs_whose_clients_left_cost_nothing(engine: LabEngine) -> None:
    cid = docker(engine.env, "run", "-d", "busybox", "sleep", "1000").stdout.strip()
    baseline = rss_mb(engine.pid)  # type: ignore[arg-type]
    execs = [start_exec(engine.socket, cid, CHATTY) for _ in range(3)]
    for sock, _ in execs:
        sock.close()  # the client goes away without reading a byte
    grown = watch(engine, 4, baseline)
    assert grown < GROWTH_MB, f"the engine grew {grown:.0f} MB for 3 abandoned chatty execs"
    for _, exec_id in execs:  # as with dockerd, the exec goes on (its output goes nowhere)
        status, info = call(engine.socket, "GET", f"/exec/{exec_id}/json")
        assert status == 200 and info["Running"] is True
    docker(engine.env, "rm", "-f", cid, timeout=20)  # which ends them


def test_a_stalled_exec_client_makes_its_exec_wait(engine: LabEngine) -> None:
    cid = docker(engine.env, "run", "-d", "busybox", "sleep", "1000").stdout.strip()
    baseline = rss_mb(engine.pid)  # type: ignore[arg-type]
    execs = [start_exec(engine.socket, cid, CHATTY) for _ in range(3)]  # never read
    grown = watch(engine, 4, baseline)
    assert grown < GROWTH_MB, f"the engine grew {grown:.0f} MB for 3 stalled exec clients"
    for sock, _ in execs:
        sock.close()
    docker(engine.env, "rm", "-f", cid, timeout=20)


def test_stalled_exports_and_event_streams_cost_a_bounded_amount(engine: LabEngine) -> None:
    cid = docker(
        engine.env, "run", "-d", "busybox", "sh", "-c",
        "printf '%08000000d' 0 > /big && sleep 1000",
    ).stdout.strip()  # fmt: skip
    wait_for(lambda: "big" in docker(engine.env, "exec", cid, "ls", "/").stdout.split())
    baseline = rss_mb(engine.pid)  # type: ignore[arg-type]
    clients = [stalled(engine.socket, "GET", f"/containers/{cid}/export") for _ in range(4)]
    clients += [stalled(engine.socket, "GET", "/events") for _ in range(4)]
    for n in range(30):  # events the stalled listeners do not read
        docker(engine.env, "volume", "create", f"v{n}")
    grown = watch(engine, 2, baseline)
    assert grown < GROWTH_MB, f"the engine grew {grown:.0f} MB for stalled exports and events"
    for sock in clients:
        sock.close()
    docker(engine.env, "rm", "-f", cid, timeout=20)


@pytest.mark.real_engine
def test_an_exec_goes_on_after_its_client_leaves_as_with_dockerd(
    real_engine_url: str, engine: LabEngine
) -> None:
    """What dockerd does with a hijacked exec whose connection closes (it passes
    context.Background() to ContainerExecStart): the exec goes on running."""
    import os

    real_env = {**os.environ, "DOCKER_HOST": real_engine_url}
    seen = {}
    for name, env, sock_path in (
        ("dockerd", real_env, real_engine_url[len("unix://") :]),
        ("lab", engine.env, str(engine.socket)),
    ):
        cid = docker(env, "run", "-d", "busybox", "sleep", "1000").stdout.strip()
        try:
            sock, exec_id = start_exec(sock_path, cid, ["sh", "-c", "while true; do echo x; done"])
            sock.close()
            time.sleep(1)
            status, info = call(sock_path, "GET", f"/exec/{exec_id}/json")
            seen[name] = (status, info["Running"])
        finally:
            docker(env, "rm", "-f", cid, timeout=30)
    assert seen["lab"] == seen["dockerd"] == (200, True)
